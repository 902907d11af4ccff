"""API call counters of a cell, read in either shape the runner may write.

The runner's counting client (matrix/clients.py) writes metric-major counters:
``{"calls": {"ec2": 124}, "retries": {...}, "throttles": {...}, "mutating": {...},
"operations": {"ec2:CreateVpc": 1}, "errors": {"ec2:InvalidVpcID.NotFound": 1}}``; the contract's
comment also allows service-major ``{"ec2": {"calls": 124, "retries": 0, "throttles": 0}}``.
`by_service()` turns both into service-major rows, `totals()` sums them, `summary()` says it in
one line.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

METRICS = ("calls", "retries", "throttles", "mutating", "errors")
KEYED_BY_OPERATION = ("operations", "errors")
KNOWN_TOP = {*METRICS, "operations"}


def is_metric_major(counters: Mapping[str, Any]) -> bool:
    return bool(counters) and any(k in KNOWN_TOP for k in counters)


def by_service(counters: Mapping[str, Any] | None) -> dict[str, dict[str, int]]:
    """{service: {calls, retries, throttles, mutating, errors}} from either shape."""
    out: dict[str, dict[str, int]] = {}
    if not counters:
        return out
    if is_metric_major(counters):
        for metric, values in counters.items():
            if metric not in METRICS or not isinstance(values, Mapping):
                continue
            for key, n in values.items():
                service = str(key).split(":", 1)[0] if metric in KEYED_BY_OPERATION else str(key)
                row = out.setdefault(service, {})
                row[metric] = row.get(metric, 0) + _int(n)
    else:
        for service, values in counters.items():
            if isinstance(values, Mapping):
                out[str(service)] = {m: _int(values.get(m, 0)) for m in METRICS if m in values}
    for row in out.values():
        for m in ("calls", "retries", "throttles"):
            row.setdefault(m, 0)
    return dict(sorted(out.items()))


def operations(counters: Mapping[str, Any] | None) -> dict[str, int]:
    """{"ec2:CreateVpc": n} when the runner counted operations."""
    ops = (counters or {}).get("operations") if counters and is_metric_major(counters) else None
    return {str(k): _int(v) for k, v in sorted((ops or {}).items())}


def totals(counters: Mapping[str, Any] | None) -> dict[str, int]:
    rows = by_service(counters)
    return {m: sum(r.get(m, 0) for r in rows.values()) for m in ("calls", "retries", "throttles")}


def summary(counters: Mapping[str, Any] | None) -> str:
    t = totals(counters)
    return f"{t['calls']} calls, {t['retries']} retries, {t['throttles']} throttles"


def looks_like_counters(value: Any) -> bool:
    return isinstance(value, Mapping) and (is_metric_major(value) or any(
        isinstance(v, Mapping) and "calls" in v for v in value.values()))


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
