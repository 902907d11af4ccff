"""SIGINT (to the process group, as Ctrl-C) and SIGTERM (to the process, as a CI runner) during a
parallel matrix run (nightly subset, 4 cells, --jobs 2): everything deployed is destroyed, every
cell has its result, the report is built, the exit is non-zero, within a bounded time."""

from __future__ import annotations

from harness import signals
from reliability_counts import SEED, SIGNAL_RUNS

TEARDOWN_BOUND_S = 60.0  # from the signal to the last cell's teardown (measured: a few seconds on moto)
EXIT_BOUND_S = 120.0     # from the signal to the process exit, report included


def test_signal_points_cover_both_signals_and_every_phase():
    points = signals.plan(4, SEED)
    assert {p["signal"] for p in points} == {"SIGINT", "SIGTERM"}
    assert {p["event"] for p in points} == set(signals.EVENTS)


def test_interrupted_matrix_runs_tear_down_and_report(rel_ws, figures):
    assert SIGNAL_RUNS >= 2
    section = signals.run_battery(rel_ws, SIGNAL_RUNS, SEED, report_phase=False)
    figures["signals"] = section
    records = section["records"]
    assert all(r["point_reached"] for r in records)
    assert all(r["exit"] not in (0, None) for r in records), [r["exit"] for r in records]
    assert section["cells_deployed"] > 0, "the signals must land while cells are deployed"
    assert section["leaks_found"] == 0, [r["leaks"] for r in records]
    assert all(not r["records_left"] for r in records), [r["records_left"] for r in records]
    assert all(r["results_complete"] and r["allure_results"] and r["report_ok"] for r in records)
    assert all(r["interrupted_recorded"] for r in records)
    assert all(not r["group_left"] for r in records), "no process of the run outlives it"
    assert section["teardown_seconds"]["max"] < TEARDOWN_BOUND_S
    assert section["exit_seconds"]["max"] < EXIT_BOUND_S
    assert signals.problems(section) == []


def test_a_signal_while_the_report_is_built_still_leaves_the_report(rel_ws, figures):
    """Every cell is done and destroyed; a Ctrl-C or SIGTERM now must not cost the report."""
    late = [signals.signal_run(rel_ws, 100 + i, p) for i, p in enumerate(signals.report_phase_points(SEED))]
    if "signals" in figures:
        figures["signals"]["report_phase"] = late
        figures["signals"]["report_phase_reports"] = f"{sum(1 for r in late if r['report_ok'])}/{len(late)}"
    assert all(r["point_reached"] for r in late)
    assert all(r["leaks"] == [] and not r["records_left"] for r in late)
    assert all(r["report_ok"] for r in late), [(r["signal"], r["exit"], r["stderr_tail"][-3:]) for r in late]
    assert all(r["exit"] not in (0, None) for r in late), "an interrupted run never reports success"
