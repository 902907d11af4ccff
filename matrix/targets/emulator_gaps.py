"""Where the emulators answer the stack's calls differently from each other or from AWS.

The suites label a failure or a skipped check "Emulator gap: <id>" when it traces to one of these,
instead of failing silently or passing wrongly. Every entry was measured on this project's machine
against moto 5.2.5 (`ThreadedMotoServer`, the project's venv) and LocalStack 4.13.1 in host mode
(`matrix.targets.localstack_host`, DynamoDB served by our moto provider), with boto3 1.44.8, in
us-east-1, eu-west-1 and ap-northeast-1 (same result in each region unless said).

LocalStack's EC2, IAM and STS fall back to moto (moto-ext 5.1.54) for most operations and our
DynamoDB provider hands everything to moto, so for the VPC stack's call set the two agree far more
often than not. What differs (LocalStack vs moto), per gap id (service, operation):

    account-selection (all, every call)
        moto:       access key ids ignored (account 123456789012) unless the keys were issued by
                    its IAM in an account or the request carries x-moto-account-id
        localstack: a 12-digit access key id is the account; LKIA/LSIA keys it issued map to
                    their account; AKIA/ASIA and other keys fall back to 000000000000
    account-key-prefix-match (all, every call)
        localstack: a key id that *starts* with 12 digits becomes the account id whole
                    ("111111111111X" => account "111111111111X"); moto: n/a
    sts-caller-arn (sts, GetCallerIdentity)
        moto: arn:aws:sts::<acct>:user/moto        localstack: arn:aws:iam::<acct>:root
    s3-default-encryption (s3, GetBucketEncryption on a new bucket)
        moto: 404 ServerSideEncryptionConfigurationNotFoundError
        localstack: AES256 (as AWS since 2023)
    s3-default-public-access-block (s3, GetPublicAccessBlock on a new bucket)
        moto: 404 NoSuchPublicAccessBlockConfiguration
        localstack: all four flags true (as AWS since 2023)
    s3-bucket-not-empty-message (s3, DeleteBucket): same code, longer message on LocalStack
    ec2-nat-connectivity-none (ec2, CreateNatGateway without ConnectivityType)
        moto: "public" (as AWS)        localstack: the string "None"
    ec2-vpce-policy-version (ec2, DescribeVpcEndpoints)
        moto: the policy document as given      localstack: without its "Version" key
    ec2-delete-missing-nat (ec2, DeleteNatGateway of an unknown id)
        moto: HTTP 500 with an HTML body (botocore ResponseParserError, retried as a 500)
        localstack: HTTP 500 InternalError "'NoneType' object has no attribute 'state'"

What both get wrong the same way (AWS behaves otherwise):

    ec2-nat-tag-filter-ignored      describe_nat_gateways ignores tag:<k> and tag-key filters: every
                                    NAT of the account and region comes back (vpc-id/state work)
    ec2-tags-outlive-resources      describe_tags still lists the tags of deleted resources
    ec2-nat-available-at-once       create_nat_gateway answers state "available" (AWS: "pending")
    ec2-vpce-modify-no-route        modify_vpc_endpoint(AddRouteTableIds) adds no prefix-list route,
                                    and delete_vpc_endpoints then fails InvalidRoute.NotFound
    ec2-vpce-any-service-name       a Gateway endpoint to another region's or a bogus service is created
    ec2-delete-missing-vpce         delete_vpc_endpoints of an unknown id succeeds, Unsuccessful empty
    ec2-subnet-foreign-az           create_subnet accepts an AZ of another region
    ec2-route-unknown-nat           create_route accepts a NAT gateway id that does not exist
    ec2-loose-dependencies          delete_subnet with a NAT in it and release_address of a NAT's EIP succeed
    ec2-dry-run-ignored             DryRun=True creates the resource (AWS: DryRunOperation)
    ec2-multi-value-filter          a filter on a list-valued attribute (association ids of a route
                                    table, ...) with several values matches only when one set of ids
                                    contains the other (AWS: when any value matches)
    ec2-flow-log-unchecked-role     create_flow_logs accepts a role that does not exist
    logs-retention-any-value        put_retention_policy accepts 13 or 9999 days
    s3-no-cross-account-denial      another account reads, writes and lists a bucket it does not own

`closed_by` names what makes a run see AWS's behaviour anyway: the strict emulator that every
run puts in front of both emulators (matrix/chaos/strict.py) or the live suite's behaviour checks.

Same in both and as AWS (checked, no gap): flow-log MaxAggregationInterval 300 rejected with
InvalidParameter (60/600 accepted); S3 `If-None-Match: *` gives 412 PreconditionFailed on an
existing key, succeeds after a delete marker, and exactly one of 4 concurrent writers wins;
bucket names are global (BucketAlreadyExists from another account); VPCs, IAM roles, log groups
and DynamoDB tables are per account; IAM is global across regions;
DynamoDB conditional put => ConditionalCheckFailedException; DependencyViolation for a VPC with
dependencies, an attached internet gateway and an associated route table; NAT gateways and VPC
endpoints stay listed with state "deleted" after deletion.
"""

from __future__ import annotations

MOTO_VERSION = "5.2.5"  # what the entries were measured on (tests/test_moto_server.py holds it to the installed moto)
LOCALSTACK_VERSION = "4.13.1"

KNOWN_GAPS: dict[str, dict[str, str]] = {
    # -- LocalStack and moto differ ------------------------------------------------------------------
    "account-selection": {
        "service": "all", "operation": "*",
        "moto": "access key ids are ignored (account 123456789012) unless issued by moto's IAM in an "
                "account or the request carries x-moto-account-id",
        "localstack": "a 12-digit access key id is the account id; LKIA/LSIA keys from its IAM/STS map to "
                      "their account; AKIA/ASIA and other keys fall back to 000000000000",
        "aws": "the account comes from the credentials",
        "impact": "per-cell accounts are selected differently: LocalStack by using the account id as the "
                  "access key id, moto by keys created through its IAM; ARNs and owner ids differ",
    },
    "account-key-prefix-match": {
        "service": "all", "operation": "*",
        "moto": "-",
        "localstack": "an access key id that starts with 12 digits becomes the account id whole "
                      "(re.match, not fullmatch): '111111111111X' => account '111111111111X'",
        "aws": "-",
        "impact": "use exactly 12 digits as the access key id on LocalStack",
    },
    "ec2-multi-value-filter": {
        "service": "ec2", "operation": "Describe* with Filters",
        "moto": "a list-valued attribute matches a filter of several values only when one set contains the "
                "other (moto.ec2.utils.is_filter_matching: subset or superset)",
        "localstack": "same as moto",
        "aws": "a resource matches when any of the filter's values matches",
        "impact": "the embedded engine reads route table associations through their tables' ids and asks for "
                  "one association id per filter, never several",
    },
    "ec2-vpce-policy-version": {
        "service": "ec2", "operation": "DescribeVpcEndpoints",
        "moto": "PolicyDocument as it was given",
        "localstack": "PolicyDocument without its \"Version\" key (its provider drops it, calling that AWS parity)",
        "aws": "not measured here",
        "impact": "the embedded engine's read-back compares policies as the AWS provider does (Version "
                  "included), so on LocalStack a VPC endpoint policy with a Version fails the apply, naming the "
                  "endpoint and its policy",
    },
    "sts-caller-arn": {
        "service": "sts", "operation": "GetCallerIdentity",
        "moto": "arn:aws:sts::<account>:user/moto for plain keys",
        "localstack": "arn:aws:iam::<account>:root",
        "aws": "the caller's user or assumed-role ARN",
        "impact": "suites must check the account, never the shape of the caller ARN",
    },
    "s3-default-encryption": {
        "service": "s3", "operation": "GetBucketEncryption",
        "moto": "404 ServerSideEncryptionConfigurationNotFoundError on a new bucket",
        "localstack": "SSE-S3 (AES256) on a new bucket",
        "aws": "SSE-S3 (AES256) on every new bucket since January 2023",
        "impact": "a check that the state bucket is encrypted passes on LocalStack even when the stack "
                  "never set encryption; on moto it only passes when it did",
    },
    "s3-default-public-access-block": {
        "service": "s3", "operation": "GetPublicAccessBlock",
        "moto": "404 NoSuchPublicAccessBlockConfiguration on a new bucket",
        "localstack": "all four flags true on a new bucket",
        "aws": "all four flags true on every new bucket since April 2023",
        "impact": "a public-access-block check passes on LocalStack without the stack setting it",
    },
    "s3-bucket-not-empty-message": {
        "service": "s3", "operation": "DeleteBucket",
        "moto": "409 BucketNotEmpty 'The bucket you tried to delete is not empty'",
        "localstack": "409 BucketNotEmpty '... is not empty. You must delete all versions in the bucket.'",
        "aws": "as LocalStack",
        "impact": "none when matching on the error code; never match on the message",
    },
    "ec2-nat-connectivity-none": {
        "service": "ec2", "operation": "CreateNatGateway / DescribeNatGateways",
        "moto": "ConnectivityType \"public\" when none was given (as AWS)",
        "localstack": "ConnectivityType \"None\" (the string) when none was given; \"public\" when given",
        "aws": "public by default",
        "impact": "judge a NAT private only when it says \"private\"; public-ness is its Elastic IP and the "
                  "route of its subnet to an internet gateway (suites/live/behaviour.py)",
    },
    "ec2-delete-missing-nat": {
        "service": "ec2", "operation": "DeleteNatGateway",
        "moto": "HTTP 500 with an HTML body (AttributeError inside moto): botocore raises "
                "ResponseParserError and, being a 500, retries it first",
        "localstack": "HTTP 500 InternalError \"'NoneType' object has no attribute 'state'\"",
        "aws": "400 NatGatewayNotFound",
        "impact": "destroy must look a NAT gateway up before deleting it (gone or state deleted = done) "
                  "rather than rely on the error code",
    },
    # -- both emulators differ from AWS the same way -----------------------------------------------------
    "ec2-nat-tag-filter-ignored": {
        "service": "ec2", "operation": "DescribeNatGateways",
        "moto": "tag:<key> and tag-key filters ignored: every NAT of the account and region",
        "localstack": "same as moto",
        "aws": "filters by tag",
        "impact": "a leak check or output lookup by RunId tag sees other cells' NAT gateways when cells "
                  "share an account; filter by vpc-id or check the Tags of each result",
    },
    "ec2-tags-outlive-resources": {
        "service": "ec2", "operation": "DescribeTags",
        "moto": "tags of deleted VPCs, subnets, gateways, route tables, EIPs, endpoints, flow logs stay listed",
        "localstack": "same as moto",
        "aws": "tags go with the resource",
        "impact": "a leak check by run tag must describe each resource type (and its state), not rely on "
                  "DescribeTags, or every destroyed cell looks leaked",
    },
    "ec2-nat-available-at-once": {
        "service": "ec2", "operation": "CreateNatGateway",
        "moto": "state 'available' in the create response",
        "localstack": "same as moto",
        "aws": "'pending' for one to a few minutes",
        "impact": "waiters and timeouts around NAT creation are never exercised on an emulator",
    },
    "ec2-vpce-modify-no-route": {
        "service": "ec2", "operation": "ModifyVpcEndpoint / DeleteVpcEndpoints",
        "moto": "AddRouteTableIds records the table but adds no prefix-list route; deleting the endpoint "
                "then fails InvalidRoute.NotFound",
        "localstack": "same as moto (its own ModifyVpcEndpoint only edits the list)",
        "aws": "adds the route; delete removes it",
        "impact": "give the endpoint its route tables at creation (route_table_ids, as the stack does); "
                  "aws_vpc_endpoint_route_table_association cannot be destroyed on an emulator",
    },
    "ec2-vpce-any-service-name": {
        "service": "ec2", "operation": "CreateVpcEndpoint",
        "moto": "accepts another region's service (com.amazonaws.sa-east-1.s3) and bogus names",
        "localstack": "same as moto",
        "aws": "InvalidServiceName",
        "impact": "a wrong-region endpoint service name deploys on emulators; the synth rules must catch it",
        "closed_by": "the strict emulator (rule vpc-endpoint-service: InvalidServiceName) and the synth catalogue",
    },
    "ec2-delete-missing-vpce": {
        "service": "ec2", "operation": "DeleteVpcEndpoints",
        "moto": "unknown id: success, Unsuccessful empty",
        "localstack": "same as moto",
        "aws": "Unsuccessful item InvalidVpcEndpoint.NotFound",
        "impact": "a double delete is not detected",
    },
    "ec2-subnet-foreign-az": {
        "service": "ec2", "operation": "CreateSubnet",
        "moto": "accepts an availability zone of another region (a bogus zone is rejected)",
        "localstack": "same as moto",
        "aws": "InvalidParameterValue",
        "impact": "hard-coded AZ names deploy on emulators; take AZs from DescribeAvailabilityZones",
        "closed_by": "the strict emulator (rule subnet-az-in-region: InvalidParameterValue)",
    },
    "ec2-route-unknown-nat": {
        "service": "ec2", "operation": "CreateRoute",
        "moto": "accepts a NatGatewayId that does not exist",
        "localstack": "same as moto",
        "aws": "InvalidNatGatewayID.NotFound",
        "impact": "a route to a wrong NAT deploys on emulators; live suites must resolve route targets",
        "closed_by": "the live suite's egress check (suites/live/behaviour.py) resolves every route target",
    },
    "ec2-loose-dependencies": {
        "service": "ec2", "operation": "DeleteSubnet / ReleaseAddress",
        "moto": "deleting a subnet that holds a NAT gateway, and releasing the EIP a NAT uses, succeed",
        "localstack": "same as moto",
        "aws": "DependencyViolation / InvalidIPAddress.InUse",
        "impact": "a destroy order that AWS refuses passes on emulators",
    },
    "ec2-dry-run-ignored": {
        "service": "ec2", "operation": "CreateVpc (any DryRun)",
        "moto": "DryRun=True creates the resource",
        "localstack": "same as moto",
        "aws": "DryRunOperation error, nothing created",
        "impact": "never use DryRun against an emulator: it leaks resources",
    },
    "ec2-flow-log-unchecked-role": {
        "service": "ec2", "operation": "CreateFlowLogs",
        "moto": "accepts a DeliverLogsPermissionArn of a role that does not exist; DeliverLogsStatus FAILED",
        "localstack": "same as moto",
        "aws": "the role must exist and trust vpc-flow-logs (exact error not measured here)",
        "impact": "a wrong role ARN deploys; live suites must check the role exists and is assumable",
        "closed_by": "the live suite's flow-log delivery check: role exists, trusts vpc-flow-logs, may write",
    },
    "s3-no-cross-account-denial": {
        "service": "s3", "operation": "GetObject / PutObject / ListObjectsV2",
        "moto": "account B (x-moto-account-id) reads, writes and lists account A's bucket",
        "localstack": "same as moto (account B by its 12-digit key id); ListBuckets is per account",
        "aws": "AccessDenied without a bucket policy granting B",
        "impact": "cells sharing an emulator are isolated by bucket name only: every cell's state "
                  "bucket name must be unique (it is global anyway)",
    },
    "logs-retention-any-value": {
        "service": "logs", "operation": "PutRetentionPolicy",
        "moto": "accepts 13 and 9999 days",
        "localstack": "same as moto",
        "aws": "InvalidParameterException unless one of 1, 3, 5, 7, 14, 30, ... days",
        "impact": "a retention AWS refuses deploys on emulators; the synth rules (stack/config.py) catch it",
        "closed_by": "the strict emulator (rule schema-enum: InvalidParameterException, AWS's value set)",
    },
}


def label(gap_id: str) -> str:
    """The text a suite attaches to a result: 'Emulator gap: <id> (<service> <operation>): <impact>'."""
    gap = KNOWN_GAPS[gap_id]
    return f"Emulator gap: {gap_id} ({gap['service']} {gap['operation']}): {gap['impact']}"


#: How a known gap shows up in a failing check (exception text), for the suites to label it
#: "Emulator gap" instead of failing as a product defect or passing wrongly.
SIGNATURES: dict[str, str] = {
    "s3-default-encryption": r"ServerSideEncryptionConfigurationNotFoundError",
    "s3-default-public-access-block": r"NoSuchPublicAccessBlockConfiguration",
    "ec2-delete-missing-nat": r"DeleteNatGateway.*(500|InternalError|ResponseParserError)",
    "sts-caller-arn": r"arn:aws:(sts::\d{12}:user/moto|iam::\d{12}:root)",
}
EMULATORS = ("moto", "localstack")


def match(text: str, target: str) -> str | None:
    """The known gap whose signature is in `text`, when running on an emulator; else None."""
    import re

    if target not in EMULATORS:
        return None
    for gap_id, pattern in SIGNATURES.items():
        if gap_id in KNOWN_GAPS and re.search(pattern, text or ""):
            return gap_id
    return None
