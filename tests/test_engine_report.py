"""What a refusal and a failed read-back look like in a run's results and its Allure report: a
failed step that names the resource and the argument (`python -m matrix run` on moto, with a
synthesized variant of the real stack: the dev cell's cdk.tf.json with one argument added)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from matrix.__main__ import main

CELL = "us-east-1-dev"
DENY_ALL = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*"}]})


@pytest.fixture
def variant(tmp_path, synth_root, monkeypatch):
    """A build folder with the session's synthesized cells; `edit(fn)` changes the dev cell's document
    (its cache key stays valid, so the run uses it as synthesized)."""
    build = tmp_path / "build"
    shutil.copytree(synth_root / "synth", build / "synth")
    monkeypatch.setenv("STACKMATRIX_BUILD", str(build))
    path = build / "synth" / CELL / "cdk.tf.json"

    def edit(fn) -> Path:
        doc = json.loads(path.read_text())
        fn(doc["resource"])
        path.write_text(json.dumps(doc))
        return build
    return edit


def allure_steps(build: Path) -> list[dict]:
    for path in (build / "allure-results").glob("*-result.json"):
        data = json.loads(path.read_text())
        if data.get("name") == f"deployment {CELL}":
            return data["steps"]
    raise AssertionError("no Allure result for the cell")


def test_a_refused_argument_is_a_failed_configuration_step_and_nothing_is_created(variant, capsys):
    build = variant(lambda r: r["aws_vpc_endpoint"]["s3-endpoint"].update({"ip_address_type": "dualstack"}))
    assert main(["run", "--profile", "dev", "--bootstrap-backend"]) == 1
    out = capsys.readouterr().out
    assert f"FAILED   {CELL} — configuration: refused before any API call: aws_vpc_endpoint.s3-endpoint: " \
           "argument 'ip_address_type' is refused by the embedded engine" in out
    result = json.loads((build / "cells" / CELL / "result.json").read_text())
    assert [(s["name"], s["status"]) for s in result["steps"]] == [("configuration", "failed")]
    assert result["error"]["category"] == "PolicyViolation" and "--engine terraform" in result["error"]["message"]
    assert result["counters"]["mutating"].get("ec2", 0) == 0
    step = allure_steps(build)[0]
    assert step["name"] == "configuration" and step["status"] == "failed"
    assert "ip_address_type" in step["statusDetails"]["message"]


def test_a_read_back_mismatch_is_a_failed_apply_step_naming_the_argument(variant, capsys, monkeypatch):
    from matrix.engines.embedded.resources import HANDLERS

    handler = HANDLERS["aws_vpc_endpoint"]
    real = handler.create
    monkeypatch.setattr(handler, "create", lambda ctx, args: real(ctx, {**args, "policy": None}))  # a bug
    build = variant(lambda r: r["aws_vpc_endpoint"]["s3-endpoint"].update({"policy": DENY_ALL}))
    assert main(["run", "--profile", "dev", "--bootstrap-backend"]) == 1
    result = json.loads((build / "cells" / CELL / "result.json").read_text())
    apply = next(s for s in result["steps"] if s["name"] == "apply")
    assert apply["status"] == "failed" and result["status"] == "failed"
    assert result["error"]["category"] == "ProductDefect"
    assert "read-back after apply: AWS does not hold what was applied: aws_vpc_endpoint.s3-endpoint: policy: " \
           "wanted" in apply["message"]
    names = {a["name"]: a["path"] for a in apply["attachments"]}
    assert "MISMATCH aws_vpc_endpoint.s3-endpoint" in (build / "cells" / CELL / names["read-back"]).read_text()
    assert "-- read-back" in (build / "cells" / CELL / names["API calls"]).read_text()
    assert [s["name"] for s in result["steps"]][-2:] == ["destroy", "leak check"], "torn down all the same"
    assert result["leaks"] == []
    step = next(s for s in allure_steps(build) if s["name"] == "apply")
    assert step["status"] == "failed" and "policy: wanted" in step["statusDetails"]["message"]
    assert capsys.readouterr().out.count(CELL) >= 1
