"""One call per strict rule that AWS refuses, as botocore and as the AWS CLI make it, and how to run both.

`CASES` holds, for every rule the strict emulator can answer with (`strict_rule_ids()`: the
catalogue's value rules that name an AWS refusal), a call that breaks it: the boto3 method and
arguments, the same call as `aws` CLI arguments, and the code and HTTP status AWS answers. The
calls need no prior resource: the strict emulator refuses them before the emulator looks up an id.
tests/chaos/test_strict.py runs them against moto, tests/localstack/test_localstack_strict.py
against LocalStack host mode, each through a strict proxy in front of it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import botocore.config
from botocore.exceptions import ClientError

AWS_CLI = str(Path(sys.executable).parent / "aws")
VPC = "vpc-0123456789abcdef0"
TRUST = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "vpc-flow-logs.amazonaws.com"}, "Action": "sts:AssumeRole"}]}


def _doc(statement: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


BAD_PRINCIPAL = _doc({"Effect": "Allow", "Principal": {"Service": "vpc-flow-log.amazonaws.com"},
                      "Action": "sts:AssumeRole"})
NO_RESOURCE = _doc({"Effect": "Allow", "Action": "logs:PutLogEvents"})
HUGE = _doc({"Effect": "Allow", "Action": "logs:PutLogEvents",
             "Resource": "arn:aws:logs:us-east-1:123456789012:log-group:" + "g" * 11000})
MANY_TAGS = [{"Key": f"k{i}", "Value": "v"} for i in range(51)]


@dataclass(frozen=True)
class Case:
    rule: str
    service: str
    method: str                  # boto3 client method
    kwargs: dict[str, Any]
    cli: list[str]               # `aws <service> ...` arguments
    code: str
    status: int
    extra: dict[str, str] = field(default_factory=dict)


CASES = [
    Case("schema-enum", "logs", "put_retention_policy", {"logGroupName": "g", "retentionInDays": 45},
         ["logs", "put-retention-policy", "--log-group-name", "g", "--retention-in-days", "45"],
         "InvalidParameterException", 400),
    Case("schema-pattern", "logs", "create_log_group", {"logGroupName": "bad name!"},
         ["logs", "create-log-group", "--log-group-name", "bad name!"], "InvalidParameterException", 400),
    Case("schema-length", "iam", "create_role", {"RoleName": "r" * 70, "AssumeRolePolicyDocument": json.dumps(TRUST)},
         ["iam", "create-role", "--role-name", "r" * 70, "--assume-role-policy-document", json.dumps(TRUST)],
         "ValidationError", 400),
    Case("schema-range", "iam", "create_role", {"RoleName": "strict-range", "MaxSessionDuration": 50000,
                                                 "AssumeRolePolicyDocument": json.dumps(TRUST)},
         ["iam", "create-role", "--role-name", "strict-range", "--max-session-duration", "50000",
          "--assume-role-policy-document", json.dumps(TRUST)], "ValidationError", 400),
    Case("schema-items", "logs", "create_log_group", {"logGroupName": "strict-items", "tags": {}},
         ["logs", "create-log-group", "--log-group-name", "strict-items", "--tags", "{}"],
         "InvalidParameterException", 400),
    Case("schema-format", "ec2", "create_subnet", {"VpcId": "vpc-zzz", "CidrBlock": "10.0.1.0/24"},
         ["ec2", "create-subnet", "--vpc-id", "vpc-zzz", "--cidr-block", "10.0.1.0/24"], "InvalidVpcID.Malformed", 400),
    Case("flow-log-interval", "ec2", "create_flow_logs", {
        "ResourceIds": [VPC], "ResourceType": "VPC", "TrafficType": "ALL", "LogGroupName": "g",
        "DeliverLogsPermissionArn": "arn:aws:iam::123456789012:role/r", "MaxAggregationInterval": 300},
         ["ec2", "create-flow-logs", "--resource-ids", VPC, "--resource-type", "VPC", "--traffic-type", "ALL",
          "--log-group-name", "g", "--deliver-logs-permission-arn", "arn:aws:iam::123456789012:role/r",
          "--max-aggregation-interval", "300"], "InvalidParameter", 400),
    Case("vpc-cidr-range", "ec2", "create_vpc", {"CidrBlock": "10.0.0.0/8"},
         ["ec2", "create-vpc", "--cidr-block", "10.0.0.0/8"], "InvalidVpc.Range", 400),
    Case("subnet-cidr-range", "ec2", "create_subnet", {"VpcId": VPC, "CidrBlock": "10.0.0.0/29"},
         ["ec2", "create-subnet", "--vpc-id", VPC, "--cidr-block", "10.0.0.0/29"], "InvalidSubnet.Range", 400),
    Case("subnet-az-in-region", "ec2", "create_subnet", {"VpcId": VPC, "CidrBlock": "10.0.1.0/24",
                                                          "AvailabilityZone": "eu-west-1a"},
         ["ec2", "create-subnet", "--vpc-id", VPC, "--cidr-block", "10.0.1.0/24", "--availability-zone",
          "eu-west-1a"], "InvalidParameterValue", 400),
    Case("vpc-endpoint-service", "ec2", "create_vpc_endpoint", {"VpcId": VPC, "VpcEndpointType": "Gateway",
                                                                 "ServiceName": "com.amazonaws.eu-west-1.s3"},
         ["ec2", "create-vpc-endpoint", "--vpc-id", VPC, "--vpc-endpoint-type", "Gateway", "--service-name",
          "com.amazonaws.eu-west-1.s3"], "InvalidServiceName", 400),
    Case("tag-count", "ec2", "create_tags", {"Resources": [VPC], "Tags": MANY_TAGS},
         ["ec2", "create-tags", "--resources", VPC, "--tags", json.dumps(MANY_TAGS)], "TagLimitExceeded", 400),
    Case("tag-length", "ec2", "create_tags", {"Resources": [VPC], "Tags": [{"Key": "k" * 129, "Value": "v"}]},
         ["ec2", "create-tags", "--resources", VPC, "--tags", f"Key={'k' * 129},Value=v"],
         "InvalidParameterValue", 400),
    Case("tag-reserved-prefix", "ec2", "create_tags", {"Resources": [VPC], "Tags": [{"Key": "aws:x", "Value": "v"}]},
         ["ec2", "create-tags", "--resources", VPC, "--tags", "Key=aws:x,Value=v"], "InvalidParameterValue", 400),
    Case("iam-service-principal", "iam", "create_role", {"RoleName": "strict-principal",
                                                          "AssumeRolePolicyDocument": BAD_PRINCIPAL},
         ["iam", "create-role", "--role-name", "strict-principal", "--assume-role-policy-document", BAD_PRINCIPAL],
         "MalformedPolicyDocument", 400),
    Case("iam-policy-grammar", "iam", "put_role_policy", {"RoleName": "r", "PolicyName": "p",
                                                           "PolicyDocument": NO_RESOURCE},
         ["iam", "put-role-policy", "--role-name", "r", "--policy-name", "p", "--policy-document", NO_RESOURCE],
         "MalformedPolicyDocument", 400),
    Case("iam-policy-size", "iam", "put_role_policy", {"RoleName": "r", "PolicyName": "p", "PolicyDocument": HUGE},
         ["iam", "put-role-policy", "--role-name", "r", "--policy-name", "p", "--policy-document", HUGE],
         "LimitExceeded", 409),
]
#: a parameter no Terraform argument maps: judged by the service model alone
MODEL_ONLY = Case("schema-enum", "ec2", "create_flow_logs", {
    "ResourceIds": [VPC], "ResourceType": "Vpc-typo", "TrafficType": "ALL", "LogGroupName": "g",
    "DeliverLogsPermissionArn": "arn:aws:iam::123456789012:role/r"},
    ["ec2", "create-flow-logs", "--resource-ids", VPC, "--resource-type", "Vpc-typo", "--traffic-type", "ALL",
     "--log-group-name", "g", "--deliver-logs-permission-arn", "arn:aws:iam::123456789012:role/r"],
    "InvalidParameterValue", 400, {"source": "botocore ec2 CreateFlowLogs resourceType"})


def strict_rule_ids() -> set[str]:
    """Every rule the strict emulator answers with: the catalogue's value-level rules with an AWS error."""
    from matrix.catalogue import RULES
    from matrix.catalogue.model import ARG_CHECKS
    from matrix.catalogue.values import CURATED

    value_rules = {c.rule for cons in CURATED.values() for c in cons} | {entry[0] for entry in ARG_CHECKS}
    return {r.id for r in RULES.values()
            if r.aws_error is not None and (r.kind == "schema" or r.id in value_rules)}


def credentials(account: str) -> dict[str, str]:
    return {"aws_access_key_id": account, "aws_secret_access_key": "test"}


def botocore_call(case: Case, url: str, account: str) -> tuple[str, int, str]:
    """(code, status, message) of the call made by a real boto3 client (one attempt)."""
    client = boto3.client(case.service, endpoint_url=url, region_name="us-east-1", **credentials(account),
                          config=botocore.config.Config(retries={"total_max_attempts": 1}))
    try:
        getattr(client, case.method)(**case.kwargs)
    except ClientError as exc:
        err = exc.response["Error"]
        return err.get("Code", ""), exc.response["ResponseMetadata"]["HTTPStatusCode"], err.get("Message", "")
    raise AssertionError(f"{case.rule}: {case.method} was accepted")


def cli_call(case: Case, url: str, account: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID=account, AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION="us-east-1",
               AWS_ENDPOINT_URL=url, AWS_MAX_ATTEMPTS="1", AWS_CONFIG_FILE="/dev/null",
               AWS_SHARED_CREDENTIALS_FILE="/dev/null")
    return subprocess.run([AWS_CLI, *case.cli], env=env, capture_output=True, text=True, timeout=120, check=False)


def assert_refused(case: Case, code: str, status: int, message: str) -> None:
    assert (code, status) == (case.code, case.status), (case.rule, code, status, message)
    assert f"[stackmatrix strict: {case.rule}; source: " in message, message
    if "source" in case.extra:
        assert case.extra["source"] in message, message


def assert_cli_refused(case: Case, proc: subprocess.CompletedProcess) -> None:
    assert proc.returncode != 0, (case.rule, proc.stdout)
    assert f"An error occurred ({case.code})" in proc.stderr, proc.stderr
    assert f"[stackmatrix strict: {case.rule}; source: " in proc.stderr, proc.stderr
