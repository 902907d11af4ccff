"""Behaviour checks: would the deployed network and flow log work, judged from what AWS reports.

Emulators (and AWS) accept a NAT gateway in a private subnet, a flow-log role that trusts another
service, or a policy on another log group; the stack then deploys green and does not work. These
checks read the wiring back and follow it link by link, as AWS would route and authorize:

* `egress_problems`: for every private subnet, its route table (explicit association, else the
  VPC's main table) -> its 0.0.0.0/0 route -> a NAT gateway (public, available, in this VPC, with an
  address) -> the NAT's own subnet -> that subnet's route table -> 0.0.0.0/0 to an internet gateway
  -> that gateway attached to this VPC;
* `flow_log_problems`: the flow log -> its delivery role and destination log group (which must
  exist) -> the role's trust policy (an Allow of sts:AssumeRole to vpc-flow-logs.amazonaws.com, no
  Deny, a SourceAccount condition naming this account) -> its inline and attached policies, evaluated
  for logs:CreateLogStream and logs:PutLogEvents on that log group's streams (explicit Deny wins,
  wildcards, NotAction/NotResource).

Only the starting points come from the cell's outputs (the VPC, its private subnets, the flow log);
every other id is read from AWS, never built from names or output keys. Each problem names what is
broken, why it breaks, and the fix; the live suite (test_vpc.py) asserts there are none.
"""

from __future__ import annotations

import fnmatch
import json
from typing import Any
from urllib.parse import unquote

FLOW_LOGS_PRINCIPAL = "vpc-flow-logs.amazonaws.com"
DELIVERY_ACTIONS = ("logs:CreateLogStream", "logs:PutLogEvents")
FIX_NAT = ("Fix: put the NAT gateway (aws_nat_gateway.subnet_id) in a public subnet, one whose route table routes "
           "0.0.0.0/0 to an internet gateway attached to the VPC, and route each private subnet's 0.0.0.0/0 to it")


# -- network ------------------------------------------------------------------------------------------

def route_table_of(ec2: Any, subnet_id: str, vpc_id: str) -> dict[str, Any] | None:
    """The route table AWS routes a subnet's traffic with: its explicit association, else the main table."""
    found = ec2.describe_route_tables(Filters=[{"Name": "association.subnet-id", "Values": [subnet_id]}])
    if found["RouteTables"]:
        return found["RouteTables"][0]
    main = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc_id]},
                                              {"Name": "association.main", "Values": ["true"]}])["RouteTables"]
    return main[0] if main else None


def default_route(table: dict[str, Any] | None) -> dict[str, Any] | None:
    for route in (table or {}).get("Routes", []):
        if route.get("DestinationCidrBlock") == "0.0.0.0/0" and route.get("State", "active") != "blackhole":
            return route
    return None


def _target(route: dict[str, Any]) -> str:
    for key in ("NatGatewayId", "GatewayId", "TransitGatewayId", "NetworkInterfaceId", "VpcPeeringConnectionId",
                "InstanceId", "EgressOnlyInternetGatewayId"):
        if route.get(key):
            return route[key]
    return "nothing"


def egress_problems(ec2: Any, vpc_id: str, private_subnet_ids: list[str]) -> list[str]:
    """Why a private subnet's traffic would not reach the internet (empty: every one does)."""
    attached = {
        igw["InternetGatewayId"]
        for igw in ec2.describe_internet_gateways(
            Filters=[{"Name": "attachment.vpc-id", "Values": [vpc_id]}])["InternetGateways"]
        if any(a.get("VpcId") == vpc_id and a.get("State") in ("available", "attached")
               for a in igw.get("Attachments", []))
    }
    problems = []
    for subnet_id in private_subnet_ids:
        problem = _private_subnet_egress(ec2, vpc_id, subnet_id, attached)
        if problem:
            problems.append(problem)
    return problems


def _private_subnet_egress(ec2: Any, vpc_id: str, subnet_id: str, attached: set[str]) -> str | None:
    table = route_table_of(ec2, subnet_id, vpc_id)
    where = f"private subnet {subnet_id}"
    if table is None:
        return f"{where} has no route table (neither associated nor a main one): no egress. {FIX_NAT}"
    route = default_route(table)
    if route is None:
        return (f"{where}: its route table {table['RouteTableId']} has no 0.0.0.0/0 route, so nothing leaves it. "
                f"{FIX_NAT}")
    nat_id = route.get("NatGatewayId")
    if not nat_id:
        target = _target(route)
        kind = "straight to the internet gateway: the subnet is public, not private" if target.startswith("igw-") \
            else "not to a NAT gateway"
        return f"{where}: its route table {table['RouteTableId']} sends 0.0.0.0/0 to {target}, {kind}. {FIX_NAT}"
    nats = ec2.describe_nat_gateways(NatGatewayIds=[nat_id])["NatGateways"]
    nat = nats[0] if nats else None
    if nat is None or nat.get("State") != "available":
        state = nat.get("State") if nat else "not found"
        return f"{where} routes 0.0.0.0/0 to NAT gateway {nat_id}, which is {state}. {FIX_NAT}"
    if nat.get("ConnectivityType") == "private":  # LocalStack says "None" when it was not given (emulator gap)
        return (f"{where} routes 0.0.0.0/0 to NAT gateway {nat_id}, a private NAT gateway: it cannot reach the "
                f"internet. Fix: use a public NAT gateway (connectivity_type = \"public\") with an Elastic IP")
    if nat.get("VpcId") and nat["VpcId"] != vpc_id:
        return f"{where} routes 0.0.0.0/0 to NAT gateway {nat_id} of another VPC ({nat['VpcId']}). {FIX_NAT}"
    if not any(a.get("AllocationId") or a.get("PublicIp") for a in nat.get("NatGatewayAddresses") or []):
        return (f"{where} routes 0.0.0.0/0 to NAT gateway {nat_id}, which has no Elastic IP: it cannot reach the "
                "internet. Fix: give the NAT gateway an Elastic IP (aws_nat_gateway.allocation_id)")
    nat_subnet = nat["SubnetId"]
    nat_table = route_table_of(ec2, nat_subnet, vpc_id)
    nat_route = default_route(nat_table)
    via = _target(nat_route) if nat_route else "nowhere (no 0.0.0.0/0 route)"
    if nat_route is None or not via.startswith("igw-"):
        return (f"{where} routes 0.0.0.0/0 to NAT gateway {nat_id}, but that NAT lives in subnet {nat_subnet} whose "
                f"route table {(nat_table or {}).get('RouteTableId', '(none)')} sends 0.0.0.0/0 to {via}, not to an "
                f"internet gateway: the NAT is in a private subnet and its traffic never leaves the VPC. {FIX_NAT}")
    if via not in attached:
        return (f"{where} egresses through NAT gateway {nat_id} in subnet {nat_subnet}, whose route goes to internet "
                f"gateway {via}, which is not attached to VPC {vpc_id}. Fix: attach the internet gateway to the VPC "
                "(aws_internet_gateway.vpc_id)")
    return None


# -- flow log delivery ----------------------------------------------------------------------------------

class Unreadable(ValueError):
    """A policy document as stored is not JSON: name it, never crash on it."""


def _doc(value: Any, what: str = "policy document") -> dict[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(unquote(value))
        except ValueError as exc:
            raise Unreadable(f"its {what} is not a JSON document ({exc.msg} at character {exc.pos}): "
                             f"{value[:80]!r}") from exc
    return value if isinstance(value, dict) else {}


def _statements(doc: dict[str, Any]) -> list[dict[str, Any]]:
    found = doc.get("Statement", [])
    return [found] if isinstance(found, dict) else [s for s in found if isinstance(s, dict)]


def _listed(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _matches(patterns: list[str], value: str, case: bool = True) -> bool:
    """IAM wildcards (`*`, `?`); actions compare without case, resources with it."""
    if case:
        return any(fnmatch.fnmatchcase(value, p) for p in patterns)
    return any(fnmatch.fnmatchcase(value.lower(), p.lower()) for p in patterns)


def _covers(statement: dict[str, Any], action: str, resource: str) -> bool:
    """Does this statement speak about `action` on `resource` (conditions aside)?"""
    if "Action" in statement:
        action_ok = _matches(_listed(statement["Action"]), action, case=False)
    else:
        action_ok = not _matches(_listed(statement.get("NotAction")), action, case=False)
    if "Resource" in statement:
        resource_ok = _matches(_listed(statement["Resource"]), resource)
    else:
        resource_ok = not _matches(_listed(statement.get("NotResource")), resource)
    return action_ok and resource_ok


def allowed(policies: list[dict[str, Any]], action: str, resource: str) -> bool:
    """IAM's verdict for one action on one resource: some Allow covers it and no Deny does."""
    statements = [s for doc in policies for s in _statements(doc)]
    if any(s.get("Effect") == "Deny" and _covers(s, action, resource) for s in statements):
        return False
    return any(s.get("Effect") == "Allow" and _covers(s, action, resource) for s in statements)


def _trusts(doc: dict[str, Any], service: str, account: str) -> str | None:
    """Why `service` cannot assume a role with this trust policy (None: it can)."""
    allow = deny = None
    for s in _statements(doc):
        principal = s.get("Principal")
        services = _listed(principal.get("Service")) if isinstance(principal, dict) else _listed(principal)
        if not (service in services or "*" in services) or \
                not _matches(_listed(s.get("Action")), "sts:AssumeRole", case=False):
            continue
        if s.get("Effect") == "Deny":
            deny = s
        elif s.get("Effect") == "Allow":
            allow = s
    if deny is not None:
        return f"its trust policy denies sts:AssumeRole to {service}"
    if allow is None:
        trusted = sorted({p for s in _statements(doc) if isinstance(s.get("Principal"), dict)
                          for p in _listed(s["Principal"].get("Service") or s["Principal"].get("AWS"))})
        return f"its trust policy lets {', '.join(trusted) or 'no service'} assume it, not {service}"
    for test in ("StringEquals", "StringLike", "ArnEquals", "ArnLike"):
        accounts = (allow.get("Condition") or {}).get(test, {}).get("aws:SourceAccount")
        if accounts is not None and account and not _matches(_listed(accounts), account):
            return (f"its trust policy lets {service} assume it only for aws:SourceAccount "
                    f"{', '.join(_listed(accounts))}, not this account {account}")
    return None


def _role_policies(iam: Any, role_name: str) -> list[dict[str, Any]]:
    docs = [_doc(iam.get_role_policy(RoleName=role_name, PolicyName=name)["PolicyDocument"], f"inline policy {name}")
            for name in iam.list_role_policies(RoleName=role_name)["PolicyNames"]]
    for attached in iam.list_attached_role_policies(RoleName=role_name)["AttachedPolicies"]:
        policy = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]
        version = iam.get_policy_version(PolicyArn=attached["PolicyArn"], VersionId=policy["DefaultVersionId"])
        docs.append(_doc(version["PolicyVersion"]["Document"], f"policy {attached['PolicyArn']}"))
    return docs


def log_group_of(flow: dict[str, Any]) -> str:
    """The log group a flow log delivers to, from its destination ARN or its LogGroupName."""
    destination = flow.get("LogDestination") or ""
    if ":log-group:" in destination:
        return destination.split(":log-group:", 1)[1].split(":", 1)[0]
    return flow.get("LogGroupName") or ""


def flow_log_problems(clients: Any, flow_log_id: str, region: str, account: str) -> list[str]:
    """Why the flow log could not deliver to its log group (empty: it can)."""
    ec2, iam, logs = clients.client("ec2"), clients.client("iam"), clients.client("logs")
    flows = ec2.describe_flow_logs(FlowLogIds=[flow_log_id])["FlowLogs"]
    if not flows:
        return [f"flow log {flow_log_id} does not exist"]
    flow = flows[0]
    group = log_group_of(flow)
    role_arn = flow.get("DeliverLogsPermissionArn") or ""
    problems = []
    found = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"] if group else []
    names = [g["logGroupName"] for g in found]
    if group not in names:
        problems.append(f"flow log {flow_log_id} delivers to log group {group or '(none)'}, which does not exist. "
                        "Fix: point log_destination at the stack's aws_cloudwatch_log_group arn")
    role_name = role_arn.rsplit("/", 1)[-1]
    if not role_name:
        return [*problems, f"flow log {flow_log_id} has no delivery role. Fix: set aws_flow_log.iam_role_arn"]
    try:
        role = iam.get_role(RoleName=role_name)["Role"]
    except iam.exceptions.NoSuchEntityException:
        return [*problems, f"flow log {flow_log_id}'s role {role_arn} does not exist. Fix: point "
                           "aws_flow_log.iam_role_arn at the stack's aws_iam_role arn"]
    try:
        why = _trusts(_doc(role["AssumeRolePolicyDocument"], "trust policy"), FLOW_LOGS_PRINCIPAL, account)
    except Unreadable as exc:
        why = str(exc)
    if why:
        problems.append(f"flow log {flow_log_id}'s role {role_name} cannot be used by the flow-logs service: {why}. "
                        f"The flow log then delivers nothing. Fix: trust {FLOW_LOGS_PRINCIPAL} with sts:AssumeRole in "
                        "aws_iam_role.assume_role_policy")
    group_arn = f"arn:aws:logs:{region}:{account}:log-group:{group}"
    stream_arn = f"{group_arn}:log-stream:eni-00000000000000000-all"
    try:
        policies = _role_policies(iam, role_name)
    except Unreadable as exc:
        return [*problems, f"flow log {flow_log_id}'s role {role_name} cannot be judged: {exc}; IAM accepts only "
                           "JSON policies. Fix: write aws_iam_role_policy.policy as a JSON document (jsonencode)"]
    missing = [a for a in DELIVERY_ACTIONS if not allowed(policies, a, stream_arn)]
    if missing:
        granted = sorted({r for doc in policies for s in _statements(doc) if s.get("Effect") == "Allow"
                          for r in _listed(s.get("Resource"))})
        problems.append(f"flow log {flow_log_id}'s role {role_name} is not allowed {', '.join(missing)} on log group "
                        f"{group} ({stream_arn}); its policies allow {', '.join(granted) or 'nothing'}. The flow log "
                        f"then delivers nothing (Access error). Fix: allow {', '.join(DELIVERY_ACTIONS)} on "
                        f"{group_arn}:* in aws_iam_role_policy.policy")
    return problems
