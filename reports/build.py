"""One call that turns a build folder into every report: what `python -m matrix report` and the
runner's last step do.

`build_report()`:
1. (optionally) merges shard folders into the build (merge.py);
2. writes one Allure test per cell from build/cells/*/result.json (allure_cells.py), next to the
   allure-pytest results the suites already wrote into build/allure-results;
3. writes environment.properties (unless the runner already wrote this run's), executor.json and
   categories.json into the results folder (environment.py, executor.py, categories.py);
4. writes the matrix grid: build/grid/index.html, build/grid/summary.md, build/junit.xml, and
   appends the Markdown to $GITHUB_STEP_SUMMARY when set (grid*.py, summary_md.py, junit.py);
5. generates the Allure 3 HTML into build/allure-report with the history file (html.py), the
   quality gates in its Quality Gates tab (allurerc.py), and checks the report shows them as computed;
6. scrubs secret values from everything it wrote.

The quality gates (matrix/gates.py) are the run's own `GateReport` when the runner passes it; else
(`python -m matrix report`) the same `evaluate()` over the cells at hand with the limits the run
recorded in build/gates.json (after `--merge`, or when the cells come from several runs, over the union
of the shards, with min_cells applied).

It returns a `ReportOutcome` whose `lines()` say where everything is and how to open it. Nothing
here raises because a cell failed; a missing Node.js only makes `outcome.html.ok` False.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from matrix import gates as G
from matrix.gates import GateReport
from matrix.paths import allure_report_dir, allure_results_dir, build_dir
from matrix.results import CellResult
from reports import history as H
from reports.allure_cells import load_cells, write_cell_results
from reports.categories import allure2_categories
from reports.environment import FILENAME as ENV_FILE
from reports.environment import collect_environment, read_environment, write_environment
from reports.executor import CiInfo, detect_ci, write_executor
from reports.files import scrub_secrets, write_json, write_text
from reports.grid import Grid, build_grid
from reports.grid_html import write_grid_html
from reports.html import HtmlResult, generate_html
from reports.junit import write_junit
from reports.merge import MergeStats, merge
from reports.summary_md import render as render_markdown
from reports.summary_md import write_step_summary


def grid_dir() -> Path:
    return build_dir() / "grid"


def junit_path() -> Path:
    return build_dir() / "junit.xml"


@dataclass
class ReportOutcome:
    cells: list[CellResult]
    grid: Grid
    results_dir: Path
    grid_html: Path
    grid_markdown: Path
    junit: Path
    html: HtmlResult | None
    ci: CiInfo
    name: str
    run_id: str
    merged: MergeStats | None = None
    step_summary: Path | None = None
    messages: list[str] = field(default_factory=list)
    gates: GateReport | None = None
    gates_shown: bool = False  # the caller printed the gates already (the run's summary)

    @property
    def ok(self) -> bool:
        return self.html is None or self.html.ok

    def lines(self) -> list[str]:
        out = [self.ci.describe()]
        if self.merged:
            out.append(self.merged.line())
        out.append(f"{self.grid.summary()}")
        out.append(f"Allure results: {self.results_dir}")
        if self.html is not None:
            out.append(self.html.message)
            if self.html.ok:
                out.append(f"  how to open: {self.html.how_to_open()}")
                out.append(f"  history: {self.html.history} ({len(H.read_entries(self.html.history))} run(s))")
        out.append(f"matrix grid: {self.grid_html} (Markdown {self.grid_markdown}, JUnit {self.junit})")
        if self.gates is not None and not self.gates_shown:
            out += self.gates.lines()
        if self.step_summary:
            out.append(f"job summary appended to {self.step_summary}")
        return out + self.messages


def report_name(cells: Sequence[CellResult], env: Mapping[str, str] | None = None) -> tuple[str, str]:
    """("stackmatrix <profile> run <run-id>", run id): names the profile and run."""
    env = env or {}
    runs = Counter(c.run_id for c in cells if c.run_id)
    run_id = (runs.most_common(1)[0][0] if runs else "") or env.get("run.id") or "local"
    profiles = sorted({c.profile for c in cells if c.profile}) or [env.get("profile", "")]
    profile = ",".join(p for p in profiles if p) or "adhoc"
    return f"stackmatrix {profile} run {run_id}", run_id


def run_info_from_cells(cells: Sequence[CellResult]) -> dict[str, Any]:
    """What the environment says about the run when the runner did not write it."""
    def joined(values: set[str]) -> str:
        return ",".join(sorted(v for v in values if v))

    return {"run_id": joined({c.run_id for c in cells}), "profile": joined({c.profile for c in cells}),
            "target": joined({c.target for c in cells}), "engine": joined({c.engine for c in cells}),
            "cells": str(len(cells))}


def write_run_metadata(run: Mapping[str, Any] | None = None, results_dir: Path | None = None,
                       ci: CiInfo | None = None) -> dict[str, str]:
    """Environment, executor and categories for the run, written once into the results folder
    (the runner calls this when a run starts; `build_report` does it when nobody did)."""
    out = Path(results_dir or allure_results_dir())
    out.mkdir(parents=True, exist_ok=True)
    env = collect_environment(run)
    write_environment(out, env)
    name = f"stackmatrix {env.get('profile', 'adhoc')} run {env.get('run.id', 'local')}"
    write_executor(out, ci or detect_ci(), report_name=name)
    write_json(out / "categories.json", allure2_categories())
    return env


def report_gates(cells: Sequence[CellResult], merged: bool) -> GateReport | None:
    """The gates over `cells` with the limits the run recorded (None when no run recorded any)."""
    recorded = G.recorded()
    if recorded is None:
        return None
    return G.evaluate(cells, recorded["limits"], "" if merged else str(recorded.get("narrowed") or ""))


def gate_disagreements(gates: GateReport, shown: Sequence[Mapping[str, Any]]) -> list[str]:
    """Where the Allure report's Quality Gates tab does not say what stackmatrix computed."""
    by_rule = {str(r.get("rule")): r for r in shown}
    out = []
    for g in gates.results:
        r = by_rule.get(g.key)
        if r is None:
            out.append(f"the Allure report does not show quality gate {g.key}")
        elif bool(r.get("success")) != (g.ok is not False):
            out.append(f"the Allure report shows quality gate {g.key} as {'met' if r.get('success') else 'missed'}"
                       f" ({r.get('message')}), stackmatrix computed {g.line()}")
    return out


def build_report(*, run: Mapping[str, Any] | None = None, merge_dirs: Sequence[Path] = (),
                 history: Path | None = None, single_file: bool = False, html: bool = True,
                 output: Path | None = None, environ: Mapping[str, str] | None = None,
                 gates: GateReport | None = None) -> ReportOutcome:
    """Build every report of the current build folder (see the module docstring)."""
    environ = os.environ if environ is None else environ
    build = build_dir()
    hist = Path(history) if history else H.default_history_path()
    merged = merge(merge_dirs, build, history=hist) if merge_dirs else None
    results_dir = allure_results_dir()
    results_dir.mkdir(parents=True, exist_ok=True)

    pairs = load_cells()
    cells = [c for c, _ in pairs]
    write_cell_results(pairs, results_dir, prune=True)

    env = read_environment(results_dir)
    from_cells = run_info_from_cells(cells)
    stale = bool(cells) and env.get("run.id") != from_cells["run_id"]  # left by an earlier run
    if run or stale or not (results_dir / ENV_FILE).is_file():
        env = collect_environment({**from_cells, **(run or {})})
        write_environment(results_dir, env)
    name, run_id = report_name(cells, env)
    ci = detect_ci(environ)
    write_executor(results_dir, ci, report_name=name)
    write_json(results_dir / "categories.json", allure2_categories())

    report_dir = Path(output) if output else allure_report_dir()
    given = gates is not None
    several_runs = len({c.run_id for c in cells if c.run_id}) > 1  # shards copied into one build (GitLab)
    gates = gates if given else report_gates(cells, merged is not None or several_runs)
    grid = build_grid(cells)
    gdir = grid_dir()
    grid_html = write_grid_html(grid, gdir / "index.html", name, report_dir=report_dir)
    markdown = render_markdown(grid, name, gates=gates)
    grid_md = gdir / "summary.md"
    write_text(grid_md, markdown)
    junit = write_junit(grid, junit_path(), name)
    step_summary = write_step_summary(markdown, dict(environ))

    html_result = None
    if html:
        html_result = generate_html([results_dir], name=name, output=report_dir, history=hist,
                                    single_file=single_file, gates=gates)
    for path in (results_dir, gdir, junit, hist):
        scrub_secrets(path)
    messages = []
    if gates is not None and html_result is not None and html_result.ok:
        messages = [f"warning: {m}" for m in gate_disagreements(gates, html_result.quality_gate)]
    return ReportOutcome(cells, grid, results_dir, grid_html, grid_md, junit, html_result, ci, name, run_id,
                         merged, step_summary, messages, gates, given)

