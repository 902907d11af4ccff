"""The one table: Terraform argument -> CloudFormation property and API parameter, per resource type.

For each of the 13 resource types the stack uses (the embedded engine's set), `TYPES` names the
CloudFormation resource type whose schema (shipped by cfn-lint) constrains it, the botocore service
and the create operation that carries it, and per Terraform argument the CloudFormation property
path and the API input member path. `schema.py` reads the constraints of both through this table;
no value is checked by a rule written for it. Nested Terraform blocks are dotted paths
(`dns_options.dns_record_ip_type`); an argument that another call sets (`enable_dns_hostnames` is
ModifyVpcAttribute) names its own operation.

An argument's `kind` says how its Terraform form maps: "value" (as is), "tags" (a map; CFN's
`Tags[].Key/Value`, the API's TagSpecifications), "policy" (JSON text; CFN's document property),
"list" (each item against the property's items).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Arg:
    cfn: str | None                 # CFN property path ("DnsOptions.DnsRecordIpType"), None when it has none
    api: str | None = None          # API input member path of `operation` ("MaxAggregationInterval")
    kind: str = "value"             # value | tags | policy | list
    operation: str | None = None    # when another operation than the type's create sets it
    cfn_type: str | None = None     # when another CFN type carries it (the IGW's VPC attachment)


@dataclass(frozen=True)
class TypeMap:
    tf_type: str
    cfn_type: str
    service: str                    # botocore service name
    operation: str                  # the create operation (botocore name)
    args: dict[str, Arg] = field(default_factory=dict)

    def arg(self, argument: str) -> Arg | None:
        return self.args.get(_generic(argument))


TAGS = Arg("Tags", "TagSpecifications", kind="tags")

TYPES: dict[str, TypeMap] = {t.tf_type: t for t in [
    TypeMap("aws_vpc", "AWS::EC2::VPC", "ec2", "CreateVpc", {
        "cidr_block": Arg("CidrBlock", "CidrBlock"),
        "instance_tenancy": Arg("InstanceTenancy", "InstanceTenancy"),
        "ipv4_ipam_pool_id": Arg("Ipv4IpamPoolId", "Ipv4IpamPoolId"),
        "ipv4_netmask_length": Arg("Ipv4NetmaskLength", "Ipv4NetmaskLength"),
        "enable_dns_support": Arg("EnableDnsSupport", "EnableDnsSupport.Value", operation="ModifyVpcAttribute"),
        "enable_dns_hostnames": Arg("EnableDnsHostnames", "EnableDnsHostnames.Value", operation="ModifyVpcAttribute"),
        "tags": TAGS,
    }),
    TypeMap("aws_subnet", "AWS::EC2::Subnet", "ec2", "CreateSubnet", {
        "vpc_id": Arg("VpcId", "VpcId"),
        "cidr_block": Arg("CidrBlock", "CidrBlock"),
        "ipv6_cidr_block": Arg("Ipv6CidrBlock", "Ipv6CidrBlock"),
        "availability_zone": Arg("AvailabilityZone", "AvailabilityZone"),
        "availability_zone_id": Arg("AvailabilityZoneId", "AvailabilityZoneId"),
        "map_public_ip_on_launch": Arg("MapPublicIpOnLaunch", "MapPublicIpOnLaunch.Value",
                                       operation="ModifySubnetAttribute"),
        "private_dns_hostname_type_on_launch": Arg("PrivateDnsNameOptionsOnLaunch.HostnameType",
                                                   "PrivateDnsHostnameTypeOnLaunch",
                                                   operation="ModifySubnetAttribute"),
        "tags": TAGS,
    }),
    TypeMap("aws_internet_gateway", "AWS::EC2::InternetGateway", "ec2", "CreateInternetGateway", {
        "vpc_id": Arg("VpcId", "VpcId", operation="AttachInternetGateway", cfn_type="AWS::EC2::VPCGatewayAttachment"),
        "tags": TAGS,
    }),
    TypeMap("aws_eip", "AWS::EC2::EIP", "ec2", "AllocateAddress", {
        "domain": Arg("Domain", "Domain"),
        "network_border_group": Arg("NetworkBorderGroup", "NetworkBorderGroup"),
        "public_ipv4_pool": Arg("PublicIpv4Pool", "PublicIpv4Pool"),
        "address": Arg("Address", "Address"),
        "tags": TAGS,
    }),
    TypeMap("aws_nat_gateway", "AWS::EC2::NatGateway", "ec2", "CreateNatGateway", {
        "allocation_id": Arg("AllocationId", "AllocationId"),
        "subnet_id": Arg("SubnetId", "SubnetId"),
        "connectivity_type": Arg("ConnectivityType", "ConnectivityType"),
        "private_ip": Arg("PrivateIpAddress", "PrivateIpAddress"),
        "secondary_allocation_ids": Arg("SecondaryAllocationIds", "SecondaryAllocationIds", kind="list"),
        "secondary_private_ip_address_count": Arg("SecondaryPrivateIpAddressCount",
                                                  "SecondaryPrivateIpAddressCount"),
        "tags": TAGS,
    }),
    TypeMap("aws_route_table", "AWS::EC2::RouteTable", "ec2", "CreateRouteTable", {
        "vpc_id": Arg("VpcId", "VpcId"),
        # inline routes (route blocks) are AWS::EC2::Route properties, created by CreateRoute
        "route.cidr_block": Arg("DestinationCidrBlock", "DestinationCidrBlock", operation="CreateRoute",
                                cfn_type="AWS::EC2::Route"),
        "route.gateway_id": Arg("GatewayId", "GatewayId", operation="CreateRoute", cfn_type="AWS::EC2::Route"),
        "route.nat_gateway_id": Arg("NatGatewayId", "NatGatewayId", operation="CreateRoute",
                                    cfn_type="AWS::EC2::Route"),
        "tags": TAGS,
    }),
    TypeMap("aws_route", "AWS::EC2::Route", "ec2", "CreateRoute", {
        "route_table_id": Arg("RouteTableId", "RouteTableId"),
        "destination_cidr_block": Arg("DestinationCidrBlock", "DestinationCidrBlock"),
        "destination_ipv6_cidr_block": Arg("DestinationIpv6CidrBlock", "DestinationIpv6CidrBlock"),
        "destination_prefix_list_id": Arg("DestinationPrefixListId", "DestinationPrefixListId"),
        "gateway_id": Arg("GatewayId", "GatewayId"),
        "nat_gateway_id": Arg("NatGatewayId", "NatGatewayId"),
        "vpc_endpoint_id": Arg("VpcEndpointId", "VpcEndpointId"),
        "egress_only_gateway_id": Arg("EgressOnlyInternetGatewayId", "EgressOnlyInternetGatewayId"),
        "transit_gateway_id": Arg("TransitGatewayId", "TransitGatewayId"),
        "network_interface_id": Arg("NetworkInterfaceId", "NetworkInterfaceId"),
        "vpc_peering_connection_id": Arg("VpcPeeringConnectionId", "VpcPeeringConnectionId"),
    }),
    TypeMap("aws_route_table_association", "AWS::EC2::SubnetRouteTableAssociation", "ec2", "AssociateRouteTable", {
        "subnet_id": Arg("SubnetId", "SubnetId"),
        "route_table_id": Arg("RouteTableId", "RouteTableId"),
        "gateway_id": Arg(None, "GatewayId"),
    }),
    TypeMap("aws_vpc_endpoint", "AWS::EC2::VPCEndpoint", "ec2", "CreateVpcEndpoint", {
        "vpc_id": Arg("VpcId", "VpcId"),
        "service_name": Arg("ServiceName", "ServiceName"),
        "vpc_endpoint_type": Arg("VpcEndpointType", "VpcEndpointType"),
        "route_table_ids": Arg("RouteTableIds", "RouteTableIds", kind="list"),
        "subnet_ids": Arg("SubnetIds", "SubnetIds", kind="list"),
        "security_group_ids": Arg("SecurityGroupIds", "SecurityGroupIds", kind="list"),
        "private_dns_enabled": Arg("PrivateDnsEnabled", "PrivateDnsEnabled"),
        "policy": Arg("PolicyDocument", "PolicyDocument", kind="policy"),
        "ip_address_type": Arg("IpAddressType", "IpAddressType"),
        "dns_options.dns_record_ip_type": Arg("DnsOptions.DnsRecordIpType", "DnsOptions.DnsRecordIpType"),
        "dns_options.private_dns_only_for_inbound_resolver_endpoint": Arg(
            "DnsOptions.PrivateDnsOnlyForInboundResolverEndpoint",
            "DnsOptions.PrivateDnsOnlyForInboundResolverEndpoint"),
        "tags": TAGS,
    }),
    TypeMap("aws_flow_log", "AWS::EC2::FlowLog", "ec2", "CreateFlowLogs", {
        "vpc_id": Arg("ResourceId", "ResourceIds"),
        "subnet_id": Arg("ResourceId", "ResourceIds"),
        "eni_id": Arg("ResourceId", "ResourceIds"),
        "traffic_type": Arg("TrafficType", "TrafficType"),
        "log_destination_type": Arg("LogDestinationType", "LogDestinationType"),
        "log_destination": Arg("LogDestination", "LogDestination"),
        "log_group_name": Arg("LogGroupName", "LogGroupName"),
        "iam_role_arn": Arg("DeliverLogsPermissionArn", "DeliverLogsPermissionArn"),
        "deliver_cross_account_role": Arg("DeliverCrossAccountRole", "DeliverCrossAccountRole"),
        "max_aggregation_interval": Arg("MaxAggregationInterval", "MaxAggregationInterval"),
        "log_format": Arg("LogFormat", "LogFormat"),
        "destination_options.file_format": Arg("DestinationOptions.FileFormat", "DestinationOptions.FileFormat"),
        "destination_options.hive_compatible_partitions": Arg("DestinationOptions.HiveCompatiblePartitions",
                                                              "DestinationOptions.HiveCompatiblePartitions"),
        "destination_options.per_hour_partition": Arg("DestinationOptions.PerHourPartition",
                                                      "DestinationOptions.PerHourPartition"),
        "tags": TAGS,
    }),
    TypeMap("aws_iam_role", "AWS::IAM::Role", "iam", "CreateRole", {
        "name": Arg("RoleName", "RoleName"),
        "path": Arg("Path", "Path"),
        "assume_role_policy": Arg("AssumeRolePolicyDocument", "AssumeRolePolicyDocument", kind="policy"),
        "description": Arg("Description", "Description"),
        "max_session_duration": Arg("MaxSessionDuration", "MaxSessionDuration"),
        "permissions_boundary": Arg("PermissionsBoundary", "PermissionsBoundary"),
        "managed_policy_arns": Arg("ManagedPolicyArns", None, kind="list"),
        "tags": Arg("Tags", "Tags", kind="tags"),
    }),
    TypeMap("aws_iam_role_policy", "AWS::IAM::RolePolicy", "iam", "PutRolePolicy", {
        "name": Arg("PolicyName", "PolicyName"),
        "role": Arg("RoleName", "RoleName"),
        "policy": Arg("PolicyDocument", "PolicyDocument", kind="policy"),
    }),
    TypeMap("aws_cloudwatch_log_group", "AWS::Logs::LogGroup", "logs", "CreateLogGroup", {
        "name": Arg("LogGroupName", "logGroupName"),
        "retention_in_days": Arg("RetentionInDays", "retentionInDays", operation="PutRetentionPolicy"),
        "kms_key_id": Arg("KmsKeyId", "kmsKeyId"),
        "log_group_class": Arg("LogGroupClass", "logGroupClass"),
        "tags": Arg("Tags", "tags", kind="tags"),
    }),
]}


def type_map(tf_type: str) -> TypeMap | None:
    return TYPES.get(tf_type)


def _generic(argument: str) -> str:
    """`route[0].cidr_block` -> `route.cidr_block`: list indexes do not change the mapping."""
    parts = []
    for part in argument.split("."):
        parts.append(part.split("[", 1)[0])
    return ".".join(parts)
