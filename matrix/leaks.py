"""Leftovers: what a cell left behind after its destroy, found by tag and by id, and their removal.

`find_leftovers(clients, region, tags, state_ids)` lists every resource in the cell's account and
region (plus IAM, which is global) that carries the cell's identifying tags (RunId,
EnvironmentSuffix, and Fault when set), or whose id the state named before the destroy. Each
leftover is a (Terraform type, id, attributes) triple, so `sweep()` deletes it with the same
handler the engine uses, in an order AWS accepts (flow logs and endpoints first, the VPC last, then
log groups and roles).

`python -m matrix sweep --run-id ID | --all-runs [--dry-run]` runs the same two functions over the
accounts that the deployment records and the target know.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from matrix.clients import ClientFactory
from matrix.engines.embedded.resources import HANDLERS
from matrix.engines.embedded.resources.base import Ctx, error_code

#: deletion order that AWS accepts for leftovers of the VPC stack
SWEEP_ORDER = (
    "aws_flow_log", "aws_vpc_endpoint", "aws_route_table_association", "aws_nat_gateway", "aws_eip",
    "aws_subnet", "aws_route_table", "aws_internet_gateway", "aws_vpc", "aws_iam_role_policy",
    "aws_cloudwatch_log_group", "aws_iam_role",
)


@dataclass(frozen=True)
class Leftover:
    type: str
    id: str
    attrs: dict[str, Any]

    def line(self) -> str:
        name = self.attrs.get("tags_all", {}).get("Name") if isinstance(self.attrs.get("tags_all"), dict) else None
        return f"{self.type} {self.id}" + (f" ({name})" if name else "")


def _tag_filters(tags: dict[str, str]) -> list[dict[str, Any]]:
    return [{"Name": f"tag:{k}", "Values": [v]} for k, v in sorted(tags.items())]


def _matches(found: dict[str, str], tags: dict[str, str], fault: str | None) -> bool:
    if any(found.get(k) != v for k, v in tags.items()):
        return False
    return found.get("Fault") == fault if fault is not None or "Fault" in found else True


def _tagdict(items: list[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in items or []}


def find_leftovers(clients: ClientFactory, region: str, tags: dict[str, str], fault: str | None = None,
                   state_ids: dict[str, dict[str, Any]] | None = None,
                   iam_prefix: str | None = None) -> list[Leftover]:
    """Resources of the cell still present: tagged with `tags` (exactly `fault`), or named in state."""
    ec2 = clients.client("ec2", region)
    out: dict[tuple[str, str], Leftover] = {}
    filters = _tag_filters(tags)

    def add(rtype: str, rid: str, attrs: dict[str, Any], found_tags: dict[str, str] | None) -> None:
        if found_tags is not None and not _matches(found_tags, tags, fault):
            return
        out[(rtype, rid)] = Leftover(rtype, rid, {**attrs, "id": rid, "tags_all": found_tags or {}})

    for f in ec2.describe_flow_logs(Filters=filters).get("FlowLogs", []):
        add("aws_flow_log", f["FlowLogId"], {}, _tagdict(f.get("Tags")))
    for e in ec2.describe_vpc_endpoints(Filters=filters).get("VpcEndpoints", []):
        if e.get("State", "").lower() not in ("deleted", "deleting"):
            add("aws_vpc_endpoint", e["VpcEndpointId"], {}, _tagdict(e.get("Tags")))
    for n in ec2.describe_nat_gateways(Filters=filters).get("NatGateways", []):
        if n.get("State") in ("pending", "available"):
            add("aws_nat_gateway", n["NatGatewayId"], {}, _tagdict(n.get("Tags")))
    for a in ec2.describe_addresses(Filters=filters).get("Addresses", []):
        add("aws_eip", a["AllocationId"], {"allocation_id": a["AllocationId"]}, _tagdict(a.get("Tags")))
    for s in ec2.describe_subnets(Filters=filters).get("Subnets", []):
        add("aws_subnet", s["SubnetId"], {}, _tagdict(s.get("Tags")))
    for rt in ec2.describe_route_tables(Filters=filters).get("RouteTables", []):
        add("aws_route_table", rt["RouteTableId"], {}, _tagdict(rt.get("Tags")))
        for assoc in rt.get("Associations", []):
            if not assoc.get("Main") and assoc.get("RouteTableAssociationId") and _matches(
                    _tagdict(rt.get("Tags")), tags, fault):
                add("aws_route_table_association", assoc["RouteTableAssociationId"],
                    {"subnet_id": assoc.get("SubnetId"), "route_table_id": rt["RouteTableId"]}, None)
    for g in ec2.describe_internet_gateways(Filters=filters).get("InternetGateways", []):
        vpc = next((a["VpcId"] for a in g.get("Attachments", [])), None)
        add("aws_internet_gateway", g["InternetGatewayId"], {"vpc_id": vpc}, _tagdict(g.get("Tags")))
    for v in ec2.describe_vpcs(Filters=filters).get("Vpcs", []):
        add("aws_vpc", v["VpcId"], {}, _tagdict(v.get("Tags")))

    logs = clients.client("logs", region)
    for page in logs.get_paginator("describe_log_groups").paginate():
        for g in page.get("logGroups", []):
            arn = g.get("logGroupArn") or g.get("arn", "").removesuffix(":*")
            found = logs.list_tags_for_resource(resourceArn=arn).get("tags", {}) if arn else {}
            add("aws_cloudwatch_log_group", g["logGroupName"], {"name": g["logGroupName"], "arn": arn}, found)

    iam = clients.client("iam", region)
    for page in iam.get_paginator("list_roles").paginate():
        for r in page.get("Roles", []):
            if iam_prefix and not r["RoleName"].startswith(iam_prefix):
                continue
            try:
                found = _tagdict(iam.list_role_tags(RoleName=r["RoleName"]).get("Tags"))
            except ClientError as exc:
                if error_code(exc) == "NoSuchEntity":
                    continue
                raise
            if found.get("Region", region) != region:
                continue  # a sibling cell's role in another region
            add("aws_iam_role", r["RoleName"], {"name": r["RoleName"]}, found)

    for address, attrs in (state_ids or {}).items():
        rtype = address.split(".")[0]
        handler = HANDLERS.get(rtype)
        if handler is None or (rtype, attrs.get("id")) in out:
            continue
        try:
            live = handler.read(Ctx(clients, region), attrs)
        except ClientError:
            live = None
        if live is not None:
            out[(rtype, attrs["id"])] = Leftover(rtype, attrs["id"], live)
    return sorted(out.values(), key=lambda lo: (SWEEP_ORDER.index(lo.type) if lo.type in SWEEP_ORDER else 99, lo.id))


def sweep(clients: ClientFactory, region: str, leftovers: list[Leftover],
          log: Callable[[str], None] = print) -> list[str]:
    """Delete leftovers in SWEEP_ORDER; returns the ones that could not be deleted (with why)."""
    ctx = Ctx(clients, region)
    failed = []
    for lo in leftovers:
        handler = HANDLERS.get(lo.type)
        if handler is None:
            failed.append(f"{lo.line()}: no handler")
            continue
        try:
            if lo.type == "aws_iam_role_policy":
                continue
            handler.delete(ctx, lo.attrs)
            log(f"swept {lo.line()}")
        except Exception as exc:
            failed.append(f"{lo.line()}: {type(exc).__name__}: {exc}")
    return failed
