"""A stack that sets every argument the embedded engine implements to a non-default value, deploys
it (create path), changes every in-place argument (update path), and reads each back from the
emulator with boto3 calls of its own (helper of tests/test_engine_arguments.py on moto and
tests/localstack/test_engine_arguments_localstack.py on LocalStack host mode).

* `prerequisites(clients)`  what the stack refers to but the engine does not manage (a second VPC
  with subnets, ENIs, security groups, an instance pair, gateways of every route-target kind, a
  transit gateway and its attachment, a prefix list, two customer-managed IAM policies, a bucket);
* `document(fx, phase, bucket)`  the Terraform JSON of the stack for phase "create" or "update";
* `observe(clients, state)`  an independent reader (not the handlers' code): per address, the
  value of every argument as the emulator describes it, in Terraform's names;
* `run_phases(clients, workdir)`  both phases end to end, with expected and observed values,
  the engine's read-back and the plans; `verdicts(result, rtype, arg)` one argument's checks.

Several resources of one type cover arguments that exclude each other (a flow log per source,
an EIP per association kind, one route per target kind).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from matrix.clients import ClientFactory
from matrix.engines.embedded.arguments.normalize import equal, show
from matrix.engines.embedded.arguments.spec import INPLACE
from matrix.engines.embedded.engine import EmbeddedEngine, EngineOptions
from matrix.engines.embedded.readback import ReadBackMismatch, kind_of
from matrix.engines.embedded.resources import HANDLERS
from matrix.engines.embedded.resources.routes import route_from_api

REGION, OTHER_REGION = "us-east-1", "eu-west-1"
KMS_1 = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
KMS_2 = "arn:aws:kms:us-east-1:123456789012:key/66666666-7777-8888-9999-000000000000"


def _policy(effect: str, action: str, sid: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": sid, "Effect": effect, "Principal": "*", "Action": action, "Resource": "*"}]})


def _iam(action: str) -> str:
    statement = {"Effect": "Allow", "Action": [action], "Resource": "*"}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def _trust(service: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                               "Principal": {"Service": service}}]})


DENY_ALL = _policy("Deny", "*", "DenyAll")
ALLOW_GET = _policy("Allow", "s3:GetObject", "AllowGet")


@dataclass
class Fixtures:
    ids: dict[str, str] = field(default_factory=dict)

    def __getattr__(self, name: str) -> str:
        try:
            return self.ids[name]
        except KeyError as exc:
            raise AttributeError(name) from exc


def prerequisites(clients: ClientFactory) -> Fixtures:
    ec2, iam, s3 = clients.client("ec2", REGION), clients.client("iam"), clients.client("s3", REGION)
    fx: dict[str, str] = {}
    fx["vpc_b"] = ec2.create_vpc(CidrBlock="10.20.0.0/16", AmazonProvidedIpv6CidrBlock=True)["Vpc"]["VpcId"]
    fx["vpc_c"] = ec2.create_vpc(CidrBlock="10.21.0.0/16")["Vpc"]["VpcId"]
    zones = [z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]]
    for n in (1, 2):
        fx[f"sb{n}"] = ec2.create_subnet(VpcId=fx["vpc_b"], CidrBlock=f"10.20.{n}.0/24",
                                         AvailabilityZone=zones[n - 1])["Subnet"]["SubnetId"]
    for n in (1, 2):
        fx[f"eni{n}"] = ec2.create_network_interface(SubnetId=fx["sb1"])["NetworkInterface"]["NetworkInterfaceId"]
        fx[f"sg{n}"] = ec2.create_security_group(GroupName=f"sg{n}", Description="d", VpcId=fx["vpc_b"])["GroupId"]
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    for n in (1, 2):
        fx[f"inst{n}"] = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, SubnetId=fx["sb2"])[
            "Instances"][0]["InstanceId"]
    fx["igw_b"] = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=fx["igw_b"], VpcId=fx["vpc_b"])
    fx["eigw"] = ec2.create_egress_only_internet_gateway(VpcId=fx["vpc_b"])["EgressOnlyInternetGateway"][
        "EgressOnlyInternetGatewayId"]
    fx["pcx"] = ec2.create_vpc_peering_connection(VpcId=fx["vpc_b"], PeerVpcId=fx["vpc_c"])[
        "VpcPeeringConnection"]["VpcPeeringConnectionId"]
    fx["tgw"] = ec2.create_transit_gateway()["TransitGateway"]["TransitGatewayId"]
    fx["tgw_att"] = ec2.create_transit_gateway_vpc_attachment(
        TransitGatewayId=fx["tgw"], VpcId=fx["vpc_b"], SubnetIds=[fx["sb1"]])["TransitGatewayVpcAttachment"][
        "TransitGatewayAttachmentId"]
    fx["cagw"] = ec2.create_carrier_gateway(VpcId=fx["vpc_b"])["CarrierGateway"]["CarrierGatewayId"]
    fx["gwlbe"] = ec2.create_vpc_endpoint(
        VpcId=fx["vpc_b"], ServiceName=f"com.amazonaws.vpce.{REGION}.vpce-svc-0123456789abcdef0",
        VpcEndpointType="GatewayLoadBalancer", SubnetIds=[fx["sb1"]])["VpcEndpoint"]["VpcEndpointId"]
    fx["pl"] = ec2.create_managed_prefix_list(PrefixListName="i10-pl", MaxEntries=2, AddressFamily="IPv4")[
        "PrefixList"]["PrefixListId"]
    for n in (1, 2):
        fx[f"policy{n}"] = iam.create_policy(PolicyName=f"i10-managed-{n}", PolicyDocument=_iam(f"s3:List{n}"))[
            "Policy"]["Arn"]
    fx["bucket"] = f"i10-flow-logs-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=fx["bucket"])
    fx["zone_ids"] = ",".join(z["ZoneId"] for z in ec2.describe_availability_zones()["AvailabilityZones"])
    return Fixtures(fx)


def _tags(name: str, phase: str) -> dict[str, str]:
    return {"Name": name, "Changed": phase}


def document(fx: Fixtures, phase: str, bucket: str) -> dict[str, Any]:
    """The stack: `phase` create sets every implemented argument, update changes the in-place ones."""
    up = phase == "update"
    s3_dest = f"arn:aws:s3:::{fx.bucket}"
    resources: dict[str, dict[str, Any]] = {
        "aws_vpc": {
            "main": {"cidr_block": "10.30.0.0/16", "instance_tenancy": "default" if up else "dedicated",
                     "assign_generated_ipv6_cidr_block": True, "enable_dns_support": up,
                     "enable_dns_hostnames": not up, "enable_network_address_usage_metrics": not up,
                     "region": REGION, "tags": _tags("main", phase)},
            "second": {"cidr_block": "10.31.0.0/16", "assign_generated_ipv6_cidr_block": up,
                       "tags": _tags("second", phase)},
            "west": {"cidr_block": "10.40.0.0/16", "region": OTHER_REGION, "tags": _tags("west", phase)},
        },
        "aws_subnet": {
            "v6": {"vpc_id": "${aws_vpc.main.id}", "cidr_block": "10.30.1.0/24",
                   "availability_zone_id": "${element(data.aws_availability_zones.zones.zone_ids, 0)}",
                   "ipv6_cidr_block": f"${{cidrsubnet(aws_vpc.main.ipv6_cidr_block, 8, {2 if up else 1})}}",
                   "map_public_ip_on_launch": not up, "assign_ipv6_address_on_creation": not up,
                   "enable_resource_name_dns_a_record_on_launch": not up, "tags": _tags("v6", phase)},
            "native": {"vpc_id": "${aws_vpc.main.id}", "ipv6_native": True, "assign_ipv6_address_on_creation": True,
                       "ipv6_cidr_block": "${cidrsubnet(aws_vpc.main.ipv6_cidr_block, 8, 3)}",
                       "availability_zone": "${data.aws_availability_zones.zones.names[1]}",
                       "tags": _tags("native", phase)},
        },
        "aws_internet_gateway": {
            "igw": {"vpc_id": fx.vpc_c if up else "${aws_vpc.main.id}", "tags": _tags("igw", phase)},
        },
        "aws_eip": {
            "eni": {"domain": "vpc", "network_interface": fx.eni2 if up else fx.eni1, "tags": _tags("eni", phase)},
            "inst": {"domain": "vpc", "instance": fx.inst2 if up else fx.inst1, "tags": _tags("inst", phase)},
            "byoip": {"domain": "vpc", "address": "203.0.113.25", "tags": _tags("byoip", phase)},
            "nat": {"domain": "vpc", "tags": _tags("nat", phase)},
        },
        "aws_nat_gateway": {
            "private": {"subnet_id": fx.sb2, "connectivity_type": "private", "tags": _tags("private", phase)},
            "public": {"subnet_id": fx.sb1, "allocation_id": "${aws_eip.nat.id}", "connectivity_type": "public",
                       "tags": _tags("public", phase)},
        },
        "aws_route_table": {
            "inline": {"vpc_id": fx.vpc_b, "tags": _tags("inline", phase), "route": [
                {"cidr_block": "192.168.1.0/24", "gateway_id": fx.igw_b},
                {"ipv6_cidr_block": "::/0", "egress_only_gateway_id": fx.eigw},
                {"cidr_block": "192.168.2.0/24", "network_interface_id": fx.eni2 if up else fx.eni1},
                {"cidr_block": "192.168.3.0/24", "vpc_peering_connection_id": fx.pcx},
                {"cidr_block": "192.168.4.0/24", "transit_gateway_id": fx.tgw},
                {"cidr_block": "192.168.5.0/24", "carrier_gateway_id": fx.cagw},
                {"cidr_block": "192.168.6.0/24", "vpc_endpoint_id": fx.gwlbe},
                {"destination_prefix_list_id": fx.pl, "gateway_id": fx.igw_b},
                *([] if up else [{"cidr_block": "192.168.7.0/24", "nat_gateway_id": "${aws_nat_gateway.private.id}"}]),
                *([{"cidr_block": "192.168.8.0/24", "nat_gateway_id": "${aws_nat_gateway.private.id}"}] if up else []),
            ]},
            "routes": {"vpc_id": fx.vpc_b, "tags": _tags("routes", phase)},
        },
        "aws_route": {
            "gw": {"destination_cidr_block": "172.16.1.0/24"} | ({"network_interface_id": fx.eni2} if up
                                                                   else {"gateway_id": fx.igw_b}),
            "eni": {"destination_cidr_block": "172.16.2.0/24"} | ({"gateway_id": fx.igw_b} if up
                                                                    else {"network_interface_id": fx.eni1}),
            "pcx": {"destination_cidr_block": "172.16.3.0/24"} | ({"transit_gateway_id": fx.tgw} if up
                                                                    else {"vpc_peering_connection_id": fx.pcx}),
            "tgw": {"destination_cidr_block": "172.16.4.0/24"} | ({"vpc_peering_connection_id": fx.pcx} if up
                                                                    else {"transit_gateway_id": fx.tgw}),
            "nat": {"destination_cidr_block": "172.16.5.0/24"} | (
                {"nat_gateway_id": "${aws_nat_gateway.private.id}"} if up else {"gateway_id": fx.igw_b}),
            "v6": {"destination_ipv6_cidr_block": "2001:db8::/32"} | ({"egress_only_gateway_id": fx.eigw} if up
                                                                        else {"gateway_id": fx.igw_b}),
            "cagw": {"destination_cidr_block": "172.16.6.0/24", "carrier_gateway_id": fx.cagw},
            "vpce": {"destination_cidr_block": "172.16.7.0/24", "vpc_endpoint_id": fx.gwlbe},
            "pl": {"destination_prefix_list_id": fx.pl, "gateway_id": fx.igw_b},
        },
        "aws_route_table_association": {
            "subnet": {"subnet_id": fx.sb1,
                       "route_table_id": "${aws_route_table.inline.id}" if up else "${aws_route_table.routes.id}"},
            "edge": {"gateway_id": fx.igw_b,
                     "route_table_id": "${aws_route_table.routes.id}" if up else "${aws_route_table.inline.id}"},
        },
        "aws_vpc_endpoint": {
            "gw": {"vpc_id": fx.vpc_b, "service_name": f"com.amazonaws.{REGION}.s3", "vpc_endpoint_type": "Gateway",
                   "route_table_ids": ["${aws_route_table.inline.id}" if up else "${aws_route_table.routes.id}"],
                   "policy": ALLOW_GET if up else DENY_ALL, "tags": _tags("gw", phase)},
            "iface": {"vpc_id": fx.vpc_b, "service_name": f"com.amazonaws.{REGION}.sqs",
                      "vpc_endpoint_type": "Interface", "subnet_ids": [fx.sb2 if up else fx.sb1],
                      "security_group_ids": [fx.sg1, fx.sg2], "private_dns_enabled": False,
                      "tags": _tags("iface", phase)},
        },
        "aws_flow_log": {
            "vpc": {"vpc_id": "${aws_vpc.main.id}", "traffic_type": "REJECT",
                    "log_destination_type": "cloud-watch-logs", "iam_role_arn": "${aws_iam_role.role.arn}",
                    "log_destination": "${aws_cloudwatch_log_group.logs.arn}",
                    "log_format": "$${version} $${srcaddr} $${dstaddr}", "max_aggregation_interval": 60,
                    "tags": _tags("vpc", phase)},
            "subnet": {"subnet_id": fx.sb1, "traffic_type": "ACCEPT", "log_destination_type": "s3",
                       "log_destination": s3_dest, "tags": _tags("subnet", phase)},
            "eni": {"eni_id": fx.eni1, "traffic_type": "ALL", "log_destination_type": "s3", "log_destination": s3_dest},
            "tgw": {"transit_gateway_id": fx.tgw, "log_destination_type": "s3", "log_destination": s3_dest,
                    "max_aggregation_interval": 60},
            "tgwatt": {"transit_gateway_attachment_id": fx.tgw_att, "log_destination_type": "s3",
                       "log_destination": s3_dest, "max_aggregation_interval": 60},
        },
        "aws_iam_role": {
            "role": {"name_prefix": "i10-role-", "path": "/i10/", "description": "two" if up else "one",
                     "max_session_duration": 5400 if up else 7200,
                     "permissions_boundary": fx.policy2 if up else fx.policy1,
                     "managed_policy_arns": [fx.policy2 if up else fx.policy1],
                     "inline_policy": [{"name": "inline-b" if up else "inline-a",
                                        "policy": _iam("logs:PutLogEvents" if up else "logs:CreateLogStream")}],
                     "assume_role_policy": _trust("ec2.amazonaws.com" if up else "vpc-flow-logs.amazonaws.com"),
                     "force_detach_policies": True, "tags": _tags("role", phase)},
            "named": {"name": "i10-named-role", "assume_role_policy": _trust("vpc-flow-logs.amazonaws.com"),
                      "tags": _tags("named", phase)},
        },
        "aws_iam_role_policy": {
            "prefixed": {"role": "${aws_iam_role.named.id}", "name_prefix": "i10p-",
                         "policy": _iam("ec2:Describe*" if up else "ec2:DescribeVpcs")},
            "named": {"role": "${aws_iam_role.named.id}", "name": "named-policy", "policy": _iam("s3:GetObject")},
        },
        "aws_cloudwatch_log_group": {
            "logs": {"name": "/i10/logs", "retention_in_days": 60 if up else 30, "kms_key_id": KMS_1,
                     "tags": _tags("logs", phase)},
            "prefixed": {"name_prefix": "/i10/p-", "retention_in_days": 7},
        },
    }
    for route in resources["aws_route"].values():
        route["route_table_id"] = "${aws_route_table.routes.id}"
    return {
        "provider": {"aws": [{"region": REGION, "default_tags": [{"tags": {"Suite": "arguments", "Phase": phase}}]}]},
        "terraform": {"backend": {"s3": {"bucket": bucket, "key": "arguments.tfstate", "region": REGION,
                                         "encrypt": True, "use_lockfile": True}}},
        "data": {
            "aws_availability_zones": {"zones": {
                "state": "available", "all_availability_zones": True,
                "filter": [{"name": "region-name", "values": [REGION]}],
                "exclude_zone_ids": [fx.zone_ids.split(",")[-1]]}},
            "aws_region": {"here": {"endpoint": f"ec2.{REGION}.amazonaws.com"}},
        },
        "resource": resources,
        "output": {"vpc_id": {"value": "${aws_vpc.main.id}"},
                   "region": {"value": "${data.aws_region.here.region}"}},
    }


# -- the independent reader -------------------------------------------------------------------------

def _tags_of(items: list[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in items or []}


def _associated(assocs: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    return [a for a in assocs or [] if "disassociat" not in str((a.get("Ipv6CidrBlockState") or {}).get("State"))]


def observe(clients: ClientFactory, addresses: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """address -> {argument: value as the emulator describes it} for the state's attributes."""
    out: dict[str, dict[str, Any]] = {}
    for address, attrs in addresses.items():
        rtype = address.split(".")[0]
        region = attrs.get("region") or REGION
        ec2 = clients.client("ec2", region)
        try:
            out[address] = READERS[rtype](clients, ec2, attrs) | {"region": region}
        except (ClientError, IndexError, KeyError) as exc:
            out[address] = {"__error__": f"{type(exc).__name__}: {exc}"}
    return out


def _vpc(clients, ec2, a):
    v = ec2.describe_vpcs(VpcIds=[a["id"]])["Vpcs"][0]
    attr = {k: ec2.describe_vpc_attribute(VpcId=a["id"], Attribute=k)[k[0].upper() + k[1:]]["Value"]
            for k in ("enableDnsSupport", "enableDnsHostnames", "enableNetworkAddressUsageMetrics")}
    return {"cidr_block": v["CidrBlock"], "instance_tenancy": v["InstanceTenancy"], "tags": _tags_of(v.get("Tags")),
            "assign_generated_ipv6_cidr_block": bool(_associated(v.get("Ipv6CidrBlockAssociationSet"))),
            "enable_dns_support": attr["enableDnsSupport"], "enable_dns_hostnames": attr["enableDnsHostnames"],
            "enable_network_address_usage_metrics": attr["enableNetworkAddressUsageMetrics"]}


def _subnet(clients, ec2, a):
    s = ec2.describe_subnets(SubnetIds=[a["id"]])["Subnets"][0]
    v6 = _associated(s.get("Ipv6CidrBlockAssociationSet"))
    return {"vpc_id": s["VpcId"], "cidr_block": s.get("CidrBlock"), "availability_zone": s["AvailabilityZone"],
            "availability_zone_id": s["AvailabilityZoneId"], "ipv6_cidr_block": v6[0]["Ipv6CidrBlock"] if v6 else None,
            "ipv6_native": s.get("Ipv6Native"), "map_public_ip_on_launch": s["MapPublicIpOnLaunch"],
            "assign_ipv6_address_on_creation": s["AssignIpv6AddressOnCreation"], "tags": _tags_of(s.get("Tags")),
            "enable_resource_name_dns_a_record_on_launch":
                s["PrivateDnsNameOptionsOnLaunch"]["EnableResourceNameDnsARecord"]}


def _igw(clients, ec2, a):
    g = ec2.describe_internet_gateways(InternetGatewayIds=[a["id"]])["InternetGateways"][0]
    return {"vpc_id": (g.get("Attachments") or [{}])[0].get("VpcId"), "tags": _tags_of(g.get("Tags"))}


def _eip(clients, ec2, a):
    e = ec2.describe_addresses(AllocationIds=[a["id"]])["Addresses"][0]
    return {"domain": e["Domain"], "address": e["PublicIp"], "instance": e.get("InstanceId") or None,
            "network_interface": e.get("NetworkInterfaceId") or None, "tags": _tags_of(e.get("Tags"))}


def _nat(clients, ec2, a):
    n = ec2.describe_nat_gateways(NatGatewayIds=[a["id"]])["NatGateways"][0]
    return {"subnet_id": n["SubnetId"], "connectivity_type": n["ConnectivityType"],
            "allocation_id": (n.get("NatGatewayAddresses") or [{}])[0].get("AllocationId"),
            "tags": _tags_of(n.get("Tags"))}


def _inline(route: dict[str, Any]) -> dict[str, Any]:
    names = {"destination_cidr_block": "cidr_block", "destination_ipv6_cidr_block": "ipv6_cidr_block"}
    return {names.get(k, k): v for k, v in route.items()}


def _route_table(clients, ec2, a):
    rt = ec2.describe_route_tables(RouteTableIds=[a["id"]])["RouteTables"][0]
    routes = [_inline(route_from_api(r)) for r in rt["Routes"] if r.get("GatewayId") != "local"]
    return {"vpc_id": rt["VpcId"], "route": routes, "tags": _tags_of(rt.get("Tags"))}


def _route(clients, ec2, a):
    rt = ec2.describe_route_tables(RouteTableIds=[a["route_table_id"]])["RouteTables"][0]
    for r in rt["Routes"]:
        got = route_from_api(r)
        if any(got.get(k) and got.get(k) == a.get(k) for k in ("destination_cidr_block", "destination_ipv6_cidr_block",
                                                                "destination_prefix_list_id")):
            return {"route_table_id": rt["RouteTableId"], **got}
    raise KeyError("route not found")


def _association(clients, ec2, a):
    rts = ec2.describe_route_tables(Filters=[{"Name": "association.route-table-association-id",
                                              "Values": [a["id"]]}])["RouteTables"]
    assoc = next(x for x in rts[0]["Associations"] if x["RouteTableAssociationId"] == a["id"])
    return {"route_table_id": rts[0]["RouteTableId"], "subnet_id": assoc.get("SubnetId"),
            "gateway_id": assoc.get("GatewayId")}


def _endpoint(clients, ec2, a):
    e = ec2.describe_vpc_endpoints(VpcEndpointIds=[a["id"]])["VpcEndpoints"][0]
    return {"vpc_id": e["VpcId"], "service_name": e["ServiceName"], "vpc_endpoint_type": e["VpcEndpointType"],
            "route_table_ids": e.get("RouteTableIds"), "subnet_ids": e.get("SubnetIds"),
            "security_group_ids": [g["GroupId"] for g in e.get("Groups") or []], "policy": e.get("PolicyDocument"),
            "private_dns_enabled": e.get("PrivateDnsEnabled"), "tags": _tags_of(e.get("Tags"))}


def _flow_log(clients, ec2, a):
    f = ec2.describe_flow_logs(FlowLogIds=[a["id"]])["FlowLogs"][0]
    rid = f["ResourceId"]
    kind = ("transit_gateway_attachment_id" if rid.startswith("tgw-attach-") else "transit_gateway_id"
            if rid.startswith("tgw-") else {"vpc": "vpc_id", "sub": "subnet_id", "eni": "eni_id"}[rid[:3]])
    return {kind: rid, "traffic_type": f.get("TrafficType"), "log_destination_type": f["LogDestinationType"],
            "log_destination": f.get("LogDestination"), "iam_role_arn": f.get("DeliverLogsPermissionArn"),
            "log_format": f.get("LogFormat"), "max_aggregation_interval": f.get("MaxAggregationInterval"),
            "tags": _tags_of(f.get("Tags"))}


def _role(clients, ec2, a):
    iam = clients.client("iam")
    r = iam.get_role(RoleName=a["id"])["Role"]
    names = iam.list_role_policies(RoleName=a["id"])["PolicyNames"]
    return {"name": r["RoleName"], "name_prefix": r["RoleName"][:-26], "path": r["Path"],
            "description": r.get("Description", ""), "max_session_duration": r["MaxSessionDuration"],
            "permissions_boundary": (r.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn", ""),
            "assume_role_policy": r["AssumeRolePolicyDocument"],
            "managed_policy_arns": [p["PolicyArn"] for p in
                                    iam.list_attached_role_policies(RoleName=a["id"])["AttachedPolicies"]],
            "inline_policy": [{"name": n, "policy": iam.get_role_policy(RoleName=a["id"], PolicyName=n)[
                "PolicyDocument"]} for n in names], "tags": _tags_of(r.get("Tags"))}


def _role_policy(clients, ec2, a):
    p = clients.client("iam").get_role_policy(RoleName=a["role"], PolicyName=a["name"])
    return {"role": p["RoleName"], "name": p["PolicyName"], "name_prefix": p["PolicyName"][:-26],
            "policy": p["PolicyDocument"]}


def _log_group(clients, ec2, a):
    logs = clients.client("logs", a.get("region") or REGION)
    g = next(x for x in logs.describe_log_groups(logGroupNamePrefix=a["id"])["logGroups"]
             if x["logGroupName"] == a["id"])
    return {"name": g["logGroupName"], "name_prefix": g["logGroupName"][:-26],
            "retention_in_days": g.get("retentionInDays"), "kms_key_id": g.get("kmsKeyId"),
            "tags": logs.list_tags_log_group(logGroupName=a["id"]).get("tags", {})}


READERS = {"aws_vpc": _vpc, "aws_subnet": _subnet, "aws_internet_gateway": _igw, "aws_eip": _eip,
           "aws_nat_gateway": _nat, "aws_route_table": _route_table, "aws_route": _route,
           "aws_route_table_association": _association, "aws_vpc_endpoint": _endpoint, "aws_flow_log": _flow_log,
           "aws_iam_role": _role, "aws_iam_role_policy": _role_policy, "aws_cloudwatch_log_group": _log_group}


# -- both phases ------------------------------------------------------------------------------------

@dataclass
class Phase:
    name: str
    summary: str = ""
    ids: dict[str, str] = field(default_factory=dict)
    expected: dict[str, dict[str, Any]] = field(default_factory=dict)
    observed: dict[str, dict[str, Any]] = field(default_factory=dict)
    readback: dict[str, Any] = field(default_factory=dict)
    mismatch: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)


@dataclass
class Result:
    phases: dict[str, Phase] = field(default_factory=dict)
    destroyed: int = 0
    error: str = ""


def implemented() -> list[tuple[str, str]]:
    """(type, argument) for every argument the engine applies and reads back."""
    return sorted((rtype, arg) for rtype, h in HANDLERS.items() for arg in h.args
                  if "." not in arg and h.args[arg].applied)


def run_phases(clients: ClientFactory, workdir: Path) -> Result:
    fx = prerequisites(clients)
    bucket = f"i10-args-{uuid.uuid4().hex[:10]}"
    result = Result()
    engine = None
    for phase in ("create", "update"):
        path = workdir / phase / "cdk.tf.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(document(fx, phase, bucket)))
        engine = EmbeddedEngine(f"args-{phase}", path, clients, workdir / "state", EngineOptions(
            bootstrap_backend=True, poll=0.05))
        record = Phase(phase)
        try:
            engine.apply()
        except ReadBackMismatch as exc:
            record.mismatch = [d.line() for d in exc.differences]
        plan = engine.last_plan
        record.summary = plan.summary()
        record.replaced = [c.address for c in plan.changes if c.action == "replace"]
        record.updated = [c.address for c in plan.changes if c.action == "update"]
        record.readback = dict(engine.readback)
        state = engine.state
        data = {a: state.get(a) for a in state.addresses("data")}
        attrs = {a: state.get(a) or {} for a in state.addresses()}
        record.ids = {a: v.get("id", "") for a, v in attrs.items()}
        record.expected = {a: engine._desired(a, state, data, set())[0] for a in attrs}
        record.observed = observe(clients, attrs)
        result.phases[phase] = record
    if engine is not None:
        result.destroyed = engine.destroy()
    return result


def verdicts(result: Result, rtype: str, arg: str) -> tuple[list[str], list[str]]:
    """(problems, checks made) for one argument over both phases."""
    handler = HANDLERS[rtype]
    spec = handler.args[arg]
    problems, checks = [], []
    changed_in_update = False
    for phase in result.phases.values():
        for address, want in phase.expected.items():
            if not address.startswith(f"{rtype}.") or want.get(arg) is None:
                continue
            have = phase.observed.get(address, {})
            if "__error__" in have:
                problems.append(f"{phase.name}: {address}: not readable: {have['__error__']}")
                continue
            compare, wanted = ("tags", want.get("tags_all")) if arg == "tags" else (spec.compare, want[arg])
            ok = equal(compare, kind_of(rtype, arg), wanted, have.get(arg))
            checks.append(f"{phase.name}: {address}.{arg} = {show(wanted, 80)} ({'ok' if ok else 'DIFFERS'})")
            if not ok:
                problems.append(f"{phase.name}: {address}.{arg}: wanted {show(wanted)}, the emulator has "
                                f"{show(have.get(arg))}")
            if phase.name == "update":
                before = result.phases["create"].expected.get(address, {})
                changed_in_update |= not equal(compare, kind_of(rtype, arg), before.get("tags_all" if arg == "tags"
                                                                                      else arg), wanted)
    if not checks:
        problems.append(f"no resource of the test stack sets {rtype}.{arg}")
    if spec.kind == INPLACE and not changed_in_update:
        problems.append(f"{rtype}.{arg} is changed in place but the update phase never changes it")
    return problems, checks
