"""The matrix at a glance: one row per cell, laid out region x suffix x scenario.

`build_grid(results)` turns CellResults into `GridRow`s (status, duration, API retries and
throttles, the step and cause of a failure, its category, the id of the cell's test in the Allure
report) and knows the axes; `grid_html.py`, `summary_md.py` and `junit.py` render it. Rows come
from the cells' result.json files only, so the grid exists even when the HTML report could not be
generated.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from matrix.results import CellResult, now_ms
from reports.allure_cells import result_uuid
from reports.counters import totals as counter_totals
from reports.labels import NO_FAULT, report_test_id
from reports.outcome import cause, cell_category, cell_message

STATUS_ORDER = ("failed", "broken", "skipped", "passed")
ICONS = {"passed": "✅", "failed": "❌", "broken": "💥", "skipped": "⏭️"}


@dataclass(frozen=True)
class GridRow:
    cell: str
    region: str
    suffix: str
    scenario: str
    target: str
    engine: str
    status: str
    seconds: float
    retries: int
    throttles: int
    calls: int
    step: str
    message: str
    category: str
    expectation: str
    report_id: str  # the Allure report's id of the cell's test: index.html#/<report_id>
    run_id: str
    leaks: tuple[str, ...] = ()


@dataclass
class Grid:
    rows: list[GridRow]
    regions: list[str] = field(default_factory=list)
    suffixes: list[str] = field(default_factory=list)
    scenarios: list[str] = field(default_factory=list)

    def at(self, region: str, suffix: str, scenario: str) -> GridRow | None:
        for r in self.rows:
            if (r.region, r.suffix, r.scenario) == (region, suffix, scenario):
                return r
        return None

    @property
    def counts(self) -> Counter:
        return Counter(r.status for r in self.rows)

    @property
    def ok(self) -> bool:
        return all(r.status in ("passed", "skipped") for r in self.rows)

    @property
    def run_ids(self) -> list[str]:
        return sorted({r.run_id for r in self.rows})

    def summary(self) -> str:
        c = self.counts
        parts = [f"{c[s]} {s}" for s in STATUS_ORDER if c[s]]
        return f"{len(self.rows)} cell(s): " + (", ".join(parts) or "none")


def _order(values: list[str], first: str | None = None) -> list[str]:
    seen = list(dict.fromkeys(values))
    if first in seen:
        seen.remove(first)
        return [first, *sorted(seen)]
    return sorted(seen)


def row(result: CellResult) -> GridRow:
    totals = counter_totals(result.counters)
    step, _ = cause(result)
    category = cell_category(result)
    exp = result.expectation or {}
    expectation = ""
    if exp.get("kind"):
        expectation = f"{exp['kind']} {'met' if exp.get('met') else 'not met'}"
    message = cell_message(result) if result.status in ("failed", "broken") else ""
    return GridRow(
        cell=result.cell, region=result.region, suffix=result.suffix, scenario=result.fault or NO_FAULT,
        target=result.target, engine=result.engine, status=result.status,
        seconds=((result.stopped or now_ms()) - result.started) / 1000,
        retries=totals["retries"], throttles=totals["throttles"], calls=totals["calls"],
        step=step if result.status in ("failed", "broken") else "", message=message,
        category=category.name if category else "", expectation=expectation,
        report_id=report_test_id(result_uuid(result.run_id, result.cell)), run_id=result.run_id,
        leaks=tuple(result.leaks),
    )


def build_grid(results: list[CellResult]) -> Grid:
    rows = sorted((row(r) for r in results), key=lambda r: (r.region, r.suffix, r.scenario))
    return Grid(
        rows=rows,
        regions=_order([r.region for r in rows]),
        suffixes=_order([r.suffix for r in rows]),
        scenarios=_order([r.scenario for r in rows], first=NO_FAULT),
    )
