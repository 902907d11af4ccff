"""The embedded engine: applies a synthesized cdk.tf.json with boto3, terraform-compatibly.

How the parts fit:
  config.load_config()  -> nodes, order, outputs, backend (all checks before any API call)
  backend.StateBackend  -> state v4 in the synthesized S3 backend + local copy, terraform's locks
  plan()                -> refresh (live reads of what state lists), data sources, desired vs live:
                           create / update / replace / delete / noop, drift named
  apply()               -> deletes in reverse dependency order, then creates/updates in dependency
                           order, independent resources concurrently (bounded); state written
                           after every change (local at once, bucket by a coalescing writer)
  destroy()             -> from state alone, reverse dependency order, idempotent

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
from pathlib import Path
from typing import Any

from matrix.backend import LockHeld, StateBackend, StateWriteFailed, write_atomic
from matrix.clients import ClientFactory
from matrix.engines.embedded import expressions as ex
from matrix.engines.embedded.config import TfConfig, load_config
from matrix.engines.embedded.resources import DATA_SOURCES, HANDLERS
from matrix.engines.embedded.resources.base import Cancelled, Ctx
from matrix.engines.embedded.state import State
from matrix.errors import StackmatrixError
from matrix.redact import redact
from matrix.stale_lock import holder_identity, release_if_dead


class ApplyError(StackmatrixError):
    """A resource could not be created, changed or deleted (names address and cause)."""

    def __init__(self, address: str, action: str, cause: BaseException) -> None:
        super().__init__(f"{action} {address} failed: {type(cause).__name__}: {cause}")
        self.address, self.action, self.cause = address, action, cause


@dataclass
class EngineOptions:
    lock_timeout: float = 0.0
    bootstrap_backend: bool = False
    concurrency: int = 8
    variables: dict[str, Any] = field(default_factory=dict)
    wait_timeout: float = 600.0
    poll: float = 0.2
    lock_details: dict[str, Any] = field(default_factory=dict)


@dataclass
class Change:
    address: str
    action: str  # create | update | replace | delete | noop
    reason: str = ""
    drift: bool = False

    def line(self) -> str:
        sym = {"create": "+", "update": "~", "replace": "-/+", "delete": "-", "noop": " "}[self.action]
        why = f"  ({self.reason})" if self.reason else ""
        return f"{sym} {self.address}{why}"


@dataclass
class Plan:
    changes: list[Change]
    state_origin: str = ""

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
        out = [c.line() for c in self.changes if c.action != "noop"]
        out += [f"! {c.address} drifted: {c.reason}" for c in self.drift]
        return out


class Persister:
    """Writes state snapshots to the bucket on its own thread, coalescing bursts of changes."""

    def __init__(self, backend: StateBackend, state: State, log: Callable[[str], None]) -> None:
        self.backend, self.state, self.log = backend, state, log
        self.error: BaseException | None = None
        self.written_serial = state.serial  # what was read is already stored
        self.writes = 0
        self._dirty = threading.Event()
        self._local = threading.Lock()
        self._stop = False
        self._idle = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="state-writer", daemon=True)
        self._thread.start()

    def changed(self) -> None:
        """Call after each state change: the local copy is written now, the bucket soon."""
        with self._local:  # snapshot and write as one step: never an older snapshot over a newer one
            self.backend.write_local(self.state.snapshot())
        self._dirty.set()

    def _run(self) -> None:
        while True:
            self._dirty.wait()
            self._dirty.clear()
            serial = self.state.serial
            if self.written_serial < serial:
                snapshot = self.state.snapshot()
                try:
                    self.backend.write_remote(snapshot)
                    self.writes += 1
                    self.error = None
                except Exception as exc:  # kept locally; reported by flush()
                    self.error = exc
                    path = self.backend.keep_errored(snapshot)
                    self.log(f"state write to s3://{self.backend.config.bucket}/{self.backend.config.key} "
                             f"failed ({type(exc).__name__}: {exc}); state kept in {path}")
                self.written_serial = serial  # written, or kept locally: nothing more to try for it
            with self._idle:
                self._idle.notify_all()
            if self._stop:
                return

    def flush(self, timeout: float = 120) -> None:
        """Wait until the latest state is in the bucket; raise StateWriteFailed if it cannot be."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self.written_serial < self.state.serial and time.monotonic() < deadline:
                self._dirty.set()
                self._idle.wait(0.2)
        if self.error is not None:
            raise StateWriteFailed(
                f"state could not be written to s3://{self.backend.config.bucket}/{self.backend.config.key} "
                f"({type(self.error).__name__}: {self.error}); state lost from the bucket but kept in "
                f"{self.backend.errored_path} (like terraform's errored.tfstate): destroy and re-apply read it "
                "from there")
        self.backend.clear_errored()

    def close(self) -> None:
        self._stop = True
        self._dirty.set()
        self._thread.join(timeout=30)


class Journal:
    """Resources being created right now (address -> type and arguments), on disk."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self.entries: dict[str, dict[str, Any]] = {}
        if path.is_file():
            try:
                self.entries = json.loads(path.read_text())
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


class EmbeddedEngine:
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
        self._live: dict[str, dict[str, Any] | None] = {}

    def log(self, msg: str) -> None:
        self._log(redact(f"[{self.cell}] {msg}"))

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

    def _desired(self, address: str, state: State, data: dict[str, dict[str, Any]],
                 unknown: set[str]) -> tuple[dict[str, Any], set[str]]:
        """(known argument values, names of arguments known only after apply)."""
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
        if handler.taggable:
            defaults = ex.evaluate(self.config.default_tags, resolve)
            known["tags_all"] = {**defaults, **(known.get("tags") or {})}
        known["region"] = self.config.region
        return known, pending

    # -- backend -----------------------------------------------------------------------------
    def backend_check(self, bootstrap: bool | None = None) -> list[str]:
        flag = self.options.bootstrap_backend if bootstrap is None else bootstrap
        return self.backend.check(bootstrap=flag)

    def _lock(self, operation: str):
        details = {"cell": self.cell, **holder_identity(), **self.options.lock_details}
        try:
            return self.backend.lock(operation, details, 0.0, self.cancel)
        except LockHeld as exc:  # a holder provably dead on this machine: released (matrix/stale_lock.py)
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
        addresses = [a for a in state.addresses() if a.split(".")[0] in HANDLERS]
        futures = {a: pool.submit(HANDLERS[a.split(".")[0]].read, self.ctx, state.get(a) or {}) for a in addresses}
        return {a: f.result() for a, f in futures.items()}

    def _adopt_pending(self, state: State) -> list[str]:
        """Resources created by a run that died before recording them: find and record them."""
        adopted = []
        for address, entry in list(self.journal.entries.items()):
            if state.get(address) is not None:
                self.journal.end(address)
                continue
            handler = HANDLERS.get(entry["type"])
            found = handler.find(self.ctx, entry["args"]) if handler else None
            if found:
                state.set(address, found, entry.get("dependencies"))
                adopted.append(address)
                self.log(f"adopted {address} ({found.get('id')}), created by an interrupted run")
            self.journal.end(address)
        return adopted

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
            diffs = set(handler.diff(desired, current)) | pending
            diffs.discard("region")
            forced = sorted(diffs & handler.force_new)
            recorded = state.get(address) or {}
            drifted = sorted(a for a in diffs if a not in pending and not handler.differs(
                a, desired.get(a), recorded.get(a)))
            if forced:
                changes.append(Change(address, "replace", f"{', '.join(forced)} forces replacement",
                                      bool(drifted)))
                unknown.add(address)
            elif diffs:
                why = ", ".join(sorted(diffs))
                reason = f"changed outside stackmatrix: {', '.join(drifted)}" if drifted else f"{why} changed"
                changes.append(Change(address, "update", reason, bool(drifted)))
            else:
                changes.append(Change(address, "noop"))
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
            persister = Persister(self.backend, state, self.log)
            if self._adopt_pending(state):
                persister.changed()
            with ThreadPoolExecutor(max_workers=self.options.concurrency, thread_name_prefix=f"{self.cell}") as pool:
                live = self._refresh(state, pool)
                self._live = live
                data = self._read_data(state)
                plan = self.plan(state, data, live)
                plan.state_origin = origin
                self.last_plan = plan
                self.log(f"plan: {plan.summary()} (state from {origin})")
                for line in plan.lines():
                    self.log(f"  {line}")
                for change in plan.drift:
                    self.log(f"drift: {change.address}: {change.reason}")
                self._record_data(state, data)
                self._execute(plan, state, data, persister, pool)
            outputs = self._outputs(state, data)
            state.set_outputs(outputs)
            if state.serial > persister.written_serial or origin != "bucket":
                persister.changed()
            persister.flush()
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
        # 1. deletes: orphans and replaced resources, dependents first
        doomed = [c.address for c in plan.changes if c.action in ("delete", "replace")]
        for change in plan.changes:
            if change.action == "create" and change.drift:
                state.remove(change.address)  # gone: forget it, it will be created again
        if doomed:
            self._delete_many(doomed, state, persister, pool)
        # 2. creates and updates in dependency order
        todo = {c.address for c in plan.changes if c.action in ("create", "update", "replace")}
        done = {a for a in self.config.managed() if a not in todo}
        self._run_graph(
            todo, done, lambda a: self.config.nodes[a].depends_on & set(self.config.managed()),
            lambda a: self._create_or_update(a, by_action[a], state, data, persister), pool)

    def _create_or_update(self, address: str, change: Change, state: State, data: dict[str, dict[str, Any]],
                          persister: Persister) -> None:
        node = self.config.nodes[address]
        handler = HANDLERS[node.type]
        args, pending = self._desired(address, state, data, set())
        if pending:
            raise ApplyError(address, change.action, RuntimeError(f"arguments still unknown: {sorted(pending)}"))
        deps = sorted(d for d in node.depends_on if not d.startswith("data."))
        started = time.monotonic()
        try:
            if change.action == "update":  # from what is live, so changes made outside are undone
                current = {**(state.get(address) or {}), **(self._live.get(address) or {})}
                attrs = handler.update(self.ctx, current, args)
            else:
                self.journal.begin(address, node.type, args, deps)
                attrs = handler.create(self.ctx, args)
        except Cancelled:
            raise
        except Exception as exc:
            raise ApplyError(address, change.action, exc) from exc
        state.set(address, {**attrs, "region": self.config.region}, deps)
        persister.changed()
        self.journal.end(address)
        verb = {"update": "updated", "replace": "replaced"}.get(change.action, "created")
        self.log(f"{verb} {address} ({attrs.get('id')}) in {time.monotonic() - started:.2f} s")

    def _run_graph(self, todo: set[str], done: set[str], deps_of: Callable[[str], set[str]],
                   work: Callable[[str], None], pool: ThreadPoolExecutor) -> None:
        """Run `work` on every node of `todo` once its dependencies are done; stop at the first error."""
        running: dict[Future, str] = {}
        failure: BaseException | None = None
        remaining = set(todo)
        while remaining or running:
            if failure is None and not self.cancel.is_set():
                ready = sorted(a for a in remaining if deps_of(a) <= done)
                for address in ready:
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
        if attrs is None:
            return
        rtype = address.split(".")[0]
        handler = HANDLERS.get(rtype)
        if handler is None:
            raise ApplyError(address, "destroy", RuntimeError(f"type {rtype} is not supported by the embedded engine"))
        region = attrs.get("region") or self.config.region
        ctx = self.ctx if region == self.ctx.region else Ctx(self.clients, region, self.cancel,
                                                               self.options.wait_timeout, self.options.poll, self.log)
        started = time.monotonic()
        try:
            handler.delete(ctx, attrs)
        except Cancelled:
            raise
        except Exception as exc:
            raise ApplyError(address, "destroy", exc) from exc
        state.remove(address)
        persister.changed()
        self.log(f"destroyed {address} ({attrs.get('id')}) in {time.monotonic() - started:.2f} s")

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
            persister = Persister(self.backend, state, self.log)
            if self._adopt_pending(state):
                persister.changed()
            managed = state.addresses()
            self.log(f"destroy: {len(managed)} resource(s) in state (from {origin})")
            with ThreadPoolExecutor(max_workers=self.options.concurrency, thread_name_prefix=f"{self.cell}-d") as pool:
                self._delete_many(managed, state, persister, pool)
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


def _with(state: State, live: dict[str, dict[str, Any] | None]) -> State:
    """A view of `state` whose attributes are the refreshed live ones (for evaluating arguments)."""
    view = State(json.loads(state.snapshot()))
    for address, attrs in live.items():
        if attrs is not None:
            view.set(address, attrs, state.dependencies(address))
    return view
