"""Fault rules: the model, the files they come from, their validation, and their seeded evaluation.

The parts, in the order a rule lives through them:

* loaders: `load_rules(path)` reads a file, `parse_rules(data)` takes already-parsed JSON/TOML data,
  `rule(**fields)` builds one rule in code. All three validate and raise `matrix.errors.UsageError`
  (exit 2) naming the file, the rule, the field, the value and what is allowed.
* `Rule`: what a rule selects (service, operation names or globs, region globs, mutating only) and
  the effect it has (throttle, error, latency, reset), plus its budget (probability, first N calls,
  max count) and its time window (start after S seconds, for D seconds, counted from arming).
* `RuleSet`: the rules in order, with their run-time state: counters, one seeded RNG per rule, and the
  moment they were armed. `evaluate(request_info)` returns the faults for one request.
  Thread-safe; the proxy and the client-side hooks share it.

Evaluation: rules are tried in file order. A matching `latency` rule adds its delay and evaluation
goes on; the first matching `throttle`, `error` or `reset` rule that fires ends it. A rule "fires"
when the request is inside its window, its first-N / max-count budget is not spent and its seeded
draw (`probability`) succeeds. With the same seed, the same sequence of requests gets the same faults.

## File formats (JSON or TOML; the format of each rule is recognised by its keys)

1. Our schema. A list of rules, or `{"seed": 7, "rules": [...]}` (TOML: `seed = 7` and `[[rules]]`):

       name         str            id in the fault log (default "rule-<n>")
       service      str | [str]    "ec2", "s3", ... any botocore service; "*" or absent = every service
       operation    str | [str]    names or globs ("Create*"), checked against botocore's model
       region       str | [str]    names or globs ("eu-*")
       mutating     bool           true: only calls that change state; false: only reads
       probability  0..1           default 1 (seeded draw)
       first        int >= 1       only the first N matching calls in the window
       max_count    int >= 1       at most N faults from this rule
       start_after  seconds | "30s" | "PT1M"   window opens S after arming (default 0)
       duration     seconds | "20s" | "PT5M"   window length (default: until disarmed)
       effect       "throttle" | "error" | "latency" | "reset"
       code         str            error code (required for error; throttle: the service's own by default,
                                   EC2 RequestLimitExceeded 503, IAM/STS Throttling 400, S3 SlowDown 503,
                                   DynamoDB/Logs ThrottlingException 400)
       status       400..599       HTTP status (default: the status AWS sends with that code)
       message      str            error message (default: AWS's wording)
       latency_ms   number > 0     added before forwarding (effect latency)
       when         "before" | "after"   reset: before forwarding (default), or after the upstream
                                   answered (the call took effect, the answer is lost)

   Example (TOML; the same in JSON: `{"seed": 7, "rules": [{...}, {...}]}`):

       seed = 7

       [[rules]]
       name = "throttle-ec2-writes"
       service = "ec2"
       mutating = true
       probability = 0.3
       effect = "throttle"            # RequestLimitExceeded, 503

       [[rules]]
       name = "storm"
       service = "ec2"
       operation = ["Create*", "Delete*"]
       start_after = "10s"
       duration = "20s"
       effect = "error"
       code = "InternalError"         # status 500 from the table

       [[rules]]
       name = "slow"
       effect = "latency"
       latency_ms = 200

2. LocalStack Chaos API fault rules, as POSTed to `/_localstack/chaos/faults`:
   `[{"service": "s3", "operation": "PutObject", "region": "us-east-1", "probability": 0.5,
   "error": {"statusCode": 503, "code": "ServiceUnavailable"}}]`; every key optional, `error` defaults
   to 503 ServiceUnavailable, as in LocalStack.

3. AWS FIS: the parameters of `aws:fis:inject-api-throttle-error` as a flat rule,
   `{"service": "ec2", "operations": "CreateVpc,CreateSubnet", "percentage": 30, "duration": "PT5M"}`
   (FIS itself accepts only ec2; we accept any service), or a whole FIS experiment template
   (`{"actions": {...}}`) whose actions are `aws:fis:inject-api-throttle-error`, `-internal-error`,
   `-unavailable-error` (`aws:fis:wait` actions before them become `start_after`).
"""

from __future__ import annotations

import difflib
import fnmatch
import json
import random
import re
import threading
import time
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from matrix.chaos import catalog, codes
from matrix.chaos.protocol import RequestInfo
from matrix.errors import UsageError

EFFECTS = ("throttle", "error", "latency", "reset")
OUR_KEYS = ("name", "service", "services", "operation", "operations", "region", "regions", "mutating",
            "probability", "first", "max_count", "start_after", "duration", "effect", "code", "status",
            "message", "latency_ms", "when")
_EFFECT_KEYS = {"code": ("throttle", "error"), "status": ("throttle", "error"), "message": ("throttle", "error"),
                "latency_ms": ("latency",), "when": ("reset",)}
LOCALSTACK_KEYS = ("service", "operation", "region", "probability", "error")
LOCALSTACK_ERROR_KEYS = ("statusCode", "code", "message")
FIS_KEYS = ("name", "service", "operations", "percentage", "duration", "region", "start_after")
FIS_ACTIONS = {
    "aws:fis:inject-api-throttle-error": ("throttle", None, None),
    "aws:fis:inject-api-internal-error": ("error", "InternalError", 500),
    "aws:fis:inject-api-unavailable-error": ("error", "Unavailable", 503),
}
TOP_KEYS = ("seed", "rules", "format", "description")
FORMATS = ("auto", "stackmatrix", "localstack", "fis")
PSEUDO_OPERATIONS = {"s3": frozenset({"PostObject"})}

GLOB_CHARS = re.compile(r"[*?\[]")
_REGION_RE = re.compile(r"^[a-z0-9*?\[\]-]+$")
_DURATION_RE = re.compile(r"^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$")
_ISO_RE = re.compile(r"^PT(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?$")


# -- the model -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Rule:
    """One validated fault rule. Build it with `rule(...)` or a loader, which validate."""

    name: str
    effect: str
    services: tuple[str, ...] = ()
    operations: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    mutating: bool | None = None
    probability: float = 1.0
    first: int | None = None
    max_count: int | None = None
    start_after: float = 0.0
    duration: float | None = None
    code: str | None = None
    status: int | None = None
    message: str | None = None
    latency_ms: float = 0.0
    when: str = "before"
    source: str = ""
    _ops_exact: frozenset[str] = field(default=frozenset(), repr=False, compare=False)
    _ops_re: re.Pattern | None = field(default=None, repr=False, compare=False)
    _regions_re: re.Pattern | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        globs = [o for o in self.operations if GLOB_CHARS.search(o)]
        object.__setattr__(self, "_ops_exact", frozenset(o for o in self.operations if o not in globs))
        object.__setattr__(self, "_ops_re", re.compile("|".join(fnmatch.translate(g) for g in globs))
                           if globs else None)
        object.__setattr__(self, "_regions_re", re.compile("|".join(fnmatch.translate(g) for g in self.regions))
                           if self.regions else None)

    def selects(self, info: RequestInfo) -> bool:
        if not info.service:
            return False
        if self.services and info.service not in self.services:
            return False
        if self.operations and info.operation not in self._ops_exact and not (
                self._ops_re is not None and self._ops_re.match(info.operation)):
            return False
        if self._regions_re is not None and not self._regions_re.match(info.region):
            return False
        return self.mutating is None or info.mutating == self.mutating

    def error_for(self, service: str, protocol: str) -> tuple[str, int, str]:
        """(code, status, message) this rule answers to a call of `service`."""
        if self.effect == "throttle" and not self.code:
            code, status, message = codes.default_throttle(service, protocol)
            return code, self.status or status, self.message or message
        code = self.code or "ServiceUnavailable"
        return code, self.status or codes.status_for(service, code), self.message or codes.message_for(code)

    def to_dict(self) -> dict[str, Any]:
        """This rule in our schema (loads back to the same rule)."""
        out: dict[str, Any] = {"name": self.name, "effect": self.effect}
        for key, value in (("service", list(self.services)), ("operation", list(self.operations)),
                           ("region", list(self.regions))):
            if value:
                out[key] = value
        for key in ("mutating", "first", "max_count", "duration", "code", "status", "message"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.probability != 1.0:
            out["probability"] = self.probability
        if self.start_after:
            out["start_after"] = self.start_after
        if self.effect == "latency":
            out["latency_ms"] = self.latency_ms
        if self.effect == "reset":
            out["when"] = self.when
        return out


@dataclass(frozen=True, slots=True)
class Fault:
    """One fault to inject into one request."""

    rule: Rule
    effect: str                # throttle | error | latency | reset
    code: str | None = None
    status: int | None = None
    message: str | None = None
    latency_ms: float = 0.0
    when: str = "before"


@dataclass
class _RuleState:
    rng: random.Random
    matched: int = 0
    injected: int = 0


class RuleSet:
    """Rules in order plus their run-time state. Arm it to start the clock and reset the counters."""

    def __init__(self, rules: Iterable[Rule] = (), *, seed: int = 0, source: str = "") -> None:
        named = [r if r.name else replace(r, name=f"rule-{i + 1}") for i, r in enumerate(rules)]
        names = [r.name for r in named]
        dups = sorted({n for n in names if names.count(n) > 1})
        if dups:
            raise UsageError(f"{source or 'rules'}: rule name(s) {', '.join(dups)} used more than once; "
                             "names must be unique (they identify faults in the log)")
        self.rules: tuple[Rule, ...] = tuple(named)
        self.seed = seed
        self.source = source
        self._lock = threading.Lock()
        self._state: list[_RuleState] = []
        self.armed_at: float | None = None
        self._reset_state()

    @classmethod
    def coerce(cls, rules: RuleSet | Iterable[Rule | Mapping[str, Any]] | None, *, seed: int = 0) -> RuleSet:
        """A RuleSet from a RuleSet (returned as is), rules, dicts in any supported format, or None."""
        if rules is None:
            return cls(seed=seed)
        if isinstance(rules, RuleSet):
            return rules
        items = list(rules)
        if all(isinstance(r, Rule) for r in items):
            return cls(items, seed=seed)
        return parse_rules(items, seed=seed, source="<rules>")

    def _reset_state(self) -> None:
        self._state = [_RuleState(random.Random(f"{self.seed}/{i}/{r.name}")) for i, r in enumerate(self.rules)]

    def arm(self, now: float | None = None) -> RuleSet:
        """Start the windows now and reset counters and random draws (same seed, same faults)."""
        with self._lock:
            self._reset_state()
            self.armed_at = time.monotonic() if now is None else now
        return self

    def copy(self) -> RuleSet:
        return RuleSet(self.rules, seed=self.seed, source=self.source)

    def __len__(self) -> int:
        return len(self.rules)

    def __iter__(self):
        return iter(self.rules)

    def __bool__(self) -> bool:
        return bool(self.rules)

    @property
    def services(self) -> frozenset[str]:
        """Services some rule may touch ('*' when a rule has no service selector)."""
        out: set[str] = set()
        for r in self.rules:
            out.update(r.services or ("*",))
        return frozenset(out)

    def evaluate(self, info: RequestInfo, now: float | None = None) -> list[Fault]:
        """The faults for one request: latency faults first, then at most one terminal fault."""
        if not self.rules or not info.service:
            return []
        now = time.monotonic() if now is None else now
        out: list[Fault] = []
        with self._lock:
            if self.armed_at is None:
                self._reset_state()
                self.armed_at = now
            elapsed = now - self.armed_at
            for r, st in zip(self.rules, self._state, strict=True):
                if elapsed < r.start_after or (r.duration is not None and elapsed >= r.start_after + r.duration):
                    continue
                if not r.selects(info):
                    continue
                st.matched += 1
                if r.first is not None and st.matched > r.first:
                    continue
                if r.max_count is not None and st.injected >= r.max_count:
                    continue
                if r.probability < 1.0 and not st.rng.random() < r.probability:
                    continue
                st.injected += 1
                if r.effect == "latency":
                    out.append(Fault(r, "latency", latency_ms=r.latency_ms))
                    continue
                if r.effect == "reset":
                    out.append(Fault(r, "reset", when=r.when))
                else:
                    code, status, message = r.error_for(info.service, info.protocol)
                    out.append(Fault(r, r.effect, code, status, message))
                break
        return out

    def counters(self) -> dict[str, dict[str, int]]:
        """Per rule name: how many requests matched it and how many faults it injected since arming."""
        with self._lock:
            return {r.name: {"matched": st.matched, "injected": st.injected}
                    for r, st in zip(self.rules, self._state, strict=True)}

    def to_dict(self) -> dict[str, Any]:
        return {"seed": self.seed, "rules": [r.to_dict() for r in self.rules]}


# -- loading ---------------------------------------------------------------------------------------

def load_rules(path: str | Path, *, seed: int | None = None, format: str = "auto") -> RuleSet:
    """Read a rule file (JSON or TOML; our schema, LocalStack Chaos rules or FIS) into a RuleSet."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"--rules {p}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--rules {p}: cannot read: {exc}") from None
    data = parse_text(text, str(p))
    return parse_rules(data, source=str(p), seed=seed, format=format)


def parse_text(text: str, source: str) -> Any:
    """JSON or TOML text -> data; the format follows the file suffix, else the first character."""
    suffix = Path(source).suffix.lower()
    as_json = suffix == ".json" or (suffix != ".toml" and text.lstrip()[:1] in ("[", "{"))
    if as_json:
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{source}: line {exc.lineno} column {exc.colno}: invalid JSON: {exc.msg}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        where = f"line {m.group(1)} column {m.group(2)}" if m else "somewhere"
        raise UsageError(f"{source}: {where}: invalid TOML: {exc}") from None


def parse_rules(data: Any, *, source: str = "<rules>", seed: int | None = None, format: str = "auto") -> RuleSet:
    """Parsed JSON/TOML data -> a validated RuleSet. See the module docstring for the formats."""
    if format not in FORMATS:
        raise UsageError(f"{source}: format = {format!r}: unknown; allowed: {', '.join(FORMATS)}")
    file_seed = None
    if isinstance(data, Mapping) and "actions" in data:
        items: list[Any] = _fis_template_items(data, source)
        format = "fis"
    elif isinstance(data, Mapping) and "rules" in data:
        unknown = sorted(set(data) - set(TOP_KEYS))
        if unknown:
            raise UsageError(f"{source}: unknown top-level key(s) {', '.join(unknown)}; "
                             f"allowed: {', '.join(TOP_KEYS)}")
        file_seed = data.get("seed")
        if file_seed is not None and (isinstance(file_seed, bool) or not isinstance(file_seed, int)):
            raise UsageError(f"{source}: seed = {file_seed!r}: must be an integer")
        if "format" in data:
            if data["format"] not in FORMATS:
                raise UsageError(f"{source}: format = {data['format']!r}: unknown; allowed: {', '.join(FORMATS)}")
            format = format if format != "auto" else data["format"]
        items = data["rules"]
        if not isinstance(items, list):
            raise UsageError(f"{source}: rules = {items!r}: must be a list of rules")
    elif isinstance(data, Mapping) and ({"seed", "format", "description"} & set(data)):
        raise UsageError(f"{source}: a rule file with top-level keys ({', '.join(sorted(data))}) needs a "
                         "'rules' list; allowed top-level keys: " + ", ".join(TOP_KEYS))
    elif isinstance(data, Mapping):
        items = [data]
    elif isinstance(data, list):
        items = data
    else:
        raise UsageError(f"{source}: expected a list of rules or a table with 'rules', got {type(data).__name__}")
    rules = []
    names: set[str] = set()
    for i, item in enumerate(items):
        r = _parse_item(item, source, i, format)
        if r.name in names:
            raise UsageError(f"{_where(source, i, r.name)}: name = {r.name!r}: used by an earlier rule; "
                             "names must be unique (they identify faults in the log)")
        names.add(r.name)
        rules.append(r)
    final_seed = seed if seed is not None else (file_seed if file_seed is not None else 0)
    return RuleSet(rules, seed=final_seed, source=source)


def rule(**fields: Any) -> Rule:
    """One rule in our schema, validated: `rule(service="ec2", effect="throttle", probability=0.3)`.
    Without a name it is named by its place in the RuleSet it joins ("rule-<n>")."""
    r = _parse_ours(fields, "<code>", 0)
    return r if "name" in fields else replace(r, name="")


def _where(source: str, index: int, name: str | None = None) -> str:
    label = f"{source}, rule {index + 1}"
    return f"{label} ({name!r})" if name else label


def _parse_item(item: Any, source: str, index: int, format: str) -> Rule:
    if isinstance(item, Rule):
        return item if item.name else replace(item, name=f"rule-{index + 1}")
    if not isinstance(item, Mapping):
        raise UsageError(f"{_where(source, index)}: expected a table/object, got {item!r}")
    kind = format if format != "auto" else _detect(item)
    if kind == "localstack":
        return _parse_localstack(item, source, index)
    if kind == "fis":
        return _parse_fis(item, source, index)
    return _parse_ours(item, source, index)


def _detect(item: Mapping[str, Any]) -> str:
    if "percentage" in item or (isinstance(item.get("operations"), str) and "effect" not in item):
        return "fis"
    if "effect" in item:
        return "stackmatrix"
    if set(item) <= set(LOCALSTACK_KEYS):
        return "localstack"
    return "stackmatrix"


def _parse_ours(item: Mapping[str, Any], source: str, index: int) -> Rule:
    name = item.get("name")
    where = _where(source, index, name if isinstance(name, str) else None)
    unknown = sorted(set(item) - set(OUR_KEYS))
    if unknown:
        hint = _suggest(unknown[0], OUR_KEYS)
        raise UsageError(f"{where}: unknown key(s) {', '.join(unknown)}{hint}; allowed: {', '.join(OUR_KEYS)}")
    for a, b in (("service", "services"), ("operation", "operations"), ("region", "regions")):
        if a in item and b in item:
            raise UsageError(f"{where}: both {a} and {b} given; use one")
    effect = item.get("effect")
    if effect is None:
        raise UsageError(f"{where}: effect is missing; allowed: {', '.join(EFFECTS)}")
    if effect not in EFFECTS:
        raise UsageError(f"{where}: effect = {effect!r}: unknown{_suggest(str(effect), EFFECTS)}; "
                         f"allowed: {', '.join(EFFECTS)}")
    for key, effects in _EFFECT_KEYS.items():
        if key in item and effect not in effects:
            raise UsageError(f"{where}: {key} = {item[key]!r} does not apply to effect {effect!r} "
                             f"(only to {', '.join(effects)})")
    if name is None:
        name = f"rule-{index + 1}"
    elif not isinstance(name, str) or not name.strip():
        raise UsageError(f"{where}: name = {name!r}: must be a non-empty string")
    services = _services(item.get("service", item.get("services")), where)
    operations = _operations(item.get("operation", item.get("operations")), services, where)
    regions = _regions(item.get("region", item.get("regions")), where)
    mutating = item.get("mutating")
    if mutating is not None and not isinstance(mutating, bool):
        raise UsageError(f"{where}: mutating = {mutating!r}: must be true or false")
    probability = _probability(item.get("probability", 1.0), where, "probability")
    first = _count(item.get("first"), where, "first")
    max_count = _count(item.get("max_count"), where, "max_count")
    start_after = _duration(item.get("start_after", 0), where, "start_after") or 0.0
    duration = _duration(item.get("duration"), where, "duration")
    code = item.get("code")
    status = item.get("status")
    message = item.get("message")
    latency_ms = 0.0
    when = "before"
    if effect in ("throttle", "error"):
        if effect == "error" and code is None:
            raise UsageError(f"{where}: effect 'error' needs a code (e.g. InternalError, ServiceUnavailable)")
        if code is not None:
            _check_code(code, services, where)
        if status is not None and (isinstance(status, bool) or not isinstance(status, int)
                                   or not 400 <= status <= 599):
            raise UsageError(f"{where}: status = {status!r}: must be an HTTP error status, 400..599")
        if message is not None and not isinstance(message, str):
            raise UsageError(f"{where}: message = {message!r}: must be a string")
    elif effect == "latency":
        given = item.get("latency_ms")
        if given is None:
            raise UsageError(f"{where}: effect 'latency' needs latency_ms (milliseconds, > 0)")
        if isinstance(given, bool) or not isinstance(given, int | float) or not 0 < given <= 600_000:
            raise UsageError(f"{where}: latency_ms = {given!r}: must be a number of milliseconds, "
                             "0 < latency_ms <= 600000")
        latency_ms = float(given)
    elif effect == "reset":
        when = item.get("when", "before")
        if when not in ("before", "after"):
            raise UsageError(f"{where}: when = {when!r}: allowed: before, after")
    return Rule(name=name, effect=effect, services=services, operations=operations, regions=regions,
                mutating=mutating, probability=probability, first=first, max_count=max_count,
                start_after=start_after, duration=duration, code=code, status=status, message=message,
                latency_ms=latency_ms, when=when, source=where)


def _parse_localstack(item: Mapping[str, Any], source: str, index: int) -> Rule:
    where = _where(source, index) + " (LocalStack Chaos format)"
    unknown = sorted(set(item) - set(LOCALSTACK_KEYS))
    if unknown:
        raise UsageError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(LOCALSTACK_KEYS)}")
    error = item.get("error") or {}
    if not isinstance(error, Mapping):
        raise UsageError(f"{where}: error = {error!r}: must be an object with statusCode and code")
    bad = sorted(set(error) - set(LOCALSTACK_ERROR_KEYS))
    if bad:
        raise UsageError(f"{where}: unknown key(s) error.{', error.'.join(bad)}; "
                         f"allowed: {', '.join('error.' + k for k in LOCALSTACK_ERROR_KEYS)}")
    status = error.get("statusCode")
    code = error.get("code")
    if code is None:
        by_status = {500: "InternalError", 429: "TooManyRequestsException"}
        code = by_status.get(status, "ServiceUnavailable") if isinstance(status, int) else "ServiceUnavailable"
    ours: dict[str, Any] = {"name": f"localstack-{index + 1}", "effect": "error", "code": code}
    if status is not None:
        ours["status"] = status
    elif "code" not in error:
        ours["status"] = 503
    if "message" in error:
        ours["message"] = error["message"]
    for key in ("service", "operation", "region", "probability"):
        if key in item:
            ours[key] = item[key]
    return replace(_parse_ours(ours, source, index), source=where)


def _parse_fis(item: Mapping[str, Any], source: str, index: int) -> Rule:
    where = _where(source, index, item.get("name")) + " (FIS format)"
    unknown = sorted(set(item) - set(FIS_KEYS) - {"effect", "code", "status"})
    if unknown:
        raise UsageError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(FIS_KEYS)}")
    ops = item.get("operations")
    if isinstance(ops, str):
        ops = [o.strip() for o in ops.split(",") if o.strip()]
    if not ops:
        raise UsageError(f"{where}: operations = {item.get('operations')!r}: FIS needs the operations, "
                         "comma-separated (e.g. \"CreateVpc,CreateSubnet\")")
    pct = item.get("percentage", 100)
    try:
        pct_f = float(pct)
    except (TypeError, ValueError):
        pct_f = -1.0
    if isinstance(pct, bool) or not 1 <= pct_f <= 100:
        raise UsageError(f"{where}: percentage = {pct!r}: must be 1..100 (percent of calls)")
    ours: dict[str, Any] = {"name": item.get("name") or f"fis-{index + 1}", "effect": item.get("effect", "throttle"),
                            "operation": ops, "probability": pct_f / 100.0}
    for key in ("service", "region", "duration", "start_after", "code", "status"):
        if key in item:
            ours[key] = item[key]
    if "service" not in item:
        raise UsageError(f"{where}: service is missing (FIS: the API namespace, e.g. \"ec2\")")
    return replace(_parse_ours(ours, source, index), source=where)


def _fis_template_items(data: Mapping[str, Any], source: str) -> list[dict[str, Any]]:
    actions = data.get("actions")
    if not isinstance(actions, Mapping) or not actions:
        raise UsageError(f"{source}: actions = {actions!r}: a FIS template needs a non-empty 'actions' object")
    durations: dict[str, float] = {}
    starts: dict[str, float] = {}

    def start_of(name: str, seen: tuple[str, ...] = ()) -> float:
        if name in starts:
            return starts[name]
        if name in seen or name not in actions:
            raise UsageError(f"{source}: actions.{seen[-1] if seen else name}.startAfter names {name!r}: "
                             "unknown or circular")
        after = actions[name].get("startAfter") or []
        t = max((start_of(a, (*seen, name)) + durations.get(a, 0.0) for a in after), default=0.0)
        starts[name] = t
        return t

    for name, action in actions.items():
        if not isinstance(action, Mapping):
            raise UsageError(f"{source}: actions.{name}: must be an object")
        params = action.get("parameters") or {}
        durations[name] = _duration(params.get("duration"), f"{source}: actions.{name}", "parameters.duration") or 0.0
    items = []
    for name, action in actions.items():
        action_id = action.get("actionId")
        if action_id == "aws:fis:wait":
            continue
        if action_id not in FIS_ACTIONS:
            raise UsageError(f"{source}: actions.{name}.actionId = {action_id!r}: not an API fault; allowed: "
                             f"{', '.join([*FIS_ACTIONS, 'aws:fis:wait'])}")
        effect, code, status = FIS_ACTIONS[action_id]
        params = dict(action.get("parameters") or {})
        item: dict[str, Any] = {"name": name, **params, "effect": effect}
        if code:
            item.update(code=code, status=status)
        start = start_of(name)
        if start:
            item["start_after"] = start
        items.append(item)
    return items


# -- field validation ------------------------------------------------------------------------------

def _as_list(value: Any, where: str, key: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
        return list(value)
    raise UsageError(f"{where}: {key} = {value!r}: must be a name or a non-empty list of names")


def _services(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    names = _as_list(value, where, "service")
    if "*" in names:
        return ()
    known = catalog.known_services()
    for n in names:
        if n not in known:
            raise UsageError(f"{where}: service = {n!r}: unknown service{_suggest(n, known)}; allowed: any "
                             f"botocore service name, e.g. {', '.join(catalog.CORE_SERVICES)} (or '*')")
    return tuple(dict.fromkeys(names))


def _operations(value: Any, services: tuple[str, ...], where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    names = _as_list(value, where, "operation")
    if "*" in names:
        return ()
    scope = services or catalog.CORE_SERVICES
    known: set[str] = set()
    for svc in scope:
        known |= catalog.operation_names(svc) | PSEUDO_OPERATIONS.get(svc, frozenset())
    label = ", ".join(scope)
    for n in names:
        if GLOB_CHARS.search(n):
            if not any(fnmatch.fnmatchcase(op, n) for op in known):
                raise UsageError(f"{where}: operation = {n!r}: the glob matches no operation of {label}")
        elif n not in known:
            hint = _suggest(n, known)
            extra = "" if services else " (no service given: name the service)"
            raise UsageError(f"{where}: operation = {n!r}: not an operation of {label}{hint}{extra}; "
                             "allowed: the operation names of botocore's service model, or globs like 'Create*'")
    return tuple(dict.fromkeys(names))


def _regions(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    names = _as_list(value, where, "region")
    if "*" in names:
        return ()
    for n in names:
        if not _REGION_RE.match(n):
            raise UsageError(f"{where}: region = {n!r}: not a region name or glob (e.g. us-east-1, eu-*)")
    return tuple(dict.fromkeys(names))


def _probability(value: Any, where: str, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= float(value) <= 1.0:
        raise UsageError(f"{where}: {key} = {value!r}: must be a number in [0, 1]")
    return float(value)


def _count(value: Any, where: str, key: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UsageError(f"{where}: {key} = {value!r}: must be an integer >= 1")
    return value


def parse_duration(value: Any) -> float | None:
    """Seconds from 12, 1.5, "500ms", "20s", "2m", "1h" or ISO 8601 "PT1M30S"; None if not a duration."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if value >= 0 else None
    if not isinstance(value, str):
        return None
    text = value.strip()
    m = _DURATION_RE.match(text)
    if m:
        n = float(m.group(1))
        return n * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[m.group(2)]
    m = _ISO_RE.match(text.upper())
    if m and any(m.groups()):
        h, mi, s = (float(g) if g else 0.0 for g in m.groups())
        return h * 3600 + mi * 60 + s
    return None


def _duration(value: Any, where: str, key: str) -> float | None:
    if value is None:
        return None
    seconds = parse_duration(value)
    if seconds is None:
        raise UsageError(f"{where}: {key} = {value!r}: not a duration; allowed: seconds (20, 1.5), "
                         "\"500ms\", \"20s\", \"5m\", \"1h\" or ISO 8601 (\"PT5M\")")
    return seconds


def _check_code(code: Any, services: tuple[str, ...], where: str) -> None:
    if not isinstance(code, str) or not code:
        raise UsageError(f"{where}: code = {code!r}: must be an AWS error code string")
    scope = services or catalog.CORE_SERVICES
    known: set[str] = set()
    for svc in scope:
        table = codes.known_codes(svc)
        if code in table:
            return
        known |= set(table)
    raise UsageError(f"{where}: code = {code!r}: not an error code {', '.join(scope)} sends"
                     f"{_suggest(code, known)}; allowed: the service's throttling codes, InternalError, "
                     "InternalFailure, ServiceUnavailable, InternalServerError, and the codes of its "
                     "service model / AWS error-code table")


def _suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=3, cutoff=0.75)
    return f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
