"""Kill trials: an apply SIGKILLed before, during and after every resource kind's create, and at
points spread over the resource count, then re-applied and destroyed; the stale-lock policy on real
locks; `python -m matrix run` itself killed and resumed from its deployment record."""

from __future__ import annotations

from collections import Counter

from harness import kill
from harness.census import KINDS
from reliability_counts import CLI_TRIALS, SEED, TRIALS


def test_schedule_covers_every_kind_in_every_phase_then_spreads_over_the_count():
    expected = Counter({k: 1 for k in KINDS})
    expected.update({"aws_subnet": 5, "aws_route_table_association": 5, "aws_route": 3, "aws_route_table": 3,
                     "aws_eip": 2, "aws_nat_gateway": 2})
    points = kill.schedule(45, SEED, expected)
    targeted = {(p.mode, p.kind) for p in points if p.mode != "count"}
    assert targeted == {(phase, kind) for phase in kill.PHASES for kind in KINDS}
    counts = sorted(p.nth for p in points if p.mode == "count")
    assert len(counts) >= 5 and counts[0] <= 6 and counts[-1] >= 27, counts
    assert all(1 <= p.nth <= expected[p.kind] for p in points if p.mode != "count")
    assert kill.schedule(45, SEED, expected) == points, "seeded: the same points every run"


def test_killed_applies_converge_without_loss_duplicates_or_leaks(rel_ws, figures):
    assert TRIALS >= 20, "CI runs at least 20 kill trials"
    section = kill.run_battery(rel_ws.sub("kill"), TRIALS, SEED, CLI_TRIALS, synth_from=rel_ws)
    figures["kill"] = section
    records = section["records"]
    assert section["kills"] == section["trials"] == TRIALS, [r["point"] for r in records if not r["killed"]]
    if 3 * len(KINDS) <= TRIALS:
        assert section["kinds_killed"] == len(KINDS)
        assert {r["phase"] for r in records} >= {"before", "during", "after", "count"}
    during = [r for r in records if r["phase"] == "during"]
    assert all(r["at_kill"]["orphans"] for r in during), "a 'during' kill leaves the resource it was creating"
    assert section["kills_in_crash_window"] >= len(during)
    assert section["adopted"] >= len([r for r in during if r["point"].split()[1] not in
                                      ("aws_route", "aws_iam_role_policy")])
    assert section["converged"] == TRIALS, [(r["point"], r.get("error"), r.get("missing"), r.get("duplicates"))
                                            for r in records if not r.get("converged")]
    assert section["duplicates_found"] == 0
    assert section["state_lost"] == 0
    assert section["phantoms"] == 0
    assert section["leaks_found"] == 0
    assert section["kills_holding_lock"] >= TRIALS - 3  # only a kill before the lock was taken leaves none
    assert section["stale_locks_reported"] == section["kills_holding_lock"]
    assert section["stale_locks_cleared"] == section["kills_holding_lock"]
    assert all(v["ok"] for v in section["lock_policy"].values()), section["lock_policy"]
    assert all(r.get("ok") for r in section["cli_records"]), section["cli_records"]
    assert kill.problems(section) == []
