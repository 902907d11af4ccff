"""The embedded engine against a real moto server: apply, no-op re-apply, drift, destroy, backend
bootstrap and absence, terraform-format locks, crash adoption and a vanishing state bucket."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from matrix.engines.embedded.engine import EmbeddedEngine, EngineOptions
from matrix.errors import StackmatrixError
from matrix.state.backend import LockHeld, LockInfo, MissingLockTable, MissingStateBucket, StateConflict
from matrix.state.tfstate import State

RESOURCE_SERVICES = ("ec2", "iam", "logs")


def engine_for(synth: Path, clients, tmp_path: Path, **opts) -> EmbeddedEngine:
    options = EngineOptions(**{"bootstrap_backend": True, "variables": {"run_id": "t-run"}, **opts})
    return EmbeddedEngine("test-cell", synth, clients, tmp_path / "state", options)


def mutated(dev_synth: Path, tmp_path: Path, mutate) -> Path:
    doc = json.loads(dev_synth.read_text())
    mutate(doc)
    path = tmp_path / "synth" / "cdk.tf.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return path


def unique_bucket(dev_synth: Path, tmp_path: Path, **backend) -> Path:
    """Each test its own state bucket: bucket names are global on the emulator, as in AWS."""
    name = f"sm-test-{tmp_path.name[-20:].lower().replace('_', '-')}".rstrip("-")
    return mutated(dev_synth, tmp_path, lambda d: d["terraform"]["backend"]["s3"].update({"bucket": name, **backend}))


def resource_mutations(clients) -> int:
    return sum(n for svc, n in clients.counters.mutating.items() if svc in RESOURCE_SERVICES)


def resource_calls(clients) -> int:
    """API calls the resources cost so far (NAT gateway waits excluded): an apply stays <= 2 per resource."""
    return sum(n for op, n in clients.counters.operations.items() if op.split(":")[0] in (*RESOURCE_SERVICES, "sts")
               and op != "ec2:DescribeNatGateways")


def test_apply_writes_terraform_state_and_outputs(dev_synth, tmp_path, clients):
    synth = unique_bucket(dev_synth, tmp_path)
    engine = engine_for(synth, clients, tmp_path)
    plan = engine.apply()
    assert plan.counts()["create"] == 33
    outputs = engine.current_outputs()
    assert outputs["vpc_cidr"] == "10.0.0.0/16" and len(outputs["private_subnet_ids"]) == 3
    # state v4 in the synthesized bucket and key, and a local copy
    b = engine.config.backend
    body = clients.client("s3").get_object(Bucket=b.bucket, Key=b.key)["Body"].read()
    state = json.loads(body)
    assert state["version"] == 4 and state["lineage"] and state["serial"] > 0
    assert len([r for r in state["resources"] if r["mode"] == "managed"]) == 33
    vpc = next(r for r in state["resources"] if r["type"] == "aws_vpc")
    assert vpc["provider"] == 'provider["registry.terraform.io/hashicorp/aws"]'
    assert vpc["instances"][0]["attributes"]["id"] == outputs["vpc_id"]
    nat = next(r for r in state["resources"] if r["type"] == "aws_nat_gateway")
    assert "aws_eip.nat-eip-0" in nat["instances"][0]["dependencies"] or nat["instances"][0]["dependencies"]
    assert state["outputs"]["vpc_id"] == {"value": outputs["vpc_id"], "type": "string"}
    assert json.loads((tmp_path / "state" / "terraform.tfstate").read_text())["serial"] == state["serial"]
    # the lock was released
    keys = [o["Key"] for o in clients.client("s3").list_objects_v2(Bucket=b.bucket).get("Contents", [])]
    assert keys == [b.key]
    # API calls per resource (waits excluded)
    calls = resource_calls(clients)
    assert calls / 33 <= 2.0, f"{calls} calls for 33 resources"
    engine.destroy()


def test_reapply_with_nothing_changed_makes_no_mutating_call(dev_synth, tmp_path, clients):
    engine = engine_for(unique_bucket(dev_synth, tmp_path), clients, tmp_path)
    engine.apply()
    before = resource_mutations(clients)
    serial = engine.state.serial
    started = time.monotonic()
    plan = engine.apply()
    assert time.monotonic() - started < 3.0
    assert not plan.has_changes() and plan.summary().startswith("no changes")
    assert resource_mutations(clients) == before
    assert engine.state.serial == serial, "no state write when nothing changed"
    engine.destroy()


def test_drift_is_reported_and_repaired(dev_synth, tmp_path, clients):
    engine = engine_for(unique_bucket(dev_synth, tmp_path), clients, tmp_path)
    engine.apply()
    ec2 = clients.client("ec2")
    out = engine.current_outputs()
    rt = out["private_route_table_ids"][0]
    ec2.delete_route(RouteTableId=rt, DestinationCidrBlock="0.0.0.0/0")  # deleted outside
    ec2.create_tags(Resources=[out["vpc_id"]], Tags=[{"Key": "Name", "Value": "renamed-by-hand"}])  # changed outside
    plan = engine.apply()
    drift = {c.address: c for c in plan.drift}
    assert "aws_route.private-0-default" in drift and "deleted outside" in drift["aws_route.private-0-default"].reason
    assert "aws_vpc.vpc" in drift and "tags_all" in drift["aws_vpc.vpc"].reason
    assert plan.counts()["create"] == 1 and plan.counts()["update"] == 1
    routes = ec2.describe_route_tables(RouteTableIds=[rt])["RouteTables"][0]["Routes"]
    assert any(r.get("DestinationCidrBlock") == "0.0.0.0/0" and r.get("NatGatewayId") for r in routes)
    tags = {t["Key"]: t["Value"] for t in ec2.describe_vpcs(VpcIds=[out["vpc_id"]])["Vpcs"][0]["Tags"]}
    assert tags["Name"] == "stackmatrix-dev-vpc"
    assert not engine.apply().has_changes()
    engine.destroy()


def test_destroy_is_idempotent_and_tolerates_resources_already_gone(dev_synth, tmp_path, clients):
    engine = engine_for(unique_bucket(dev_synth, tmp_path), clients, tmp_path)
    engine.apply()
    out = engine.current_outputs()
    clients.client("ec2").delete_flow_logs(FlowLogIds=[out["flow_log_id"]])  # gone before destroy
    clients.client("logs").delete_log_group(logGroupName=out["log_group_name"])
    assert engine.destroy() == 33
    assert [v for v in clients.client("ec2").describe_vpcs()["Vpcs"] if not v.get("IsDefault")] == []
    assert engine.destroy() == 0


def test_missing_state_bucket_fails_before_anything_is_created(dev_synth, tmp_path, clients):
    engine = engine_for(unique_bucket(dev_synth, tmp_path), clients, tmp_path, bootstrap_backend=False)
    with pytest.raises(MissingStateBucket) as err:
        engine.apply()
    message = str(err.value)
    b = engine.config.backend
    assert b.bucket in message and "us-east-1" in message and "--bootstrap-backend" in message
    assert "NoSuchBucket" in message
    assert resource_mutations(clients) == 0
    assert [v for v in clients.client("ec2").describe_vpcs()["Vpcs"] if not v.get("IsDefault")] == []


def test_bootstrap_creates_a_versioned_encrypted_private_bucket_and_lock_table(dev_synth, tmp_path, clients):
    synth = unique_bucket(dev_synth, tmp_path, dynamodb_table="sm-test-locks")
    engine = engine_for(synth, clients, tmp_path)
    with pytest.raises(MissingStateBucket):
        engine.backend_check(bootstrap=False)
    done = engine.backend_check(bootstrap=True)
    assert len(done) == 2
    s3, bucket = clients.client("s3"), engine.config.backend.bucket
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert all(s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"].values())
    table = clients.client("dynamodb").describe_table(TableName="sm-test-locks")["Table"]
    assert table["KeySchema"] == [{"AttributeName": "LockID", "KeyType": "HASH"}]


def test_missing_lock_table_is_named(dev_synth, tmp_path, clients):
    synth = unique_bucket(dev_synth, tmp_path, dynamodb_table="no-such-table")
    engine = engine_for(synth, clients, tmp_path, bootstrap_backend=False)
    engine.backend.create_bucket()
    with pytest.raises(MissingLockTable, match=r"no-such-table.*LockID"):
        engine.apply()


def _hold_lock(engine: EmbeddedEngine, who: str = "alice@ci-runner-7") -> LockInfo:
    info = LockInfo.new("OperationTypeApply", engine.config.backend.lock_path, {"pid": 1})
    info.Who = who
    assert engine.backend.try_lock(info)
    return info


@pytest.mark.parametrize("backend", [{}, {"dynamodb_table": "sm-test-locks2"},
                                     {"dynamodb_table": "sm-test-locks3", "use_lockfile": False}])
def test_a_held_lock_makes_apply_wait_then_fail_naming_holder_and_id(dev_synth, tmp_path, clients, backend):
    engine = engine_for(unique_bucket(dev_synth, tmp_path, **backend), clients, tmp_path, lock_timeout=1.5)
    engine.backend_check(bootstrap=True)
    held = _hold_lock(engine)
    started = time.monotonic()
    with pytest.raises(LockHeld) as err:
        engine.apply()
    assert time.monotonic() - started >= 1.5
    assert "alice@ci-runner-7" in str(err.value) and held.ID in str(err.value)
    assert "Error acquiring the state lock" in str(err.value)
    assert resource_mutations(clients) == 0
    with pytest.raises(StackmatrixError, match="does not match"):
        engine.force_unlock("not-the-id")
    engine.force_unlock(held.ID)
    assert engine.backend.current_lock() is None
    engine.apply()
    engine.destroy()


def test_apply_waits_for_a_lock_released_meanwhile(dev_synth, tmp_path, clients):
    engine = engine_for(unique_bucket(dev_synth, tmp_path), clients, tmp_path, lock_timeout=20)
    engine.backend_check(bootstrap=True)
    held = _hold_lock(engine)
    threading.Timer(1.0, lambda: engine.backend.unlock(held.ID)).start()
    assert engine.apply().counts()["create"] == 33
    engine.destroy()


def test_dynamodb_digest_mismatch_is_detected(dev_synth, tmp_path, clients):
    engine = engine_for(unique_bucket(dev_synth, tmp_path, dynamodb_table="sm-test-digest"), clients, tmp_path)
    engine.backend_check(bootstrap=True)
    engine.backend.write_remote(State().snapshot())
    b = engine.config.backend
    clients.client("dynamodb").put_item(TableName="sm-test-digest", Item={
        "LockID": {"S": f"{b.lock_path}-md5"}, "Digest": {"S": "0" * 32}})
    with pytest.raises(StateConflict, match="does not have the expected content"):
        engine.backend.read_remote()


def test_a_resource_created_by_a_killed_run_is_adopted_not_duplicated(dev_synth, tmp_path, clients):
    """A run killed between CreateVpc and the state write: the journal lets the next run adopt it."""
    engine = engine_for(unique_bucket(dev_synth, tmp_path), clients, tmp_path)
    engine.backend_check(bootstrap=True)
    ec2 = clients.client("ec2")
    tags = {"Name": "stackmatrix-dev-vpc", "Project": "stackmatrix", "Region": "us-east-1",
            "EnvironmentSuffix": "dev", "ManagedBy": "stackmatrix", "RunId": "t-run"}
    orphan = ec2.create_vpc(CidrBlock="10.0.0.0/16", TagSpecifications=[
        {"ResourceType": "vpc", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}])["Vpc"]["VpcId"]
    engine.journal.begin("aws_vpc.vpc", "aws_vpc", {"cidr_block": "10.0.0.0/16", "tags_all": tags,
                                                    "enable_dns_support": True, "enable_dns_hostnames": True}, [])
    engine.apply()
    assert engine.current_outputs()["vpc_id"] == orphan
    named = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": ["stackmatrix-dev-vpc"]}])["Vpcs"]
    assert [v["VpcId"] for v in named] == [orphan]
    assert not (tmp_path / "state" / "pending.json").exists()
    engine.destroy()


def _drop_bucket(s3, bucket: str) -> None:
    for _ in range(50):
        listing = s3.list_object_versions(Bucket=bucket)
        for version in listing.get("Versions", []) + listing.get("DeleteMarkers", []):
            s3.delete_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"])
        try:
            s3.delete_bucket(Bucket=bucket)
            return
        except s3.exceptions.ClientError:
            time.sleep(0.05)
    raise AssertionError(f"could not delete {bucket}")


def test_state_bucket_lost_mid_apply_keeps_state_locally_and_destroy_completes(dev_synth, tmp_path, clients):
    engine = engine_for(unique_bucket(dev_synth, tmp_path), clients, tmp_path)
    s3, bucket = clients.client("s3"), engine.config.backend.bucket
    fired = threading.Event()

    def vanish(**_):
        if not fired.is_set():
            fired.set()
            _drop_bucket(s3, bucket)

    clients.client("ec2").meta.events.register("after-call.ec2.CreateRouteTable", vanish)
    with pytest.raises(StackmatrixError) as err:
        engine.apply()
    message = str(err.value)
    assert "errored.tfstate" in message and "state lost from the bucket" in message
    kept = json.loads((tmp_path / "state" / "errored.tfstate").read_text())
    assert len([r for r in kept["resources"] if r["mode"] == "managed"]) >= 4
    fresh = engine_for(engine.config_path, clients, tmp_path, bootstrap_backend=False)
    assert fresh.destroy() == len([r for r in kept["resources"] if r["mode"] == "managed"])
    left = clients.client("ec2").describe_vpcs(Filters=[{"Name": "tag:RunId", "Values": ["t-run"]}])["Vpcs"]
    assert left == []


def test_apply_without_the_bucket_and_without_bootstrap_changes_nothing(dev_synth, tmp_path, clients):
    engine = engine_for(unique_bucket(dev_synth, tmp_path), clients, tmp_path)
    engine.apply()
    _drop_bucket(clients.client("s3"), engine.config.backend.bucket)
    strict = engine_for(engine.config_path, clients, tmp_path, bootstrap_backend=False)
    before = resource_mutations(clients)
    with pytest.raises(MissingStateBucket):
        strict.apply()
    assert resource_mutations(clients) == before
    assert strict.destroy() == 33  # from the local copy
