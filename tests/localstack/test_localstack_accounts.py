"""Account isolation on LocalStack: what the runner relies on to share one server between cells.

A 12-digit access key id *is* the account (no IAM call needed); VPCs, IAM roles, log groups and
DynamoDB tables are per account; S3 bucket names are global and not access-checked across accounts.
"""

from __future__ import annotations

import json
import uuid

import pytest
from botocore.exceptions import ClientError

from matrix.targets.emulator_gaps import KNOWN_GAPS


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return exc.value.response["Error"]["Code"]


def test_access_key_id_selects_the_account(ls_client, new_account) -> None:
    a = new_account()
    assert ls_client("sts", account=a).get_caller_identity()["Account"] == a
    ident = ls_client("sts", account=a).get_caller_identity()
    assert ident["Arn"] == f"arn:aws:iam::{a}:root"  # gap sts-caller-arn: moto says user/moto
    assert ls_client("sts", account="test").get_caller_identity()["Account"] == "000000000000"
    # AKIA keys are "production-looking": LocalStack ignores them (PARITY_AWS_ACCESS_KEY_ID unset)
    assert ls_client("sts", account="AKIAIOSFODNN7EXAMPLE").get_caller_identity()["Account"] == "000000000000"


def test_key_that_starts_with_12_digits_is_taken_whole(ls_client, new_account) -> None:
    assert "account-key-prefix-match" in KNOWN_GAPS
    a = new_account()
    assert ls_client("sts", account=a + "XY").get_caller_identity()["Account"] == a + "XY"


def test_keys_issued_by_its_iam_and_sts_map_to_their_account(ls_client, new_account) -> None:
    a = new_account()
    iam = ls_client("iam", account=a)
    user = "u-" + uuid.uuid4().hex[:8]
    iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    assert key["AccessKeyId"].startswith("LKIA")
    sts = ls_client("sts", account=key["AccessKeyId"])
    assert sts.get_caller_identity()["Account"] == a
    role = "r-" + uuid.uuid4().hex[:8]
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]}))
    creds = ls_client("sts", account=a).assume_role(RoleArn=f"arn:aws:iam::{a}:role/{role}",
                                                      RoleSessionName="cell")["Credentials"]
    assert creds["AccessKeyId"].startswith("LSIA")
    assert ls_client("sts", account=creds["AccessKeyId"]).get_caller_identity()["Account"] == a


def test_vpcs_roles_log_groups_and_tables_are_per_account(ls_client, new_account) -> None:
    a, b = new_account(), new_account()
    vpc = ls_client("ec2", account=a).create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]
    assert vpc["OwnerId"] == a
    with pytest.raises(ClientError) as exc:
        ls_client("ec2", account=b).describe_vpcs(VpcIds=[vpc["VpcId"]])
    assert _code(exc) == "InvalidVpcID.NotFound"
    assert vpc["VpcId"] not in [v["VpcId"] for v in ls_client("ec2", account=b).describe_vpcs()["Vpcs"]]

    name = "flow-" + uuid.uuid4().hex[:8]
    trust = json.dumps({"Version": "2012-10-17", "Statement": []})
    ls_client("iam", account=a).create_role(RoleName=name, AssumeRolePolicyDocument=trust)
    ls_client("iam", account=b).create_role(RoleName=name, AssumeRolePolicyDocument=trust)  # no clash
    assert ls_client("iam", account=b).get_role(RoleName=name)["Role"]["Arn"] == f"arn:aws:iam::{b}:role/{name}"

    group = f"/vpc/{name}"
    ls_client("logs", account=a).create_log_group(logGroupName=group)
    assert ls_client("logs", account=b).describe_log_groups(logGroupNamePrefix=group)["logGroups"] == []

    ls_client("dynamodb", account=a).create_table(
        TableName=name, AttributeDefinitions=[{"AttributeName": "LockID", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "LockID", "KeyType": "HASH"}], BillingMode="PAY_PER_REQUEST")
    with pytest.raises(ClientError) as exc:
        ls_client("dynamodb", account=b).describe_table(TableName=name)
    assert _code(exc) == "ResourceNotFoundException"


def test_bucket_names_are_global_and_not_access_checked(ls_client, new_account) -> None:
    a, b = new_account(), new_account()
    bucket = "xacct-" + uuid.uuid4().hex[:12]
    s3a, s3b = ls_client("s3", account=a), ls_client("s3", account=b)
    s3a.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3a.put_object(Bucket=bucket, Key="state", Body=b"A")
    with pytest.raises(ClientError) as exc:
        s3b.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    assert _code(exc) == "BucketAlreadyExists"
    with pytest.raises(ClientError) as exc:
        s3a.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    assert _code(exc) == "BucketAlreadyOwnedByYou"
    # gap s3-no-cross-account-denial: account B reads and writes A's bucket
    assert s3b.get_object(Bucket=bucket, Key="state")["Body"].read() == b"A"
    s3b.put_object(Bucket=bucket, Key="from-b", Body=b"B")
    assert {o["Key"] for o in s3a.list_objects_v2(Bucket=bucket)["Contents"]} == {"state", "from-b"}
    # but ListBuckets is per account
    assert bucket in [x["Name"] for x in s3a.list_buckets()["Buckets"]]
    assert bucket not in [x["Name"] for x in s3b.list_buckets()["Buckets"]]
