"""Meta-arguments, terraform-only arguments and the provider's honoured settings, on a real moto
server: lifecycle (ignore_changes, prevent_destroy, create_before_destroy), timeouts, skip_destroy,
force_detach_policies, state-only changes, ignore_tags, allowed/forbidden_account_ids, template
directives in arguments, sensitive outputs, and a read-back that catches what AWS does not hold."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from matrix.engines.embedded.config import ConfigError
from matrix.engines.embedded.engine import EmbeddedEngine, EngineOptions, PreventDestroy
from matrix.engines.embedded.readback import ReadBackMismatch
from matrix.engines.embedded.resources.base import Ctx, duration

REGION = "us-east-1"
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": "vpc-flow-logs.amazonaws.com"}}]})


def doc(resources: dict[str, Any], bucket: str, provider: dict[str, Any] | None = None,
        **extra: Any) -> dict[str, Any]:
    return {"provider": {"aws": [{"region": REGION, **(provider or {})}]},
            "terraform": {"backend": {"s3": {"bucket": bucket, "key": "t.tfstate", "region": REGION,
                                             "use_lockfile": True}}},
            "resource": resources, **extra}


class Cell:
    """One test's stack: write a document, make an engine over it, keep the state between applies."""

    def __init__(self, clients, tmp_path: Path) -> None:
        self.clients, self.tmp = clients, tmp_path
        self.bucket = f"i10-lc-{uuid.uuid4().hex[:10]}"
        self.n = 0

    def engine(self, document: dict[str, Any]) -> EmbeddedEngine:
        self.n += 1
        path = self.tmp / f"v{self.n}" / "cdk.tf.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(document))
        return EmbeddedEngine("lc", path, self.clients, self.tmp / "state",
                              EngineOptions(bootstrap_backend=True, poll=0.05))

    def apply(self, resources: dict[str, Any], **kw: Any) -> EmbeddedEngine:
        engine = self.engine(doc(resources, self.bucket, **kw))
        engine.apply()
        return engine

    def mutations(self) -> int:
        return sum(n for svc, n in self.clients.counters.as_dict()["mutating"].items() if svc in ("ec2", "iam", "logs"))


@pytest.fixture
def cell(clients, tmp_path) -> Cell:
    return Cell(clients, tmp_path)


def vpc(cidr: str = "10.60.0.0/16", **kw: Any) -> dict[str, Any]:
    return {"aws_vpc": {"v": {"cidr_block": cidr, **kw}}}


def live_tags(cell: Cell, vpc_id: str) -> dict[str, str]:
    v = cell.clients.client("ec2", REGION).describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]
    return {t["Key"]: t["Value"] for t in v.get("Tags", [])}


# -- lifecycle --------------------------------------------------------------------------------------

def test_ignore_changes_leaves_the_argument_alone_and_records_what_aws_holds(cell):
    engine = cell.apply(vpc(tags={"Name": "a"}, lifecycle={"ignore_changes": ["tags"]}))
    vid = engine.state.get("aws_vpc.v")["id"]
    cell.clients.client("ec2", REGION).create_tags(Resources=[vid], Tags=[{"Key": "Name", "Value": "by-hand"}])
    before = cell.mutations()
    engine = cell.apply(vpc(tags={"Name": "c"}, lifecycle={"ignore_changes": ["tags"]}))
    assert not engine.last_plan.has_changes() and cell.mutations() == before
    assert live_tags(cell, vid) == {"Name": "by-hand"}
    assert engine.state.get("aws_vpc.v")["tags_all"] == {"Name": "by-hand"}, "state holds what AWS holds"
    engine = cell.apply(vpc(tags={"Name": "c"}))  # without ignore_changes the tag is put back
    assert engine.last_plan.counts()["update"] == 1 and live_tags(cell, vid) == {"Name": "c"}
    engine.destroy()


def test_ignore_changes_all(cell):
    engine = cell.apply(vpc(enable_dns_hostnames=False, lifecycle={"ignore_changes": "all"}))
    engine = cell.apply(vpc(enable_dns_hostnames=True, lifecycle={"ignore_changes": "all"}))
    assert not engine.last_plan.has_changes()
    ec2 = cell.clients.client("ec2", REGION)
    vid = engine.state.get("aws_vpc.v")["id"]
    assert ec2.describe_vpc_attribute(VpcId=vid, Attribute="enableDnsHostnames")["EnableDnsHostnames"]["Value"] is False
    engine.destroy()


def test_prevent_destroy_refuses_a_replacement_and_a_destroy_before_any_change(cell):
    engine = cell.apply(vpc(lifecycle={"prevent_destroy": True}))
    vid = engine.state.get("aws_vpc.v")["id"]
    before = cell.mutations()
    with pytest.raises(PreventDestroy, match=r"aws_vpc\.v has lifecycle\.prevent_destroy set, but cidr_block "
                                             r"forces its replacement; no resource was destroyed or changed"):
        cell.apply(vpc(cidr="10.61.0.0/16", lifecycle={"prevent_destroy": True}))
    with pytest.raises(PreventDestroy, match="destroy would destroy it"):
        cell.engine(doc(vpc(lifecycle={"prevent_destroy": True}), cell.bucket)).destroy()
    assert cell.mutations() == before
    assert cell.clients.client("ec2", REGION).describe_vpcs(VpcIds=[vid])["Vpcs"]
    assert cell.engine(doc(vpc(), cell.bucket)).destroy() == 1  # without the flag it goes


def test_create_before_destroy_creates_the_replacement_first(cell):
    eip = {"aws_eip": {"e": {"domain": "vpc", "address": "203.0.113.10", "lifecycle": {"create_before_destroy": True}}}}
    engine = cell.apply(eip)
    old = engine.state.get("aws_eip.e")["id"]
    position = cell.clients.log_position()
    eip["aws_eip"]["e"]["address"] = "203.0.113.11"
    engine = cell.apply(eip)
    assert engine.last_plan.counts()["replace"] == 1
    ops = [line.split()[3] for line in cell.clients.call_lines(position) if "--" not in line]
    assert ops.index("AllocateAddress") < ops.index("ReleaseAddress"), ops
    new = engine.state.get("aws_eip.e")
    assert new["id"] != old and new["address"] == "203.0.113.11" and engine.state.deposed() == []
    addresses = cell.clients.client("ec2", REGION).describe_addresses()["Addresses"]
    assert [a["PublicIp"] for a in addresses] == ["203.0.113.11"]
    engine.destroy()


# -- terraform-only arguments ---------------------------------------------------------------------------

def test_timeouts_are_go_durations_that_bound_the_waits():
    assert duration("10m") == 600 and duration("1h30m") == 5400 and duration("45s") == 45 and duration("250ms") == 0.25
    assert duration("ten minutes") is None and duration(None) is None
    ctx = Ctx(clients=None, region=REGION, wait_timeout=600)
    assert ctx.with_timeouts([{"create": "2s", "delete": "1m"}], "create").wait_timeout == 2
    assert ctx.with_timeouts({"delete": "1m"}, "delete").wait_timeout == 60
    assert ctx.with_timeouts({"delete": "1m"}, "create").wait_timeout == 600
    with pytest.raises(TimeoutError, match=r"timed out after 0 s waiting for something that never happens"):
        Ctx(clients=None, region=REGION, poll=0.01).with_timeouts({"create": "0.05s"}, "create").wait_for(
            "something that never happens", lambda: False)


def test_a_change_of_a_terraform_only_argument_is_state_only(cell):
    role = {"aws_iam_role": {"r": {"name": "i10-lc-role", "assume_role_policy": TRUST, "force_detach_policies": False}}}
    engine = cell.apply(role)
    before, serial = cell.mutations(), engine.state.serial
    role["aws_iam_role"]["r"]["force_detach_policies"] = True
    engine = cell.apply(role)
    change = next(c for c in engine.last_plan.changes if c.address == "aws_iam_role.r")
    assert change.action == "noop" and change.state_only == ["force_detach_policies"]
    assert "state only, no API call: force_detach_policies" in "\n".join(engine.last_plan.lines())
    assert cell.mutations() == before and engine.state.serial > serial
    assert engine.state.get("aws_iam_role.r")["force_detach_policies"] is True
    engine.destroy()


def test_force_detach_policies_is_honoured_at_destroy(cell):
    iam = cell.clients.client("iam")
    arn = iam.create_policy(PolicyName="i10-outside", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}]}))[
        "Policy"]["Arn"]
    for force in (False, True):
        role = {"aws_iam_role": {"r": {"name": f"i10-fd-{force}", "assume_role_policy": TRUST,
                                       "force_detach_policies": force}}}
        engine = cell.apply(role)
        iam.attach_role_policy(RoleName=f"i10-fd-{force}", PolicyArn=arn)  # attached outside the configuration
        if force:
            assert engine.destroy() == 1
            assert not [r for r in iam.list_roles()["Roles"] if r["RoleName"] == "i10-fd-True"]
        else:
            with pytest.raises(Exception, match="DeleteConflict"):
                engine.destroy()
            iam.detach_role_policy(RoleName="i10-fd-False", PolicyArn=arn)
            assert engine.destroy() == 1


def test_skip_destroy_leaves_the_log_group(cell):
    engine = cell.apply({"aws_cloudwatch_log_group": {"g": {"name": "/i10/kept", "skip_destroy": True}}})
    assert engine.destroy() == 1 and engine.state.is_empty()
    logs = cell.clients.client("logs", REGION)
    assert [g["logGroupName"] for g in logs.describe_log_groups(logGroupNamePrefix="/i10/kept")["logGroups"]] == [
        "/i10/kept"]


def test_generated_names_follow_terraform(cell):
    engine = cell.apply({"aws_cloudwatch_log_group": {"p": {"name_prefix": "/i10/p-"}, "n": {}}})
    prefixed, unnamed = engine.state.get("aws_cloudwatch_log_group.p")["name"], \
        engine.state.get("aws_cloudwatch_log_group.n")["name"]
    assert prefixed.startswith("/i10/p-") and len(prefixed) == len("/i10/p-") + 26
    assert unnamed.startswith("terraform-") and len(unnamed) == len("terraform-") + 26
    again = cell.apply({"aws_cloudwatch_log_group": {"p": {"name_prefix": "/i10/p-"}, "n": {}}})
    assert not again.last_plan.has_changes()
    engine.destroy()


# -- the provider block -----------------------------------------------------------------------------------

def test_ignore_tags_are_never_set_removed_or_compared(cell):
    provider = {"ignore_tags": [{"keys": ["Owner"], "key_prefixes": ["ext:"]}],
                "default_tags": [{"tags": {"Team": "net", "Owner": "from-config"}}]}
    engine = cell.apply(vpc(tags={"Name": "v"}), provider=provider)
    vid = engine.state.get("aws_vpc.v")["id"]
    assert live_tags(cell, vid) == {"Name": "v", "Team": "net"}, "an ignored key is not set"
    cell.clients.client("ec2", REGION).create_tags(Resources=[vid], Tags=[
        {"Key": "Owner", "Value": "billing"}, {"Key": "ext:cost", "Value": "42"}])
    engine = cell.apply(vpc(tags={"Name": "v"}), provider=provider)
    assert not engine.last_plan.has_changes()
    assert live_tags(cell, vid) == {"Name": "v", "Team": "net", "Owner": "billing", "ext:cost": "42"}
    engine = cell.apply(vpc(tags={"Name": "v"}))  # without ignore_tags they are foreign tags: removed
    assert engine.last_plan.counts()["update"] == 1 and live_tags(cell, vid) == {"Name": "v"}
    engine.destroy()


def test_allowed_and_forbidden_account_ids_stop_before_any_change(cell):
    account = cell.clients.client("sts").get_caller_identity()["Account"]
    for provider, needle in (({"allowed_account_ids": ["999999999999"]}, "is not in allowed_account_ids"),
                             ({"forbidden_account_ids": [account]}, "is in forbidden_account_ids")):
        with pytest.raises(ConfigError, match=needle):
            cell.apply(vpc(), provider=provider)
    assert cell.mutations() == 0
    engine = cell.apply(vpc(), provider={"allowed_account_ids": [account]})
    assert engine.state.get("aws_vpc.v")
    engine.destroy()


# -- expressions, outputs, read-back ----------------------------------------------------------------------

def test_template_directives_in_arguments_are_rendered_applied_and_read_back(cell):
    zones = "%{ for z in data.aws_availability_zones.azs.names }${z} %{ endfor }"
    resources = vpc(tags={"Name": "${data.aws_region.here.region == \"us-east-1\" ? \"east\" : \"other\"}",
                          "Zones": zones, "Literal": "$${not-an-expression} %%{ if x }"})
    engine = cell.apply(resources, data={"aws_availability_zones": {"azs": {"state": "available"}},
                                         "aws_region": {"here": {}}},
                        output={"secret": {"value": "${aws_vpc.v.id}", "sensitive": True}})
    tags = live_tags(cell, engine.state.get("aws_vpc.v")["id"])
    assert tags["Name"] == "east" and tags["Literal"] == "${not-an-expression} %{ if x }"
    assert tags["Zones"].split() == sorted(tags["Zones"].split()) and tags["Zones"].startswith("us-east-1a ")
    state = json.loads(engine.state.snapshot())
    assert state["outputs"]["secret"]["sensitive"] is True
    engine.destroy()


def test_the_read_back_fails_the_apply_when_aws_does_not_hold_an_argument(cell, monkeypatch):
    """A handler that forgets an argument (as the engine once did for an endpoint policy) cannot pass."""
    from matrix.engines.embedded.resources import HANDLERS

    handler = HANDLERS["aws_vpc"]
    real = handler.create

    def forgetful(ctx, args):
        return real(ctx, {**args, "enable_dns_hostnames": None})

    monkeypatch.setattr(handler, "create", forgetful)
    with pytest.raises(ReadBackMismatch) as err:
        cell.apply(vpc(enable_dns_hostnames=True))
    assert "aws_vpc.v: enable_dns_hostnames: wanted true, found false" in str(err.value)
    engine = cell.engine(doc(vpc(enable_dns_hostnames=True), cell.bucket))
    assert engine.backend.read()[0].get("aws_vpc.v")["enable_dns_hostnames"] is False, "state holds what AWS holds"
    monkeypatch.undo()
    engine.apply()
    assert engine.last_plan.counts()["update"] == 1  # the next apply makes the real call
    engine.destroy()


def test_associations_added_to_tables_by_a_later_apply_are_read_back(cell):
    """Two tables that each get a second association in a later apply: a read of both new ids with one
    multi-value filter finds neither on the emulators (gap ec2-multi-value-filter); the read-back must."""
    subnets = {f"s{i}": {"vpc_id": "${aws_vpc.v.id}", "cidr_block": f"10.60.{i}.0/24"} for i in range(4)}
    tables = {"t1": {"vpc_id": "${aws_vpc.v.id}"}, "t2": {"vpc_id": "${aws_vpc.v.id}"}}

    def assoc(i: int, table: str) -> dict[str, Any]:
        return {"subnet_id": f"${{aws_subnet.s{i}.id}}", "route_table_id": f"${{aws_route_table.{table}.id}}"}

    first = {"a0": assoc(0, "t1"), "a1": assoc(1, "t2")}
    engine = cell.apply({**vpc(), "aws_subnet": subnets, "aws_route_table": tables,
                         "aws_route_table_association": first})
    engine = cell.apply({**vpc(), "aws_subnet": subnets, "aws_route_table": tables,
                         "aws_route_table_association": {**first, "a2": assoc(2, "t1"), "a3": assoc(3, "t2")}})
    assert engine.last_plan.counts()["create"] == 2 and engine.readback["differences"] == []
    engine.destroy()
