"""The run: synth and synth suite for all cells, then every cell end to end, in parallel, with
teardown guaranteed.

  Runner.run()
    synth (one process, cached) -> synth policy suite (fails fast: nothing deployed on violations)
    target.start()              -> one emulator (or account) for the run, behind the strict emulator
                                   (on moto and LocalStack unless --no-strict: every client path of
                                   every cell goes through it, matrix/targets/strict_front.py)
    CellRun.execute() x N       -> on `jobs` threads:
        deployment record -> backend check/bootstrap -> apply -> outputs -> live suite
        -> (chaos expectations) -> destroy -> leak check -> result.json
    target.stop()               -> unless cells were kept

Progress goes to the `progress` callable as log lines; a live terminal display (matrix/progress.py)
also gets the structure through `notify()` hooks (cell started, step, finished).

Each cell has its own cancel event, set by its timeout or by Ctrl-C/SIGTERM on the run; a
cancelled cell stops creating and goes straight to teardown, which runs with a fresh event and
its own time limit. A deployment record (matrix/targets/base.py) is written before anything is
created, so a run killed outright can always be finished with `python -m matrix destroy`.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import threading
import time
import traceback
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from botocore.exceptions import ClientError

from matrix.cells import Cell
from matrix.chaos.driver import ChaosDriver, chaos_scenario
from matrix.chaos.scenarios import Phase
from matrix.clients import THROTTLE_CODES, Access, ClientFactory
from matrix.engines import make_engine
from matrix.engines.base import Engine
from matrix.engines.embedded.engine import ApplyError
from matrix.engines.embedded.readback import ReadBackMismatch
from matrix.engines.embedded.resources.base import error_code
from matrix.errors import ConfigError, StackmatrixError, UsageError
from matrix.findings import forget_stored, policy_violations, record_strict_refusal
from matrix.gates import GateReport
from matrix.leaks import cell_leftovers, state_ids
from matrix.ops import record_in_ledger
from matrix.options import RunOptions
from matrix.paths import BUILD_ENV, PROJECT_ROOT, allure_results_dir, build_dir, outputs_dir, synth_file
from matrix.progress import notify
from matrix.redact import redact
from matrix.results import CellResult, ErrorCategory, Status, Step, cells_dir, now_ms
from matrix.state.backend import LockHeld, MissingLockTable, MissingStateBucket, StateConflict, StateWriteFailed
from matrix.suite_worker import SuiteWorker
from matrix.suites import run_suite
from matrix.targets.base import Deployment, Target
from matrix.targets.strict_front import JudgingGaps, StrictFront, judging_gaps
from stack.config import StackConfig

T = TypeVar("T")


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]


def make_target(options: RunOptions, progress: Callable[[str], None] = print) -> Target:
    if options.target == "moto":
        from matrix.targets.moto import MotoTarget  # lazy: a run loads only its own target

        return MotoTarget(endpoint=options.endpoint, strict=options.strict)
    if options.target == "localstack":
        from matrix.targets.localstack import LocalStackTarget  # lazy: a run loads only its own target

        return LocalStackTarget(endpoint=options.endpoint, log=progress, strict=options.strict)
    if options.target == "aws":
        from matrix.targets.aws import AwsTarget  # lazy: a run loads only its own target

        return AwsTarget(options, progress)
    raise UsageError(f"target {options.target!r}: use moto, localstack or aws")


class CellRun:
    """One cell, end to end. Never raises: everything ends up in its CellResult."""

    def __init__(self, cell: Cell, options: RunOptions, run_id: str, target: Target,
                 progress: Callable[[str], None], stop_all: threading.Event) -> None:
        self.cell = cell
        self.options = options
        self.run_id = run_id
        self.target = target
        self.progress = progress
        self.cancel = threading.Event()
        self.stop_all = stop_all
        self.result = CellResult(run_id, cell.id, cell.region, cell.suffix, cell.fault, cell.target,
                                 cell.engine, cell.profile, status=Status.PASSED)
        self.log_path = self.result.folder / "engine.log"
        self.engine: Engine | None = None
        self.clients: ClientFactory | None = None
        self.deployment: Deployment | None = None
        self.deployed = False
        self.resumed = False  # the deployment record came from an earlier run (kept or interrupted)
        self.suite_worker: SuiteWorker | None = None  # the run's warm pytest worker (set by Runner)
        self.scenario = chaos_scenario(cell.fault, options.expectations)
        self.chaos = ChaosDriver(self, self.scenario) if self.scenario is not None else None
        self.phases: list[dict[str, Any]] = []
        self.live_ok: bool | None = None
        self.deadline = float("inf")  # monotonic time of the cell timeout (set when the cell starts)
        self.finished = False  # its verdict is saved: an interrupt after that does not change it

    # -- logging -----------------------------------------------------------------------------
    def log(self, msg: str) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "a") as fh:  # truncated at cell start (see execute)
            fh.write(redact(f"{time.strftime('%H:%M:%S')} {msg}\n"))

    def say(self, msg: str) -> None:
        self.log(msg)
        self.progress(f"[{self.cell.id}] {msg}")

    # -- steps -------------------------------------------------------------------------------
    def step(self, name: str, fn: Callable[[Step], T]) -> T:
        step = Step(name)
        self.result.steps.append(step)
        notify(self.progress, "cell_step", self.cell.id, name)
        mark = self.clients.counters.mark() if self.clients else None
        try:
            value = fn(step)
            step.status = step.status or Status.PASSED
            return value
        except BaseException as exc:
            step.status = Status.FAILED if isinstance(exc, NOT_AS_EXPECTED) else Status.BROKEN
            step.message = redact(f"{type(exc).__name__}: {exc}") if not isinstance(exc, StepFailed) else str(exc)
            if not isinstance(exc, StepFailed):
                step.details["trace"] = redact(traceback.format_exc(limit=8))
            raise
        finally:
            step.stopped = now_ms()
            if mark is not None and self.clients is not None:
                step.details["api"] = self.clients.counters.since(mark)
            self.result.save()

    def execute(self) -> CellResult:
        notify(self.progress, "cell_started", self.cell.id)
        self.result.folder.mkdir(parents=True, exist_ok=True)
        for old in self.result.folder.iterdir():  # this run's files only
            if old.is_file():
                old.unlink()
        self.deadline = time.monotonic() + self.options.cell_timeout
        timer = threading.Timer(self.options.cell_timeout, self._timeout)
        timer.daemon = True
        timer.start()
        try:
            self._deploy_and_test()
        except BaseException as exc:
            self._fail(exc)
        finally:
            timer.cancel()
            try:
                self._teardown()
                if self.chaos is not None:
                    self._judge_chaos()
            finally:
                self._finish()
        return self.result

    def _judge_chaos(self) -> None:
        """The scenario's verdict; a judge that cannot finish (its suite timed out, its worker child died)
        leaves the cell BROKEN with the cause, never with the status it had before judging."""
        assert self.chaos is not None
        try:
            self.chaos.judge()
        except BaseException as exc:
            self._fail(exc)
        finally:
            self.chaos.stop()

    def _timeout(self) -> None:
        self.say(f"cell timeout ({self.options.cell_timeout:.0f} s) reached: stopping and tearing down")
        self.result.error = {"step": self._current_step(), "category": ErrorCategory.TIMEOUT,
                             "message": f"cell timeout of {self.options.cell_timeout:.0f} s reached"}
        self.result.status = Status.BROKEN  # whatever the steps still running say: the cell did not finish in time
        self.cancel.set()

    def _current_step(self) -> str:
        return self.result.steps[-1].name if self.result.steps else "start"

    def _fail(self, exc: BaseException) -> None:
        step = self._current_step()
        message = redact(f"{type(exc).__name__}: {exc}") if not isinstance(exc, StepFailed) else str(exc)
        message = " ".join(message.split())  # one line: botocore's parse errors carry the raw body on a new line
        category = error_category(exc)
        gone = self._emulator_gone()
        if gone and not isinstance(exc, StepFailed):
            message, category = f"{message} ({gone})", ErrorCategory.EMULATOR_GONE
        if self.result.error is None:
            self.result.error = {"step": step, "category": category, "message": message, **error_origin(exc)}
        record_strict_refusal(self.cell.id, exc)  # a call AWS would refuse: a finding in build/findings.sarif
        self.result.status = Status.FAILED if isinstance(exc, NOT_AS_EXPECTED) else Status.BROKEN
        self.say(f"FAILED at {step}: {message}")

    def _emulator_gone(self) -> str | None:
        """Why the cell's emulator cannot be the cause's innocent bystander: it refuses connections."""

        # the emulator itself: the strict front (and a fault proxy) in front of it still accept connections
        # and answer 502 when it is gone
        endpoint = self.target.emulator_url or (self.clients.access.endpoint if self.clients is not None else None)
        if not endpoint:
            return None
        parts = urlsplit(endpoint)
        try:
            with socket.create_connection((parts.hostname, parts.port or 80), timeout=2):
                return None
        except OSError as exc:
            return (f"the emulator at {endpoint} is gone ({exc.strerror or exc}): it stopped or was restarted, "
                    "and a restarted emulator has lost this cell's account and resources")

    def _deploy_and_test(self) -> None:
        cell, opts = self.cell, self.options
        given = opts.documents.get(cell.id)
        synth = Path(given) if given else synth_file(cell.id)
        self.deployment = Deployment.load(cell.id)
        if self.deployment and (self.deployment.target != cell.target):
            raise UsageError(f"cell {cell.id} is deployed on {self.deployment.target} (build/deployments); "
                             f"destroy it first: python -m matrix destroy {cell.id}")
        access = self._access()
        if self.chaos is not None:
            access = self.chaos.arm(access)
        self.clients = ClientFactory(access, max_attempts=opts.max_attempts)
        if self.chaos is not None:
            self.chaos.install(self.clients)
        stack_config = cell.stack_config(run_id=None)
        self.engine = self._make_engine(synth)
        chaos, scenario = self.chaos, self.scenario
        if chaos is not None and chaos.scenario.setup is not None:
            self.step("chaos setup", lambda s: self._note(s, chaos.setup()))
        phases: tuple[Phase | None, ...] = scenario.phases if scenario is not None else (None,)
        if self._unchanged_since_last_apply():
            self.deployed = True
        else:
            for phase in phases:
                self._run_phase(phase, len(phases) > 1)
            self._remember_apply()
        if self.stop_all.is_set() or self.cancel.is_set():
            raise StackmatrixError("cancelled before the live suite")
        if opts.skip_live:  # said in every report: this cell's stack was deployed but not tested
            self.result.steps.append(Step("live suite", status=Status.SKIPPED, stopped=now_ms(),
                                          message="not run (--skip-live): the deployed stack was not tested"))
            self.say("live suite: skipped (--skip-live)")
        else:
            try:
                self.step("live suite", lambda s: self._live_suite(s, access, stack_config))
                self.live_ok = True
            except BaseException:
                self.live_ok = False
                raise
        if chaos is not None and chaos.scenario.after_tests is not None:
            self.step(f"chaos: {chaos.scenario.description}", lambda s: self._note(s, chaos.after_tests()))

    def _make_engine(self, synth: Path) -> Engine:
        """The cell's engine; a configuration it refuses (before any API call) is a failed step that
        names the resource, the argument and the way out."""

        assert self.clients is not None and self.deployment is not None, "clients and record come first"
        try:
            return make_engine(self.cell, synth, self.clients, self.options, self.deployment.run_id, self.log,
                               self.cancel)
        except ConfigError as exc:
            message = redact(f"refused before any API call: {exc}")
            step = Step("configuration", status=Status.FAILED, message=message)
            step.stopped = now_ms()
            self.result.steps.append(step)
            self.result.save()
            raise StepFailed(message, ErrorCategory.POLICY) from exc

    # -- dev loop ----------------------------------------------------------------------------
    def _synth_key(self) -> str:
        try:
            return json.loads((build_dir() / "synth" / self.cell.id / "meta.json").read_text())["key"]
        except (OSError, ValueError, KeyError):
            return ""

    def _unchanged_since_last_apply(self) -> bool:
        d = self.deployment
        if not (self.options.dev and d and d.kept and not self.options.refresh and self.scenario is None):
            return False
        if not self._synth_key() or d.extra.get("applied_key") != self._synth_key():
            return False
        outputs = outputs_dir() / f"{self.cell.id}.json"
        if not outputs.is_file():
            return False
        self.result.outputs = json.loads(outputs.read_text())
        self.result.changes = {"create": 0, "update": 0, "replace": 0, "delete": 0, "noop": 0}
        self.say("apply: skipped, the stack has not changed since the last apply (--refresh to check the account)")
        return True

    def _remember_apply(self) -> None:
        if self.deployment is not None:
            self.deployment.extra["applied_key"] = self._synth_key()
            self.deployment.save()

    # -- chaos -------------------------------------------------------------------------------
    def _note(self, step: Step, message: str) -> None:
        step.message = message
        self.say(message)

    @contextmanager
    def _phase_lock_timeout(self, phase: Phase | None) -> Iterator[None]:
        """The phase's lock timeout on this cell's engine (its own options: make_engine), for this phase only."""
        assert self.engine is not None
        options = self.engine.options
        run_wide = options.lock_timeout
        if phase is not None and phase.lock_timeout is not None:
            options.lock_timeout = phase.lock_timeout
        try:
            yield
        finally:
            options.lock_timeout = run_wide

    def _run_phase(self, phase: Phase | None, named: bool) -> None:
        with self._phase_lock_timeout(phase):
            self._run_phase_steps(phase, named)

    def _run_phase_steps(self, phase: Phase | None, named: bool) -> None:
        opts = self.options
        assert self.clients is not None
        label = f" ({phase.name})" if named and phase is not None else ""
        bootstrap = opts.bootstrap_backend if phase is None or phase.bootstrap is None else phase.bootstrap
        record: dict[str, Any] = {"name": phase.name if phase is not None else "deploy", "outcome": "ok",
                                  "expected_error": phase.expect_error if phase is not None else None}
        self.phases.append(record)
        mark = self.clients.counters.mark()
        before = resource_mutations(self.clients)
        started = time.monotonic()
        try:
            if phase is not None and phase.force_unlock:
                self._force_unlock_held(record)
            self.step("backend" + label, lambda s: self._backend(s, bootstrap))
            self.deployed = True
            self.step("apply" + label, self._apply)
        except StackmatrixError as exc:
            record.update(outcome="failed", error_class=type(exc).__name__, category=error_category(exc),
                          message=redact(str(exc)))
            record["resource_mutations"] = resource_mutations(self.clients) - before
            record["state"] = self._state_check()
            if phase is None or phase.expect_error != type(exc).__name__:
                raise
            step = self.result.steps[-1]
            step.status = Status.PASSED
            step.message = f"failed by design ({type(exc).__name__}): {redact(str(exc))}"
            step.details.pop("trace", None)
            self.say(f"{phase.name}: failed by design with {type(exc).__name__}")
            if phase.ask_terraform and self.chaos is not None:
                self.chaos.notes.terraform = self.chaos.terraform_verdict()
            return
        finally:
            record["seconds"] = round(time.monotonic() - started, 3)
            record["api"] = self.clients.counters.since(mark)
        record["resource_mutations"] = resource_mutations(self.clients) - before

    def _force_unlock_held(self, record: dict[str, Any]) -> None:
        assert self.engine is not None
        holder = self.engine.backend.current_lock()
        if holder is None:
            return
        self.say(f"--force-unlock: releasing lock {holder.get('ID')} held by {holder.get('Who')}")
        self.engine.force_unlock(holder["ID"])
        record["force_unlocked"] = {"ID": holder.get("ID"), "Who": holder.get("Who")}

    def _state_check(self) -> dict[str, Any]:
        """Is the state intact and does it name everything that exists (after a failure)?"""
        assert self.engine is not None and self.clients is not None and self.deployment is not None
        try:
            state, origin = self.engine.backend.read(bucket_may_be_gone=True)
        except Exception as exc:
            return {"readable": False, "error": redact(f"{type(exc).__name__}: {exc}")}
        recorded = {(state.get(a) or {}).get("id") for a in state.addresses()}
        try:
            live = cell_leftovers(self.clients, self.cell, self.deployment.run_id)
        except Exception as exc:
            return {"readable": True, "serial": state.serial, "error": f"listing live resources: {exc}"}
        missing = sorted(lo.line() for lo in live if lo.id not in recorded and lo.type != "aws_route_table_association")
        return {"readable": True, "version": 4, "serial": state.serial, "lineage": state.lineage, "origin": origin,
                "in_state": len(recorded), "live": len(live), "not_in_state": missing, "consistent": not missing}

    def _access(self) -> Access:
        d = self.deployment
        if d is not None:
            self.resumed = True
            self.say(f"resuming deployment of run {d.run_id} (account {d.account_id}, "
                     f"{'kept' if d.kept else 'interrupted'})")
            return self.target.reattach(d)
        access = self.target.access(self.cell.id, self.cell.region, self.run_id)
        self.deployment = Deployment(
            cell=self.cell.id, run_id=self.run_id, target=self.cell.target, engine=self.cell.engine,
            region=self.cell.region, endpoint=access.endpoint, account_id=access.account_id,
            emulator=self.target.emulator_url if self.target.front is not None else None,
            strict_front=self.target.front.name if self.target.front is not None else None,
            access_key=access.access_key if self.cell.target != "aws" else None,  # emulator test keys only
            secret_key=access.secret_key if self.cell.target != "aws" else None, profile=access.profile,
            suffix=self.cell.suffix, fault=self.cell.fault, matrix_profile=self.cell.profile,
            project=self.cell.stack_config().project)
        self.deployment.save()
        record_in_ledger(self.run_id, {
            "cell": self.cell.id, "region": self.cell.region, "suffix": self.cell.suffix, "fault": self.cell.fault,
            # sweeps go to the emulator itself (deletes need no judge; a run's front may be gone by then)
            "target": self.cell.target, "endpoint": self.target.emulator_url or access.endpoint,
            "front": self.target.front.url if self.target.front is not None else None, "account_id": access.account_id,
            "access_key": self.deployment.access_key, "secret_key": self.deployment.secret_key,
            "profile": access.profile})
        return access

    def _backend(self, step: Step, bootstrap: bool | None = None) -> None:
        assert self.engine is not None
        done = self.engine.backend_check(self.options.bootstrap_backend if bootstrap is None else bootstrap)
        step.message = "; ".join(done) or "state bucket and lock table present"
        self.say(f"backend: {step.message}")

    def _apply(self, step: Step) -> None:

        assert self.engine is not None
        started = time.monotonic()
        position = self.clients.log_position() if self.clients is not None else 0
        try:
            try:
                plan = self.engine.apply()
            except LockHeld as exc:
                if not self.options.force_unlock or not exc.info.get("ID"):
                    raise
                self.say(f"--force-unlock: releasing lock {exc.info['ID']} held by {exc.info.get('Who')}")
                self.engine.force_unlock(exc.info["ID"])
                plan = self.engine.apply()
        finally:
            self._attach_apply_evidence(step, position)
        outputs = self.engine.current_outputs()
        path = outputs_dir() / f"{self.cell.id}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(outputs, indent=2, sort_keys=True))
        self.result.outputs = outputs
        self.result.changes = plan.counts()
        step.message = plan.summary()
        step.details["drift"] = [c.line() for c in plan.drift]
        self.result.attach("outputs", outputs, "outputs.json", step=step)
        self.result.attach("changes", "\n".join([plan.summary(), *plan.lines()]) + "\n", "changes.txt", step=step)
        self.say(f"apply: {plan.summary()} in {time.monotonic() - started:.1f} s")
        for change in plan.drift:
            self.say(f"drift repaired: {change.address}: {change.reason}")

    def _attach_apply_evidence(self, step: Step, position: int) -> None:
        """The read-back's verdict per resource and argument, and every API call of the apply."""
        readback = self.engine.readback if self.engine is not None else {}
        if readback:
            step.details["read_back"] = {k: readback[k] for k in ("resources", "arguments", "calls")}
            head = (f"read-back: {readback['resources']} resource(s), {readback['arguments']} argument(s) described "
                    f"again in {readback['calls']} API call(s); {len(readback['differences'])} difference(s)")
            self.result.attach("read-back", "\n".join([head, *readback["lines"]]) + "\n", "read-back.txt", step=step)
        if self.clients is not None:
            lines = self.clients.call_lines(position)
            if lines:
                self.result.attach("API calls", "\n".join(lines) + "\n", "api-calls.txt", step=step)

    def _live_suite(self, step: Step, access: Access, stack_config: StackConfig) -> None:
        assert self.deployment is not None
        counters_file = self.result.folder / "live-counters.json"
        env = dict(os.environ)
        env.update({
            "STACKMATRIX_CELL": json.dumps(self.cell.to_dict()),
            "STACKMATRIX_STACK_CONFIG": json.dumps(stack_config.to_dict()),
            "STACKMATRIX_OUTPUTS": str(outputs_dir() / f"{self.cell.id}.json"),
            "STACKMATRIX_ACCESS": json.dumps({
                "region": access.region, "endpoint": access.endpoint, "access_key": access.access_key,
                "secret_key": access.secret_key, "profile": access.profile, "account_id": access.account_id}),
            "STACKMATRIX_RUN_ID": self.deployment.run_id,
            "STACKMATRIX_SUITE_COUNTERS": str(counters_file),
            BUILD_ENV: str(build_dir().resolve()),  # findings it records land in this run's build (findings.py)
            "AWS_SDK_UA_APP_ID": "stackmatrix-live",  # names the suite's calls (strict front stats, CloudTrail)
            "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")])),
        })
        junit = self.result.folder / "live-junit.xml"
        junit.unlink(missing_ok=True)
        remaining = max(30.0, self.deadline - time.monotonic())  # what the cell timeout leaves it
        proc = run_suite(self.suite_worker, "live", [f"--junitxml={junit}", *self.options.extra_pytest], env,
                         remaining)
        self.result.attach("live suite output", proc.stdout[-20000:] + proc.stderr[-5000:], "live-suite.txt",
                           step=step)
        if counters_file.is_file():
            step.details["suite_api"] = json.loads(counters_file.read_text())
        step.details["tests"] = suite_outcomes(junit)
        summary = (proc.stdout.strip().splitlines() or ["(no output)"])[-1]
        step.message = summary
        self.say(f"live suite: {summary}")
        if proc.returncode != 0:
            raise StepFailed(f"live suite failed: {summary}")

    # -- teardown ----------------------------------------------------------------------------
    def _teardown(self) -> None:
        if not self.deployed or self.engine is None:
            self._forget_if_empty()
            return
        assert self.deployment is not None
        if self.options.keep and self.result.status == Status.PASSED:
            self.deployment.kept = True
            self.deployment.save()
            self.say(f"kept deployed (account {self.deployment.account_id}); "
                     f"`python -m matrix env {self.cell.id}` prints its environment")
            return
        teardown = threading.Event()  # its own event: Ctrl-C/SIGTERM cancel the deploy, never the teardown
        self.engine.use_cancel(teardown)
        timer = threading.Timer(self.options.teardown_timeout, teardown.set)
        timer.daemon = True
        timer.start()
        try:
            before = self._state_ids()
            try:
                self.step("destroy", self._destroy)
            except BaseException as exc:
                if self.result.status == Status.PASSED:
                    self._fail(exc)
                return
            self.step("leak check", lambda s: self._leak_check(s, before))
            self.deployment.remove()
        except BaseException as exc:
            if self.result.status == Status.PASSED:
                self._fail(exc)
        finally:
            timer.cancel()

    def _forget_if_empty(self) -> None:
        """Nothing was created by this run (e.g. its backend check failed): its record is not needed.
        A resumed record stays: its state may still name resources that `destroy` must reach."""
        if self.deployment is not None and not self.deployment.kept and not self.deployed and not self.resumed:
            self.deployment.remove()

    def _state_ids(self) -> dict[str, dict[str, Any]]:
        return state_ids(self.engine.state if self.engine is not None else None)

    def _destroy(self, step: Step) -> None:
        assert self.engine is not None
        started = time.monotonic()
        count = self.engine.destroy()
        step.message = f"{count} resource(s) destroyed"
        for note in self.engine.notes:
            self.say(note)
            step.message += f"; {note}"
        kept = self.engine.state_kept_locally
        if kept is not None and self.chaos is not None:
            self.chaos.notes.state_local = str(kept)
        self.say(f"destroy: {count} resource(s) in {time.monotonic() - started:.1f} s")

    def _leak_check(self, step: Step, before: dict[str, dict[str, Any]]) -> None:
        assert self.clients is not None and self.deployment is not None
        leftovers = cell_leftovers(self.clients, self.cell, self.deployment.run_id, before)
        self.result.leaks = [lo.line() for lo in leftovers]
        if leftovers:
            self.result.attach("leaked resources", "\n".join(self.result.leaks) + "\n", "leaks.txt", step=step)
            raise StepFailed(f"leaked resources after destroy: {', '.join(self.result.leaks)} "
                             f"(remove with: python -m matrix sweep --run-id {self.deployment.run_id})",
                             ErrorCategory.LEAKED)
        step.message = "no leftovers"
        self.say("leak check: no leftovers")

    def _finish(self) -> None:
        self.result.stopped = now_ms()
        if self.clients is not None:
            self.result.counters = self.clients.counters.as_dict()
            for step in self.result.steps:
                suite = step.details.get("suite_api")
                if suite:
                    for table, values in suite.items():
                        for key, n in values.items():
                            self.result.counters.setdefault(table, {})
                            self.result.counters[table][key] = self.result.counters[table].get(key, 0) + n
        if self.result.account_id == "" and self.deployment is not None:
            self.result.account_id = self.deployment.account_id
        if self.result.status != Status.PASSED and self.log_path.is_file():
            tail = self.log_path.read_text().splitlines()[-80:]
            self.result.attach("engine log (tail)", "\n".join(tail) + "\n", "engine-log-tail.txt")
        self.result.save()
        self.finished = True
        seconds = (self.result.stopped - self.result.started) / 1000
        notify(self.progress, "cell_finished", self.cell.id, self.result.status)
        self.progress(f"[{self.cell.id}] {self.result.status.upper()} in {seconds:.1f} s")


class StepFailed(StackmatrixError):
    """An expectation was not met (a test failed, a leak was found): the cell failed, not broke."""

    def __init__(self, message: str, category: ErrorCategory = ErrorCategory.PRODUCT_DEFECT) -> None:
        super().__init__(message)
        self.category = category


#: failures that mean "not as expected" (failed) rather than "the tool or the environment broke";
#: a read-back mismatch is one: AWS does not hold what the configuration says
NOT_AS_EXPECTED = (AssertionError, StepFailed, ReadBackMismatch)


def suite_outcomes(junit: Path) -> dict[str, list[dict[str, str]]]:
    """The live suite's JUnit file as data: {"failed": [{"test", "message"}], "skipped": [{"test", "reason"}]}
    (a failure excused as a known emulator gap is a skip whose reason starts "Emulator gap")."""

    out: dict[str, list[dict[str, str]]] = {"failed": [], "skipped": []}
    try:
        root = ET.parse(junit).getroot()  # noqa: S314 - pytest's own file, written a moment ago
    except (OSError, ET.ParseError):
        return out
    for case in root.iter("testcase"):
        name = f"{case.get('classname', '').rsplit('.', 1)[-1]}::{case.get('name', '')}"
        for tag, key, field_name in (("failure", "failed", "message"), ("error", "failed", "message"),
                                     ("skipped", "skipped", "reason")):
            found = case.find(tag)
            if found is not None:
                text = (found.get("message") or found.text or "").strip()
                out[key].append({"test": name, field_name: redact(" ".join(text.split()))[:500]})
                break
    return out


def error_origin(exc: BaseException) -> dict[str, Any]:
    """What raised a failure, as data: the root cause's class ("cause") and, when an AWS API (or the
    emulator) answered with an error, {"code", "status", "operation"} under "aws_error"."""
    root = exc
    while isinstance(root, ApplyError) and root.cause is not root:
        root = root.cause
    out: dict[str, Any] = {"cause": type(root).__name__}
    if isinstance(root, ClientError):
        meta = root.response.get("ResponseMetadata", {})
        out["aws_error"] = {"code": root.response.get("Error", {}).get("Code", ""),
                            "status": meta.get("HTTPStatusCode"), "operation": root.operation_name}
    return out


def resource_mutations(clients: ClientFactory) -> int:
    """Mutating calls on the stack's services (state and lock traffic excluded)."""
    return sum(n for svc, n in clients.counters.as_dict()["mutating"].items() if svc in ("ec2", "iam", "logs"))


def error_category(exc: BaseException) -> ErrorCategory | str:
    """The report category token (reports/categories.py) for a failure."""
    if isinstance(exc, StepFailed):
        return exc.category
    if isinstance(exc, ReadBackMismatch):
        return ErrorCategory.PRODUCT_DEFECT
    if isinstance(exc, MissingStateBucket):
        return ErrorCategory.MISSING_STATE_BUCKET
    if isinstance(exc, LockHeld):
        return ErrorCategory.LOCK_CONTENTION
    if isinstance(exc, StateWriteFailed | StateConflict):
        return ErrorCategory.STATE_LOST
    if isinstance(exc, MissingLockTable | ConfigError | UsageError):
        return ErrorCategory.POLICY
    cause = exc.cause if isinstance(exc, ApplyError) else exc
    if error_code(cause) in THROTTLE_CODES:
        return ErrorCategory.THROTTLING
    return type(exc).__name__


@dataclass
class RunResult:
    run_id: str
    results: list[CellResult]
    seconds: float
    synth_failed: bool = False
    interrupted: bool = False
    gates: GateReport | None = None  # the quality gates over `results` (matrix/gates.py), once evaluated
    strict_gaps: JudgingGaps | None = None  # what the strict front forwarded unjudged during the run

    @property
    def exit_code(self) -> int:
        if self.synth_failed or self.interrupted:
            return 1
        if self.gates is not None and not self.gates.ok:
            return 1
        return 0 if all(r.status == Status.PASSED for r in self.results) else 1


class Runner:
    def __init__(self, cells: list[Cell], options: RunOptions, progress: Callable[[str], None] = print) -> None:
        self.cells = cells
        self.options = options
        self.progress = progress
        self.run_id = options.run_id or new_run_id()
        self.stop_all = threading.Event()
        self.runs: list[CellRun] = []
        self.target_facts: dict[str, str] = {}
        self.target: Target | None = None  # set by the CLI when it prepared (and vetted) one
        self.synth_worker: Callable[[list[dict], str], dict] | None = None  # warm in-process synth
        # the warm pytest worker of the cells' suites; the dev loop passes one that outlives the run
        self.suite_worker: SuiteWorker | None = None

    def run(self) -> RunResult:
        suites = self.suite_worker or SuiteWorker()  # the run's (or the dev loop's) warm pytest worker
        if (self.options.synth_check and not self.options.dev) or not self.options.skip_live:
            suites.start_soon()  # warm while the stack synthesizes
        try:
            return self._run(suites)
        finally:
            if suites is not self.suite_worker:
                suites.stop()

    def _run(self, suites: SuiteWorker) -> RunResult:
        started = time.monotonic()
        from matrix.suites import run_synth_suite  # lazy: only runs that synthesize
        from matrix.synth import synthesize  # lazy: only runs that synthesize

        given = self.options.documents
        if given and (self.options.synth_check or self.options.dev):
            raise UsageError("cells deployed from given documents (RunOptions.documents) are not synthesized "
                             "here, so the synth suite cannot check them: switch synth_check (and dev) off")
        forget_stored()  # the synth suite's stored findings (findings.sarif reuses them) are this run's only
        synth = synthesize([c for c in self.cells if c.id not in given], flavor=self.options.cdk,
                           progress=self.progress, worker=self.synth_worker)
        self.progress(f"synth: {len(synth.synthesized)} synthesized, {len(synth.cached)} from cache "
                      f"({synth.seconds:.1f} s)")
        # the dev loop checks what it re-synthesized, in this process (the rules take milliseconds; a
        # pytest process for them, about 0.8 s); a run checks every cell through the suite (for the report)
        if self.options.dev:
            violations = policy_violations([c for c in self.cells if c.id in synth.synthesized])
            for v in violations:
                self.progress(v.line())
            failed = bool(violations)
        else:
            failed = self.options.synth_check and run_synth_suite(self.cells, worker=suites) != 0
        if failed:
            self.progress("synth suite: policy violations (above): nothing was deployed")
            return RunResult(self.run_id, [], time.monotonic() - started, synth_failed=True)
        target = self.target or make_target(self.options, self.progress)
        target.start()
        if self.options.chaos_backend == "localstack":
            from matrix.chaos.localstack_api import LocalStackChaos  # lazy: only LocalStack chaos runs

            try:
                if target.endpoint is None:
                    raise UsageError("--chaos-backend localstack needs the localstack target")
                LocalStackChaos(target.endpoint).require()  # UsageError: the community edition has none
            except BaseException:
                target.stop()
                raise
        self.target_facts = target.describe()
        front = target.front if isinstance(target.front, StrictFront) else None
        judged_before = front.stats() if front is not None else None  # the front may serve other runs too
        self.progress(f"target: {target.name} at {target.endpoint or 'AWS'}; run {self.run_id}; "
                      f"{len(self.cells)} cell(s), {self.options.jobs} at a time")
        previous = self._install_signal_handlers()
        results: list[CellResult] = []
        interrupted = False
        try:
            with ThreadPoolExecutor(max_workers=max(1, self.options.jobs), thread_name_prefix="cell") as pool:
                for cell in self.cells:
                    run = CellRun(cell, self.options, self.run_id, target, self.progress, self.stop_all)
                    run.suite_worker = suites
                    self.runs.append(run)
                # longest first (a fault scenario's designed waits), so that no long cell starts last and
                # ends the run alone; results stay in the profile's order
                submitted = {id(run): pool.submit(self._guarded, run)
                             for run in sorted(self.runs, key=expected_cost, reverse=True)}
                futures = [submitted[id(run)] for run in self.runs]
                while not all(f.done() for f in futures):
                    try:
                        time.sleep(0.2)
                    except KeyboardInterrupt:
                        self._interrupt("Ctrl-C")
                results = [f.result() for f in futures]
        finally:
            self._restore_signal_handlers(previous)
            interrupted = self.stop_all.is_set()
            gaps = judging_gaps(judged_before, front.stats(), str(StrictFront.stderr_path(front.name))) \
                if front is not None else None
            if gaps is not None and not gaps.empty and "strict" in self.target_facts:
                self.target_facts["strict"] += "; WARNING " + "; ".join(
                    line.removeprefix("WARNING strict: ") for line in gaps.lines())
            kept = any(r.deployment and r.deployment.kept for r in self.runs)
            target.stop(keep_running=kept)
            if kept and target.endpoint:
                self.progress(f"target left running at {target.endpoint} for kept cells")
        return RunResult(self.run_id, results, time.monotonic() - started, interrupted=interrupted,
                         strict_gaps=gaps)

    def _guarded(self, run: CellRun) -> CellResult:
        if self.stop_all.is_set():
            run.result.status = Status.SKIPPED
            run.result.error = {"step": "start", "category": ErrorCategory.INTERRUPTED,
                                "message": "run interrupted before start"}
            run.result.stopped = now_ms()
            run.result.save()
            notify(self.progress, "cell_finished", run.cell.id, Status.SKIPPED)
            return run.result
        return run.execute()

    def _interrupt(self, why: str) -> None:
        if self.stop_all.is_set():
            self.progress(f"{why} again: teardown is still running; state is kept, "
                          "`python -m matrix destroy` finishes it later")
            return
        self.progress(f"{why}: stopping every cell and tearing down what was deployed ...")
        self.stop_all.set()
        for run in self.runs:
            run.cancel.set()
            if not run.finished and run.result.error is None and run.result.status == Status.PASSED:
                run.result.error = {"step": run._current_step(), "category": ErrorCategory.INTERRUPTED,
                                    "message": f"run interrupted ({why})"}
                run.result.status = Status.BROKEN

    def _install_signal_handlers(self) -> dict[int, Any]:
        if threading.current_thread() is not threading.main_thread():
            return {}
        previous: dict[int, Any] = {}
        previous[signal.SIGTERM] = signal.signal(signal.SIGTERM, lambda *_: self._interrupt("SIGTERM"))
        return previous

    @staticmethod
    def _restore_signal_handlers(previous: dict[int, Any]) -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def expected_cost(run: CellRun) -> float:
    """A cell's typical seconds, for ordering only: its scenario's hint, else a plain deploy's."""
    return run.scenario.typical_seconds if run.scenario is not None else 2.0


def start_reports(run_info: dict[str, Any], progress: Callable[[str], None]) -> None:
    """A run starts with empty results (history lives elsewhere), its metadata and the CI it runs in."""
    for folder in (allure_results_dir(), cells_dir()):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True, exist_ok=True)
    try:
        from reports.build import write_run_metadata  # lazy: reports may be absent (ImportError below)
        from reports.executor import detect_ci  # lazy: as above
    except ImportError:
        return
    write_run_metadata(run=run_info)
    progress(detect_ci().describe())


def summarize(result: RunResult) -> list[str]:
    lines = []
    for r in result.results:
        why = f" — {r.error['step']}: {r.error['message']}" if r.error else ""
        lines.append(f"{r.status.upper():8} {r.cell}{why}")
    passed = sum(r.status == Status.PASSED for r in result.results)
    lines.append(f"{passed}/{len(result.results)} cell(s) passed in {result.seconds:.1f} s (run {result.run_id})")
    if result.gates is not None:
        lines += result.gates.lines()
    if result.strict_gaps is not None:
        lines += result.strict_gaps.lines()
    return lines


def write_run_record(result: RunResult, options: RunOptions, path: Path | None = None) -> Path:
    path = path or build_dir() / "run.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({
        "run_id": result.run_id, "exit_code": result.exit_code, "seconds": round(result.seconds, 2),
        "cells": [r.cell for r in result.results], "target": options.target, "engine": options.engine,
        "interrupted": result.interrupted, "synth_failed": result.synth_failed,
        "gates": result.gates.to_dict() if result.gates is not None else None,
        "strict_gaps": result.strict_gaps.to_dict() if result.strict_gaps is not None else None,
    }, indent=2))
    return path
