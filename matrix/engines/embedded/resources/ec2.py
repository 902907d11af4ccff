"""EC2 network resources of the VPC stack: VPC, subnets, internet and NAT gateways, EIPs, route
tables, routes and associations, the S3 gateway endpoint, flow logs, and the AZ data source.

Each class is one Terraform type (see base.Handler). Creates tag through TagSpecifications (one
call), deletes treat the type's NotFound codes as done (destroy is idempotent), and asynchronous
resources (NAT gateways) are waited for with the context's timeout.
"""

from __future__ import annotations

import hashlib
from typing import Any

from botocore.exceptions import ClientError

from matrix.engines.embedded.resources.base import (
    Ctx,
    DataSource,
    Handler,
    describe_one,
    error_code,
    from_ec2_tags,
    ignore_codes,
    tag_spec,
)


def _arn(ctx: Ctx, kind: str, rid: str, owner: str) -> str:
    return f"arn:aws:ec2:{ctx.region}:{owner}:{kind}/{rid}"


def _tags(args: dict[str, Any]) -> dict[str, str]:
    return args.get("tags_all") or {}


def _retry_dependency(ctx: Ctx, what: str, fn, codes: tuple[str, ...], timeout: float = 120) -> None:
    """Deletes that AWS refuses while a dependent is still going away: retry until it is gone."""
    def attempt() -> bool:
        try:
            fn()
            return True
        except ClientError as exc:
            if error_code(exc) in codes:
                return False
            raise

    ctx.wait_for(what, attempt, timeout)


class Vpc(Handler):
    type = "aws_vpc"
    force_new = frozenset({"cidr_block", "instance_tenancy"})
    updatable = frozenset({"enable_dns_support", "enable_dns_hostnames"})
    exports = frozenset({"id", "arn", "cidr_block", "owner_id", "main_route_table_id",
                         "default_route_table_id", "default_security_group_id", "default_network_acl_id"})

    def create(self, ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
        ec2 = ctx.client("ec2")
        vpc = ec2.create_vpc(CidrBlock=args["cidr_block"], TagSpecifications=tag_spec("vpc", _tags(args)))["Vpc"]
        attrs = {**args, "id": vpc["VpcId"], "owner_id": vpc.get("OwnerId", ""),
                 "arn": _arn(ctx, "vpc", vpc["VpcId"], vpc.get("OwnerId", "")),
                 "instance_tenancy": vpc.get("InstanceTenancy", "default"),
                 "enable_dns_support": args.get("enable_dns_support", True),
                 "enable_dns_hostnames": args.get("enable_dns_hostnames", False)}
        self._dns(ctx, vpc["VpcId"], attrs, {"enable_dns_support": True, "enable_dns_hostnames": False})
        return attrs

    def _dns(self, ctx: Ctx, vpc_id: str, want: dict[str, Any], have: dict[str, Any]) -> None:
        ec2 = ctx.client("ec2")
        if bool(want.get("enable_dns_support", True)) != bool(have.get("enable_dns_support", True)):
            ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsSupport={"Value": bool(want["enable_dns_support"])})
        if bool(want.get("enable_dns_hostnames", False)) != bool(have.get("enable_dns_hostnames", False)):
            ec2.modify_vpc_attribute(VpcId=vpc_id,
                                     EnableDnsHostnames={"Value": bool(want["enable_dns_hostnames"])})

    def read(self, ctx: Ctx, attrs: dict[str, Any]) -> dict[str, Any] | None:
        ec2 = ctx.client("ec2")
        v = describe_one(lambda: ec2.describe_vpcs(VpcIds=[attrs["id"]]), "Vpcs", "InvalidVpcID.NotFound")
        if v is None:
            return None
        support = ec2.describe_vpc_attribute(VpcId=v["VpcId"], Attribute="enableDnsSupport")
        hostnames = ec2.describe_vpc_attribute(VpcId=v["VpcId"], Attribute="enableDnsHostnames")
        return {**attrs, "cidr_block": v["CidrBlock"], "tags_all": from_ec2_tags(v.get("Tags")),
                "enable_dns_support": support["EnableDnsSupport"]["Value"],
                "enable_dns_hostnames": hostnames["EnableDnsHostnames"]["Value"]}

    def update(self, ctx: Ctx, attrs: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
        self._dns(ctx, attrs["id"], args, attrs)
        return super().update(ctx, attrs, args)

    def delete(self, ctx: Ctx, attrs: dict[str, Any]) -> None:
        ec2 = ctx.client("ec2")
        _retry_dependency(ctx, f"VPC {attrs['id']} to have no dependents",
                          lambda: ignore_codes(lambda: ec2.delete_vpc(VpcId=attrs["id"]), "InvalidVpcID.NotFound"),
                          ("DependencyViolation",))

    def find(self, ctx: Ctx, args: dict[str, Any]) -> dict[str, Any] | None:
        name = _tags(args).get("Name")
        if not name:
            return None
        vpcs = ctx.client("ec2").describe_vpcs(Filters=[
            {"Name": "tag:Name", "Values": [name]}, {"Name": "cidr-block-association.cidr-block",
                                                     "Values": [args["cidr_block"]]}])["Vpcs"]
        return self.read(ctx, {**args, "id": vpcs[0]["VpcId"]}) if vpcs else None


class Subnet(Handler):
    type = "aws_subnet"
    force_new = frozenset({"vpc_id", "cidr_block", "availability_zone", "availability_zone_id"})
    updatable = frozenset({"map_public_ip_on_launch"})
    exports = frozenset({"id", "arn", "vpc_id", "cidr_block", "availability_zone", "availability_zone_id",
                         "owner_id"})

    def create(self, ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
        ec2 = ctx.client("ec2")
        kw: dict[str, Any] = {"VpcId": args["vpc_id"], "CidrBlock": args["cidr_block"],
                              "TagSpecifications": tag_spec("subnet", _tags(args))}
        if args.get("availability_zone"):
            kw["AvailabilityZone"] = args["availability_zone"]
        s = ec2.create_subnet(**kw)["Subnet"]
        if args.get("map_public_ip_on_launch"):
            ec2.modify_subnet_attribute(SubnetId=s["SubnetId"], MapPublicIpOnLaunch={"Value": True})
        return {**args, "id": s["SubnetId"], "owner_id": s.get("OwnerId", ""),
                "availability_zone": s["AvailabilityZone"], "availability_zone_id": s.get("AvailabilityZoneId", ""),
                "arn": s.get("SubnetArn") or _arn(ctx, "subnet", s["SubnetId"], s.get("OwnerId", "")),
                "map_public_ip_on_launch": bool(args.get("map_public_ip_on_launch", False))}

    def read(self, ctx: Ctx, attrs: dict[str, Any]) -> dict[str, Any] | None:
        ec2 = ctx.client("ec2")
        s = describe_one(lambda: ec2.describe_subnets(SubnetIds=[attrs["id"]]), "Subnets", "InvalidSubnetID.NotFound")
        if s is None:
            return None
        return {**attrs, "vpc_id": s["VpcId"], "cidr_block": s["CidrBlock"],
                "availability_zone": s["AvailabilityZone"], "tags_all": from_ec2_tags(s.get("Tags")),
                "map_public_ip_on_launch": bool(s.get("MapPublicIpOnLaunch", False))}

    def update(self, ctx: Ctx, attrs: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
        want = bool(args.get("map_public_ip_on_launch", False))
        if want != bool(attrs.get("map_public_ip_on_launch", False)):
            ctx.client("ec2").modify_subnet_attribute(SubnetId=attrs["id"], MapPublicIpOnLaunch={"Value": want})
        return super().update(ctx, attrs, args)

    def delete(self, ctx: Ctx, attrs: dict[str, Any]) -> None:
        ec2 = ctx.client("ec2")
        _retry_dependency(
            ctx, f"subnet {attrs['id']} to have no dependents",
            lambda: ignore_codes(lambda: ec2.delete_subnet(SubnetId=attrs["id"]), "InvalidSubnetID.NotFound"),
            ("DependencyViolation",))

    def find(self, ctx: Ctx, args: dict[str, Any]) -> dict[str, Any] | None:
        found = ctx.client("ec2").describe_subnets(Filters=[
            {"Name": "vpc-id", "Values": [args["vpc_id"]]},
            {"Name": "cidr-block", "Values": [args["cidr_block"]]}])["Subnets"]
        return self.read(ctx, {**args, "id": found[0]["SubnetId"]}) if found else None


class InternetGateway(Handler):
    type = "aws_internet_gateway"
    force_new = frozenset()
    updatable = frozenset({"vpc_id"})
    exports = frozenset({"id", "arn", "owner_id", "vpc_id"})

    def create(self, ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
        ec2 = ctx.client("ec2")
        igw = ec2.create_internet_gateway(TagSpecifications=tag_spec("internet-gateway", _tags(args)))
        gid = igw["InternetGateway"]["InternetGatewayId"]
        owner = igw["InternetGateway"].get("OwnerId", "")
        attrs = {**args, "id": gid, "owner_id": owner, "arn": _arn(ctx, "internet-gateway", gid, owner)}
        if args.get("vpc_id"):
            ec2.attach_internet_gateway(InternetGatewayId=gid, VpcId=args["vpc_id"])
        return attrs

    def read(self, ctx: Ctx, attrs: dict[str, Any]) -> dict[str, Any] | None:
        ec2 = ctx.client("ec2")
        g = describe_one(lambda: ec2.describe_internet_gateways(InternetGatewayIds=[attrs["id"]]),
                         "InternetGateways", "InvalidInternetGatewayID.NotFound")
        if g is None:
            return None
        attached = [a["VpcId"] for a in g.get("Attachments", []) if a.get("State") in ("available", "attached")]
        return {**attrs, "vpc_id": attached[0] if attached else None, "tags_all": from_ec2_tags(g.get("Tags"))}

    def update(self, ctx: Ctx, attrs: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
        ec2 = ctx.client("ec2")
        if attrs.get("vpc_id") != args.get("vpc_id"):
            if attrs.get("vpc_id"):
                ignore_codes(lambda: ec2.detach_internet_gateway(InternetGatewayId=attrs["id"],
                                                                 VpcId=attrs["vpc_id"]), "Gateway.NotAttached")
            if args.get("vpc_id"):
                ec2.attach_internet_gateway(InternetGatewayId=attrs["id"], VpcId=args["vpc_id"])
        return super().update(ctx, attrs, args)

    def delete(self, ctx: Ctx, attrs: dict[str, Any]) -> None:
        ec2 = ctx.client("ec2")
        if attrs.get("vpc_id"):
            _retry_dependency(
                ctx, f"internet gateway {attrs['id']} to detach (public addresses still mapped)",
                lambda: ignore_codes(lambda: ec2.detach_internet_gateway(
                    InternetGatewayId=attrs["id"], VpcId=attrs["vpc_id"]),
                    "Gateway.NotAttached", "InvalidInternetGatewayID.NotFound", "InvalidVpcID.NotFound"),
                ("DependencyViolation",))
        ignore_codes(lambda: ec2.delete_internet_gateway(InternetGatewayId=attrs["id"]),
                     "InvalidInternetGatewayID.NotFound")

    def find(self, ctx: Ctx, args: dict[str, Any]) -> dict[str, Any] | None:
        filters = [{"Name": "tag:Name", "Values": [_tags(args).get("Name", "")]}]
        found = ctx.client("ec2").describe_internet_gateways(Filters=filters)["InternetGateways"]
        if not found or not _tags(args).get("Name"):
            return None
        gid = found[0]["InternetGatewayId"]
        if args.get("vpc_id") and not found[0].get("Attachments"):
            ctx.client("ec2").attach_internet_gateway(InternetGatewayId=gid, VpcId=args["vpc_id"])
        return self.read(ctx, {**args, "id": gid})


class Eip(Handler):
    type = "aws_eip"
    force_new = frozenset({"domain"})
    exports = frozenset({"id", "allocation_id", "public_ip", "domain", "arn"})

    def create(self, ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
        a = ctx.client("ec2").allocate_address(Domain=args.get("domain", "vpc"),
                                               TagSpecifications=tag_spec("elastic-ip", _tags(args)))
        return {**args, "id": a["AllocationId"], "allocation_id": a["AllocationId"],
                "public_ip": a.get("PublicIp", ""), "domain": a.get("Domain", "vpc")}

    def read(self, ctx: Ctx, attrs: dict[str, Any]) -> dict[str, Any] | None:
        ec2 = ctx.client("ec2")
        a = describe_one(lambda: ec2.describe_addresses(AllocationIds=[attrs["id"]]), "Addresses",
                         "InvalidAllocationID.NotFound", "InvalidAddress.NotFound")
        if a is None:
            return None
        return {**attrs, "public_ip": a.get("PublicIp", ""), "tags_all": from_ec2_tags(a.get("Tags"))}

    def delete(self, ctx: Ctx, attrs: dict[str, Any]) -> None:
        ec2 = ctx.client("ec2")
        _retry_dependency(
            ctx, f"EIP {attrs['id']} to be released (still in use by a NAT gateway going away)",
            lambda: ignore_codes(lambda: ec2.release_address(AllocationId=attrs["id"]),
                                 "InvalidAllocationID.NotFound", "InvalidAddress.NotFound"),
            ("InvalidIPAddress.InUse", "AuthFailure"))

    def find(self, ctx: Ctx, args: dict[str, Any]) -> dict[str, Any] | None:
        name = _tags(args).get("Name")
        if not name:
            return None
        found = ctx.client("ec2").describe_addresses(Filters=[{"Name": "tag:Name", "Values": [name]}])["Addresses"]
        return self.read(ctx, {**args, "id": found[0]["AllocationId"],
                               "allocation_id": found[0]["AllocationId"]}) if found else None


class NatGateway(Handler):
    type = "aws_nat_gateway"
    force_new = frozenset({"allocation_id", "subnet_id", "connectivity_type"})
    exports = frozenset({"id", "allocation_id", "subnet_id", "public_ip", "private_ip", "network_interface_id"})

    def create(self, ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
        ec2 = ctx.client("ec2")
        kw = {"SubnetId": args["subnet_id"], "TagSpecifications": tag_spec("natgateway", _tags(args))}
        if args.get("allocation_id"):
            kw["AllocationId"] = args["allocation_id"]
        nat = ec2.create_nat_gateway(**kw)["NatGateway"]
        nid = nat["NatGatewayId"]
        addrs = (self._wait(ctx, nid, "available") or nat).get("NatGatewayAddresses") or [{}]
        return {**args, "id": nid, "connectivity_type": nat.get("ConnectivityType", "public"),
                "public_ip": addrs[0].get("PublicIp", ""), "private_ip": addrs[0].get("PrivateIp", ""),
                "network_interface_id": addrs[0].get("NetworkInterfaceId", "")}

    def _describe(self, ctx: Ctx, nid: str) -> dict[str, Any] | None:
        ec2 = ctx.client("ec2")
        return describe_one(lambda: ec2.describe_nat_gateways(NatGatewayIds=[nid]), "NatGateways",
                            "NatGatewayNotFound", "InvalidNatGatewayID.NotFound")

    def _wait(self, ctx: Ctx, nid: str, state: str) -> dict[str, Any] | None:
        """Poll until the NAT gateway reaches `state`; returns its last description."""
        last: dict[str, Any] = {}

        def reached() -> bool:
            nat = self._describe(ctx, nid)
            last["nat"] = nat
            current = nat["State"] if nat else "deleted"
            if current == "failed" and state != "failed":
                raise RuntimeError(f"NAT gateway {nid} failed: {nat.get('FailureMessage', '')}")
            return current == state
        ctx.wait_for(f"NAT gateway {nid} to be {state}", reached)
        return last.get("nat")

    def read(self, ctx: Ctx, attrs: dict[str, Any]) -> dict[str, Any] | None:
        nat = self._describe(ctx, attrs["id"])
        if not nat or nat["State"] in ("deleted", "deleting", "failed"):
            return None
        return {**attrs, "subnet_id": nat["SubnetId"], "tags_all": from_ec2_tags(nat.get("Tags")),
                "allocation_id": (nat.get("NatGatewayAddresses") or [{}])[0].get("AllocationId",
                                                                                 attrs.get("allocation_id"))}

    def delete(self, ctx: Ctx, attrs: dict[str, Any]) -> None:
        # Look first: deleting an unknown id answers 500 on both emulators (emulator gap
        # ec2-delete-missing-nat) where AWS answers NatGatewayNotFound.
        nat = self._describe(ctx, attrs["id"])
        if nat is None or nat["State"] in ("deleted", "failed"):
            return
        done = ignore_codes(lambda: ctx.client("ec2").delete_nat_gateway(NatGatewayId=attrs["id"]),
                            "NatGatewayNotFound", "InvalidNatGatewayID.NotFound")
        if done is not None:
            self._wait(ctx, attrs["id"], "deleted")

    def find(self, ctx: Ctx, args: dict[str, Any]) -> dict[str, Any] | None:
        found = ctx.client("ec2").describe_nat_gateways(Filters=[
            {"Name": "subnet-id", "Values": [args["subnet_id"]]},
            {"Name": "state", "Values": ["pending", "available"]}])["NatGateways"]
        if not found:
            return None
        self._wait(ctx, found[0]["NatGatewayId"], "available")
        return self.read(ctx, {**args, "id": found[0]["NatGatewayId"]})


class RouteTable(Handler):
    type = "aws_route_table"
    force_new = frozenset({"vpc_id"})
    exports = frozenset({"id", "arn", "owner_id", "vpc_id"})

    def create(self, ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
        if args.get("route"):
            raise ValueError("inline route blocks on aws_route_table are not supported: use aws_route")
        rt = ctx.client("ec2").create_route_table(VpcId=args["vpc_id"],
                                                  TagSpecifications=tag_spec("route-table", _tags(args)))
        rt = rt["RouteTable"]
        owner = rt.get("OwnerId", "")
        return {**args, "id": rt["RouteTableId"], "owner_id": owner,
                "arn": _arn(ctx, "route-table", rt["RouteTableId"], owner)}

    def read(self, ctx: Ctx, attrs: dict[str, Any]) -> dict[str, Any] | None:
        ec2 = ctx.client("ec2")
        rt = describe_one(lambda: ec2.describe_route_tables(RouteTableIds=[attrs["id"]]), "RouteTables",
                          "InvalidRouteTableID.NotFound")
        if rt is None:
            return None
        return {**attrs, "vpc_id": rt["VpcId"], "tags_all": from_ec2_tags(rt.get("Tags"))}

    def delete(self, ctx: Ctx, attrs: dict[str, Any]) -> None:
        ec2 = ctx.client("ec2")
        _retry_dependency(
            ctx, f"route table {attrs['id']} to have no associations",
            lambda: ignore_codes(lambda: ec2.delete_route_table(RouteTableId=attrs["id"]),
                                 "InvalidRouteTableID.NotFound"),
            ("DependencyViolation",))

    def find(self, ctx: Ctx, args: dict[str, Any]) -> dict[str, Any] | None:
        name = _tags(args).get("Name")
        if not name:
            return None
        found = ctx.client("ec2").describe_route_tables(Filters=[
            {"Name": "vpc-id", "Values": [args["vpc_id"]]}, {"Name": "tag:Name", "Values": [name]}])["RouteTables"]
        return self.read(ctx, {**args, "id": found[0]["RouteTableId"]}) if found else None


TARGETS = ("gateway_id", "nat_gateway_id", "vpc_endpoint_id", "transit_gateway_id", "network_interface_id",
           "vpc_peering_connection_id", "egress_only_gateway_id")
TARGET_KEYS = {"gateway_id": "GatewayId", "nat_gateway_id": "NatGatewayId", "vpc_endpoint_id": "VpcEndpointId",
               "transit_gateway_id": "TransitGatewayId", "network_interface_id": "NetworkInterfaceId",
               "vpc_peering_connection_id": "VpcPeeringConnectionId",
               "egress_only_gateway_id": "EgressOnlyInternetGatewayId"}


def route_id(route_table_id: str, destination: str) -> str:
    """Terraform's aws_route id: r-<route table id><crc-like hash of the destination>."""
    digest = int(hashlib.sha256(destination.encode()).hexdigest()[:8], 16)
    return f"r-{route_table_id}{digest}"


class Route(Handler):
    type = "aws_route"
    taggable = False
    force_new = frozenset({"route_table_id", "destination_cidr_block", "destination_ipv6_cidr_block"})
    updatable = frozenset(TARGETS)
    exports = frozenset({"id", "route_table_id", "destination_cidr_block", "state", "origin"})

    def _kw(self, args: dict[str, Any]) -> dict[str, Any]:
        kw = {"RouteTableId": args["route_table_id"], "DestinationCidrBlock": args["destination_cidr_block"]}
        for arg, key in TARGET_KEYS.items():
            if args.get(arg):
                kw[key] = args[arg]
        return kw

    def create(self, ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
        ec2 = ctx.client("ec2")
        try:
            ec2.create_route(**self._kw(args))
        except ClientError as exc:
            if error_code(exc) != "RouteAlreadyExists":
                raise
            ec2.replace_route(**self._kw(args))  # adopt: make it point where the config says
        return {**args, "id": route_id(args["route_table_id"], args["destination_cidr_block"]),
                "state": "active", "origin": "CreateRoute"}

    def read(self, ctx: Ctx, attrs: dict[str, Any]) -> dict[str, Any] | None:
        ec2 = ctx.client("ec2")
        rt = describe_one(lambda: ec2.describe_route_tables(RouteTableIds=[attrs["route_table_id"]]), "RouteTables",
                          "InvalidRouteTableID.NotFound")
        for r in (rt["Routes"] if rt else []):
            if r.get("DestinationCidrBlock") == attrs["destination_cidr_block"]:
                return {**attrs, **{arg: r.get(key) for arg, key in TARGET_KEYS.items()}}
        return None

    def update(self, ctx: Ctx, attrs: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
        ctx.client("ec2").replace_route(**self._kw(args))
        return {**attrs, **args}

    def delete(self, ctx: Ctx, attrs: dict[str, Any]) -> None:
        ignore_codes(lambda: ctx.client("ec2").delete_route(
            RouteTableId=attrs["route_table_id"], DestinationCidrBlock=attrs["destination_cidr_block"]),
            "InvalidRoute.NotFound", "InvalidRouteTableID.NotFound")


class RouteTableAssociation(Handler):
    type = "aws_route_table_association"
    taggable = False
    force_new = frozenset({"subnet_id", "gateway_id"})
    updatable = frozenset({"route_table_id"})
    exports = frozenset({"id", "subnet_id", "route_table_id"})

    def create(self, ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
        ec2 = ctx.client("ec2")
        try:
            assoc = ec2.associate_route_table(SubnetId=args["subnet_id"], RouteTableId=args["route_table_id"])
            return {**args, "id": assoc["AssociationId"]}
        except ClientError as exc:
            if error_code(exc) != "Resource.AlreadyAssociated":
                raise
        found = self.find(ctx, args)  # adopt the existing association (after a crash)
        if not found:
            raise RuntimeError(f"subnet {args['subnet_id']} is associated elsewhere")
        return found

    def read(self, ctx: Ctx, attrs: dict[str, Any]) -> dict[str, Any] | None:
        rts = ctx.client("ec2").describe_route_tables(Filters=[
            {"Name": "association.route-table-association-id", "Values": [attrs["id"]]}])["RouteTables"]
        for rt in rts:
            for a in rt.get("Associations", []):
                if a.get("RouteTableAssociationId") == attrs["id"]:
                    return {**attrs, "route_table_id": rt["RouteTableId"], "subnet_id": a.get("SubnetId")}
        return None

    def update(self, ctx: Ctx, attrs: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
        new = ctx.client("ec2").replace_route_table_association(AssociationId=attrs["id"],
                                                                RouteTableId=args["route_table_id"])
        return {**attrs, **args, "id": new["NewAssociationId"]}

    def delete(self, ctx: Ctx, attrs: dict[str, Any]) -> None:
        ignore_codes(lambda: ctx.client("ec2").disassociate_route_table(AssociationId=attrs["id"]),
                     "InvalidAssociationID.NotFound")

    def find(self, ctx: Ctx, args: dict[str, Any]) -> dict[str, Any] | None:
        rts = ctx.client("ec2").describe_route_tables(Filters=[
            {"Name": "association.subnet-id", "Values": [args["subnet_id"]]}])["RouteTables"]
        for rt in rts:
            for a in rt.get("Associations", []):
                if a.get("SubnetId") == args["subnet_id"] and rt["RouteTableId"] == args["route_table_id"]:
                    return {**args, "id": a["RouteTableAssociationId"]}
        return None


class VpcEndpoint(Handler):
    type = "aws_vpc_endpoint"
    force_new = frozenset({"vpc_id", "service_name", "vpc_endpoint_type"})
    updatable = frozenset({"route_table_ids"})
    set_args = frozenset({"route_table_ids"})
    json_args = frozenset({"policy"})
    exports = frozenset({"id", "arn", "prefix_list_id", "state", "owner_id", "vpc_id", "service_name"})

    def create(self, ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
        kw: dict[str, Any] = {"VpcId": args["vpc_id"], "ServiceName": args["service_name"],
                              "VpcEndpointType": args.get("vpc_endpoint_type", "Gateway"),
                              "TagSpecifications": tag_spec("vpc-endpoint", _tags(args))}
        if args.get("route_table_ids"):
            kw["RouteTableIds"] = list(args["route_table_ids"])
        if args.get("policy"):
            kw["PolicyDocument"] = args["policy"]
        ep = ctx.client("ec2").create_vpc_endpoint(**kw)["VpcEndpoint"]
        owner = ep.get("OwnerId", "")
        return {**args, "id": ep["VpcEndpointId"], "state": ep.get("State", "available"), "owner_id": owner,
                "arn": _arn(ctx, "vpc-endpoint", ep["VpcEndpointId"], owner),
                "vpc_endpoint_type": ep.get("VpcEndpointType", "Gateway"),
                "route_table_ids": sorted(args.get("route_table_ids") or [])}

    def read(self, ctx: Ctx, attrs: dict[str, Any]) -> dict[str, Any] | None:
        ec2 = ctx.client("ec2")
        ep = describe_one(lambda: ec2.describe_vpc_endpoints(VpcEndpointIds=[attrs["id"]]), "VpcEndpoints",
                          "InvalidVpcEndpointId.NotFound", "InvalidVpcEndpoint.NotFound")
        if ep is None or ep.get("State", "").lower() in ("deleted", "deleting"):
            return None
        return {**attrs, "route_table_ids": sorted(ep.get("RouteTableIds", [])), "vpc_id": ep["VpcId"],
                "service_name": ep["ServiceName"], "tags_all": from_ec2_tags(ep.get("Tags"))}

    def update(self, ctx: Ctx, attrs: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
        have, want = set(attrs.get("route_table_ids") or []), set(args.get("route_table_ids") or [])
        if have != want:
            kw: dict[str, Any] = {"VpcEndpointId": attrs["id"]}
            if want - have:
                kw["AddRouteTableIds"] = sorted(want - have)
            if have - want:
                kw["RemoveRouteTableIds"] = sorted(have - want)
            ctx.client("ec2").modify_vpc_endpoint(**kw)
        return super().update(ctx, attrs, {**args, "route_table_ids": sorted(want)})

    def delete(self, ctx: Ctx, attrs: dict[str, Any]) -> None:
        out = ignore_codes(lambda: ctx.client("ec2").delete_vpc_endpoints(VpcEndpointIds=[attrs["id"]]),
                           "InvalidVpcEndpointId.NotFound")
        for item in (out or {}).get("Unsuccessful", []):
            code = item.get("Error", {}).get("Code", "")
            if code not in ("InvalidVpcEndpointId.NotFound", "InvalidVpcEndpoint.NotFound"):
                raise RuntimeError(f"deleting VPC endpoint {attrs['id']}: {code} {item['Error'].get('Message', '')}")

    def find(self, ctx: Ctx, args: dict[str, Any]) -> dict[str, Any] | None:
        eps = ctx.client("ec2").describe_vpc_endpoints(Filters=[
            {"Name": "vpc-id", "Values": [args["vpc_id"]]},
            {"Name": "service-name", "Values": [args["service_name"]]}])["VpcEndpoints"]
        live = [e for e in eps if e.get("State", "").lower() not in ("deleted", "deleting")]
        return self.read(ctx, {**args, "id": live[0]["VpcEndpointId"]}) if live else None


class FlowLog(Handler):
    type = "aws_flow_log"
    force_new = frozenset({"vpc_id", "subnet_id", "traffic_type", "log_destination", "log_destination_type",
                           "iam_role_arn", "max_aggregation_interval", "log_format", "log_group_name"})
    exports = frozenset({"id", "arn", "vpc_id", "log_destination"})

    def create(self, ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
        kw: dict[str, Any] = {
            "ResourceIds": [args["vpc_id"]], "ResourceType": "VPC",
            "TrafficType": args.get("traffic_type", "ALL"),
            "LogDestinationType": args.get("log_destination_type", "cloud-watch-logs"),
            "TagSpecifications": tag_spec("vpc-flow-log", _tags(args)),
        }
        if args.get("log_destination"):
            kw["LogDestination"] = args["log_destination"]
        if args.get("iam_role_arn"):
            kw["DeliverLogsPermissionArn"] = args["iam_role_arn"]
        if args.get("max_aggregation_interval") is not None:
            kw["MaxAggregationInterval"] = int(args["max_aggregation_interval"])
        out = ctx.client("ec2").create_flow_logs(**kw)
        if out.get("Unsuccessful"):
            err = out["Unsuccessful"][0].get("Error", {})
            raise RuntimeError(f"CreateFlowLogs refused: {err.get('Code')}: {err.get('Message')}")
        fid = out["FlowLogIds"][0]
        arn = f"arn:aws:ec2:{ctx.region}:{ctx.clients.access.account_id}:vpc-flow-log/{fid}"
        return {**args, "id": fid, "arn": arn,
                "max_aggregation_interval": int(args.get("max_aggregation_interval", 600))}

    def read(self, ctx: Ctx, attrs: dict[str, Any]) -> dict[str, Any] | None:
        ec2 = ctx.client("ec2")
        f = describe_one(lambda: ec2.describe_flow_logs(FlowLogIds=[attrs["id"]]), "FlowLogs",
                         "InvalidFlowLogId.NotFound")
        if f is None:
            return None
        return {**attrs, "vpc_id": f.get("ResourceId"), "traffic_type": f.get("TrafficType"),
                "max_aggregation_interval": f.get("MaxAggregationInterval"),
                "iam_role_arn": f.get("DeliverLogsPermissionArn", attrs.get("iam_role_arn")),
                "tags_all": from_ec2_tags(f.get("Tags"))}

    def delete(self, ctx: Ctx, attrs: dict[str, Any]) -> None:
        out = ignore_codes(lambda: ctx.client("ec2").delete_flow_logs(FlowLogIds=[attrs["id"]]),
                           "InvalidFlowLogId.NotFound")
        for item in (out or {}).get("Unsuccessful", []):
            code = item.get("Error", {}).get("Code", "")
            if "NotFound" not in code:
                raise RuntimeError(f"deleting flow log {attrs['id']}: {code}")

    def find(self, ctx: Ctx, args: dict[str, Any]) -> dict[str, Any] | None:
        found = ctx.client("ec2").describe_flow_logs(Filters=[
            {"Name": "resource-id", "Values": [args["vpc_id"]]}])["FlowLogs"]
        return self.read(ctx, {**args, "id": found[0]["FlowLogId"]}) if found else None


class AvailabilityZones(DataSource):
    type = "aws_availability_zones"
    exports = frozenset({"id", "names", "zone_ids", "group_names"})

    def read(self, ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
        filters = []
        if args.get("state"):
            filters.append({"Name": "state", "Values": [args["state"]]})
        zones = ctx.client("ec2").describe_availability_zones(Filters=filters)["AvailabilityZones"]
        zones = sorted(zones, key=lambda z: z["ZoneName"])
        excluded = set(args.get("exclude_names") or [])
        zones = [z for z in zones if z["ZoneName"] not in excluded and z.get("ZoneType", "availability-zone")
                 == "availability-zone"]
        return {**args, "id": ctx.region, "names": [z["ZoneName"] for z in zones],
                "zone_ids": [z.get("ZoneId", "") for z in zones],
                "group_names": sorted({z.get("GroupName", ctx.region) for z in zones})}


HANDLERS = [Vpc, Subnet, InternetGateway, Eip, NatGateway, RouteTable, Route, RouteTableAssociation,
            VpcEndpoint, FlowLog]
DATA_SOURCES = [AvailabilityZones]
