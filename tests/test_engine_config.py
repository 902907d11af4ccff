"""The engine refuses what it cannot apply before the first API call, naming address and cause."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from matrix.engines.embedded.config import ConfigError, load_config


def _write(tmp_path: Path, doc: dict) -> Path:
    path = tmp_path / "cdk.tf.json"
    path.write_text(json.dumps(doc))
    return path


def _mutated(dev_synth: Path, tmp_path: Path, mutate) -> Path:
    doc = json.loads(dev_synth.read_text())
    mutate(doc)
    return _write(tmp_path, doc)


def test_the_synthesized_stack_loads_in_dependency_order(dev_synth):
    cfg = load_config(dev_synth)
    order = cfg.order
    assert len(cfg.managed()) == 33 and len(cfg.data()) == 2
    assert order.index("aws_vpc.vpc") < order.index("aws_subnet.public-subnet-0")
    assert order.index("aws_internet_gateway.igw") < order.index("aws_nat_gateway.nat-0")  # depends_on
    assert order.index("aws_eip.nat-eip-0") < order.index("aws_nat_gateway.nat-0")
    assert order.index("aws_route_table.private-rt-2") < order.index("aws_vpc_endpoint.s3-endpoint")
    assert cfg.backend.use_lockfile and cfg.backend.encrypt and cfg.region == "us-east-1"
    assert cfg.default_tags["RunId"] == "${var.run_id}"


@pytest.mark.parametrize("mutate, needle", [
    (lambda d: d["resource"].setdefault("aws_instance", {}).update({"web": {"ami": "ami-1"}}),
     "aws_instance.web: resource type 'aws_instance' is not supported"),
    (lambda d: d["resource"]["aws_subnet"]["public-subnet-0"].update(
        {"cidr_block": "${cidrhost(aws_vpc.vpc.cidr_block, 4)}"}),
     "aws_subnet.public-subnet-0: function cidrhost() is not supported"),
    (lambda d: d["resource"]["aws_subnet"]["public-subnet-0"].update({"vpc_id": "${aws_vpc.other.id}"}),
     "refers to aws_vpc.other, which is not in the configuration"),
    (lambda d: d["resource"]["aws_subnet"]["public-subnet-0"].update({"vpc_id": "${aws_vpc.vpc.no_such}"}),
     "reads attribute 'no_such'"),
    (lambda d: d["resource"]["aws_vpc"]["vpc"].update({"count": 2}), "meta-argument 'count'"),
    (lambda d: d["resource"]["aws_vpc"]["vpc"].update({"depends_on": ["aws_subnet.public-subnet-0"]}),
     "dependency cycle"),
    (lambda d: d["data"].setdefault("aws_ami", {}).update({"x": {}}), "data source type 'aws_ami'"),
    (lambda d: d["resource"]["aws_vpc"]["vpc"].update({"tags": {"Run": "${var.nope}"}}), "undeclared variable"),
])
def test_unsupported_input_fails_before_any_call(dev_synth, tmp_path, mutate, needle):
    path = _mutated(dev_synth, tmp_path, mutate)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert needle in str(err.value)


def test_engine_construction_makes_no_api_call(dev_synth, tmp_path, clients):
    from matrix.engines.embedded.engine import EmbeddedEngine

    path = _mutated(dev_synth, tmp_path, lambda d: d["resource"].setdefault("aws_lambda_function", {}).update(
        {"f": {"function_name": "x"}}))
    with pytest.raises(ConfigError, match=r"aws_lambda_function\.f"):
        EmbeddedEngine("c", path, clients, tmp_path / "state")
    assert clients.counters.total("calls") == 0
