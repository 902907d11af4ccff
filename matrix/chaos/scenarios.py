"""Fault scenarios: the matrix's fault axis. Each one is what to break, when, and what must happen.

A `Scenario` has
* `rules`       fault-proxy rules (rules.py schema), armed when the cell starts;
* `phases`      how the deploy runs: one normal phase, or a phase expected to fail with a named
                error followed by the phase that must then succeed (missing bucket without, then
                with, --bootstrap-backend; a held lock without, then with, --force-unlock);
* `setup`       what to break before deploying (plant a stale lock) and `after_tests`, what to
                break between the live suite and the destroy (delete the state bucket): hooks that
                get a `HookContext` (the cell's state backend, its clients, the `ChaosNotes`) and
                return one line for the report;
* `expectation` `survive` (deploy and tests pass, retries seen, no leaks), `fail-cleanly` (the
                named error, nothing created or everything destroyed, state intact) or
                `survive-or-fail-cleanly` (a storm may be outlasted or may end the deploy, never
                with a corrupt state or a leak);
* `backend_bucket`  scenarios that break the state bucket get a bucket of their own, so sibling
                cells keep theirs.

The runner (matrix/runner.py) drives the phases and hooks; suites/chaos asserts the expectation
from the chaos report the runner writes (build/cells/<cell>/chaos.json).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from matrix.results import ErrorCategory

if TYPE_CHECKING:  # types only: the scenario table is read by commands that never deploy
    from matrix.clients import ClientFactory
    from matrix.state.backend import StateBackend

SURVIVE = "survive"
FAIL_CLEANLY = "fail-cleanly"
EITHER = "survive-or-fail-cleanly"
EXPECTATIONS = (SURVIVE, FAIL_CLEANLY, EITHER)

ISOLATED_BUCKET = "{project}-tfstate-{region}-{name_suffix}"


@dataclass(frozen=True)
class Phase:
    name: str
    bootstrap: bool | None = None  # None: the run's --bootstrap-backend
    lock_timeout: float | None = None
    force_unlock: bool = False
    expect_error: str | None = None  # error class that must end this phase (by design)
    ask_terraform: bool = False  # also record what the real terraform binary says (missing bucket)


@dataclass
class ChaosNotes:
    """What the hooks and the runner note for the chaos report (its "notes", read by suites/chaos)."""

    planted_lock_id: str | None = None  # lock-held: the ID of the stale lock planted before deploying
    bucket_deleted: str | None = None  # state-bucket-lost: the bucket deleted after the live suite
    state_local: str | None = None  # the local file the state was kept in once the bucket was gone
    terraform: str | None = None  # what the real terraform binary said about the same backend

    def as_dict(self) -> dict[str, str]:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True)
class HookContext:
    """What a scenario hook may use of its cell: nothing else (the runner stays out of reach)."""

    backend: StateBackend  # the cell's state backend (bucket, key, locks)
    clients: ClientFactory  # the cell's clients (through its fault proxy, if any)
    notes: ChaosNotes


Hook = Callable[[HookContext], str]


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    expectation: str
    rules: tuple[dict[str, Any], ...] = ()
    phases: tuple[Phase, ...] = (Phase("deploy"),)
    setup: Hook | None = None
    after_tests: Hook | None = None
    backend_bucket: str | None = None
    needs_retries: bool = False
    min_latency_ms: int = 0
    error_class: ErrorCategory | None = None  # the category of a fail-cleanly outcome's named error
    # how long a cell of this scenario typically takes on an emulator (its designed waits: a storm's
    # window and the backoff after it, latency on every call, lock timeouts), in seconds. A scheduling
    # hint only: the runner starts the longest cells first so that none ends a run alone.
    typical_seconds: float = 2.0


# -- hooks ---------------------------------------------------------------------------------------

STALE_HOLDER = "ci-runner-42@build-host-7"


def plant_stale_lock(ctx: HookContext) -> str:
    """A lock left by a run on another host that died mid-apply (terraform's format)."""
    from matrix.state.backend import LockInfo  # lazy: `cells` checks fault names without loading botocore

    backend = ctx.backend
    backend.check(bootstrap=True)
    info = LockInfo.new("OperationTypeApply", backend.config.lock_path,
                        {"tool": "terraform", "pid": 4242, "host": "build-host-7"})
    info.Who = STALE_HOLDER
    if not backend.try_lock(info):
        raise RuntimeError("could not plant the stale lock: a lock is already held")
    ctx.notes.planted_lock_id = info.ID
    return f"stale lock {info.ID} planted, held by {STALE_HOLDER}"


def delete_state_bucket(ctx: HookContext) -> str:
    """The state bucket disappears after apply (every version, then the bucket)."""
    s3 = ctx.clients.client("s3", ctx.backend.config.region)
    bucket = ctx.backend.config.bucket
    for _ in range(20):
        listing = s3.list_object_versions(Bucket=bucket)
        for v in listing.get("Versions", []) + listing.get("DeleteMarkers", []):
            s3.delete_object(Bucket=bucket, Key=v["Key"], VersionId=v["VersionId"])
        try:
            s3.delete_bucket(Bucket=bucket)
            break
        except s3.exceptions.ClientError:
            continue
    ctx.notes.bucket_deleted = bucket
    return f"state bucket {bucket} deleted after apply"


# -- the scenarios -------------------------------------------------------------------------------

SCENARIOS: dict[str, Scenario] = {s.name: s for s in (
    Scenario(
        "throttle-ec2", "30% of EC2 mutating calls throttled (RequestLimitExceeded 503)", SURVIVE,
        rules=({"name": "throttle-ec2", "service": "ec2", "mutating": True, "probability": 0.3,
                "effect": "throttle"},),
        needs_retries=True, typical_seconds=10.0),
    Scenario(
        "throttle-all", "20% of all calls on every service throttled, each as AWS throttles it", SURVIVE,
        rules=({"name": "throttle-all", "service": "*", "probability": 0.2, "effect": "throttle"},),
        needs_retries=True, typical_seconds=24.0),
    Scenario(
        "server-errors", "10% of calls answered 500 InternalError or 503 ServiceUnavailable", SURVIVE,
        rules=({"name": "server-500", "service": "*", "probability": 0.05, "effect": "error",
                "code": "InternalError", "status": 500},
               # evaluated only when the first did not fire: 5% of the other 95%, 10% in all
               {"name": "server-503", "service": "*", "probability": 0.0527, "effect": "error",
                "code": "ServiceUnavailable", "status": 503}),
        needs_retries=True, typical_seconds=4.0),
    Scenario(
        "latency", "+200 ms on every call", SURVIVE,
        rules=({"name": "latency-200ms", "service": "*", "effect": "latency", "latency_ms": 200},),
        min_latency_ms=200, typical_seconds=22.0),
    Scenario(
        "missing-state-bucket", "the backend bucket does not exist", FAIL_CLEANLY,
        phases=(Phase("without --bootstrap-backend", bootstrap=False, expect_error="MissingStateBucket",
                      ask_terraform=True),
                Phase("with --bootstrap-backend", bootstrap=True)),
        backend_bucket=ISOLATED_BUCKET, error_class=ErrorCategory.MISSING_STATE_BUCKET),
    Scenario(
        "state-bucket-lost", "the state bucket is deleted after apply", FAIL_CLEANLY,
        after_tests=delete_state_bucket, backend_bucket=ISOLATED_BUCKET, error_class=ErrorCategory.STATE_LOST),
    Scenario(
        "lock-held", "a stale state lock from another holder exists", FAIL_CLEANLY,
        setup=plant_stale_lock,
        phases=(Phase("lock held: wait, then fail", lock_timeout=3.0, expect_error="LockHeld"),
                Phase("with --force-unlock", lock_timeout=3.0, force_unlock=True)),
        error_class=ErrorCategory.LOCK_CONTENTION, typical_seconds=5.0),
    Scenario(
        "throttle-storm", "every EC2 mutating call throttled for 20 s, then cleared", EITHER,
        rules=({"name": "throttle-storm", "service": "ec2", "mutating": True, "duration": 20,
                "effect": "throttle"},),
        needs_retries=True, error_class=ErrorCategory.THROTTLING, typical_seconds=35.0),
)}


def scenario(name: str | None) -> Scenario | None:
    return SCENARIOS.get(name) if name else None


def with_expectation(s: Scenario, expectation: str) -> Scenario:
    """The same scenario judged against another expectation (`--expect NAME=KIND`)."""
    from dataclasses import replace

    return replace(s, expectation=expectation)
