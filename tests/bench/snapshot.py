"""`nox -s bench -- snapshot`: what one state snapshot costs, the indented text (before) against the C encoder's.

A state like a nightly cell's (33 resources of the VPC stack's types, each with the attributes, tags and
nested blocks the engine stores) is serialized --count times (default 107: the snapshots one cell's
apply and destroy persist, docs/performance.md), alternately the old way (`json.dumps(data, indent=2)`,
which takes json's pure-Python encoder) and the new (`State.snapshot()`), --rounds times (default 10).
CPU seconds of this process (time.process_time) per batch, medians, and new/old. Both texts are checked
to hold the same document (parsed, equal, keys in the same order) before anything is timed.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from typing import Any

from bench.cost import option
from bench.measure import save, table
from matrix.state.tfstate import State

TYPES = ("aws_vpc", "aws_subnet", "aws_route_table", "aws_route", "aws_route_table_association",
         "aws_internet_gateway", "aws_nat_gateway", "aws_eip", "aws_flow_log", "aws_cloudwatch_log_group",
         "aws_iam_role", "aws_iam_role_policy", "aws_vpc_endpoint", "aws_security_group")


def cell_state(resources: int = 33) -> State:
    state = State()
    for n in range(resources):
        rtype = TYPES[n % len(TYPES)]
        attrs: dict[str, Any] = {
            "id": f"{rtype.removeprefix('aws_')[:6]}-{n:017x}",
            "arn": f"arn:aws:ec2:us-east-1:000000000000:{rtype}/{n}",
            "cidr_block": f"10.0.{n}.0/24", "availability_zone": "us-east-1a", "vpc_id": "vpc-0123456789abcdef0",
            "map_public_ip_on_launch": n % 2 == 0, "assign_ipv6_address_on_creation": False, "ipv6_cidr_block": "",
            "owner_id": "000000000000", "timeouts": None, "count": n, "ratio": n / 7,
            "tags": {"Name": f"stackmatrix-{n}", "suffix": "nightly", "region": "us-east-1", "owner": "qa"},
            "tags_all": {"Name": f"stackmatrix-{n}", "suffix": "nightly", "region": "us-east-1", "owner": "qa",
                         "project": "stackmatrix", "managed-by": "cdktf"},
            "route": [{"cidr_block": "0.0.0.0/0", "gateway_id": "igw-0123", "nat_gateway_id": "",
                       "ipv6_cidr_block": "", "vpc_endpoint_id": ""}] * 2,
            "policy": json.dumps({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"], "Resource": "*"}]}),
            "description": "Größe: naïve ✓",  # non-ASCII, escaped the same way by both encoders
        }
        state.set(f"{rtype}.r{n}", attrs, [f"aws_vpc.r{m}" for m in range(0, n, 5)])
    state.set_outputs({"vpc_id": "vpc-0123456789abcdef0", "subnets": [f"subnet-{n}" for n in range(6)]})
    return state


def batch(fn: Callable[[], str], count: int) -> float:
    started = time.process_time()
    for _ in range(count):
        fn()
    return time.process_time() - started


def main(argv: list[str], report: Callable[[str], None] = print) -> dict:
    count, rounds = int(option(argv, "--count", "107")), int(option(argv, "--rounds", "10"))
    state = cell_state()

    def old() -> str:
        with state._lock:
            return json.dumps(state.data, indent=2, sort_keys=False)

    new = state.snapshot
    a, b = json.loads(old()), json.loads(new())
    assert a == b and json.dumps(a, indent=2) == json.dumps(b, indent=2), "the two texts hold different documents"
    olds, news = [], []
    for _ in range(rounds):
        olds.append(batch(old, count))
        news.append(batch(new, count))
    o, n = statistics.median(olds), statistics.median(news)
    table([(f"{count} snapshots of a {len(new()) // 1024} KB state, CPU s (median)", "indent=2 (old)",
            "C encoder (new)", "new/old"),
           (f"{rounds} rounds, alternately", f"{o:.3f}", f"{n:.3f}", f"{n / o:.2f}")], report)
    summary = {"count": count, "bytes_old": len(old()), "bytes_new": len(new()), "old": olds, "new": news,
               "median_old": o, "median_new": n, "ratio": n / o}
    save("snapshot", summary, report)
    return summary
