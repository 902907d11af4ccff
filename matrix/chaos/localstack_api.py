"""Our rules sent to LocalStack's own Chaos API, when the LocalStack in front of us has one.

LocalStack's Chaos API (an Enterprise feature) holds fault rules at `/_localstack/chaos/faults`:
GET lists them, POST replaces them, PATCH appends, DELETE removes the rules given in the body; a rule
is `{"service", "operation", "region", "probability", "error": {"statusCode", "code"}}`, every key
optional, first match wins. `/_localstack/chaos/effects` takes `{"latency": <ms>}` for every call.
Community LocalStack (localstack-core, what runs here) answers 404 there: `LocalStackChaos.require()`
then raises a UsageError saying so and pointing at the fault proxy.

`to_localstack(rules)` translates: operation globs and `mutating` are expanded to exact operation
names (LocalStack matches names only); a throttle becomes each service's real throttle code and
status; an unconditional latency rule becomes the latency effect. What LocalStack cannot do (first-N,
max-count, time windows, region globs, per-call latency, connection resets) is a UsageError naming
the rule and the field: use the proxy backend for those.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterable
from typing import Any

from matrix.chaos import catalog
from matrix.chaos.protocol import RequestInfo, is_mutating
from matrix.chaos.rules import GLOB_CHARS, Rule, RuleSet
from matrix.errors import StackmatrixError, UsageError

FAULTS_PATH = "/_localstack/chaos/faults"
EFFECTS_PATH = "/_localstack/chaos/effects"


def to_localstack(rules: RuleSet | Iterable[Rule]) -> tuple[list[dict[str, Any]], int | None]:
    """(fault rules for /faults, latency in ms for /effects or None)."""
    faults: list[dict[str, Any]] = []
    latency: int | None = None
    for r in (rules.rules if isinstance(rules, RuleSet) else rules):
        where = f"rule {r.name!r} ({r.source or 'code'})"
        for key, value in (("first", r.first), ("max_count", r.max_count), ("duration", r.duration)):
            if value is not None:
                raise UsageError(f"{where}: {key} = {value!r}: LocalStack's Chaos API has no call budgets or "
                                 "time windows; use the fault proxy (--chaos-backend proxy)")
        if r.start_after:
            raise UsageError(f"{where}: start_after = {r.start_after!r}: LocalStack's Chaos API has no time "
                             "windows; use the fault proxy (--chaos-backend proxy)")
        if r.effect == "reset":
            raise UsageError(f"{where}: effect = 'reset': LocalStack's Chaos API cannot reset connections; "
                             "use the fault proxy (--chaos-backend proxy)")
        if r.effect == "latency":
            if r.services or r.operations or r.regions or r.mutating is not None or r.probability < 1:
                raise UsageError(f"{where}: effect = 'latency' with selectors: LocalStack's latency effect "
                                 "applies to every call; use the fault proxy for per-call latency")
            latency = round(r.latency_ms)
            continue
        regions: list[str | None] = list(r.regions) or [None]
        for region in regions:
            if region is not None and GLOB_CHARS.search(region):
                raise UsageError(f"{where}: region = {region!r}: LocalStack matches exact region names only")
        services: list[str | None] = list(r.services) or (
            list(catalog.CORE_SERVICES) if (r.effect == "throttle" and not r.code) or r.operations
            or r.mutating is not None else [None])
        for service in services:
            ops = _operations(r, service, where)
            if service is None:
                code, status = r.code or "ServiceUnavailable", r.status or 503
            else:
                code, status, _ = r.error_for(service, _protocol(service))
            for op in ops:
                for region in regions:
                    item: dict[str, Any] = {}
                    if service:
                        item["service"] = service
                    if op:
                        item["operation"] = op
                    if region:
                        item["region"] = region
                    if r.probability < 1:
                        item["probability"] = r.probability
                    item["error"] = {"statusCode": status, "code": code}
                    faults.append(item)
    return faults, latency


def _protocol(service: str) -> str:
    try:
        return catalog.protocol_of(service)
    except Exception:
        return "json"


def _operations(r: Rule, service: str | None, where: str) -> list[str | None]:
    if not r.operations and r.mutating is None:
        return [None]
    if service is None:
        raise UsageError(f"{where}: operations or mutating without a service cannot be sent to LocalStack")
    names = sorted(catalog.operation_names(service))
    probe = Rule(name=r.name, effect=r.effect, services=(service,), operations=r.operations, mutating=None)
    selected = [op for op in names if probe.selects(RequestInfo(service, "", op, "", "POST"))]
    if r.mutating is not None:
        # S3 is mutating by HTTP method: judge by each operation's modeled method
        model = catalog.service_model(service)
        selected = [op for op in selected
                    if is_mutating(service, op, model.operation_model(op).http.get("method", "POST")) == r.mutating]
    return list(selected)


class LocalStackChaos:
    """Client of LocalStack's Chaos API at `endpoint_url` (e.g. http://127.0.0.1:4566)."""

    def __init__(self, endpoint_url: str, timeout: float = 5.0) -> None:
        self.endpoint_url = endpoint_url.rstrip("/")
        self.timeout = timeout

    def _call(self, method: str, path: str, payload: Any = None) -> tuple[int, Any]:
        data = None if payload is None else json.dumps(payload).encode()
        url = self.endpoint_url + path
        if not url.startswith(("http://", "https://")):
            raise UsageError(f"LocalStack endpoint {self.endpoint_url!r}: not an http(s) URL")
        req = urllib.request.Request(url, data=data, method=method,  # noqa: S310 (scheme checked above)
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310 (checked above)
                body = resp.read()
                status = resp.status
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()
        except (urllib.error.URLError, OSError) as exc:
            raise StackmatrixError(f"LocalStack at {self.endpoint_url} is unreachable: {exc}") from None
        try:
            return status, json.loads(body) if body else None
        except ValueError:
            return status, body

    def available(self) -> bool:
        """True when the endpoint answers the Chaos API (HTTP 200 with a JSON list)."""
        status, body = self._call("GET", FAULTS_PATH)
        return status == 200 and isinstance(body, list)

    def require(self) -> None:
        status, body = self._call("GET", FAULTS_PATH)
        if status == 200 and isinstance(body, list):
            return
        why = ("it is a LocalStack Enterprise feature; community LocalStack (localstack-core) answers 404"
               if status == 404 else f"unexpected answer {str(body)[:120]!r}")
        raise UsageError(f"--chaos-backend localstack: {self.endpoint_url}{FAULTS_PATH} answered HTTP {status}: "
                         f"this LocalStack has no Chaos API ({why}). Use the fault proxy instead "
                         "(--chaos-backend proxy), which works with any LocalStack and with moto.")

    def faults(self) -> list[dict[str, Any]]:
        return self._expect("GET", FAULTS_PATH)

    def set_faults(self, rules: RuleSet | Iterable[Rule]) -> list[dict[str, Any]]:
        """Replace LocalStack's fault rules (and its latency effect) with ours; returns what it now holds."""
        faults, latency = to_localstack(rules)
        held = self._expect("POST", FAULTS_PATH, faults)
        if latency is not None:
            self._expect("POST", EFFECTS_PATH, {"latency": latency})
        return held

    def add_faults(self, rules: RuleSet | Iterable[Rule]) -> list[dict[str, Any]]:
        faults, _ = to_localstack(rules)
        return self._expect("PATCH", FAULTS_PATH, faults)

    def remove_faults(self, rules: RuleSet | Iterable[Rule]) -> list[dict[str, Any]]:
        faults, _ = to_localstack(rules)
        return self._expect("DELETE", FAULTS_PATH, faults)

    def clear(self) -> None:
        """No faults, no latency."""
        self._expect("POST", FAULTS_PATH, [])
        self._expect("POST", EFFECTS_PATH, {"latency": 0})

    def _expect(self, method: str, path: str, payload: Any = None) -> Any:
        status, body = self._call(method, path, payload)
        if status == 404:
            self.require()
        if not 200 <= status < 300:
            raise StackmatrixError(f"LocalStack Chaos API {method} {path}: HTTP {status}: {str(body)[:200]}")
        return body
