"""The production VPC stack: 3 AZs (or what the region offers), public and private subnets, NAT
gateways, an S3 gateway endpoint, flow logs with a scoped IAM role, an encrypted and locked S3 state
backend, and the suffix on every name.

`make_stack(scope, config, cdk)` builds one stack (a `VpcStack`, defined on the loaded CDK because
its base class depends on the flavor) from a validated `StackConfig` (stack/config.py); `cdk` is
the namespace returned by `stack.cdk.load()`, so the same code runs on cdktf and CDK Terrain.
Nothing here hard-codes a region, an account, a bucket or a name.
"""

from __future__ import annotations

import json
from typing import Any

from stack.cdk import Cdk
from stack.config import StackConfig, StackConfigError

# Emulator endpoints the provider needs for the services the stack touches.
EMULATED_SERVICES = ("ec2", "iam", "logs", "s3", "sts", "dynamodb")


def _json(doc: dict[str, Any]) -> str:
    return json.dumps(doc, separators=(",", ":"), sort_keys=True)


def make_stack(scope: Any, config: StackConfig, cdk: Cdk) -> Any:
    """Define the stack class on the loaded CDK (its base class depends on the flavor)."""
    core = cdk.core
    aws = cdk.aws

    class VpcStack(core.TerraformStack):
        def __init__(self, scope: Any, cfg: StackConfig) -> None:
            super().__init__(scope, cfg.stack_id)
            if cfg.flow_log_interval not in (60, 600):  # re-checked: configs may be built by hand
                raise StackConfigError(
                    f"flow_log_interval {cfg.flow_log_interval}: AWS accepts only 60 or 600"
                )
            self.cfg = cfg
            self._backend(cfg)
            run_id = cfg.run_id or core.TerraformVariable(
                self, "run_id", type="string", default="manual",
                description="Run id tagged on every resource (leak checks and sweeps use it)",
            ).string_value
            self._provider(cfg, run_id)
            self._network(cfg)
            self._flow_logs(cfg)
            self._outputs()

        # -- backend and provider --------------------------------------------------------------
        def _backend(self, cfg: StackConfig) -> None:
            b = cfg.backend
            kwargs: dict[str, Any] = {
                "bucket": b.bucket, "key": b.key, "region": b.region, "encrypt": b.encrypt,
            }
            if b.lock_table:
                kwargs["dynamodb_table"] = b.lock_table
            if cfg.endpoints:
                e = cfg.endpoints
                kwargs.update(
                    access_key=e.access_key, secret_key=e.secret_key,
                    skip_credentials_validation=True, skip_metadata_api_check=True,
                    skip_region_validation=True, skip_requesting_account_id=True,
                    endpoints={"s3": e.url, "dynamodb": e.url, "iam": e.url, "sts": e.url},
                )
            self.backend = backend = core.S3Backend(self, **kwargs)
            # cdktf 0.21's S3Backend has neither use_lockfile nor use_path_style: override both.
            if b.use_lockfile:
                backend.add_override("use_lockfile", True)
            if cfg.endpoints:
                backend.add_override("use_path_style", True)

        def _provider(self, cfg: StackConfig, run_id: str) -> None:
            tags = dict(cfg.tags, RunId=run_id)
            kwargs: dict[str, Any] = {"region": cfg.region, "default_tags": [{"tags": tags}]}
            if cfg.endpoints:
                e = cfg.endpoints
                kwargs.update(
                    access_key=e.access_key, secret_key=e.secret_key,
                    skip_credentials_validation=True, skip_metadata_api_check="true",
                    skip_region_validation=True, skip_requesting_account_id=True,
                    s3_use_path_style=True,
                    endpoints=[{svc: e.url for svc in EMULATED_SERVICES}],
                )
            self.provider = aws.AwsProvider(self, "aws", **kwargs)

        # -- network ---------------------------------------------------------------------------
        def _network(self, cfg: StackConfig) -> None:
            name = cfg.name
            azs = aws.DataAwsAvailabilityZones(self, "azs", state="available")
            self.vpc = aws.Vpc(
                self, "vpc", cidr_block=cfg.vpc_cidr, enable_dns_support=True,
                enable_dns_hostnames=True, tags={"Name": name("vpc")},
            )
            self.igw = aws.InternetGateway(
                self, "igw", vpc_id=self.vpc.id, tags={"Name": name("igw")}
            )
            public_cidrs, private_cidrs = cfg.subnet_cidrs()
            self.public_subnets, self.private_subnets, self.nats = [], [], []
            for i in range(cfg.az_count):
                az = core.Fn.element(azs.names, i)
                self.public_subnets.append(aws.Subnet(
                    self, f"public-subnet-{i}", vpc_id=self.vpc.id, cidr_block=public_cidrs[i],
                    availability_zone=az, map_public_ip_on_launch=True,
                    tags={"Name": name(f"public-{i}"), "Tier": "public"},
                ))
                self.private_subnets.append(aws.Subnet(
                    self, f"private-subnet-{i}", vpc_id=self.vpc.id, cidr_block=private_cidrs[i],
                    availability_zone=az, tags={"Name": name(f"private-{i}"), "Tier": "private"},
                ))
            nat_count = cfg.az_count if cfg.nat_mode == "per-az" else 1
            for i in range(nat_count):
                eip = aws.Eip(self, f"nat-eip-{i}", domain="vpc", tags={"Name": name(f"nat-eip-{i}")})
                self.nats.append(aws.NatGateway(
                    self, f"nat-{i}", allocation_id=eip.id, subnet_id=self.public_subnets[i].id,
                    depends_on=[self.igw], tags={"Name": name(f"nat-{i}")},
                ))
            self.public_rt = aws.RouteTable(
                self, "public-rt", vpc_id=self.vpc.id, tags={"Name": name("public-rt")}
            )
            self.public_route = aws.Route(
                self, "public-default", route_table_id=self.public_rt.id,
                destination_cidr_block="0.0.0.0/0", gateway_id=self.igw.id,
            )
            self.private_rts, self.private_routes = [], []
            for i in range(cfg.az_count):
                aws.RouteTableAssociation(
                    self, f"public-{i}-assoc", subnet_id=self.public_subnets[i].id,
                    route_table_id=self.public_rt.id,
                )
                rt = aws.RouteTable(
                    self, f"private-rt-{i}", vpc_id=self.vpc.id, tags={"Name": name(f"private-rt-{i}")}
                )
                nat = self.nats[i if cfg.nat_mode == "per-az" else 0]
                self.private_routes.append(aws.Route(
                    self, f"private-{i}-default", route_table_id=rt.id,
                    destination_cidr_block="0.0.0.0/0", nat_gateway_id=nat.id,
                ))
                aws.RouteTableAssociation(
                    self, f"private-{i}-assoc", subnet_id=self.private_subnets[i].id,
                    route_table_id=rt.id,
                )
                self.private_rts.append(rt)
            self.s3_endpoint = aws.VpcEndpoint(
                self, "s3-endpoint", vpc_id=self.vpc.id,
                service_name=f"com.amazonaws.{cfg.region}.s3", vpc_endpoint_type="Gateway",
                route_table_ids=[self.public_rt.id, *[rt.id for rt in self.private_rts]],
                tags={"Name": name("s3-endpoint")},
            )

        # -- flow logs -------------------------------------------------------------------------
        def _flow_logs(self, cfg: StackConfig) -> None:
            me = aws.DataAwsCallerIdentity(self, "current")
            self.log_group = aws.CloudwatchLogGroup(
                self, "flow-logs", name=cfg.log_group_name,
                retention_in_days=cfg.log_retention_days, tags={"Name": cfg.name("flow-logs")},
            )
            trust = {
                "Version": "2012-10-17",
                "Statement": [{
                    "Effect": "Allow",
                    "Principal": {"Service": "vpc-flow-logs.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                    "Condition": {"StringEquals": {"aws:SourceAccount": me.account_id}},
                }],
            }
            self.role = aws.IamRole(
                self, "flow-logs-role", name=cfg.role_name, assume_role_policy=_json(trust),
                tags={"Name": cfg.role_name},
            )
            arn = self.log_group.arn
            policy = {
                "Version": "2012-10-17",
                "Statement": [{
                    "Effect": "Allow",
                    "Action": [
                        "logs:CreateLogStream", "logs:PutLogEvents",
                        "logs:DescribeLogGroups", "logs:DescribeLogStreams",
                    ],
                    "Resource": [arn, f"{arn}:*"],
                }],
            }
            self.role_policy = aws.IamRolePolicy(
                self, "flow-logs-policy", name=cfg.role_policy_name, role=self.role.id,
                policy=_json(policy),
            )
            self.flow_log = aws.FlowLog(
                self, "flow-log", vpc_id=self.vpc.id, traffic_type="ALL",
                log_destination_type="cloud-watch-logs", log_destination=arn,
                iam_role_arn=self.role.arn, max_aggregation_interval=cfg.flow_log_interval,
                tags={"Name": cfg.name("flow-log")},
            )

        # -- outputs ---------------------------------------------------------------------------
        def _outputs(self) -> None:
            out = {
                "vpc_id": self.vpc.id,
                "vpc_cidr": self.vpc.cidr_block,
                "public_subnet_ids": [s.id for s in self.public_subnets],
                "private_subnet_ids": [s.id for s in self.private_subnets],
                "nat_gateway_ids": [n.id for n in self.nats],
                "internet_gateway_id": self.igw.id,
                "public_route_table_id": self.public_rt.id,
                "private_route_table_ids": [rt.id for rt in self.private_rts],
                "s3_endpoint_id": self.s3_endpoint.id,
                "flow_log_id": self.flow_log.id,
                "log_group_name": self.log_group.name,
                "flow_log_role_arn": self.role.arn,
            }
            for key, value in out.items():
                core.TerraformOutput(self, key, value=value)

    return VpcStack(scope, config)
