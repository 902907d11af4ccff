"""The embedded engine: applies a synthesized cdk.tf.json with boto3, terraform-compatibly.

How the parts fit:
  config.load_config()  -> nodes, order, outputs, backend; every argument checked against its
                           table (arguments/): refused by name before any API call, or known
  backend.StateBackend  -> state v4 in the synthesized S3 backend + local copy, terraform's locks
  plan()                -> refresh (readback.read_grouped: one read per type and region), data
                           sources, desired vs live argument by argument (readback.differences):
                           create / update / replace / delete / noop, drift named; changes of
                           terraform-only arguments are state-only, never an "update"
  apply()               -> deletes in reverse dependency order, then creates/updates in dependency
                           order, independent resources concurrently (bounded); every update is
                           an API call per changed argument (Handler.update); state written after
                           every change (local at once; the bucket at the first change, then at
                           most every 20 s like terraform, and at the end: Persister); then the
                           read-back: every changed resource described again, compared with what
                           was applied, the state set to what AWS holds, a mismatch named
                           (readback.ReadBackMismatch)
  destroy()             -> from state alone, reverse dependency order, idempotent
  _run_graph()          -> both orders: graphlib.TopologicalSorter; what is ready together runs
                           together; a dependency cycle fails naming what could not be ordered

Meta-arguments: depends_on orders; lifecycle.ignore_changes drops arguments from the update diff
and its read-back; prevent_destroy fails a plan (or a destroy) that would destroy the resource,
before any change; create_before_destroy creates the replacement first and destroys the old
object (deposed in the state meanwhile) once everything else is applied.

Crash safety: before each create the engine journals the resource's arguments (pending.json next
to the local state); after a crash between "created" and "recorded", the next apply or destroy
finds the orphan through the handler's `find()` and adopts it, so re-runs never duplicate and
destroys never leak.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter
from pathlib import Path
from typing import Any

from botocore.exceptions import ConnectionError as BotoConnectionError
from botocore.exceptions import HTTPClientError

from matrix.clients import ClientFactory
from matrix.engines.embedded import expressions as ex
from matrix.engines.embedded.arguments.normalize import equal
from matrix.engines.embedded.arguments.spec import LOCAL
from matrix.engines.embedded.config import ConfigError, TfConfig, account_problem, load_config
from matrix.engines.embedded.readback import (
    Difference,
    ReadBackMismatch,
    ReadItem,
    compared_args,
    differences,
    kind_of,
    read_grouped,
)
from matrix.engines.embedded.resources import DATA_SOURCES, HANDLERS
from matrix.engines.embedded.resources.base import Cancelled, Ctx, Handler
from matrix.errors import StackmatrixError
from matrix.files import write_atomic
from matrix.redact import redact
from matrix.state.backend import LockHeld, StateBackend, StateWriteFailed
from matrix.state.stale_lock import holder_identity, release_if_dead
from matrix.state.tfstate import State


class ApplyError(StackmatrixError):
    """A resource could not be created, changed or deleted (names address and cause)."""

    def __init__(self, address: str, action: str, cause: BaseException) -> None:
        super().__init__(f"{action} {address} failed: {type(cause).__name__}: {cause}")
        self.address, self.action, self.cause = address, action, cause


STATE_PERSIST_INTERVAL = 20.0  # bucket writes during an operation: at most this often (terraform's since 1.5)


@dataclass
class EngineOptions:
    lock_timeout: float = 0.0
    bootstrap_backend: bool = False
    concurrency: int = 8
    variables: dict[str, Any] = field(default_factory=dict)
    wait_timeout: float = 600.0
    poll: float = 0.2
    lock_details: dict[str, Any] = field(default_factory=dict)
    state_persist_interval: float = STATE_PERSIST_INTERVAL


@dataclass
class Change:
    address: str
    action: str  # create | update | replace | delete | noop
    reason: str = ""
    drift: bool = False
    changed: set[str] = field(default_factory=set)  # arguments an update changes in place
    state_only: list[str] = field(default_factory=list)  # terraform-only arguments: no API call

    def line(self) -> str:
        sym = {"create": "+", "update": "~", "replace": "-/+", "delete": "-", "noop": " "}[self.action]
        why = f"  ({self.reason})" if self.reason else ""
        if self.state_only:
            why += f"  (state only, no API call: {', '.join(self.state_only)})"
        return f"{sym} {self.address}{why}"


@dataclass
class Plan:
    changes: list[Change]

    def counts(self) -> dict[str, int]:
        out = {"create": 0, "update": 0, "replace": 0, "delete": 0, "noop": 0}
        for c in self.changes:
            out[c.action] += 1
        return out

    @property
    def drift(self) -> list[Change]:
        return [c for c in self.changes if c.drift]

    def has_changes(self) -> bool:
        return any(c.action != "noop" for c in self.changes)

    def summary(self) -> str:
        c = self.counts()
        if not self.has_changes():
            return "no changes: the deployed cell matches the configuration"
        return (f"{c['create']} to add, {c['update']} to change, {c['replace']} to replace, "
                f"{c['delete']} to destroy")

    def lines(self) -> list[str]:
        out = [c.line() for c in self.changes if c.action != "noop" or c.state_only]
        out += [f"! {c.address} drifted: {c.reason}" for c in self.drift]
        return out


class Persister:
    """Writes state snapshots to the bucket on its own thread: the first change at once, later ones at
    most every `interval` seconds while the operation goes on (terraform's rule since 1.5: an intermediate
    snapshot at least 20 s after the previous one), and the last one when the operation ends (`flush()`,
    or `close()` after a failure). The local copy is written at every change (`changed()`), so a killed
    process loses nothing: `StateBackend.read()` takes the local copy when it is newer than the bucket.

    `stored`: the bucket already holds `state` (it was read from there). When it was read from the local
    copy or errored.tfstate (an earlier write failed, or a run was killed), the bucket holds an older
    state: the first `changed()` (or `flush()`) writes it there, even when the operation changes nothing."""

    def __init__(self, backend: StateBackend, state: State, log: Callable[[str], None],
                 interval: float = STATE_PERSIST_INTERVAL, stored: bool = True) -> None:
        self.backend, self.state, self.log = backend, state, log
        self.interval = interval
        self.error: BaseException | None = None
        self.written_serial = state.serial if stored else -1  # below any serial: the bucket lacks this state
        self.writes = 0  # bucket writes made (one per snapshot sent)
        self._dirty = threading.Event()
        self._now = threading.Event()  # flush() or close(): write what is pending without waiting
        self._local = threading.Lock()
        self._stop = False
        self._last_write = float("-inf")
        self._idle = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="state-writer", daemon=True)
        self._thread.start()

    def changed(self) -> None:
        """Call after each state change: the local copy is written now, the bucket within `interval`."""
        with self._local:  # snapshot and write as one step: never an older snapshot over a newer one
            self.backend.write_local(self.state.snapshot())
        self._dirty.set()

    def _run(self) -> None:
        while True:
            if not self._stop:  # once closing, no waiting: write what is pending, then end
                self._dirty.wait()
            rest = self._last_write + self.interval - time.monotonic()
            if rest > 0 and not self._stop:
                self._now.wait(rest)  # coalesce the changes of the next `interval` seconds into one write
            self._dirty.clear()
            serial = self.state.serial
            if self.written_serial < serial:
                snapshot = self.state.snapshot()
                self._last_write = time.monotonic()
                try:
                    self.backend.write_remote(snapshot)
                    self.writes += 1
                    self.error = None
                    self.backend.clear_errored(self.state.lineage, serial)  # an earlier failure's copy is older
                except Exception as exc:  # kept locally; reported by flush()
                    self.error = exc
                    path = self.backend.keep_errored(snapshot)
                    self.log(f"state write to s3://{self.backend.config.bucket}/{self.backend.config.key} "
                             f"failed ({type(exc).__name__}: {exc}); state kept in {path}")
                self.written_serial = serial  # written, or kept locally: nothing more to try for it
            with self._idle:
                self._idle.notify_all()
            if self._stop and self.written_serial >= self.state.serial:
                return  # close() during a write: the loop goes on until the latest state is written

    def flush(self, timeout: float = 120) -> None:
        """Wait until the latest state is in the bucket; raise StateWriteFailed if it cannot be."""
        deadline = time.monotonic() + timeout
        self._now.set()
        try:
            with self._idle:
                while self.written_serial < self.state.serial and time.monotonic() < deadline:
                    self._dirty.set()
                    self._idle.wait(0.2)
        finally:
            self._now.clear()
        if self.written_serial < self.state.serial:  # the writer is stuck (a bucket write that hangs)
            cause = f"; the last write failed: {type(self.error).__name__}: {self.error}" if self.error else ""
            raise StateWriteFailed(
                f"state serial {self.state.serial} was not written to s3://{self.backend.config.bucket}/"
                f"{self.backend.config.key} within the {timeout:g} s timeout (the bucket may hold an older "
                f"state{cause}); state kept in the local copy {self.backend.local_path}: "
                "destroy and re-apply read it from there")
        if self.error is not None:
            raise StateWriteFailed(
                f"state could not be written to s3://{self.backend.config.bucket}/{self.backend.config.key} "
                f"({type(self.error).__name__}: {self.error}); state lost from the bucket but kept in "
                f"{self.backend.errored_path} (like terraform's errored.tfstate): destroy and re-apply read it "
                "from there")
        self.backend.clear_errored()

    def close(self) -> None:
        self._stop = True
        self._now.set()
        self._dirty.set()
        self._thread.join(timeout=30)


class Journal:
    """Resources being created right now (address -> type and arguments), on disk."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self.entries: dict[str, dict[str, Any]] = {}
        self.reload()

    def reload(self) -> None:
        """Read the entries on disk again: another run may have left some since this one was built."""
        with self._lock:
            self.entries = {}
            if self.path.is_file():
                try:
                    self.entries = json.loads(self.path.read_text())
                except ValueError:
                    self.entries = {}

    def _save(self) -> None:
        if self.entries:
            write_atomic(self.path, json.dumps(self.entries, indent=1, sort_keys=True))
        else:
            self.path.unlink(missing_ok=True)

    def begin(self, address: str, rtype: str, args: dict[str, Any], deps: list[str]) -> None:
        with self._lock:
            self.entries[address] = {"type": rtype, "args": args, "dependencies": deps}
            self._save()

    def end(self, address: str) -> None:
        with self._lock:
            if self.entries.pop(address, None) is not None:
                self._save()


class PreventDestroy(StackmatrixError):
    """The plan (or a destroy) would destroy a resource whose lifecycle.prevent_destroy is set."""

    def __init__(self, address: str, why: str) -> None:
        super().__init__(f"Instance cannot be destroyed: {address} has lifecycle.prevent_destroy set, but {why}; "
                         "no resource was destroyed or changed (remove prevent_destroy, or change the configuration "
                         "so that it is not destroyed)")
        self.address = address


UNKNOWN = object()  # an argument's new value, known only after apply


class EmbeddedEngine:
    """The `Engine` (matrix/engines/base.py) that applies with boto3."""

    name = "embedded"

    def __init__(self, cell: str, config_path: Path, clients: ClientFactory, state_dir: Path,
                 options: EngineOptions | None = None, log: Callable[[str], None] | None = None,
                 cancel: threading.Event | None = None) -> None:
        self.cell = cell
        self.config_path = Path(config_path)
        self.clients = clients
        self.options = options or EngineOptions()
        self.state_dir = Path(state_dir)
        self.cancel = cancel or threading.Event()
        self._log = log or (lambda msg: None)
        self.config: TfConfig = load_config(self.config_path)  # ConfigError before any API call
        if self.config.backend is None:
            raise StackmatrixError(f"{self.config_path}: no S3 backend configured; the engine stores state there")
        self.backend = StateBackend(clients, self.config.backend, self.state_dir)
        self.journal = Journal(self.state_dir / "pending.json")
        self.ctx = Ctx(clients, self.config.region, self.cancel, self.options.wait_timeout, self.options.poll,
                       self.log)
        self.last_plan: Plan | None = None
        self.notes: list[str] = []  # what a reader must know (e.g. where the state was kept)
        self.state: State | None = None
        self.readback: dict[str, Any] = {}  # the last apply's read-back: counts, lines, differences
        self.state_kept_locally: Path | None = None  # a destroy found the bucket gone: the state is here
        self._live: dict[str, dict[str, Any] | None] = {}
        self._touched: dict[str, str] = {}  # address -> create | update (this apply)

    def log(self, msg: str) -> None:
        self._log(redact(f"[{self.cell}] {msg}"))

    def use_cancel(self, cancel: threading.Event) -> None:
        self.cancel = cancel
        self.ctx.cancel = cancel

    def _op_ctx(self, region: str | None, timeouts: Any = None, operation: str = "") -> Ctx:
        """The context for one operation: the resource's region, its `timeouts` for that operation."""
        ctx = self.ctx.for_region(region or self.config.region)
        return ctx.with_timeouts(timeouts, operation) if timeouts and operation else ctx

    # -- values ------------------------------------------------------------------------------
    def _variables(self) -> dict[str, Any]:
        return {**self.config.variables, **self.options.variables}

    def _resolver(self, state: State, data: dict[str, dict[str, Any]], unknown: set[str]):
        variables = self._variables()

        def resolve(parts: tuple[str, ...]) -> Any:
            if parts[0] == "var":
                return variables[parts[1]]
            if parts[0] == "data":
                address = f"data.{parts[1]}.{parts[2]}"
                return data[address]
            address = f"{parts[0]}.{parts[1]}"
            if address in unknown:
                raise ex.Unknown(address)
            attrs = state.get(address)
            if attrs is None:
                raise ex.Unknown(address)
            return attrs

        return resolve

    def _visible_tags(self, tags: dict[str, Any] | None) -> dict[str, Any]:
        """Tags without the provider's ignore_tags keys (never set, removed or compared)."""
        return {k: v for k, v in (tags or {}).items() if not self.config.ignored_tag(k)}

    def _desired(self, address: str, state: State, data: dict[str, dict[str, Any]],
                 unknown: set[str]) -> tuple[dict[str, Any], set[str]]:
        """(known argument values, with the provider's defaults and tags_all; names of arguments
        known only after apply)."""
        node = self.config.nodes[address]
        resolve = self._resolver(state, data, unknown)
        known: dict[str, Any] = {}
        pending: set[str] = set()
        for arg, value in node.args.items():
            try:
                known[arg] = ex.evaluate(value, resolve)
            except ex.Unknown:
                pending.add(arg)
        handler = HANDLERS[node.type]
        for arg, default in handler.defaults.items():
            if known.get(arg) is None and arg not in pending:
                known[arg] = default
        if handler.taggable:
            defaults = ex.evaluate(self.config.default_tags, resolve)
            known["tags_all"] = self._visible_tags({**defaults, **(known.get("tags") or {})})
        known["region"] = known.get("region") or self.config.region
        return known, pending

    def _wanted(self, address: str) -> frozenset[str]:
        """The applied arguments a refresh reads for a configured resource (set ones and defaults)."""
        node = self.config.nodes.get(address)
        if node is None:
            return frozenset()
        handler = HANDLERS[node.type]
        return frozenset(a for a in handler.applied() if a in node.args or a in handler.defaults)

    def _read(self, items: list[ReadItem], pool: ThreadPoolExecutor | None) -> dict[str, dict[str, Any] | None]:
        live = read_grouped(items, self._op_ctx, pool)
        regions = {i.address: i.region for i in items}
        for address, attrs in live.items():
            if attrs is not None:
                attrs["region"] = regions[address]  # found there
                if "tags_all" in attrs:
                    attrs["tags_all"] = self._visible_tags(attrs["tags_all"])
        return live

    # -- backend -----------------------------------------------------------------------------
    def backend_check(self, bootstrap: bool | None = None) -> list[str]:
        flag = self.options.bootstrap_backend if bootstrap is None else bootstrap
        return self.backend.check(bootstrap=flag)

    def _lock(self, operation: str):
        details = {"cell": self.cell, **holder_identity(), **self.options.lock_details}
        try:
            return self.backend.lock(operation, details, 0.0, self.cancel)
        except LockHeld as exc:  # a holder provably dead on this machine: released (matrix/state/stale_lock.py)
            if not release_if_dead(self.backend, exc.info, self._note) and self.options.lock_timeout <= 0:
                raise
        return self.backend.lock(operation, details, self.options.lock_timeout, self.cancel)

    def _note(self, msg: str) -> None:
        self.log(msg)
        self.notes.append(msg)

    def _unlock(self, info) -> None:
        if info is None:
            return
        try:
            self.backend.unlock(info.ID)
        except Exception as exc:  # the bucket may be gone; say so, never hide it
            self.log(f"could not release state lock {info.ID}: {type(exc).__name__}: {exc}")

    def force_unlock(self, lock_id: str) -> None:
        self.backend.unlock(lock_id, force=True)

    def _check_account(self) -> None:
        """The provider's (and backend's) allowed/forbidden_account_ids, before any change."""
        if not (self.config.allowed_account_ids or self.config.forbidden_account_ids):
            return
        account = self.ctx.client("sts").get_caller_identity()["Account"]
        problem = account_problem(self.config, account)
        if problem:
            raise ConfigError(f"provider.aws: {problem}; nothing was changed")

    # -- data sources ------------------------------------------------------------------------
    def _read_data(self, state: State) -> dict[str, dict[str, Any]]:
        data: dict[str, dict[str, Any]] = {}
        for address in self.config.data():
            node = self.config.nodes[address]
            args = ex.evaluate(node.args, self._resolver(state, data, set()))
            data[address] = DATA_SOURCES[node.type].read(self.ctx, args)
        return data

    # -- plan --------------------------------------------------------------------------------
    def _refresh(self, state: State, pool: ThreadPoolExecutor) -> dict[str, dict[str, Any] | None]:
        items = []
        for address in state.addresses():
            handler = HANDLERS.get(address.split(".")[0])
            if handler is None:
                continue
            attrs = state.get(address) or {}
            items.append(ReadItem(address, handler, attrs.get("region") or self.config.region, attrs,
                                  self._wanted(address)))
        return self._read(items, pool)

    def _adopt_pending(self, state: State) -> list[str]:
        """Resources created by a run that died before recording them: find and record them. The journal
        is read again here, under the state lock: a run that held the lock until after this engine was
        built may have died leaving entries."""
        self.journal.reload()
        adopted = []
        deposed = {(address, attrs.get("id")) for address, _key, attrs, _deps in state.deposed()}
        for address, entry in list(self.journal.entries.items()):
            if state.get(address) is not None:
                self.journal.end(address)
                continue
            handler = HANDLERS.get(entry["type"])
            args = entry["args"]
            found = handler.find(self._op_ctx(args.get("region")), args) if handler else None
            if found and (address, found.get("id")) in deposed:
                # a create_before_destroy replacement died before its new object was recorded: what the
                # search found is the deposed old object; adopting it as current would have the plan
                # delete it as deposed while the state names it as current
                self.log(f"{address}: the object found for the interrupted create ({found.get('id')}) is its "
                         "deposed predecessor: not adopted (a new object is created; the leak check finds any "
                         "other object the interrupted run left)")
                found = None
            if found:
                state.set(address, {**args, **found}, entry.get("dependencies"))
                adopted.append(address)
                self.log(f"adopted {address} ({found.get('id')}), created by an interrupted run")
            self.journal.end(address)
        return adopted

    @staticmethod
    def _state_only(handler: Handler, desired: dict[str, Any], recorded: dict[str, Any]) -> list[str]:
        """Terraform-only arguments whose value changed: recorded in the state, no API call."""
        return sorted(a for a, spec in handler.args.items() if spec.kind == LOCAL and "." not in a
                      and not equal("value", kind_of(handler.type, a), desired.get(a), recorded.get(a)))

    def plan(self, state: State, data: dict[str, dict[str, Any]], live: dict[str, dict[str, Any] | None]) -> Plan:
        changes: list[Change] = []
        unknown: set[str] = set()
        configured = set(self.config.managed())
        view = _with(state, live)
        for address in self.config.managed():
            node = self.config.nodes[address]
            handler = HANDLERS[node.type]
            in_state = state.get(address) is not None
            current = live.get(address) if in_state else None
            if current is None:
                drift = in_state
                changes.append(Change(address, "create", "deleted outside stackmatrix; will be re-created"
                                      if drift else "", drift))
                unknown.add(address)
                continue
            desired, pending = self._desired(address, view, data, unknown)
            ignore = node.lifecycle.ignores
            found = differences(address, handler, desired, current, ignore)
            unread = [d for d in found if d.unread]
            if unread:
                raise StackmatrixError(f"plan: {unread[0].line()} (a gap in the engine's handler for {node.type})")
            diffs = {d.arg for d in found} | {a for a in pending if handler.changeable(a) and not ignore(a)}
            recorded = state.get(address) or {}
            configured_change = {d.arg for d in differences(address, handler, desired, recorded, ignore)}
            drifted = sorted(diffs - configured_change - pending)
            forced = sorted(a for a in diffs if handler.forces_new(
                a, current.get(a), UNKNOWN if a in pending else desired.get(a)))
            state_only = self._state_only(handler, desired, recorded)
            if forced:
                if node.lifecycle.prevent_destroy:
                    raise PreventDestroy(address, f"{', '.join(forced)} forces its replacement")
                changes.append(Change(address, "replace", f"{', '.join(forced)} forces replacement",
                                      bool(drifted), state_only=state_only))
                unknown.add(address)
            elif diffs:
                why = ", ".join(sorted(diffs))
                reason = f"changed outside stackmatrix: {', '.join(drifted)}" if drifted else f"{why} changed"
                changes.append(Change(address, "update", reason, bool(drifted), changed=diffs, state_only=state_only))
            else:
                changes.append(Change(address, "noop", state_only=state_only))
        for address in state.addresses():
            if address not in configured:
                changes.append(Change(address, "delete", "no longer in the configuration"))
        return Plan(changes)

    # -- apply -------------------------------------------------------------------------------
    def apply(self) -> Plan:
        self.backend_check()
        lock = self._lock("OperationTypeApply")
        persister = None
        try:
            state, origin = self.backend.read()
            self.state = state
            persister = Persister(self.backend, state, self.log, self.options.state_persist_interval,
                                  stored=origin in ("bucket", "new"))
            if self._adopt_pending(state):
                persister.changed()
            self._check_account()
            self._touched = {}
            self.readback = {}
            with ThreadPoolExecutor(max_workers=self.options.concurrency, thread_name_prefix=f"{self.cell}") as pool:
                live = self._refresh(state, pool)
                self._live = live
                data = self._read_data(state)
                plan = self.plan(state, data, live)
                self.last_plan = plan
                self.log(f"plan: {plan.summary()} (state from {origin})")
                for line in plan.lines():
                    self.log(f"  {line}")
                for change in plan.drift:
                    self.log(f"drift: {change.address}: {change.reason}")
                self._record_data(state, data)
                failure: BaseException | None = None
                try:
                    self._execute(plan, state, data, persister, pool)
                except BaseException as exc:
                    failure = exc
                mismatches = self._read_back(state, data, persister, pool, failure)
                if failure is not None:
                    raise failure
            outputs = self._outputs(state, data)
            state.set_outputs(outputs, self.config.sensitive_outputs)
            if state.serial > persister.written_serial:  # also a state read from a local copy
                persister.changed()
            persister.flush()
            if mismatches:
                raise ReadBackMismatch(mismatches)
            return plan
        finally:
            if persister is not None:
                persister.close()
            self._unlock(lock)

    def _record_data(self, state: State, data: dict[str, dict[str, Any]]) -> None:
        for address, attrs in data.items():
            if state.get(address) != attrs:
                state.set(address, attrs)

    def _execute(self, plan: Plan, state: State, data: dict[str, dict[str, Any]],
                 persister: Persister, pool: ThreadPoolExecutor) -> None:
        by_action = {c.address: c for c in plan.changes}

        def before_destroy(address: str) -> bool:
            node = self.config.nodes.get(address)
            return node is not None and node.lifecycle.create_before_destroy

        # 1. deletes: orphans and replaced resources (create_before_destroy ones later), dependents first
        doomed = [c.address for c in plan.changes
                  if c.action == "delete" or (c.action == "replace" and not before_destroy(c.address))]
        for change in plan.changes:
            if change.action == "create" and change.drift:
                state.remove(change.address)  # gone: forget it, it will be created again
        if doomed:
            self._delete_many(doomed, state, persister, pool)
        for change in plan.changes:
            if change.action == "replace" and before_destroy(change.address):
                key = state.depose(change.address)
                self.log(f"{change.address}: create_before_destroy: the old object is deposed ({key}) until its "
                         "replacement exists")
                persister.changed()
            elif change.action == "noop":
                self._record_ignored(change.address, state, persister)
                if change.state_only:
                    self._record_local(change, state, data, persister)
        # 2. creates and updates in dependency order
        todo = {c.address for c in plan.changes if c.action in ("create", "update", "replace")}
        done = {a for a in self.config.managed() if a not in todo}
        self._run_graph(
            todo, done, lambda a: self.config.nodes[a].depends_on & set(self.config.managed()),
            lambda a: self._create_or_update(a, by_action[a], state, data, persister), pool)
        # 3. deposed objects (create_before_destroy, or left by an interrupted run)
        for address, key, attrs, _deps in state.deposed():
            self._delete_object(address, attrs, state, persister, deposed=key)

    def _record_ignored(self, address: str, state: State, persister: Persister) -> None:
        """Arguments lifecycle.ignore_changes keeps out of the plan still take AWS's value in the state."""
        node, live = self.config.nodes[address], self._live.get(address) or {}
        recorded = state.get(address) or {}
        refreshed = {a: v for a, v in live.items() if node.lifecycle.ignores(a) and recorded.get(a) != v}
        if refreshed:
            state.set(address, {**recorded, **refreshed}, state.dependencies(address))
            persister.changed()
            self.log(f"{address}: ignore_changes: the state takes what AWS holds for {', '.join(sorted(refreshed))}")

    def _record_local(self, change: Change, state: State, data: dict[str, dict[str, Any]],
                      persister: Persister) -> None:
        args, _ = self._desired(change.address, state, data, set())
        attrs = {**(state.get(change.address) or {}), **{a: args.get(a) for a in change.state_only}}
        state.set(change.address, attrs, state.dependencies(change.address))
        persister.changed()
        self.log(f"{change.address}: state only (no API call): {', '.join(change.state_only)}")

    def _create_or_update(self, address: str, change: Change, state: State, data: dict[str, dict[str, Any]],
                          persister: Persister) -> None:
        node = self.config.nodes[address]
        handler = HANDLERS[node.type]
        args, pending = self._desired(address, state, data, set())
        if pending:
            raise ApplyError(address, change.action, RuntimeError(f"arguments still unknown: {sorted(pending)}"))
        deps = sorted(d for d in node.depends_on if not d.startswith("data."))
        operation = "update" if change.action == "update" else "create"
        ctx = self._op_ctx(args["region"], args.get("timeouts"), operation)
        started = time.monotonic()
        try:
            if change.action == "update":  # from what is live, so changes made outside are undone
                current = {**(state.get(address) or {}), **(self._live.get(address) or {})}
                computed = handler.update(ctx, current, args, change.changed)
                kept = {k: v for k, v in args.items() if not node.lifecycle.ignores(k)}
                attrs = {**current, **kept, **computed}
            else:
                self.journal.begin(address, node.type, args, deps)
                attrs = {**args, **handler.create(ctx, args)}
        except Cancelled:
            raise
        except Exception as exc:
            raise ApplyError(address, change.action, exc) from exc
        state.set(address, attrs, deps)
        self._touched[address] = operation
        persister.changed()
        self.journal.end(address)
        verb = {"update": "updated", "replace": "replaced"}.get(change.action, "created")
        self.log(f"{verb} {address} ({attrs.get('id')}) in {time.monotonic() - started:.2f} s")

    def _read_back(self, state: State, data: dict[str, dict[str, Any]], persister: Persister,
                   pool: ThreadPoolExecutor, failure: BaseException | None) -> list[Difference]:
        """Describe every resource this apply created or changed, compare, record what AWS holds."""
        if not self._touched:
            return []
        cause = getattr(failure, "cause", failure)
        if isinstance(cause, BotoConnectionError | HTTPClientError):
            self.log(f"read-back skipped: AWS is unreachable ({type(cause).__name__}); the next plan reads again")
            return []
        mark = self.clients.counters.mark()
        self.clients.note(f"read-back: {len(self._touched)} resource(s) created or changed by this apply")
        items: list[tuple[ReadItem, dict[str, Any], Callable[[str], bool]]] = []
        for address, operation in sorted(self._touched.items()):
            node, attrs = self.config.nodes[address], state.get(address) or {}
            handler = HANDLERS[node.type]
            ignore = node.lifecycle.ignores if operation == "update" else (lambda arg: False)
            desired, _ = self._desired(address, state, data, set())
            wanted = frozenset(compared_args(handler, desired, ignore))
            items.append((ReadItem(address, handler, attrs.get("region") or self.config.region, attrs, wanted),
                          desired, ignore))
        try:
            live = self._read([item for item, _, _ in items], pool)
        except Exception as exc:
            if failure is None:
                raise
            self.log(f"read-back after the failure could not run: {type(exc).__name__}: {exc}")
            return []
        found: list[Difference] = []
        lines = []
        for item, desired, ignore in items:
            now = live.get(item.address)
            if now is None:
                diff = Difference(item.address, "id", item.attrs.get("id"), "nothing (not found when described)")
                found.append(diff)
                lines.append(f"MISMATCH {diff.line()}")
                continue
            diffs = differences(item.address, item.handler, desired, now, ignore)
            found += diffs
            state.set(item.address, {**item.attrs, **now}, state.dependencies(item.address))
            lines.append(f"{'MISMATCH' if diffs else 'ok'} {item.address} ({len(item.wanted)} argument(s): "
                         f"{', '.join(sorted(item.wanted))})")
            lines += [f"  {d.line()}" for d in diffs]
        persister.changed()
        calls = self.clients.counters.since(mark)["calls"]
        self.readback = {"resources": len(items), "arguments": sum(len(i.wanted) for i, _, _ in items),
                         "calls": calls, "differences": [d.line() for d in found], "lines": lines}
        verdict = "every argument matches" if not found else f"{len(found)} difference(s)"
        self.log(f"read-back: {len(items)} resource(s), {self.readback['arguments']} argument(s) described again "
                 f"in {calls} API call(s): {verdict}")
        for d in found:
            self.log(f"  read-back mismatch: {d.line()}")
        return found

    def _run_graph(self, todo: set[str], done: set[str], deps_of: Callable[[str], set[str]],
                   work: Callable[[str], None], pool: ThreadPoolExecutor) -> None:
        """Run `work` on every node of `todo` once its dependencies are done, in graphlib's order (what
        becomes ready together runs concurrently, submitted in name order); stop at the first error.
        Nodes that cannot be ordered (on a dependency cycle, or waiting for one) are named once
        everything else has run."""
        graph = {a: deps_of(a) - done for a in todo}
        unordered = _unorderable(graph)
        sorter = TopologicalSorter({a: deps for a, deps in graph.items() if a not in unordered})
        sorter.prepare()
        running: dict[Future, str] = {}
        failure: BaseException | None = None
        remaining = set(todo)
        while True:
            if failure is None and not self.cancel.is_set():
                for address in sorted(sorter.get_ready()):
                    remaining.discard(address)
                    running[pool.submit(work, address)] = address
            if not running:
                if remaining and failure is None and not self.cancel.is_set():
                    raise StackmatrixError(f"cannot order: {', '.join(sorted(remaining))}")
                break
            finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for fut in finished:
                address = running.pop(fut)
                exc = fut.exception()
                if exc is None:
                    done.add(address)
                    sorter.done(address)
                elif failure is None:
                    failure = exc
        if failure is not None:
            raise failure
        if self.cancel.is_set() and remaining:
            raise Cancelled(f"cancelled with {len(remaining)} resource(s) not processed")

    def _outputs(self, state: State, data: dict[str, dict[str, Any]]) -> dict[str, Any]:
        resolve = self._resolver(state, data, set())
        return {name: ex.evaluate(value, resolve) for name, value in self.config.outputs.items()}

    # -- destroy -----------------------------------------------------------------------------
    def _delete_many(self, addresses: list[str], state: State, persister: Persister, pool: ThreadPoolExecutor) -> None:
        doomed = set(addresses)
        # A resource may go once nothing still in `doomed` depends on it (state dependencies, plus
        # config dependencies for resources the configuration still knows).
        dependents: dict[str, set[str]] = {a: set() for a in doomed}
        for a in doomed:
            deps = set(state.dependencies(a))
            if a in self.config.nodes:
                deps |= self.config.nodes[a].depends_on
            for d in deps:
                if d in dependents:
                    dependents[d].add(a)
        done: set[str] = set()
        self._run_graph(doomed, done, lambda a: dependents[a],
                        lambda a: self._delete_one(a, state, persister), pool)

    def _delete_one(self, address: str, state: State, persister: Persister) -> None:
        attrs = state.get(address)
        if attrs is not None:
            self._delete_object(address, attrs, state, persister)

    def _delete_object(self, address: str, attrs: dict[str, Any], state: State, persister: Persister,
                       deposed: str | None = None) -> None:
        rtype = address.split(".")[0]
        handler = HANDLERS.get(rtype)
        if handler is None:
            raise ApplyError(address, "destroy", RuntimeError(f"type {rtype} is not supported by the embedded engine"))
        started = time.monotonic()
        try:
            handler.delete(self._op_ctx(attrs.get("region"), attrs.get("timeouts"), "delete"), attrs)
        except Cancelled:
            raise
        except Exception as exc:
            raise ApplyError(address, "destroy", exc) from exc
        if deposed:
            state.remove_deposed(address, deposed)
        else:
            state.remove(address)
        persister.changed()
        what = f"{address} (deposed {deposed})" if deposed else address
        self.log(f"destroyed {what} ({attrs.get('id')}) in {time.monotonic() - started:.2f} s")

    def _check_prevent_destroy(self, state: State) -> None:
        for address in state.addresses():
            node = self.config.nodes.get(address)
            if node is not None and node.lifecycle.prevent_destroy:
                raise PreventDestroy(address, "destroy would destroy it")

    def destroy(self) -> int:
        """Delete everything the state names. Returns how many resources were deleted."""
        if not self.backend.bucket_exists() and self.backend.read_local() is None:
            self.log("nothing to destroy: no state bucket and no local state")
            return 0
        lock = None
        if self.backend.bucket_exists():
            lock = self._lock("OperationTypeApply")
        persister = None
        try:
            state, origin = self.backend.read(bucket_may_be_gone=True)
            self.state = state
            persister = Persister(self.backend, state, self.log, self.options.state_persist_interval,
                                  stored=origin in ("bucket", "new"))
            if self._adopt_pending(state):
                persister.changed()  # recorded even if prevent_destroy stops the destroy below
            self._check_prevent_destroy(state)  # adopted resources included
            managed = state.addresses()
            self.log(f"destroy: {len(managed)} resource(s) in state (from {origin})")
            with ThreadPoolExecutor(max_workers=self.options.concurrency, thread_name_prefix=f"{self.cell}-d") as pool:
                self._delete_many(managed, state, persister, pool)
            for address, key, attrs, _deps in state.deposed():
                self._delete_object(address, attrs, state, persister, deposed=key)
            for address in state.addresses("data"):
                state.remove(address)
            state.set_outputs({})
            persister.changed()
            try:
                persister.flush()
            except StateWriteFailed:
                if self.backend.bucket_exists():
                    raise
                note = (f"state bucket {self.backend.config.bucket} is gone (state lost from the bucket): "
                        f"destroyed from the local copy, the empty state is kept in {self.backend.local_path}")
                self.log(note)
                self.notes.append(note)
                self.state_kept_locally = self.backend.local_path
                self.backend.clear_errored()
            return len(managed)
        finally:
            if persister is not None:
                persister.close()
            self._unlock(lock)

    def outputs(self) -> dict[str, Any]:
        state, _ = self.backend.read()
        return state.outputs()

    def current_outputs(self) -> dict[str, Any]:
        """Outputs of the state this engine holds (after apply), else read from the backend."""
        return self.state.outputs() if self.state is not None else self.outputs()


def _unorderable(graph: dict[str, set[str]]) -> set[str]:
    """The nodes of `graph` (node -> its dependencies) that can never run: on a cycle, waiting for a
    node outside the graph, or depending on such a node."""
    blocked = {d for deps in graph.values() for d in deps if d not in graph}
    while True:
        behind = {a for a, deps in graph.items() if a not in blocked and deps & blocked}
        if behind:
            blocked |= behind
            continue
        try:
            TopologicalSorter({a: deps for a, deps in graph.items() if a not in blocked}).prepare()
        except CycleError as exc:
            blocked |= set(exc.args[1])
            continue
        return blocked


def _with(state: State, live: dict[str, dict[str, Any] | None]) -> State:
    """A view of `state` whose attributes are the refreshed live ones (for evaluating arguments)."""
    view = State(json.loads(state.snapshot()))
    for address, attrs in live.items():
        if attrs is not None:
            view.set(address, {**(state.get(address) or {}), **attrs}, state.dependencies(address))
    return view
