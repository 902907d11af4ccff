"""The chaos suite judges one fault cell from its chaos report ($STACKMATRIX_CHAOS_REPORT), written
by the runner after teardown: phases and their outcomes, API counters (calls, retries, throttles),
the injected-fault log summary, live suite and teardown results, leaks, state checks, notes."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="session")
def report() -> dict[str, Any]:
    path = Path(os.environ.get("STACKMATRIX_CHAOS_REPORT", ""))
    if not path.is_file():
        pytest.exit(f"chaos report {path} not found: the chaos suite runs per fault cell from the runner",
                    returncode=4)
    return json.loads(path.read_text())


@pytest.fixture(scope="session")
def kind(report) -> str:
    return report["expectation"]


@pytest.fixture(scope="session")
def deploy_ok(report) -> bool:
    return bool(report["phases"]) and report["phases"][-1]["outcome"] == "ok"
