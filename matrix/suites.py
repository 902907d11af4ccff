"""Runs the pytest suites of suites/ as child processes, one per purpose and cell.

The synth suite runs once over all cells of a run; the live and chaos suites run per cell, reading
the cell from $STACKMATRIX_SUITE_CELLS / $STACKMATRIX_CELL. Results go to build/allure-results via
allure-pytest; the return value is pytest's exit code (0 passed, 1 failed, 5 nothing collected).
`pytest_command(suite, extra)` is the one command line for all three (the runner starts the live
suite with it, the chaos driver the chaos suite).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence

from matrix.cells import Cell
from matrix.paths import PROJECT_ROOT, allure_results_dir

SUITES = PROJECT_ROOT / "suites"


def plugin_args() -> list[str]:
    """Load the Allure labelling plugin when the reports package is importable."""
    try:
        import reports.pytest_plugin  # noqa: F401  # lazy: optional, present with the reports package
    except ImportError:
        return []
    return ["-p", "reports.pytest_plugin"]


def pytest_command(suite: str, extra: Sequence[str] = ()) -> list[str]:
    """The one command line that runs a suite of suites/ (synth, live, chaos) in a child process."""
    return [
        sys.executable, "-m", "pytest", str(SUITES / suite), "-q", "-p", "no:cacheprovider",
        f"--alluredir={allure_results_dir()}", "--rootdir", str(SUITES), *plugin_args(), *extra,
    ]


def run_synth_suite(cells: Sequence[Cell], extra: Sequence[str] = ()) -> int:
    env = dict(os.environ)
    env["STACKMATRIX_SUITE_CELLS"] = json.dumps([c.to_dict() for c in cells])
    env["STACKMATRIX_SUITE"] = "synth"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    allure_results_dir().mkdir(parents=True, exist_ok=True)
    return subprocess.run(pytest_command("synth", extra), env=env, cwd=PROJECT_ROOT, check=False).returncode
