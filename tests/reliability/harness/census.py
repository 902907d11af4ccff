"""What really exists in a cell's account, per Terraform resource kind, read straight from the APIs.

`census(clients, region, project)` lists every resource of the VPC stack's kinds in the account and
region (IAM is global): VPCs, subnets, internet gateways, EIPs, NAT gateways, route tables, routes,
route table associations, the S3 endpoint, flow logs, log groups, IAM roles and their inline
policies. Everything the emulator creates by itself (the default VPC with its subnets, gateway and
route table, every VPC's main route table and local route) is left out. Ids are the ones the state
records (a route's id is terraform's `r-<table><hash>`), so census and state compare directly:

* duplicates: more of a kind than the configuration declares
* orphans ("state lost"): live resources the state does not name
* phantoms: state entries that do not exist

The battery gives every trial an account of its own, so "everything in the account" is stricter
than "everything carrying the cell's tags" (a duplicate created without tags would still count).
`CREATE_CALLS` maps each kind to the API call that creates it (the driver pauses around those).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from matrix.clients import ClientFactory
from matrix.engines.embedded.resources.routes import route_id

#: kind -> (botocore event service name, operation) of the call that creates it
CREATE_CALLS = {
    "aws_vpc": ("ec2", "CreateVpc"),
    "aws_subnet": ("ec2", "CreateSubnet"),
    "aws_internet_gateway": ("ec2", "CreateInternetGateway"),
    "aws_eip": ("ec2", "AllocateAddress"),
    "aws_nat_gateway": ("ec2", "CreateNatGateway"),
    "aws_route_table": ("ec2", "CreateRouteTable"),
    "aws_route": ("ec2", "CreateRoute"),
    "aws_route_table_association": ("ec2", "AssociateRouteTable"),
    "aws_vpc_endpoint": ("ec2", "CreateVpcEndpoint"),
    "aws_flow_log": ("ec2", "CreateFlowLogs"),
    "aws_cloudwatch_log_group": ("cloudwatch-logs", "CreateLogGroup"),
    "aws_iam_role": ("iam", "CreateRole"),
    "aws_iam_role_policy": ("iam", "PutRolePolicy"),
}
KINDS = tuple(CREATE_CALLS)


def expected_counts(config_path: Path) -> Counter:
    """How many resources of each kind the cell's cdk.tf.json declares."""
    doc = json.loads(Path(config_path).read_text())
    return Counter({rtype: len(items) for rtype, items in (doc.get("resource") or {}).items()})


def census(clients: ClientFactory, region: str, project: str = "") -> dict[str, list[str]]:
    ec2 = clients.client("ec2", region)
    out: dict[str, list[str]] = {k: [] for k in KINDS}
    vpcs = ec2.describe_vpcs()["Vpcs"]
    default = {v["VpcId"] for v in vpcs if v.get("IsDefault")}
    ours = {v["VpcId"]: v["CidrBlock"] for v in vpcs if not v.get("IsDefault")}
    out["aws_vpc"] = sorted(ours)
    out["aws_subnet"] = sorted(s["SubnetId"] for s in ec2.describe_subnets()["Subnets"] if s["VpcId"] not in default)
    for g in ec2.describe_internet_gateways()["InternetGateways"]:
        if not any(a.get("VpcId") in default for a in g.get("Attachments", [])):
            out["aws_internet_gateway"].append(g["InternetGatewayId"])
    out["aws_eip"] = sorted(a["AllocationId"] for a in ec2.describe_addresses()["Addresses"] if a.get("AllocationId"))
    out["aws_nat_gateway"] = sorted(n["NatGatewayId"] for n in ec2.describe_nat_gateways()["NatGateways"]
                                    if n.get("State") in ("pending", "available"))
    for rt in ec2.describe_route_tables()["RouteTables"]:
        if rt["VpcId"] in default or any(a.get("Main") for a in rt.get("Associations", [])):
            continue
        out["aws_route_table"].append(rt["RouteTableId"])
        for r in rt.get("Routes", []):
            dest = r.get("DestinationCidrBlock")
            if dest and r.get("GatewayId") != "local" and dest != ours.get(rt["VpcId"]):
                out["aws_route"].append(route_id(rt["RouteTableId"], dest))
        for a in rt.get("Associations", []):
            if a.get("SubnetId") and a.get("RouteTableAssociationId"):
                out["aws_route_table_association"].append(a["RouteTableAssociationId"])
    out["aws_vpc_endpoint"] = sorted(
        e["VpcEndpointId"] for e in ec2.describe_vpc_endpoints()["VpcEndpoints"]
        if e.get("State", "").lower() not in ("deleted", "deleting"))
    out["aws_flow_log"] = sorted(f["FlowLogId"] for f in ec2.describe_flow_logs()["FlowLogs"])
    logs = clients.client("logs", region)
    for page in logs.get_paginator("describe_log_groups").paginate():
        out["aws_cloudwatch_log_group"] += [g["logGroupName"] for g in page.get("logGroups", [])]
    iam = clients.client("iam", region)
    for page in iam.get_paginator("list_roles").paginate():
        for role in page.get("Roles", []):
            name = role["RoleName"]
            if project and not name.startswith(project):
                continue
            out["aws_iam_role"].append(name)
            out["aws_iam_role_policy"] += [f"{name}:{p}" for p in
                                           iam.list_role_policies(RoleName=name).get("PolicyNames", [])]
    return {k: sorted(v) for k, v in out.items()}


def counts(found: dict[str, list[str]]) -> Counter:
    return Counter({k: len(v) for k, v in found.items()})


def duplicates(found: dict[str, list[str]], expected: Counter) -> dict[str, int]:
    """Kinds with more resources than the configuration declares: kind -> how many too many."""
    return {k: len(v) - expected.get(k, 0) for k, v in found.items() if len(v) > expected.get(k, 0)}


def missing(found: dict[str, list[str]], expected: Counter) -> dict[str, int]:
    return {k: n - len(found.get(k, [])) for k, n in expected.items() if len(found.get(k, [])) < n}


def state_ids(state: Any) -> dict[str, set[str]]:
    """kind -> ids the state records (a matrix State or its JSON document)."""
    data = state.data if hasattr(state, "data") else state
    out: dict[str, set[str]] = {}
    for r in data.get("resources", []):
        if r.get("mode") != "managed":
            continue
        for inst in r.get("instances", []):
            rid = (inst.get("attributes") or {}).get("id")
            if rid:
                out.setdefault(r["type"], set()).add(str(rid))
    return out


def orphans(found: dict[str, list[str]], recorded: dict[str, set[str]]) -> list[str]:
    """Live resources the state does not name ("kind id")."""
    return [f"{k} {i}" for k, ids in found.items() for i in ids if i not in recorded.get(k, set())]


def phantoms(found: dict[str, list[str]], recorded: dict[str, set[str]]) -> list[str]:
    """State entries that do not exist ("kind id")."""
    return [f"{k} {i}" for k, ids in recorded.items() for i in ids if i not in set(found.get(k, []))]


def total(found: dict[str, list[str]]) -> int:
    return sum(len(v) for v in found.values())
