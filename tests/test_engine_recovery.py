"""The embedded engine's state after something went wrong (matrix/engines/embedded/engine.py,
matrix/state/backend.py), against a real moto server behind a fault proxy of the test's own
(matrix/chaos/proxy.py: a slow, refused or reset S3 or DynamoDB call is a real HTTP exchange that botocore
sees, retries or fails on).

* a bucket write that does not end before `flush()`'s deadline fails the operation, never reports success;
* after a failed bucket write, the next apply or destroy writes the state it read from the local copy to the
  bucket, even when it changes nothing (the bucket used to keep the old state, and errored.tfstate was deleted);
* errored.tfstate never hides a newer local copy (`read_local()` keeps the higher serial), and a later bucket
  write that succeeds removes it, so a run killed after one failed write loses nothing;
* the journal (pending.json) is read under the state lock: entries a run left after this engine was built
  are adopted, not overwritten and duplicated;
* destroy checks prevent_destroy after adopting the journal's resources, so an adopted one is refused too;
* a lock write that took effect but whose answer was lost is retried by botocore and refused as a conflict:
  the lock holds our ID, so it is ours (it used to fail with LockHeld naming the run's own lock ID);
* a state write whose object landed and whose DynamoDB digest did not leaves a stale digest: the local
  copies that hold the object byte for byte prove it ours, so the next apply reads it and writes object and
  digest again (it used to refuse every later apply and destroy with StateConflict); without that proof
  the mismatch is still refused, naming the digest that would fix it;
* a create_before_destroy replacement that died before its new object was recorded: the journal's search
  finds the deposed old object, which is not adopted as current (the plan then deleted it as deposed
  while the state named it as the current object);
* releasing a lock deletes only the lock it checked (S3 `If-Match` on the lock file's ETag, a DynamoDB
  condition on the item's Info): a lock another process took between the check and the delete stays.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from matrix.chaos.proxy import FaultProxy
from matrix.chaos.rules import rule
from matrix.clients import ClientFactory
from matrix.engines.embedded.engine import EmbeddedEngine, EngineOptions, Journal, Persister, PreventDestroy
from matrix.errors import StackmatrixError
from matrix.state.backend import LockInfo, StateBackend, StateConflict, StateWriteFailed
from matrix.state.tfstate import State
from tests.test_engine_lifecycle import doc, vpc
from tests.test_state_persist import _until


@pytest.fixture
def proxy(strict_url):
    """A fault proxy in front of the session's strict emulator, no rules until a test sets them."""
    with FaultProxy(strict_url) as p:
        yield p


@pytest.fixture
def faulty(cell_access, proxy) -> ClientFactory:
    """Clients of a fresh emulator account whose every call goes through `proxy`."""
    return ClientFactory(replace(cell_access, endpoint=proxy.url), max_attempts=3)


def _engine(clients: ClientFactory, tmp_path: Path, resources: dict[str, Any], version: str = "v1",
            **backend: Any) -> EmbeddedEngine:
    """An engine over `resources`; every engine of a test shares its bucket and its local state."""
    document = doc(resources, f"sm-rec-{tmp_path.name[-16:].lower().replace('_', '-')}".rstrip("-"))
    document["terraform"]["backend"]["s3"].update(backend)
    path = tmp_path / version / "cdk.tf.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document))
    return EmbeddedEngine("rec", path, clients, tmp_path / "state", EngineOptions(bootstrap_backend=True, poll=0.05))


def _change(state: State, i: int) -> None:
    state.set(f"aws_vpc.v{i}", {"id": f"vpc-{i:08x}"})


# -- 1. flush() past its deadline -------------------------------------------------------------------

def test_a_bucket_write_still_running_at_the_flush_deadline_fails_and_keeps_errored_state(
        faulty, proxy, tmp_path):
    engine = _engine(faulty, tmp_path, {})
    engine.backend_check(bootstrap=True)
    backend, state = engine.backend, State()
    backend.keep_errored(state.snapshot())  # what an earlier failed write left
    proxy.set_rules([rule(service="s3", operation="PutObject", effect="latency", latency_ms=3000)])
    persister = Persister(backend, state, lambda _msg: None, interval=60.0)
    try:
        _change(state, 0)
        persister.changed()
        with pytest.raises(StateWriteFailed, match=r"state serial 1 was not written to s3://.* within the 0.5 s "
                                                   r"timeout.*kept in the local copy"):
            persister.flush(timeout=0.5)
        assert backend.errored_path.is_file(), "nothing reached the bucket: errored.tfstate must stay"
        assert json.loads(backend.local_path.read_text())["serial"] == 1
    finally:
        persister.close()
        proxy.disarm()
    assert backend.read_remote().serial == 1  # the slow write did end, after the deadline


# -- 2. recovery after StateWriteFailed ------------------------------------------------------------

DENY_STATE_WRITES = [rule(service="s3", operation="PutObject", effect="error", code="AccessDenied", status=403)]
LOCK_IN_TABLE = {"dynamodb_table": "sm-rec-locks", "use_lockfile": False}  # state writes are the only PutObject


def _bucket_state(engine: EmbeddedEngine) -> State:
    remote = engine.backend.read_remote()
    assert remote is not None
    return remote


def test_a_reapply_that_changes_nothing_writes_the_state_a_failed_write_left_locally(faulty, proxy, tmp_path):
    _engine(faulty, tmp_path, vpc(tags={"Name": "a"}), **LOCK_IN_TABLE).apply()
    proxy.set_rules(DENY_STATE_WRITES)
    failed = _engine(faulty, tmp_path, vpc(tags={"Name": "b"}), "v2", **LOCK_IN_TABLE)
    with pytest.raises(StateWriteFailed, match="AccessDenied"):
        failed.apply()
    proxy.disarm()
    assert failed.backend.errored_path.is_file()
    assert _bucket_state(failed).get("aws_vpc.v")["tags_all"] == {"Name": "a"}  # the bucket missed the update
    again = _engine(faulty, tmp_path, vpc(tags={"Name": "b"}), "v3", **LOCK_IN_TABLE)
    plan = again.apply()
    assert not plan.has_changes()
    bucket = _bucket_state(again)
    assert bucket.serial == again.state.serial and bucket.get("aws_vpc.v")["tags_all"] == {"Name": "b"}
    assert not again.backend.errored_path.is_file()


def test_a_destroy_that_changes_nothing_writes_the_state_a_failed_write_left_locally(faulty, proxy, tmp_path):
    engine = _engine(faulty, tmp_path, vpc(), **LOCK_IN_TABLE)
    engine.apply()
    proxy.set_rules(DENY_STATE_WRITES)
    with pytest.raises(StateWriteFailed, match="AccessDenied"):
        _engine(faulty, tmp_path, vpc(), "v2", **LOCK_IN_TABLE).destroy()
    proxy.disarm()
    assert _bucket_state(engine).addresses() == ["aws_vpc.v"]  # destroyed, but the bucket still names it
    again = _engine(faulty, tmp_path, vpc(), "v3", **LOCK_IN_TABLE)
    assert again.destroy() == 0
    bucket = _bucket_state(again)
    assert bucket.addresses() == [] and bucket.serial == again.state.serial
    assert not again.backend.errored_path.is_file()


# -- 3. errored.tfstate and the local copy ---------------------------------------------------------

def _at(state: State, serial: int) -> str:
    """A snapshot of `state` (same lineage) at `serial`."""
    data = json.loads(state.snapshot())
    data["serial"] = serial
    return json.dumps(data)


def test_the_newer_of_errored_state_and_local_copy_is_read(faulty, tmp_path):
    engine = _engine(faulty, tmp_path, {})
    engine.backend_check(bootstrap=True)
    backend, state = engine.backend, State()
    _change(state, 0)
    backend.keep_errored(_at(state, 1))  # one failed write
    backend.write_remote(_at(state, 2))  # a later one went through
    backend.write_local(_at(state, 3))  # the latest change, then the process was killed
    read, origin = backend.read()
    assert (read.serial, origin) == (3, "local copy (newer than the bucket)")
    backend.keep_errored(_at(state, 4))  # errored newer than the local copy: it wins
    assert backend.read_local().serial == 4
    backend.keep_errored(State().snapshot())  # an empty state of another lineage never hides the copy
    assert backend.read_local().serial == 3


def test_a_later_bucket_write_removes_the_errored_state_of_an_earlier_failed_one(faulty, proxy, tmp_path):
    engine = _engine(faulty, tmp_path, {})
    engine.backend_check(bootstrap=True)
    backend, state = engine.backend, State()
    proxy.set_rules([rule(service="s3", operation="PutObject", effect="error", code="AccessDenied", status=403,
                          first=1)])
    persister = Persister(backend, state, lambda _msg: None, interval=1.5)
    try:
        _change(state, 0)
        persister.changed()
        _until(lambda: persister.written_serial == 1)  # denied: kept in errored.tfstate
        assert backend.errored_path.is_file() and persister.error is not None
        _change(state, 1)
        persister.changed()
        _until(lambda: persister.writes == 1)  # within the interval: this one went through
        assert not backend.errored_path.is_file()
        _change(state, 2)
        persister.changed()
        read, _ = backend.read()  # what a run would read if this one were killed now (next write: 1.5 s)
        assert read.serial == state.serial == 3
    finally:
        persister.close()
        proxy.disarm()


# -- 4. the journal, read under the lock -----------------------------------------------------------

ORPHAN_TAGS = {"Name": "rec-orphan"}


def _orphan(engine: EmbeddedEngine, clients: ClientFactory) -> str:
    """What a run that held the lock left when it died between CreateVpc and the state write: its own
    journal entry on disk (written through its own Journal) and the VPC."""
    args = {"cidr_block": "10.60.0.0/16", "tags": ORPHAN_TAGS, "tags_all": ORPHAN_TAGS, "region": "us-east-1"}
    Journal(engine.journal.path).begin("aws_vpc.v", "aws_vpc", args, [])
    return clients.client("ec2").create_vpc(CidrBlock="10.60.0.0/16", TagSpecifications=[
        {"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": "rec-orphan"}]}])["Vpc"]["VpcId"]


def _named_orphans(clients: ClientFactory) -> list[str]:
    vpcs = clients.client("ec2").describe_vpcs(Filters=[{"Name": "tag:Name", "Values": ["rec-orphan"]}])["Vpcs"]
    return [v["VpcId"] for v in vpcs]


def test_journal_entries_left_after_the_engine_was_built_are_adopted(faulty, tmp_path):
    engine = _engine(faulty, tmp_path, vpc(tags=ORPHAN_TAGS))  # built: pending.json read (nothing yet)
    engine.backend_check(bootstrap=True)
    orphan = _orphan(engine, faulty)  # meanwhile, another run journaled, created, and died
    engine.apply()
    assert engine.state.get("aws_vpc.v")["id"] == orphan
    assert _named_orphans(faulty) == [orphan], "adopted, not created a second time"
    assert not engine.journal.path.exists()


# -- 5. prevent_destroy after adoption -------------------------------------------------------------

def test_destroy_refuses_an_adopted_resource_with_prevent_destroy(faulty, tmp_path):
    engine = _engine(faulty, tmp_path, vpc(tags=ORPHAN_TAGS, lifecycle={"prevent_destroy": True}))
    engine.backend_check(bootstrap=True)
    orphan = _orphan(engine, faulty)  # in no state yet: only the journal names it
    with pytest.raises(PreventDestroy, match=r"aws_vpc\.v has lifecycle\.prevent_destroy set"):
        engine.destroy()
    assert _named_orphans(faulty) == [orphan], "not destroyed"
    assert _bucket_state(engine).get("aws_vpc.v")["id"] == orphan, "the adoption is recorded"


# -- 6. a lock write retried after its first attempt took effect -----------------------------------

@pytest.mark.parametrize(("backend", "service", "operation"), [
    ({}, "s3", "PutObject"),
    (LOCK_IN_TABLE, "dynamodb", "PutItem"),
    ({"dynamodb_table": "sm-rec-locks"}, "dynamodb", "PutItem"),  # both kinds: the file is taken first
], ids=["lockfile", "table", "both"])
def test_a_lock_write_whose_answer_was_lost_is_ours_after_the_retry(faulty, proxy, tmp_path, backend, service,
                                                                   operation):
    engine = _engine(faulty, tmp_path, {}, **backend)
    engine.backend_check(bootstrap=True)
    proxy.set_rules([rule(service=service, operation=operation, effect="reset", when="after", first=1)])
    info = engine.backend.lock("OperationTypeApply", {"cell": "rec"})
    proxy.disarm()
    assert proxy.stats()["faults"]["by_operation"] == {f"{service}:{operation}": 1}  # the answer was lost once
    assert info is not None
    assert engine.backend.current_lock()["ID"] == info.ID
    engine.backend.unlock(info.ID)
    assert engine.backend.current_lock() is None


# -- 7. the digest write of a state write fails ------------------------------------------------------

def test_a_failed_digest_write_is_repaired_by_the_next_apply(faulty, proxy, tmp_path):
    engine = _engine(faulty, tmp_path, vpc(), **LOCK_IN_TABLE)
    engine.apply()
    backend, state = engine.backend, engine.state
    assert state is not None
    proxy.set_rules([rule(service="dynamodb", operation="PutItem", effect="error", code="AccessDeniedException",
                          status=400)])  # the object lands, its digest does not
    persister = Persister(backend, state, lambda _msg: None, interval=60.0)
    try:
        state.set_outputs({"probe": "1"})
        persister.changed()
        with pytest.raises(StateWriteFailed, match="AccessDeniedException"):
            persister.flush(timeout=30)
    finally:
        persister.close()
        proxy.disarm()
    cfg = backend.config
    body = backend.s3.get_object(Bucket=cfg.bucket, Key=cfg.key)["Body"].read()
    assert json.loads(body)["outputs"] == {"probe": {"value": "1", "type": "string"}}  # the object landed

    def digest() -> str:
        item = backend.ddb.get_item(TableName=cfg.dynamodb_table, ConsistentRead=True,
                                    Key={"LockID": {"S": f"{cfg.lock_path}-md5"}})["Item"]
        return item["Digest"]["S"]

    assert digest() != hashlib.md5(body).hexdigest()  # noqa: S324 - stale: what terraform would refuse
    # elsewhere (no local copy holding these bytes) the mismatch is refused, naming the fix
    with pytest.raises(StateConflict, match=f"give the item LockID={cfg.lock_path}-md5 the Digest "
                                            f"{hashlib.md5(body).hexdigest()}"):  # noqa: S324
        StateBackend(faulty, cfg, tmp_path / "elsewhere").read_remote()
    # here the local copies prove it: the next apply reads it and writes object and digest again
    again = _engine(faulty, tmp_path, vpc(), "v2", **LOCK_IN_TABLE)
    again.apply()
    body = backend.s3.get_object(Bucket=cfg.bucket, Key=cfg.key)["Body"].read()
    assert digest() == hashlib.md5(body).hexdigest()  # noqa: S324 - terraform reads it again
    assert json.loads(body)["serial"] == again.state.serial and not again.backend.errored_path.is_file()
    assert StateBackend(faulty, cfg, tmp_path / "elsewhere").read_remote() is not None
    assert again.destroy() == 1


# -- 8. a lock taken by another process while ours is being released ---------------------------------

@pytest.mark.parametrize(("backend", "service", "operation"), [
    ({}, "s3", "DeleteObject"),
    (LOCK_IN_TABLE, "dynamodb", "DeleteItem"),
], ids=["lockfile", "table"])
def test_releasing_a_lock_never_deletes_one_another_process_took_meanwhile(faulty, proxy, cell_access, tmp_path,
                                                                          backend, service, operation):
    engine = _engine(faulty, tmp_path, {}, **backend)
    engine.backend_check(bootstrap=True)
    ours = engine.backend.lock("OperationTypeApply", {"cell": "rec"})
    assert ours is not None
    # our release's delete waits in the proxy; meanwhile another process (its own clients, no proxy)
    # force-unlocks our lock and takes its own
    proxy.set_rules([rule(name="slow-delete", service=service, operation=operation, effect="latency",
                          latency_ms=1500)])
    failure: list[BaseException] = []

    def release() -> None:
        try:
            engine.backend.unlock(ours.ID)
        except BaseException as exc:  # handed to the test thread
            failure.append(exc)

    releasing = threading.Thread(target=release)
    releasing.start()
    _until(lambda: proxy.stats()["rule_counters"]["slow-delete"]["matched"] >= 1, 10)
    other = StateBackend(ClientFactory(cell_access), engine.backend.config, tmp_path / "other")
    other.unlock(ours.ID, force=True)
    theirs = LockInfo.new("OperationTypeApply", engine.backend.config.lock_path, {"cell": "other"})
    assert other.try_lock(theirs)
    releasing.join(timeout=30)
    proxy.disarm()
    assert len(failure) == 1 and isinstance(failure[0], StackmatrixError), failure
    assert f"changed while lock ID {ours.ID!r} was being released" in str(failure[0])
    assert "another process took it; nothing of theirs was released" in str(failure[0])
    assert other.current_lock()["ID"] == theirs.ID  # their lock holds
    other.unlock(theirs.ID)
    assert other.current_lock() is None


# -- 9. an interrupted create_before_destroy replacement ---------------------------------------------

def test_the_deposed_object_is_never_adopted_as_the_current_one(faulty, tmp_path):
    engine = _engine(faulty, tmp_path, vpc(tags=ORPHAN_TAGS, lifecycle={"create_before_destroy": True}))
    engine.apply()
    state = engine.state
    assert state is not None
    old = state.get("aws_vpc.v")["id"]
    # a replacement deposed the old object and journaled the new one's create, then died before CreateVpc
    state.depose("aws_vpc.v")
    engine.backend.write_local(state.snapshot())
    engine.backend.write_remote(state.snapshot())
    args = {"cidr_block": "10.60.0.0/16", "tags": ORPHAN_TAGS, "tags_all": ORPHAN_TAGS, "region": "us-east-1"}
    Journal(engine.journal.path).begin("aws_vpc.v", "aws_vpc", args, [])
    again = _engine(faulty, tmp_path, vpc(tags=ORPHAN_TAGS, lifecycle={"create_before_destroy": True}), "v2")
    again.apply()
    current = again.state.get("aws_vpc.v")["id"]
    assert current != old and again.state.deposed() == []  # a new object; the deposed one deleted
    assert _named_orphans(faulty) == [current], "the state's object exists, the old one is gone"
    assert again.destroy() == 1
    assert _named_orphans(faulty) == []
