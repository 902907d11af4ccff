"""The pytest plugin, through real allure-pytest runs of a tiny generated suite."""

from __future__ import annotations

import json
from pathlib import Path

from reports_helpers import cell_dict, cell_env, label, read_results, run_suite

SYNTH_SUITE = '''
import pytest

CELLS = ["us-east-1-dev", "us-east-1-dev-throttle"]


@pytest.mark.parametrize("rule", ["tags", "flow-log-interval"])
@pytest.mark.parametrize("cell", CELLS)
def test_rule(cell, rule):
    pass


def test_cross_cell():
    pass
'''


def _by_name(results: list[dict]) -> dict[str, dict]:
    return {r["name"]: r for r in results}


def test_live_suite_results_carry_the_cell(tmp_path: Path):
    out = tmp_path / "results"
    proc = run_suite(tmp_path, out, cell_env(cell_dict("us-east-1-dev-throttle")))
    assert proc.returncode == 1, proc.stdout + proc.stderr  # test_flow_logs fails on purpose
    results = _by_name(read_results(out))
    assert set(results) == {"test_vpc_exists", "test_subnet[a]", "test_subnet[b]", "test_flow_logs", "test_real_only"}
    assert results["test_real_only"]["status"] == "skipped"  # labelled although setup never ran
    for r in results.values():
        assert label(r, "parentSuite") == ["us-east-1"]
        assert label(r, "suite") == ["dev"]
        assert label(r, "subSuite") == ["throttle"]
        assert label(r, "epic") == ["Live suite"]
        assert label(r, "feature") == ["moto/embedded"]
        assert label(r, "story") == ["us-east-1-dev-throttle"]
        assert {"moto", "embedded", "profile:dev", "fault:throttle"} <= set(label(r, "tag"))
        params = {p["name"]: p for p in r["parameters"]}
        assert params["region"]["value"] == "'us-east-1'" and not params["region"].get("excluded")
        assert params["target"].get("excluded") and params["engine"].get("excluded")
    assert {p["name"]: p["value"] for p in results["test_subnet[a]"]["parameters"]}["az"] == "'a'"
    assert results["test_flow_logs"]["status"] == "failed"
    assert "flow log interval 300" in results["test_flow_logs"]["statusDetails"]["message"]


def test_history_id_stable_across_runs_and_different_per_cell(tmp_path: Path):
    runs = {}
    for key, cell in (("a1", "us-east-1-dev"), ("a2", "us-east-1-dev"), ("b", "eu-west-1-dev")):
        out = tmp_path / key / "results"
        run_suite(tmp_path / key, out, cell_env(cell_dict(cell)))
        runs[key] = {n: r["historyId"] for n, r in _by_name(read_results(out)).items()}
    assert runs["a1"] == runs["a2"]  # same cell, two runs
    for name in runs["a1"]:
        assert runs["a1"][name] != runs["b"][name]  # same test, another cell
    assert len(set(runs["a1"].values())) == len(runs["a1"])


def test_chaos_suite_epic_comes_from_its_folder(tmp_path: Path):
    out = tmp_path / "results"
    run_suite(tmp_path, out, cell_env(cell_dict("eu-west-1-dev")), suite="chaos")
    assert {label(r, "epic")[0] for r in read_results(out)} == {"Chaos expectations"}


def test_synth_suite_cells_from_its_parameters(tmp_path: Path):
    cells = [cell_dict("us-east-1-dev"), cell_dict("us-east-1-dev-throttle")]
    out = tmp_path / "results"
    proc = run_suite(tmp_path, out, {"STACKMATRIX_SUITE_CELLS": json.dumps(cells)}, suite="synth",
                     source=SYNTH_SUITE)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = _by_name(read_results(out))
    # the longer id wins although "us-east-1-dev" is a prefix of it
    throttle = results["test_rule[us-east-1-dev-throttle-tags]"]
    assert label(throttle, "story") == ["us-east-1-dev-throttle"]
    assert label(throttle, "subSuite") == ["throttle"]
    assert label(throttle, "epic") == ["Synth policies"]
    plain = results["test_rule[us-east-1-dev-flow-log-interval]"]
    assert label(plain, "story") == ["us-east-1-dev"] and label(plain, "subSuite") == ["none"]
    cross = results["test_cross_cell"]
    assert label(cross, "story") == [] and label(cross, "parentSuite") == ["synth"]  # allure's default
    assert throttle["historyId"] != results["test_rule[us-east-1-dev-tags]"]["historyId"]


def test_without_a_cell_the_plugin_changes_nothing(tmp_path: Path):
    out = tmp_path / "results"
    proc = run_suite(tmp_path, out, {})
    assert proc.returncode == 1
    for r in read_results(out):
        assert label(r, "story") == []
        assert "region" not in {p["name"] for p in r.get("parameters", [])}


def test_the_cells_emulator_secret_is_redacted_from_suite_results(tmp_path: Path):
    secret = "EMUsecretKEYforTHIScell0123456789"
    access = {"region": "us-east-1", "access_key": "AKIAEMULATOR", "secret_key": secret}
    out = tmp_path / "results"
    env = {**cell_env(cell_dict("us-east-1-dev")), "STACKMATRIX_ACCESS": json.dumps(access)}
    run_suite(tmp_path, out, env, secret=secret)
    files = list(out.iterdir())
    assert any("flow log interval 300" in p.read_text() for p in files if p.suffix == ".json")
    assert not [p for p in files if secret in p.read_text()]
