"""The live suite's behaviour checks (suites/live/behaviour.py) against broken variants deployed to moto.

Each variant is the synthesized dev stack with one mutation a user could make by mistake, applied by
the embedded engine (through the strict emulator, which lets all of them through: AWS accepts them
too, then they do not work). The clean stack must show no problem; each broken one must fail,
naming what is broken and the fix. One variant also runs the real live suite (pytest) to prove the
suite itself fails on it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from matrix.clients import ClientFactory
from suites.live.behaviour import allowed, egress_problems, flow_log_problems

ROOT = Path(__file__).resolve().parent.parent
TRUST_EC2 = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
TRUST_OTHER_ACCOUNT = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "vpc-flow-logs.amazonaws.com"}, "Action": "sts:AssumeRole",
    "Condition": {"StringEquals": {"aws:SourceAccount": "111122223333"}}}]})
POLICY_OTHER_GROUP = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
    "Resource": ["arn:aws:logs:us-east-1:${data.aws_caller_identity.current.account_id}:log-group:another-group:*"]}]})


def _nat_in_private_subnet(doc):
    doc["resource"]["aws_nat_gateway"]["nat-0"]["subnet_id"] = "${aws_subnet.private-subnet-0.id}"


def _private_route_to_igw(doc):
    route = doc["resource"]["aws_route"]["private-1-default"]
    route.pop("nat_gateway_id")
    route["gateway_id"] = "${aws_internet_gateway.igw.id}"


VARIANTS = {
    "nat-in-private-subnet": _nat_in_private_subnet,
    "private-route-to-igw": _private_route_to_igw,
    "role-trusts-ec2": lambda d: d["resource"]["aws_iam_role"]["flow-logs-role"].update(
        assume_role_policy=TRUST_EC2),
    "role-trusts-other-account": lambda d: d["resource"]["aws_iam_role"]["flow-logs-role"].update(
        assume_role_policy=TRUST_OTHER_ACCOUNT),
    "policy-on-another-log-group": lambda d: d["resource"]["aws_iam_role_policy"]["flow-logs-policy"].update(
        policy=POLICY_OTHER_GROUP),
}


@pytest.fixture
def deploy(dev_synth, tmp_path, clients):
    """deploy(mutate) -> outputs: the dev stack with one mutation, applied; destroyed after the test."""
    from tests.test_engine import engine_for, unique_bucket

    engines = []

    def run(mutate=None):
        synth = unique_bucket(dev_synth, tmp_path)
        if mutate is not None:
            doc = json.loads(synth.read_text())
            mutate(doc)
            synth.write_text(json.dumps(doc))
        engine = engine_for(synth, clients, tmp_path)
        engines.append(engine)
        engine.apply()
        return engine.current_outputs()

    yield run
    for engine in engines:
        engine.destroy()


def _problems(clients: ClientFactory, outputs: dict) -> list[str]:
    ec2 = clients.client("ec2")
    return [*egress_problems(ec2, outputs["vpc_id"], outputs["private_subnet_ids"]),
            *flow_log_problems(clients, outputs["flow_log_id"], "us-east-1", clients.access.account_id)]


def test_the_clean_stack_has_no_problem(deploy, clients):
    assert _problems(clients, deploy()) == []


@pytest.mark.parametrize("variant, expected", [
    ("nat-in-private-subnet", ["but that NAT lives in subnet", "not to an internet gateway",
                               "Fix: put the NAT gateway (aws_nat_gateway.subnet_id) in a public subnet"]),
    ("private-route-to-igw", ["straight to the internet gateway: the subnet is public", "Fix: put the NAT"]),
    ("role-trusts-ec2", ["lets ec2.amazonaws.com assume it, not vpc-flow-logs.amazonaws.com",
                         "Fix: trust vpc-flow-logs.amazonaws.com"]),
    ("role-trusts-other-account", ["only for aws:SourceAccount 111122223333, not this account"]),
    ("policy-on-another-log-group", ["is not allowed logs:CreateLogStream, logs:PutLogEvents on log group",
                                     "log-group:another-group:*", "Fix: allow logs:CreateLogStream"]),
])
def test_a_broken_variant_fails_naming_what_and_the_fix(deploy, clients, variant, expected):
    outputs = deploy(VARIANTS[variant])
    problems = _problems(clients, outputs)
    assert len(problems) >= 1, f"{variant}: no problem found"
    text = "\n".join(problems)
    for part in expected:
        assert part in text, text
    if variant == "nat-in-private-subnet":  # the NAT's own subnet is named, read from AWS
        nat = clients.client("ec2").describe_nat_gateways(NatGatewayIds=[outputs["nat_gateway_ids"][0]])
        assert nat["NatGateways"][0]["SubnetId"] == outputs["private_subnet_ids"][0]
        assert outputs["private_subnet_ids"][0] in text


def test_the_live_suite_fails_on_a_nat_in_a_private_subnet(deploy, clients, tmp_path, synth_root):
    """The real live suite (pytest, as the runner starts it) fails on the broken variant, naming it."""
    from matrix.cells import expand

    outputs = deploy(VARIANTS["nat-in-private-subnet"])
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(outputs))
    cell = expand("dev")[0]
    access = clients.access
    env = dict(os.environ, STACKMATRIX_CELL=json.dumps(cell.to_dict()),
               STACKMATRIX_STACK_CONFIG=json.dumps(cell.stack_config().to_dict()), STACKMATRIX_OUTPUTS=str(path),
               STACKMATRIX_ACCESS=json.dumps({"region": access.region, "endpoint": access.endpoint,
                                              "access_key": access.access_key, "secret_key": access.secret_key,
                                              "profile": None, "account_id": access.account_id}),
               STACKMATRIX_RUN_ID="t-run", PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "pytest", str(ROOT / "suites" / "live"), "-q", "-p",
                           "no:cacheprovider", "-k", "reach_the_internet or deliver", "--rootdir",
                           str(ROOT / "suites")], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stdout[-3000:]
    assert "1 failed, 1 passed" in proc.stdout, proc.stdout[-3000:]
    assert "but that NAT lives in subnet" in proc.stdout and "Fix: put the NAT gateway" in proc.stdout


@pytest.mark.parametrize("policies, action, resource, verdict", [
    ([{"Statement": [{"Effect": "Allow", "Action": "logs:*", "Resource": "arn:aws:logs:*:*:log-group:g:*"}]}],
     "logs:PutLogEvents", "arn:aws:logs:r:1:log-group:g:log-stream:s", True),
    ([{"Statement": [{"Effect": "Allow", "Action": "logs:*", "Resource": "arn:aws:logs:r:1:log-group:g"}]}],
     "logs:PutLogEvents", "arn:aws:logs:r:1:log-group:g:log-stream:s", False),
    ([{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"},
                     {"Effect": "Deny", "Action": "logs:Put*", "Resource": "*"}]}],
     "logs:PutLogEvents", "arn:aws:logs:r:1:log-group:g:log-stream:s", False),
    ([{"Statement": {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}}],
     "logs:CreateLogStream", "arn:aws:logs:r:1:log-group:g:log-stream:s", True),
    ([{"Statement": [{"Effect": "Allow", "Action": "LOGS:putlogevents", "NotResource": "arn:aws:logs:r:1:*"}]}],
     "logs:PutLogEvents", "arn:aws:logs:r:1:log-group:g:log-stream:s", False),
])
def test_policy_evaluation(policies, action, resource, verdict):
    assert allowed(policies, action, resource) is verdict


def test_a_policy_that_is_not_json_is_named_not_a_crash():
    from suites.live.behaviour import Unreadable, _doc

    with pytest.raises(Unreadable, match=r"its trust policy is not a JSON document .*'Version: 2012'"):
        _doc("Version: 2012", "trust policy")
    assert _doc('{"Version": "2012-10-17"}', "trust policy") == {"Version": "2012-10-17"}
