"""The strict emulator in front of LocalStack host mode: every strict rule refused with AWS's code, status
and message to botocore and to the AWS CLI (the same cases as tests/chaos/test_strict.py on moto), and
valid calls passing through to LocalStack."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from matrix.chaos.proxy import FaultProxy
from tests.strict_cases import CASES, MODEL_ONLY, assert_cli_refused, assert_refused, botocore_call, cli_call


@pytest.fixture(scope="module")
def strict_ls(localstack):
    with FaultProxy(localstack.url, strict=True) as proxy:
        yield proxy


@pytest.mark.parametrize("case", [*CASES, MODEL_ONLY], ids=lambda c: f"{c.rule}-{c.method}")
def test_botocore_gets_the_aws_error(strict_ls, new_account, case):
    assert_refused(case, *botocore_call(case, strict_ls.url, new_account()))


@pytest.mark.parametrize("case", [*CASES, MODEL_ONLY], ids=lambda c: f"{c.rule}-{c.method}")
def test_the_aws_cli_gets_the_aws_error(strict_ls, new_account, case):
    assert_cli_refused(case, cli_call(case, strict_ls.url, new_account()))


def test_valid_calls_reach_localstack(strict_ls, new_account, ls_client):
    account = new_account()
    ec2 = boto3.client("ec2", endpoint_url=strict_ls.url, region_name="us-east-1", aws_access_key_id=account,
                       aws_secret_access_key="test")
    vpc = ec2.create_vpc(CidrBlock="10.6.0.0/16", TagSpecifications=[
        {"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": "strict-ok"}]}])["Vpc"]
    direct = ls_client("ec2", account=account, region="us-east-1")
    assert direct.describe_vpcs(VpcIds=[vpc["VpcId"]])["Vpcs"][0]["CidrBlock"] == "10.6.0.0/16"
    assert strict_ls.stats()["strict"]["errors"] == 0


def test_the_localstack_target_puts_the_strict_emulator_in_front(localstack, ls_build):
    """A LocalStack the user runs (--endpoint) gets a front for the run, stopped with it; the managed
    server's front is recorded under its own name, for `localstack stop` to stop with the server."""
    from matrix.targets.localstack import LocalStackTarget
    from matrix.targets.strict_front import StrictFront, stats
    from tests.strict_cases import CASES

    target = LocalStackTarget(endpoint=localstack.url, log=lambda _: None)
    target.start()
    try:
        access = target.access("strict-ls", "us-east-1", "run-1")
        assert access.endpoint == target.front.url != localstack.url
        assert target.describe()["strict"].startswith(f"on: {target.front.url} in front of {localstack.url}")
        case = next(c for c in CASES if c.rule == "subnet-cidr-range")
        assert_refused(case, *botocore_call(case, access.endpoint, access.access_key))
        assert stats(target.front.url)["strict"]["refused_by_rule"] == {"subnet-cidr-range": 1}
    finally:
        target.stop()
    assert StrictFront.recorded(target.front.name) is None and stats(target.front.url) is None
    managed = LocalStackTarget(log=lambda _: None)  # finds the session's managed server, recorded here
    managed.start()
    try:
        assert managed.managed is not None and managed.front.name == "localstack"
        assert StrictFront.recorded("localstack", localstack.url.rstrip("/")) is not None
    finally:
        managed.stop()  # it was running before: both stay
        StrictFront.stop_named("localstack")
    assert (ls_build / "emulators").is_dir() and not (ls_build / "emulators" / "strict-localstack.json").exists()


def test_a_run_on_localstack_passes_through_the_strict_emulator(localstack, ls_build, synth_root):
    """The dev cell end to end on LocalStack (engine, backend, live suite with its behaviour checks)
    through the strict front the run puts in front of it, which refuses nothing and is gone afterwards."""
    root = Path(__file__).resolve().parents[2]
    build = ls_build / "run-strict"
    shutil.copytree(synth_root / "synth", build / "synth")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["STACKMATRIX_BUILD"] = str(build)
    out = subprocess.run([sys.executable, "-m", "matrix", "run", "--profile", "dev", "--target", "localstack",
                          "--endpoint", localstack.url, "--bootstrap-backend", "--no-report"], cwd=root, env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    ledger = json.loads(next((build / "runs").glob("*.json")).read_text())["cells"][0]
    assert ledger["endpoint"] == localstack.url.rstrip("/") != ledger["front"]
    suite = (build / "cells" / "us-east-1-dev" / "live-suite.txt").read_text()
    assert re.search(r"\b\d+ passed", suite) and "failed" not in suite, suite[-2000:]
    assert not list((build / "emulators").glob("strict-*.json")), "the run's front is stopped with the run"
