"""What every resource handler provides, and the helpers they share.

A `Handler` knows one Terraform resource type. Its `args` table classifies every argument the
AWS provider schema has (arguments/spec.py: applied in place, forces replacement, terraform-only,
refused), and its methods do exactly what the table says:

* `create(ctx, args)`   makes the API calls that apply every configured argument; returns the
                        computed attributes (id, arn, ...), never the arguments themselves;
* `read_many(ctx, items)` / `read(ctx, attrs, wanted)`   live attributes from AWS: the exports and
                        every argument in `wanted`, in the AWS provider's form, nothing copied from
                        state. Used by the refresh before a plan and by the read-back after an apply
                        (one describe per type and region where the API takes a list of ids);
* `update(ctx, attrs, args, changed)`   one real API call (or more) per changed argument; an
                        argument it has no call for is an error, never a silent state write;
* `delete(ctx, attrs)`, `find(ctx, args)` (adopt after a crash);
* `leftovers(ctx, query)`  what of this type a cell still owns after its destroy, found by its tags
                        (`LeakQuery`: the cell's RunId/EnvironmentSuffix/Fault, its IAM name prefix);
                        `sweep_rank` is its place in the order AWS accepts deletions (matrix/leaks.py
                        asks every handler and sorts by it).

Attributes are named as the AWS provider names them in state (`id`, `arn`, `cidr_block`,
`tags_all`, ...), so terraform can read the state this engine writes.

`Ctx` is what a handler call gets: the cell's client factory, region, cancel event and timeouts
(a resource's `timeouts` block narrows them: `ctx.with_timeouts`). `DataSource` is the read-only
counterpart (availability zones, caller identity, ...), with an `args` table of its own.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from botocore.exceptions import ClientError

from matrix.clients import ClientFactory
from matrix.engines.embedded.arguments.spec import INPLACE, REPLACE, Arg


class Cancelled(Exception):
    """The run was cancelled (timeout or Ctrl-C) while waiting."""


class NotApplied(Exception):
    """A handler was asked to change an argument it has no API call for (a gap in its table)."""


DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s)")
UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def duration(text: Any) -> float | None:
    """A Go duration ("10m", "1h30m", "45s") in seconds; None when absent or not one."""
    if not isinstance(text, str) or not text:
        return None
    parts = DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text.strip():
        return None
    return sum(float(n) * UNIT_SECONDS[u] for n, u in parts)


@dataclass
class Ctx:
    clients: ClientFactory
    region: str
    cancel: threading.Event = field(default_factory=threading.Event)
    wait_timeout: float = 600.0
    poll: float = 0.2  # emulators answer at once; a real-account target raises it
    log: Callable[[str], None] = lambda msg: None
    #: the engine's shared polls (`batched`), kept by every copy `for_region`/`with_timeouts` makes
    polls: dict[tuple[str, str], SharedPoll] = field(default_factory=dict, repr=False, compare=False)

    def client(self, service: str) -> Any:
        return self.clients.client(service, self.region)

    def batched(self, name: str, fetch: Callable[[Ctx, list[str]], dict[str, Any]]) -> SharedPoll:
        """The shared poll `name` of this region (made at first use): concurrent waits ask one Describe."""
        return self.polls.setdefault((name, self.region), SharedPoll(lambda ids: fetch(self, ids)))

    def for_region(self, region: str) -> Ctx:
        return self if region == self.region else replace(self, region=region)

    def with_timeouts(self, timeouts: Any, operation: str) -> Ctx:
        """This context with the wait deadline of `operation` from a `timeouts` block, if it sets one."""
        block = timeouts[0] if isinstance(timeouts, list) and timeouts else timeouts
        seconds = duration((block or {}).get(operation)) if isinstance(block, dict) else None
        return replace(self, wait_timeout=seconds) if seconds else self

    def sleep(self, seconds: float) -> None:
        if self.cancel.wait(seconds):
            raise Cancelled("cancelled while waiting")

    def wait_for(self, what: str, check: Callable[[], bool], timeout: float | None = None) -> None:
        """Poll `check` until true; raise TimeoutError naming `what` after the timeout."""
        limit = min(timeout, self.wait_timeout) if timeout else self.wait_timeout
        deadline = time.monotonic() + limit
        delay = self.poll
        while not check():
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {limit:.0f} s waiting for {what}")
            self.sleep(delay)
            delay = min(delay * 1.5, 10.0)


class SharedPoll:
    """Waits that poll the same Describe at once (the NAT gateways of a cell) share its calls. A wait
    registers its id (`waiting`); a check (`get`) takes the last answer about its id when that answer
    was asked after the one the check saw before (`since`), else asks one call for every id then
    registered. So an answer is never older than what the wait already saw, and N waits polling
    together cost about one call per poll instead of N."""

    def __init__(self, fetch: Callable[[list[str]], dict[str, Any]]) -> None:
        self.fetch = fetch
        self.lock = threading.Lock()  # the tables below
        self.asking = threading.Lock()  # one call at a time: the checks queued behind it take its answer
        self.pending: dict[str, int] = {}  # id -> waits registered on it
        self.answers: dict[str, tuple[float, Any]] = {}  # id -> (when asked, its description or None)

    def waiting(self, rid: str) -> _Registered:
        return _Registered(self, rid)

    def get(self, rid: str, since: float) -> tuple[float, Any]:
        """(when asked, rid's description or None when gone) from a call asked after `since`."""
        with self.asking:
            with self.lock:
                hit = self.answers.get(rid)
                if hit is not None and hit[0] > since:
                    return hit
                ids = sorted({*self.pending, rid})
            asked = time.monotonic()
            found = self.fetch(ids)
            with self.lock:
                for one in ids:
                    self.answers[one] = (asked, found.get(one))
                return self.answers[rid]


class _Registered:
    def __init__(self, poll: SharedPoll, rid: str) -> None:
        self.poll, self.rid = poll, rid

    def __enter__(self) -> SharedPoll:
        with self.poll.lock:
            self.poll.pending[self.rid] = self.poll.pending.get(self.rid, 0) + 1
        return self.poll

    def __exit__(self, *exc: Any) -> None:
        with self.poll.lock:
            left = self.poll.pending.pop(self.rid, 1) - 1
            if left > 0:
                self.poll.pending[self.rid] = left
            else:
                self.poll.answers.pop(self.rid, None)


def error_code(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Code", "")
    return ""


def ignore_codes(fn: Callable[[], Any], *codes: str) -> Any:
    """Run fn; a ClientError whose code is in `codes` (e.g. NotFound) is treated as success."""
    try:
        return fn()
    except ClientError as exc:
        if error_code(exc) in codes:
            return None
        raise


def describe_many(call: Callable[[list[str]], list[dict[str, Any]]], ids: list[str], id_key: str,
                  *not_found: str, chunk: int = 100) -> dict[str, dict[str, Any]]:
    """id -> description for every id that exists, in one call per `chunk` ids. AWS refuses the
    whole call when one id is unknown (`not_found` codes): then each id of the chunk is asked alone,
    so the missing ones are known to be gone. For a Describe whose id filter the emulators lack
    (DescribeVpcEndpoints: vpc-endpoint-id is FilterNotImplementedError on moto); the others use
    `describe_filtered`."""
    out: dict[str, dict[str, Any]] = {}
    wanted = sorted(set(ids))
    for i in range(0, len(wanted), chunk):
        part = wanted[i:i + chunk]
        try:
            items = call(part)
        except ClientError as exc:
            if error_code(exc) not in not_found:
                raise
            items = []
            for one in part:
                try:
                    items += call([one])
                except ClientError as inner:
                    if error_code(inner) not in not_found:
                        raise
        out.update({item[id_key]: item for item in items if item.get(id_key) in part})
    return out


#: AWS refuses a filter with more values (FilterLimitExceeded)
FILTER_VALUES = 200


def describe_filtered(call: Callable[..., dict[str, Any]], key: str, filter_name: str, ids: list[str],
                      id_key: str, chunk: int = FILTER_VALUES) -> dict[str, dict[str, Any]]:
    """id -> description for every id that exists, asked through the Describe's id filter
    (`filter_name`, e.g. "subnet-id"): unlike the id list, a filter answers only the ids that exist
    and never NotFound, so ids deleted meanwhile cost nothing. One call per `chunk` ids (and page):
    `call(**kw)` is the Describe, `key` its result list. The filter must be single-valued on the
    resource (its own id): a list-valued one matches several values wrongly on the emulators
    (matrix/targets/emulator_gaps.py: ec2-multi-value-filter)."""
    out: dict[str, dict[str, Any]] = {}
    wanted = sorted(set(ids))
    for i in range(0, len(wanted), chunk):
        part = wanted[i:i + chunk]
        kw: dict[str, Any] = {"Filters": [{"Name": filter_name, "Values": part}]}
        while True:
            page = call(**kw)
            out.update({item[id_key]: item for item in page.get(key, []) if item.get(id_key) in part})
            if not page.get("NextToken"):
                break
            kw["NextToken"] = page["NextToken"]
    return out


def ec2_arn(ctx: Ctx, kind: str, rid: str, owner: str) -> str:
    """arn:aws:ec2:REGION:OWNER:KIND/ID (what DescribeX does not return for most EC2 types)."""
    return f"arn:aws:ec2:{ctx.region}:{owner}:{kind}/{rid}"


def tags_of(args: dict[str, Any]) -> dict[str, str]:
    """The tags a resource is created with: its own and the provider's default_tags (tags_all)."""
    return args.get("tags_all") or {}


def retry_dependency(ctx: Ctx, what: str, fn, codes: tuple[str, ...], timeout: float = 120) -> None:
    """Deletes that AWS refuses while a dependent is still going away: retry until it is gone."""
    def attempt() -> bool:
        try:
            fn()
            return True
        except ClientError as exc:
            if error_code(exc) in codes:
                return False
            raise

    ctx.wait_for(what, attempt, timeout)


def ec2_tags(tags: dict[str, str] | None) -> list[dict[str, str]]:
    return [{"Key": k, "Value": str(v)} for k, v in sorted((tags or {}).items())]


def tag_spec(resource_type: str, tags: dict[str, str] | None) -> list[dict[str, Any]]:
    return [{"ResourceType": resource_type, "Tags": ec2_tags(tags)}] if tags else []


def from_ec2_tags(tags: list[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in tags or []}


def tag_changes(old: dict[str, str], new: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """(keys to remove, key/values to set) to turn `old` tags into `new`."""
    return [k for k in old if k not in new], {k: v for k, v in new.items() if old.get(k) != v}


def update_ec2_tags(ctx: Ctx, resource_id: str, old: dict[str, str], new: dict[str, str]) -> None:
    ec2 = ctx.client("ec2")
    removed, changed = tag_changes(old, new)
    if removed:
        ec2.delete_tags(Resources=[resource_id], Tags=[{"Key": k} for k in removed])
    if changed:
        ec2.create_tags(Resources=[resource_id], Tags=ec2_tags(changed))


def given(args: dict[str, Any], name: str) -> bool:
    """The configuration sets `name` (null counts as not set, as in terraform)."""
    return args.get(name) is not None


def blocks(value: Any) -> list[dict[str, Any]]:
    """A nested block's bodies (terraform JSON writes one block as an object or a list of objects)."""
    if isinstance(value, dict):
        return [value]
    return [v for v in value or [] if isinstance(v, dict)]


@dataclass(frozen=True)
class Leftover:
    """A resource a cell left behind: its type, id and the attributes its handler's `delete` needs."""

    type: str
    id: str
    attrs: dict[str, Any]

    def line(self) -> str:
        name = self.attrs.get("tags_all", {}).get("Name") if isinstance(self.attrs.get("tags_all"), dict) else None
        return f"{self.type} {self.id}" + (f" ({name})" if name else "")


@dataclass(frozen=True)
class LeakQuery:
    """Which resources are a cell's: they carry its identifying `tags` (RunId, EnvironmentSuffix) and
    exactly its `fault` (a cell without one owns no resource tagged with another's); IAM roles are
    looked at only under the stack's name prefix."""

    tags: dict[str, str]
    fault: str | None = None
    iam_prefix: str | None = None

    def ec2_filters(self) -> list[dict[str, Any]]:
        return [{"Name": f"tag:{k}", "Values": [v]} for k, v in sorted(self.tags.items())]

    def owns(self, found: dict[str, str]) -> bool:
        if any(found.get(k) != v for k, v in self.tags.items()):
            return False
        return found.get("Fault") == self.fault if self.fault is not None or "Fault" in found else True

    def leftover(self, rtype: str, rid: str, attrs: dict[str, Any], found: dict[str, str] | None) -> Leftover | None:
        """The leftover when it is the cell's; `found` None: already judged (by its parent's tags)."""
        if found is not None and not self.owns(found):
            return None
        return Leftover(rtype, rid, {**attrs, "id": rid, "tags_all": found or {}})


class Handler:
    type: ClassVar[str]
    #: its place in the order AWS accepts deletions of a cell's leftovers (lowest first)
    sweep_rank: ClassVar[int] = 99
    #: deleted with the resource it belongs to: the sweep never deletes it on its own
    deleted_with_parent: ClassVar[bool] = False
    #: every argument of the provider schema, classified (tests/test_arguments.py checks coverage)
    args: ClassVar[dict[str, Arg]] = {}
    #: the provider's default for an argument the configuration leaves out (compared like a setting)
    defaults: ClassVar[dict[str, Any]] = {}
    #: attributes a reference may read (besides the arguments)
    exports: ClassVar[frozenset[str]] = frozenset({"id"})
    taggable: ClassVar[bool] = True

    # -- the table, as the engine uses it -------------------------------------------------------
    def spec(self, arg: str) -> Arg | None:
        return self.args.get(arg)

    def applied(self) -> list[str]:
        """Top-level arguments sent to AWS and read back (tags are compared as tags_all)."""
        return [a for a, s in self.args.items() if "." not in a and s.applied and a != "tags"]

    def forces_new(self, arg: str, old: Any, new: Any) -> bool:
        spec = self.args.get(arg)
        if spec is None or spec.kind != REPLACE:
            return False
        return not (spec.inplace_when is not None and spec.inplace_when(old, new))

    def changeable(self, arg: str) -> bool:
        spec = self.args.get(arg)
        return arg == "tags_all" or (spec is not None and spec.kind in (INPLACE, REPLACE))

    # -- API -----------------------------------------------------------------------------------
    def create(self, ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def read(self, ctx: Ctx, attrs: dict[str, Any], wanted: Iterable[str] = ()) -> dict[str, Any] | None:
        """Live attributes (the exports and every argument in `wanted`), or None when it is gone."""
        return self.read_many(ctx, [(attrs, frozenset(wanted))])[0]

    def read_many(self, ctx: Ctx, items: list[tuple[dict[str, Any], frozenset[str]]]) -> list[dict[str, Any] | None]:
        """`read` for several resources of this type in one region; handlers whose API takes a list
        of ids override it to ask AWS once for all of them, the others implement `read_one`."""
        return [self.read_one(ctx, attrs, wanted) for attrs, wanted in items]

    def read_one(self, ctx: Ctx, attrs: dict[str, Any], wanted: frozenset[str]) -> dict[str, Any] | None:
        raise NotImplementedError

    def update(self, ctx: Ctx, attrs: dict[str, Any], args: dict[str, Any], changed: set[str]) -> dict[str, Any]:
        """Change the `changed` arguments in place (each with a real API call); returns computed
        attributes that changed with them."""
        out: dict[str, Any] = {}
        if "tags_all" in changed and self.taggable:
            self.update_tags(ctx, attrs, attrs.get("tags_all") or {}, args.get("tags_all") or {})
        for arg in sorted(changed - {"tags_all"}):
            out.update(self.update_arg(ctx, {**attrs, **out}, args, arg) or {})
        return out

    def update_arg(self, ctx: Ctx, attrs: dict[str, Any], args: dict[str, Any], arg: str) -> dict[str, Any] | None:
        raise NotApplied(f"{self.type}: no API call changes {arg!r} in place")

    def update_tags(self, ctx: Ctx, attrs: dict[str, Any], old: dict[str, str], new: dict[str, str]) -> None:
        update_ec2_tags(ctx, attrs["id"], old, new)

    def delete(self, ctx: Ctx, attrs: dict[str, Any]) -> None:
        raise NotImplementedError

    def find(self, ctx: Ctx, args: dict[str, Any]) -> dict[str, Any] | None:
        """The computed attributes of an existing resource matching `args` (to adopt after a crash
        between create and state write), or None. Default: cannot tell."""
        return None

    def leftovers(self, ctx: Ctx, query: LeakQuery) -> Iterable[Leftover | None]:
        """Resources of this type in the cell's account and region that carry the cell's tags (None
        entries are someone else's). Default: none found by tag (the state ids still find them)."""
        return ()


class DataSource:
    type: ClassVar[str]
    args: ClassVar[dict[str, Arg]] = {}
    exports: ClassVar[frozenset[str]] = frozenset({"id"})

    def read(self, ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError
