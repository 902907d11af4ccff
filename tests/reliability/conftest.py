"""Fixtures of the reliability battery's tests: the batteries of tests/reliability/harness with CI-sized counts.

* `rel_ws`   one workspace for the session with the cells the batteries deploy synthesized once
             (copied from build/synth when up to date there, else one synth process)
* `moto`     a moto server subprocess on 127.0.0.1 for the tests that need one of their own
* `figures`  what each battery measured; written at the end of the session to
             build/reliability/pytest-summary.json (the same layout as `python -m harness`)

Counts (override through the environment, never below the CI minimums the asserts check):
RELIABILITY_TRIALS (45: every resource kind killed before, during and after its create, plus kills
spread over the resource count), RELIABILITY_FUZZ_EXAMPLES (500 per target), RELIABILITY_SIGNAL_RUNS (4),
RELIABILITY_RESTARTS (2), RELIABILITY_SEED.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from harness.__main__ import BATTERIES, needed_cells
from harness.procs import kill_all
from harness.summary import Summary
from harness.workspace import Moto, Workspace
from reliability_counts import SEED

from matrix.paths import PROJECT_ROOT


@pytest.fixture(scope="session")
def rel_ws(tmp_path_factory) -> Workspace:
    ws = Workspace(tmp_path_factory.mktemp("reliability"))
    ws.synth(needed_cells(BATTERIES), log=lambda msg: print(msg, flush=True))
    return ws


@pytest.fixture(scope="session")
def moto() -> Iterator[Moto]:
    with Moto() as server:
        yield server


@pytest.fixture(scope="session")
def figures() -> Iterator[dict[str, Any]]:
    sections: dict[str, Any] = {}
    yield sections
    from harness import fuzz, kill, restart, secretscan, signals

    summary = Summary(seed=SEED, sections=sections)
    judges = {"kill": kill.problems, "signals": signals.problems, "fuzz": fuzz.problems,
              "restart": restart.problems, "secrets": secretscan.problems}
    for name, section in sections.items():
        for problem in judges[name](section) if name in judges else []:
            summary.problem(name, problem)
    summary.write(PROJECT_ROOT / "build" / "reliability" / "pytest-summary.json")
    print("\n" + summary.table())


@pytest.fixture(scope="session", autouse=True)
def _no_child_left() -> Iterator[None]:
    yield
    kill_all()
