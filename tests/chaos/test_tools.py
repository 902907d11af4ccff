"""Real tools through the proxy (the AWS CLI, terraform's S3 backend, `python -m matrix proxy`), and the
other backends: client-side hooks, the FIS template, the LocalStack Chaos API client."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import botocore.exceptions
import botocore.validate
import pytest
from conftest import make_client

from matrix.chaos import catalog
from matrix.chaos.faultlog import FaultLog, read_fault_log
from matrix.chaos.fis import THROTTLE, WAIT, fis_template
from matrix.chaos.hooks import FaultHooks
from matrix.chaos.localstack_api import FAULTS_PATH, LocalStackChaos, to_localstack
from matrix.chaos.rules import parse_rules, rule
from matrix.errors import UsageError

ROOT = Path(__file__).resolve().parents[2]
AWS_CLI = Path(sys.executable).parent / "aws"
TOOL_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
            "TF_CLI_CONFIG_FILE": "/dev/null", "TF_IN_AUTOMATION": "1", "AWS_EC2_METADATA_DISABLED": "true"}


# -- the AWS CLI ---------------------------------------------------------------------------------------

@pytest.mark.skipif(not AWS_CLI.exists(), reason=f"the AWS CLI is not installed next to {sys.executable}")
@pytest.mark.parametrize(("args", "code"), [
    (["ec2", "describe-vpcs"], "RequestLimitExceeded"),
    (["iam", "list-roles"], "Throttling"),
    (["s3api", "list-buckets"], "SlowDown"),
    (["dynamodb", "list-tables"], "ThrottlingException"),
    (["logs", "describe-log-groups"], "ThrottlingException"),
])
def test_the_aws_cli_prints_the_injected_code(proxy, args, code):
    proxy.set_rules([rule(effect="throttle")])
    env = {**os.environ, **TOOL_ENV, "AWS_MAX_ATTEMPTS": "1", "AWS_RETRY_MODE": "standard"}
    r = subprocess.run([str(AWS_CLI), *args, "--endpoint-url", proxy.url], env=env, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode != 0
    assert f"({code})" in r.stderr, r.stderr


# -- terraform's S3 backend ----------------------------------------------------------------------------

BACKEND = """
terraform {{
  backend "s3" {{
    bucket = "{bucket}"
    key    = "cells/us-east-1-dev/terraform.tfstate"
    region = "us-east-1"
    endpoints = {{
      s3       = "{url}"
      sts      = "{url}"
      iam      = "{url}"
      dynamodb = "{url}"
    }}
    use_path_style              = true
    use_lockfile                = true
    skip_credentials_validation = true
    skip_requesting_account_id  = true
    skip_metadata_api_check     = true
    skip_region_validation      = true
    access_key                  = "testing"
    secret_key                  = "testing"
  }}
}}

output "cell" {{
  value = "us-east-1-dev"
}}
"""


@pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not on PATH")
def test_terraform_s3_backend_sees_slowdown_and_retries(proxy, fault_log, moto_url, tmp_path):
    bucket = "tf-state-chaos-test"
    make_client("s3", moto_url).create_bucket(Bucket=bucket)
    proxy.set_rules([rule(name="slowdown-first-2", service="s3", effect="throttle", first=2)])
    (tmp_path / "main.tf").write_text(BACKEND.format(bucket=bucket, url=proxy.url))
    env = {**os.environ, **TOOL_ENV}
    for cmd in (["init", "-input=false", "-no-color"], ["apply", "-auto-approve", "-input=false", "-no-color"]):
        r = subprocess.run(["terraform", *cmd], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
    events = fault_log.events()
    assert [(e["service"], e["code"], e["status"], e["rule"]) for e in events] == \
        [("s3", "SlowDown", 503, "slowdown-first-2")] * 2
    state = make_client("s3", moto_url).get_object(Bucket=bucket, Key="cells/us-east-1-dev/terraform.tfstate")
    doc = json.loads(state["Body"].read())
    assert doc["version"] == 4 and doc["outputs"]["cell"]["value"] == "us-east-1-dev"


# -- python -m matrix proxy ------------------------------------------------------------------------------

def _proxy_cmd() -> list[str]:
    wired = "add_proxy_parser" in (ROOT / "matrix" / "__main__.py").read_text()
    return [sys.executable, "-m", "matrix" if wired else "matrix.chaos.cli", "proxy"]


def test_proxy_command_prints_its_url_serves_and_stops_on_sigterm(moto_url, tmp_path):
    rules = tmp_path / "rules.toml"
    rules.write_text('seed = 1\n[[rules]]\nname = "t"\nservice = "sts"\neffect = "throttle"\nfirst = 1\n')
    log = tmp_path / "faults.jsonl"
    proc = subprocess.Popen([*_proxy_cmd(), "--upstream", moto_url, "--rules", str(rules), "--log", str(log),
                             "--cell", "cli"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url), url
        resp = make_client("sts", url, attempts=3).get_caller_identity()
        assert resp["ResponseMetadata"]["RetryAttempts"] == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "1 fault(s)" in err
    (event,) = read_fault_log(log)
    assert (event["cell"], event["service"], event["code"]) == ("cli", "sts", "Throttling")


@pytest.mark.parametrize(("content", "args", "words"), [
    ('[{"service": "ec2", "effect": "throttle", "probability": 2}]', [], ["probability", "2"]),
    ('[{"service": "nosuch", "effect": "throttle"}]', [], ["service", "'nosuch'"]),
    ('[{"service": "ec2", "effect": "throttle",]', [], ["line 1", "invalid JSON"]),
    ("[]", ["--upstream", "localhost:5000"], ["--upstream"]),
])
def test_proxy_command_bad_input_exits_2(tmp_path, content, args, words):
    rules = tmp_path / "rules.json"
    rules.write_text(content)
    r = subprocess.run([*_proxy_cmd(), "--upstream", "http://127.0.0.1:9", "--rules", str(rules), *args], cwd=ROOT,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, r.stderr
    assert r.stdout == ""
    for w in words:
        assert w in r.stderr, r.stderr


# -- client-side hooks (real AWS has no proxy in the way) --------------------------------------------------

def test_hooks_throttle_a_boto3_client_which_retries_and_succeeds(moto_url):
    log = FaultLog()
    hooks = FaultHooks([rule(service="ec2", mutating=True, effect="throttle", first=1),
                        rule(service="dynamodb", effect="error", code="InternalServerError")],
                       fault_log=log, cell="aws")
    ec2 = hooks.install(make_client("ec2", moto_url, attempts=3))
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")
    assert vpc["ResponseMetadata"]["RetryAttempts"] == 1
    assert ec2.describe_vpcs(VpcIds=[vpc["Vpc"]["VpcId"]])["ResponseMetadata"]["RetryAttempts"] == 0
    ddb = hooks.install(make_client("dynamodb", moto_url, attempts=1))
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        ddb.list_tables()
    assert exc.value.response["Error"]["Code"] == "InternalServerError"
    assert isinstance(exc.value, ddb.exceptions.InternalServerError)
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert [(e["source"], e["service"], e["operation"], e["region"]) for e in log.events()] == \
        [("hook", "ec2", "CreateVpc", "us-east-1"), ("hook", "dynamodb", "ListTables", "us-east-1")]
    hooks.uninstall(ddb)
    assert "TableNames" in ddb.list_tables()


def test_hooks_reset_latency_and_session_install(moto_url):
    hooks = FaultHooks([rule(service="logs", effect="reset", first=1), rule(service="sts", effect="latency",
                                                                           latency_ms=120)])
    logs = hooks.install(make_client("logs", moto_url, attempts=2))
    assert logs.describe_log_groups()["ResponseMetadata"]["RetryAttempts"] == 1
    import boto3

    session = hooks.install_session(boto3.session.Session())
    sts = session.client("sts", endpoint_url=moto_url, region_name="us-east-1", aws_access_key_id="testing",
                         aws_secret_access_key="testing")
    import time

    t = time.perf_counter()
    sts.get_caller_identity()
    assert time.perf_counter() - t >= 0.12
    assert hooks.fault_log.counts(by=("effect",)) == {("reset",): 1, ("latency",): 1}


# -- FIS -------------------------------------------------------------------------------------------------

def test_fis_template_is_valid_for_create_experiment_template():
    rules = parse_rules([
        rule(name="throttle-ec2-writes", service="ec2", mutating=True, probability=0.3, duration="PT20M",
             effect="throttle"),
        rule(name="later", service="ec2", operation=["CreateVpc", "CreateSubnet"], start_after="2m", effect="throttle"),
        rule(name="s3", service="s3", effect="throttle"),
        rule(name="slow", effect="latency", latency_ms=200),
    ])
    out = fis_template(rules, target_role_arns=["arn:aws:iam::123456789012:role/deployer"],
                       experiment_role_arn="arn:aws:iam::123456789012:role/fis-experiment")
    doc = json.loads(out.to_json())
    throttles = {k: a for k, a in doc["actions"].items() if a["actionId"] == THROTTLE}
    assert len(throttles) >= 3  # the mutating EC2 operations exceed 1,024 characters: split
    for a in throttles.values():
        p = a["parameters"]
        assert p["service"] == "ec2" and len(p["operations"]) <= 1024 and " " not in p["operations"]
        assert set(p["operations"].split(",")) <= catalog.operation_names("ec2")
        assert a["targets"] == {"Roles": "Roles"}
    writes = [a for k, a in throttles.items() if k.startswith("throttle-ec2-writes")]
    ops = {op for a in writes for op in a["parameters"]["operations"].split(",")}
    assert {"CreateVpc", "DeleteSubnet", "ModifyVpcAttribute"} <= ops and "DescribeVpcs" not in ops
    assert {a["parameters"]["percentage"] for a in writes} == {"30"}
    assert {a["parameters"]["duration"] for a in writes} == {"PT20M"}
    assert doc["actions"]["later"]["startAfter"] == ["wait-later"]
    assert doc["actions"]["wait-later"] == {"actionId": WAIT, "description": "start later later",
                                           "parameters": {"duration": "PT2M"}}
    assert doc["targets"]["Roles"]["resourceType"] == "aws:iam:role"
    assert any("s3" in s for s in out.skipped) and any("latency" in s for s in out.skipped)
    # valid input for the real API, checked against botocore's FIS model
    model = catalog.service_model("fis").operation_model("CreateExperimentTemplate")
    botocore.validate.validate_parameters({**doc, "clientToken": "t"}, model.input_shape)
    # and our own loader reads it back as rules
    assert {r.name for r in parse_rules(doc)} == set(throttles)


def test_fis_template_bad_input():
    with pytest.raises(UsageError, match="role ARN"):
        fis_template([rule(service="ec2", effect="throttle")], target_role_arns=["deployer"],
                     experiment_role_arn="arn:aws:iam::123456789012:role/fis")
    with pytest.raises(UsageError, match="no rule can be expressed"):
        fis_template([rule(service="s3", effect="throttle")], target_role_arns=["arn:aws:iam::123456789012:role/d"],
                     experiment_role_arn="arn:aws:iam::123456789012:role/fis")


# -- LocalStack Chaos API --------------------------------------------------------------------------------

class _ChaosStub(BaseHTTPRequestHandler):
    """What LocalStack Enterprise answers at /_localstack/chaos/* (POST replaces, PATCH appends, DELETE removes)."""

    faults: list = []
    effects: dict = {}

    def _reply(self, body) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self):
        return json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"null")

    def do_GET(self):
        self._reply(type(self).faults if self.path == FAULTS_PATH else type(self).effects)

    def do_POST(self):
        if self.path == FAULTS_PATH:
            type(self).faults = self._body()
            self._reply(type(self).faults)
        else:
            type(self).effects = self._body()
            self._reply(type(self).effects)

    def do_PATCH(self):
        type(self).faults = type(self).faults + self._body()
        self._reply(type(self).faults)

    def do_DELETE(self):
        gone = self._body()
        type(self).faults = [f for f in type(self).faults if f not in gone]
        self._reply(type(self).faults)

    def log_message(self, *args):
        pass


def test_localstack_chaos_api_round_trip_and_404_detection(moto_url):
    community = LocalStackChaos(moto_url)  # answers 404 there, as community LocalStack does
    assert not community.available()
    with pytest.raises(UsageError, match=r"HTTP 404.*no Chaos API.*Enterprise.*--chaos-backend proxy"):
        community.require()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ChaosStub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        api = LocalStackChaos(f"http://127.0.0.1:{server.server_address[1]}")
        assert api.available()
        api.require()
        held = api.set_faults(parse_rules([
            {"service": "s3", "operation": "PutObject", "region": "us-east-1", "probability": 0.5,
             "error": {"statusCode": 503, "code": "SlowDown"}},
            {"effect": "latency", "latency_ms": 200},
        ]))
        assert held == [{"service": "s3", "operation": "PutObject", "region": "us-east-1", "probability": 0.5,
                         "error": {"statusCode": 503, "code": "SlowDown"}}]
        assert _ChaosStub.effects == {"latency": 200}
        api.add_faults([rule(service="ec2", operation="CreateVpc", effect="throttle")])
        assert api.faults()[-1] == {"service": "ec2", "operation": "CreateVpc",
                                    "error": {"statusCode": 503, "code": "RequestLimitExceeded"}}
        api.remove_faults([rule(service="ec2", operation="CreateVpc", effect="throttle")])
        assert len(api.faults()) == 1
        api.clear()
        assert api.faults() == [] and _ChaosStub.effects == {"latency": 0}
    finally:
        server.shutdown()


def test_localstack_translation_limits():
    faults, _ = to_localstack([rule(service="s3", mutating=True, effect="throttle")])
    ops = {f["operation"] for f in faults}
    assert {"PutObject", "DeleteObject", "CreateBucket"} <= ops and "GetObject" not in ops
    assert all(f["error"] == {"statusCode": 503, "code": "SlowDown"} for f in faults)
    for bad, field in ((rule(service="ec2", effect="throttle", first=3), "first"),
                       (rule(service="ec2", effect="reset"), "reset"),
                       (rule(service="ec2", effect="latency", latency_ms=5), "latency"),
                       (rule(service="ec2", effect="throttle", region="eu-*"), "region")):
        with pytest.raises(UsageError, match=field):
            to_localstack([bad])
