"""The engine contract as the runner uses it (matrix/engines/base.py): every cell's engine has options
of its own, and a fault phase's lock timeout (the lock-held scenario waits 3 s) holds for that cell
and that phase only, never for the sibling cells of the same run running beside it."""

from __future__ import annotations

import ast
import shutil
import threading
import time

import pytest

from matrix.cells import Cell
from matrix.chaos.scenarios import SCENARIOS
from matrix.engines import make_engine
from matrix.engines.terraform import ProviderUnavailable
from matrix.paths import PROJECT_ROOT
from matrix.runner import CellRun, RunOptions
from matrix.state.backend import MissingStateBucket
from matrix.targets.base import Deployment
from matrix.targets.moto import MotoTarget

LOCK_HELD = SCENARIOS["lock-held"].phases[0]
#: what uses engines, cell runs and run options: typed (mypy in nox -s lint), never probed
TYPED_CALLERS = ("matrix/runner.py", "matrix/ops.py", "matrix/chaos/driver.py", "matrix/chaos/scenarios.py",
                 "matrix/chaos/hooks.py", "matrix/targets/aws.py")


def cell_run(cell: Cell, options: RunOptions, clients, synth, moto_url: str) -> CellRun:
    """A cell of a run at the point where the runner starts its phases: clients, record, engine."""
    run = CellRun(cell, options, "r-contract", MotoTarget(endpoint=moto_url, strict=False), lambda _: None,
                  threading.Event())
    run.clients = clients
    run.deployment = Deployment(cell=cell.id, run_id="r-contract", target=cell.target, engine=cell.engine,
                                region=cell.region)
    run.engine = run._make_engine(synth)
    return run


def test_lock_held_phase_waits_as_long_as_its_phase_says():
    assert LOCK_HELD.lock_timeout == 3.0 and LOCK_HELD.expect_error == "LockHeld"


@pytest.mark.skipif(shutil.which("terraform") is None and shutil.which("tofu") is None,
                    reason="neither terraform nor tofu is on PATH")
def test_terraform_cells_of_one_run_do_not_share_their_lock_timeout(build, dev_synth, clients, moto_url):
    options = RunOptions(engine="terraform", lock_timeout=0.0, bootstrap_backend=False)
    held = cell_run(Cell("us-east-1", "dev", "lock-held", "moto", "terraform", "test"), options, clients,
                    dev_synth, moto_url)
    sibling = cell_run(Cell("us-east-1", "dev", None, "moto", "terraform", "test"), options, clients, dev_synth,
                       moto_url)
    # the fresh account has no state bucket: the phase ends at terraform init (the missing bucket, or the
    # AWS provider where registry.terraform.io cannot be reached), after the runner set the phase's lock
    # timeout
    with pytest.raises((MissingStateBucket, ProviderUnavailable)):
        held._run_phase(LOCK_HELD, named=True)
    assert sibling.engine.options.lock_timeout == 0.0
    assert options.lock_timeout == 0.0
    assert held.engine.options.lock_timeout == 0.0  # the phase is over


def test_engines_made_from_one_run_have_options_of_their_own(build, dev_synth, clients):
    options = RunOptions(lock_timeout=0.0)
    made = [make_engine(Cell("us-east-1", "dev", fault, "moto", engine, "test"), dev_synth, clients, options, "r",
                        lambda _: None, threading.Event())
            for engine in ("embedded", "terraform") if engine == "embedded" or shutil.which("terraform")
            for fault in (None, "lock-held")]
    assert len({id(e.options) for e in made}) == len(made)
    assert all(e.options is not options for e in made)


def test_a_phase_lock_timeout_holds_for_that_phase_only(build, dev_synth, clients, moto_url):
    """The embedded cell waits the phase's 3 s on a held lock; afterwards its engine is back at the run's."""
    options = RunOptions(engine="embedded", lock_timeout=0.0, bootstrap_backend=False)
    held = cell_run(Cell("us-east-1", "dev", "lock-held", "moto", "embedded", "test"), options, clients,
                    dev_synth, moto_url)
    held.engine.backend_check(bootstrap=True)
    lock = held.engine.backend.lock("OperationTypeApply", {"holder": "another run"})
    started = time.monotonic()
    held._run_phase(LOCK_HELD, named=True)  # LockHeld, by design
    assert time.monotonic() - started >= 3.0
    assert held.phases[-1]["outcome"] == "failed" and held.phases[-1]["error_class"] == "LockHeld"
    assert held.engine.options.lock_timeout == 0.0
    held.engine.backend.unlock(lock.ID)


@pytest.mark.parametrize("path", TYPED_CALLERS)
def test_callers_probe_nothing(path):
    tree = ast.parse((PROJECT_ROOT / path).read_text())
    probes = [f"line {n.lineno}: {n.func.id}" for n in ast.walk(tree)
              if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in ("hasattr", "getattr")]
    assert probes == [], f"{path} probes objects instead of using their typed contract: {probes}"
