"""The strict emulator: a call AWS would refuse is refused, with AWS's own error, whatever the client.

Emulators accept much that AWS refuses (matrix/targets/emulator_gaps.py). In strict mode the fault
proxy (`FaultProxy(..., strict=True)`) judges every call before the emulator sees it:

    request --protocol.classify--> (service, operation) in table()?  no: forwarded, body never parsed
                                                                      yes: protocol.parse_params
                                   (a malformed body: `Unjudged`, forwarded and counted by the proxy)
      1. each parameter the catalogue maps (matrix/catalogue/mapping.py, read backwards by `table()`)
         -> (Terraform type, argument), its value in Terraform form (tags as a map, policies as JSON
         text) -> the catalogue's `check_argument(type, argument, value, region)`: a finding of
         severity "error" that names an AWS refusal refuses the call; findings about behaviour AWS
         accepts and then breaks (a role trusting the wrong service) do not: AWS would accept it;
      2. `model_violation`: every parameter of the call, mapped or not, against its botocore shape
         (AWS's service model: enum, length, range, pattern, as the catalogue's `schema` reads them).
    -> `Refusal`: AWS's code, HTTP status and message (the catalogue's wording, `aws_errors`), in the
       protocol's error shape (`protocol.error_response`), followed by
       "[stackmatrix strict: RULE; source: WHERE]" and an `x-stackmatrix-strict: RULE` header.

So terraform, the AWS CLI and boto3 fail the way they would on AWS, and the message says where the
constraint comes from. Every call of the clean profiles passes through it (tests/chaos/test_strict.py
and every run on moto and LocalStack, where the targets put it in front of the emulator).

Parts: `Param`, `table()` (what is judged), `terraform_value`; `Refusal`; `model_violation`;
`StrictChecker` (`wants(info)`, a dict look-up, then `judge(...)` only for the calls in the table;
`judges_service(service)`: an unidentified call to such a service is unjudged); `Unjudged`.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from matrix.chaos import catalog
from matrix.chaos.protocol import BadParams, RequestInfo, parse_params

# -- the mapping ------------------------------------------------------------------------------------
# The catalogue's one table (matrix/catalogue/mapping.py: Terraform argument -> API parameter of the
# operation that sets it) read backwards, plus the calls that set a mapped argument again later
# (updates, tags), which that table names under the create call.

EC2_ID_PREFIXES = {
    "vpc-": "aws_vpc", "subnet-": "aws_subnet", "igw-": "aws_internet_gateway", "nat-": "aws_nat_gateway",
    "rtb-": "aws_route_table", "vpce-": "aws_vpc_endpoint", "fl-": "aws_flow_log", "eipalloc-": "aws_eip",
}


def _tagged_type(params: dict[str, Any]) -> str | None:
    """CreateTags: the Terraform type of the resources tagged (by their id prefix), when they share one."""
    types = {next((t for p, t in EC2_ID_PREFIXES.items() if str(r).startswith(p)), None)
             for r in params.get("Resources") or []}
    return types.pop() if len(types) == 1 else None


def _log_group_arn(params: dict[str, Any]) -> str | None:
    return "aws_cloudwatch_log_group" if ":log-group:" in str(params.get("resourceArn", "")) else None


@dataclass(frozen=True)
class Param:
    path: str                                   # botocore input member path: "CidrBlock", "EnableDnsSupport.Value"
    tf_type: str | Callable[[dict[str, Any]], str | None]
    argument: str                               # the Terraform argument it sets
    kind: str = "value"                         # the catalogue's Arg.kind: value | tags | policy | list

    def type_for(self, params: dict[str, Any]) -> str | None:
        return self.tf_type(params) if callable(self.tf_type) else self.tf_type


#: calls that set an argument the catalogue maps to another operation: tags, and the in-place updates
#: (Terraform's update of the argument, or the same setting made by any client). A list an update adds
#: to (`AddSubnetIds`) is judged item by item as the argument's list; what it removes is not judged.
LATER_CALLS: dict[tuple[str, str], tuple[Param, ...]] = {
    ("iam", "UpdateAssumeRolePolicy"): (Param("PolicyDocument", "aws_iam_role", "assume_role_policy", "policy"),),
    ("iam", "TagRole"): (Param("Tags", "aws_iam_role", "tags", "tags"),),
    ("iam", "UpdateRole"): (Param("Description", "aws_iam_role", "description"),
                            Param("MaxSessionDuration", "aws_iam_role", "max_session_duration")),
    ("iam", "UpdateRoleDescription"): (Param("Description", "aws_iam_role", "description"),),
    ("iam", "PutRolePermissionsBoundary"): (Param("PermissionsBoundary", "aws_iam_role", "permissions_boundary"),),
    ("ec2", "CreateTags"): (Param("Tags", _tagged_type, "tags", "tags"),),
    ("ec2", "ModifyVpcTenancy"): (Param("InstanceTenancy", "aws_vpc", "instance_tenancy"),),
    ("ec2", "ModifyVpcEndpoint"): (
        Param("PolicyDocument", "aws_vpc_endpoint", "policy", "policy"),
        Param("AddRouteTableIds", "aws_vpc_endpoint", "route_table_ids", "list"),
        Param("AddSubnetIds", "aws_vpc_endpoint", "subnet_ids", "list"),
        Param("AddSecurityGroupIds", "aws_vpc_endpoint", "security_group_ids", "list"),
        Param("IpAddressType", "aws_vpc_endpoint", "ip_address_type"),
        Param("DnsOptions.DnsRecordIpType", "aws_vpc_endpoint", "dns_options.dns_record_ip_type"),
        Param("DnsOptions.PrivateDnsOnlyForInboundResolverEndpoint", "aws_vpc_endpoint",
              "dns_options.private_dns_only_for_inbound_resolver_endpoint"),
        Param("PrivateDnsEnabled", "aws_vpc_endpoint", "private_dns_enabled")),
    ("logs", "TagResource"): (Param("tags", _log_group_arn, "tags", "tags"),),
    ("logs", "TagLogGroup"): (Param("tags", "aws_cloudwatch_log_group", "tags", "tags"),),
    ("logs", "AssociateKmsKey"): (Param("kmsKeyId", "aws_cloudwatch_log_group", "kms_key_id"),),
}
#: calls that take the same parameters as a mapped one
SAME_AS = {("ec2", "ReplaceRoute"): ("ec2", "CreateRoute")}


@functools.cache
def table() -> dict[tuple[str, str], tuple[Param, ...]]:
    """(service, operation) -> the parameters judged, from the catalogue's mapping. One API parameter
    that several Terraform arguments share is judged as the type's own create call's argument
    (CreateRoute's DestinationCidrBlock is aws_route's), or not at all when that is still ambiguous
    (CreateFlowLogs' ResourceIds: vpc_id, subnet_id or eni_id)."""
    from matrix.catalogue.mapping import TYPES  # lazy: the catalogue is loaded once, when judging starts

    found: dict[tuple[str, str, str], list[tuple[bool, Param]]] = {}
    for tm in TYPES.values():
        for argument, arg in tm.args.items():
            if arg.api:
                key = (tm.service, arg.operation or tm.operation, arg.api)
                found.setdefault(key, []).append((arg.operation is None, Param(arg.api, tm.tf_type, argument,
                                                                                 arg.kind)))
    out: dict[tuple[str, str], list[Param]] = {}
    for (service, operation, _api), candidates in found.items():
        own = [p for is_own, p in candidates if is_own] if len(candidates) > 1 else [p for _, p in candidates]
        if len(own) == 1:
            out.setdefault((service, operation), []).append(own[0])
    for call, params in LATER_CALLS.items():
        out.setdefault(call, []).extend(params)
    for call, same in SAME_AS.items():
        out[call] = list(out.get(same, []))
    return {k: tuple(v) for k, v in out.items()}


@functools.cache
def _judged_services() -> frozenset[str]:
    return frozenset(service for service, _ in table())


def terraform_value(param: Param, value: Any) -> Any:
    """An API parameter's value in Terraform form: tags as a map, a one-item list as its item."""
    if param.kind == "tags":
        if isinstance(value, dict):
            return value
        items = [t for spec in value for t in (spec.get("Tags") or [])] \
            if value and isinstance(value[0], dict) and "Tags" in value[0] else value
        return {t.get("Key", ""): t.get("Value", "") for t in items or [] if isinstance(t, dict)}
    return value


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


def _lower_camel(name: str) -> str:
    return name[:1].lower() + name[1:]


def model_violation(info: RequestInfo, shape: Any, params: Any) -> Refusal | None:
    """The first parameter anywhere in the request outside its botocore shape's constraints (enum,
    length, range, pattern: the catalogue's `schema` reading of them), as the service refuses it
    (the catalogue's `aws_errors` wording). Services without a known validation answer are skipped."""
    from matrix.catalogue.aws_errors import TEMPLATES, validation_error  # lazy: see table()

    if info.service not in TEMPLATES:
        return None
    found = _walk(shape, params, "", f"botocore {info.service} {info.operation}")
    if found is None:
        return None
    path, constraint, value = found
    error = validation_error(info.service, constraint.keyword, constraint.bound, value, path)
    return Refusal(error.code, error.status, error.message, constraint.rule, constraint.source, path)


def _walk(shape: Any, value: Any, path: str, source: str) -> tuple[str, Any, Any] | None:
    from matrix.catalogue.schema import _shape_constraints  # lazy: see table()

    for constraint in _shape_constraints(shape, "value", f"{source} {path or 'input'} ({shape.name})"):
        if constraint.violation(value) is not None:
            return path, constraint, value
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        for name, member in shape.members.items():
            if name in value:
                found = _walk(member, value[name], f"{path}.{_lower_camel(name)}" if path else _lower_camel(name),
                              source)
                if found:
                    return found
    elif kind == "list" and isinstance(value, list):
        for i, item in enumerate(value, 1):
            found = _walk(shape.member, item, f"{path}.{i}.member", source)
            if found:
                return found
    elif kind == "map" and isinstance(value, dict):
        for k, v in value.items():
            found = _walk(shape.key, k, f"{path}.key", source) or _walk(shape.value, v, f"{path}.{k}", source)
            if found:
                return found
    return None


# -- the checker --------------------------------------------------------------------------------------

#: a harmless value per argument kind, to load each rule's data once (warm)
WARM_VALUES: dict[str, Any] = {
    "tags": {"Name": "x"}, "list": [],
    "policy": '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", '
              '"Principal": {"Service": "vpc-flow-logs.amazonaws.com"}}]}',
}


def _catalogue_check() -> Callable[..., list[Any]]:
    from matrix.catalogue import check_argument  # lazy: the catalogue loads cfn-lint's schemas

    return check_argument


class Unjudged(Exception):
    """A judged call whose parameters cannot be read (a malformed body): not judged. `str()` is the reason,
    never a value from the request."""


class StrictChecker:
    """Judges one call. `check` is the catalogue's `check_argument` (injectable for the fidelity harness)."""

    def __init__(self, check: Callable[..., list[Any]] | None = None) -> None:
        self._check = check
        self.judged = 0                 # calls whose parameters were read and judged (under `_lock`:
        self._lock = threading.Lock()   # every client connection of the proxy judges on its own thread)
        self._ready: threading.Event | None = None

    @property
    def check(self) -> Callable[..., list[Any]]:
        if self._check is None:
            self._check = _catalogue_check()
        return self._check

    def warm(self) -> None:
        """Load the catalogue, its table, the models of the judged calls and each rule's data now (one
        judgement per mapped argument), not on the first call (cfn-lint's schemas and the judged
        operations' botocore models; its cost: docs/measurements.md)."""
        check = self.check
        for (service, operation), rows in table().items():
            catalog.service_model(service).operation_model(operation)
            for row in rows:
                tf_type = row.type_for({})
                if tf_type is not None:
                    check(tf_type, row.argument, WARM_VALUES.get(row.kind, "x"), "us-east-1")

    def warm_async(self) -> None:
        """`warm()` on a thread of its own: the proxy answers at once; a judgement waits for it."""
        if self._ready is None:
            self._ready = threading.Event()
            threading.Thread(target=self._warm_then_ready, name="strict-warm", daemon=True).start()

    def _warm_then_ready(self) -> None:
        try:
            self.warm()
        finally:
            self._ready.set()

    @staticmethod
    def judges_service(service: str) -> bool:
        """Does the strict emulator judge some calls of this service (so an unidentified one is unjudged)?"""
        return service in _judged_services()

    @staticmethod
    def wants(info: RequestInfo) -> bool:
        """Is this call one the strict emulator judges (and so needs its body)?"""
        return (info.service, info.operation) in table()

    def judge(self, info: RequestInfo, target: str, headers: dict[str, str], body: bytes | None) -> Refusal | None:
        """The catalogue's verdict on each mapped parameter first (its rules name their AWS error and
        source), then the service model's constraints on every parameter of the call. A body whose
        parameters cannot be read raises `Unjudged` (the caller forwards the call and counts it)."""
        rows = table().get((info.service, info.operation))
        if rows is None:
            return None
        if self._ready is not None:
            self._ready.wait()
        shape = catalog.service_model(info.service).operation_model(info.operation).input_shape
        try:
            params = parse_params(info, target, headers, body, shape)
        except BadParams as exc:
            raise Unjudged(f"malformed {exc.where}") from None  # the emulator answers it alone
        with self._lock:
            self.judged += 1
        for row in rows:
            value = _get(params, row.path)
            tf_type = row.type_for(params) if value is not _MISSING else None
            if tf_type is None:
                continue
            for finding in self.check(tf_type, row.argument, terraform_value(row, value), info.region):
                error = finding.aws_error
                if finding.severity == "error" and error is not None:
                    return Refusal(error.code, error.status, error.message, finding.rule.id, finding.source,
                                   row.path)
        return model_violation(info, shape, params)
