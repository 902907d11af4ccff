"""EC2 network resources of the VPC stack: VPC, subnets, internet and NAT gateways, EIPs, the VPC
endpoint, flow logs, and the AZ data source (route tables and routes: routes.py).

Each class is one Terraform type (see base.Handler) with its argument table: what the two
emulators (moto 5.2.5, LocalStack 4.13.1) store and return is applied and read back; the rest is
refused naming the probe that shows an emulator does not round-trip it (tests/engine_probes.py).
Creates tag through TagSpecifications (one call); reads ask for all ids of a type in one Describe
call; deletes treat the type's NotFound codes as done (destroy is idempotent); asynchronous
resources (NAT gateways) are waited for with the context's (or the resource's `timeouts`) deadline.
"""

from __future__ import annotations

import time
from typing import Any

from matrix.engines.embedded.arguments.spec import (
    ID,
    REGION,
    TAGS,
    TAGS_ALL,
    inplace,
    refused,
    replace,
    selector,
    timeouts_for,
)
from matrix.engines.embedded.resources.base import (
    Ctx,
    DataSource,
    Handler,
    blocks,
    describe_filtered,
    describe_many,
    ec2_arn,
    from_ec2_tags,
    given,
    ignore_codes,
    retry_dependency,
    tag_spec,
    tags_of,
)
from matrix.engines.embedded.resources.routes import describe_tables

IPAM = "addresses from an IPAM pool"
EMULATOR = "the emulators do not store it"


def _associated(assocs: list[dict[str, Any]] | None, state_key: str) -> list[dict[str, Any]]:
    """CIDR associations that are (being) associated; moto writes the state as "{'State': ...}"."""
    out = []
    for a in assocs or []:
        state = str((a.get(state_key) or {}).get("State", ""))
        if "disassociat" not in state and "fail" not in state:
            out.append(a)
    return out


class Vpc(Handler):
    type = "aws_vpc"
    sweep_rank = 8

    def leftovers(self, ctx, query):
        for v in ctx.client("ec2").describe_vpcs(Filters=query.ec2_filters()).get("Vpcs", []):
            yield query.leftover(self.type, v["VpcId"], {}, from_ec2_tags(v.get("Tags")))

    ATTRIBUTES = {"enable_dns_support": "EnableDnsSupport", "enable_dns_hostnames": "EnableDnsHostnames",
                  "enable_network_address_usage_metrics": "EnableNetworkAddressUsageMetrics"}
    AWS_DEFAULT = {"enable_dns_support": True, "enable_dns_hostnames": False,
                   "enable_network_address_usage_metrics": False}
    args = {
        "cidr_block": replace(compare="cidr"),
        "instance_tenancy": replace("dedicated to default is changed in place (ModifyVpcTenancy)",
                                    inplace_when=lambda old, new: old == "dedicated" and new == "default"),
        "assign_generated_ipv6_cidr_block": inplace("AssociateVpcCidrBlock / DisassociateVpcCidrBlock"),
        "enable_dns_support": inplace("ModifyVpcAttribute"),
        "enable_dns_hostnames": inplace("ModifyVpcAttribute"),
        "enable_network_address_usage_metrics": inplace("ModifyVpcAttribute"),
        "ipv4_ipam_pool_id": refused(IPAM, probe="ec2-ipam"),
        "ipv4_netmask_length": refused(IPAM, probe="ec2-ipam"),
        "ipv6_ipam_pool_id": refused(IPAM, probe="ec2-ipam"),
        "ipv6_netmask_length": refused(IPAM, probe="ec2-ipam"),
        "ipv6_cidr_block": refused("a chosen IPv6 block (from an IPAM or BYOIP pool)", probe="vpc-ipv6-cidr-block"),
        "ipv6_cidr_block_network_border_group": refused(EMULATOR, probe="vpc-ipv6-network-border-group"),
        "id": ID, "region": REGION, "tags": TAGS, "tags_all": TAGS_ALL,
    }
    defaults = {"enable_dns_support": True, "instance_tenancy": "default", "assign_generated_ipv6_cidr_block": False}
    exports = frozenset({"id", "arn", "cidr_block", "owner_id", "instance_tenancy", "dhcp_options_id",
                         "ipv6_cidr_block", "ipv6_association_id"})

    def create(self, ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
        ec2 = ctx.client("ec2")
        kw: dict[str, Any] = {"CidrBlock": args["cidr_block"], "TagSpecifications": tag_spec("vpc", tags_of(args))}
        if given(args, "instance_tenancy"):
            kw["InstanceTenancy"] = args["instance_tenancy"]
        if args.get("assign_generated_ipv6_cidr_block"):
            kw["AmazonProvidedIpv6CidrBlock"] = True
        vpc = ec2.create_vpc(**kw)["Vpc"]
        for arg in self.ATTRIBUTES:
            if given(args, arg) and bool(args[arg]) != self.AWS_DEFAULT[arg]:
                self._set_attribute(ctx, vpc["VpcId"], arg, bool(args[arg]))
        return self._computed(ctx, vpc)

    def _computed(self, ctx: Ctx, vpc: dict[str, Any]) -> dict[str, Any]:
        v6 = [a for a in _associated(vpc.get("Ipv6CidrBlockAssociationSet"), "Ipv6CidrBlockState")]
        owner = vpc.get("OwnerId", "")
        return {"id": vpc["VpcId"], "owner_id": owner, "arn": ec2_arn(ctx, "vpc", vpc["VpcId"], owner),
                "dhcp_options_id": vpc.get("DhcpOptionsId", ""),
                "ipv6_cidr_block": v6[0].get("Ipv6CidrBlock", "") if v6 else "",
                "ipv6_association_id": v6[0].get("AssociationId", "") if v6 else ""}

    def _set_attribute(self, ctx: Ctx, vpc_id: str, arg: str, value: bool) -> None:
        ctx.client("ec2").modify_vpc_attribute(VpcId=vpc_id, **{self.ATTRIBUTES[arg]: {"Value": value}})

    def read_many(self, ctx, items):
        ec2 = ctx.client("ec2")
        found = describe_filtered(ec2.describe_vpcs, "Vpcs", "vpc-id", [a["id"] for a, _ in items], "VpcId")
        out: list[dict[str, Any] | None] = []
        for attrs, wanted in items:
            v = found.get(attrs["id"])
            if v is None:
                out.append(None)
                continue
            live = {**self._computed(ctx, v), "cidr_block": v["CidrBlock"], "tags_all": from_ec2_tags(v.get("Tags")),
                    "instance_tenancy": v.get("InstanceTenancy", "default")}
            live["assign_generated_ipv6_cidr_block"] = any(
                a.get("Ipv6Pool") == "Amazon" for a in _associated(v.get("Ipv6CidrBlockAssociationSet"),
                                                                    "Ipv6CidrBlockState"))
            for arg, key in self.ATTRIBUTES.items():
                if arg in wanted:
                    attr = key[0].lower() + key[1:]
                    live[arg] = ec2.describe_vpc_attribute(VpcId=v["VpcId"], Attribute=attr)[key]["Value"]
            out.append(live)
        return out

    def update_arg(self, ctx, attrs, args, arg):
        ec2 = ctx.client("ec2")
        if arg in self.ATTRIBUTES:
            self._set_attribute(ctx, attrs["id"], arg, bool(args.get(arg, self.defaults.get(arg))))
        elif arg == "assign_generated_ipv6_cidr_block":
            if args.get(arg):
                v6 = ec2.associate_vpc_cidr_block(VpcId=attrs["id"], AmazonProvidedIpv6CidrBlock=True)
                assoc = v6.get("Ipv6CidrBlockAssociation") or {}
                return {"ipv6_association_id": assoc.get("AssociationId", ""),
                        "ipv6_cidr_block": assoc.get("Ipv6CidrBlock", "")}
            if attrs.get("ipv6_association_id"):
                ec2.disassociate_vpc_cidr_block(AssociationId=attrs["ipv6_association_id"])
            return {"ipv6_association_id": "", "ipv6_cidr_block": ""}
        elif arg == "instance_tenancy":
            ec2.modify_vpc_tenancy(VpcId=attrs["id"], InstanceTenancy=args[arg])
        else:
            return super().update_arg(ctx, attrs, args, arg)
        return None

    def delete(self, ctx: Ctx, attrs: dict[str, Any]) -> None:
        ec2 = ctx.client("ec2")
        retry_dependency(ctx, f"VPC {attrs['id']} to have no dependents",
                          lambda: ignore_codes(lambda: ec2.delete_vpc(VpcId=attrs["id"]), "InvalidVpcID.NotFound"),
                          ("DependencyViolation",))

    def find(self, ctx: Ctx, args: dict[str, Any]) -> dict[str, Any] | None:
        name = tags_of(args).get("Name")
        if not name:
            return None
        vpcs = ctx.client("ec2").describe_vpcs(Filters=[
            {"Name": "tag:Name", "Values": [name]}, {"Name": "cidr-block-association.cidr-block",
                                                     "Values": [args["cidr_block"]]}])["Vpcs"]
        return self._computed(ctx, vpcs[0]) if vpcs else None


class Subnet(Handler):
    type = "aws_subnet"
    sweep_rank = 5

    def leftovers(self, ctx, query):
        for s in ctx.client("ec2").describe_subnets(Filters=query.ec2_filters()).get("Subnets", []):
            yield query.leftover(self.type, s["SubnetId"], {}, from_ec2_tags(s.get("Tags")))

    BOOLS = {"map_public_ip_on_launch": "MapPublicIpOnLaunch",
             "assign_ipv6_address_on_creation": "AssignIpv6AddressOnCreation",
             "enable_resource_name_dns_a_record_on_launch": "EnableResourceNameDnsARecordOnLaunch"}
    args = {
        "vpc_id": replace(),
        "cidr_block": replace(compare="cidr"),
        "availability_zone": replace(),
        "availability_zone_id": replace(),
        "ipv6_cidr_block": inplace("AssociateSubnetCidrBlock / DisassociateSubnetCidrBlock", compare="cidr"),
        "ipv6_native": replace(),
        "map_public_ip_on_launch": inplace("ModifySubnetAttribute"),
        "assign_ipv6_address_on_creation": inplace("ModifySubnetAttribute"),
        "enable_resource_name_dns_a_record_on_launch": inplace("ModifySubnetAttribute"),
        "enable_resource_name_dns_aaaa_record_on_launch": refused(EMULATOR, probe="subnet-dns-aaaa-record"),
        "private_dns_hostname_type_on_launch": refused(EMULATOR, probe="subnet-hostname-type"),
        "enable_dns64": refused(EMULATOR, probe="subnet-dns64"),
        "enable_lni_at_device_index": refused(EMULATOR, probe="subnet-lni-device-index"),
        "customer_owned_ipv4_pool": refused("Outposts customer-owned addresses", probe="subnet-customer-owned-ip"),
        "map_customer_owned_ip_on_launch": refused("Outposts customer-owned addresses",
                                                   probe="subnet-customer-owned-ip"),
        "outpost_arn": refused("subnets on an Outpost", probe="subnet-outpost"),
        **timeouts_for("create", "delete"),
        "id": ID, "region": REGION, "tags": TAGS, "tags_all": TAGS_ALL,
    }
    defaults = {"map_public_ip_on_launch": False, "assign_ipv6_address_on_creation": False,
                "enable_resource_name_dns_a_record_on_launch": False, "ipv6_native": False}
    exports = frozenset({"id", "arn", "vpc_id", "cidr_block", "availability_zone", "availability_zone_id",
                         "owner_id", "ipv6_cidr_block", "ipv6_cidr_block_association_id"})

    def create(self, ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
        ec2 = ctx.client("ec2")
        kw: dict[str, Any] = {"VpcId": args["vpc_id"], "TagSpecifications": tag_spec("subnet", tags_of(args))}
        for arg, key in (("cidr_block", "CidrBlock"), ("availability_zone", "AvailabilityZone"),
                         ("availability_zone_id", "AvailabilityZoneId"), ("ipv6_cidr_block", "Ipv6CidrBlock")):
            if given(args, arg):
                kw[key] = args[arg]
        if args.get("ipv6_native"):
            kw["Ipv6Native"] = True
        s = ec2.create_subnet(**kw)["Subnet"]
        for arg, key in self.BOOLS.items():
            if args.get(arg):
                ec2.modify_subnet_attribute(SubnetId=s["SubnetId"], **{key: {"Value": True}})
        return self._computed(ctx, s)

    def _computed(self, ctx: Ctx, s: dict[str, Any]) -> dict[str, Any]:
        v6 = _associated(s.get("Ipv6CidrBlockAssociationSet"), "Ipv6CidrBlockState")
        return {"id": s["SubnetId"], "owner_id": s.get("OwnerId", ""),
                "arn": s.get("SubnetArn") or ec2_arn(ctx, "subnet", s["SubnetId"], s.get("OwnerId", "")),
                "availability_zone": s["AvailabilityZone"], "availability_zone_id": s.get("AvailabilityZoneId", ""),
                "ipv6_cidr_block_association_id": v6[0].get("AssociationId", "") if v6 else ""}

    def read_many(self, ctx, items):
        ec2 = ctx.client("ec2")
        found = describe_filtered(ec2.describe_subnets, "Subnets", "subnet-id", [a["id"] for a, _ in items],
                                  "SubnetId")
        out: list[dict[str, Any] | None] = []
        for attrs, _wanted in items:
            s = found.get(attrs["id"])
            if s is None:
                out.append(None)
                continue
            v6 = _associated(s.get("Ipv6CidrBlockAssociationSet"), "Ipv6CidrBlockState")
            dns = s.get("PrivateDnsNameOptionsOnLaunch") or {}
            out.append({**self._computed(ctx, s), "vpc_id": s["VpcId"], "cidr_block": s.get("CidrBlock"),
                        "tags_all": from_ec2_tags(s.get("Tags")),
                        "ipv6_cidr_block": v6[0].get("Ipv6CidrBlock") if v6 else None,
                        "ipv6_native": bool(s.get("Ipv6Native", False)),
                        "map_public_ip_on_launch": bool(s.get("MapPublicIpOnLaunch", False)),
                        "assign_ipv6_address_on_creation": bool(s.get("AssignIpv6AddressOnCreation", False)),
                        "enable_resource_name_dns_a_record_on_launch": bool(dns.get("EnableResourceNameDnsARecord",
                                                                                    False))})
        return out

    def update_arg(self, ctx, attrs, args, arg):
        ec2 = ctx.client("ec2")
        if arg in self.BOOLS:
            value = bool(args.get(arg, self.defaults.get(arg)))
            ec2.modify_subnet_attribute(SubnetId=attrs["id"], **{self.BOOLS[arg]: {"Value": value}})
            return None
        if arg == "ipv6_cidr_block":
            if attrs.get("ipv6_cidr_block_association_id"):
                ec2.disassociate_subnet_cidr_block(AssociationId=attrs["ipv6_cidr_block_association_id"])
            if not args.get(arg):
                return {"ipv6_cidr_block_association_id": ""}
            assoc = ec2.associate_subnet_cidr_block(SubnetId=attrs["id"], Ipv6CidrBlock=args[arg])
            return {"ipv6_cidr_block_association_id":
                    (assoc.get("Ipv6CidrBlockAssociation") or {}).get("AssociationId", "")}
        return super().update_arg(ctx, attrs, args, arg)

    def delete(self, ctx: Ctx, attrs: dict[str, Any]) -> None:
        ec2 = ctx.client("ec2")
        retry_dependency(
            ctx, f"subnet {attrs['id']} to have no dependents",
            lambda: ignore_codes(lambda: ec2.delete_subnet(SubnetId=attrs["id"]), "InvalidSubnetID.NotFound"),
            ("DependencyViolation",))

    def find(self, ctx: Ctx, args: dict[str, Any]) -> dict[str, Any] | None:
        if not given(args, "cidr_block"):
            return None
        found = ctx.client("ec2").describe_subnets(Filters=[
            {"Name": "vpc-id", "Values": [args["vpc_id"]]},
            {"Name": "cidr-block", "Values": [args["cidr_block"]]}])["Subnets"]
        return self._computed(ctx, found[0]) if found else None


class InternetGateway(Handler):
    type = "aws_internet_gateway"
    sweep_rank = 7

    def leftovers(self, ctx, query):
        for g in ctx.client("ec2").describe_internet_gateways(Filters=query.ec2_filters()).get("InternetGateways", []):
            vpc = next((a["VpcId"] for a in g.get("Attachments", [])), None)
            yield query.leftover(self.type, g["InternetGatewayId"], {"vpc_id": vpc}, from_ec2_tags(g.get("Tags")))

    args = {
        "vpc_id": inplace("AttachInternetGateway / DetachInternetGateway"),
        **timeouts_for("create", "delete", "update"),
        "id": ID, "region": REGION, "tags": TAGS, "tags_all": TAGS_ALL,
    }
    exports = frozenset({"id", "arn", "owner_id", "vpc_id"})

    def create(self, ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
        ec2 = ctx.client("ec2")
        igw = ec2.create_internet_gateway(TagSpecifications=tag_spec("internet-gateway", tags_of(args)))
        gid = igw["InternetGateway"]["InternetGatewayId"]
        owner = igw["InternetGateway"].get("OwnerId", "")
        if args.get("vpc_id"):
            ec2.attach_internet_gateway(InternetGatewayId=gid, VpcId=args["vpc_id"])
        return {"id": gid, "owner_id": owner, "arn": ec2_arn(ctx, "internet-gateway", gid, owner)}

    def read_many(self, ctx, items):
        ec2 = ctx.client("ec2")
        found = describe_filtered(ec2.describe_internet_gateways, "InternetGateways", "internet-gateway-id",
                                  [a["id"] for a, _ in items], "InternetGatewayId")
        out: list[dict[str, Any] | None] = []
        for attrs, _wanted in items:
            g = found.get(attrs["id"])
            if g is None:
                out.append(None)
                continue
            attached = [a["VpcId"] for a in g.get("Attachments", []) if a.get("State") in ("available", "attached")]
            owner = g.get("OwnerId", "")
            out.append({"id": g["InternetGatewayId"], "owner_id": owner,
                        "arn": ec2_arn(ctx, "internet-gateway", g["InternetGatewayId"], owner),
                        "vpc_id": attached[0] if attached else None, "tags_all": from_ec2_tags(g.get("Tags"))})
        return out

    def update_arg(self, ctx, attrs, args, arg):
        if arg != "vpc_id":
            return super().update_arg(ctx, attrs, args, arg)
        ec2 = ctx.client("ec2")
        if attrs.get("vpc_id"):
            ignore_codes(lambda: ec2.detach_internet_gateway(InternetGatewayId=attrs["id"], VpcId=attrs["vpc_id"]),
                         "Gateway.NotAttached")
        if args.get("vpc_id"):
            ec2.attach_internet_gateway(InternetGatewayId=attrs["id"], VpcId=args["vpc_id"])
        return None

    def delete(self, ctx: Ctx, attrs: dict[str, Any]) -> None:
        ec2 = ctx.client("ec2")
        if attrs.get("vpc_id"):
            retry_dependency(
                ctx, f"internet gateway {attrs['id']} to detach (public addresses still mapped)",
                lambda: ignore_codes(lambda: ec2.detach_internet_gateway(
                    InternetGatewayId=attrs["id"], VpcId=attrs["vpc_id"]),
                    "Gateway.NotAttached", "InvalidInternetGatewayID.NotFound", "InvalidVpcID.NotFound"),
                ("DependencyViolation",))
        ignore_codes(lambda: ec2.delete_internet_gateway(InternetGatewayId=attrs["id"]),
                     "InvalidInternetGatewayID.NotFound")

    def find(self, ctx: Ctx, args: dict[str, Any]) -> dict[str, Any] | None:
        name = tags_of(args).get("Name")
        if not name:
            return None
        found = ctx.client("ec2").describe_internet_gateways(
            Filters=[{"Name": "tag:Name", "Values": [name]}])["InternetGateways"]
        if not found:
            return None
        gid = found[0]["InternetGatewayId"]
        if args.get("vpc_id") and not found[0].get("Attachments"):
            ctx.client("ec2").attach_internet_gateway(InternetGatewayId=gid, VpcId=args["vpc_id"])
        owner = found[0].get("OwnerId", "")
        return {"id": gid, "owner_id": owner, "arn": ec2_arn(ctx, "internet-gateway", gid, owner)}


class Eip(Handler):
    type = "aws_eip"
    sweep_rank = 4

    def leftovers(self, ctx, query):
        for a in ctx.client("ec2").describe_addresses(Filters=query.ec2_filters()).get("Addresses", []):
            yield query.leftover(self.type, a["AllocationId"], {"allocation_id": a["AllocationId"]},
                                 from_ec2_tags(a.get("Tags")))

    args = {
        "domain": replace(),
        "address": replace("a BYOIP address (AllocateAddress Address), read back as the public IP"),
        "instance": inplace("AssociateAddress / DisassociateAddress"),
        "network_interface": inplace("AssociateAddress / DisassociateAddress"),
        "associate_with_private_ip": refused("the emulators associate the primary address instead",
                                             probe="eip-associate-with-private-ip"),
        "customer_owned_ipv4_pool": refused("Outposts customer-owned addresses", probe="eip-customer-owned-pool"),
        "ipam_pool_id": refused(IPAM, probe="ec2-ipam"),
        "network_border_group": refused(EMULATOR, probe="eip-network-border-group"),
        "public_ipv4_pool": refused(EMULATOR, probe="eip-public-ipv4-pool"),
        **timeouts_for("delete", "read", "update"),
        "id": ID, "region": REGION, "tags": TAGS, "tags_all": TAGS_ALL,
    }
    exports = frozenset({"id", "allocation_id", "public_ip", "domain", "arn", "association_id", "private_ip",
                         "network_interface", "instance"})

    def create(self, ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
        ec2 = ctx.client("ec2")
        kw: dict[str, Any] = {"Domain": args.get("domain") or "vpc",
                              "TagSpecifications": tag_spec("elastic-ip", tags_of(args))}
        if given(args, "address"):
            kw["Address"] = args["address"]
        a = ec2.allocate_address(**kw)
        out = {"id": a["AllocationId"], "allocation_id": a["AllocationId"], "public_ip": a.get("PublicIp", ""),
               "domain": a.get("Domain", "vpc"),
               "arn": ec2_arn(ctx, "elastic-ip", a["AllocationId"], ctx.clients.access.account_id)}
        if given(args, "instance") or given(args, "network_interface"):
            out.update(self._associate(ctx, out, args))
        return out

    def _associate(self, ctx: Ctx, attrs: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
        kw: dict[str, Any] = {"AllocationId": attrs["id"]}
        if given(args, "network_interface"):
            kw["NetworkInterfaceId"] = args["network_interface"]
        elif given(args, "instance"):
            kw["InstanceId"] = args["instance"]
        else:
            return {"association_id": ""}
        return {"association_id": ctx.client("ec2").associate_address(**kw).get("AssociationId", "")}

    def read_many(self, ctx, items):
        ec2 = ctx.client("ec2")
        found = describe_filtered(ec2.describe_addresses, "Addresses", "allocation-id", [a["id"] for a, _ in items],
                                  "AllocationId")
        out: list[dict[str, Any] | None] = []
        for attrs, _wanted in items:
            a = found.get(attrs["id"])
            if a is None:
                out.append(None)
                continue
            out.append({"id": a["AllocationId"], "allocation_id": a["AllocationId"], "public_ip": a.get("PublicIp", ""),
                        "address": a.get("PublicIp", ""), "domain": a.get("Domain", "vpc"),
                        "arn": ec2_arn(ctx, "elastic-ip", a["AllocationId"], ctx.clients.access.account_id),
                        "association_id": a.get("AssociationId") or "", "private_ip": a.get("PrivateIpAddress") or "",
                        "instance": a.get("InstanceId") or None,
                        "network_interface": a.get("NetworkInterfaceId") or None,
                        "tags_all": from_ec2_tags(a.get("Tags"))})
        return out

    def update(self, ctx, attrs, args, changed):
        out = super().update(ctx, attrs, args, changed - {"instance", "network_interface"})
        if changed & {"instance", "network_interface"}:  # one association: move it
            if attrs.get("association_id"):
                ignore_codes(lambda: ctx.client("ec2").disassociate_address(AssociationId=attrs["association_id"]),
                             "InvalidAssociationID.NotFound")
            out.update(self._associate(ctx, attrs, args))
        return out

    def delete(self, ctx: Ctx, attrs: dict[str, Any]) -> None:
        ec2 = ctx.client("ec2")
        if attrs.get("association_id") and (attrs.get("instance") or attrs.get("network_interface")):
            ignore_codes(lambda: ec2.disassociate_address(AssociationId=attrs["association_id"]),
                         "InvalidAssociationID.NotFound")
        retry_dependency(
            ctx, f"EIP {attrs['id']} to be released (still in use by a NAT gateway going away)",
            lambda: ignore_codes(lambda: ec2.release_address(AllocationId=attrs["id"]),
                                 "InvalidAllocationID.NotFound", "InvalidAddress.NotFound"),
            ("InvalidIPAddress.InUse", "AuthFailure"))

    def find(self, ctx: Ctx, args: dict[str, Any]) -> dict[str, Any] | None:
        name = tags_of(args).get("Name")
        if not name:
            return None
        found = ctx.client("ec2").describe_addresses(Filters=[{"Name": "tag:Name", "Values": [name]}])["Addresses"]
        if not found:
            return None
        a = found[0]
        return {"id": a["AllocationId"], "allocation_id": a["AllocationId"], "public_ip": a.get("PublicIp", ""),
                "domain": a.get("Domain", "vpc"), "association_id": a.get("AssociationId") or ""}


class NatGateway(Handler):
    type = "aws_nat_gateway"
    sweep_rank = 3

    def leftovers(self, ctx, query):
        for n in ctx.client("ec2").describe_nat_gateways(Filters=query.ec2_filters()).get("NatGateways", []):
            if n.get("State") in ("pending", "available"):
                yield query.leftover(self.type, n["NatGatewayId"], {}, from_ec2_tags(n.get("Tags")))

    REGIONAL = "regional NAT gateways (availability_mode = regional)"
    args = {
        "allocation_id": replace(),
        "subnet_id": replace(),
        "connectivity_type": replace(),
        "private_ip": refused("the emulators pick another address", probe="nat-private-ip"),
        "secondary_allocation_ids": refused(EMULATOR, probe="nat-secondary-allocation-ids"),
        "secondary_private_ip_address_count": refused(EMULATOR, probe="nat-secondary-private-ip-count"),
        "secondary_private_ip_addresses": refused(EMULATOR, probe="nat-secondary-private-ip-count"),
        "availability_mode": refused(REGIONAL, probe="nat-regional", allowed=("zonal",)),
        "availability_zone_address": refused(REGIONAL, probe="nat-regional", children=True),
        "vpc_id": refused(REGIONAL, probe="nat-regional"),
        **timeouts_for("create", "delete", "update"),
        "id": ID, "region": REGION, "tags": TAGS, "tags_all": TAGS_ALL,
    }
    defaults = {"connectivity_type": "public"}
    exports = frozenset({"id", "allocation_id", "subnet_id", "public_ip", "private_ip", "network_interface_id",
                         "association_id", "connectivity_type"})

    def create(self, ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
        ec2 = ctx.client("ec2")
        kw = {"SubnetId": args["subnet_id"], "TagSpecifications": tag_spec("natgateway", tags_of(args))}
        if given(args, "allocation_id"):
            kw["AllocationId"] = args["allocation_id"]
        if given(args, "connectivity_type"):
            kw["ConnectivityType"] = args["connectivity_type"]
        nat = ec2.create_nat_gateway(**kw)["NatGateway"]
        return self._computed(self._wait(ctx, nat["NatGatewayId"], "available") or nat)

    @staticmethod
    def _computed(nat: dict[str, Any]) -> dict[str, Any]:
        addrs = nat.get("NatGatewayAddresses") or [{}]
        return {"id": nat["NatGatewayId"], "public_ip": addrs[0].get("PublicIp", ""),
                "private_ip": addrs[0].get("PrivateIp", ""),
                "network_interface_id": addrs[0].get("NetworkInterfaceId", ""),
                "association_id": addrs[0].get("AssociationId", "")}

    def _describe(self, ctx: Ctx, nid: str) -> dict[str, Any] | None:
        return self._describe_all(ctx, [nid]).get(nid)

    @staticmethod
    def _describe_all(ctx: Ctx, ids: list[str]) -> dict[str, Any]:
        return describe_filtered(ctx.client("ec2").describe_nat_gateways, "NatGateways", "nat-gateway-id", ids,
                                 "NatGatewayId")

    def _wait(self, ctx: Ctx, nid: str, state: str) -> dict[str, Any] | None:
        """Poll until the NAT gateway reaches `state`; returns its last description. The waits of one
        engine share their DescribeNatGateways calls (base.SharedPoll): one call answers all of them."""
        last: dict[str, Any] = {"seen": time.monotonic()}  # an answer asked after the create/delete

        def reached() -> bool:
            last["seen"], nat = poll.get(nid, last["seen"])
            last["nat"] = nat
            current = nat["State"] if nat else "deleted"
            if current == "failed" and state != "failed":
                raise RuntimeError(f"NAT gateway {nid} failed: {nat.get('FailureMessage', '')}")
            return current == state
        with ctx.batched("ec2:DescribeNatGateways", self._describe_all).waiting(nid) as poll:
            ctx.wait_for(f"NAT gateway {nid} to be {state}", reached)
        return last.get("nat")

    def read_many(self, ctx, items):
        ec2 = ctx.client("ec2")
        found = describe_filtered(ec2.describe_nat_gateways, "NatGateways", "nat-gateway-id",
                                  [a["id"] for a, _ in items], "NatGatewayId")
        out: list[dict[str, Any] | None] = []
        for attrs, _wanted in items:
            nat = found.get(attrs["id"])
            if not nat or nat["State"] in ("deleted", "deleting", "failed"):
                out.append(None)
                continue
            addrs = nat.get("NatGatewayAddresses") or [{}]
            out.append({**self._computed(nat), "subnet_id": nat["SubnetId"], "tags_all": from_ec2_tags(nat.get("Tags")),
                        "connectivity_type": nat.get("ConnectivityType", "public"),
                        "allocation_id": addrs[0].get("AllocationId")})
        return out

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
        return self._computed(self._wait(ctx, found[0]["NatGatewayId"], "available") or found[0])


class VpcEndpoint(Handler):
    type = "aws_vpc_endpoint"
    sweep_rank = 1

    def leftovers(self, ctx, query):
        for e in ctx.client("ec2").describe_vpc_endpoints(Filters=query.ec2_filters()).get("VpcEndpoints", []):
            if e.get("State", "").lower() not in ("deleted", "deleting"):
                yield query.leftover(self.type, e["VpcEndpointId"], {}, from_ec2_tags(e.get("Tags")))

    MODIFY = {"route_table_ids": ("AddRouteTableIds", "RemoveRouteTableIds"),
              "subnet_ids": ("AddSubnetIds", "RemoveSubnetIds")}
    ONE_EMULATOR = "changing it in place is not stored by {}: a change replaces the endpoint"
    args = {
        "vpc_id": replace(),
        "service_name": replace(),
        "vpc_endpoint_type": replace(),
        "route_table_ids": inplace("ModifyVpcEndpoint Add/RemoveRouteTableIds", compare="set"),
        "subnet_ids": inplace("ModifyVpcEndpoint Add/RemoveSubnetIds", compare="set"),
        "policy": inplace("ModifyVpcEndpoint PolicyDocument; compared as a policy document", compare="policy"),
        "security_group_ids": replace(ONE_EMULATOR.format("LocalStack (probe vpce-security-groups-modify)"),
                                      compare="set"),
        "private_dns_enabled": replace(ONE_EMULATOR.format("moto (probe vpce-private-dns-modify)")),
        "auto_accept": refused("the emulators create endpoints available at once: acceptance is not modelled",
                               probe="vpce-acceptance", allowed=(False,)),
        "ip_address_type": refused(EMULATOR, probe="vpce-ip-address-type"),
        "dns_options": refused(EMULATOR, probe="vpce-dns-options", children=True),
        "resource_configuration_arn": refused(EMULATOR, probe="vpce-resource-configuration"),
        "service_network_arn": refused(EMULATOR, probe="vpce-service-network"),
        "service_region": refused(EMULATOR, probe="vpce-service-region"),
        "subnet_configuration": refused("the emulators pick other addresses", probe="vpce-subnet-configuration",
                                        children=True),
        **timeouts_for("create", "delete", "update"),
        "id": ID, "region": REGION, "tags": TAGS, "tags_all": TAGS_ALL,
    }
    defaults = {"vpc_endpoint_type": "Gateway"}
    exports = frozenset({"id", "arn", "state", "owner_id", "vpc_id", "service_name", "network_interface_ids"})

    def create(self, ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
        kw: dict[str, Any] = {"VpcId": args["vpc_id"], "ServiceName": args["service_name"],
                              "VpcEndpointType": args.get("vpc_endpoint_type") or "Gateway",
                              "TagSpecifications": tag_spec("vpc-endpoint", tags_of(args))}
        for arg, key in (("route_table_ids", "RouteTableIds"), ("subnet_ids", "SubnetIds"),
                         ("security_group_ids", "SecurityGroupIds")):
            if args.get(arg):
                kw[key] = list(args[arg])
        if given(args, "policy"):
            kw["PolicyDocument"] = args["policy"]
        if given(args, "private_dns_enabled"):
            kw["PrivateDnsEnabled"] = bool(args["private_dns_enabled"])
        return self._computed(ctx, ctx.client("ec2").create_vpc_endpoint(**kw)["VpcEndpoint"])

    @staticmethod
    def _computed(ctx: Ctx, ep: dict[str, Any]) -> dict[str, Any]:
        owner = ep.get("OwnerId", "")
        return {"id": ep["VpcEndpointId"], "state": ep.get("State", "available"), "owner_id": owner,
                "arn": ec2_arn(ctx, "vpc-endpoint", ep["VpcEndpointId"], owner),
                "network_interface_ids": sorted(ep.get("NetworkInterfaceIds") or [])}

    def read_many(self, ctx, items):
        ec2 = ctx.client("ec2")
        found = describe_many(lambda ids: ec2.describe_vpc_endpoints(VpcEndpointIds=ids)["VpcEndpoints"],
                              [a["id"] for a, _ in items], "VpcEndpointId",
                              "InvalidVpcEndpointId.NotFound", "InvalidVpcEndpoint.NotFound")
        out: list[dict[str, Any] | None] = []
        for attrs, _wanted in items:
            ep = found.get(attrs["id"])
            if ep is None or ep.get("State", "").lower() in ("deleted", "deleting"):
                out.append(None)
                continue
            out.append({**self._computed(ctx, ep), "vpc_id": ep["VpcId"], "service_name": ep["ServiceName"],
                        "vpc_endpoint_type": ep.get("VpcEndpointType", "Gateway"),
                        "route_table_ids": sorted(ep.get("RouteTableIds") or []),
                        "subnet_ids": sorted(ep.get("SubnetIds") or []),
                        "security_group_ids": sorted(g["GroupId"] for g in ep.get("Groups") or []),
                        "policy": ep.get("PolicyDocument"), "private_dns_enabled": ep.get("PrivateDnsEnabled"),
                        "tags_all": from_ec2_tags(ep.get("Tags"))})
        return out

    def update(self, ctx, attrs, args, changed):
        out = super().update(ctx, attrs, args, changed - {*self.MODIFY, "policy"})
        kw: dict[str, Any] = {}
        for arg, (add, remove) in self.MODIFY.items():
            if arg in changed:
                have, want = set(attrs.get(arg) or []), set(args.get(arg) or [])
                if want - have:
                    kw[add] = sorted(want - have)
                if have - want:
                    kw[remove] = sorted(have - want)
        if "policy" in changed and given(args, "policy"):
            kw["PolicyDocument"] = args["policy"]
        if kw:
            ctx.client("ec2").modify_vpc_endpoint(VpcEndpointId=attrs["id"], **kw)
        return out

    def _release_routeless_tables(self, ctx: Ctx, attrs: dict[str, Any]) -> None:
        """Both emulators add no route when ModifyVpcEndpoint adds a route table (emulator gap
        ec2-vpce-modify-no-route), then fail deleting the endpoint (HTTP 500) on the route that is not
        there. Tables without this endpoint's route are removed from it first: on AWS there are none."""
        ec2 = ctx.client("ec2")
        tables = describe_tables(ctx, list(attrs.get("route_table_ids") or []))
        routeless = sorted(rid for rid, rt in tables.items()
                           if not any(r.get("GatewayId") == attrs["id"] for r in rt.get("Routes", [])))
        if routeless:
            ignore_codes(lambda: ec2.modify_vpc_endpoint(VpcEndpointId=attrs["id"], RemoveRouteTableIds=routeless),
                         "InvalidVpcEndpointId.NotFound")

    def delete(self, ctx: Ctx, attrs: dict[str, Any]) -> None:
        if attrs.get("route_table_ids") and (attrs.get("vpc_endpoint_type") or "Gateway") == "Gateway":
            self._release_routeless_tables(ctx, attrs)
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
        return self._computed(ctx, live[0]) if live else None


class FlowLog(Handler):
    type = "aws_flow_log"
    sweep_rank = 0

    def leftovers(self, ctx, query):
        for f in ctx.client("ec2").describe_flow_logs(Filters=query.ec2_filters()).get("FlowLogs", []):
            yield query.leftover(self.type, f["FlowLogId"], {}, from_ec2_tags(f.get("Tags")))

    #: the argument naming what is logged -> (its ResourceType, its id prefix as AWS writes it)
    SOURCES = {"vpc_id": ("VPC", "vpc-"), "subnet_id": ("Subnet", "subnet-"), "eni_id": ("NetworkInterface", "eni-"),
               "transit_gateway_attachment_id": ("TransitGatewayAttachment", "tgw-attach-"),
               "transit_gateway_id": ("TransitGateway", "tgw-")}
    FIELDS = {"traffic_type": "TrafficType", "log_destination_type": "LogDestinationType",
              "log_destination": "LogDestination", "iam_role_arn": "DeliverLogsPermissionArn",
              "log_format": "LogFormat", "max_aggregation_interval": "MaxAggregationInterval"}
    args = {
        **{arg: replace() for arg in SOURCES},
        **{arg: replace() for arg in FIELDS},
        "regional_nat_gateway_id": refused("the regional NAT gateway it logs cannot be made on the emulators",
                                           probe="nat-regional"),
        "deliver_cross_account_role": refused(EMULATOR, probe="flow-log-cross-account-role"),
        "destination_options": refused(EMULATOR, probe="flow-log-destination-options", children=True),
        "id": ID, "region": REGION, "tags": TAGS, "tags_all": TAGS_ALL,
    }
    defaults = {"log_destination_type": "cloud-watch-logs", "max_aggregation_interval": 600}
    exports = frozenset({"id", "arn", "vpc_id", "log_destination", "subnet_id", "eni_id"})

    def _source(self, args: dict[str, Any]) -> tuple[str, str]:
        for arg, (rtype, _prefix) in self.SOURCES.items():
            if given(args, arg):
                return rtype, args[arg]
        raise ValueError("a flow log needs one of " + ", ".join(self.SOURCES))

    def create(self, ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
        rtype, rid = self._source(args)
        kw: dict[str, Any] = {"ResourceIds": [rid], "ResourceType": rtype,
                              "TagSpecifications": tag_spec("vpc-flow-log", tags_of(args))}
        for arg, key in self.FIELDS.items():
            if given(args, arg):
                kw[key] = int(args[arg]) if arg == "max_aggregation_interval" else args[arg]
        kw.setdefault("LogDestinationType", "cloud-watch-logs")
        out = ctx.client("ec2").create_flow_logs(**kw)
        if out.get("Unsuccessful"):
            err = out["Unsuccessful"][0].get("Error", {})
            raise RuntimeError(f"CreateFlowLogs refused: {err.get('Code')}: {err.get('Message')}")
        fid = out["FlowLogIds"][0]
        return {"id": fid, "arn": f"arn:aws:ec2:{ctx.region}:{ctx.clients.access.account_id}:vpc-flow-log/{fid}"}

    def read_many(self, ctx, items):
        ec2 = ctx.client("ec2")
        found = describe_filtered(ec2.describe_flow_logs, "FlowLogs", "flow-log-id", [a["id"] for a, _ in items],
                                  "FlowLogId")
        out: list[dict[str, Any] | None] = []
        for attrs, _wanted in items:
            f = found.get(attrs["id"])
            if f is None:
                out.append(None)
                continue
            live: dict[str, Any] = {"id": f["FlowLogId"], "tags_all": from_ec2_tags(f.get("Tags")),
                                    "arn": attrs.get("arn") or f"arn:aws:ec2:{ctx.region}:"
                                                               f"{ctx.clients.access.account_id}:vpc-flow-log/{f['FlowLogId']}"}
            rid = f.get("ResourceId", "")
            for arg, (_rtype, prefix) in self.SOURCES.items():
                if arg == "transit_gateway_id" and rid.startswith("tgw-attach-"):
                    live[arg] = None
                else:
                    live[arg] = rid if rid.startswith(prefix) else None
            for arg, key in self.FIELDS.items():
                live[arg] = f.get(key)
            out.append(live)
        return out

    def delete(self, ctx: Ctx, attrs: dict[str, Any]) -> None:
        out = ignore_codes(lambda: ctx.client("ec2").delete_flow_logs(FlowLogIds=[attrs["id"]]),
                           "InvalidFlowLogId.NotFound")
        for item in (out or {}).get("Unsuccessful", []):
            code = item.get("Error", {}).get("Code", "")
            if "NotFound" not in code:
                raise RuntimeError(f"deleting flow log {attrs['id']}: {code}")

    def find(self, ctx: Ctx, args: dict[str, Any]) -> dict[str, Any] | None:
        _rtype, rid = self._source(args)
        found = ctx.client("ec2").describe_flow_logs(Filters=[
            {"Name": "resource-id", "Values": [rid]}])["FlowLogs"]
        return {"id": found[0]["FlowLogId"]} if found else None


class AvailabilityZones(DataSource):
    type = "aws_availability_zones"
    args = {
        "state": selector("the state filter of DescribeAvailabilityZones"),
        "all_availability_zones": selector("AllAvailabilityZones of DescribeAvailabilityZones"),
        "filter": selector("Filters of DescribeAvailabilityZones"),
        "filter.name": selector(), "filter.values": selector(),
        "exclude_names": selector("zones left out by name"),
        "exclude_zone_ids": selector("zones left out by zone id"),
        "region": selector("the zones of that region"),
        **timeouts_for("read"),
        "id": ID,
    }
    exports = frozenset({"id", "names", "zone_ids", "group_names"})

    def read(self, ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
        ctx = ctx.for_region(args.get("region") or ctx.region)
        filters = [{"Name": f["name"], "Values": list(f["values"])} for f in blocks(args.get("filter"))]
        if args.get("state"):
            filters.append({"Name": "state", "Values": [args["state"]]})
        kw: dict[str, Any] = {"Filters": filters}
        if args.get("all_availability_zones"):
            kw["AllAvailabilityZones"] = True
        zones = ctx.client("ec2").describe_availability_zones(**kw)["AvailabilityZones"]
        zones = sorted(zones, key=lambda z: z["ZoneName"])
        names, ids = set(args.get("exclude_names") or []), set(args.get("exclude_zone_ids") or [])
        zones = [z for z in zones if z["ZoneName"] not in names and z.get("ZoneId") not in ids
                 and (args.get("all_availability_zones") or z.get("ZoneType", "availability-zone")
                      == "availability-zone")]
        return {"id": ctx.region, "names": [z["ZoneName"] for z in zones],
                "zone_ids": [z.get("ZoneId", "") for z in zones],
                "group_names": sorted({z.get("GroupName", ctx.region) for z in zones})}


HANDLERS = [Vpc, Subnet, InternetGateway, Eip, NatGateway, VpcEndpoint, FlowLog]
DATA_SOURCES = [AvailabilityZones]
