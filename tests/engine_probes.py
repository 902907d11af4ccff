"""The evidence behind every argument the embedded engine refuses because an emulator does not
store it: one probe per reason, each setting the argument through the real API and describing it
back (helper of tests/test_refusal_probes.py on moto and tests/localstack/
test_refusal_probes_localstack.py on LocalStack host mode).

A probe returns (round_trips, detail). The tests hold each probe to the emulators its table entry
names (`fails_on`): it must not round-trip there and must round-trip elsewhere, so the day an
emulator starts to store an argument the test turns red and the argument can be implemented.
Probes named only in a note (an argument created fine but that an emulator cannot change in place,
so the engine replaces instead) are held to `NOTE_PROBES`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserError

from matrix.engines.embedded.arguments.spec import REFUSED
from matrix.engines.embedded.resources import HANDLERS

REGION = "us-east-1"
Make = Callable[..., Any]  # make(service) -> boto3 client in the probe's account and REGION
PROBES: dict[str, Callable[[Make], tuple[bool, str]]] = {}
#: probes that justify a "replace" (not a refusal): probe -> the emulators it fails on
NOTE_PROBES = {"vpce-security-groups-modify": ("localstack",), "vpce-private-dns-modify": ("moto",),
               "route-replace-target": ("moto", "localstack"), "logs-associate-kms-key": ("moto", "localstack")}


def probe(name: str):
    def register(fn):
        PROBES[name] = fn
        return fn
    return register


def expected_failures() -> dict[str, tuple[str, ...]]:
    """probe -> the emulators it must fail on, from the handlers' tables (and NOTE_PROBES)."""
    out: dict[str, tuple[str, ...]] = dict(NOTE_PROBES)
    for rtype, handler in HANDLERS.items():
        for arg, spec in handler.args.items():
            if spec.kind == REFUSED and spec.probe:
                if spec.probe in out and out[spec.probe] != spec.fails_on:
                    raise AssertionError(f"{rtype}.{arg}: probe {spec.probe} with two different fails_on")
                out[spec.probe] = spec.fails_on
    return out


def run(name: str, make: Make) -> tuple[bool, str]:
    """The probe's verdict; an API error (not implemented, HTTP 500, refused) is "does not round-trip"."""
    try:
        return PROBES[name](make)
    except (ClientError, BotoCoreError, ResponseParserError) as exc:  # moto answers some with an HTML 500
        return False, f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"


# -- setup helpers ----------------------------------------------------------------------------------

def _vpc(ec2: Any, ipv6: bool = False) -> str:
    return ec2.create_vpc(CidrBlock="10.77.0.0/16", AmazonProvidedIpv6CidrBlock=ipv6)["Vpc"]["VpcId"]


def _subnet(ec2: Any, vpc: str, cidr: str = "10.77.1.0/24", **kw: Any) -> str:
    return ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=f"{REGION}a", **kw)["Subnet"]["SubnetId"]


def _subnet_described(ec2: Any, subnet: str) -> dict[str, Any]:
    return ec2.describe_subnets(SubnetIds=[subnet])["Subnets"][0]


def _modified_subnet(make: Make, **attribute: Any) -> dict[str, Any]:
    ec2 = make("ec2")
    subnet = _subnet(ec2, _vpc(ec2, ipv6=True))
    ec2.modify_subnet_attribute(SubnetId=subnet, **attribute)
    return _subnet_described(ec2, subnet)


def _endpoint(make: Make, **kw: Any) -> dict[str, Any]:
    ec2 = make("ec2")
    vpc = _vpc(ec2)
    kw.setdefault("SubnetIds", [_subnet(ec2, vpc)])
    kw.setdefault("ServiceName", f"com.amazonaws.{REGION}.sqs")
    kw.setdefault("VpcEndpointType", "Interface")
    eid = ec2.create_vpc_endpoint(VpcId=vpc, **kw)["VpcEndpoint"]["VpcEndpointId"]
    return ec2.describe_vpc_endpoints(VpcEndpointIds=[eid])["VpcEndpoints"][0]


def _flow_log(make: Make, **kw: Any) -> dict[str, Any]:
    ec2, s3 = make("ec2"), make("s3")
    bucket = f"probe-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    out = ec2.create_flow_logs(ResourceIds=[_vpc(ec2)], ResourceType="VPC", TrafficType="ALL",
                               LogDestinationType="s3", LogDestination=f"arn:aws:s3:::{bucket}", **kw)
    if out.get("Unsuccessful"):
        return {"Unsuccessful": out["Unsuccessful"]}
    return ec2.describe_flow_logs(FlowLogIds=out["FlowLogIds"])["FlowLogs"][0]


def _route(make: Make, **target: Any) -> tuple[bool, str]:
    ec2 = make("ec2")
    rt = ec2.create_route_table(VpcId=_vpc(ec2))["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=rt, DestinationCidrBlock="192.168.9.0/24", **target)
    routes = [r for r in ec2.describe_route_tables(RouteTableIds=[rt])["RouteTables"][0]["Routes"]
              if r.get("DestinationCidrBlock") == "192.168.9.0/24"]
    (key, value), = target.items()
    return bool(routes) and routes[0].get(key) == value, f"described route: {routes}"


# -- VPC ----------------------------------------------------------------------------------------------

@probe("ec2-ipam")
def ipam(make: Make) -> tuple[bool, str]:
    ec2 = make("ec2")
    scope = ec2.create_ipam(OperatingRegions=[{"RegionName": REGION}])["Ipam"]["PrivateDefaultScopeId"]
    pool = ec2.create_ipam_pool(IpamScopeId=scope, AddressFamily="ipv4", Locale=REGION)["IpamPool"]["IpamPoolId"]
    ec2.provision_ipam_pool_cidr(IpamPoolId=pool, Cidr="10.50.0.0/16")
    vpc = ec2.create_vpc(Ipv4IpamPoolId=pool, Ipv4NetmaskLength=24)["Vpc"]
    return vpc.get("CidrBlock", "").startswith("10.50."), f"VPC CIDR {vpc.get('CidrBlock')}"


@probe("vpc-ipv6-cidr-block")
def vpc_ipv6_block(make: Make) -> tuple[bool, str]:
    ec2 = make("ec2")
    block = "2600:1f18:1234:5600::/56"
    vpc = ec2.create_vpc(CidrBlock="10.77.0.0/16", Ipv6CidrBlock=block,
                         Ipv6Pool="ipv6pool-ec2-0123456789abcdef0")["Vpc"]["VpcId"]
    got = ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"][0].get("Ipv6CidrBlockAssociationSet") or []
    return any(a.get("Ipv6CidrBlock") == block for a in got), f"associations {got}"


@probe("vpc-ipv6-network-border-group")
def vpc_border_group(make: Make) -> tuple[bool, str]:
    ec2 = make("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.77.0.0/16", AmazonProvidedIpv6CidrBlock=True,
                         Ipv6CidrBlockNetworkBorderGroup=REGION)["Vpc"]["VpcId"]
    got = ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"][0].get("Ipv6CidrBlockAssociationSet") or []
    return any(a.get("NetworkBorderGroup") == REGION for a in got), f"associations {got}"


# -- subnets ------------------------------------------------------------------------------------------

@probe("subnet-dns-aaaa-record")
def subnet_aaaa(make: Make) -> tuple[bool, str]:
    s = _modified_subnet(make, EnableResourceNameDnsAAAARecordOnLaunch={"Value": True})
    opts = s.get("PrivateDnsNameOptionsOnLaunch") or {}
    return opts.get("EnableResourceNameDnsAAAARecord") is True, f"PrivateDnsNameOptionsOnLaunch {opts}"


@probe("subnet-hostname-type")
def subnet_hostname(make: Make) -> tuple[bool, str]:
    s = _modified_subnet(make, PrivateDnsHostnameTypeOnLaunch="resource-name")
    opts = s.get("PrivateDnsNameOptionsOnLaunch") or {}
    return opts.get("HostnameType") == "resource-name", f"PrivateDnsNameOptionsOnLaunch {opts}"


@probe("subnet-dns64")
def subnet_dns64(make: Make) -> tuple[bool, str]:
    s = _modified_subnet(make, EnableDns64={"Value": True})
    return s.get("EnableDns64") is True, f"EnableDns64 {s.get('EnableDns64')}"


@probe("subnet-lni-device-index")
def subnet_lni(make: Make) -> tuple[bool, str]:
    s = _modified_subnet(make, EnableLniAtDeviceIndex=1)
    return s.get("EnableLniAtDeviceIndex") == 1, f"EnableLniAtDeviceIndex {s.get('EnableLniAtDeviceIndex')}"


@probe("subnet-customer-owned-ip")
def subnet_coip(make: Make) -> tuple[bool, str]:
    s = _modified_subnet(make, MapCustomerOwnedIpOnLaunch={"Value": True},
                         CustomerOwnedIpv4Pool="ipv4pool-coip-0123456789abcdef0")
    got = s.get("MapCustomerOwnedIpOnLaunch")
    return got is True, f"MapCustomerOwnedIpOnLaunch {got}"


@probe("subnet-outpost")
def subnet_outpost(make: Make) -> tuple[bool, str]:
    ec2 = make("ec2")
    arn = "arn:aws:outposts:us-east-1:123456789012:outpost/op-0123456789abcdef0"
    s = _subnet_described(ec2, _subnet(ec2, _vpc(ec2), OutpostArn=arn))
    return s.get("OutpostArn") == arn, f"OutpostArn {s.get('OutpostArn')}"


# -- EIPs ---------------------------------------------------------------------------------------------

def _address(make: Make, **kw: Any) -> dict[str, Any]:
    ec2 = make("ec2")
    alloc = ec2.allocate_address(Domain="vpc", **kw)["AllocationId"]
    return ec2.describe_addresses(AllocationIds=[alloc])["Addresses"][0]


@probe("eip-public-ipv4-pool")
def eip_pool(make: Make) -> tuple[bool, str]:
    a = _address(make, PublicIpv4Pool="ipv4pool-ec2-0123456789abcdef0")
    return a.get("PublicIpv4Pool") == "ipv4pool-ec2-0123456789abcdef0", f"PublicIpv4Pool {a.get('PublicIpv4Pool')}"


@probe("eip-network-border-group")
def eip_border_group(make: Make) -> tuple[bool, str]:
    a = _address(make, NetworkBorderGroup=REGION)
    return a.get("NetworkBorderGroup") == REGION, f"NetworkBorderGroup {a.get('NetworkBorderGroup')}"


@probe("eip-customer-owned-pool")
def eip_coip(make: Make) -> tuple[bool, str]:
    a = _address(make, CustomerOwnedIpv4Pool="ipv4pool-coip-0123456789abcdef0")
    return a.get("CustomerOwnedIpv4Pool") is not None, f"CustomerOwnedIpv4Pool {a.get('CustomerOwnedIpv4Pool')}"


@probe("eip-associate-with-private-ip")
def eip_private_ip(make: Make) -> tuple[bool, str]:
    ec2 = make("ec2")
    subnet = _subnet(ec2, _vpc(ec2))
    eni = ec2.create_network_interface(SubnetId=subnet, PrivateIpAddresses=[
        {"PrivateIpAddress": "10.77.1.10", "Primary": True},
        {"PrivateIpAddress": "10.77.1.11", "Primary": False}])["NetworkInterface"]["NetworkInterfaceId"]
    alloc = ec2.allocate_address(Domain="vpc")["AllocationId"]
    ec2.associate_address(AllocationId=alloc, NetworkInterfaceId=eni, PrivateIpAddress="10.77.1.11")
    got = ec2.describe_addresses(AllocationIds=[alloc])["Addresses"][0].get("PrivateIpAddress")
    return got == "10.77.1.11", f"PrivateIpAddress {got} (asked 10.77.1.11)"


# -- NAT gateways -------------------------------------------------------------------------------------

def _nat(make: Make, **kw: Any) -> dict[str, Any]:
    ec2 = make("ec2")
    kw.setdefault("SubnetId", _subnet(ec2, _vpc(ec2)))
    nat = ec2.create_nat_gateway(**kw)["NatGateway"]["NatGatewayId"]
    return ec2.describe_nat_gateways(NatGatewayIds=[nat])["NatGateways"][0]


@probe("nat-private-ip")
def nat_private_ip(make: Make) -> tuple[bool, str]:
    n = _nat(make, ConnectivityType="private", PrivateIpAddress="10.77.1.20")
    got = [a.get("PrivateIp") for a in n.get("NatGatewayAddresses") or []]
    return "10.77.1.20" in got, f"addresses {got} (asked 10.77.1.20)"


@probe("nat-secondary-allocation-ids")
def nat_secondary_allocations(make: Make) -> tuple[bool, str]:
    ec2 = make("ec2")
    first, second = (ec2.allocate_address(Domain="vpc")["AllocationId"] for _ in range(2))
    n = _nat(make, AllocationId=first, SecondaryAllocationIds=[second])
    got = [a.get("AllocationId") for a in n.get("NatGatewayAddresses") or []]
    return second in got, f"allocations {got}"


@probe("nat-secondary-private-ip-count")
def nat_secondary_ips(make: Make) -> tuple[bool, str]:
    n = _nat(make, ConnectivityType="private", SecondaryPrivateIpAddressCount=2)
    got = n.get("NatGatewayAddresses") or []
    return len(got) == 3, f"{len(got)} address(es) (asked 1 + 2 secondary)"


@probe("nat-regional")
def nat_regional(make: Make) -> tuple[bool, str]:
    ec2 = make("ec2")
    nat = ec2.create_nat_gateway(VpcId=_vpc(ec2), AvailabilityMode="regional")["NatGateway"]
    return nat.get("AvailabilityMode") == "regional", f"answer {nat}"


# -- VPC endpoints ------------------------------------------------------------------------------------

@probe("vpce-acceptance")
def vpce_acceptance(make: Make) -> tuple[bool, str]:
    """A connection to another account's endpoint service waits for acceptance on AWS
    (pendingAcceptance); the emulators make every endpoint available at once."""
    e = _endpoint(make, ServiceName=f"com.amazonaws.vpce.{REGION}.vpce-svc-0123456789abcdef0")
    return e.get("State") == "pendingAcceptance", f"State {e.get('State')}"


@probe("vpce-ip-address-type")
def vpce_ip_type(make: Make) -> tuple[bool, str]:
    e = _endpoint(make, IpAddressType="dualstack")
    return e.get("IpAddressType") == "dualstack", f"IpAddressType {e.get('IpAddressType')}"


@probe("vpce-dns-options")
def vpce_dns_options(make: Make) -> tuple[bool, str]:
    e = _endpoint(make, DnsOptions={"DnsRecordIpType": "dualstack", "PrivateDnsOnlyForInboundResolverEndpoint": True})
    opts = e.get("DnsOptions") or {}
    return opts.get("DnsRecordIpType") == "dualstack", f"DnsOptions {opts}"


@probe("vpce-resource-configuration")
def vpce_resource_configuration(make: Make) -> tuple[bool, str]:
    arn = f"arn:aws:vpc-lattice:{REGION}:123456789012:resourceconfiguration/rcfg-0123456789abcdef0"
    e = _endpoint(make, VpcEndpointType="Resource", ResourceConfigurationArn=arn)
    return e.get("ResourceConfigurationArn") == arn, f"ResourceConfigurationArn {e.get('ResourceConfigurationArn')}"


@probe("vpce-service-network")
def vpce_service_network(make: Make) -> tuple[bool, str]:
    arn = f"arn:aws:vpc-lattice:{REGION}:123456789012:servicenetwork/sn-0123456789abcdef0"
    e = _endpoint(make, VpcEndpointType="ServiceNetwork", ServiceNetworkArn=arn)
    return e.get("ServiceNetworkArn") == arn, f"ServiceNetworkArn {e.get('ServiceNetworkArn')}"


@probe("vpce-service-region")
def vpce_service_region(make: Make) -> tuple[bool, str]:
    e = _endpoint(make, ServiceName="com.amazonaws.vpce.us-west-2.vpce-svc-0123456789abcdef0",
                  ServiceRegion="us-west-2")
    return e.get("ServiceRegion") == "us-west-2", f"ServiceRegion {e.get('ServiceRegion')}"


@probe("vpce-subnet-configuration")
def vpce_subnet_configuration(make: Make) -> tuple[bool, str]:
    ec2 = make("ec2")
    vpc = _vpc(ec2)
    subnet = _subnet(ec2, vpc)
    eid = ec2.create_vpc_endpoint(
        VpcId=vpc, ServiceName=f"com.amazonaws.{REGION}.sqs", VpcEndpointType="Interface", SubnetIds=[subnet],
        SubnetConfigurations=[{"SubnetId": subnet, "Ipv4": "10.77.1.50"}])["VpcEndpoint"]["VpcEndpointId"]
    enis = ec2.describe_vpc_endpoints(VpcEndpointIds=[eid])["VpcEndpoints"][0].get("NetworkInterfaceIds") or []
    ips = [n.get("PrivateIpAddress") for n in ec2.describe_network_interfaces(NetworkInterfaceIds=enis)[
        "NetworkInterfaces"]] if enis else []
    return "10.77.1.50" in ips, f"endpoint addresses {ips} (asked 10.77.1.50)"


@probe("vpce-security-groups-modify")
def vpce_groups_modify(make: Make) -> tuple[bool, str]:
    ec2 = make("ec2")
    vpc = _vpc(ec2)
    first, second = (ec2.create_security_group(GroupName=f"g{n}", Description="d", VpcId=vpc)["GroupId"]
                     for n in (1, 2))
    eid = ec2.create_vpc_endpoint(
        VpcId=vpc, ServiceName=f"com.amazonaws.{REGION}.sqs", VpcEndpointType="Interface",
        SubnetIds=[_subnet(ec2, vpc)], SecurityGroupIds=[first])["VpcEndpoint"]["VpcEndpointId"]
    ec2.modify_vpc_endpoint(VpcEndpointId=eid, AddSecurityGroupIds=[second], RemoveSecurityGroupIds=[first])
    got = [g["GroupId"] for g in ec2.describe_vpc_endpoints(VpcEndpointIds=[eid])["VpcEndpoints"][0]["Groups"]]
    return got == [second], f"groups {got} (asked {[second]})"


@probe("vpce-private-dns-modify")
def vpce_private_dns_modify(make: Make) -> tuple[bool, str]:
    ec2 = make("ec2")
    vpc = _vpc(ec2)
    eid = ec2.create_vpc_endpoint(VpcId=vpc, ServiceName=f"com.amazonaws.{REGION}.sqs", VpcEndpointType="Interface",
                                  SubnetIds=[_subnet(ec2, vpc)], PrivateDnsEnabled=True)["VpcEndpoint"]["VpcEndpointId"]
    ec2.modify_vpc_endpoint(VpcEndpointId=eid, PrivateDnsEnabled=False)
    got = ec2.describe_vpc_endpoints(VpcEndpointIds=[eid])["VpcEndpoints"][0].get("PrivateDnsEnabled")
    return got is False, f"PrivateDnsEnabled {got} after setting false"


# -- flow logs ----------------------------------------------------------------------------------------

@probe("flow-log-cross-account-role")
def flow_log_cross_account(make: Make) -> tuple[bool, str]:
    role = "arn:aws:iam::123456789012:role/cross-account-delivery"
    f = _flow_log(make, DeliverCrossAccountRole=role)
    return f.get("DeliverCrossAccountRole") == role, f"DeliverCrossAccountRole {f.get('DeliverCrossAccountRole')}"


@probe("flow-log-destination-options")
def flow_log_destination_options(make: Make) -> tuple[bool, str]:
    f = _flow_log(make, DestinationOptions={"FileFormat": "parquet", "HiveCompatiblePartitions": True,
                                            "PerHourPartition": True})
    opts = f.get("DestinationOptions") or {}
    return opts.get("FileFormat") == "parquet", f"DestinationOptions {opts}"


# -- routes -------------------------------------------------------------------------------------------

@probe("route-local-gateway")
def route_local_gateway(make: Make) -> tuple[bool, str]:
    return _route(make, LocalGatewayId="lgw-0123456789abcdef0")


@probe("route-core-network")
def route_core_network(make: Make) -> tuple[bool, str]:
    return _route(make, CoreNetworkArn="arn:aws:networkmanager::123456789012:core-network/core-network-0123456789")


@probe("route-table-propagating-vgws")
def route_table_propagation(make: Make) -> tuple[bool, str]:
    ec2 = make("ec2")
    vpc = _vpc(ec2)
    rt = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    vgw = ec2.create_vpn_gateway(Type="ipsec.1")["VpnGateway"]["VpnGatewayId"]
    ec2.attach_vpn_gateway(VpcId=vpc, VpnGatewayId=vgw)
    ec2.enable_vgw_route_propagation(RouteTableId=rt, GatewayId=vgw)
    got = ec2.describe_route_tables(RouteTableIds=[rt])["RouteTables"][0].get("PropagatingVgws") or []
    return any(g.get("GatewayId") == vgw for g in got), f"PropagatingVgws {got}"


@probe("route-replace-target")
def route_replace_target(make: Make) -> tuple[bool, str]:
    """ReplaceRoute to a carrier gateway (or a GatewayLoadBalancer endpoint): is the new target stored?"""
    ec2 = make("ec2")
    vpc = _vpc(ec2)
    rt = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    cagw = ec2.create_carrier_gateway(VpcId=vpc)["CarrierGateway"]["CarrierGatewayId"]
    ec2.create_route(RouteTableId=rt, DestinationCidrBlock="192.168.9.0/24", GatewayId=igw)
    ec2.replace_route(RouteTableId=rt, DestinationCidrBlock="192.168.9.0/24", CarrierGatewayId=cagw)
    route = next(r for r in ec2.describe_route_tables(RouteTableIds=[rt])["RouteTables"][0]["Routes"]
             if r.get("DestinationCidrBlock") == "192.168.9.0/24")
    return route.get("CarrierGatewayId") == cagw and not route.get("GatewayId"), f"route after replace {route}"


# -- CloudWatch Logs ----------------------------------------------------------------------------------

def _group(make: Make, **kw: Any) -> tuple[Any, dict[str, Any]]:
    logs = make("logs")
    name = f"/probe/{uuid.uuid4().hex[:8]}"
    logs.create_log_group(logGroupName=name, **kw)
    return logs, next(g for g in logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"]
                      if g["logGroupName"] == name)


@probe("logs-group-class")
def logs_class(make: Make) -> tuple[bool, str]:
    _, g = _group(make, logGroupClass="INFREQUENT_ACCESS")
    return g.get("logGroupClass") == "INFREQUENT_ACCESS", f"logGroupClass {g.get('logGroupClass')}"


@probe("logs-deletion-protection")
def logs_deletion_protection(make: Make) -> tuple[bool, str]:
    _, g = _group(make, deletionProtectionEnabled=True)
    return g.get("deletionProtectionEnabled") is True, f"deletionProtectionEnabled {g.get('deletionProtectionEnabled')}"


@probe("logs-associate-kms-key")
def logs_associate_kms(make: Make) -> tuple[bool, str]:
    logs, g = _group(make)
    key = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
    logs.associate_kms_key(logGroupName=g["logGroupName"], kmsKeyId=key)
    got = logs.describe_log_groups(logGroupNamePrefix=g["logGroupName"])["logGroups"][0].get("kmsKeyId")
    return got == key, f"kmsKeyId {got}"

