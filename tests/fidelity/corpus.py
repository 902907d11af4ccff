"""The public corpus of AWS refusals and breakages (corpus.json beside this file), and its generator.

A case is one way a stack is wrong where AWS refuses it or accepts it and then breaks. Format (one
object per case in corpus.json):

    id           stable name, e.g. "schema-enum.aws_flow_log.traffic_type"
    origin       "generated" (from a schema constraint of a type in use) or "hand-made"
    rule         the catalogue rule that should catch it at synth, or null for a known gap
    aws          {"code": ..., "status": ...} when AWS refuses it; {"breaks": "..."} when AWS accepts it
    source       where the constraint comes from (the schema property, or an AWS documentation URL)
    description  one line
    mutation     ops applied, in order, to the clean synthesized stack (cell us-east-1-dev):
                 {"op": "set", "address": "aws_flow_log.flow-log", "argument": "traffic_type", "value": "all"}
                 {"op": "delete", "address": ..., "argument": ...}      (argument null: the resource)
                 {"op": "add", "address": "aws_iam_role_policy_attachment.x", "body": {...}}
                 `argument` may be a dotted path ("dns_options.dns_record_ip_type"): objects are created
    api          the same mistake as one raw API call, or null where no single call shows it:
                 {"service": "ec2", "operation": "CreateFlowLogs", "params": {...}}; string values may
                 hold placeholders filled from a deployed clean cell: {region} {unique} {vpc_id}
                 {public_subnet_0} {private_subnet_0} {igw_id} {public_rt} {private_rt_0}
                 {log_group_name} {log_group_arn} {role_arn} {role_name}

Generated cases: for every argument of the 13 mapped types that AWS's data constrains, one value
just outside each enum, pattern, length, range, item count and format (schema.constraints()), set
on the first resource of that type in the clean stack. Hand-made cases cover the curated classes
(documented-only values, CIDRs, tags, IAM grammar and principals, service roles, wiring) and the
known gaps. `python tests/fidelity/corpus.py --write` regenerates corpus.json; the tests check that
the committed file is what the generator writes.
"""

from __future__ import annotations

import copy
import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from matrix.catalogue.aws_errors import validation_error
from matrix.catalogue.mapping import TYPES, Arg, TypeMap
from matrix.catalogue.schema import Constraint, constraints
from matrix.catalogue.values import curated

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus.json"
REGION = "us-east-1"
CLEAN_CELL = "us-east-1-dev"

TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "vpc-flow-logs.amazonaws.com"}, "Action": "sts:AssumeRole"}]},
    separators=(",", ":"))
LOGS_POLICY = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
    "Resource": ["{log_group_arn}", "{log_group_arn}:*"]}]}, separators=(",", ":"))
#: a valid call per operation, placeholders from the deployed clean cell; a case sets one parameter
BASE_CALLS: dict[str, dict[str, Any]] = {
    "CreateVpc": {"CidrBlock": "10.9.0.0/16"},
    "ModifyVpcAttribute": {"VpcId": "{vpc_id}"},
    "CreateSubnet": {"VpcId": "{vpc_id}", "CidrBlock": "10.0.240.0/24"},
    "ModifySubnetAttribute": {"SubnetId": "{private_subnet_0}"},
    "CreateInternetGateway": {},
    "AttachInternetGateway": {"InternetGatewayId": "{igw_id}"},
    "AllocateAddress": {"Domain": "vpc"},
    "CreateNatGateway": {"SubnetId": "{public_subnet_0}", "ConnectivityType": "private"},
    "CreateRouteTable": {"VpcId": "{vpc_id}"},
    "CreateRoute": {"RouteTableId": "{private_rt_0}", "DestinationCidrBlock": "10.99.0.0/16", "GatewayId": "{igw_id}"},
    "AssociateRouteTable": {"RouteTableId": "{public_rt}", "SubnetId": "{private_subnet_0}"},
    "CreateVpcEndpoint": {"VpcId": "{vpc_id}", "ServiceName": "com.amazonaws.{region}.dynamodb",
                          "VpcEndpointType": "Gateway"},
    "CreateFlowLogs": {"ResourceIds": ["{vpc_id}"], "ResourceType": "VPC", "TrafficType": "REJECT",
                       "LogDestinationType": "cloud-watch-logs", "LogDestination": "{log_group_arn}",
                       "DeliverLogsPermissionArn": "{role_arn}", "MaxAggregationInterval": 600},
    "CreateRole": {"RoleName": "fidelity-{unique}", "AssumeRolePolicyDocument": TRUST},
    "PutRolePolicy": {"RoleName": "{role_name}", "PolicyName": "fidelity-{unique}", "PolicyDocument": LOGS_POLICY},
    "CreateLogGroup": {"logGroupName": "/fidelity/{unique}"},
    "PutRetentionPolicy": {"logGroupName": "{log_group_name}", "retentionInDays": 14},
}
EC2_TAGGED = {"CreateVpc": "vpc", "CreateSubnet": "subnet", "CreateInternetGateway": "internet-gateway",
              "AllocateAddress": "elastic-ip", "CreateNatGateway": "natgateway", "CreateRouteTable": "route-table",
              "CreateVpcEndpoint": "vpc-endpoint", "CreateFlowLogs": "vpc-flow-log"}
#: arguments too large or unsafe for generated cases (a 131,073-character policy), or not an API value
SKIP_GENERATED = {("aws_iam_role", "managed_policy_arns"), ("aws_route_table_association", "gateway_id")}
MAX_GENERATED_LENGTH = 4096
ERROR_KEYWORDS = ("enum", "pattern", "maxLength", "minLength", "minimum", "maximum", "maxItems", "minItems")


@dataclass
class Case:
    id: str
    origin: str
    rule: str | None
    aws: dict[str, Any]
    source: str
    description: str
    mutation: list[dict[str, Any]]
    api: dict[str, Any] | None = None
    tags: list[str] = field(default_factory=list)

    @property
    def refused(self) -> bool:
        return "code" in self.aws


def load(path: Path = CORPUS) -> list[Case]:
    return [Case(**c) for c in json.loads(path.read_text())["cases"]]


# -- applying a case to a synthesized document --------------------------------------------------

def _resource(doc: dict[str, Any], address: str, create: bool = False) -> dict[str, Any] | None:
    rtype, name = address.split(".", 1)
    types = doc.setdefault("resource", {})
    if create:
        return types.setdefault(rtype, {}).setdefault(name, {})
    return (types.get(rtype) or {}).get(name)


def mutate(doc: dict[str, Any], case: Case) -> dict[str, Any]:
    """A copy of `doc` with the case's ops applied (KeyError naming the op when it does not fit)."""
    out = copy.deepcopy(doc)
    for op in case.mutation:
        kind, address, argument = op["op"], op["address"], op.get("argument")
        if kind == "add":
            _resource(out, address, create=True).update(copy.deepcopy(op["body"]))
            continue
        body = _resource(out, address)
        if body is None:
            raise KeyError(f"{case.id}: {address} is not in the clean stack")
        if kind == "delete" and argument is None:
            del out["resource"][address.split(".")[0]][address.split(".", 1)[1]]
            continue
        parts = argument.split(".")
        for part in parts[:-1]:
            body = body.setdefault(part, {})
        if kind == "delete":
            body.pop(parts[-1], None)
        else:
            body[parts[-1]] = copy.deepcopy(op["value"])
    return out


# -- generation ----------------------------------------------------------------------------------

def _first(doc: dict[str, Any], tf_type: str) -> str:
    return f"{tf_type}.{sorted(doc['resource'][tf_type])[0]}"


def _outside(c: Constraint, clean: Any) -> Any:
    """A value just outside constraint `c` (None when none can be made)."""
    k, b = c.keyword, c.bound
    if k == "enum":
        if all(isinstance(x, int) for x in b):
            return next(i for i in range(min(b), max(b) + 2) if i not in b)
        first = str(b[0])
        return first.lower() if first.lower() not in b else first.upper() if first.upper() not in b else first + "-x"
    if k == "maxLength":
        return None if b >= MAX_GENERATED_LENGTH else ("a" * (b + 1) if c.target != "tag-key" else "k" * (b + 1))
    if k == "minLength":
        return "" if b >= 1 else None
    if k == "maximum":
        return b + 1
    if k == "minimum":
        return b - 1
    if k == "maxItems":
        return {f"Key{i}": "v" for i in range(b + 1)} if c.target == "list" else None
    if k == "pattern":
        for candidate in ("bad value!", "bad#name", "\u0100", "no/slash", "a b"):
            if c.violation(candidate) is not None:
                return candidate
        return None
    if k == "format":
        return {"ipv4-network": "10.0.0.1/16", "ipv6-network": "2001:db8::1/129", "AWS::EC2::VPC.Id": "vpc-123",
                "AWS::EC2::Subnet.Id": "subnet-123", "AWS::EC2::SecurityGroup.Id": "sg-12",
                "AWS::Logs::LogGroup.Name": "bad name", "json": "{not json"}.get(b)
    return None


def _api_value(tm: TypeMap, arg: Arg, target: str, value: Any) -> tuple[str, Any] | None:
    """(API member path, value in API form) for a generated case."""
    if not arg.api:
        return None
    if arg.kind == "tags":
        if target == "list":
            pairs = list(value.items())
        elif target == "tag-key":
            pairs = [(value, "v")]
        else:
            pairs = [("Key", value)]
        if tm.service == "logs":
            return "tags", dict(pairs)
        tags = [{"Key": k, "Value": v} for k, v in pairs]
        if tm.service == "ec2":
            return "TagSpecifications", [{"ResourceType": EC2_TAGGED.get(arg.operation or tm.operation, "vpc"),
                                          "Tags": tags}]
        return "Tags", tags
    if arg.api == "ResourceIds":
        return "ResourceIds", [value]
    if arg.api.endswith(".Value"):
        return arg.api, value
    if arg.kind == "list" and target == "item":
        return arg.api, [value]
    return arg.api, value


def _set_path(params: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    for part in parts[:-1]:
        params = params.setdefault(part, {})
    params[parts[-1]] = value


def generated(doc: dict[str, Any]) -> list[Case]:
    out: list[Case] = []
    seen: set[tuple[str, str, str, str]] = set()
    for tf_type, tm in TYPES.items():
        address = _first(doc, tf_type)
        for argument, arg in tm.args.items():
            if (tf_type, argument) in SKIP_GENERATED:
                continue
            for c in constraints(tm, arg, REGION, curated(tf_type, argument)):
                if c.rule.startswith(("tag-", "flow-log", "vpc-", "subnet-")):
                    continue  # curated: hand-made cases below
                family = c.keyword
                key = (tf_type, argument, c.target, family)
                if key in seen:
                    continue
                value = _outside(c, None)
                if value is None or (c.target == "value" and value == {}):
                    continue
                seen.add(key)
                if c.target == "tag-key":
                    mutation_value = {value: "v"}
                elif c.target == "tag-value":
                    mutation_value = {"Key": value}
                elif c.target == "item":
                    mutation_value = [value]
                else:
                    mutation_value = value
                api = None
                api_value = _api_value(tm, arg, c.target, value)
                operation = arg.operation or tm.operation
                if api_value and operation in BASE_CALLS:
                    params = copy.deepcopy(BASE_CALLS[operation])
                    _set_path(params, *api_value)
                    api = {"service": tm.service, "operation": operation, "params": params}
                suffix = "" if c.target == "value" else f".{c.target}"
                err = validation_error(tm.service, family if family in ERROR_KEYWORDS else "format", c.bound, value,
                                       argument)
                out.append(Case(
                    id=f"gen.{tf_type}.{argument}{suffix}.{family}", origin="generated", rule=c.rule,
                    aws={"code": err.code, "status": err.status}, source=c.source,
                    description=f"{tf_type}.{argument}: a value just outside its {family} ({str(c.bound)[:60]})",
                    mutation=[{"op": "set", "address": address, "argument": argument, "value": mutation_value}],
                    api=api))
    return out


def _policy(statements: list[dict[str, Any]], version: str = "2012-10-17") -> str:
    return json.dumps({"Version": version, "Statement": statements}, separators=(",", ":"))


LG = "${aws_cloudwatch_log_group.flow-logs.arn}"


def hand_made() -> list[Case]:
    flow = "aws_flow_log.flow-log"
    role = "aws_iam_role.flow-logs-role"
    pol = "aws_iam_role_policy.flow-logs-policy"
    vpc = "aws_vpc.vpc"
    allow_logs = {"Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                  "Resource": [LG, LG + ":*"]}

    def case(id, rule, aws, source, description, mutation, api=None):
        return Case(id, "hand-made", rule, aws, source, description, mutation, api)

    def refused(code, status=400):
        return {"code": code, "status": status}

    def call(service, operation, **params):
        merged = copy.deepcopy(BASE_CALLS[operation])
        merged.update(params)
        return {"service": service, "operation": operation, "params": merged}

    def tag_call(tags):
        return call("ec2", "CreateVpc", TagSpecifications=[{"ResourceType": "vpc", "Tags": [
            {"Key": k, "Value": v} for k, v in tags.items()]}])

    def set_(address, argument, value):
        return {"op": "set", "address": address, "argument": argument, "value": value}

    flow_api = "https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateFlowLogs.html"
    cidrs = "https://docs.aws.amazon.com/vpc/latest/userguide/vpc-cidr-blocks.html"
    sizing = "https://docs.aws.amazon.com/vpc/latest/userguide/subnet-sizing.html"
    subnets = "https://docs.aws.amazon.com/vpc/latest/userguide/configure-subnets.html"
    tagging = "https://docs.aws.amazon.com/tag-editor/latest/userguide/tagging.html#tag-conventions"
    grammar = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_grammar.html"
    role_doc = "https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs-iam-role.html"
    nat = "https://docs.aws.amazon.com/vpc/latest/userguide/vpc-nat-gateway.html"
    principal = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html"
    breaks_delivery = {"breaks": "the flow log is created but delivers no records (DeliverLogsStatus FAILED)"}
    return [
        case("flow-log-interval-300", "flow-log-interval", refused("InvalidParameter"), flow_api,
             "max_aggregation_interval 300 (the failure this project was born from)",
             [set_(flow, "max_aggregation_interval", 300)], call("ec2", "CreateFlowLogs", MaxAggregationInterval=300)),
        case("flow-log-interval-120", "flow-log-interval", refused("InvalidParameter"), flow_api,
             "max_aggregation_interval 120", [set_(flow, "max_aggregation_interval", 120)],
             call("ec2", "CreateFlowLogs", MaxAggregationInterval=120)),
        case("vpc-cidr-slash-8", "vpc-cidr-range", refused("InvalidVpc.Range"), cidrs, "a /8 VPC",
             [set_(vpc, "cidr_block", "10.0.0.0/8")], call("ec2", "CreateVpc", CidrBlock="10.0.0.0/8")),
        case("vpc-cidr-slash-29", "vpc-cidr-range", refused("InvalidVpc.Range"), cidrs, "a /29 VPC",
             [set_(vpc, "cidr_block", "10.0.0.0/29")], call("ec2", "CreateVpc", CidrBlock="10.0.0.0/29")),
        case("subnet-cidr-slash-29", "subnet-cidr-range", refused("InvalidSubnet.Range"), sizing, "a /29 subnet",
             [set_("aws_subnet.private-subnet-0", "cidr_block", "10.0.128.0/29")],
             call("ec2", "CreateSubnet", CidrBlock="10.0.240.0/29")),
        case("subnet-outside-vpc", "subnet-cidr-in-vpc", refused("InvalidSubnet.Range"), subnets,
             "a subnet outside its VPC's CIDR", [set_("aws_subnet.private-subnet-0", "cidr_block", "10.1.0.0/20")],
             call("ec2", "CreateSubnet", CidrBlock="10.1.0.0/24")),
        case("subnet-overlap", "subnet-cidr-overlap", refused("InvalidSubnet.Conflict"), subnets,
             "two subnets of one VPC overlap", [set_("aws_subnet.private-subnet-0", "cidr_block", "10.0.0.0/20")],
             call("ec2", "CreateSubnet", CidrBlock="10.0.0.0/24")),
        case("subnet-foreign-az", "subnet-az-in-region", refused("InvalidParameterValue"), subnets,
             "a subnet in another region's availability zone",
             [set_("aws_subnet.private-subnet-0", "availability_zone", "eu-west-1a")],
             call("ec2", "CreateSubnet", AvailabilityZone="eu-west-1a")),
        case("tags-51", "tag-count", refused("TagLimitExceeded"), tagging, "51 tags on the VPC",
             [set_(vpc, "tags", {f"Key{i}": "v" for i in range(51)})], tag_call({f"Key{i}": "v" for i in range(51)})),
        case("tag-reserved-prefix", "tag-reserved-prefix", refused("InvalidParameterValue"), tagging,
             "a tag key starting with aws:", [set_(vpc, "tags", {"aws:owner": "me"})], tag_call({"aws:owner": "me"})),
        case("tag-value-257", "tag-length", refused("InvalidParameterValue"), tagging, "a 257-character tag value",
             [set_("aws_subnet.public-subnet-0", "tags", {"Owner": "v" * 257})], tag_call({"Owner": "v" * 257})),
        case("tag-key-129", "tag-length", refused("InvalidParameterValue"), tagging, "a 129-character tag key",
             [set_("aws_subnet.public-subnet-0", "tags", {"k" * 129: "v"})], tag_call({"k" * 129: "v"})),
        case("trust-principal-typo", "iam-service-principal", refused("MalformedPolicyDocument"), principal,
             "the flow log role trusts vpc-flow-log.amazonaws.com (typo)",
             [set_(role, "assume_role_policy", TRUST.replace("vpc-flow-logs", "vpc-flow-log"))],
             call("iam", "CreateRole", AssumeRolePolicyDocument=TRUST.replace("vpc-flow-logs", "vpc-flow-log"))),
        case("trust-wrong-service", "flow-log-role-trust", breaks_delivery, role_doc,
             "the flow log role trusts ec2.amazonaws.com instead of the flow-logs service",
             [set_(role, "assume_role_policy", TRUST.replace("vpc-flow-logs", "ec2"))]),
        case("policy-missing-putlogevents", "flow-log-role-permissions", breaks_delivery, role_doc,
             "the role may create streams but not put events",
             [set_(pol, "policy", _policy([{**allow_logs, "Action": ["logs:CreateLogStream"]}]))]),
        case("policy-action-typo", "flow-log-role-permissions", breaks_delivery, role_doc,
             "logs:PutLogEvent (typo): IAM stores it, the grant matches nothing",
             [set_(pol, "policy", _policy([{**allow_logs, "Action": ["logs:CreateLogStream", "logs:PutLogEvent"]}]))]),
        case("policy-group-arn-only", "flow-log-role-permissions", breaks_delivery, role_doc,
             "the policy names the log group's ARN but not its streams (arn:*)",
             [set_(pol, "policy", _policy([{**allow_logs, "Resource": [LG]}]))]),
        case("policy-other-log-group", "flow-log-role-permissions", breaks_delivery, role_doc,
             "the policy allows writing to another log group than the flow log's",
             [set_(pol, "policy", _policy([{**allow_logs, "Resource": ["arn:*:logs:*:*:log-group:/other",
                                                                       "arn:*:logs:*:*:log-group:/other:*"]}]))]),
        case("identity-policy-principal", "iam-policy-grammar", refused("MalformedPolicyDocument"), grammar,
             "an inline role policy names a Principal",
             [set_(pol, "policy", _policy([{**allow_logs, "Principal": {"Service": "ec2.amazonaws.com"}}]))],
             call("iam", "PutRolePolicy", PolicyDocument=_policy([{
                 "Effect": "Allow", "Action": "logs:PutLogEvents", "Resource": "*",
                 "Principal": {"Service": "ec2.amazonaws.com"}}]))),
        case("policy-effect-lowercase", "iam-policy-grammar", refused("MalformedPolicyDocument"), grammar,
             "Effect \"allow\" (IAM is case-sensitive)",
             [set_(pol, "policy", _policy([{**allow_logs, "Effect": "allow"}]))],
             call("iam", "PutRolePolicy", PolicyDocument=_policy([{
                 "Effect": "allow", "Action": "logs:PutLogEvents", "Resource": "*"}]))),
        case("policy-bad-version", "iam-policy-grammar", refused("MalformedPolicyDocument"), grammar,
             "Version 2012-10-18", [set_(pol, "policy", _policy([allow_logs], version="2012-10-18"))],
             call("iam", "PutRolePolicy", PolicyDocument=_policy([{
                 "Effect": "Allow", "Action": "logs:PutLogEvents", "Resource": "*"}], version="2012-10-18"))),
        case("policy-action-no-vendor", "iam-policy-grammar", refused("MalformedPolicyDocument"), grammar,
             "an action without its service prefix",
             [set_(pol, "policy", _policy([{**allow_logs, "Action": ["CreateLogStream", "PutLogEvents"]}]))],
             call("iam", "PutRolePolicy", PolicyDocument=_policy([{
                 "Effect": "Allow", "Action": "PutLogEvents", "Resource": "*"}]))),
        case("trust-policy-resource", "iam-policy-grammar", refused("MalformedPolicyDocument"), grammar,
             "a trust policy with a Resource",
             [set_(role, "assume_role_policy", _policy([{**json.loads(TRUST)["Statement"][0], "Resource": "*"}]))],
             call("iam", "CreateRole", AssumeRolePolicyDocument=_policy([{
                 **json.loads(TRUST)["Statement"][0], "Resource": "*"}]))),
        case("policy-too-large", "iam-policy-size", refused("LimitExceeded", 409),
             "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html",
             "an inline role policy over 10,240 characters",
             [set_(pol, "policy", _policy([allow_logs] + [
                 {"Sid": f"S{i}", "Effect": "Allow", "Action": "logs:DescribeLogGroups", "Resource": f"arn:aws:logs:"
                  f"us-east-1:123456789012:log-group:/padding/{i:04d}/{'x' * 40}"} for i in range(110)]))],
             call("iam", "PutRolePolicy", PolicyDocument=_policy([
                 {"Sid": f"S{i}", "Effect": "Allow", "Action": "logs:DescribeLogGroups", "Resource": f"arn:aws:logs:"
                  f"us-east-1:123456789012:log-group:/padding/{i:04d}/{'x' * 40}"} for i in range(110)]))),
        case("nat-in-private-subnet", "nat-in-public-subnet", {"breaks": "private subnets lose egress"}, nat,
             "NAT gateway 0 placed in private subnet 0",
             [set_("aws_nat_gateway.nat-0", "subnet_id", "${aws_subnet.private-subnet-0.id}")]),
        case("private-route-missing", "private-route-own-az-nat", {"breaks": "private subnet 0 has no egress"}, nat,
             "the default route of private route table 0 is gone",
             [{"op": "delete", "address": "aws_route.private-0-default", "argument": None}]),
        case("private-route-to-igw-detached", "route-gateway-same-vpc", refused("InvalidParameterValue"),
             "https://docs.aws.amazon.com/vpc/latest/userguide/VPC_Route_Tables.html",
             "the internet gateway is not attached to the VPC but routes target it",
             [{"op": "delete", "address": "aws_internet_gateway.igw", "argument": "vpc_id"}]),
        case("endpoint-bogus-service", "vpc-endpoint-service", refused("InvalidServiceName"),
             "https://docs.aws.amazon.com/vpc/latest/privatelink/aws-services-privatelink-support.html",
             "an endpoint to com.amazonaws.us-east-1.s4 (typo)",
             [set_("aws_vpc_endpoint.s3-endpoint", "service_name", "com.amazonaws.us-east-1.s4")],
             call("ec2", "CreateVpcEndpoint", ServiceName="com.amazonaws.{region}.s4")),
        case("endpoint-foreign-region", "vpc-endpoint-service", refused("InvalidServiceName"),
             "https://docs.aws.amazon.com/vpc/latest/privatelink/aws-services-privatelink-support.html",
             "an endpoint to another region's S3",
             [set_("aws_vpc_endpoint.s3-endpoint", "service_name", "com.amazonaws.eu-west-1.s3")],
             call("ec2", "CreateVpcEndpoint", ServiceName="com.amazonaws.eu-west-1.s3")),
        case("flow-log-no-role", "flow-log-destination", refused("InvalidParameter"),
             "https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs-cwl.html",
             "a flow log to CloudWatch Logs without iam_role_arn",
             [{"op": "delete", "address": flow, "argument": "iam_role_arn"}],
             {"service": "ec2", "operation": "CreateFlowLogs", "params": {
                 k: v for k, v in BASE_CALLS["CreateFlowLogs"].items() if k != "DeliverLogsPermissionArn"}}),
        case("dns-hostnames-off", "vpc-cidr-dns", {"breaks": "private DNS names do not resolve"},
             "https://docs.aws.amazon.com/vpc/latest/userguide/AmazonDNS-concepts.html",
             "enable_dns_hostnames false", [set_(vpc, "enable_dns_hostnames", False)]),
        # -- known gaps: what no rule can know at synth -----------------------------------------------
        case("gap-kms-key-missing", None, refused("InvalidParameterException"),
             "https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html",
             "the log group names a well-formed KMS key ARN that does not exist (known only at apply)",
             [set_("aws_cloudwatch_log_group.flow-logs", "kms_key_id",
                   "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000")],
             call("logs", "CreateLogGroup",
                  kmsKeyId="arn:aws:kms:{region}:123456789012:key/00000000-0000-0000-0000-000000000000")),
        case("gap-managed-policy-only", None, breaks_delivery, role_doc,
             "the role's inline policy is replaced by an AWS-managed policy without logs permissions "
             "(its content is not in the document)",
             [{"op": "delete", "address": pol, "argument": None},
              {"op": "add", "address": "aws_iam_role_policy_attachment.flow-logs-managed",
               "body": {"role": "${aws_iam_role.flow-logs-role.name}",
                        "policy_arn": "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"}}]),
    ]


def generate(doc: dict[str, Any]) -> list[Case]:
    return generated(doc) + hand_made()


def write(doc: dict[str, Any], path: Path = CORPUS) -> list[Case]:
    cases = generate(doc)
    data = {"format": "see tests/fidelity/corpus.py", "clean_cell": CLEAN_CELL,
            "cases": [asdict(c) for c in cases]}
    path.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n")
    return cases


if __name__ == "__main__":
    if sys.argv[1:2] != ["--write"] or len(sys.argv) != 3:
        sys.exit("usage: python tests/fidelity/corpus.py --write CLEAN_CDK_TF_JSON")
    written = write(json.loads(Path(sys.argv[2]).read_text()))
    print(f"{CORPUS}: {len(written)} cases")
