"""Routing of the VPC stack: route tables (with their inline `route` blocks), routes and route table
associations. All three read from DescribeRouteTables, once per region for all the tables asked for.

A route's destination and target travel under different names in Terraform and in the EC2 API;
`ROUTE_FIELDS` maps one to the other for `aws_route` and for the inline blocks alike, and
`route_from_api` turns a described route back into Terraform's form (a GatewayLoadBalancer
endpoint comes back as GatewayId `vpce-...`, which the AWS provider reads as vpc_endpoint_id).
"""

from __future__ import annotations

import hashlib
from typing import Any

from botocore.exceptions import ClientError

from matrix.engines.embedded.arguments.normalize import cidr
from matrix.engines.embedded.arguments.spec import (
    ID,
    REGION,
    TAGS,
    TAGS_ALL,
    inplace,
    refused,
    replace,
    timeouts_for,
)
from matrix.engines.embedded.resources.base import (
    Ctx,
    Handler,
    blocks,
    describe_filtered,
    ec2_arn,
    error_code,
    from_ec2_tags,
    given,
    ignore_codes,
    retry_dependency,
    tag_spec,
    tags_of,
)

#: aws_route argument -> EC2 API field (destinations first)
DESTINATIONS = {"destination_cidr_block": "DestinationCidrBlock", "destination_ipv6_cidr_block":
                "DestinationIpv6CidrBlock", "destination_prefix_list_id": "DestinationPrefixListId"}
TARGETS = {"gateway_id": "GatewayId", "nat_gateway_id": "NatGatewayId", "network_interface_id": "NetworkInterfaceId",
           "transit_gateway_id": "TransitGatewayId", "vpc_peering_connection_id": "VpcPeeringConnectionId",
           "egress_only_gateway_id": "EgressOnlyInternetGatewayId", "carrier_gateway_id": "CarrierGatewayId",
           "vpc_endpoint_id": "VpcEndpointId"}
ROUTE_FIELDS = {**DESTINATIONS, **TARGETS}
#: an inline `route` block names its destinations like this
INLINE_DESTINATIONS = {"cidr_block": "destination_cidr_block", "ipv6_cidr_block": "destination_ipv6_cidr_block",
                       "destination_prefix_list_id": "destination_prefix_list_id"}
NOT_STORED = "the emulators accept the route but do not store this target"
LOCAL_GATEWAY = refused(NOT_STORED + " (Outposts local gateways)", probe="route-local-gateway")
CORE_NETWORK = refused(NOT_STORED + " (Cloud WAN core networks)", probe="route-core-network")
REPLACE_ONLY = ("ReplaceRoute does not set this target on the emulators (probe route-replace-target): "
                "a change to or from it replaces the route")


def route_from_api(r: dict[str, Any]) -> dict[str, Any]:
    """A described route in aws_route's argument names (empty fields left out)."""
    out = {arg: r[key] for arg, key in ROUTE_FIELDS.items() if r.get(key)}
    gateway = out.get("gateway_id", "")
    if gateway.startswith("vpce-"):
        out["vpc_endpoint_id"] = out.pop("gateway_id")
    return out


def route_kw(route: dict[str, Any]) -> dict[str, Any]:
    """aws_route arguments -> CreateRoute/ReplaceRoute keywords."""
    return {key: route[arg] for arg, key in ROUTE_FIELDS.items() if route.get(arg)}


def destination(route: dict[str, Any]) -> tuple[str, str]:
    for arg in DESTINATIONS:
        if route.get(arg):
            return arg, cidr(route[arg])
    raise ValueError("a route needs destination_cidr_block, destination_ipv6_cidr_block or "
                     "destination_prefix_list_id")


def is_managed(r: dict[str, Any]) -> bool:
    """Routes a configuration manages: not the VPC's local route, not one propagated by a gateway."""
    return r.get("GatewayId") != "local" and r.get("Origin") != "EnableVgwRoutePropagation"


def describe_tables(ctx: Ctx, ids: list[str]) -> dict[str, dict[str, Any]]:
    return describe_filtered(ctx.client("ec2").describe_route_tables, "RouteTables", "route-table-id", ids,
                             "RouteTableId")


def inline_to_route(block: dict[str, Any]) -> dict[str, Any]:
    """An inline `route` block in aws_route's names."""
    out = {INLINE_DESTINATIONS.get(k, k): v for k, v in block.items() if v not in (None, "")}
    return {k: v for k, v in out.items() if k in ROUTE_FIELDS}


def route_to_inline(route: dict[str, Any]) -> dict[str, Any]:
    back = {v: k for k, v in INLINE_DESTINATIONS.items()}
    return {back.get(k, k): v for k, v in route.items()}


class RouteTable(Handler):
    type = "aws_route_table"
    sweep_rank = 6

    def leftovers(self, ctx, query):
        """The cell's route tables and, in the same describe, their associations (judged by the table's tags)."""
        for rt in ctx.client("ec2").describe_route_tables(Filters=query.ec2_filters()).get("RouteTables", []):
            tags = from_ec2_tags(rt.get("Tags"))
            yield query.leftover(self.type, rt["RouteTableId"], {}, tags)
            for assoc in rt.get("Associations", []):
                if not assoc.get("Main") and assoc.get("RouteTableAssociationId") and query.owns(tags):
                    yield query.leftover(RouteTableAssociation.type, assoc["RouteTableAssociationId"],
                                         {"subnet_id": assoc.get("SubnetId"), "route_table_id": rt["RouteTableId"]},
                                         None)

    args = {
        "vpc_id": replace(),
        "route": inplace("the table's routes, managed as a set: DeleteRoute for each removed, CreateRoute for each "
                         "added (absent: routes are left alone; []: every non-local route is removed)",
                         compare="blockset"),
        **{f"route.{name}": inplace("see route") for name in ("cidr_block", "ipv6_cidr_block",
                                                               "destination_prefix_list_id", *TARGETS)},
        "route.core_network_arn": CORE_NETWORK,
        "route.local_gateway_id": LOCAL_GATEWAY,
        "propagating_vgws": refused("route propagation from virtual private gateways is not implemented by the "
                                    "emulators", probe="route-table-propagating-vgws"),
        **timeouts_for("create", "delete", "update"),
        "id": ID, "region": REGION, "tags": TAGS, "tags_all": TAGS_ALL,
    }
    exports = frozenset({"id", "arn", "owner_id", "vpc_id"})

    def create(self, ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
        ec2 = ctx.client("ec2")
        rt = ec2.create_route_table(VpcId=args["vpc_id"], TagSpecifications=tag_spec("route-table", tags_of(args)))
        rt = rt["RouteTable"]
        for block in blocks(args.get("route")):
            ec2.create_route(RouteTableId=rt["RouteTableId"], **route_kw(inline_to_route(block)))
        owner = rt.get("OwnerId", "")
        return {"id": rt["RouteTableId"], "owner_id": owner,
                "arn": ec2_arn(ctx, "route-table", rt["RouteTableId"], owner)}

    def read_many(self, ctx, items):
        found = describe_tables(ctx, [a["id"] for a, _ in items])
        out: list[dict[str, Any] | None] = []
        for attrs, _wanted in items:
            rt = found.get(attrs["id"])
            if rt is None:
                out.append(None)
                continue
            owner = rt.get("OwnerId", "")
            out.append({"id": rt["RouteTableId"], "owner_id": owner, "vpc_id": rt["VpcId"],
                        "arn": ec2_arn(ctx, "route-table", rt["RouteTableId"], owner),
                        "tags_all": from_ec2_tags(rt.get("Tags")),
                        "route": [route_to_inline(route_from_api(r)) for r in rt.get("Routes", []) if is_managed(r)]})
        return out

    def update_arg(self, ctx, attrs, args, arg):
        if arg != "route":
            return super().update_arg(ctx, attrs, args, arg)
        ec2 = ctx.client("ec2")
        have = {destination(inline_to_route(b)): inline_to_route(b) for b in blocks(attrs.get("route"))}
        want = {destination(inline_to_route(b)): inline_to_route(b) for b in blocks(args.get("route"))}
        for dest, route in have.items():
            if want.get(dest) != route:
                ignore_codes(lambda d=dest: ec2.delete_route(RouteTableId=attrs["id"], **{DESTINATIONS[d[0]]: d[1]}),
                             "InvalidRoute.NotFound")
        for dest, route in want.items():
            if have.get(dest) != route:
                ec2.create_route(RouteTableId=attrs["id"], **route_kw(route))
        return None

    def delete(self, ctx: Ctx, attrs: dict[str, Any]) -> None:
        ec2 = ctx.client("ec2")
        retry_dependency(
            ctx, f"route table {attrs['id']} to have no associations",
            lambda: ignore_codes(lambda: ec2.delete_route_table(RouteTableId=attrs["id"]),
                                 "InvalidRouteTableID.NotFound"),
            ("DependencyViolation",))

    def find(self, ctx: Ctx, args: dict[str, Any]) -> dict[str, Any] | None:
        name = tags_of(args).get("Name")
        if not name:
            return None
        found = ctx.client("ec2").describe_route_tables(Filters=[
            {"Name": "vpc-id", "Values": [args["vpc_id"]]}, {"Name": "tag:Name", "Values": [name]}])["RouteTables"]
        if not found:
            return None
        owner = found[0].get("OwnerId", "")
        return {"id": found[0]["RouteTableId"], "owner_id": owner,
                "arn": ec2_arn(ctx, "route-table", found[0]["RouteTableId"], owner)}


def route_id(route_table_id: str, destination: str) -> str:
    """Terraform's aws_route id: r-<route table id><crc-like hash of the destination>."""
    digest = int(hashlib.sha256(destination.encode()).hexdigest()[:8], 16)
    return f"r-{route_table_id}{digest}"


class Route(Handler):
    type = "aws_route"
    taggable = False
    args = {
        "route_table_id": replace(),
        "destination_cidr_block": replace(compare="cidr"),
        "destination_ipv6_cidr_block": replace(compare="cidr"),
        "destination_prefix_list_id": replace(),
        **{arg: inplace("ReplaceRoute") for arg in TARGETS if arg not in ("carrier_gateway_id", "vpc_endpoint_id")},
        "carrier_gateway_id": replace(REPLACE_ONLY),
        "vpc_endpoint_id": replace(REPLACE_ONLY),
        "core_network_arn": CORE_NETWORK,
        "local_gateway_id": LOCAL_GATEWAY,
        **timeouts_for("create", "delete", "update"),
        "id": ID, "region": REGION,
    }
    exports = frozenset({"id", "route_table_id", "destination_cidr_block", "state", "origin"})

    def create(self, ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
        ec2 = ctx.client("ec2")
        kw = {"RouteTableId": args["route_table_id"], **route_kw(args)}
        try:
            ec2.create_route(**kw)
        except ClientError as exc:
            if error_code(exc) != "RouteAlreadyExists":
                raise
            ec2.replace_route(**kw)  # adopt: make it point where the config says
        return {"id": route_id(args["route_table_id"], destination(args)[1]), "state": "active",
                "origin": "CreateRoute"}

    def read_many(self, ctx, items):
        found = describe_tables(ctx, [a["route_table_id"] for a, _ in items])
        out: list[dict[str, Any] | None] = []
        for attrs, _wanted in items:
            rt = found.get(attrs["route_table_id"])
            dest = destination(attrs)
            match = None
            for r in (rt or {}).get("Routes", []):
                route = route_from_api(r)
                if is_managed(r) and any(cidr(route.get(arg)) == dest[1] for arg in DESTINATIONS if route.get(arg)):
                    match = (r, route)
                    break
            if match is None:
                out.append(None)
                continue
            r, route = match
            live = {arg: route.get(arg) for arg in ROUTE_FIELDS}
            out.append({**live, "id": attrs.get("id") or route_id(attrs["route_table_id"], dest[1]),
                        "route_table_id": attrs["route_table_id"], "state": r.get("State", "active"),
                        "origin": r.get("Origin", "CreateRoute")})
        return out

    def update(self, ctx, attrs, args, changed):
        out = super().update(ctx, attrs, args, changed - set(TARGETS))
        if changed & set(TARGETS):
            ctx.client("ec2").replace_route(RouteTableId=args["route_table_id"], **route_kw(args))
        return out

    def delete(self, ctx: Ctx, attrs: dict[str, Any]) -> None:
        dest = destination(attrs)
        ignore_codes(lambda: ctx.client("ec2").delete_route(
            RouteTableId=attrs["route_table_id"], **{DESTINATIONS[dest[0]]: attrs[dest[0]]}),
            "InvalidRoute.NotFound", "InvalidRouteTableID.NotFound")


class RouteTableAssociation(Handler):
    type = "aws_route_table_association"
    sweep_rank = 2  # found with its route table (RouteTable.leftovers)
    taggable = False
    args = {
        "route_table_id": inplace("ReplaceRouteTableAssociation"),
        "subnet_id": replace(),
        "gateway_id": replace(),
        **timeouts_for("create", "delete", "update"),
        "id": ID, "region": REGION,
    }
    exports = frozenset({"id", "subnet_id", "route_table_id", "gateway_id"})

    def create(self, ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
        ec2 = ctx.client("ec2")
        kw = {"RouteTableId": args["route_table_id"]}
        kw.update({"GatewayId": args["gateway_id"]} if given(args, "gateway_id") else {"SubnetId": args["subnet_id"]})
        try:
            return {"id": ec2.associate_route_table(**kw)["AssociationId"]}
        except ClientError as exc:
            if error_code(exc) != "Resource.AlreadyAssociated":
                raise
        found = self.find(ctx, args)  # adopt the existing association (after a crash)
        if not found:
            raise RuntimeError(f"{args.get('subnet_id') or args.get('gateway_id')} is associated elsewhere")
        return found

    def read_many(self, ctx, items):
        """The tables the associations were made with, in one call; an association found in none of
        them (moved outside) is looked for alone. Not one filter with all the ids: both emulators
        match a list-valued filter only when one set of ids contains the other (emulator gap
        ec2-multi-value-filter), so associations of a table made by different applies go unseen.
        An association whose table is gone is gone too (AWS deletes no table that has associations,
        and moving one gives it a new id): it is not looked for, so a read after a destroy costs
        one call, not one per association."""
        tables = describe_tables(ctx, [a["route_table_id"] for a, _ in items if a.get("route_table_id")])
        by_id = {a.get("RouteTableAssociationId"): (rt, a)
                 for rt in tables.values() for a in rt.get("Associations", [])}
        for attrs, _wanted in items:
            table_gone = bool(attrs.get("route_table_id")) and attrs["route_table_id"] not in tables
            if attrs["id"] not in by_id and not table_gone:
                for rt in ctx.client("ec2").describe_route_tables(Filters=[
                        {"Name": "association.route-table-association-id", "Values": [attrs["id"]]}])["RouteTables"]:
                    by_id.update({a.get("RouteTableAssociationId"): (rt, a) for a in rt.get("Associations", [])})
        out: list[dict[str, Any] | None] = []
        for attrs, _wanted in items:
            hit = by_id.get(attrs["id"])
            if hit is None:
                out.append(None)
                continue
            rt, a = hit
            out.append({"id": attrs["id"], "route_table_id": rt["RouteTableId"], "subnet_id": a.get("SubnetId"),
                        "gateway_id": a.get("GatewayId")})
        return out

    def update_arg(self, ctx, attrs, args, arg):
        if arg != "route_table_id":
            return super().update_arg(ctx, attrs, args, arg)
        new = ctx.client("ec2").replace_route_table_association(AssociationId=attrs["id"],
                                                                RouteTableId=args["route_table_id"])
        return {"id": new["NewAssociationId"]}

    def delete(self, ctx: Ctx, attrs: dict[str, Any]) -> None:
        ignore_codes(lambda: ctx.client("ec2").disassociate_route_table(AssociationId=attrs["id"]),
                     "InvalidAssociationID.NotFound")

    def find(self, ctx: Ctx, args: dict[str, Any]) -> dict[str, Any] | None:
        key, value = (("gateway-id", args["gateway_id"]) if given(args, "gateway_id")
                      else ("subnet-id", args.get("subnet_id")))
        rts = ctx.client("ec2").describe_route_tables(Filters=[
            {"Name": f"association.{key}", "Values": [value]}])["RouteTables"]
        for rt in rts:
            for a in rt.get("Associations", []):
                if value in (a.get("SubnetId"), a.get("GatewayId")) and rt["RouteTableId"] == args["route_table_id"]:
                    return {"id": a["RouteTableAssociationId"]}
        return None


HANDLERS = [RouteTable, Route, RouteTableAssociation]
