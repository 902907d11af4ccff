"""The HTML report from the real Allure 3 CLI: cleaning, analytics, categories, history, single file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from reports_helpers import cell_dict, cell_env, run_suite, status_dynamics

from matrix.paths import PROJECT_ROOT, allure_report_dir, allure_results_dir
from reports import history as H
from reports.build import build_report


def _widget(report: Path, name: str):
    return json.loads((report / "widgets" / name).read_text())


def test_report_generated_cleaned_and_without_analytics(build: Path, make_cells, allure_cli: Path, tmp_path: Path):
    make_cells("run-1")
    run_suite(tmp_path, allure_results_dir(), cell_env(cell_dict("us-east-1-dev")))
    report = allure_report_dir()
    (report / "data").mkdir(parents=True)
    (report / "stale-from-an-old-report.js").write_text("old")
    (report / "data" / "stale.json").write_text("{}")

    outcome = build_report()
    assert outcome.html is not None and outcome.html.ok, outcome.html.message
    index = (report / "index.html").read_text()
    assert not (report / "stale-from-an-old-report.js").exists()
    assert not (report / "data" / "stale.json").exists()
    assert "googletagmanager" not in index and "gtag(" not in index
    assert "stackmatrix dev run run-1" in index  # the report name names the profile and the run
    assert (build / "allurerc.mjs").is_file()  # the generated config lives in build/, not the repo
    assert not (PROJECT_ROOT / "allurerc.mjs").exists()

    names = {n["name"] for n in _widget(report, "categories.json")["nodes"].values() if n["type"] == "category"}
    assert {"Lock contention", "Missing state bucket", "Invalid configuration (policy)", "Leaked resources",
            "Product defect"} <= names  # Product defect: the allure-pytest assertion failure
    env = {e["name"]: e["values"][0] for e in _widget(report, "allure_environment.json")}
    assert env["run.id"] == "run-1" and env["profile"] == "dev" and env["target"] == "moto"
    assert env["moto"] and env["botocore"] and env["python"].startswith("CPython")
    results = list((report / "data" / "test-results").glob("*.json"))
    assert len(results) == 6 + 5  # six cells and the five tests of the tiny suite
    text = "".join(p.read_text() for p in results)
    for cell in ("us-east-1-dev", "eu-west-1-qa", "us-east-1-dev-throttle"):
        assert f"deployment {cell}" in text
    assert any(line.startswith("  how to open: serve it: python -m http.server -d") for line in outcome.lines())


def test_history_two_runs_give_a_trend_of_two(build: Path, make_cells, allure_cli: Path):
    make_cells("run-1", t0=1_700_000_000_000)
    first = build_report()
    assert first.html.ok
    make_cells("run-2", t0=1_700_000_900_000)
    second = build_report()
    assert second.html.ok
    entries = H.read_entries(H.default_history_path())
    assert [e["name"] for e in entries] == ["stackmatrix dev run run-1", "stackmatrix dev run run-2"]
    points = status_dynamics(allure_report_dir())
    assert len(points) == 2  # run-1 from the history file, run-2 the current one
    assert points[0]["name"] == "stackmatrix dev run run-1" and points[1]["id"] == "current"
    # regenerating the same run replaces its point instead of adding one
    assert build_report().html.ok
    assert len(H.read_entries(H.default_history_path())) == 2
    assert len(status_dynamics(allure_report_dir())) == 2


def test_history_path_option_keeps_the_trend_elsewhere(build: Path, make_cells, allure_cli: Path, tmp_path: Path):
    cache = tmp_path / "ci-cache" / "history.jsonl"
    make_cells("run-1", t0=1_700_000_000_000)
    assert build_report(history=cache).html.ok
    make_cells("run-2", t0=1_700_000_900_000)
    assert build_report(history=cache).html.ok
    assert len(H.read_entries(cache)) == 2
    assert not H.default_history_path().exists()


def test_single_file_report(build: Path, make_cells, allure_cli: Path):
    make_cells("run-1")
    outcome = build_report(single_file=True)
    assert outcome.html.ok and outcome.html.single_file
    report = allure_report_dir()
    assert not (report / "data").exists() and not (report / "widgets").exists()
    index = (report / "index.html").read_text()
    assert "allureReportData" in index and "googletagmanager" not in index
    assert "file://" in outcome.html.how_to_open() or "file:" in outcome.html.how_to_open()


def test_without_node_results_are_written_and_the_message_says_how(build: Path, make_cells, tmp_path: Path):
    make_cells("run-1")
    script = tmp_path / "report.py"
    script.write_text("from reports.build import build_report\n"
                      "o = build_report()\nprint(o.html.ok)\nprint(o.html.message)\n")
    env = {**os.environ, "PATH": str(tmp_path / "empty-bin"), "PYTHONPATH": str(PROJECT_ROOT),
           "STACKMATRIX_BUILD": str(build)}
    proc = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=60,
                          check=True)
    ok, message = proc.stdout.splitlines()[:2]
    assert ok == "False"
    assert "Node.js is not installed" in message and "npm ci" in message and "nox -s report" in message
    assert len(list(allure_results_dir().glob("*-result.json"))) == 6
    assert (build / "grid" / "index.html").is_file() and (build / "junit.xml").is_file()
