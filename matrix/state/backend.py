"""The S3 state backend exactly as terraform uses it: state object, lock file, DynamoDB lock, digest.

Terraform 1.11's S3 backend (observed against the emulator, see tests/test_terraform_interop.py):
* state: PutObject `<key>` (ServerSideEncryption=AES256 when `encrypt`), JSON state v4;
* `use_lockfile`: PutObject `<key>.tflock` with `If-None-Match: *`, body = lock info JSON;
  unlock = GetObject (check the ID) + DeleteObject;
* `dynamodb_table`: PutItem {LockID: "<bucket>/<key>", Info: lock info JSON} with
  `attribute_not_exists(LockID)`; after each state write PutItem {LockID: "<bucket>/<key>-md5",
  Digest: md5 hex}, which readers compare with the state they fetched.
Lock info keys are terraform's: ID, Operation, Info, Who, Version, Created, Path. So terraform
respects our locks, we respect terraform's, and `terraform force-unlock` works on ours.

`StateBackend` also keeps a local copy of the state under build/state/<cell>/ after every change
(atomic rename: matrix/files.py) and, when the bucket cannot be written, an `errored.tfstate` next to it, as
terraform does; `read_local()` takes the newer of those two and `read()` the newer of that and the bucket
(same lineage, higher serial). errored.tfstate goes once a bucket write holds its serial or a later one.

A state write whose object landed but whose digest PutItem failed leaves a digest that no longer matches
the object: terraform then refuses to read it. When the local copy or errored.tfstate holds exactly the
object's bytes (this run's own write, proven byte for byte), `read()` accepts it and says so in its origin
("bucket, stale digest"), so the engine writes state and digest again; any other mismatch is refused.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import socket
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from matrix.clients import ClientFactory
from matrix.errors import ConfigError, StackmatrixError
from matrix.files import write_atomic
from matrix.state.tfstate import TERRAFORM_VERSION, State, StateError


@dataclass
class Backend:
    """Where a cell's state lives and how it is locked: the synthesized `terraform.backend.s3` block."""

    bucket: str
    key: str
    region: str
    encrypt: bool = False
    use_lockfile: bool = False
    dynamodb_table: str | None = None

    @property
    def lock_path(self) -> str:
        return f"{self.bucket}/{self.key}"


def backend_of(doc: dict[str, Any]) -> Backend | None:
    """The S3 backend of a synthesized document (both engines read it here), None when it has none.

    Only location and locking are read: the embedded engine checks the block's other keys itself."""
    backends = (doc.get("terraform") or {}).get("backend") or {}
    if not backends:
        return None
    if "s3" not in backends:
        raise ConfigError(f"terraform.backend: only the s3 backend is supported (found {', '.join(backends)})")
    b = backends["s3"]
    for arg in ("bucket", "key", "region"):
        if not isinstance(b.get(arg), str) or not b[arg]:
            raise ConfigError(f"terraform.backend.s3: {arg} is required")
    return Backend(bucket=b["bucket"], key=b["key"], region=b["region"], encrypt=bool(b.get("encrypt")),
                   use_lockfile=bool(b.get("use_lockfile")), dynamodb_table=b.get("dynamodb_table") or None)


class MissingStateBucket(StackmatrixError):
    def __init__(self, bucket: str, region: str, detail: str = "") -> None:
        super().__init__(
            f"state bucket {bucket!r} does not exist in {region} (NoSuchBucket). "
            f"Create it (versioning, encryption, public access block), or run again with --bootstrap-backend "
            f"to let stackmatrix create it{'. ' + detail if detail else ''}")
        self.bucket, self.region, self.detail = bucket, region, detail


class MissingLockTable(StackmatrixError):
    def __init__(self, table: str, region: str) -> None:
        super().__init__(
            f"DynamoDB lock table {table!r} does not exist in {region} (ResourceNotFoundException): state "
            "locking is misconfigured. Create it with hash key LockID (type S), use S3 native locking "
            "(use_lockfile = true) instead, or run with --bootstrap-backend")
        self.table, self.region = table, region


class LockHeld(StackmatrixError):
    def __init__(self, info: dict[str, Any], waited: float) -> None:
        who, lid = info.get("Who", "?"), info.get("ID", "?")
        super().__init__(
            f"Error acquiring the state lock: lock held by {who} (ID {lid}, operation {info.get('Operation', '?')}, "
            f"created {info.get('Created', '?')}, path {info.get('Path', '?')}); waited {waited:.0f} s. "
            f"If that run is gone, release it with: python -m matrix force-unlock {lid} --cell <cell>")
        self.info = info


class StateWriteFailed(StackmatrixError):
    """The state could not be written to the bucket; a local copy was kept."""


class StateConflict(StackmatrixError):
    """Remote and local state belong to different deployments (lineages)."""


@dataclass
class LockInfo:
    ID: str
    Operation: str
    Info: str
    Who: str
    Version: str
    Created: str
    Path: str

    @classmethod
    def new(cls, operation: str, path: str, details: dict[str, Any]) -> LockInfo:
        return cls(
            ID=str(uuid.uuid4()), Operation=operation, Info=json.dumps(details, sort_keys=True),
            Who=f"{getpass.getuser()}@{socket.gethostname()}", Version=TERRAFORM_VERSION,
            Created=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"), Path=path,
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self))


def _code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")


def _status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


class StateBackend:
    def __init__(self, clients: ClientFactory, config: Backend, local_dir: Path) -> None:
        self.clients = clients
        self.config = config
        self.local_dir = Path(local_dir)
        self.local_path = self.local_dir / "terraform.tfstate"
        self.errored_path = self.local_dir / "errored.tfstate"
        self._write_lock = threading.Lock()
        self.stale_digest = False  # the last read found a digest our own local copies prove stale

    @property
    def s3(self) -> Any:
        return self.clients.client("s3", self.config.region)

    @property
    def ddb(self) -> Any:
        return self.clients.client("dynamodb", self.config.region)

    # -- existence and bootstrap ---------------------------------------------------------------
    def bucket_exists(self) -> bool:
        try:
            self.s3.head_bucket(Bucket=self.config.bucket)
            return True
        except ClientError as exc:
            if _code(exc) in ("404", "NoSuchBucket", "NotFound") or _status(exc) == 404:
                return False
            raise

    def table_exists(self) -> bool:
        try:
            self.ddb.describe_table(TableName=self.config.dynamodb_table)
            return True
        except ClientError as exc:
            if _code(exc) == "ResourceNotFoundException":
                return False
            raise

    def check(self, bootstrap: bool = False) -> list[str]:
        """Raise MissingStateBucket/MissingLockTable, or create them with `bootstrap`. Returns actions."""
        done = []
        if not self.bucket_exists():
            if not bootstrap:
                raise MissingStateBucket(self.config.bucket, self.config.region)
            self.create_bucket()
            done.append(f"created state bucket {self.config.bucket}")
        if self.config.dynamodb_table and not self.table_exists():
            if not bootstrap:
                raise MissingLockTable(self.config.dynamodb_table, self.config.region)
            self.create_table()
            done.append(f"created lock table {self.config.dynamodb_table}")
        return done

    def create_bucket(self) -> None:
        s3, bucket = self.s3, self.config.bucket
        kw: dict[str, Any] = {"Bucket": bucket}
        if self.config.region != "us-east-1":
            kw["CreateBucketConfiguration"] = {"LocationConstraint": self.config.region}
        try:
            s3.create_bucket(**kw)
        except ClientError as exc:
            if _code(exc) == "BucketAlreadyOwnedByYou":
                pass
            elif _code(exc) == "BucketAlreadyExists" and self.bucket_exists():
                return  # another cell created it a moment ago and we can use it
            else:
                raise
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
        s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
            "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True})

    def create_table(self) -> None:
        try:
            self.ddb.create_table(
                TableName=self.config.dynamodb_table, BillingMode="PAY_PER_REQUEST",
                KeySchema=[{"AttributeName": "LockID", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "LockID", "AttributeType": "S"}])
        except ClientError as exc:
            if _code(exc) != "ResourceInUseException":
                raise
        self.ddb.get_waiter("table_exists").wait(TableName=self.config.dynamodb_table,
                                                 WaiterConfig={"Delay": 1, "MaxAttempts": 60})

    # -- state ---------------------------------------------------------------------------------
    def read_remote(self) -> State | None:
        try:
            body = self.s3.get_object(Bucket=self.config.bucket, Key=self.config.key)["Body"].read()
        except ClientError as exc:
            if _code(exc) in ("NoSuchKey", "404"):
                return None
            if _code(exc) == "NoSuchBucket":
                raise MissingStateBucket(self.config.bucket, self.config.region) from exc
            raise
        self.stale_digest = False
        if not body:
            return None
        if self.config.dynamodb_table:
            self._verify_digest(body)
        return State.from_json(body, f"s3://{self.config.bucket}/{self.config.key}")

    def _verify_digest(self, body: bytes) -> None:
        item = self.ddb.get_item(TableName=self.config.dynamodb_table, ConsistentRead=True,
                                 Key={"LockID": {"S": f"{self.config.lock_path}-md5"}}).get("Item")
        want = (item or {}).get("Digest", {}).get("S")
        got = hashlib.md5(body).hexdigest()  # noqa: S324 - terraform's own checksum
        if want and want != got:
            if self._written_here(body):  # our write landed, its digest did not: the engine rewrites both
                self.stale_digest = True
                return
            raise StateConflict(
                f"state data in S3 does not have the expected content: the checksum in "
                f"{self.config.dynamodb_table} ({want}) does not match s3://{self.config.bucket}/{self.config.key}; "
                "another writer may be mid-update, or a write's digest update failed on another machine. Retry; "
                f"if the object is known good, give the item LockID={self.config.lock_path}-md5 the Digest "
                f"{got} (what terraform expects)")

    def _written_here(self, body: bytes) -> bool:
        """The local copy or errored.tfstate holds exactly these bytes: a state this machine wrote."""
        return any(path.is_file() and path.read_bytes() == body for path in (self.local_path, self.errored_path))

    @staticmethod
    def _read_file(path: Path) -> State | None:
        if not path.is_file():
            return None
        try:
            return State.from_json(path.read_text(), str(path))
        except StateError:
            return None

    def read_local(self) -> State | None:
        """The newer of errored.tfstate and the local copy (the local copy is written at every change, so
        an errored.tfstate left by one failed write is older once later changes were made)."""
        errored, local = self._read_file(self.errored_path), self._read_file(self.local_path)
        if errored is None or local is None:
            return local if errored is None else errored
        if errored.lineage == local.lineage:
            return errored if errored.serial > local.serial else local
        if errored.is_empty():
            return local
        if local.is_empty():
            return errored
        raise StateConflict(
            f"{self.errored_path} (lineage {errored.lineage}) and {self.local_path} (lineage {local.lineage}) "
            "belong to different deployments; move the one that is wrong away")

    def read(self, bucket_may_be_gone: bool = False) -> tuple[State, str]:
        """The newest state among bucket and local copies: (state, where it came from)."""
        try:
            remote = self.read_remote()
        except MissingStateBucket:
            if not bucket_may_be_gone:
                raise
            remote = None
        local = self.read_local()
        if remote and local and remote.lineage != local.lineage:
            if local.is_empty():
                return remote, "bucket"
            if remote.is_empty():
                return local, "local copy"
            raise StateConflict(
                f"the state in s3://{self.config.bucket}/{self.config.key} (lineage {remote.lineage}) and the "
                f"local copy {self.local_path} (lineage {local.lineage}) belong to different deployments; "
                "move the local copy away if the bucket is right")
        if local and (remote is None or local.serial > remote.serial):
            return local, "local copy (newer than the bucket)"
        if remote:
            return remote, "bucket, stale digest" if self.stale_digest else "bucket"
        return State(), "new"

    def write_local(self, snapshot: str) -> None:
        with self._write_lock:
            write_atomic(self.local_path, snapshot)

    def write_remote(self, snapshot: str) -> None:
        body = snapshot.encode()
        kw: dict[str, Any] = {"Bucket": self.config.bucket, "Key": self.config.key, "Body": body,
                              "ContentType": "application/json"}
        if self.config.encrypt:
            kw["ServerSideEncryption"] = "AES256"
        self.s3.put_object(**kw)
        if self.config.dynamodb_table:
            self.ddb.put_item(TableName=self.config.dynamodb_table, Item={
                "LockID": {"S": f"{self.config.lock_path}-md5"},
                "Digest": {"S": hashlib.md5(body).hexdigest()}})  # noqa: S324

    def keep_errored(self, snapshot: str) -> Path:
        write_atomic(self.errored_path, snapshot)
        return self.errored_path

    def clear_errored(self, lineage: str | None = None, serial: int | None = None) -> None:
        """Remove errored.tfstate; with `lineage` and `serial` (a state the bucket now holds), only when the
        bucket holds its serial or a later one of the same lineage."""
        if lineage is not None and serial is not None:
            errored = self._read_file(self.errored_path)
            if errored is None or errored.lineage != lineage or errored.serial > serial:
                return
        self.errored_path.unlink(missing_ok=True)

    # -- locks ---------------------------------------------------------------------------------
    @property
    def lockfile_key(self) -> str:
        return f"{self.config.key}.tflock"

    def current_lock(self) -> dict[str, Any] | None:
        holder = self._lockfile_holder() if self.config.use_lockfile else None
        if holder is None and self.config.dynamodb_table:
            holder = self._table_holder()
        return holder

    def _lockfile_holder(self) -> dict[str, Any] | None:
        return self._lockfile()[0]

    def _lockfile(self) -> tuple[dict[str, Any] | None, str]:
        """The lock file's holder and its ETag (what a conditional delete names), or (None, "")."""
        try:
            got = self.s3.get_object(Bucket=self.config.bucket, Key=self.lockfile_key)
        except ClientError as exc:
            if _code(exc) == "NoSuchBucket":  # no bucket, no lock: say which bucket is missing
                raise MissingStateBucket(self.config.bucket, self.config.region) from exc
            if _code(exc) not in ("NoSuchKey", "404"):
                raise
            return None, ""
        etag = str(got.get("ETag", ""))
        try:
            return json.loads(got["Body"].read()), etag
        except ValueError:
            return {"ID": "?", "Who": "unreadable lock file"}, etag

    def _table_holder(self) -> dict[str, Any] | None:
        return self._table_lock()[0]

    def _table_lock(self) -> tuple[dict[str, Any] | None, str | None]:
        """The lock table's holder and the item's Info as stored (what a conditional delete names)."""
        item = self.ddb.get_item(TableName=self.config.dynamodb_table, ConsistentRead=True,
                                 Key={"LockID": {"S": self.config.lock_path}}).get("Item")
        if item and "Info" in item:
            info = item["Info"]["S"]
            try:
                holder = json.loads(info)
            except ValueError:
                holder = None
            return (holder if isinstance(holder, dict) else {"ID": "?", "Who": "unreadable lock item"}), info
        return None, None

    def try_lock(self, info: LockInfo) -> bool:
        """Take the lock described by `info` now, if nobody holds it; False when it is held.

        A conditional write refused as a conflict may be botocore's retry of our own write whose first
        attempt took effect (its answer lost): the lock is then ours if it holds our ID."""
        got_file = False
        if self.config.use_lockfile:
            kw: dict[str, Any] = {"Bucket": self.config.bucket, "Key": self.lockfile_key,
                                  "Body": info.to_json().encode(), "ContentType": "application/json",
                                  "IfNoneMatch": "*"}
            if self.config.encrypt:
                kw["ServerSideEncryption"] = "AES256"
            try:
                self.s3.put_object(**kw)
                got_file = True
            except ClientError as exc:
                if not (_code(exc) in ("PreconditionFailed", "ConditionalRequestConflict")
                        or _status(exc) in (409, 412)):
                    raise
                if (self._lockfile_holder() or {}).get("ID") != info.ID:
                    return False
                got_file = True  # our own write, retried
        if self.config.dynamodb_table:
            try:
                self.ddb.put_item(TableName=self.config.dynamodb_table,
                                  Item={"LockID": {"S": self.config.lock_path}, "Info": {"S": info.to_json()}},
                                  ConditionExpression="attribute_not_exists(LockID)")
            except ClientError as exc:
                conflict = _code(exc) == "ConditionalCheckFailedException"
                if conflict and (self._table_holder() or {}).get("ID") == info.ID:
                    return True  # our own write, retried
                if got_file:
                    self._delete_lockfile()
                if conflict:
                    return False
                if _code(exc) == "ResourceNotFoundException":
                    raise MissingLockTable(self.config.dynamodb_table, self.config.region) from exc
                raise
        return True

    def lock(self, operation: str, details: dict[str, Any], timeout: float = 0.0,
             cancel: threading.Event | None = None) -> LockInfo | None:
        """Take the state lock (both kinds when both are configured); wait up to `timeout` seconds."""
        if not (self.config.use_lockfile or self.config.dynamodb_table):
            return None
        info = LockInfo.new(operation, self.config.lock_path, details)
        started = time.monotonic()
        delay = 0.5
        while True:
            if self.try_lock(info):
                return info
            waited = time.monotonic() - started
            if waited >= timeout:
                raise LockHeld(self.current_lock() or {"Path": self.config.lock_path}, waited)
            if cancel is not None and cancel.wait(min(delay, timeout - waited)):
                raise LockHeld(self.current_lock() or {"Path": self.config.lock_path}, waited)
            if cancel is None:
                time.sleep(min(delay, max(timeout - waited, 0.0)))
            delay = min(delay * 1.5, 5.0)

    def _delete_lockfile(self, etag: str = "") -> bool:
        """Delete the lock file; with `etag`, only that version of it (S3 conditional delete, `If-Match`):
        False when it was replaced meanwhile (another process took the lock), and nothing was deleted."""
        kw: dict[str, Any] = {"Bucket": self.config.bucket, "Key": self.lockfile_key}
        if etag:
            kw["IfMatch"] = etag
        try:
            self.s3.delete_object(**kw)
        except ClientError as exc:
            if etag and (_code(exc) == "PreconditionFailed" or _status(exc) == 412):
                return False
            if etag and (_code(exc) == "NotImplemented" or _status(exc) == 501):
                # no conditional delete here (LocalStack's community S3 answers NotImplemented; AWS and moto
                # honour If-Match): check the ETag again, then delete, as terraform always does
                return self._lockfile()[1] == etag and self._delete_lockfile()
            if _code(exc) not in ("NoSuchKey", "404", "NoSuchBucket"):
                raise
        return True

    def _replaced(self, lock_id: str, holder: dict[str, Any] | None) -> StackmatrixError:
        return StackmatrixError(
            f"the lock on {self.config.lock_path} changed while lock ID {lock_id!r} was being released (now "
            f"{'held by ' + str(holder.get('Who')) + ', ID ' + repr(holder.get('ID')) if holder else 'free'}): "
            "another process took it; nothing of theirs was released")

    def unlock(self, lock_id: str, force: bool = False) -> None:
        """Release the lock `lock_id`; refuse (StackmatrixError) when someone else holds it.

        Each delete is conditional on the lock read for the check (the lock file's ETag, the table item's
        Info): a lock another process took between the check and the delete is never released."""
        holder, etag = self._lockfile() if self.config.use_lockfile else (None, "")
        in_table, info = self._table_lock() if self.config.dynamodb_table else (None, None)
        holder = holder or in_table
        if holder is None:
            return
        if holder.get("ID") != lock_id:
            raise StackmatrixError(
                f"lock ID {lock_id!r} does not match the lock held on {self.config.lock_path} "
                f"(ID {holder.get('ID')!r}, held by {holder.get('Who')}); nothing was released")
        if etag and not self._delete_lockfile(etag):
            raise self._replaced(lock_id, self._lockfile_holder())
        if in_table is not None:  # none: the lock file held it alone
            if in_table.get("ID") != lock_id:
                raise self._replaced(lock_id, in_table)
            try:
                self.ddb.delete_item(TableName=self.config.dynamodb_table,
                                     Key={"LockID": {"S": self.config.lock_path}},
                                     ConditionExpression="Info = :info",
                                     ExpressionAttributeValues={":info": {"S": info}})
            except ClientError as exc:
                if _code(exc) == "ConditionalCheckFailedException":
                    now = self._table_holder()
                    if now is not None:
                        raise self._replaced(lock_id, now) from exc
                    return  # released meanwhile (force-unlocked): nothing left to release
                if _code(exc) != "ResourceNotFoundException":
                    raise
