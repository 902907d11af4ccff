"""Builds broken variants of the VpcStack (one App, one process) for the policy tests.

Run as `python tests/synth_variants.py OUTDIR [cdktf|cdktn]`: writes OUTDIR/<variant>/cdk.tf.json.
Every variant is our real VpcStack with one escape-hatch override (`add_override`), the way a
user's change would slip a mistake past the StackConfig checks.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from matrix.cells import expand
from stack.cdk import load, stop_runtime
from stack.vpc import make_stack

WILDCARD = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["logs:PutLogEvents"], "Resource": "*"}]})

VARIANTS = {
    "clean": lambda s: None,
    "interval-300": lambda s: s.flow_log.add_override("max_aggregation_interval", 300),
    "foreign-region": lambda s: s.s3_endpoint.add_override("service_name", "com.amazonaws.eu-west-1.s3"),
    "iam-wildcard": lambda s: s.role_policy.add_override("policy", WILDCARD),
    "no-locking": lambda s: s.backend.add_override("use_lockfile", False),
    "unencrypted": lambda s: s.backend.add_override("encrypt", False),
    "bad-key": lambda s: s.backend.add_override("key", "terraform.tfstate"),
    "dns-off": lambda s: s.vpc.add_override("enable_dns_hostnames", False),
    "two-private-in-one-az": lambda s: s.private_subnets[1].add_override(
        "availability_zone", "${element(data.aws_availability_zones.azs.names, 0)}"),
    "overlapping-subnets": lambda s: s.private_subnets[0].add_override("cidr_block", "10.0.0.0/20"),
    "cross-az-nat": lambda s: s.private_routes[1].add_override("nat_gateway_id", "${aws_nat_gateway.nat-0.id}"),
    "endpoint-missing-rt": lambda s: setattr(s.s3_endpoint, "route_table_ids", [s.public_rt.id]),
    "no-region-tag": lambda s: setattr(s.provider, "default_tags", [{"tags": {
        "Project": "stackmatrix", "EnvironmentSuffix": "dev"}}]),
    "name-without-suffix": lambda s: s.vpc.add_override("tags", {"Name": "main-vpc"}),
}


def main() -> None:
    out = Path(sys.argv[1])
    cdk = load(sys.argv[2] if len(sys.argv) > 2 else None)
    east, west = expand("nightly", regions=["us-east-1", "eu-west-1"], suffixes=["dev"])
    with tempfile.TemporaryDirectory() as tmp:
        app = cdk.core.App(outdir=tmp)
        stacks = {}
        for name, mutate in VARIANTS.items():
            cfg = east.stack_config()
            stack = make_stack(app, type(cfg)(**{**cfg.__dict__, "stack_id": f"v-{name}"}), cdk)
            mutate(stack)
            stacks[name] = f"v-{name}"
        # two cells of one run that would collide on an account-global IAM role name
        for name, cell in (("same-role-a", east), ("same-role-b", west)):
            cfg = cell.stack_config()
            stack = make_stack(app, type(cfg)(**{**cfg.__dict__, "stack_id": f"v-{name}"}), cdk)
            stack.role.add_override("name", "stackmatrix-flowlogs")
            stacks[name] = f"v-{name}"
        app.synth()
        for name, stack_id in stacks.items():
            dest = out / name
            dest.mkdir(parents=True, exist_ok=True)
            (dest / "cdk.tf.json").write_text(Path(tmp, "stacks", stack_id, "cdk.tf.json").read_text())
    stop_runtime()
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
