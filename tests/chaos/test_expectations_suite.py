"""The chaos suite (suites/chaos) judges a fault cell from its chaos report: run here as the real
pytest session the runner starts, on reports recorded from prerelease cells (tests/chaos/reports) and
on variants of them. A recorded report meets its expectation; a cell that ended with an error its
scenario does not expect (a hook that could not inject its fault, a timeout, an interrupt), or whose
live suite never ran on a deployed stack, does not: these used to be judged met (a false green)."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REPORTS = Path(__file__).parent / "reports"


def judge(tmp_path: Path, report: dict) -> subprocess.CompletedProcess:
    path = tmp_path / "chaos.json"
    path.write_text(json.dumps(report))
    env = dict(os.environ, STACKMATRIX_CHAOS_REPORT=str(path), STACKMATRIX_SUITE="chaos")
    return subprocess.run([sys.executable, "-m", "pytest", "suites/chaos", "-q", "-rfE", "-p", "no:cacheprovider"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def recorded(name: str) -> dict:
    return json.loads((REPORTS / f"{name}.json").read_text())


@pytest.mark.parametrize("name", ["state-bucket-lost", "throttle-storm"])
def test_a_recorded_cell_that_met_its_expectation_is_judged_met(tmp_path, name):
    out = judge(tmp_path, recorded(name))
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("category, step", [
    ("ProductDefect", "chaos: the state bucket vanishes after the live suite"),  # the hook failed
    ("timeout", "live suite"),
    ("interrupted", "apply"),
])
def test_an_error_the_scenario_does_not_expect_is_not_met(tmp_path, category, step):
    report = recorded("state-bucket-lost")
    report["unexpected_error"] = {"step": step, "category": category, "message": "AccessDenied: no"}
    out = judge(tmp_path, report)
    assert out.returncode == 1, out.stdout
    assert f"error its scenario does not expect, at {step}: {category}" in out.stdout


def test_a_storm_may_end_the_deploy_with_throttling_and_nothing_else(tmp_path):
    report = recorded("throttle-storm")
    last = report["phases"][-1]
    last.update(outcome="failed", category="ThrottlingNotSurvived", error_class="ApplyError")
    report["live_ok"] = None
    report["unexpected_error"] = {"step": "apply", "category": "ThrottlingNotSurvived", "message": "Throttling"}
    out = judge(tmp_path, report)
    assert out.returncode == 0, out.stdout  # survive-or-fail-cleanly: failing on the storm is allowed
    other = copy.deepcopy(report)
    other["unexpected_error"]["category"] = "timeout"
    out = judge(tmp_path, other)
    assert out.returncode == 1 and "error its scenario does not expect, at apply: timeout" in out.stdout


def test_a_deployed_cell_whose_live_suite_never_ran_is_not_met(tmp_path):
    report = recorded("state-bucket-lost")
    report["live_ok"] = None  # cancelled after apply: the suite never ran
    out = judge(tmp_path, report)
    assert out.returncode == 1 and "the live suite never ran on the deployed cell" in out.stdout
    report["live_skipped"] = True  # --skip-live: said, not judged
    assert judge(tmp_path, report).returncode == 0


def test_faults_the_localstack_chaos_api_injected_are_judged_by_what_the_clients_saw(tmp_path):
    """LocalStack's Chaos API counts nothing: the retried and failed calls stand in, said as observed
    (every retry scenario used to fail there with 'the scenario injected no fault')."""
    from matrix.chaos import parse_rules
    from matrix.chaos.driver import observed_faults

    rules = parse_rules([{"effect": "throttle", "services": ["ec2"], "probability": 0.3},
                         {"effect": "error", "code": "InternalError", "status": 500}], source="test")
    counters = {"retries": {"ec2": 7, "s3": 2}, "errors": {"ec2:Throttling": 1, "ec2:InternalError": 2,
                                                          "ec2:InvalidVpcID.NotFound": 4}}
    faults = observed_faults(counters, rules)
    assert faults["total"] == 7 + 2 + 1 + 2 and faults["observed"]  # NotFound answers are no fault
    assert observed_faults({"retries": {}, "errors": {"ec2:InvalidVpcID.NotFound": 4}}, rules)["total"] == 0

    report = recorded("throttle-storm")
    report["faults"] = faults
    assert judge(tmp_path, report).returncode == 0
    report["faults"] = observed_faults({}, rules)
    out = judge(tmp_path, report)
    assert out.returncode == 1 and "the cell's clients saw no injected fault" in out.stdout
