"""The issue's dev-loop path, end to end on moto: add a Deny-all `policy` to the S3 gateway endpoint
in stack/vpc.py and run `dev` again; AWS (the emulator) must then hold the policy, on the update
path and on a fresh deploy, and the cell's report must show the read-back that proved it."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import boto3
import test_devloop
from test_devloop import dev, teardown_project

from matrix.engines.embedded.arguments.normalize import policy

DENY_ALL = {"Version": "2012-10-17",
            "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*"}]}
CELL = "us-east-1-dev"
project = test_devloop.project  # the fixture: a throw-away copy of the project


def run(root: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, STACKMATRIX_BUILD=str(root / "build"), PYTHONPATH=str(root))
    return subprocess.run([sys.executable, "-m", "matrix", *args], cwd=root, env=env, capture_output=True,
                          text=True, timeout=600)


def endpoint_policy(root: Path) -> dict:
    """What AWS holds, asked the way a user would: the exports of `python -m matrix env`, then boto3."""
    out = run(root, "env", CELL)
    assert out.returncode == 0, out.stderr
    env = {}
    for line in out.stdout.splitlines():
        if line.startswith("export "):
            for word in shlex.split(line.split("#")[0])[1:]:
                key, _, value = word.partition("=")
                env[key] = value
    ec2 = boto3.client("ec2", endpoint_url=env["AWS_ENDPOINT_URL"], region_name=env["AWS_REGION"],
                       aws_access_key_id=env["AWS_ACCESS_KEY_ID"], aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])
    endpoints = ec2.describe_vpc_endpoints(Filters=[{"Name": "service-name",
                                                     "Values": ["com.amazonaws.us-east-1.s3"]}])["VpcEndpoints"]
    live = [e for e in endpoints if e["State"].lower() == "available"]
    assert len(live) == 1, endpoints
    return json.loads(live[0]["PolicyDocument"])


def add_deny_policy(root: Path) -> None:
    vpc = root / "stack" / "vpc.py"
    old = 'tags={"Name": name("s3-endpoint")},'
    assert old in vpc.read_text()
    vpc.write_text(vpc.read_text().replace(old, old + f" policy=_json({DENY_ALL!r}),"))


def read_back_evidence(root: Path) -> str:
    return (root / "build" / "cells" / CELL / "read-back.txt").read_text()


def test_an_endpoint_policy_edit_reaches_aws_on_update_and_on_a_fresh_deploy(project):
    try:
        first = dev(project)
        assert first.returncode == 0, first.stderr[-2000:]
        assert policy(endpoint_policy(project)) != policy(DENY_ALL)

        add_deny_policy(project)
        update = dev(project)
        assert update.returncode == 0, update.stderr[-3000:]
        assert "0 to add, 1 to change, 0 to replace, 0 to destroy" in update.stderr
        assert policy(endpoint_policy(project)) == policy(DENY_ALL), "the update path applied the policy"
        evidence = read_back_evidence(project)
        assert "0 difference(s)" in evidence
        line = next(x for x in evidence.splitlines() if "aws_vpc_endpoint.s3-endpoint" in x)
        assert line.startswith("ok ") and "policy" in line
        calls = (project / "build" / "cells" / CELL / "api-calls.txt").read_text()
        assert "ModifyVpcEndpoint" in calls and calls.index("ModifyVpcEndpoint") < calls.index("-- read-back")
        assert "DescribeVpcEndpoints" in calls[calls.index("-- read-back"):]

        destroyed = run(project, "destroy", CELL)
        assert destroyed.returncode == 0, destroyed.stderr[-2000:]
        fresh = dev(project)
        assert fresh.returncode == 0, fresh.stderr[-3000:]
        assert "33 to add" in fresh.stderr
        assert policy(endpoint_policy(project)) == policy(DENY_ALL), "the create path applied the policy"
        assert "0 difference(s)" in read_back_evidence(project)
    finally:
        teardown_project(project)
