"""Fixtures for the reports tests: real CellResults on disk, real allure-pytest runs, the real CLI.

Nothing is mocked: cells are written with matrix.results.CellResult into a temporary build folder
($STACKMATRIX_BUILD), suites run in a pytest subprocess with `-p reports.pytest_plugin`, HTML comes
from the pinned Allure 3 CLI in node_modules (installed with `npm ci` when missing).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from reports_helpers import CELLS, make_cell

from matrix.paths import BUILD_ENV, PROJECT_ROOT
from matrix.results import CellResult


@pytest.fixture
def build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "build"
    folder.mkdir()
    monkeypatch.setenv(BUILD_ENV, str(folder))
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    return folder


@pytest.fixture
def make_cells() -> Callable[..., list[CellResult]]:
    """make_cells(run_id, t0=..., only=None, secret="") -> the cells of CELLS, saved."""

    def make(run_id: str, t0: int = 1_700_000_000_000, only: list[str] | None = None,
             secret: str = "") -> list[CellResult]:
        return [make_cell(run_id, cid, region, suffix, fault, status, t0, secret)
                for cid, region, suffix, fault, status, _ in CELLS if only is None or cid in only]

    return make


@pytest.fixture(scope="session")
def allure_cli() -> Path:
    """The pinned Allure 3 CLI, installed with `npm ci` when node_modules lacks it."""
    cli = PROJECT_ROOT / "node_modules" / "allure" / "cli.js"
    if not cli.is_file():
        if shutil.which("npm") is None:
            pytest.skip("npm is not installed: the Allure 3 CLI (package-lock.json) cannot be installed")
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=PROJECT_ROOT, check=True,
                       timeout=600)
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    return cli


