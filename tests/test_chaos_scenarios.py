"""The fault scenarios end to end on moto: each meets its declared expectation, a wrong expectation
fails the run naming it, and bad chaos input exits 2 before anything runs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from matrix.__main__ import main
from matrix.chaos import parse_rules
from matrix.chaos.scenarios import SCENARIOS

ROOT = Path(__file__).resolve().parent.parent


def matrix(build: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    env = dict(os.environ, STACKMATRIX_BUILD=str(build))
    return subprocess.run([sys.executable, "-m", "matrix", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_scenario_has_valid_rules_and_an_expectation(name):
    s = SCENARIOS[name]
    assert s.expectation in ("survive", "fail-cleanly", "survive-or-fail-cleanly")
    if s.rules:
        ruleset = parse_rules(list(s.rules), source=name)
        assert len(ruleset.rules) == len(s.rules)
    assert s.rules or s.phases[0].expect_error or s.after_tests, f"{name} breaks nothing"


@pytest.fixture(scope="module")
def scenario_run(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    build = tmp_path_factory.mktemp("chaos") / "build"
    faults = [arg for name in sorted(SCENARIOS) for arg in ("--fault", name)]
    out = matrix(build, "run", "--profile", "prerelease", "--region", "us-east-1", "--suffix", "qa", *faults,
                 "--bootstrap-backend", "--jobs", "4", "--no-report")
    return out, build


def _report(build: Path, name: str) -> dict:
    return json.loads((build / "cells" / f"us-east-1-qa-{name}" / "chaos.json").read_text())


def test_all_eight_scenarios_meet_their_expectation(scenario_run):
    out, build = scenario_run
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    for name in SCENARIOS:
        result = json.loads((build / "cells" / f"us-east-1-qa-{name}" / "result.json").read_text())
        assert result["status"] == "passed", (name, result["error"])
        assert result["expectation"]["met"] is True and result["expectation"]["scenario"] == name
        assert result["leaks"] == []


def test_the_longest_cells_start_first_and_results_keep_the_profile_order(scenario_run):
    """4 lanes, 8 cells: the four scenarios with the longest designed waits take the lanes at once, the
    other four wait for one; run.json still lists the cells in the order they were asked for."""
    build = scenario_run[1]

    def started(name: str) -> int:
        steps = json.loads((build / "cells" / f"us-east-1-qa-{name}" / "result.json").read_text())["steps"]
        return min(s["started"] for s in steps if s.get("started"))

    by_length = sorted(SCENARIOS, key=lambda n: SCENARIOS[n].typical_seconds, reverse=True)
    longest, others = by_length[:4], by_length[4:]
    assert "throttle-storm" in longest and "missing-state-bucket" in others
    assert max(started(n) for n in longest) < min(started(n) for n in others)
    listed = json.loads((build / "run.json").read_text())["cells"]
    assert listed == [f"us-east-1-qa-{name}" for name in sorted(SCENARIOS)]


@pytest.mark.parametrize("name", ["throttle-ec2", "throttle-all", "server-errors", "throttle-storm"])
def test_faults_were_injected_and_retried(scenario_run, name):
    report = _report(scenario_run[1], name)
    assert report["faults"]["total"] > 0
    result = json.loads((scenario_run[1] / "cells" / f"us-east-1-qa-{name}" / "result.json").read_text())
    assert result["faults_injected"] == report["faults"]["total"]  # what the report shows per cell
    assert sum(report["counters"]["retries"].values()) > 0
    events = [json.loads(line) for line in (scenario_run[1] / "cells" / f"us-east-1-qa-{name}" / "faults.jsonl")
              .read_text().splitlines()]
    assert events and {"time", "cell", "service", "operation", "effect"} <= set(events[0])
    if name == "throttle-ec2":
        assert {e["service"] for e in events} == {"ec2"} and all(e["mutating"] for e in events)
        assert {e["code"] for e in events} == {"RequestLimitExceeded"}


def test_fault_proxies_chain_in_front_of_the_strict_emulator(scenario_run):
    """client -> the cell's fault proxy -> the target's strict emulator -> moto, for every proxy scenario."""
    build = scenario_run[1]
    ledger = json.loads(next((build / "runs").glob("*.json")).read_text())
    cells = {c["cell"]: c for c in ledger["cells"]}
    for name in ("throttle-ec2", "throttle-all", "server-errors", "latency", "throttle-storm"):
        cell = cells[f"us-east-1-qa-{name}"]
        assert cell["front"] and cell["front"] != cell["endpoint"], cell  # the strict front, not moto itself
        assert _report(build, name)["proxy"]["upstream"] == cell["front"]


def test_latency_shows_in_the_durations(scenario_run):
    report = _report(scenario_run[1], "latency")
    assert report["faults"]["by_effect"]["latency"] >= report["live_calls"]
    assert report["live_seconds"] / report["live_calls"] >= 0.2


def test_missing_bucket_fails_before_creating_then_bootstraps(scenario_run):
    report = _report(scenario_run[1], "missing-state-bucket")
    first, second = report["phases"]
    assert first["error_class"] == "MissingStateBucket" and first["resource_mutations"] == 0
    assert "--bootstrap-backend" in first["message"] and "us-east-1" in first["message"]
    assert second["outcome"] == "ok"
    if shutil.which("terraform"):
        assert "NoSuchBucket" in report["notes"]["terraform"]


def test_held_lock_names_holder_and_id_then_force_unlock_proceeds(scenario_run):
    report = _report(scenario_run[1], "lock-held")
    first, second = report["phases"]
    lock_id = report["notes"]["planted_lock_id"]
    assert first["error_class"] == "LockHeld" and lock_id in first["message"]
    assert "ci-runner-42@build-host-7" in first["message"] and first["seconds"] >= 3.0
    assert second["outcome"] == "ok" and second["force_unlocked"]["ID"] == lock_id


def test_lost_bucket_keeps_state_locally_and_teardown_completes(scenario_run):
    report = _report(scenario_run[1], "state-bucket-lost")
    assert report["notes"]["bucket_deleted"].endswith("state-bucket-lost")
    assert Path(report["notes"]["state_local"]).is_file()
    assert report["destroy_ok"] and report["leaks"] == []


def test_a_wrong_expectation_fails_the_run_naming_it(tmp_path):
    build = tmp_path / "build"
    out = matrix(build, "run", "--profile", "prerelease", "--region", "us-east-1", "--suffix", "qa", "--fault",
                 "missing-state-bucket", "--expect", "missing-state-bucket=survive", "--bootstrap-backend",
                 "--no-report", timeout=600)
    assert out.returncode == 1
    assert "expectation survive not met" in out.stdout and "MissingStateBucket" in out.stdout


@pytest.mark.parametrize("args, needle", [
    (["run", "--profile", "dev", "--fault", "earthquake"], "fault scenario 'earthquake'"),
    (["run", "--profile", "dev", "--expect", "latency=maybe"], "--expect 'latency=maybe'"),
    (["run", "--profile", "dev", "--expect", "nope=survive"], "--expect 'nope=survive'"),
])
def test_bad_chaos_input_exits_2(capsys, build, args, needle):
    assert main(args) == 2
    assert needle in capsys.readouterr().err
    assert not build.exists()


@pytest.mark.parametrize("rules, needle", [
    ([{"service": "ec3", "effect": "throttle"}], "service"),
    ([{"service": "ec2", "operation": "CreateVcp", "effect": "throttle"}], "operation"),
    ([{"service": "ec2", "effect": "error", "code": "NoSuchThing"}], "code"),
    ([{"service": "ec2", "effect": "throttle", "probability": 1.5}], "probability"),
    ("{not json", "JSON"),
])
def test_bad_rule_files_exit_2_naming_the_field(tmp_path, capsys, rules, needle):
    f = tmp_path / "rules.json"
    f.write_text(rules if isinstance(rules, str) else json.dumps(rules))
    assert main(["proxy", "--upstream", "http://127.0.0.1:9", "--rules", str(f)]) == 2
    assert needle in capsys.readouterr().err
