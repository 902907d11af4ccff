"""The fault log: every injected fault, one JSON line each, plus in-memory counts for the reports.

Writers (the proxy, the client-side hooks) call `FaultLog.record(...)`; it is thread-safe, appends
one line to the file (flushed at once, so a killed run keeps what it injected) and bumps counters.
Readers: the same object (`events()`, `counts()`, `summary()`) while the run lives, or
`read_fault_log(path)` / `count_faults(events)` afterwards, from the file alone.

A line: {"time": "2026-01-01T12:00:00.123Z", "t": 1767268800.123, "cell": "us-east-1-dev-throttle-ec2",
"source": "proxy", "service": "ec2", "operation": "CreateVpc", "region": "us-east-1",
"mutating": true, "effect": "throttle", "code": "RequestLimitExceeded", "status": 503, "rule": "rule-1"}
(`latency_ms` for latency, `when` for reset). Never headers or bodies; every string passes through
`matrix.redact.redact`.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from matrix.redact import redact

FIELDS = ("time", "t", "cell", "source", "service", "operation", "region", "mutating", "effect", "code",
          "status", "latency_ms", "when", "rule")


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}Z"


class FaultLog:
    """Thread-safe JSON-lines fault log with counters. `path=None` keeps it in memory only."""

    def __init__(self, path: str | Path | None = None, *, keep_events: int = 100_000) -> None:
        self.path = Path(path) if path else None
        self._lock = threading.Lock()
        self._file = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8")
        self._events: list[dict[str, Any]] = []
        self._keep = keep_events
        self._counts: Counter[tuple[str, str, str, str]] = Counter()  # (service, operation, effect, rule)
        self.total = 0

    def record(self, *, service: str, operation: str, region: str, effect: str, rule: str, cell: str = "",
               source: str = "proxy", mutating: bool | None = None, code: str | None = None,
               status: int | None = None, latency_ms: float | None = None, when: str | None = None) -> dict:
        now = time.time()
        event: dict[str, Any] = {"time": _iso(now), "t": round(now, 3), "cell": cell, "source": source,
                                 "service": service, "operation": operation, "region": region,
                                 "mutating": mutating, "effect": effect, "rule": rule}
        if code is not None:
            event["code"] = code
            event["status"] = status
        if latency_ms is not None:
            event["latency_ms"] = latency_ms
        if when is not None:
            event["when"] = when
        event = {k: redact(v) if isinstance(v, str) else v for k, v in event.items()}
        line = json.dumps(event, separators=(",", ":")) + "\n"
        with self._lock:
            self.total += 1
            self._counts[(event["service"], event["operation"], effect, event["rule"])] += 1
            if len(self._events) < self._keep:
                self._events.append(event)
            if self._file is not None:
                self._file.write(line)
                self._file.flush()
        return event

    def record_fault(self, fault: Any, info: Any, *, cell: str = "", source: str = "proxy") -> dict:
        """Record a `rules.Fault` injected into the request described by `protocol.RequestInfo`."""
        terminal = fault.effect in ("throttle", "error")
        return self.record(service=info.service, operation=info.operation, region=info.region,
                           effect=fault.effect, rule=fault.rule.name, cell=cell, source=source,
                           mutating=info.mutating, code=fault.code if terminal else None,
                           status=fault.status if terminal else None,
                           latency_ms=fault.latency_ms if fault.effect == "latency" else None,
                           when=fault.when if fault.effect == "reset" else None)

    def events(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._events)

    def counts(self, by: Sequence[str] = ("service", "effect")) -> dict[tuple, int]:
        """Fault counts grouped by any of service, operation, effect, rule."""
        index = {"service": 0, "operation": 1, "effect": 2, "rule": 3}
        unknown = [k for k in by if k not in index]
        if unknown:
            raise ValueError(f"cannot group by {unknown}; allowed: {', '.join(index)}")
        out: Counter[tuple] = Counter()
        with self._lock:
            for key, n in self._counts.items():
                out[tuple(key[index[k]] for k in by)] += n
        return dict(out)

    def summary(self) -> dict[str, Any]:
        """{"total", "by_service", "by_effect", "by_rule", "by_operation"} for reports and expectations."""
        with self._lock:
            return _summary_from_counts(self.total, self._counts)

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def __enter__(self) -> FaultLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _summary_from_counts(total: int, counts: Counter) -> dict[str, Any]:
    by: dict[str, Counter] = {"by_service": Counter(), "by_effect": Counter(), "by_rule": Counter(),
                              "by_operation": Counter()}
    for (service, operation, effect, rule), n in counts.items():
        by["by_service"][service] += n
        by["by_effect"][effect] += n
        by["by_rule"][rule] += n
        by["by_operation"][f"{service}:{operation}"] += n
    return {"total": total, **{k: dict(v) for k, v in by.items()}}


def read_fault_log(path: str | Path) -> list[dict[str, Any]]:
    """The events of a fault log file (a missing file is an empty log; a torn last line is skipped)."""
    p = Path(path)
    if not p.exists():
        return []
    events = []
    for line in p.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return events


def count_faults(events: Iterable[dict[str, Any]] | str | Path, *, cell: str | None = None) -> dict[str, Any]:
    """Summary of events (or of a fault log file), optionally of one cell: same shape as FaultLog.summary()."""
    if isinstance(events, str | Path):
        events = read_fault_log(events)
    counts: Counter = Counter()
    total = 0
    for e in events:
        if cell is not None and e.get("cell") != cell:
            continue
        total += 1
        counts[(e.get("service", ""), e.get("operation", ""), e.get("effect", ""), e.get("rule", ""))] += 1
    return _summary_from_counts(total, counts)
