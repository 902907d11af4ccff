"""The strict emulator in front of LocalStack host mode: every strict rule refused with AWS's code, status
and message to botocore and to the AWS CLI (the same cases as tests/chaos/test_strict.py on moto), and
valid calls passing through to LocalStack."""

from __future__ import annotations

import boto3
import pytest

from matrix.chaos.proxy import FaultProxy
from tests.strict_cases import CASES, MODEL_ONLY, assert_cli_refused, assert_refused, botocore_call, cli_call


@pytest.fixture(scope="module")
def strict_ls(localstack):
    with FaultProxy(localstack.url, strict=True) as proxy:
        yield proxy


@pytest.mark.parametrize("case", [*CASES, MODEL_ONLY], ids=lambda c: f"{c.rule}-{c.method}")
def test_botocore_gets_the_aws_error(strict_ls, new_account, case):
    assert_refused(case, *botocore_call(case, strict_ls.url, new_account()))


@pytest.mark.parametrize("case", [*CASES, MODEL_ONLY], ids=lambda c: f"{c.rule}-{c.method}")
def test_the_aws_cli_gets_the_aws_error(strict_ls, new_account, case):
    assert_cli_refused(case, cli_call(case, strict_ls.url, new_account()))


def test_valid_calls_reach_localstack(strict_ls, new_account, ls_client):
    account = new_account()
    ec2 = boto3.client("ec2", endpoint_url=strict_ls.url, region_name="us-east-1", aws_access_key_id=account,
                       aws_secret_access_key="test")
    vpc = ec2.create_vpc(CidrBlock="10.6.0.0/16", TagSpecifications=[
        {"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": "strict-ok"}]}])["Vpc"]
    direct = ls_client("ec2", account=account, region="us-east-1")
    assert direct.describe_vpcs(VpcIds=[vpc["VpcId"]])["Vpcs"][0]["CidrBlock"] == "10.6.0.0/16"
    assert strict_ls.stats()["strict"]["errors"] == 0
