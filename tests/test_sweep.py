"""Leftovers: a resource carrying the run's tags that the state does not know is found by the leak
check (destroy fails naming it) and removed by `sweep --run-id`, listed first by `--dry-run`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import boto3

ROOT = Path(__file__).resolve().parent.parent


def matrix(build: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "matrix", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, env=dict(os.environ, STACKMATRIX_BUILD=str(build)))


def test_leak_check_names_a_leftover_and_sweep_removes_it(tmp_path, moto_url, synth_root):
    build = tmp_path / "build"
    shutil.copytree(synth_root / "synth", build / "synth")
    out = matrix(build, "run", "--profile", "dev", "--endpoint", moto_url, "--bootstrap-backend", "--keep",
                 "--skip-live", "--no-report")
    assert out.returncode == 0, out.stderr[-2000:]
    record = json.loads((build / "deployments" / "us-east-1-dev.json").read_text())
    ec2 = boto3.client("ec2", endpoint_url=moto_url, region_name="us-east-1", aws_access_key_id=record["access_key"],
                       aws_secret_access_key=record["secret_key"])
    tags = [{"Key": "RunId", "Value": record["run_id"]}, {"Key": "EnvironmentSuffix", "Value": "dev"},
            {"Key": "Name", "Value": "made-by-hand"}]
    stray = ec2.create_vpc(CidrBlock="10.9.0.0/16", TagSpecifications=[{"ResourceType": "vpc", "Tags": tags}])
    stray_id = stray["Vpc"]["VpcId"]

    gone = matrix(build, "destroy", "us-east-1-dev")
    assert gone.returncode == 1
    assert f"aws_vpc {stray_id} (made-by-hand)" in gone.stderr and "leftovers remain" in gone.stderr

    dry = matrix(build, "sweep", "--run-id", record["run_id"], "--dry-run")
    assert dry.returncode == 0 and f"would delete aws_vpc {stray_id}" in dry.stderr
    assert ec2.describe_vpcs(VpcIds=[stray_id])["Vpcs"], "a dry run deletes nothing"

    swept = matrix(build, "sweep", "--run-id", record["run_id"])
    assert swept.returncode == 0, swept.stderr
    assert f"swept aws_vpc {stray_id}" in swept.stderr
    again = matrix(build, "sweep", "--run-id", record["run_id"])
    assert "sweep: 0 leftover(s) found" in again.stderr
    done = matrix(build, "destroy", "us-east-1-dev")  # the cell is clean now: its record and strict front go
    assert done.returncode == 0, done.stderr[-2000:]
    assert not list((build / "emulators").glob("strict-*.json")), "the strict front of the kept cell was left running"


def test_sweep_of_an_unknown_run_is_bad_input(tmp_path):
    out = matrix(tmp_path / "build", "sweep", "--run-id", "no-such-run")
    assert out.returncode == 2 and "run 'no-such-run' is unknown here" in out.stderr
    both = matrix(tmp_path / "build", "sweep", "--run-id", "x", "--all-runs")
    assert both.returncode == 2 and "exactly one of" in both.stderr


def test_a_search_or_read_back_that_fails_is_named_never_counted_as_gone(moto_url, cell_access):
    """An untagged subnet only the read-back can find: found when the account answers; when every
    DescribeSubnets is throttled past the retries, the check says it could not tell, naming the type
    (tag search) or the id (read-back by id, as the leak check does after the tag search)."""
    from dataclasses import replace

    import pytest

    from matrix.chaos.proxy import FaultProxy
    from matrix.chaos.rules import rule
    from matrix.clients import ClientFactory
    from matrix.engines.embedded.resources import HANDLERS
    from matrix.engines.embedded.resources.base import Ctx
    from matrix.leaks import LeakCheckIncomplete, _read_back, find_leftovers

    ec2 = ClientFactory(cell_access, max_attempts=1).client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.8.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.8.1.0/24")["Subnet"]["SubnetId"]
    before = {"aws_subnet.private": {"id": subnet}}
    tags = {"RunId": "no-such-run", "EnvironmentSuffix": "dev"}

    found = find_leftovers(ClientFactory(cell_access, max_attempts=1), "us-east-1", tags, state_ids=before)
    assert [(lo.type, lo.id) for lo in found] == [("aws_subnet", subnet)]

    proxy = FaultProxy(cell_access.endpoint).start()
    try:
        proxy.set_rules([rule(service="ec2", operation="DescribeSubnets", effect="throttle")])
        throttled = ClientFactory(replace(cell_access, endpoint=proxy.url), max_attempts=2)
        searched = r"aws_subnet could not be searched.*RequestLimitExceeded.*may still exist"
        with pytest.raises(LeakCheckIncomplete, match=searched):
            find_leftovers(throttled, "us-east-1", tags, state_ids=before)
        with pytest.raises(LeakCheckIncomplete, match=rf"aws_subnet {subnet}, named in state.*RequestLimitExceeded"):
            _read_back(HANDLERS["aws_subnet"], Ctx(throttled, "us-east-1"), [{"id": subnet}])
        proxy.disarm()
        assert _read_back(HANDLERS["aws_subnet"], Ctx(throttled, "us-east-1"), [{"id": subnet}])[0] is not None
    finally:
        proxy.stop()
