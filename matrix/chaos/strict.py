"""The strict emulator: a call AWS would refuse is refused, with AWS's own error, whatever the client.

Emulators accept much that AWS refuses (matrix/targets/emulator_gaps.py). In strict mode the fault
proxy (`FaultProxy(..., strict=True)`) judges every call before the emulator sees it:

    request --protocol.classify--> (service, operation) in TABLE?   no: forwarded, body never parsed
                                                                     yes: protocol.parse_params
      1. `model_violation`: the operation's botocore input shape (AWS's own service model): every
         parameter against its enum, length, range and pattern (full match, as AWS's validators do);
      2. each parameter of the TABLE row -> (Terraform type, argument), its value converted to
         Terraform form (tags as a dict, policies as JSON text) -> the catalogue's
         `check_argument(type, argument, value, region)`: a finding of severity "error" that names an
         AWS refusal (AwsError) refuses the call; findings about behaviour AWS accepts do not.
    -> `Refusal`: AWS's code, HTTP status and message, answered in the protocol's error shape
       (`protocol.error_response`), the message followed by "[stackmatrix strict: RULE; source: WHERE]".

So terraform, the AWS CLI and boto3 fail the way they would on AWS, and the message says where the
constraint comes from. `TABLE` maps the parameters the stack's API calls use (both engines make the
same calls, as the AWS provider does) once; every clean profile passes through it untouched (tests/
chaos/test_strict.py, and every run on moto and LocalStack).

Parts: `Param` and `TABLE` (the mapping); `Refusal`; `model_violation` (the botocore walk);
`StrictChecker` (`wants(info)`, a dict look-up, then `judge(...)` for the calls in TABLE).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from matrix.chaos import catalog
from matrix.chaos.codes import validation_code
from matrix.chaos.protocol import BadParams, RequestInfo, parse_params

# -- the mapping ------------------------------------------------------------------------------------

EC2_ID_PREFIXES = {
    "vpc-": "aws_vpc", "subnet-": "aws_subnet", "igw-": "aws_internet_gateway", "nat-": "aws_nat_gateway",
    "rtb-": "aws_route_table", "vpce-": "aws_vpc_endpoint", "fl-": "aws_flow_log", "eipalloc-": "aws_eip",
}


def _tag_specs(value: Any) -> dict[str, str]:
    return {t.get("Key", ""): t.get("Value", "") for spec in value or [] for t in spec.get("Tags") or []}


def _kv_tags(value: Any) -> dict[str, str]:
    return {t.get("Key", ""): t.get("Value", "") for t in value or []}


def _same(value: Any) -> Any:
    return value


def _tagged_type(params: dict[str, Any]) -> str | None:
    """CreateTags: the Terraform type of the resources tagged (by their id prefix), when they share one."""
    types = {next((t for p, t in EC2_ID_PREFIXES.items() if str(r).startswith(p)), None)
             for r in params.get("Resources") or []}
    return types.pop() if len(types) == 1 else None


def _log_group_arn(params: dict[str, Any]) -> str | None:
    return "aws_cloudwatch_log_group" if ":log-group:" in str(params.get("resourceArn", "")) else None


@dataclass(frozen=True)
class Param:
    path: str                                   # botocore parameter path: "CidrBlock", "EnableDnsSupport.Value"
    tf_type: str | Callable[[dict[str, Any]], str | None]
    argument: str                               # the Terraform argument it sets
    convert: Callable[[Any], Any] = _same       # API form -> Terraform form

    def type_for(self, params: dict[str, Any]) -> str | None:
        return self.tf_type(params) if callable(self.tf_type) else self.tf_type


P = Param
TABLE: dict[tuple[str, str], tuple[Param, ...]] = {
    ("ec2", "CreateVpc"): (P("CidrBlock", "aws_vpc", "cidr_block"),
                           P("InstanceTenancy", "aws_vpc", "instance_tenancy"),
                           P("TagSpecifications", "aws_vpc", "tags", _tag_specs)),
    ("ec2", "ModifyVpcAttribute"): (P("EnableDnsSupport.Value", "aws_vpc", "enable_dns_support"),
                                    P("EnableDnsHostnames.Value", "aws_vpc", "enable_dns_hostnames")),
    ("ec2", "CreateSubnet"): (P("CidrBlock", "aws_subnet", "cidr_block"),
                              P("AvailabilityZone", "aws_subnet", "availability_zone"),
                              P("TagSpecifications", "aws_subnet", "tags", _tag_specs)),
    ("ec2", "ModifySubnetAttribute"): (P("MapPublicIpOnLaunch.Value", "aws_subnet", "map_public_ip_on_launch"),),
    ("ec2", "CreateInternetGateway"): (P("TagSpecifications", "aws_internet_gateway", "tags", _tag_specs),),
    ("ec2", "AllocateAddress"): (P("Domain", "aws_eip", "domain"),
                                 P("TagSpecifications", "aws_eip", "tags", _tag_specs)),
    ("ec2", "CreateNatGateway"): (P("ConnectivityType", "aws_nat_gateway", "connectivity_type"),
                                  P("TagSpecifications", "aws_nat_gateway", "tags", _tag_specs)),
    ("ec2", "CreateRouteTable"): (P("TagSpecifications", "aws_route_table", "tags", _tag_specs),),
    ("ec2", "CreateRoute"): (P("DestinationCidrBlock", "aws_route", "destination_cidr_block"),),
    ("ec2", "ReplaceRoute"): (P("DestinationCidrBlock", "aws_route", "destination_cidr_block"),),
    ("ec2", "CreateVpcEndpoint"): (P("ServiceName", "aws_vpc_endpoint", "service_name"),
                                   P("VpcEndpointType", "aws_vpc_endpoint", "vpc_endpoint_type"),
                                   P("PolicyDocument", "aws_vpc_endpoint", "policy"),
                                   P("TagSpecifications", "aws_vpc_endpoint", "tags", _tag_specs)),
    ("ec2", "CreateFlowLogs"): (P("TrafficType", "aws_flow_log", "traffic_type"),
                                P("LogDestinationType", "aws_flow_log", "log_destination_type"),
                                P("LogDestination", "aws_flow_log", "log_destination"),
                                P("LogGroupName", "aws_flow_log", "log_group_name"),
                                P("DeliverLogsPermissionArn", "aws_flow_log", "iam_role_arn"),
                                P("MaxAggregationInterval", "aws_flow_log", "max_aggregation_interval"),
                                P("LogFormat", "aws_flow_log", "log_format"),
                                P("TagSpecifications", "aws_flow_log", "tags", _tag_specs)),
    ("ec2", "CreateTags"): (P("Tags", _tagged_type, "tags", _kv_tags),),
    ("iam", "CreateRole"): (P("RoleName", "aws_iam_role", "name"),
                            P("Path", "aws_iam_role", "path"),
                            P("AssumeRolePolicyDocument", "aws_iam_role", "assume_role_policy"),
                            P("Description", "aws_iam_role", "description"),
                            P("MaxSessionDuration", "aws_iam_role", "max_session_duration"),
                            P("Tags", "aws_iam_role", "tags", _kv_tags)),
    ("iam", "UpdateAssumeRolePolicy"): (P("PolicyDocument", "aws_iam_role", "assume_role_policy"),),
    ("iam", "TagRole"): (P("Tags", "aws_iam_role", "tags", _kv_tags),),
    ("iam", "PutRolePolicy"): (P("RoleName", "aws_iam_role_policy", "role"),
                               P("PolicyName", "aws_iam_role_policy", "name"),
                               P("PolicyDocument", "aws_iam_role_policy", "policy")),
    ("logs", "CreateLogGroup"): (P("logGroupName", "aws_cloudwatch_log_group", "name"),
                                 P("kmsKeyId", "aws_cloudwatch_log_group", "kms_key_id"),
                                 P("logGroupClass", "aws_cloudwatch_log_group", "log_group_class"),
                                 P("tags", "aws_cloudwatch_log_group", "tags")),
    ("logs", "PutRetentionPolicy"): (P("retentionInDays", "aws_cloudwatch_log_group", "retention_in_days"),),
    ("logs", "TagResource"): (P("tags", _log_group_arn, "tags"),),
    ("s3", "CreateBucket"): (P("Bucket", "aws_s3_bucket", "bucket"),),
    ("dynamodb", "CreateTable"): (P("TableName", "aws_dynamodb_table", "name"),),
}
del P

_MISSING = object()


def _get(params: dict[str, Any], path: str) -> Any:
    value: Any = params
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value


# -- refusals -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Refusal:
    """What AWS would answer instead of doing the call, and where that is written down."""

    code: str
    status: int
    message: str           # AWS's words
    rule: str              # catalogue rule id, or "model:<service>.<Shape>" for a service-model constraint
    source: str            # AWS documentation URL, schema or service model
    parameter: str = ""    # the API parameter refused

    def answer(self) -> str:
        """The message the client gets: AWS's words, then the rule and its source."""
        return f"{self.message} [stackmatrix strict: {self.rule}; source: {self.source}]"

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "status": self.status, "message": self.message, "rule": self.rule,
                "source": self.source, "parameter": self.parameter}


@functools.cache
def _compiled(pattern: str) -> Any:
    import regex  # lazy: only the strict emulator needs it (AWS's patterns use \p{L}-style classes)

    try:
        return regex.compile(pattern)
    except regex.error:
        return None  # a pattern we cannot read is never held against a call


def _model_source(service: str) -> str:
    meta = catalog.service_model(service).metadata
    return f"botocore service model {service} {meta.get('apiVersion', '')} (botocore/data/{service})"


def _lower_camel(name: str) -> str:
    return name[:1].lower() + name[1:]


def _quote(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 200 else text[:200] + "..."


def model_violation(info: RequestInfo, shape: Any, params: Any) -> Refusal | None:
    """The first parameter outside its botocore shape's constraints, as the service would refuse it."""
    found = _walk(shape, params, "")
    if found is None:
        return None
    path, shape_name, value, constraint = found
    code = validation_code(info.service, info.protocol)
    if info.protocol == "ec2":
        message = f"Value ({_quote(value)}) for parameter {path} is invalid. {constraint}"
    else:
        message = (f"1 validation error detected: Value '{_quote(value)}' at '{path}' failed to satisfy "
                   f"constraint: {constraint}")
    return Refusal(code, 400, message, f"model:{info.service}.{shape_name}", _model_source(info.service), path)


def _walk(shape: Any, value: Any, path: str) -> tuple[str, str, Any, str] | None:
    kind = shape.type_name
    meta = shape.metadata
    if kind == "structure":
        if not isinstance(value, dict):
            return None
        for name, member in shape.members.items():
            if name in value:
                found = _walk(member, value[name], f"{path}.{_lower_camel(name)}" if path else _lower_camel(name))
                if found:
                    return found
        return None
    if kind == "list":
        if not isinstance(value, list):
            return None
        problem = _size(meta, len(value), "length")
        if problem:
            return path, shape.name, value, problem
        for i, item in enumerate(value, 1):
            found = _walk(shape.member, item, f"{path}.{i}.member")
            if found:
                return found
        return None
    if kind == "map":
        if not isinstance(value, dict):
            return None
        problem = _size(meta, len(value), "length")
        if problem:
            return path, shape.name, value, problem
        for k, v in value.items():
            found = _walk(shape.key, k, f"{path}.key") or _walk(shape.value, v, f"{path}.{k}")
            if found:
                return found
        return None
    if kind == "string" and isinstance(value, str):
        if "enum" in meta and value not in meta["enum"]:
            return path, shape.name, value, f"Member must satisfy enum value set: [{', '.join(meta['enum'])}]"
        problem = _size(meta, len(value), "length")
        if problem:
            return path, shape.name, value, problem
        pattern = meta.get("pattern")
        compiled = _compiled(pattern) if pattern else None
        if compiled is not None and compiled.fullmatch(value) is None:
            return path, shape.name, value, f"Member must satisfy regular expression pattern: {pattern}"
        return None
    if kind in ("integer", "long") and isinstance(value, int) and not isinstance(value, bool):
        problem = _size(meta, value, "value")
        return (path, shape.name, value, problem) if problem else None
    return None


def _size(meta: dict[str, Any], n: int, what: str) -> str | None:
    if "min" in meta and n < meta["min"]:
        return f"Member must have {what} greater than or equal to {meta['min']}"
    if "max" in meta and n > meta["max"]:
        return f"Member must have {what} less than or equal to {meta['max']}"
    return None


# -- the checker --------------------------------------------------------------------------------------

def _catalogue_check() -> Callable[..., list[Any]]:
    from matrix.catalogue import check_argument  # lazy: the catalogue loads cfn-lint's schemas

    return check_argument


class StrictChecker:
    """Judges one call. `check` is the catalogue's `check_argument` (injectable for the fidelity harness)."""

    def __init__(self, check: Callable[..., list[Any]] | None = None) -> None:
        self._check = check
        self.judged = 0

    @property
    def check(self) -> Callable[..., list[Any]]:
        if self._check is None:
            self._check = _catalogue_check()
        return self._check

    def warm(self) -> None:
        """Load the catalogue and the models of TABLE's services now, not on the first call."""
        _ = self.check
        for service, operation in TABLE:
            catalog.service_model(service).operation_model(operation)

    @staticmethod
    def wants(info: RequestInfo) -> bool:
        """Is this call one the strict emulator judges (and so needs its body)?"""
        return (info.service, info.operation) in TABLE

    def judge(self, info: RequestInfo, target: str, headers: dict[str, str], body: bytes | None) -> Refusal | None:
        rows = TABLE.get((info.service, info.operation))
        if rows is None:
            return None
        self.judged += 1
        shape = catalog.service_model(info.service).operation_model(info.operation).input_shape
        try:
            params = parse_params(info, target, headers, body, shape)
        except BadParams:
            return None  # the emulator answers a malformed request itself
        refusal = model_violation(info, shape, params)
        if refusal is not None:
            return refusal
        for row in rows:
            value = _get(params, row.path)
            tf_type = row.type_for(params) if value is not _MISSING else None
            if tf_type is None:
                continue
            for finding in self.check(tf_type, row.argument, row.convert(value), info.region):
                error = finding.aws_error
                if finding.severity == "error" and error is not None:
                    return Refusal(error.code, error.status, error.message, finding.rule.id, finding.source,
                                   row.path)
        return None
