"""The live-suite stage: each case's mutated stack deployed to moto with the strict emulator and the
synth check off, the live suite run on it, then destroyed.

The machinery is the run's own (matrix/runner.py): `Runner` with one cell per case, each cell deploying
its mutated document (`RunOptions.documents`): deployment record, backend bootstrap, the embedded
engine's apply, the live suite as a real pytest process, destroy and leak check, `jobs` cells at a time,
every cell in an account of its own on ONE moto server that this stage starts and stops.

Each case gets a cell of its own: us-east-1 with suffix fNNN and the dev profile's settings, i.e. the
corpus's clean cell (us-east-1-dev) under another suffix, so names, tags and the account are its own.
Its synthesized stack (cached) gets the case's mutation. The outcome of a case, read from the cell's
result.json, is one of:

    live      the live suite failed: caught by this stage; the failing tests are named, and on what
              basis: "behaviour" (a behaviour check failed: egress, flow-log delivery), "fixed" (another
              test's fixed expectation, e.g. DNS hostnames on, the region's S3 endpoint), or "config"
              (only assertions comparing AWS with the cell's StackConfig failed: the mutation edits the
              document, not the profile, so the same value set in the profile would have passed them)
    emulator  moto refused a call at deploy (its own validation, or an HTTP 5xx): not the live suite's credit
    engine    the embedded engine (or botocore inside it, before sending) refused the document: not a credit
    passed    deployed and the live suite passed: not caught
    teardown  deployed, the live suite passed, destroy or the leak check failed: not caught either
    other     anything else (backend, timeout, a mutation that does not fit the stack), named

False positives: clean stacks deployed the same way, at least one per clean variant kind (`FP_CELLS`);
any that does not pass end to end (apply, live suite, destroy, leak check) is one.

Case cells make 2 attempts per call (a refusal or a moto 500 is not retried for a minute) and have 180 s
each; the clean cells keep the run's default retries (the chaos and prerelease cells' faults need them).
Cell logs, results and the mutated documents stay under <build>/live, <build>/cells.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

from corpus import Case, mutate
from stages import Outcome

from matrix.catalogue import SynthDoc

REGION = "us-east-1"
#: the two behaviour checks of the live suite (suites/live/test_vpc.py); every other test compares the
#: deployed stack with what the cell's StackConfig promises
BEHAVIOUR_TESTS = ("test_private_subnets_reach_the_internet_through_a_nat_in_a_public_subnet",
                   "test_flow_log_can_deliver_to_its_log_group")
#: clean stacks deployed for the false positives: kind -> cell (label as in clean.py); the prerelease and
#: chaos kinds are deployed with their fault injected, as those profiles run them (both must pass anyway);
#: "renamed" deploys the nightly cell's document with every construct id renamed
FP_CELLS = {
    "nightly": "nightly/ap-northeast-1-dev",
    "prerelease": "prerelease/eu-west-1-stage-server-errors",
    "chaos": "chaos/us-east-1-dev-throttle-ec2",
    "single-nat": "single-nat/us-east-1-single",
    "two-az": "two-az/us-west-1-twoaz",
    "interval-60": "interval-60/eu-west-1-sixty",
    "dynamodb-lock": "dynamodb-lock/us-east-1-ddb",
    "both-locks": "both-locks/ap-northeast-1-both",
    "renamed": "renamed/eu-west-1-prod",
}
CAUGHT = "live"
CLASSES = ("live", "emulator", "engine", "passed", "teardown", "other")
BASES = ("behaviour", "fixed", "config")
#: causes raised on the client side before a request leaves (botocore's own validation, the engine's)
CLIENT_SIDE = ("ParamValidationError", "ConfigError", "RuntimeError", "KeyError", "ValueError", "TypeError",
               "Unknown")


def case_suffix(index: int) -> str:
    return f"f{index:03d}"


class LiveStage:
    name = "live"
    judges_rules = False  # the live suite knows no catalogue rule: its catches are named by test

    def __init__(self, jobs: int = 4, progress: Callable[[str], None] = print, cell_timeout: float = 180.0) -> None:
        self.jobs = jobs
        self.progress = progress
        self.cell_timeout = cell_timeout
        self.server: Any = None
        self.fp_scope = f"clean stacks deployed, one per clean variant kind ({len(FP_CELLS)})"
        self.fp_outcomes: dict[str, dict[str, Any]] = {}

    def unavailable(self) -> str | None:
        try:
            import suites.live.behaviour  # noqa: F401
            from suites.live import test_vpc
        except ImportError as exc:
            return f"the live behaviour checks are not in this checkout ({exc})"
        missing = [t for t in BEHAVIOUR_TESTS if not hasattr(test_vpc, t)]
        if missing:
            return f"suites/live/test_vpc.py has no {', '.join(missing)} (BEHAVIOUR_TESTS names them)"
        if not hasattr(test_vpc, "STACK_CONFIG_SAYS"):
            return "suites/live/test_vpc.py does not mark its StackConfig comparisons (STACK_CONFIG_SAYS)"
        return None

    # -- the one moto server ---------------------------------------------------------------------
    def _endpoint(self) -> str:
        if self.server is None:
            from matrix.targets.moto import MotoServer

            self.server = MotoServer.start("subprocess")
        return self.server.url

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    # -- one run of the run's machinery ----------------------------------------------------------------
    def _run(self, cells: list[Any], documents: dict[str, str], what: str, **options: Any) -> dict[str, Any]:
        """Run `cells` through matrix.runner.Runner on this stage's moto server: {cell id: CellResult}."""
        from matrix.paths import build_dir
        from matrix.runner import Runner, RunOptions

        log = build_dir() / "live" / f"{what}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        lock = threading.Lock()
        done = [0]
        started = time.monotonic()

        def progress(line: str) -> None:
            with lock, open(log, "a") as fh:
                fh.write(line + "\n")
                if line.startswith("[") and any(f"] {s} in " in line for s in ("PASSED", "FAILED", "BROKEN")):
                    done[0] += 1
                    if done[0] % 10 == 0 or done[0] == len(cells):
                        self.progress(f"  [live] {what}: {done[0]}/{len(cells)} cells done "
                                      f"({time.monotonic() - started:.0f} s)")

        opts = RunOptions(target="moto", engine="embedded", endpoint=self._endpoint(), strict=False,
                          synth_check=False, bootstrap_backend=True, jobs=self.jobs,
                          cell_timeout=self.cell_timeout, teardown_timeout=self.cell_timeout,
                          run_id=f"fidelity-{what}-{uuid.uuid4().hex[:6]}", documents=documents, **options)
        self.progress(f"  [live] {what}: {len(cells)} cells, {self.jobs} at a time, on {opts.endpoint} "
                      f"(strict emulator off, synth check off; log {log})")
        result = Runner(cells, opts, progress=progress).run()
        return {r.cell: r for r in result.results}

    # -- the stage ---------------------------------------------------------------------------------
    def catches(self, cases: list[Case], clean: SynthDoc) -> dict[str, Outcome]:
        from matrix.cells import expand
        from matrix.paths import build_dir, synth_dir
        from matrix.synth import synthesize

        cells = expand("dev", regions=[REGION], suffixes=[case_suffix(i) for i in range(len(cases))])
        synthesize(cells, progress=self.progress)
        folder = build_dir() / "live" / "documents"
        documents: dict[str, str] = {}
        by_cell: dict[str, Case] = {}
        out: dict[str, Outcome] = {}
        for case, cell in zip(cases, cells, strict=True):
            base = json.loads((synth_dir() / cell.id / "cdk.tf.json").read_text())
            try:
                doc = mutate(base, case)
            except KeyError as exc:
                out[case.id] = Outcome(False, f"the mutation does not fit the stack: {exc}",
                                       extra={"class": "other", "cell": cell.id})
                continue
            path = folder / cell.id / "cdk.tf.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(doc, indent=1))
            documents[cell.id] = str(path)
            by_cell[cell.id] = case
        results = self._run([c for c in cells if c.id in documents], documents, "cases", max_attempts=2)
        for cell_id, case in by_cell.items():
            out[case.id] = outcome(results[cell_id])
        return out

    def false_positives(self, docs: list[SynthDoc]) -> list[str]:
        from clean import clean_cells

        from matrix.paths import build_dir

        cells_by_label = dict(clean_cells())
        docs_by_label = {d.ctx.cell: d for d in docs}
        cells, documents, labels = [], {}, {}
        for kind, label in FP_CELLS.items():
            if label not in docs_by_label:
                raise KeyError(f"FP_CELLS[{kind!r}] = {label!r} is not a clean stack of this checkout")
            cell = cells_by_label[label if not label.startswith("renamed/") else
                                  "nightly/" + label.split("/", 1)[1]]
            if label.startswith("renamed/"):
                path = build_dir() / "live" / "documents" / f"renamed-{cell.id}" / "cdk.tf.json"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps(docs_by_label[label].data, indent=1))
                documents[cell.id] = str(path)
            cells.append(cell)
            labels[cell.id] = label
        if len({c.id for c in cells}) != len(cells):
            raise ValueError(f"FP_CELLS names one cell twice: {sorted(labels.values())}")
        results = self._run(cells, documents, "clean")
        found = []
        for cell_id, label in labels.items():
            o = outcome(results[cell_id])
            self.fp_outcomes[label] = {"class": o.extra["class"], "detail": o.detail}
            if o.extra["class"] != "passed":
                found.append(f"{label}: {o.extra['class']}: {o.detail}")
        return found

    def notes(self, outcomes: dict[str, Outcome]) -> list[str]:
        classes = Counter(o.extra["class"] for o in outcomes.values())
        lines = ["outcomes: " + ", ".join(f"{k} {classes.get(k, 0)}" for k in CLASSES)]
        bases = Counter(o.extra["basis"] for o in outcomes.values() if o.caught)
        lines.append(f"caught on the basis of: a behaviour check (egress, flow-log delivery) {bases['behaviour']}; "
                     f"another test's fixed expectation {bases['fixed']}; only a comparison with the cell's "
                     f"StackConfig {bases['config']} (the same value in the profile would pass those)")
        tests = Counter(t for o in outcomes.values() if o.caught for t in o.extra.get("tests", []))
        for test, n in tests.most_common():
            lines.append(f"  failing test {test}: {n} case(s)")
        for cid, o in sorted(outcomes.items()):
            if o.caught and o.extra["basis"] != "behaviour":
                lines.append(f"  caught ({o.extra['basis']}): {cid}: {o.detail[:160]}")
        for cls, label in (("emulator", "refused by moto itself at deploy"),
                           ("engine", "refused by the embedded engine (or botocore in it) before AWS"),
                           ("teardown", "passed, then teardown failed"), ("other", "other")):
            for cid, o in sorted(outcomes.items()):
                if o.extra["class"] == cls:
                    lines.append(f"  {label}: {cid}: {o.detail[:200]}")
        for label, fp in self.fp_outcomes.items():
            lines.append(f"clean {label}: {fp['class']}{': ' + fp['detail'][:200] if fp['detail'] else ''}")
        return lines


def outcome(result: Any) -> Outcome:
    """How a cell's run ended, as one of CLASSES (see the module docstring)."""
    steps = {s.name: s for s in result.steps}
    live = steps.get("live suite")
    error = result.error or {}
    base = {"cell": result.cell, "status": result.status}
    if live is not None and live.status != "passed":
        failed = (live.details.get("tests") or {}).get("failed") or []
        if failed:
            names = [t["test"].split("::")[-1] for t in failed]
            detail = "; ".join(f"{t['test']}: {t['message'][:160]}" for t in failed)
            return Outcome(True, detail, extra={**base, "class": CAUGHT, "tests": names, "basis": basis(failed),
                                               "failures": failed})
        return Outcome(False, f"live suite {live.status}: {live.message}", extra={**base, "class": "other"})
    if live is not None:  # the suite passed
        if result.status == "passed":
            excused = [t for t in (live.details.get("tests") or {}).get("skipped", [])
                       if t.get("reason", "").startswith("Emulator gap")]
            note = f"; excused as emulator gaps: {', '.join(t['test'] for t in excused)}" if excused else ""
            return Outcome(False, f"deployed, {live.message}{note}", extra={**base, "class": "passed"})
        return Outcome(False, f"{error.get('step')}: {error.get('message', '')}",
                       extra={**base, "class": "teardown"})
    cause = error.get("cause", "")
    if str(error.get("step", "")).startswith("apply"):
        aws = error.get("aws_error")
        if aws:
            detail = f"{aws.get('code')} (HTTP {aws.get('status')}) on {aws.get('operation')}: {error['message']}"
            return Outcome(False, detail, extra={**base, "class": "emulator", "aws_error": aws})
        if cause == "ResponseParserError":  # moto's HTML 500 page
            return Outcome(False, f"{cause}: {error['message']}", extra={**base, "class": "emulator"})
    if error.get("step") in ("start", "apply") and (cause in CLIENT_SIDE or error.get("category") == "PolicyViolation"):
        message = error.get("message", "")
        detail = message if message.startswith(f"{cause}:") else f"{cause}: {message}"
        return Outcome(False, detail, extra={**base, "class": "engine", "cause": cause})
    return Outcome(False, f"{error.get('step')}: {error.get('category')}: {error.get('message', '')}",
                   extra={**base, "class": "other"})


def basis(failed: list[dict[str, str]]) -> str:
    """What the live suite's failures rest on (BASES): a behaviour check, else a fixed expectation, else only
    comparisons with the cell's StackConfig (every failure message says so: suites/live/test_vpc.py)."""
    from suites.live.test_vpc import STACK_CONFIG_SAYS

    names = {t["test"].split("::")[-1] for t in failed}
    if names & set(BEHAVIOUR_TESTS):
        return "behaviour"
    if all(STACK_CONFIG_SAYS in t["message"] for t in failed):
        return "config"
    return "fixed"
