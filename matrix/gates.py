"""Quality gates: what a run must achieve as a whole, on top of every cell meeting its expectation.

A profile file declares them under `[defaults.gates]` and `[profiles.P.gates]` (the profile's keys
win); `max_leaks` is 0 unless a file says otherwise:

    max_failed_cells      cells that did not meet their expectation (failed, broken, skipped)
    min_success_rate      cells that met their expectation / all cells, a fraction 0..1
    max_retries_per_cell  API retries of one cell, counted only in cells without an injected fault
    max_cell_seconds      wall time of one cell
    max_leaks             resources left behind after teardown, all cells together
    min_cells             cells that reached a verdict (passed, failed or broken)

A cell that met its declared expectation counts as a success: a fail-cleanly scenario that failed
cleanly is `passed` in its result (matrix/results.py).

Parts, in the order data flows:
* `GATES` / `check_table()`  the keys, their types and ranges; a bad key or value is a UsageError
                             naming the file, the table, the key and what is allowed (cells.py calls it
                             while it validates the profile file);
* `limits_for()`             the limits in force for a profile (defaults, then the profile);
* `evaluate()`               THE computation: the run's CellResults + the limits -> `GateReport`;
* `GateReport`               one `GateResult` per declared gate (measured value next to the limit, the
                             cells responsible), `lines()`, and build/gates.json (`save()`/`load()`).

Its consumers read the report and never recompute a gate their own way: the run's exit code
(matrix/__main__.py), the Quality Gates tab of the Allure 3 report (reports/allurerc.py) and the
Markdown summary (reports/summary_md.py). `python -m matrix report` re-evaluates the same function on
the cells it holds (after `--merge`, the union of the shards) with the limits the run recorded.

A run narrowed on the command line (`--shard`, `--region`, `--suffix`, `--fault`) holds a slice of the
profile on purpose: `min_cells` is then reported as not applied, naming why, and is checked where the
slices come together (`python -m matrix report --merge`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from matrix.errors import UsageError
from matrix.paths import build_dir
from matrix.results import CellResult, Status, now_ms
from reports.counters import totals

FILENAME = "gates.json"
SUCCESS = ("passed",)
VERDICTS = ("passed", "failed", "broken")


@dataclass(frozen=True)
class Gate:
    key: str
    kind: type  # int or float
    minimum: float
    maximum: float | None
    upper: bool  # True: the measured value must be <= the limit; False: >= the limit
    measures: str
    example: str

    def allowed(self) -> str:
        what = "an integer" if self.kind is int else "a number"
        top = f" to {self.maximum:g}" if self.maximum is not None else " or more"
        return f"{what} from {self.minimum:g}{top} (e.g. {self.key} = {self.example})"

    def check(self, value: Any, where: str) -> float:
        ok_type = isinstance(value, int | float) and not isinstance(value, bool)
        if self.kind is int:
            ok_type = ok_type and float(value).is_integer()
        if not ok_type or (isinstance(value, float) and not math.isfinite(value)):
            raise UsageError(f"{where}.{self.key} = {value!r}: must be {self.allowed()}")
        if value < self.minimum or (self.maximum is not None and value > self.maximum):
            hint = " (a fraction: 0.95 means 95%)" if self.key == "min_success_rate" and value > 1 else ""
            raise UsageError(f"{where}.{self.key} = {value!r}: must be {self.allowed()}{hint}")
        return int(value) if self.kind is int else float(value)


GATES: dict[str, Gate] = {g.key: g for g in (
    Gate("max_failed_cells", int, 0, None, True, "cells that did not meet their expectation", "0"),
    Gate("min_success_rate", float, 0, 1, False, "share of cells that met their expectation", "0.95"),
    Gate("max_retries_per_cell", int, 0, None, True, "API retries in one cell without an injected fault", "3"),
    Gate("max_cell_seconds", float, 0, None, True, "seconds one cell took", "600"),
    Gate("max_leaks", int, 0, None, True, "resources left behind after teardown", "0"),
    Gate("min_cells", int, 1, None, False, "cells that reached a verdict", "12"),
)}
#: Gates in force when no file says otherwise.
BUILTIN = {"max_leaks": 0}


def check_table(table: Any, where: str) -> dict[str, float]:
    """Validate one `gates` table (`where` names the file and table); returns its limits."""
    if not isinstance(table, dict):
        raise UsageError(f"{where}: must be a table of gate = limit; allowed keys: {', '.join(GATES)}")
    out: dict[str, float] = {}
    for key, value in table.items():
        gate = GATES.get(key)
        if gate is None:
            raise UsageError(f"{where}: unknown gate {key!r}; allowed: {', '.join(GATES)}")
        out[key] = gate.check(value, where)
    return out


def limits_for(data: Mapping[str, Any], profile: str) -> dict[str, float]:
    """The limits of `profile` in a loaded (already validated) profile file: built-in, defaults, profile."""
    defaults = (data.get("defaults") or {}).get("gates") or {}
    own = ((data.get("profiles") or {}).get(profile) or {}).get("gates") or {}
    return {**BUILTIN, **defaults, **own}


@dataclass
class GateResult:
    key: str
    limit: float
    measured: float | None
    ok: bool | None  # None: not applied (the reason is in `detail`)
    measures: str
    detail: str = ""
    cells: list[str] = field(default_factory=list)  # the cells that make the gate miss or count against it

    @property
    def comparison(self) -> str:
        return "<=" if GATES[self.key].upper else ">="

    def line(self) -> str:
        limit = fmt_value(self.key, self.limit)
        if self.ok is None:
            return f"gate {self.key} ({self.comparison} {limit}): not applied: {self.detail}"
        state = "met" if self.ok else "MISSED"
        who = f"; cells: {', '.join(self.cells[:8])}{' ...' if len(self.cells) > 8 else ''}" if self.cells else ""
        detail = f", {self.detail}" if self.detail else ""
        return (f"gate {self.key} {state}: measured {fmt_value(self.key, self.measured)} ({self.measures}{detail}), "
                f"limit {self.comparison} {limit}{who}")


@dataclass
class GateReport:
    results: list[GateResult]
    cells: int
    run_ids: list[str] = field(default_factory=list)
    narrowed: str = ""
    evaluated_at: int = field(default_factory=now_ms)

    @property
    def ok(self) -> bool:
        return all(r.ok is not False for r in self.results)

    @property
    def missed(self) -> list[GateResult]:
        return [r for r in self.results if r.ok is False]

    def limits(self) -> dict[str, float]:
        return {r.key: r.limit for r in self.results}

    def lines(self) -> list[str]:
        if not self.results:
            return ["quality gates: none declared"]
        head = ("quality gates: all met" if self.ok else
                f"quality gates: {len(self.missed)} missed ({', '.join(r.key for r in self.missed)})")
        return [head, *(f"  {r.line()}" for r in self.results)]

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "cells": self.cells, "run_ids": self.run_ids, "narrowed": self.narrowed,
                "evaluated_at": self.evaluated_at, "limits": self.limits(),
                "results": [asdict(r) for r in self.results]}

    def save(self, path: Path | None = None) -> Path:
        target = Path(path or build_dir() / FILENAME)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True))
        return target


def recorded(path: Path | None = None) -> dict[str, Any] | None:
    """What a run wrote to build/gates.json (its limits and whether it was narrowed), None without one."""
    target = Path(path or build_dir() / FILENAME)
    try:
        data = json.loads(target.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("limits"), dict):
        return None
    return data


def fmt_value(key: str, value: float | None) -> str:
    if value is None:
        return "n/a"
    if key == "min_success_rate":
        return f"{value:.2f}".rstrip("0").rstrip(".") if value not in (0, 1) else str(int(value))
    if key == "max_cell_seconds":
        return f"{value:.1f} s"
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _seconds(result: CellResult) -> float:
    return round(((result.stopped or now_ms()) - result.started) / 1000, 3)


def _retries(result: CellResult) -> int:
    return totals(result.counters)["retries"]


def _leaks_unchecked(cell: CellResult) -> bool:
    """Torn down (a destroy step ran) without a leak check that completed: its leaks are unknown.

    A check completed when it passed, or failed naming the leftovers it found (those count as leaks)."""
    names = {step.name: step.status for step in cell.steps}
    if "destroy" not in names:
        return False
    check = names.get("leak check")
    return not (check == Status.PASSED or (check == Status.FAILED and cell.leaks))


def evaluate(cells: Sequence[CellResult], limits: Mapping[str, float], narrowed: str = "") -> GateReport:
    """Every declared gate over the cells of a run (or of merged runs)."""
    total = len(cells)
    failed = [c.cell for c in cells if c.status not in SUCCESS]
    results: list[GateResult] = []
    for key in GATES:  # a fixed order, whatever order the file used
        if key not in limits:
            continue
        limit = float(limits[key])
        gate = GATES[key]
        detail = ""
        blame: list[str] = []
        if key == "max_failed_cells":
            measured: float = len(failed)
            blame = failed
        elif key == "min_success_rate":
            measured = round((total - len(failed)) / total, 4) if total else 0.0
            blame = failed
            detail = f"{total - len(failed)} of {total} cell(s)"
        elif key == "max_retries_per_cell":
            clean = [(c.cell, _retries(c)) for c in cells if not c.fault]
            measured = max((n for _, n in clean), default=0)
            blame = [f"{cell}: {n}" for cell, n in clean if n > limit]
            detail = f"{len(clean)} such cell(s)"
        elif key == "max_cell_seconds":
            times = [(c.cell, _seconds(c)) for c in cells]
            measured = max((s for _, s in times), default=0.0)
            blame = [f"{cell}: {s:.1f} s" for cell, s in times if s > limit]
        elif key == "max_leaks":
            measured = sum(len(c.leaks) for c in cells)
            blame = [f"{c.cell}: {len(c.leaks)}" for c in cells if c.leaks]
            unchecked = [c.cell for c in cells if _leaks_unchecked(c)]
            if unchecked:  # a leak check that did not complete counts nothing: never "measured 0, met"
                blame += [f"{cell}: not checked" for cell in unchecked]
                detail = f"the leak check did not complete in {len(unchecked)} torn-down cell(s)"
                results.append(GateResult(key, limit, measured, False, gate.measures, detail, blame))
                continue
        else:  # min_cells
            verdicts = [c.cell for c in cells if c.status in VERDICTS]
            measured = len(verdicts)
            blame = [c.cell for c in cells if c.status not in VERDICTS]
            if narrowed:
                results.append(GateResult(key, limit, measured, None, gate.measures,
                                          f"this run is a slice of the profile ({narrowed}); the merged report "
                                          "checks it (python -m matrix report --merge ...)"))
                continue
        ok = measured <= limit if gate.upper else measured >= limit
        results.append(GateResult(key, limit, measured, ok, gate.measures, detail, blame))
    return GateReport(results, total, sorted({c.run_id for c in cells if c.run_id}), narrowed)


def narrowing(shard: str | None = None, regions: Iterable[str] | None = None, suffixes: Iterable[str] | None = None,
              faults: Iterable[str] | None = None) -> str:
    """How the command line narrowed a profile, in its own words ("" when it ran the whole profile)."""
    parts = [f"--shard {shard}"] if shard else []
    for flag, values in (("--region", regions), ("--suffix", suffixes), ("--fault", faults)):
        parts += [f"{flag} {v}" for v in values or ()]
    return " ".join(parts)
