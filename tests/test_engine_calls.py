"""How many API calls one dev cell costs on the embedded engine (moto server behind the strict
emulator): apply (plan, creates, read-back), destroy, and the leak check after it.

The EC2 readers ask through each type's id filter (resources/base.describe_filtered), which answers
only the ids that exist: the leak check's read-back of the destroyed ids costs one Describe per
type, never one per id, and a normal cycle counts no `*.NotFound` error. The bounds are the counts
measured when the filters came in; the id-list Describes before them cost 39 DescribeRouteTables,
14 DescribeSubnets and 8 DescribeAddresses, with 50 NotFound errors, for the same cycle."""

from __future__ import annotations

from collections import Counter

from matrix.engines.embedded.resources.base import SharedPoll
from matrix.leaks import find_leftovers, state_ids
from tests.test_engine import engine_for, resource_calls, unique_bucket

#: per operation, the most one dev cell apply + destroy + leak check may call it
BOUNDS = {"ec2:DescribeRouteTables": 8, "ec2:DescribeSubnets": 3, "ec2:DescribeAddresses": 3,
          "ec2:DescribeVpcs": 3, "ec2:DescribeInternetGateways": 3, "ec2:DescribeFlowLogs": 3}


def test_a_dev_cell_cycle_reads_each_type_with_one_describe_and_meets_no_not_found(dev_synth, tmp_path, clients):
    engine = engine_for(unique_bucket(dev_synth, tmp_path), clients, tmp_path)
    engine.apply()
    applied = resource_calls(clients)
    assert applied / 33 <= 2.0, f"{applied} calls for 33 resources"
    before = state_ids(engine.state)
    assert engine.destroy() == 33
    leftovers = find_leftovers(clients, "us-east-1", {"RunId": "t-run", "EnvironmentSuffix": "dev"},
                               state_ids=before)
    assert leftovers == []
    counted = clients.counters.as_dict()
    not_found = {code: n for code, n in counted["errors"].items() if code.endswith("NotFound")}
    assert not_found == {}, f"describes that met deleted ids: {not_found}"
    ops = Counter(counted["operations"])
    over = {op: ops[op] for op, bound in BOUNDS.items() if ops[op] > bound}
    assert over == {}, f"more calls than {BOUNDS}: {over}"


def test_waits_polling_together_share_one_describe():
    """Two NAT gateway waits: a check takes an answer asked after the one it saw before, one call for
    both ids; a check that has seen that answer asks again (never an older state than it saw)."""
    asked: list[list[str]] = []

    def fetch(ids: list[str]) -> dict[str, dict[str, str]]:
        asked.append(ids)
        return {i: {"State": "available"} for i in ids if i != "nat-gone"}

    poll = SharedPoll(fetch)
    with poll.waiting("nat-a"), poll.waiting("nat-b"), poll.waiting("nat-gone"):
        seen_a, nat_a = poll.get("nat-a", 0.0)
        seen_b, nat_b = poll.get("nat-b", 0.0)
        assert asked == [["nat-a", "nat-b", "nat-gone"]] and nat_a == nat_b == {"State": "available"}
        assert poll.get("nat-gone", 0.0)[1] is None and len(asked) == 1
        assert poll.get("nat-a", seen_a)[0] > seen_b and len(asked) == 2
    assert poll.pending == {} and poll.answers == {}
