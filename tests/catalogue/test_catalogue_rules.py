"""The catalogue's rules one by one, on values and on small hand-written Terraform JSON documents
(no construct ids of ours): every rule is documented, the schema data is read per region, graph
rules follow references, and clean inputs give nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from matrix.catalogue import RULES, Context, SynthDoc, check_argument, check_doc
from matrix.catalogue.mapping import TYPES
from matrix.catalogue.schema import constraints


def test_every_rule_is_documented():
    for rule in RULES.values():
        assert rule.id == rule.id.lower() and " " not in rule.id
        assert rule.severity in ("error", "warning")
        assert rule.title and rule.description and rule.fix
        assert rule.source.startswith(("https://", "cfn-lint")), rule.id
        assert (rule.aws_error is None) != (rule.breaks is None) or rule.aws_error is not None, rule.id


def test_the_table_maps_the_13_types_of_the_stack():
    from matrix.engines.embedded.resources import HANDLERS

    assert set(TYPES) == set(HANDLERS)
    for tm in TYPES.values():
        for argument, arg in tm.args.items():
            if arg.cfn and arg.kind == "value":
                from matrix.catalogue.schema import cfn_property

                assert cfn_property("us-east-1", arg.cfn_type or tm.cfn_type, arg.cfn) is not None, argument


@pytest.mark.parametrize("tf_type, argument, value, rule, code", [
    ("aws_flow_log", "max_aggregation_interval", 300, "flow-log-interval", "InvalidParameter"),
    ("aws_flow_log", "max_aggregation_interval", "300", "flow-log-interval", "InvalidParameter"),
    ("aws_flow_log", "traffic_type", "all", "schema-enum", "InvalidParameterValue"),
    ("aws_cloudwatch_log_group", "retention_in_days", 45, "schema-enum", "InvalidParameterException"),
    ("aws_cloudwatch_log_group", "name", "bad name", "schema-pattern", "InvalidParameterException"),
    ("aws_iam_role", "name", "r" * 65, "schema-length", "ValidationError"),
    ("aws_iam_role", "max_session_duration", 43201, "schema-range", "ValidationError"),
    ("aws_eip", "domain", "VPC", "schema-enum", "InvalidParameterValue"),
    ("aws_vpc", "cidr_block", "10.0.0.0/8", "vpc-cidr-range", "InvalidVpc.Range"),
    ("aws_vpc", "cidr_block", "10.0.0.1/16", "schema-format", "InvalidParameterValue"),
    ("aws_subnet", "cidr_block", "10.0.0.0/29", "subnet-cidr-range", "InvalidSubnet.Range"),
    ("aws_subnet", "vpc_id", "vpc-12", "schema-format", "InvalidVpcID.Malformed"),
    ("aws_subnet", "availability_zone", "eu-west-1a", "subnet-az-in-region", "InvalidParameterValue"),
    ("aws_vpc_endpoint", "service_name", "com.amazonaws.us-east-1.s4", "vpc-endpoint-service", "InvalidServiceName"),
    ("aws_vpc_endpoint", "dns_options.dns_record_ip_type", "ipv5", "schema-enum", "InvalidParameterValue"),
    ("aws_vpc", "tags", {f"K{i}": "v" for i in range(51)}, "tag-count", "TagLimitExceeded"),
    ("aws_vpc", "tags", {"aws:x": "v"}, "tag-reserved-prefix", "InvalidParameterValue"),
    ("aws_iam_role", "tags", {"aws:x": "v"}, "tag-reserved-prefix", "InvalidInput"),
    ("aws_iam_role", "assume_role_policy", json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "vpc-flow-log.amazonaws.com"}, "Action": "sts:AssumeRole"}]}),
     "iam-service-principal", "MalformedPolicyDocument"),
    ("aws_iam_role_policy", "policy", json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "PutLogEvents", "Resource": "*"}]}), "iam-policy-grammar",
     "MalformedPolicyDocument"),
])
def test_check_argument_names_the_rule_and_awss_answer(tf_type, argument, value, rule, code):
    found = check_argument(tf_type, argument, value, "us-east-1", f"{tf_type}.x")
    mine = [f for f in found if f.rule.id == rule]
    assert mine, [f.line() for f in found]
    f = mine[0]
    assert f.aws_error is not None and f.aws_error.code == code and f.aws_error.status in (400, 409)
    line = f.line()
    assert line.startswith(f"{rule}: {tf_type}.x: ") and f"AWS would answer {code}" in line and "Fix: " in line
    assert f.source


@pytest.mark.parametrize("tf_type, argument, value", [
    ("aws_flow_log", "max_aggregation_interval", 60), ("aws_flow_log", "max_aggregation_interval", 600),
    ("aws_cloudwatch_log_group", "retention_in_days", 14),
    ("aws_cloudwatch_log_group", "log_group_class", "ESSENTIALS"),
    ("aws_vpc", "cidr_block", "10.0.0.0/16"), ("aws_vpc", "cidr_block", "${var.cidr}"),
    ("aws_subnet", "availability_zone", "us-east-1a"), ("aws_eip", "domain", "vpc"),
    ("aws_vpc_endpoint", "service_name", "com.amazonaws.us-east-1.s3"),
    ("aws_iam_role", "name", "stackmatrix-flowlogs-us-east-1-dev"), ("aws_vpc", "tags", {"Name": "x"}),
    ("aws_iam_role", "max_session_duration", 3600), ("aws_nat_gateway", "connectivity_type", "public"),
])
def test_check_argument_accepts_what_aws_accepts(tf_type, argument, value):
    assert check_argument(tf_type, argument, value, "us-east-1") == []


def test_schema_is_read_per_region_and_api_enum_wins():
    tm = TYPES["aws_cloudwatch_log_group"]
    cons = constraints(tm, tm.args["log_group_class"], "eu-west-1", [])
    enums = [c for c in cons if c.keyword == "enum"]
    assert len(enums) == 1 and "ESSENTIALS" in enums[0].bound and enums[0].source.startswith("botocore")
    retention = constraints(tm, tm.args["retention_in_days"], "ap-northeast-1", [])
    assert any("(ap-northeast-1)" in c.source for c in retention)


def _doc(tmp_path: Path, resources: dict, region: str = "eu-west-1") -> SynthDoc:
    data = {"provider": {"aws": [{"region": region}]}, "resource": resources}
    path = tmp_path / "cdk.tf.json"
    path.write_text(json.dumps(data))
    return SynthDoc.load(path, Context(region=region))


def _network(nat_subnet: str = "${aws_subnet.a.id}", igw_vpc: str | None = "${aws_vpc.v.id}") -> dict:
    igw = {"vpc_id": igw_vpc} if igw_vpc else {}
    return {
        "aws_vpc": {"v": {"cidr_block": "10.1.0.0/16", "enable_dns_hostnames": True}},
        "aws_internet_gateway": {"g": igw},
        "aws_subnet": {"a": {"vpc_id": "${aws_vpc.v.id}", "cidr_block": "10.1.0.0/24", "availability_zone": "z1"},
                       "b": {"vpc_id": "${aws_vpc.v.id}", "cidr_block": "10.1.1.0/24", "availability_zone": "z1"}},
        "aws_route_table": {"pub": {"vpc_id": "${aws_vpc.v.id}", "route": [
                                        {"cidr_block": "0.0.0.0/0", "gateway_id": "${aws_internet_gateway.g.id}"}]},
                            "priv": {"vpc_id": "${aws_vpc.v.id}"}},
        "aws_route": {"r": {"route_table_id": "${aws_route_table.priv.id}", "destination_cidr_block": "0.0.0.0/0",
                            "nat_gateway_id": "${aws_nat_gateway.n.id}"}},
        "aws_route_table_association": {
            "x": {"subnet_id": "${aws_subnet.a.id}", "route_table_id": "${aws_route_table.pub.id}"},
            "y": {"subnet_id": "${aws_subnet.b.id}", "route_table_id": "${aws_route_table.priv.id}"}},
        "aws_nat_gateway": {"n": {"subnet_id": nat_subnet, "allocation_id": "${aws_eip.e.id}"}},
        "aws_eip": {"e": {"domain": "vpc"}},
    }


NETWORK_RULES = ["nat-in-public-subnet", "private-route-own-az-nat", "route-gateway-same-vpc",
                 "subnet-cidr-in-vpc", "subnet-cidr-overlap", "subnets-per-az"]


def test_network_graph_rules_on_a_users_stack(tmp_path):
    assert check_doc(_doc(tmp_path, _network()), only=NETWORK_RULES) == []
    nat_private = check_doc(_doc(tmp_path, _network(nat_subnet="${aws_subnet.b.id}")), only=NETWORK_RULES)
    assert [f.rule.id for f in nat_private if f.rule.id == "nat-in-public-subnet"] == ["nat-in-public-subnet"]
    assert "aws_subnet.b is not public" in nat_private[0].line() and "AWS accepts it, then" in nat_private[0].line()
    detached = check_doc(_doc(tmp_path, _network(igw_vpc=None)), only=NETWORK_RULES)
    rules = {f.rule.id for f in detached}
    assert "route-gateway-same-vpc" in rules and "nat-in-public-subnet" in rules  # no IGW: nothing is public


def test_subnet_cidr_rules_and_map_public_ip_alone_is_not_public(tmp_path):
    net = _network()
    net["aws_subnet"]["b"]["cidr_block"] = "10.1.0.128/25"  # inside a
    net["aws_subnet"]["a"]["map_public_ip_on_launch"] = True
    found = {f.rule.id for f in check_doc(_doc(tmp_path, net), only=NETWORK_RULES)}
    assert "subnet-cidr-overlap" in found
    net = _network()
    net["aws_subnet"]["b"]["cidr_block"] = "10.2.0.0/24"
    net["aws_subnet"]["b"]["map_public_ip_on_launch"] = True  # still private: its table routes to the NAT
    found = [f for f in check_doc(_doc(tmp_path, net), only=NETWORK_RULES)]
    assert [f.rule.id for f in found] == ["subnet-cidr-in-vpc"]


def _flow_log_stack(trust_service: str, actions: list[str], resources: list[str]) -> dict:
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                     "Principal": {"Service": trust_service}}]}
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": resources}]}
    return {
        "aws_cloudwatch_log_group": {"lg": {"name": "/x/flow"}},
        "aws_iam_role": {"role": {"name": "r", "assume_role_policy": json.dumps(trust)}},
        "aws_iam_role_policy": {"p": {"role": "${aws_iam_role.role.id}", "policy": json.dumps(policy)}},
        "aws_flow_log": {"f": {"vpc_id": "vpc-0123456789abcdef0", "traffic_type": "ALL",
                               "iam_role_arn": "${aws_iam_role.role.arn}",
                               "log_destination": "${aws_cloudwatch_log_group.lg.arn}"}},
    }


ROLE_RULES = ["flow-log-role-trust", "flow-log-role-permissions", "flow-log-destination"]
LG = "${aws_cloudwatch_log_group.lg.arn}"


@pytest.mark.parametrize("service, actions, resources, expected", [
    ("vpc-flow-logs.amazonaws.com", ["logs:CreateLogStream", "logs:PutLogEvents"], [LG, LG + ":*"], []),
    ("vpc-flow-logs.amazonaws.com", ["logs:*"], ["*"], []),
    ("vpc-flow-logs.amazonaws.com", ["logs:Create*", "logs:Put*"], ["arn:*:logs:*:*:log-group:*"], []),
    ("vpc-flow-logs.amazonaws.com", ["logs:CreateLogStream", "logs:PutLogEvents"],
     ["arn:aws:logs:*:*:log-group:/other", "arn:aws:logs:*:*:log-group:/other:*"], ["flow-log-role-permissions"]),
    ("vpc-flow-logs.amazonaws.com", ["logs:CreateLogStream", "logs:PutLogEvents"],
     ["arn:aws:logs:*:123456789012:log-group:/other:*"], []),  # an account id: unknown at synth, not judged
    ("ec2.amazonaws.com", ["logs:CreateLogStream", "logs:PutLogEvents"], [LG, LG + ":*"], ["flow-log-role-trust"]),
    ("vpc-flow-logs.amazonaws.com", ["logs:CreateLogStream"], [LG, LG + ":*"], ["flow-log-role-permissions"]),
    ("vpc-flow-logs.amazonaws.com", ["logs:CreateLogStream", "logs:PutLogEvents"], [LG],
     ["flow-log-role-permissions"]),
])
def test_flow_log_role_trust_and_permissions(tmp_path, service, actions, resources, expected):
    found = check_doc(_doc(tmp_path, _flow_log_stack(service, actions, resources)), only=ROLE_RULES)
    assert [f.rule.id for f in found] == expected, [f.line() for f in found]


def test_a_managed_policy_is_not_judged(tmp_path):
    stack = _flow_log_stack("vpc-flow-logs.amazonaws.com", ["logs:CreateLogStream"], [LG])
    stack["aws_iam_role_policy_attachment"] = {"m": {"role": "${aws_iam_role.role.name}",
                                                     "policy_arn": "arn:aws:iam::aws:policy/CloudWatchLogsFullAccess"}}
    assert check_doc(_doc(tmp_path, stack), only=ROLE_RULES) == []


def test_the_checked_in_service_principals_are_what_the_pinned_botocore_gives():
    """principals.json spares every strict front and trust-policy check loading ~450 service models."""
    import json

    import botocore

    from matrix.catalogue import principals

    data = json.loads(principals.DATA.read_text())
    assert data["botocore"] == botocore.__version__, "regenerate: python -m matrix.catalogue.principals"
    assert data["names"] == principals.from_models()
    assert {"ec2", "logs", "iam", "sts"} <= principals.service_names()
