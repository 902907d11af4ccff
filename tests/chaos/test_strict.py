"""The strict emulator in front of a real moto server: every strict rule refused with AWS's code, status
and message (and its source) to botocore and to the AWS CLI; parameters read per protocol; valid calls
untouched; `python -m matrix proxy --strict`; a fault proxy chained in front of it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from conftest import make_client

from matrix.chaos import catalog
from matrix.chaos.protocol import classify, parse_params
from matrix.chaos.proxy import FaultProxy
from matrix.chaos.strict import StrictChecker, table
from tests.strict_cases import (
    CASES,
    MODEL_ONLY,
    assert_cli_refused,
    assert_refused,
    botocore_call,
    cli_call,
    strict_rule_ids,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def strict(moto_url):
    with FaultProxy(moto_url, strict=True) as proxy:
        yield proxy


def stats(url: str) -> dict:
    with urllib.request.urlopen(f"{url}/_stackmatrix/stats", timeout=5) as resp:  # noqa: S310 - loopback
        return json.loads(resp.read())


def test_every_strict_rule_has_a_case():
    assert {c.rule for c in CASES} == strict_rule_ids()


@pytest.mark.parametrize("case", [*CASES, MODEL_ONLY], ids=lambda c: f"{c.rule}-{c.method}")
def test_botocore_gets_the_aws_error(strict, case):
    assert_refused(case, *botocore_call(case, strict.url, "123456789012"))


@pytest.mark.parametrize("case", [*CASES, MODEL_ONLY], ids=lambda c: f"{c.rule}-{c.method}")
def test_the_aws_cli_gets_the_aws_error(strict, case):
    assert_cli_refused(case, cli_call(case, strict.url, "123456789012"))


def test_refusals_are_counted_logged_and_marked(strict):
    before = stats(strict.url)["strict"]["refused"]
    case = CASES[0]
    client = make_client(case.service, strict.url, attempts=1)
    with pytest.raises(client.exceptions.InvalidParameterException) as caught:
        getattr(client, case.method)(**case.kwargs)
    headers = caught.value.response["ResponseMetadata"]["HTTPHeaders"]
    assert headers["x-stackmatrix-strict"] == case.rule
    after = stats(strict.url)["strict"]
    assert after["refused"] == before + 1 and after["errors"] == 0
    events = [e for e in strict.fault_log.events() if e["effect"] == "refuse"]
    assert events[-1]["rule"] == case.rule and events[-1]["operation"] == "PutRetentionPolicy"


def test_valid_calls_pass_and_reach_the_emulator(strict):
    ec2 = make_client("ec2", strict.url, attempts=1)
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16", TagSpecifications=[
        {"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": "strict-ok"}, {"Key": "EnvironmentSuffix",
                                                                                 "Value": "dev"}]}])["Vpc"]
    subnet = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.9.1.0/24", AvailabilityZone="us-east-1a")
    ec2.create_tags(Resources=[subnet["Subnet"]["SubnetId"]], Tags=[{"Key": "Tier", "Value": "private"}])
    logs = make_client("logs", strict.url, attempts=1)
    logs.create_log_group(logGroupName="/strict/ok", tags={"Name": "ok"})
    logs.put_retention_policy(logGroupName="/strict/ok", retentionInDays=30)
    iam = make_client("iam", strict.url, attempts=1)
    role = iam.create_role(RoleName="strict-ok", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                               "Principal": {"Service": "vpc-flow-logs.amazonaws.com"}}]}))
    assert role["Role"]["RoleName"] == "strict-ok"
    assert ec2.describe_vpcs(VpcIds=[vpc["VpcId"]])["Vpcs"][0]["CidrBlock"] == "10.9.0.0/16"


def test_only_the_judged_calls_have_their_bodies_parsed(moto_url):
    seen = []

    class Counting(StrictChecker):
        def judge(self, info, target, headers, body):
            seen.append(info.operation)
            return super().judge(info, target, headers, body)

    with FaultProxy(moto_url, strict=Counting()) as proxy:
        ec2 = make_client("ec2", proxy.url, attempts=1)
        ec2.describe_vpcs()
        ec2.create_vpc(CidrBlock="10.8.0.0/16")
        make_client("sts", proxy.url, attempts=1).get_caller_identity()
    assert seen == ["CreateVpc"]


def _request(service: str, method: str, **kwargs):
    """The wire form botocore sends for a call (request-target, headers, body), signed."""
    client = make_client(service, "http://127.0.0.1:9", attempts=1)
    captured = {}

    def grab(request, **_):
        captured["request"] = request
        raise RuntimeError("captured")

    client.meta.events.register("before-send", grab)
    with pytest.raises(RuntimeError, match="captured"):
        getattr(client, method)(**kwargs)
    request = captured["request"]
    target = request.url.split("127.0.0.1:9", 1)[1] or "/"
    headers = {k.lower(): v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()}
    body = request.body if isinstance(request.body, bytes) else (request.body or "").encode()
    return target, headers, body


@pytest.mark.parametrize("service, method, kwargs", [
    ("ec2", "create_vpc", {"CidrBlock": "10.0.0.0/16", "InstanceTenancy": "default", "TagSpecifications": [
        {"ResourceType": "vpc", "Tags": [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": ""}]}]}),
    ("ec2", "create_flow_logs", {"ResourceIds": ["vpc-1", "vpc-2"], "ResourceType": "VPC", "TrafficType": "ALL",
                                 "MaxAggregationInterval": 60, "LogDestination": "arn:aws:logs:x"}),
    ("ec2", "modify_vpc_attribute", {"VpcId": "vpc-1", "EnableDnsHostnames": {"Value": True}}),
    ("iam", "create_role", {"RoleName": "r", "AssumeRolePolicyDocument": '{"a": "b&c=d"}', "MaxSessionDuration": 3600,
                            "Tags": [{"Key": "k", "Value": "v"}, {"Key": "k2", "Value": "v2"}]}),
    ("logs", "create_log_group", {"logGroupName": "g", "tags": {"a": "b"}}),
    ("s3", "create_bucket", {"Bucket": "my-bucket", "CreateBucketConfiguration": {"LocationConstraint": "eu-west-1"}}),
])
def test_parameters_read_back_as_botocore_wrote_them(service, method, kwargs):
    target, headers, body = _request(service, method, **kwargs)
    info = classify("PUT" if service == "s3" else "POST", target, headers, body)
    operation = catalog.service_model(service).operation_model(info.operation)
    params = parse_params(info, target, headers, body, operation.input_shape)
    assert params == kwargs


def test_the_table_reads_the_catalogues_mapping():
    from matrix.catalogue.mapping import TYPES

    rows = table()
    created = {(tm.service, tm.operation) for tm in TYPES.values()}
    assert created <= set(rows)  # every create call of the 13 types is judged
    flow = {p.path: (p.type_for({}), p.argument) for p in rows[("ec2", "CreateFlowLogs")]}
    assert flow["MaxAggregationInterval"] == ("aws_flow_log", "max_aggregation_interval")
    assert "ResourceIds" not in flow  # vpc_id, subnet_id or eni_id: ambiguous, never judged as one of them
    route = {p.path: p.type_for({}) for p in rows[("ec2", "CreateRoute")]}
    assert route["DestinationCidrBlock"] == "aws_route"
    tags = rows[("ec2", "CreateTags")][0]
    assert tags.type_for({"Resources": ["subnet-0abc"]}) == "aws_subnet"
    assert tags.type_for({"Resources": ["subnet-0abc", "vpc-0abc"]}) is None


def test_a_fault_proxy_chains_in_front_of_the_strict_one(strict, fault_log):
    rules = [{"service": "ec2", "effect": "latency", "latency_ms": 1}]
    with FaultProxy(strict.url, rules, fault_log=fault_log) as chaos:
        case = next(c for c in CASES if c.rule == "vpc-cidr-range")
        assert_refused(case, *botocore_call(case, chaos.url, "123456789012"))
        ok = make_client("ec2", chaos.url, attempts=1).create_vpc(CidrBlock="10.7.0.0/16")
    assert ok["Vpc"]["CidrBlock"] == "10.7.0.0/16"
    assert fault_log.summary()["by_effect"] == {"latency": 2}


def test_faults_are_drawn_first_then_the_call_is_judged(moto_url, fault_log):
    """One proxy with rules and strict mode (`proxy --rules FILE --strict`): a throttled call never
    reaches the judge; a delayed one is judged after its delay."""
    rules = [{"service": "ec2", "operation": "CreateVpc", "effect": "throttle", "max_count": 1},
             {"service": "ec2", "effect": "latency", "latency_ms": 1}]
    with FaultProxy(moto_url, rules, fault_log=fault_log, strict=True) as proxy:
        case = next(c for c in CASES if c.rule == "vpc-cidr-range")
        throttled = botocore_call(case, proxy.url, "123456789012")
        assert throttled[:2] == ("RequestLimitExceeded", 503)
        assert_refused(case, *botocore_call(case, proxy.url, "123456789012"))
    assert [e["effect"] for e in fault_log.events()] == ["throttle", "latency", "refuse"]


def test_proxy_command_strict(moto_url, tmp_path):
    log = tmp_path / "strict.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "matrix", "proxy", "--upstream", moto_url, "--strict",
                             "--log", str(log)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        case = next(c for c in CASES if c.rule == "tag-reserved-prefix")
        assert_cli_refused(case, cli_call(case, url, "123456789012"))
        assert stats(url)["by_client"] == {"aws-cli": 1}
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "strict: 1 call(s) judged, 1 refused" in err
    assert json.loads(log.read_text().splitlines()[0])["rule"] == "tag-reserved-prefix"


def test_a_front_whose_emulator_died_exits_by_itself():
    """`--exit-with-upstream`: the strict fronts the targets start do not outlive a killed emulator."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    proc = subprocess.Popen([sys.executable, "-m", "matrix", "proxy", "--upstream", f"http://{host}:{port}",
                             "--strict", "--exit-with-upstream", "1"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().startswith("http://127.0.0.1:")
        server.stop()
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0 and "refused connections for 1 s: it is gone; exiting" in err, err
