"""Helpers for the reports tests: realistic cells on disk, a tiny suite run with allure-pytest.

Plain functions and data (fixtures are in conftest.py); named uniquely so that
`from reports_helpers import ...` cannot resolve to another folder's conftest module.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from matrix.paths import BUILD_ENV, PROJECT_ROOT
from matrix.results import CellResult, Step

FAKE_SECRETS = {
    "AWS_SECRET_ACCESS_KEY": "FAKEsecretKEY/abcdEFGHijklMNOPqrstUVWXyz0123456789",
    "AWS_SESSION_TOKEN": "FAKEsessionTOKEN+IQoJb3JpZ2luX2VjEKv//////////wEaCXVzLWVhc3QtMSJHMEUCIQD",
    "LOCALSTACK_AUTH_TOKEN": "ls-FAKEauthTOKEN-4f1c2a52-5d0e-4bb5",
}

#: (cell id, region, suffix, fault, status, expected category or None)
CELLS = [
    ("us-east-1-dev", "us-east-1", "dev", None, "passed", None),
    ("us-east-1-qa", "us-east-1", "qa", None, "failed", "Invalid configuration (policy)"),
    ("eu-west-1-dev", "eu-west-1", "dev", None, "failed", "Lock contention"),
    ("eu-west-1-qa", "eu-west-1", "qa", None, "broken", "Missing state bucket"),
    ("us-east-1-dev-throttle", "us-east-1", "dev", "throttle", "passed", None),
    ("eu-west-1-dev-throttle", "eu-west-1", "dev", "throttle", "failed", "Leaked resources"),
]
STEPS = ("backend", "apply", "live suite", "destroy", "leak check")


@contextmanager
def use_build(path: Path) -> Iterator[Path]:
    """$STACKMATRIX_BUILD -> path for the duration (for session-scoped fixtures)."""
    old = os.environ.get(BUILD_ENV)
    os.environ[BUILD_ENV] = str(path)
    try:
        yield path
    finally:
        if old is None:
            os.environ.pop(BUILD_ENV, None)
        else:
            os.environ[BUILD_ENV] = old


def _step(cell: CellResult, name: str, status: str, t: int, message: str = "", **details) -> Step:
    details.setdefault("api", {"calls": {"ec2": 5}, "retries": {"ec2": 1}, "throttles": {}})
    s = Step(name, status, started=t, stopped=t + 700, message=message, details=details)
    cell.steps.append(s)
    return s


def make_cell(run_id: str, cell_id: str, region: str, suffix: str, fault: str | None, status: str,
              t0: int, secret: str = "") -> CellResult:
    """One realistic cell, written to build/cells/<cell>/ with its attachments."""
    r = CellResult(run_id=run_id, cell=cell_id, region=region, suffix=suffix, fault=fault, target="moto",
                   engine="embedded", profile="dev", started=t0)
    t = t0 + 100
    if cell_id == "us-east-1-dev":  # the service-major shape results.py's comment allows
        r.counters = {"ec2": {"calls": 41, "retries": 3, "throttles": 2}, "s3": {"calls": 7, "retries": 0,
                                                                              "throttles": 0}}
    else:  # the metric-major shape matrix/clients.py writes
        r.counters = {"calls": {"ec2": 41, "s3": 7}, "retries": {"ec2": 3}, "throttles": {"ec2": 2},
                      "mutating": {"ec2": 20, "s3": 2}, "operations": {"ec2:CreateVpc": 1, "ec2:DescribeVpcs": 40,
                                                                       "s3:PutObject": 7},
                      "errors": {"ec2:InvalidVpcID.NotFound": 1}}
    extra = f" {secret}" if secret else ""
    if cell_id == "us-east-1-qa":
        s = _step(r, "backend", "passed", t, "bucket exists")
        s = _step(r, "synth policies", "failed", t + 800,
                  f"policy violation: flow-log-interval on aws_flow_log.flow{extra}")
        r.attach("policy violations", "flow-log-interval: aws_flow_log.flow: 300 is not 60 or 600. Fix: use 600\n",
                 "violations.txt", step=s)
        r.error = {"step": "synth policies", "category": "policy", "message": s.message}
        r.status = "failed"
    elif cell_id == "eu-west-1-dev":
        _step(r, "backend", "passed", t)
        s = _step(r, "apply", "failed", t + 800, "Error acquiring the state lock", attempts=1)
        r.attach("engine log tail", "terraform apply\nError: Error acquiring the state lock\nLock Info:\n"
                 f"  ID: 1234\n  Who: other@host\n  token={secret or 'x' * 8}\n", "engine.log", step=s)
        r.error = {"step": "apply", "category": "lock-contention",
                   "message": f"Error acquiring the state lock: lock held by run other{extra}"}
        r.status = "failed"
    elif cell_id == "eu-west-1-qa":
        s = _step(r, "backend", "broken", t, "state bucket stackmatrix-tfstate-eu-west-1 does not exist")
        r.error = {"step": "backend", "category": "missing-state-bucket",
                   "message": "state bucket stackmatrix-tfstate-eu-west-1 does not exist (NoSuchBucket)"}
        r.status = "broken"
    elif cell_id == "us-east-1-dev-throttle":
        _step(r, "backend", "passed", t)
        s = _step(r, "apply", "failed", t + 800, "ThrottlingNotSurvived: DescribeVpcs throttled 6 times")
        r.attach("injected faults", "\n".join(f"{i} ec2 DescribeVpcs Throttling" for i in range(6)) + "\n",
                 "faults.log", step=s)
        _step(r, "chaos expectations", "passed", t + 1600, "apply failed cleanly, no partial state")
        _step(r, "destroy", "passed", t + 2400)
        _step(r, "leak check", "passed", t + 3200)
        r.expectation = {"kind": "fail-cleanly", "met": True, "reason": "apply failed with ThrottlingNotSurvived"}
        r.faults_injected = 6
        r.status = "passed"
    else:
        for i, name in enumerate(STEPS):
            st = "failed" if (cell_id == "eu-west-1-dev-throttle" and name == "leak check") else "passed"
            s = _step(r, name, st, t + i * 800)
            if name == "apply":
                r.attach("outputs", {"vpc_id": "vpc-0abc", "region": region}, "outputs.json", step=s)
                r.changes = {"create": 14, "update": 0, "delete": 0}
        if cell_id == "eu-west-1-dev-throttle":
            r.leaks = ["aws_vpc vpc-0abc", "aws_nat_gateway nat-0def"]
            r.error = {"step": "leak check", "message": "2 resources leaked after destroy"}
            r.status = "failed"
        else:
            r.status = "passed"
            r.expectation = {"kind": "deploy", "met": True}
    r.stopped = t0 + 5000
    r.save()
    return r


TINY_SUITE = '''
import allure
import pytest


def test_vpc_exists():
    assert True


@pytest.mark.parametrize("az", ["a", "b"])
def test_subnet(az):
    allure.attach("subnet " + az + " {secret}", name="subnet", attachment_type=allure.attachment_type.TEXT)


def test_flow_logs():
    assert 1 == 2, "flow log interval 300 is not 60 or 600 {secret}"


@pytest.mark.skip(reason="needs real AWS")
def test_real_only():
    pass
'''


def run_suite(tmp: Path, alluredir: Path, env: dict[str, str], suite: str = "live", secret: str = "",
              source: str = TINY_SUITE) -> subprocess.CompletedProcess:
    """Run a tiny generated suite under <tmp>/suites/<suite>/ with allure-pytest and our plugin."""
    folder = tmp / "suites" / suite
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"test_{suite}_tiny.py").write_text(textwrap.dedent(source).replace("{secret}", secret))
    full_env = {**os.environ, **env, "PYTHONPATH": str(PROJECT_ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "pytest", str(folder), "-q", "-p", "no:cacheprovider", "-p", "reports.pytest_plugin",
         f"--alluredir={alluredir}", "--rootdir", str(tmp / "suites")],
        cwd=tmp, env=full_env, capture_output=True, text=True, timeout=120, check=False,
    )


def cell_env(cell: dict) -> dict[str, str]:
    return {"STACKMATRIX_CELL": json.dumps(cell)}


def cell_dict(cell_id: str) -> dict:
    for cid, region, suffix, fault, _, _ in CELLS:
        if cid == cell_id:
            return {"id": cid, "region": region, "suffix": suffix, "fault": fault, "target": "moto",
                    "engine": "embedded", "profile": "dev"}
    raise KeyError(cell_id)


def read_results(folder: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(Path(folder).glob("*-result.json"))]


def label(result: dict, name: str) -> list[str]:
    return [lb["value"] for lb in result.get("labels", []) if lb["name"] == name]


def status_dynamics(report: Path) -> list[dict]:
    """The trend chart's points in a generated (multi-file) report: history runs + current."""
    charts = json.loads((report / "widgets" / "charts.json").read_text())
    for chart in charts["general"].values():
        if chart.get("type") == "statusDynamics":
            return chart["data"]
    raise AssertionError("no statusDynamics chart in the report")
