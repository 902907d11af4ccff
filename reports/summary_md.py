"""The matrix grid as Markdown: the CI job summary ($GITHUB_STEP_SUMMARY) and build/grid/summary.md.

GitHub renders the step summary file as Markdown on the run's page; the file is shared by every
step of a job, so we append to it, never overwrite. The run's quality gates (matrix/gates.py) come
first, as a table with each limit next to the measured value.
"""

from __future__ import annotations

import os
from pathlib import Path

from matrix.gates import GateReport, fmt_value
from reports.files import append_text
from reports.grid import ICONS, Grid, GridRow

STEP_SUMMARY_ENV = "GITHUB_STEP_SUMMARY"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").strip()


def _square(row: GridRow | None) -> str:
    if row is None:
        return "—"
    text = f"{ICONS.get(row.status, '')} {row.status} {row.seconds:.1f}s"
    if row.calls or row.retries or row.throttles:
        text += f" · {row.retries}r/{row.throttles}t"
    if row.category:
        text += f" · {row.category}"
    return _md(text)


def gates_section(gates: GateReport) -> list[str]:
    """The quality gates as a table: limit, measured value, verdict and the cells behind a miss."""
    head = "all met" if gates.ok else f"{len(gates.missed)} missed"
    lines = [f"**Quality gates: {head}**", "", "| gate | limit | measured | verdict | cells |", "|---|---|---|---|---|"]
    for r in gates.results:
        verdict = "not applied" if r.ok is None else ("✅ met" if r.ok else "❌ missed")
        measured = "—" if r.measured is None else _md(f"{fmt_value(r.key, r.measured)} ({r.measures})")
        who = _md(r.detail) if r.ok is None else _md(", ".join(r.cells[:10]) + (" ..." if len(r.cells) > 10 else ""))
        limit = f"{r.comparison} {_md(fmt_value(r.key, r.limit))}"
        lines.append(f"| `{r.key}` | {limit} | {measured} | {verdict} | {who} |")
    return [*lines, ""]


def render(grid: Grid, title: str, report_url: str | None = None, gates: GateReport | None = None) -> str:
    lines = [f"### {_md(title)}", "", grid.summary() + (f" · [Allure report]({report_url})" if report_url else ""), ""]
    if gates is not None and gates.results:
        lines += gates_section(gates)
    lines.append("| region | suffix | " + " | ".join(_md(s) for s in grid.scenarios) + " |")
    lines.append("|---|---|" + "---|" * len(grid.scenarios))
    for region in grid.regions:
        for suffix in grid.suffixes:
            if not any(r.region == region and r.suffix == suffix for r in grid.rows):
                continue
            squares = " | ".join(_square(grid.at(region, suffix, s)) for s in grid.scenarios)
            lines.append(f"| {_md(region)} | {_md(suffix)} | {squares} |")
    failures = [r for r in grid.rows if r.status in ("failed", "broken")]
    if failures:
        lines += ["", "| failed cell | step | category | cause |", "|---|---|---|---|"]
        for r in failures:
            lines.append(f"| `{r.cell}` | {_md(r.step)} | {_md(r.category)} | {_md(r.message)[:300]} |")
    lines.append("")
    lines.append("_retries/throttles are API calls retried / throttled during the cell (r/t)._")
    return "\n".join(lines) + "\n"


def write_step_summary(markdown: str, environ: dict[str, str] | None = None) -> Path | None:
    """Append to $GITHUB_STEP_SUMMARY when it is set; returns the file written, or None."""
    target = (os.environ if environ is None else environ).get(STEP_SUMMARY_ENV)
    if not target:
        return None
    return append_text(Path(target), markdown + "\n")
