"""The moto server killed in the middle of an apply and started again empty: the cell fails naming
the unreachable emulator, the state stays true, the missing state bucket is reported, a re-run
re-creates the drift and converges, and nothing is left behind."""

from __future__ import annotations

from harness import restart
from reliability_counts import RESTARTS, SEED


def test_emulator_restart_mid_apply(rel_ws, figures):
    assert RESTARTS >= 1
    section = restart.run_battery(rel_ws, RESTARTS, SEED)
    figures["restart"] = section
    for r in section["records"]:
        assert r["point_reached"] and r["exit"] == 1, r
        assert r["failure_named"], r["error"]
        assert r["state"]["readable"] and r["state"].get("version", 4) == 4
        assert r["state"]["unproven"] == [], "the state claims only what was created"
        assert r["missing_bucket_reported"], r
        assert r["reconverged"] and r["rerun_changes"]["create"] == 33, r
        assert r["drift_ok"], (r["drift_recreated"], r["state"]["resources"])
        assert r["leaks"] == []
    assert section["restarts_survived"] == section["restarts"]
    assert restart.problems(section) == []
