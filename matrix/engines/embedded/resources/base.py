"""What every resource handler provides, and the helpers they share.

A `Handler` knows one Terraform resource type: how to create, read, update and delete it with
boto3, which arguments force a replacement, which it can change in place, and which attributes it
exports (so references are checked before the first API call). Handlers return attributes named as
the AWS provider names them in state (`id`, `arn`, `cidr_block`, `tags_all`, ...), so terraform can
read the state this engine writes.

`Ctx` is what a handler call gets: the cell's client factory, region, cancel event and timeouts.
`DataSource` is the read-only counterpart (availability zones, caller identity, ...).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from botocore.exceptions import ClientError

from matrix.clients import ClientFactory


class Cancelled(Exception):
    """The run was cancelled (timeout or Ctrl-C) while waiting."""


@dataclass
class Ctx:
    clients: ClientFactory
    region: str
    cancel: threading.Event = field(default_factory=threading.Event)
    wait_timeout: float = 600.0
    poll: float = 0.2  # emulators answer at once; a real-account target raises it
    log: Callable[[str], None] = lambda msg: None

    def client(self, service: str) -> Any:
        return self.clients.client(service, self.region)

    def sleep(self, seconds: float) -> None:
        if self.cancel.wait(seconds):
            raise Cancelled("cancelled while waiting")

    def wait_for(self, what: str, check: Callable[[], bool], timeout: float | None = None) -> None:
        """Poll `check` until true; raise TimeoutError naming `what` after the timeout."""
        deadline = time.monotonic() + (timeout or self.wait_timeout)
        delay = self.poll
        while not check():
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout or self.wait_timeout:.0f} s waiting for {what}")
            self.sleep(delay)
            delay = min(delay * 1.5, 10.0)


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


def describe_one(call: Callable[[], dict[str, Any]], key: str, *not_found: str) -> dict[str, Any] | None:
    """The first item of a Describe call's `key` list, or None when it is empty or answers one of the
    `not_found` codes (the resource is gone)."""
    try:
        items = call()[key]
    except ClientError as exc:
        if error_code(exc) in not_found:
            return None
        raise
    return items[0] if items else None


def ec2_tags(tags: dict[str, str] | None) -> list[dict[str, str]]:
    return [{"Key": k, "Value": str(v)} for k, v in sorted((tags or {}).items())]


def tag_spec(resource_type: str, tags: dict[str, str] | None) -> list[dict[str, Any]]:
    return [{"ResourceType": resource_type, "Tags": ec2_tags(tags)}] if tags else []


def from_ec2_tags(tags: list[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in tags or []}


def update_ec2_tags(ctx: Ctx, resource_id: str, old: dict[str, str], new: dict[str, str]) -> None:
    ec2 = ctx.client("ec2")
    removed = [k for k in old if k not in new]
    changed = {k: v for k, v in new.items() if old.get(k) != v}
    if removed:
        ec2.delete_tags(Resources=[resource_id], Tags=[{"Key": k} for k in removed])
    if changed:
        ec2.create_tags(Resources=[resource_id], Tags=ec2_tags(changed))


def same_json(a: Any, b: Any) -> bool:
    def norm(v: Any) -> Any:
        if isinstance(v, str):
            try:
                return json.loads(v)
            except ValueError:
                return v
        return v

    return norm(a) == norm(b)


class Handler:
    type: ClassVar[str]
    #: arguments whose change needs destroy-then-create
    force_new: ClassVar[frozenset[str]] = frozenset()
    #: arguments update() can change in place (tags are always updatable on taggable types)
    updatable: ClassVar[frozenset[str]] = frozenset()
    #: attributes a reference may read (besides the arguments)
    exports: ClassVar[frozenset[str]] = frozenset({"id"})
    #: arguments compared as unordered sets / as JSON documents
    set_args: ClassVar[frozenset[str]] = frozenset()
    json_args: ClassVar[frozenset[str]] = frozenset()
    #: defaults AWS applies when the argument is not given (so a missing arg is not drift)
    taggable: ClassVar[bool] = True

    def create(self, ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def read(self, ctx: Ctx, attrs: dict[str, Any]) -> dict[str, Any] | None:
        """Live attributes, or None when the resource no longer exists."""
        raise NotImplementedError

    def update(self, ctx: Ctx, attrs: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
        if self.taggable and attrs.get("tags_all") != args.get("tags_all"):
            self.update_tags(ctx, attrs, attrs.get("tags_all") or {}, args.get("tags_all") or {})
        return {**attrs, **args}

    def update_tags(self, ctx: Ctx, attrs: dict[str, Any], old: dict[str, str], new: dict[str, str]) -> None:
        update_ec2_tags(ctx, attrs["id"], old, new)

    def delete(self, ctx: Ctx, attrs: dict[str, Any]) -> None:
        raise NotImplementedError

    def find(self, ctx: Ctx, args: dict[str, Any]) -> dict[str, Any] | None:
        """An existing resource matching `args` (to adopt after a crash between create and state
        write), or None. Default: cannot tell."""
        return None

    # -- comparison --------------------------------------------------------------------------
    def differs(self, arg: str, want: Any, have: Any) -> bool:
        if arg in self.set_args:
            return sorted(want or []) != sorted(have or [])
        if arg in self.json_args:
            return not same_json(want, have)
        if isinstance(want, bool) or isinstance(have, bool):
            return bool(want) != bool(have)
        if isinstance(want, int | float) and isinstance(have, int | float | str):
            return str(want) != str(have)
        return want != have

    def diff(self, args: dict[str, Any], live: dict[str, Any]) -> list[str]:
        """Arguments whose desired value differs from the live one."""
        out = []
        for arg, want in args.items():
            if arg == "tags":
                continue  # compared through tags_all (tags + provider default_tags)
            if arg == "tags_all" and not self.taggable:
                continue
            if self.differs(arg, want, live.get(arg)):
                out.append(arg)
        return out


class DataSource:
    type: ClassVar[str]
    exports: ClassVar[frozenset[str]] = frozenset({"id"})

    def read(self, ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError
