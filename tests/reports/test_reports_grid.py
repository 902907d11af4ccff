"""The matrix grid: HTML page, Markdown (and the GitHub job summary), JUnit XML."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from reports_helpers import CELLS

from reports.allure_cells import result_uuid
from reports.build import build_report
from reports.labels import report_test_id


def test_grid_html_lists_every_cell_with_status_and_link(build: Path, make_cells):
    make_cells("run-1")
    outcome = build_report(html=False)
    page = (build / "grid" / "index.html").read_text()
    assert outcome.grid_html == build / "grid" / "index.html"
    assert "<script" not in page and "http" not in page.split("<body>")[1]  # self-contained
    for cell, *_, status, category in CELLS:
        assert f'data-cell="{cell}" data-status="{status}"' in page
        rid = report_test_id(result_uuid("run-1", cell))
        assert f'href="../allure-report/index.html#/{rid}"' in page
        if category:
            assert category in page
    assert "<th>none</th><th>throttle</th>" in page  # scenarios as columns, "none" first
    assert re.search(r'<th rowspan="2">eu-west-1</th><th>dev</th>', page)
    assert "6 cell(s): 3 failed, 1 broken, 2 passed" in page
    failures = page.split("<h2>Failures</h2>")[1]
    assert "apply: Error acquiring the state lock: lock held by run other" in failures
    assert "backend: state bucket stackmatrix-tfstate-eu-west-1 does not exist (NoSuchBucket)" in failures
    assert "us-east-1-dev-throttle" not in failures  # fail-cleanly met: passed


def test_markdown_and_step_summary_appended(build: Path, make_cells, tmp_path: Path, monkeypatch):
    summary = tmp_path / "step-summary.md"
    summary.write_text("earlier step output\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    make_cells("run-1")
    outcome = build_report(html=False)
    md = (build / "grid" / "summary.md").read_text()
    assert md.startswith("### stackmatrix dev run run-1")
    assert "| region | suffix | none | throttle |" in md
    assert ("| eu-west-1 | dev | ❌ failed 5.0s · 3r/2t · Lock contention "
            "| ❌ failed 5.0s · 3r/2t · Leaked resources |") in md
    assert "| `eu-west-1-qa` | backend | Missing state bucket |" in md
    assert outcome.step_summary == summary
    text = summary.read_text()
    assert text.startswith("earlier step output\n") and "### stackmatrix dev run run-1" in text
    build_report(html=False)
    assert summary.read_text().count("### stackmatrix dev run run-1") == 2  # appended, never overwritten


def test_junit_one_testcase_per_cell(build: Path, make_cells):
    make_cells("run-1")
    build_report(html=False)
    root = ET.parse(build / "junit.xml").getroot()  # noqa: S314 - our own file
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("6", "3", "1")
    cases = {c.get("name"): c for c in root.iter("testcase")}
    assert sorted(cases) == sorted(c[0] for c in CELLS)
    lock = cases["eu-west-1-dev"]
    assert lock.get("classname") == "eu-west-1.dev"
    failure = lock.find("failure")
    assert failure is not None and failure.get("type") == "Lock contention"
    assert failure.get("message") == "apply: Error acquiring the state lock: lock held by run other"
    bucket = cases["eu-west-1-qa"].find("error")
    assert bucket is not None and bucket.get("message").startswith("backend: state bucket")
    assert bucket.get("type") == "Missing state bucket"
    leak = cases["eu-west-1-dev-throttle"].find("failure")
    assert leak.get("message") == "leak check: 2 resources leaked after destroy"
    assert "aws_nat_gateway nat-0def" in leak.text
    ok = cases["us-east-1-dev-throttle"]
    assert ok.find("failure") is None and ok.find("error") is None
    props = {p.get("name"): p.get("value") for p in ok.iter("property")}
    assert props["fault"] == "throttle" and props["target"] == "moto" and props["retries"] == "3"
    assert float(ok.get("time")) > 0
