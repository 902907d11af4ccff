"""Merging CI shards: one report with every cell, no duplicates, one environment, continuous trend."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from reports_helpers import CELLS, cell_dict, cell_env, run_suite, status_dynamics, use_build

from matrix.errors import UsageError
from reports import history as H
from reports.build import build_report
from reports.merge import merge

US = [c[0] for c in CELLS if c[1] == "us-east-1"]
EU = [c[0] for c in CELLS if c[1] == "eu-west-1"]


def _shard(root: Path, cells: list[str], pytest_cell: str, history: Path, make_cells) -> Path:
    """A shard job's build folder: its cells, a live suite run, its own results, the restored cache."""
    with use_build(root):
        root.mkdir(parents=True)
        make_cells("run-9", t0=1_700_000_900_000, only=cells)
        run_suite(root.parent / f"{root.name}-suite", root / "allure-results", cell_env(cell_dict(pytest_cell)))
        build_report(html=False)
        shutil.copy(history, root / H.FILENAME)
    return root


@pytest.fixture
def shards(tmp_path: Path, make_cells, allure_cli: Path):
    main = tmp_path / "report-job"
    with use_build(main):  # a previous night, whose history the CI cache kept
        main.mkdir()
        make_cells("run-0", t0=1_700_000_000_000)
        assert build_report().html.ok
    shutil.rmtree(main / "cells")
    shutil.rmtree(main / "allure-results")
    shutil.rmtree(main / "allure-report")
    history = main / H.FILENAME
    a = _shard(tmp_path / "shard-1", US, "us-east-1-dev", history, make_cells)
    b = _shard(tmp_path / "shard-2", EU, "eu-west-1-dev", history, make_cells)
    return main, a, b


def test_merge_two_shards_into_one_report(shards):
    main, a, b = shards
    with use_build(main):
        outcome = build_report(merge_dirs=[a, b, a / "allure-results"])  # shard 1 given twice
    assert outcome.html.ok, outcome.html.message
    stats = outcome.merged
    assert stats.cells == 6 and stats.results == 6 + 5 + 5 and stats.duplicates == 3 + 5  # shard 1 again
    assert sorted(c.cell for c in outcome.cells) == sorted(c[0] for c in CELLS)
    results = list((main / "allure-results").glob("*-result.json"))
    assert len(results) == 16
    report_results = list((main / "allure-report" / "data" / "test-results").glob("*.json"))
    assert len(report_results) == 16  # every cell and test once, no retries made up by duplicates
    names = [json.loads(p.read_text())["name"] for p in report_results]
    assert sorted(n for n in names if n.startswith("deployment ")) == sorted(f"deployment {c[0]}" for c in CELLS)
    assert len([p for p in (main / "allure-results").iterdir() if p.name == "environment.properties"]) == 1
    assert "run.id=run-9" in (main / "allure-results" / "environment.properties").read_text()
    # the trend goes on: run-0 from the cache (restored by both shards, kept once) and this run
    assert [e["name"] for e in H.read_entries(main / H.FILENAME)] == ["stackmatrix dev run run-0",
                                                                      "stackmatrix dev run run-9"]
    points = status_dynamics(main / "allure-report")
    assert [p["name"] for p in points] == ["stackmatrix dev run run-0", "current"]
    assert outcome.grid.summary() == "6 cell(s): 3 failed, 1 broken, 2 passed"


def test_merging_the_same_shard_again_adds_nothing(shards):
    main, a, _ = shards
    first = merge([a], main)
    again = merge([a], main)
    assert first.results == 8 and first.duplicates == 0
    assert again.results == 0 and again.duplicates == 8 and again.cells == 0


def test_merge_rejects_unknown_folders(tmp_path: Path):
    with pytest.raises(UsageError, match="no such folder"):
        merge([tmp_path / "missing"], tmp_path / "into")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="neither allure-results"):
        merge([tmp_path / "empty"], tmp_path / "into")
    assert not (tmp_path / "into").exists()  # validated before anything was copied
