"""Fixtures of the live suite: one deployed cell, described entirely by its environment.

The runner starts `pytest suites/live` once per cell with:
  STACKMATRIX_CELL          the cell (id, region, suffix, fault, target, engine, profile) as JSON
  STACKMATRIX_STACK_CONFIG  the StackConfig it was synthesized from (expected CIDRs, names)
  STACKMATRIX_OUTPUTS       path of build/outputs/<cell>.json
  STACKMATRIX_ACCESS        how to reach the cell's account (endpoint, region, keys or profile)
  STACKMATRIX_RUN_ID        the RunId every resource is tagged with
Nothing about the cell is hard-coded here: region and ids always come from these.
Reads go through matrix.clients (standard retries); their counts are written to
$STACKMATRIX_SUITE_COUNTERS at the end so the cell's API totals include the suite.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from matrix.clients import Access, ClientFactory
from matrix.targets.emulator_gaps import label, match
from stack.config import StackConfig


def _env_json(name: str) -> Any:
    value = os.environ.get(name)
    if not value:
        pytest.exit(f"{name} is not set: the live suite runs per cell from `python -m matrix run`", returncode=4)
    return json.loads(value)


@pytest.fixture(scope="session")
def cell() -> dict[str, Any]:
    return _env_json("STACKMATRIX_CELL")


@pytest.fixture(scope="session")
def region(cell: dict[str, Any]) -> str:
    return cell["region"]


@pytest.fixture(scope="session")
def stack_config() -> StackConfig:
    return StackConfig.from_dict(_env_json("STACKMATRIX_STACK_CONFIG"))


@pytest.fixture(scope="session")
def outputs() -> dict[str, Any]:
    path = Path(os.environ.get("STACKMATRIX_OUTPUTS", ""))
    if not path.is_file():
        pytest.exit(f"outputs file {path} not found: was the cell applied?", returncode=4)
    return json.loads(path.read_text())


@pytest.fixture(scope="session")
def run_id() -> str:
    return os.environ.get("STACKMATRIX_RUN_ID", "")


_factory: ClientFactory | None = None


@pytest.fixture(scope="session")
def clients(region: str) -> ClientFactory:
    global _factory
    access = Access(**{**_env_json("STACKMATRIX_ACCESS"), "region": region})
    _factory = ClientFactory(access)
    return _factory


@pytest.fixture(scope="session")
def ec2(clients: ClientFactory):
    return clients.client("ec2")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    target = os.environ.get("STACKMATRIX_SUITE_COUNTERS")
    if target and _factory is not None:
        Path(target).write_text(json.dumps(_factory.counters.as_dict()))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """A failure that is a known emulator gap is reported as "Emulator gap: ..." (xfail), not as a
    product defect; on a real account nothing is excused."""
    outcome = yield
    report = outcome.get_result()
    if call.when != "call" or not report.failed or call.excinfo is None:
        return

    target = json.loads(os.environ.get("STACKMATRIX_CELL", "{}")).get("target", "")
    gap = match(f"{call.excinfo.typename}: {call.excinfo.value}", target)
    if gap:
        report.outcome = "skipped"
        report.wasxfail = label(gap)
