"""Driving one fault cell: arming its faults, its scenario's hooks, and judging its expectation.

The runner (matrix/runner.py) owns a cell's life (phases, live suite, teardown); for a cell with a
fault it hands this `ChaosDriver` the parts that are about the fault:
  * `arm(access)`    where the faults come from: a fault proxy of the cell's own in front of the
                     emulator (default), the LocalStack Chaos API (`--chaos-backend localstack`), or
                     botocore hooks in our clients plus an AWS FIS template (real accounts);
  * `setup()` / `after_tests()`  the scenario's hooks (scenarios.py), which get a `HookContext`:
                     the cell's state backend, its clients and the typed `ChaosNotes` for the report;
  * `terraform_verdict()`        what the real terraform binary says about the same backend;
  * `judge()`        after teardown: the chaos report (build/cells/<cell>/chaos.json) and the chaos
                     suite (suites/chaos) that decides whether the expectation was met;
  * `stop()`         the proxy down, LocalStack's fault rules cleared.

What the driver may use of the cell's run is the `ChaosCell` protocol below (the runner's CellRun
satisfies it); the hooks see only their `HookContext`.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol

from matrix.cells import Cell
from matrix.chaos.scenarios import SURVIVE, ChaosNotes, HookContext, Scenario, scenario, with_expectation
from matrix.clients import THROTTLE_CODES, Access, ClientFactory
from matrix.errors import StackmatrixError, UsageError
from matrix.paths import PROJECT_ROOT, build_dir, synth_file
from matrix.results import Attachment, CellResult, ErrorCategory, Status, Step, now_ms
from matrix.state.backend import MissingStateBucket
from matrix.suite_worker import SuiteWorker
from matrix.suites import run_suite
from matrix.targets.base import Deployment

if TYPE_CHECKING:  # types only: the engines load when a cell deploys
    from matrix.chaos.hooks import FaultHooks
    from matrix.chaos.localstack_api import LocalStackChaos
    from matrix.chaos.proxy import FaultProxy
    from matrix.chaos.rules import RuleSet
    from matrix.engines.base import Engine


class ChaosSettings(Protocol):
    """The run settings the driver reads (RunOptions has them)."""

    chaos_seed: int
    chaos_backend: str  # proxy | localstack
    skip_live: bool


class ChaosCell(Protocol):
    """What the driver uses of a cell's run (matrix/runner.py CellRun), and nothing else."""

    @property
    def cell(self) -> Cell: ...

    @property
    def options(self) -> ChaosSettings: ...

    @property
    def result(self) -> CellResult: ...

    @property
    def deployment(self) -> Deployment | None: ...

    @property
    def clients(self) -> ClientFactory | None: ...

    @property
    def engine(self) -> Engine | None: ...

    @property
    def phases(self) -> list[dict[str, Any]]: ...

    @property
    def live_ok(self) -> bool | None: ...

    @property
    def suite_worker(self) -> SuiteWorker | None: ...

    def say(self, msg: str) -> None: ...

    def log(self, msg: str) -> None: ...


def chaos_scenario(fault: str | None, overrides: dict[str, str]) -> Scenario | None:
    """The cell's scenario, judged against `--expect` when the user overrides its expectation."""
    if not fault:
        return None

    chosen = scenario(fault)
    if chosen is not None and fault in overrides:
        chosen = with_expectation(chosen, overrides[fault])
    return chosen


def observed_faults(counters: dict[str, dict[str, int]], rules: RuleSet) -> dict[str, Any]:
    """What the cell's clients saw of faults injected out of our sight (LocalStack's Chaos API counts
    nothing): attempts that were retried, plus final answers carrying a code the rules give. Marked
    `observed` (never a count of injections); no latency figure: the live suite's durations show it."""
    given = {r.code for r in rules.rules if r.effect in ("throttle", "error") and r.code}
    if any(r.effect == "throttle" and not r.code for r in rules.rules):
        given |= set(THROTTLE_CODES)  # a throttle rule without a code answers the service's own
    retried = sum(counters.get("retries", {}).values())
    failed = sum(n for key, n in counters.get("errors", {}).items() if key.split(":", 1)[-1] in given)
    return {"total": retried + failed, "by_effect": {}, "by_service": {}, "by_rule": {}, "by_operation": {},
            "observed": "retried or failed calls the cell's clients saw (LocalStack's Chaos API does not "
                        "count the faults it injects)"}


class ChaosDriver:
    def __init__(self, run: ChaosCell, scenario: Scenario) -> None:
        self.run = run
        self.scenario = scenario
        self.proxy: FaultProxy | None = None
        self.hooks: FaultHooks | None = None
        self.localstack: LocalStackChaos | None = None
        self.rules: RuleSet | None = None
        self.notes = ChaosNotes()

    # -- faults ------------------------------------------------------------------------------
    def arm(self, access: Access) -> Access:
        """Arm the scenario's rules now; returns the access the cell's clients must use."""
        from matrix.chaos import FaultLog, FaultProxy, parse_rules  # lazy: only fault cells load it

        run, s = self.run, self.scenario
        if not s.rules:
            return access
        rules = self.rules = parse_rules(list(s.rules), source=f"scenario {s.name}", seed=run.options.chaos_seed)
        fault_log = FaultLog(run.result.folder / "faults.jsonl")
        endpoint = access.endpoint  # None: a real account
        if run.options.chaos_backend == "localstack":
            from matrix.chaos.localstack_api import LocalStackChaos  # lazy: only fault cells load it

            if endpoint is None:
                raise UsageError("--chaos-backend localstack needs a LocalStack endpoint, not a real account")
            self.localstack = LocalStackChaos(endpoint)
            self.localstack.set_faults(rules)
            run.say(f"chaos: {s.description} (LocalStack Chaos API at {access.endpoint})")
            return access
        if run.cell.target != "aws" and endpoint is not None:
            self.proxy = FaultProxy(endpoint, rules, fault_log=fault_log, cell=run.cell.id).start()
            run.say(f"chaos: {s.description} (proxy {self.proxy.url})")
            return replace(access, endpoint=self.proxy.url)
        # a real account: no proxy in front of TLS endpoints; the same rules inside our clients, and
        # an AWS FIS template for the EC2 part, for the user to run against every client
        from matrix.chaos.hooks import FaultHooks  # lazy: only fault cells load it

        self.hooks = FaultHooks(rules, fault_log=fault_log, cell=run.cell.id)
        self._write_fis_template(rules)
        run.say(f"chaos: {s.description} (client-side hooks; FIS template in {run.result.folder})")
        return access

    def install(self, clients: ClientFactory) -> None:
        """Client-side hooks register on the cell's session before any client exists."""
        if self.hooks is not None:
            self.hooks.install_session(clients.session)

    def _write_fis_template(self, rules: RuleSet) -> None:
        from matrix.chaos.fis import fis_template  # lazy: only fault cells load it

        run = self.run
        account = run.deployment.account_id if run.deployment else "123456789012"
        try:
            template = fis_template(rules, target_role_arns=[f"arn:aws:iam::{account}:role/YOUR-DEPLOYER-ROLE"],
                                    experiment_role_arn=f"arn:aws:iam::{account}:role/YOUR-FIS-ROLE")
        except UsageError as exc:
            run.say(f"chaos: no FIS template ({exc})")
            return
        run.result.attach("FIS experiment template (EC2 throttling)", template.to_json(), "fis-template.json",
                          "application/json")

    def stop(self) -> None:
        if self.proxy is not None:
            self.proxy.stop()
        if self.localstack is not None:
            self.localstack.clear()

    # -- scenario hooks ----------------------------------------------------------------------
    def hook_context(self) -> HookContext:
        run = self.run
        if run.engine is None or run.clients is None:
            raise StackmatrixError("a scenario hook runs once the cell has its clients and its engine")
        return HookContext(backend=run.engine.backend, clients=run.clients, notes=self.notes)

    def setup(self) -> str:
        return self.scenario.setup(self.hook_context()) if self.scenario.setup is not None else ""

    def after_tests(self) -> str:
        return self.scenario.after_tests(self.hook_context()) if self.scenario.after_tests is not None else ""

    def terraform_verdict(self) -> str:
        """What the real terraform binary says about the same backend (missing bucket scenario)."""
        from matrix.engines.terraform import (  # lazy: only fault cells load it
            TerraformEngine,
            TerraformOptions,
            terraform_binary,
        )

        run = self.run
        if terraform_binary() is None:
            return "terraform not on PATH: not asked"
        if run.clients is None or run.deployment is None:
            return "terraform not asked: the cell has no clients yet"
        synth = synth_file(run.cell.id)
        tf = TerraformEngine(run.cell.id, synth, run.clients, build_dir() / "terraform" / run.cell.id,
                             TerraformOptions(bootstrap_backend=False), run_id=run.deployment.run_id, log=run.log)
        try:
            tf.backend_check(bootstrap=False)
            return "terraform init found the bucket"
        except MissingStateBucket as exc:
            return exc.detail or str(exc)
        except Exception as exc:
            return f"terraform could not be asked: {type(exc).__name__}: {exc}"

    # -- the verdict -------------------------------------------------------------------------
    def report(self) -> dict[str, Any]:
        run, s = self.run, self.scenario
        steps = {step.name: step for step in run.result.steps}
        counters = run.clients.counters.as_dict() if run.clients else {}
        source: FaultProxy | FaultHooks | None = self.proxy or self.hooks
        faults = source.fault_log.summary() if source is not None and source.fault_log else {}
        if self.localstack is not None and self.rules is not None:
            faults = observed_faults(counters, self.rules)
        live = steps.get("live suite")
        return {
            "scenario": s.name, "description": s.description, "expectation": s.expectation,
            "error_class": s.error_class, "needs_retries": s.needs_retries, "min_latency_ms": s.min_latency_ms,
            "phases": run.phases, "live_ok": run.live_ok, "live_skipped": run.options.skip_live,
            "live_seconds": live.seconds if live else None,
            "live_calls": sum((live.details.get("suite_api") or {}).get("calls", {}).values()) if live else 0,
            "destroy_ok": steps["destroy"].status == "passed" if "destroy" in steps else None,
            "leak_check_ok": steps["leak check"].status == "passed" if "leak check" in steps else None,
            "leaks": run.result.leaks, "kept": bool(run.deployment and run.deployment.kept),
            "counters": counters, "faults": faults,
            "proxy": self.proxy.stats() if self.proxy is not None else None,
            "notes": self.notes.as_dict(), "unexpected_error": run.result.error,
        }

    def judge(self) -> None:
        """Judge the cell against its scenario's expectation (suites/chaos), after teardown."""
        run, result = self.run, self.run.result
        path = result.folder / "chaos.json"
        report = self.report()
        result.faults_injected = int(report["faults"].get("total", 0))  # the report's "faults injected"
        result.attach("chaos report", report, "chaos.json")
        if (result.folder / "faults.jsonl").is_file():
            result.attachments.append(Attachment("injected faults", "faults.jsonl", "application/x-ndjson"))
        step = Step("chaos expectations")
        result.steps.append(step)
        env = dict(os.environ, STACKMATRIX_CELL=json.dumps(run.cell.to_dict()), STACKMATRIX_CHAOS_REPORT=str(path),
                   STACKMATRIX_SUITE="chaos",
                   PYTHONPATH=os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")])))
        before = result.error  # what went wrong before judging (the suite judges it too)
        try:
            proc = run_suite(run.suite_worker, "chaos", ["-rfE"], env, 300)
        except BaseException as exc:
            step.status, step.stopped = Status.BROKEN, now_ms()
            step.message = f"the chaos suite could not judge the cell: {type(exc).__name__}: {exc}"
            raise
        result.attach("chaos suite output", proc.stdout[-20000:] + proc.stderr[-5000:], "chaos-suite.txt",
                      step=step)
        unmet = [ln.split("AssertionError: ", 1)[1] for ln in proc.stdout.splitlines()
                 if ln.startswith("E ") and "AssertionError: " in ln]
        if proc.returncode != 0 and not unmet:
            unmet = [ln for ln in proc.stdout.splitlines() if ln.startswith(("FAILED", "ERROR"))]
        step.stopped = now_ms()
        kind = self.scenario.expectation
        result.expectation = {"kind": kind, "scenario": self.scenario.name, "met": proc.returncode == 0,
                              "reason": "; ".join(unmet)[:2000]}
        if proc.returncode == 0:
            step.status, step.message = Status.PASSED, f"expectation {kind} met"
            result.status = Status.PASSED
            result.error = None
            run.say(f"chaos: expectation {kind} met")
        else:
            step.status = Status.FAILED
            step.message = f"expectation {kind} not met: " + "; ".join(unmet)[:1500]
            run.say(step.message)
            if before is not None and before.get("category") in (ErrorCategory.TIMEOUT, ErrorCategory.INTERRUPTED):
                result.status = Status.BROKEN  # the cell never finished: its own cause stays the error
            else:
                result.status = Status.FAILED
                category = (ErrorCategory.THROTTLING if kind == SURVIVE
                            else self.scenario.error_class or ErrorCategory.PRODUCT_DEFECT)
                result.error = {"step": "chaos expectations", "category": category, "message": step.message}
        result.save()
