"""A user's own CDKTF stack for the SARIF tests: it lives outside stack/, its construct ids are computed
(f-strings, a loop over a list, a helper that builds ids), and it breaks several synth rules on purpose,
so that `python -m matrix check --format sarif` has results to point at lines of this file."""

from __future__ import annotations

from typing import Any

TIERS = ["web", "app", "db"]


def build(app: Any, cdk: Any, name: str) -> Any:
    core, aws = cdk.core, cdk.aws
    stack = core.TerraformStack(app, name)
    aws.AwsProvider(stack, "aws", region="us-east-1")  # no default tags: every taggable resource misses them
    # stackmatrix: ignore[vpc-cidr-dns] hostnames stay off in this network on purpose (tested as inline)
    vpc = aws.Vpc(stack, f"{name}-net", cidr_block="10.7.0.0/16", enable_dns_hostnames=False)
    subnets = []
    for i, tier in enumerate(TIERS):
        subnets.append(aws.Subnet(stack, f"{tier}-{i:02d}", vpc_id=vpc.id, cidr_block=f"10.7.{i}.0/24",
                                  tags={"Name": f"{name}-{tier}"}))
    tables = [_table(stack, aws, vpc, tier) for tier in TIERS[:2]]
    for n, (subnet, table) in enumerate(zip(subnets, tables, strict=False)):
        aws.RouteTableAssociation(stack, "assoc" + str(n), subnet_id=subnet.id, route_table_id=table.id)
    group = aws.CloudwatchLogGroup(stack, "logs".upper(), name=f"/{name}/flow")
    aws.FlowLog(stack, "-".join(["flow", name]), vpc_id=vpc.id, traffic_type="ALL",
                log_destination=group.arn, max_aggregation_interval=300)
    return stack


def _table(stack: Any, aws: Any, vpc: Any, tier: str) -> Any:
    return aws.RouteTable(stack, f"rt-{tier.upper()}", vpc_id=vpc.id)
