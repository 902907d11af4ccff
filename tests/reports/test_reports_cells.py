"""CellResult -> Allure result files: labels, steps, attachments, status details, stable ids."""

from __future__ import annotations

import json
from pathlib import Path

from reports_helpers import CELLS, label, read_results

from matrix.paths import allure_results_dir
from reports.allure_cells import load_cells, result_uuid, write_cell_results
from reports.categories import classify


def _by_cell(results: list[dict]) -> dict[str, dict]:
    return {label(r, "story")[0]: r for r in results}


def test_one_allure_test_per_cell_with_labels_and_parameters(build: Path, make_cells):
    make_cells("run-1")
    write_cell_results()
    results = _by_cell(read_results(allure_results_dir()))
    assert sorted(results) == sorted(c[0] for c in CELLS)
    r = results["us-east-1-dev-throttle"]
    assert label(r, "parentSuite") == ["us-east-1"]
    assert label(r, "suite") == ["dev"]
    assert label(r, "subSuite") == ["throttle"]
    assert label(r, "epic") == ["Deployment"]
    assert label(r, "feature") == ["moto/embedded"]
    assert label(r, "story") == ["us-east-1-dev-throttle"]
    assert set(label(r, "tag")) >= {"moto", "embedded", "profile:dev", "fault:throttle"}
    assert label(results["us-east-1-dev"], "subSuite") == ["none"]
    params = {p["name"]: p for p in r["parameters"]}
    assert {n: p["value"] for n, p in params.items()} == {
        "region": "us-east-1", "suffix": "dev", "fault": "throttle", "target": "moto", "engine": "embedded",
        "expectation": "fail-cleanly: met"}
    assert params["expectation"].get("excluded")
    assert params["target"].get("excluded") and params["engine"].get("excluded")
    assert not params["region"].get("excluded")


def test_steps_have_timings_statuses_and_details(build: Path, make_cells):
    make_cells("run-1")
    write_cell_results()
    results = _by_cell(read_results(allure_results_dir()))
    chaos = results["us-east-1-dev-throttle"]
    assert chaos["status"] == "passed"  # fail-cleanly: the expectation was met
    assert [s["name"] for s in chaos["steps"]] == ["backend", "apply", "chaos expectations", "destroy", "leak check"]
    apply = chaos["steps"][1]
    assert apply["status"] == "failed" and "ThrottlingNotSurvived" in apply["statusDetails"]["message"]
    assert all(s["stop"] >= s["start"] > 0 for s in chaos["steps"])
    assert "expectation fail-cleanly met" in chaos["statusDetails"]["message"]

    lock = results["eu-west-1-dev"]
    assert lock["status"] == "failed"
    assert lock["statusDetails"]["message"].startswith("apply: Error acquiring the state lock")
    assert "Error acquiring the state lock" in lock["statusDetails"]["trace"]  # engine log tail as trace
    assert {"name": "attempts", "value": "1"} in lock["steps"][1]["parameters"]
    assert {"name": "api", "value": "5 calls, 1 retries, 0 throttles"} in lock["steps"][1]["parameters"]

    bucket = results["eu-west-1-qa"]
    assert bucket["status"] == "broken" and bucket["steps"][0]["status"] == "broken"


def test_attachments_are_copied_and_listed(build: Path, make_cells):
    make_cells("run-1")
    write_cell_results()
    out = allure_results_dir()
    results = _by_cell(read_results(out))

    def attachments(r: dict) -> dict[str, dict]:
        found = {a["name"]: a for a in r.get("attachments", [])}
        for s in r["steps"]:
            found.update({a["name"]: a for a in s.get("attachments", [])})
        return found

    ok = attachments(results["us-east-1-dev"])
    assert {"API calls by service", "outputs", "Changes summary"} <= set(ok)
    csv = (out / ok["API calls by service"]["source"]).read_text().splitlines()
    assert csv[0] == "service,calls,retries,throttles" and "ec2,41,3,2" in csv and csv[-1] == "total,48,3,2"
    assert json.loads((out / ok["outputs"]["source"]).read_text())["vpc_id"] == "vpc-0abc"
    assert json.loads((out / ok["Changes summary"]["source"]).read_text())["create"] == 14

    chaos = attachments(results["us-east-1-dev-throttle"])
    assert "DescribeVpcs Throttling" in (out / chaos["injected faults"]["source"]).read_text()
    # the runner's metric-major counters become the same per-service table, plus operations
    csv = (out / chaos["API calls by service"]["source"]).read_text().splitlines()
    assert csv[0] == "service,calls,retries,throttles,mutating,errors"
    assert "ec2,41,3,2,20,1" in csv and "s3,7,0,0,2,0" in csv and csv[-1] == "total,48,3,2,22,1"
    ops = (out / chaos["API calls by operation"]["source"]).read_text()
    assert "ec2:DescribeVpcs,40" in ops
    lock = attachments(results["eu-west-1-dev"])
    assert "Lock Info" in (out / lock["engine log tail"]["source"]).read_text()
    policy = attachments(results["us-east-1-qa"])
    assert "flow-log-interval" in (out / policy["policy violations"]["source"]).read_text()
    leaks = attachments(results["eu-west-1-dev-throttle"])
    assert "aws_nat_gateway nat-0def" in (out / leaks["Leaked resources"]["source"]).read_text()
    for r in results.values():  # every listed source exists
        for a in attachments(r).values():
            assert (out / a["source"]).is_file(), a


def test_messages_match_the_expected_categories(build: Path, make_cells):
    make_cells("run-1")
    write_cell_results()
    results = _by_cell(read_results(allure_results_dir()))
    for cell_id, *_, category in CELLS:
        r = results[cell_id]
        got = classify(r.get("statusDetails", {}).get("message"), r["status"])
        assert (got.name if got else None) == category, cell_id


def test_history_ids_stable_across_runs_and_distinct_across_cells(build: Path, make_cells, tmp_path: Path):
    make_cells("run-1", t0=1_700_000_000_000)
    first = _by_cell(read_results(Path(write_cell_results()[0]).parent))
    other = tmp_path / "run2-results"
    make_cells("run-2", t0=1_700_000_900_000)
    second = _by_cell(read_results(Path(write_cell_results(results_dir=other)[0]).parent))
    for cell in first:
        assert first[cell]["historyId"] == second[cell]["historyId"]
        assert first[cell]["testCaseId"] == second[cell]["testCaseId"]
        assert first[cell]["uuid"] != second[cell]["uuid"]  # another run is another execution
    assert len({r["historyId"] for r in first.values()}) == len(first)
    assert len({r["testCaseId"] for r in first.values()}) == len(first)


#: historyId / testCaseId of every cell of CELLS as the hand-built writer gave them: a report keeps
#: its history (trend, retries, flaky marks) only while these stay exactly the same.
PINNED_IDS = {
    "us-east-1-dev": ("466ba8ad28fe4d36ae8cb58e8a3c0a8e", "1625836c3021ce52c114e1739f29495d"),
    "us-east-1-qa": ("c8125ef111868178e0ff64200cb849e1", "9b609bf76436ca6d0f813f426b63b7c9"),
    "eu-west-1-dev": ("4ee0c1e3f9cc8bd4b09e92f0fd880cdc", "ee45908869e5602624faef7be82c846c"),
    "eu-west-1-qa": ("c35ee93e086b9265fe06e5c3d818395a", "dc2861bf7e2aa986467defdd2426c6d6"),
    "us-east-1-dev-throttle": ("abbee18f78f811e0deeefe7d85b68dd8", "efc92d1becb2d0e78804abb781fb780d"),
    "eu-west-1-dev-throttle": ("b2cad71b554e2408cb4bad67f227fb70", "72f6f51d6817b4225ca079b854b81222"),
}


def test_history_and_test_case_ids_are_pinned(build: Path, make_cells):
    make_cells("run-1")
    written = write_cell_results()
    results = _by_cell(read_results(allure_results_dir()))
    assert {c: (r["historyId"], r["testCaseId"]) for c, r in results.items()} == PINNED_IDS
    # the result file is named after its uuid, itself stable per (run id, cell id)
    assert sorted(p.name for p in written) == sorted(f"{result_uuid('run-1', c)}-result.json" for c in PINNED_IDS)
    assert result_uuid("run-1", "us-east-1-dev-throttle") == "d5128066-8b66-557e-a751-6dfbc4ed7a00"


def test_history_id_ignores_target_and_engine(build: Path, make_cells):
    """A cell that moves from moto/embedded to LocalStack/terraform keeps its history."""
    for cell in make_cells("run-1", only=["eu-west-1-qa"]):
        cell.target, cell.engine = "localstack", "terraform"
        cell.save()
    (r,) = read_results(Path(write_cell_results()[0]).parent)
    assert (r["historyId"], r["testCaseId"]) == PINNED_IDS["eu-west-1-qa"]
    assert label(r, "feature") == ["localstack/terraform"]


def test_rewriting_a_cell_replaces_its_result(build: Path, make_cells):
    make_cells("run-1")
    write_cell_results()
    before = sorted(p.name for p in allure_results_dir().iterdir())
    write_cell_results()
    write_cell_results(load_cells())
    assert sorted(p.name for p in allure_results_dir().iterdir()) == before
    assert (allure_results_dir() / f"{result_uuid('run-1', 'eu-west-1-dev')}-result.json").is_file()
