"""Quality gates in the reports: one computation (matrix/gates.py) shown in Allure 3's Quality Gates tab,
in build/grid/summary.md, and re-evaluated by `python -m matrix report` (also over merged shards)."""

from __future__ import annotations

import json
from pathlib import Path

from reports_helpers import CELLS

from matrix import gates as G
from matrix.results import load_results
from reports.build import build_report
from reports.cli import add_report_parser, cmd_report

LIMITS = {"max_failed_cells": 0, "min_success_rate": 0.5, "max_retries_per_cell": 5, "max_leaks": 0,
          "min_cells": 6}


def quality_gate_widget(report: Path) -> dict:
    """What the awesome report's Quality Gates tab renders: widgets/quality-gate.json."""
    path = report / "widgets" / "quality-gate.json"
    assert path.is_file(), sorted(str(p.relative_to(report)) for p in report.rglob("*.json"))[:40]
    return json.loads(path.read_text())


def test_gates_over_the_example_cells(build: Path, make_cells):
    make_cells("run-1")
    report = G.evaluate(load_results(), LIMITS)
    by = {r.key: r for r in report.results}
    failed = sorted(c for c, *_, status, _ in CELLS if status != "passed")
    assert by["max_failed_cells"].ok is False and by["max_failed_cells"].measured == 4
    assert sorted(by["max_failed_cells"].cells) == failed
    assert by["min_success_rate"].measured == round(2 / 6, 4) and by["min_success_rate"].ok is False
    # the fail-cleanly throttle cell met its expectation: a success; its retries do not count
    assert "us-east-1-dev-throttle" not in by["max_failed_cells"].cells
    assert by["max_retries_per_cell"].measured == 3 and by["max_retries_per_cell"].ok is True
    assert by["max_leaks"].measured == 2 and by["max_leaks"].cells == ["eu-west-1-dev-throttle: 2"]
    assert by["min_cells"].ok is True and by["min_cells"].measured == 6
    assert not report.ok and [r.key for r in report.missed] == ["max_failed_cells", "min_success_rate", "max_leaks"]
    line = by["max_leaks"].line()
    assert "MISSED" in line and "measured 2" in line and "limit <= 0" in line


def test_report_shows_the_gates_in_allure_and_markdown(build: Path, make_cells, allure_cli):
    make_cells("run-1")
    gates = G.evaluate(load_results(), LIMITS)
    outcome = build_report(run={"profile": "dev", "run_id": "run-1"}, gates=gates)
    assert outcome.html.ok, outcome.html.message
    # Allure evaluated the config's rules: what it reports is what stackmatrix computed
    shown = {r["rule"]: r for r in outcome.html.quality_gate}
    assert set(shown) == set(LIMITS)
    for r in gates.results:
        assert shown[r.key]["success"] is (r.ok is not False), (r.key, shown[r.key])
        assert shown[r.key]["expected"] == r.limit
    assert not [m for m in outcome.messages if "quality gate" in m], outcome.messages
    # ... and wrote it where the Quality Gates tab reads it, with the cells behind each miss linked
    widget = quality_gate_widget(outcome.html.output)
    results = [r for env in widget.values() for r in env]
    leaks = next(r for r in results if r["rule"] == "max_leaks")
    assert leaks["success"] is False and "measured 2" in leaks["message"]
    assert len(leaks["testResults"]) == 1  # the deployment test of eu-west-1-dev-throttle
    summary = (build / "grid" / "summary.md").read_text()
    assert "**Quality gates: 3 missed**" in summary
    assert "| `max_leaks` | <= 0 | 2 (resources left behind after teardown) | ❌ missed | eu-west-1-dev-throttle: 2 |" \
        in summary
    assert "| `min_cells` | >= 6 |" in summary and "✅ met" in summary


def test_the_gate_rules_refuse_a_report_that_holds_other_cells(build: Path, make_cells, allure_cli):
    make_cells("run-1")
    gates = G.evaluate(load_results()[:3], LIMITS)  # computed over 3 cells, the report holds 6
    outcome = build_report(run={"profile": "dev", "run_id": "run-1"}, gates=gates)
    shown = outcome.html.quality_gate
    assert shown and all(r["success"] is False for r in shown)
    assert "the report holds 6 cell(s) but the gates were computed over 3" in shown[0]["message"]
    met = [r.key for r in gates.results if r.ok]
    assert met, "some gate was met over those 3 cells"
    for key in met:  # the run says so plainly when the report does not show what was computed
        assert any(f"the Allure report shows quality gate {key} as missed" in m for m in outcome.messages), \
            outcome.messages


def test_report_command_re_evaluates_recorded_gates_and_exits_1(build: Path, make_cells, allure_cli, capsys):
    import argparse

    make_cells("run-1")
    G.evaluate(load_results(), LIMITS, narrowed="--shard 1/2").save()
    parser = argparse.ArgumentParser()
    add_report_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["report"])
    lines: list[str] = []
    assert cmd_report(args, out=lines.append) == 1
    assert "failed: quality gate(s) missed: max_failed_cells, min_success_rate, max_leaks" in capsys.readouterr().err
    text = "\n".join(lines)
    assert "gate min_cells (>= 6): not applied: this run is a slice of the profile (--shard 1/2)" in text
    # with every gate met the command succeeds
    G.evaluate(load_results(), {"max_retries_per_cell": 3}).save()
    assert cmd_report(args, out=lines.append) == 0


def test_merged_shards_evaluate_min_cells(tmp_path: Path, build: Path, make_cells, allure_cli):
    from reports_helpers import use_build

    shards = []
    for n, only in enumerate((["us-east-1-dev"], ["us-east-1-dev-throttle"]), 1):
        shard = tmp_path / f"shard{n}"
        with use_build(shard):
            cells = make_cells(f"run-{n}", only=only)
            G.evaluate(cells, {"min_cells": 2}, narrowed=f"--shard {n}/2").save()
        shards.append(shard)
    outcome = build_report(merge_dirs=shards)
    assert outcome.gates is not None and outcome.gates.ok
    assert [(r.key, r.measured, r.ok) for r in outcome.gates.results] == [("min_cells", 2, True)]
    assert (build / "gates.json").is_file()
