"""Runs the pytest suites of suites/ as child processes, one per purpose and cell.

The synth suite runs once over all cells of a run; the live and chaos suites run per cell, reading
the cell from $STACKMATRIX_SUITE_CELLS / $STACKMATRIX_CELL. Results go to build/allure-results via
allure-pytest; the return value is pytest's exit code (0 passed, 1 failed, 5 nothing collected).
`pytest_args(suite, extra)` are the one set of pytest arguments for all three; `run_suite` runs the
live and chaos suites with them in the run's warm pytest worker (matrix/suite_worker.py: a forked
child per cell) or, without one, as `pytest_command`, a process of its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence

from matrix.cells import Cell
from matrix.paths import PROJECT_ROOT, allure_results_dir
from matrix.suite_worker import SuiteWorker, WorkerUnavailable
from matrix.suite_worker import enabled as worker_enabled

SUITES = PROJECT_ROOT / "suites"


def plugin_args() -> list[str]:
    """Load the Allure labelling plugin when the reports package is importable."""
    try:
        import reports.pytest_plugin  # noqa: F401  # lazy: optional, present with the reports package
    except ImportError:
        return []
    return ["-p", "reports.pytest_plugin"]


def pytest_args(suite: str, extra: Sequence[str] = ()) -> list[str]:
    """The pytest arguments that run a suite of suites/ (synth, live, chaos)."""
    return [str(SUITES / suite), "-q", "-p", "no:cacheprovider", f"--alluredir={allure_results_dir()}",
            "--rootdir", str(SUITES), *plugin_args(), *extra]


def pytest_command(suite: str, extra: Sequence[str] = ()) -> list[str]:
    """The one command line that runs a suite of suites/ in a child process of its own."""
    return [sys.executable, "-m", "pytest", *pytest_args(suite, extra)]


def _in_worker(worker: SuiteWorker | None, args: list[str], env: dict[str, str], timeout: float | None,
               ) -> subprocess.CompletedProcess[str] | None:
    """The suite run in the warm worker, or None when there is none, fork is off, or it could not
    start (it said why, once; no suite ran in it): then the caller runs a process of its own."""
    if worker is None or not worker_enabled():
        return None
    try:
        return worker.run(args, env, timeout)
    except WorkerUnavailable:
        return None


def run_suite(worker: SuiteWorker | None, suite: str, extra: Sequence[str], env: dict[str, str],
              timeout: float | None) -> subprocess.CompletedProcess[str]:
    """Run a per-cell suite (live, chaos) with `env`: in the run's warm worker when there is one and
    fork is allowed, else as its own process. Output comes back as stdout either way; on timeout the
    pytest process is killed and subprocess.TimeoutExpired raised."""
    proc = _in_worker(worker, pytest_args(suite, extra), env, timeout)
    if proc is not None:
        return proc
    return subprocess.run(pytest_command(suite, extra), env=env, cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=timeout, check=False)


def run_synth_suite(cells: Sequence[Cell], extra: Sequence[str] = (), worker: SuiteWorker | None = None) -> int:
    """The synth suite over `cells`; its output goes to this process's stdout (at its end, through a worker)."""
    env = dict(os.environ)
    env["STACKMATRIX_SUITE_CELLS"] = json.dumps([c.to_dict() for c in cells])
    env["STACKMATRIX_SUITE"] = "synth"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    allure_results_dir().mkdir(parents=True, exist_ok=True)
    proc = _in_worker(worker, pytest_args("synth", extra), env, None)
    if proc is not None:
        sys.stdout.write(proc.stdout)
        sys.stdout.flush()
        return proc.returncode
    return subprocess.run(pytest_command("synth", extra), env=env, cwd=PROJECT_ROOT, check=False).returncode
