"""Network wiring rules, judged from the graph of `${...}` references, never from construct ids.

`Graph` reads a document once: which VPC each subnet, route table and internet gateway belongs to,
which route table each subnet is associated with (or the VPC's main one), each table's 0.0.0.0/0
target. A subnet is public when its route table's default route targets an internet gateway
attached to the subnet's own VPC (`map_public_ip_on_launch` alone does not make it public). On that
graph: NAT gateways live in public subnets; each private tier's default route goes to a NAT
gateway of its own AZ; routes target gateways of their own VPC; subnets lie inside their VPC
without overlapping; AZ literals belong to the region; the S3 gateway endpoint serves every table.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from matrix.catalogue.doc import SynthDoc, as_bool, literal, ref_to, refs
from matrix.catalogue.model import AwsError, Finding, arg_check, define, doc_check

NAT_DOCS = "https://docs.aws.amazon.com/vpc/latest/userguide/vpc-nat-gateway.html"
ROUTE_TABLES = "https://docs.aws.amazon.com/vpc/latest/userguide/VPC_Route_Tables.html"
SUBNETS = "https://docs.aws.amazon.com/vpc/latest/userguide/configure-subnets.html"
ENDPOINTS = "https://docs.aws.amazon.com/vpc/latest/privatelink/gateway-endpoints.html"
DEFAULT = "0.0.0.0/0"


@dataclass
class Graph:
    """The network of one document, by resource address."""

    subnet_vpc: dict[str, str | None] = field(default_factory=dict)
    subnet_az: dict[str, str] = field(default_factory=dict)
    table_vpc: dict[str, str | None] = field(default_factory=dict)
    table_default: dict[str, dict[str, Any]] = field(default_factory=dict)   # table -> its 0.0.0.0/0 route
    table_subnets: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    igw_vpc: dict[str, str | None] = field(default_factory=dict)
    main_table: dict[str, str] = field(default_factory=dict)                 # vpc -> its main route table

    @classmethod
    def of(cls, doc: SynthDoc) -> Graph:
        g = cls()
        for t, n, b in doc.resources("aws_subnet"):
            g.subnet_vpc[f"{t}.{n}"] = ref_to(b.get("vpc_id"), "aws_vpc")
            g.subnet_az[f"{t}.{n}"] = az_key(b.get("availability_zone", b.get("availability_zone_id")))
        for t, n, b in doc.resources("aws_internet_gateway"):
            g.igw_vpc[f"{t}.{n}"] = ref_to(b.get("vpc_id"), "aws_vpc")
        for _t, _n, b in doc.resources("aws_internet_gateway_attachment"):
            igw = ref_to(b.get("internet_gateway_id"), "aws_internet_gateway")
            if igw:
                g.igw_vpc[igw] = ref_to(b.get("vpc_id"), "aws_vpc")
        for rtype in ("aws_route_table", "aws_default_route_table"):
            for t, n, b in doc.resources(rtype):
                addr = f"{t}.{n}"
                g.table_vpc[addr] = ref_to(b.get("vpc_id") or b.get("default_route_table_id"), "aws_vpc")
                for route in b.get("route") or []:
                    if isinstance(route, dict) and route.get("cidr_block") == DEFAULT:
                        g.table_default[addr] = route
        for _t, _n, b in doc.resources("aws_route"):
            rt = ref_to(b.get("route_table_id"), "aws_route_table")
            if rt in g.table_vpc and b.get("destination_cidr_block") == DEFAULT:
                g.table_default[rt] = b
        for _t, _n, b in doc.resources("aws_route_table_association"):
            rt = ref_to(b.get("route_table_id"), "aws_route_table")
            subnet = ref_to(b.get("subnet_id"), "aws_subnet")
            if rt in g.table_vpc and subnet:
                g.table_subnets[rt].append(subnet)
        for _t, _n, b in doc.resources("aws_main_route_table_association"):
            rt, vpc = ref_to(b.get("route_table_id"), "aws_route_table"), ref_to(b.get("vpc_id"), "aws_vpc")
            if rt and vpc:
                g.main_table[vpc] = rt
        associated = {s for subs in g.table_subnets.values() for s in subs}
        for subnet, vpc in g.subnet_vpc.items():  # unassociated subnets use their VPC's main table
            if subnet not in associated and vpc in g.main_table:
                g.table_subnets[g.main_table[vpc]].append(subnet)
        return g

    def table_of(self, subnet: str) -> str | None:
        return next((rt for rt, subs in self.table_subnets.items() if subnet in subs), None)

    def igw_route(self, table: str | None) -> str | None:
        """The internet gateway of the table's default route, when it is attached to the table's VPC."""
        route = self.table_default.get(table or "") or {}
        igw = ref_to(route.get("gateway_id"), "aws_internet_gateway")
        if igw and self.igw_vpc.get(igw) and self.igw_vpc.get(igw) == self.table_vpc.get(table or ""):
            return igw
        return None

    def is_public(self, subnet: str) -> bool:
        table = self.table_of(subnet)
        return bool(table and self.igw_route(table) and self.table_vpc.get(table) == self.subnet_vpc.get(subnet))

    def tier(self, subnet: str) -> str:
        return "public" if self.is_public(subnet) else "private"


def az_key(value: Any) -> str:
    return json.dumps(value, sort_keys=True) if not isinstance(value, str) else value


def _net(cidr: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    if not isinstance(cidr, str) or not literal(cidr):
        return None
    try:
        return ipaddress.ip_network(cidr, strict=True)
    except ValueError:
        return None


# -- VPC -----------------------------------------------------------------------------------------

VPC_CIDR_DNS = define(
    "vpc-cidr-dns", "error", "every aws_vpc has DNS support and DNS hostnames on",
    "With enable_dns_support or enable_dns_hostnames off, private DNS names of interface endpoints and "
    "instance hostnames do not resolve inside the VPC; AWS accepts the VPC.",
    "https://docs.aws.amazon.com/vpc/latest/userguide/AmazonDNS-concepts.html#vpc-dns-support",
    "set enable_dns_support = true and enable_dns_hostnames = true",
    breaks="private DNS for endpoints and instance hostnames does not resolve")


@doc_check(VPC_CIDR_DNS)
def vpc_dns(doc: SynthDoc) -> Iterable[Finding]:
    for t, name, body in doc.resources("aws_vpc"):
        for arg, default in (("enable_dns_support", True), ("enable_dns_hostnames", False)):
            if as_bool(body.get(arg), default) is False:
                yield VPC_CIDR_DNS.finding(f"{t}.{name}", f"{arg} is off: private DNS for endpoints and instance "
                                           "hostnames do not resolve", f"set {arg} = true", argument=arg,
                                           value=body.get(arg))


VPC_CIDR_MISSING = define(
    "vpc-cidr-missing", "error", "every aws_vpc has an IPv4 CIDR block or an IPAM pool",
    "CreateVpc refuses a request with neither CidrBlock nor Ipv4IpamPoolId.",
    "https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateVpc.html",
    "set cidr_block, e.g. 10.0.0.0/16",
    aws_error=AwsError("MissingParameter", 400, "Either 'cidrBlock' or 'ipv4IpamPoolId' should be provided."))


@doc_check(VPC_CIDR_MISSING)
def vpc_cidr_missing(doc: SynthDoc) -> Iterable[Finding]:
    for t, name, body in doc.resources("aws_vpc"):
        if body.get("cidr_block") is None and not body.get("ipv4_ipam_pool_id"):
            yield VPC_CIDR_MISSING.finding(f"{t}.{name}", "no cidr_block and no ipv4_ipam_pool_id",
                                           argument="cidr_block")


# -- subnets -------------------------------------------------------------------------------------

SUBNET_IN_VPC = define(
    "subnet-cidr-in-vpc", "error", "a subnet's CIDR lies inside its VPC's CIDR",
    "CreateSubnet refuses a block that is not inside one of the VPC's CIDR blocks.",
    SUBNETS, "derive subnet CIDRs from the VPC CIDR",
    aws_error=AwsError("InvalidSubnet.Range", 400, "The CIDR '{value}' is invalid."))
SUBNET_OVERLAP = define(
    "subnet-cidr-overlap", "error", "the subnets of a VPC do not overlap",
    "CreateSubnet refuses a block that overlaps another subnet of the same VPC.",
    SUBNETS, "give every subnet its own block of the VPC CIDR",
    aws_error=AwsError("InvalidSubnet.Conflict", 400, "The CIDR '{value}' conflicts with another subnet"))
SUBNETS_PER_AZ = define(
    "subnets-per-az", "warning", "one public and one private subnet per AZ",
    "The stack's shape: every availability zone it uses has exactly one public subnet (default route to "
    "an internet gateway attached to the VPC) and one private subnet; otherwise an AZ has no egress, or "
    "its workloads land in the wrong tier.",
    SUBNETS, "create one public and one private subnet per availability zone",
    breaks="an AZ without a private or public subnet loses its tier (no egress, or no place for workloads)")


@doc_check(SUBNET_IN_VPC)
def subnet_in_vpc(doc: SynthDoc) -> Iterable[Finding]:
    for t, n, body in doc.resources("aws_subnet"):
        net = _net(body.get("cidr_block"))
        vpc = doc.get(ref_to(body.get("vpc_id"), "aws_vpc")) or {}
        vpc_net = _net(vpc.get("cidr_block"))
        if net and vpc_net and net.version == vpc_net.version and not net.subnet_of(vpc_net):  # type: ignore[arg-type]
            yield SUBNET_IN_VPC.finding(f"{t}.{n}", f"cidr_block {net} is outside the VPC's {vpc_net}",
                                        argument="cidr_block", value=str(net))


@doc_check(SUBNET_OVERLAP)
def subnet_overlap(doc: SynthDoc) -> Iterable[Finding]:
    seen: dict[str, list[tuple[str, Any]]] = defaultdict(list)
    for t, n, body in doc.resources("aws_subnet"):
        net = _net(body.get("cidr_block"))
        if net is None:
            continue
        vpc = ref_to(body.get("vpc_id"), "aws_vpc") or "?"
        for other, other_net in seen[vpc]:
            if net.version == other_net.version and net.overlaps(other_net):
                yield SUBNET_OVERLAP.finding(f"{t}.{n}", f"cidr_block {net} overlaps {other} ({other_net})",
                                             argument="cidr_block", value=str(net))
        seen[vpc].append((f"{t}.{n}", net))


@doc_check(SUBNETS_PER_AZ)
def subnets_per_az(doc: SynthDoc) -> Iterable[Finding]:
    g = Graph.of(doc)
    by_vpc: dict[str, dict[str, dict[str, list[str]]]] = defaultdict(
        lambda: defaultdict(lambda: {"public": [], "private": []}))
    for subnet, vpc in g.subnet_vpc.items():
        by_vpc[vpc or "?"][g.subnet_az[subnet]][g.tier(subnet)].append(subnet)
    for vpc, per_az in by_vpc.items():
        for az, tier in per_az.items():
            for kind in ("public", "private"):
                if len(tier[kind]) != 1:
                    where = tier["public"] + tier["private"]
                    yield SUBNETS_PER_AZ.finding(
                        ", ".join(where) or vpc,
                        f"AZ {az} has {len(tier[kind])} {kind} subnet(s); expected exactly one",
                        f"create one {kind} subnet per availability zone")


SUBNET_AZ = define(
    "subnet-az-in-region", "error", "a literal availability zone belongs to the stack's region",
    "CreateSubnet refuses an availability zone of another region (and a zone name that does not exist).",
    SUBNETS, "take availability zones from data.aws_availability_zones of the stack's region",
    aws_error=AwsError("InvalidParameterValue", 400, "Value ({value}) for parameter availabilityZone is invalid. "
                       "Subnets can currently only be created in the following availability zones: ..."))
AZ_RE = re.compile(r"^([a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d)([a-z])$")


@arg_check(SUBNET_AZ)
def subnet_az(tf_type: str, argument: str, value: Any, region: str | None, address: str) -> Iterable[Finding]:
    if tf_type != "aws_subnet" or argument != "availability_zone" or not region:
        return
    if not isinstance(value, str) or not literal(value):
        return
    m = AZ_RE.match(value)
    if not m or m.group(1) != region:
        yield SUBNET_AZ.finding(address, f"availability_zone {value!r} is not a zone of {region}",
                                argument=argument, value=value)


# -- NAT gateways and default routes -------------------------------------------------------------

NAT_PUBLIC = define(
    "nat-in-public-subnet", "error", "a public NAT gateway lives in a public subnet",
    "A public NAT gateway forwards private traffic to the internet gateway of its own subnet's route "
    "table. AWS accepts one in a private subnet, but then it has no route to the internet and every "
    "subnet routed through it loses egress.",
    NAT_DOCS, "put the NAT gateway in a subnet whose route table sends 0.0.0.0/0 to the VPC's internet gateway",
    breaks="the NAT gateway has no path to the internet: private subnets routed through it lose egress")


@doc_check(NAT_PUBLIC)
def nat_public(doc: SynthDoc) -> Iterable[Finding]:
    g = Graph.of(doc)
    for t, n, body in doc.resources("aws_nat_gateway"):
        if body.get("connectivity_type", "public") != "public":
            continue
        subnet = ref_to(body.get("subnet_id"), "aws_subnet")
        if subnet and subnet in g.subnet_vpc and not g.is_public(subnet):
            table = g.table_of(subnet)
            why = (f"its route table {table} has no 0.0.0.0/0 route to an internet gateway attached to the VPC"
                   if table else "it has no route table association")
            yield NAT_PUBLIC.finding(f"{t}.{n}", f"subnet {subnet} is not public: {why}", argument="subnet_id",
                                     value=body.get("subnet_id"))


PRIVATE_ROUTE = define(
    "private-route-own-az-nat", "warning", "each private route table's default route goes to the NAT in its own AZ",
    "A private subnet reaches the internet through a NAT gateway; through the NAT of another AZ an AZ "
    "outage cuts its egress and the traffic is billed as cross-AZ.",
    NAT_DOCS, "route 0.0.0.0/0 to the aws_nat_gateway in the subnet's AZ",
    breaks="private subnets lose egress (no route) or depend on another AZ's NAT gateway")


@doc_check(PRIVATE_ROUTE)
def private_route_own_az(doc: SynthDoc) -> Iterable[Finding]:
    g = Graph.of(doc)
    nat_az = {f"{t}.{n}": g.subnet_az.get(ref_to(b.get("subnet_id"), "aws_subnet") or "")
              for t, n, b in doc.resources("aws_nat_gateway")}
    az_nat: dict[str, str] = {}
    for nat, az in nat_az.items():
        if az:
            az_nat.setdefault(az, nat)
    for rt in g.table_vpc:
        private = [s for s in g.table_subnets.get(rt, []) if g.tier(s) == "private"]
        if not private:
            continue
        default = g.table_default.get(rt)
        if not default:
            if nat_az:
                yield PRIVATE_ROUTE.finding(rt, "private route table has no 0.0.0.0/0 route",
                                            "add an aws_route 0.0.0.0/0 -> the NAT gateway of the subnet's AZ")
            continue
        nat = ref_to(default.get("nat_gateway_id"), "aws_nat_gateway")
        if not nat:
            yield PRIVATE_ROUTE.finding(rt, "default route does not point at a NAT gateway of this stack",
                                        "route 0.0.0.0/0 to the aws_nat_gateway in the subnet's AZ")
            continue
        for subnet in private:
            az = g.subnet_az.get(subnet)
            own = az_nat.get(az or "")
            if own and own != nat:
                yield PRIVATE_ROUTE.finding(
                    rt, f"subnet {subnet} (AZ {az}) routes to {nat} in AZ {nat_az.get(nat)}; an AZ outage would cut "
                    "its egress and cross-AZ traffic is billed", f"route 0.0.0.0/0 to {own}")


ROUTE_SAME_VPC = define(
    "route-gateway-same-vpc", "error", "a route's internet gateway is attached to the route table's VPC",
    "CreateRoute refuses a route to an internet gateway that is not attached to the route table's VPC.",
    ROUTE_TABLES, "route to the internet gateway attached to this VPC (aws_internet_gateway.vpc_id)",
    aws_error=AwsError("InvalidParameterValue", 400, "route table and network gateway {value} belong to "
                       "different networks"))


@doc_check(ROUTE_SAME_VPC)
def route_same_vpc(doc: SynthDoc) -> Iterable[Finding]:
    g = Graph.of(doc)
    routes = [(f"{t}.{n}", ref_to(b.get("route_table_id"), "aws_route_table"), b)
              for t, n, b in doc.resources("aws_route")]
    for t, n, b in doc.resources("aws_route_table"):
        routes += [(f"{t}.{n}", f"{t}.{n}", r) for r in b.get("route") or [] if isinstance(r, dict)]
    for addr, table, route in routes:
        igw = ref_to(route.get("gateway_id"), "aws_internet_gateway")
        if not igw or igw not in g.igw_vpc or table not in g.table_vpc:
            continue
        if g.igw_vpc[igw] != g.table_vpc[table]:
            where = f"attached to {g.igw_vpc[igw]}" if g.igw_vpc[igw] else "not attached to any VPC"
            yield ROUTE_SAME_VPC.finding(addr, f"gateway_id {igw} is {where}, the route table is in "
                                         f"{g.table_vpc[table]}", argument="gateway_id", value=igw)


# -- S3 gateway endpoint -------------------------------------------------------------------------

S3_ENDPOINT = define(
    "s3-endpoint-all-route-tables", "warning", "an S3 gateway endpoint is attached to every route table",
    "S3 traffic from a subnet whose route table lacks the endpoint's prefix-list route goes through the "
    "NAT gateway (billed per GB) instead of the free gateway endpoint.",
    ENDPOINTS, "add every route table to the endpoint's route_table_ids",
    breaks="S3 traffic of the missing tables goes through the NAT gateway, billed per GB")


@doc_check(S3_ENDPOINT)
def s3_endpoint(doc: SynthDoc) -> Iterable[Finding]:
    g = Graph.of(doc)
    by_vpc: dict[str, set[str]] = defaultdict(set)
    for rt, vpc in g.table_vpc.items():
        by_vpc[vpc or "?"].add(rt)
    attached: dict[str, set[str]] = defaultdict(set)
    endpoints: dict[str, str] = {}
    for t, n, body in doc.resources("aws_vpc_endpoint"):
        service = str(body.get("service_name", ""))
        if not service.endswith(".s3") or body.get("vpc_endpoint_type", "Gateway") != "Gateway":
            continue
        vpc = ref_to(body.get("vpc_id"), "aws_vpc") or "?"
        endpoints[vpc] = f"{t}.{n}"
        attached[vpc].update(r for r in refs(body.get("route_table_ids")) if r.startswith("aws_route_table."))
    for _t, _n, body in doc.resources("aws_vpc_endpoint_route_table_association"):
        ep = ref_to(body.get("vpc_endpoint_id"), "aws_vpc_endpoint")
        rt = ref_to(body.get("route_table_id"), "aws_route_table")
        for vpc, addr in endpoints.items():
            if addr == ep and rt:
                attached[vpc].add(rt)
    for vpc_t, vpc_n, _ in doc.resources("aws_vpc"):
        vpc = f"{vpc_t}.{vpc_n}"
        if vpc not in endpoints:
            yield S3_ENDPOINT.finding(vpc, "no S3 gateway endpoint",
                                      "add aws_vpc_endpoint service_name com.amazonaws.<region>.s3, type Gateway")
            continue
        for rt in sorted(by_vpc.get(vpc, set()) - attached[vpc]):
            yield S3_ENDPOINT.finding(endpoints[vpc], f"route table {rt} is not attached: its S3 traffic goes "
                                      "through the NAT", f"add {rt}.id to route_table_ids", argument="route_table_ids")


ENDPOINT_SERVICE = define(
    "vpc-endpoint-service", "error", "a VPC endpoint names a service that exists in the stack's region",
    "CreateVpcEndpoint refuses a service name that is not offered in the region of the call: "
    "com.amazonaws.<the same region>.<a service AWS offers there>.",
    "https://docs.aws.amazon.com/vpc/latest/privatelink/aws-services-privatelink-support.html",
    "use com.amazonaws.<the stack's region>.<service>, built from data.aws_region",
    aws_error=AwsError("InvalidServiceName", 400, "The Vpc Endpoint Service '{value}' does not exist"))


@lru_cache(maxsize=1)
def _endpoint_services() -> dict[str, frozenset[str]]:
    """service endpoint prefix -> regions where botocore's endpoint data lists it (partition aws)."""
    import botocore.session  # lazy: only for endpoint names

    data = botocore.session.get_session().get_data("endpoints")
    out: dict[str, set[str]] = defaultdict(set)
    for partition in data.get("partitions", []):
        regions = set(partition.get("regions", {}))
        for service, body in partition.get("services", {}).items():
            out[service].update(r for r in body.get("endpoints", {}) if r in regions)
    return {k: frozenset(v) for k, v in out.items()}


@arg_check(ENDPOINT_SERVICE)
def endpoint_service(tf_type: str, argument: str, value: Any, region: str | None, address: str) -> Iterable[Finding]:
    if tf_type != "aws_vpc_endpoint" or argument != "service_name" or not region:
        return
    if not isinstance(value, str) or not literal(value) or not value.startswith("com.amazonaws."):
        return  # other prefixes (aws.sagemaker..., com.amazonaws.vpce....) name partner or own services
    parts = value.split(".")
    if len(parts) < 4 or parts[2] == "vpce":
        return
    svc_region, service = parts[2], parts[3]
    regions = _endpoint_services().get(service)
    if svc_region != region:
        yield ENDPOINT_SERVICE.finding(address, f"service_name {value!r} names region {svc_region!r}; the call is "
                                       f"made in {region}", argument=argument, value=value)
    elif regions is None or region not in regions:
        yield ENDPOINT_SERVICE.finding(address, f"service_name {value!r}: {service!r} is not a service AWS offers "
                                       f"in {region} (botocore endpoint data)", argument=argument, value=value)
