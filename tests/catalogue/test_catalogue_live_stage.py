"""The fidelity harness's live stage (tests/fidelity/live_stage.py) on a few corpus cases, for real.

Each case's mutated stack is deployed by the run's machinery to a moto server the stage starts (strict
emulator and synth check off), the live suite runs as a pytest process, then the cell is destroyed and
leak-checked. A wiring case and a flow-log role case must be caught by a behaviour check, named; a
mutation that AWS refuses but moto takes and the suite does not look at must pass (not caught); one that
moto itself refuses must be classified as the emulator's refusal, not the live suite's catch.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fidelity"))

from corpus import load
from live_stage import LiveStage

pytestmark = [pytest.mark.slow, pytest.mark.cdk]

CHOSEN = ("nat-in-private-subnet", "trust-wrong-service", "tag-reserved-prefix", "vpc-cidr-slash-29")


def test_live_stage_catches_wiring_and_role_cases_and_credits_nothing_else(build):
    from matrix.targets.moto import MotoServer

    cases = {c.id: c for c in load()}
    stage = LiveStage(jobs=4, progress=lambda _msg: None)
    assert stage.unavailable() is None
    try:
        out = stage.catches([cases[cid] for cid in CHOSEN], clean=None)
    finally:
        stage.close()
    assert MotoServer.recorded() is None, "the stage stops the moto server it started"
    assert set(out) == set(CHOSEN)

    nat = out["nat-in-private-subnet"]
    assert nat.caught and nat.extra["class"] == "live" and nat.extra["basis"] == "behaviour", nat
    assert "test_private_subnets_reach_the_internet_through_a_nat_in_a_public_subnet" in nat.extra["tests"]
    message = " ".join(f["message"] for f in nat.extra["failures"])
    assert "but that NAT lives in subnet" in message and "Fix: put the NAT gateway" in message

    trust = out["trust-wrong-service"]
    assert trust.caught and trust.extra["class"] == "live" and trust.extra["basis"] == "behaviour", trust
    assert trust.extra["tests"] == ["test_flow_log_can_deliver_to_its_log_group"]
    assert "lets ec2.amazonaws.com assume it, not vpc-flow-logs.amazonaws.com" in trust.extra["failures"][0]["message"]

    tag = out["tag-reserved-prefix"]  # AWS refuses an aws: tag key; moto takes it; the suite does not look
    assert not tag.caught and tag.extra["class"] == "passed", tag
    assert re.search(r"\d+ passed", tag.detail) and "failed" not in tag.detail

    cidr = out["vpc-cidr-slash-29"]  # moto's own validation: not the live suite's credit
    assert not cidr.caught and cidr.extra["class"] == "emulator", cidr
    assert cidr.extra["aws_error"] == {"code": "InvalidVpc.Range", "status": 400, "operation": "CreateVpc"}

    for cid, o in out.items():  # each cell deployed its own mutated document and was torn down clean
        result = json.loads((build / "cells" / o.extra["cell"] / "result.json").read_text())
        steps = {s["name"]: s["status"] for s in result["steps"]}
        assert steps.get("destroy") == "passed" and steps.get("leak check") == "passed", (cid, steps)
        assert result["leaks"] == []
    deployed = json.loads((build / "live" / "documents" / nat.extra["cell"] / "cdk.tf.json").read_text())
    assert deployed["resource"]["aws_nat_gateway"]["nat-0"]["subnet_id"] == "${aws_subnet.private-subnet-0.id}"
    suffix = nat.extra["cell"].rsplit("-", 1)[-1]  # the case's own cell: its names carry its suffix
    assert deployed["resource"]["aws_vpc"]["vpc"]["tags"]["Name"] == f"stackmatrix-{suffix}-vpc"
