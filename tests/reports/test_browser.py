"""The report and the grid in a real headless Chromium, served over HTTP on 127.0.0.1.

What is checked, honestly: Allure 3's report is a JavaScript app, so each page is loaded with
`--dump-dom` and a virtual time budget, and the text of the *rendered* DOM is searched:
* the main page: the report name (profile and run), every region group of the tree, the totals,
  and the failed/broken cells (the tree opens the groups holding failures; passed groups stay
  collapsed, which is why every cell is also checked on its own page);
* each cell's test page (`index.html#/<id>`, the link the grid uses): the cell's test name, its
  status as the report prints it, its steps, and the category of a failed cell;
* the charts page: the "Status dynamics" trend has two bars (the history run and the latest);
* the categories page: every category that our cells fall into;
* the grid page: every cell id with its status;
* the Quality Gates tab: every gate of the run with its verdict, measured value, limit and related cells;
* the single-file report opened from file://.
Screenshots of the report, its trend and the grid are saved under build/screenshots/ (the project's build
folder, as CI artifacts) and next to the test's report.

Chromium is Debian's `chromium` package; when it is missing the test installs it with apt-get
(as root), or skips saying why.
"""

from __future__ import annotations

import functools
import html
import http.server
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from reports_helpers import CELLS, cell_dict, cell_env, run_suite, use_build

from matrix.gates import evaluate
from matrix.paths import PROJECT_ROOT
from matrix.results import load_results
from reports.allure_cells import result_uuid
from reports.build import build_report
from reports.labels import report_test_id

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--virtual-time-budget=15000",
         "--window-size=1400,1000"]
STATUS_WORDS = {"passed": "Passed", "failed": "Failed", "broken": "Broken"}
GATES = {"max_failed_cells": 0, "max_retries_per_cell": 5, "max_leaks": 0, "min_cells": 6}
SCREENSHOTS = PROJECT_ROOT / "build" / "screenshots"


def _find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


@pytest.fixture(scope="module")
def chromium() -> str:
    found = _find_chromium()
    if found:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.skip("Chromium is not installed and cannot be installed here (needs root and apt-get): "
                    "install the Debian package `chromium`")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    cmd = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium"]
    if subprocess.run(cmd, env=env, capture_output=True, timeout=900, check=False).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, timeout=600, check=False)
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900, check=False)
        if proc.returncode != 0:
            pytest.skip(f"apt-get install chromium failed: {proc.stderr[-500:]}")
    found = _find_chromium()
    if not found:
        pytest.skip("apt-get installed chromium but no chromium binary was found")
    return found


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, allure_cli: Path) -> Path:
    """A build folder with two runs (so the report has a trend) and a live suite run."""
    from reports_helpers import make_cell

    root = tmp_path_factory.mktemp("browser")
    build = root / "build"
    with use_build(build):
        for run, t0 in (("run-1", 1_700_000_000_000), ("run-2", 1_700_000_900_000)):
            for cid, region, suffix, fault, status, _ in CELLS:
                make_cell(run, cid, region, suffix, fault, status, t0)
            if run == "run-2":
                run_suite(root, build / "allure-results", cell_env(cell_dict("us-east-1-dev")))
                # the run's quality gates (recorded as a run records them; the report re-evaluates them)
                evaluate(load_results(), GATES).save()
            outcome = build_report()
            assert outcome.html.ok, outcome.html.message
        single = build_report(single_file=True, output=build / "single-file-report")
        assert single.html.ok, single.html.message
    return build


@pytest.fixture(scope="module")
def base_url(site: Path) -> Iterator[str]:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _run(chromium: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([chromium, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True,
                          text=True, timeout=120, check=False)


def dom_text(chromium: str, url: str, profile: Path) -> str:
    """The rendered DOM of `url` as text (scripts and styles removed, tags stripped)."""
    proc = _run(chromium, profile, "--dump-dom", url)
    assert proc.returncode == 0, proc.stderr[-1000:]
    text = re.sub(r"<(script|style)\b.*?</\1>", " ", proc.stdout, flags=re.S | re.I)
    text = re.sub(r"<[^>]+>", " ", text)
    return re.sub(r"\s+", " ", html.unescape(text))


def screenshot(chromium: str, url: str, profile: Path, *targets: Path) -> None:
    first = targets[0]
    first.parent.mkdir(parents=True, exist_ok=True)
    proc = _run(chromium, profile, f"--screenshot={first}", url)
    assert proc.returncode == 0 and first.is_file() and first.stat().st_size > 10_000, proc.stderr[-1000:]
    for other in targets[1:]:
        other.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(first, other)


def test_report_main_page(chromium: str, base_url: str, site: Path, tmp_path: Path):
    text = dom_text(chromium, f"{base_url}/allure-report/index.html", tmp_path / "p")
    assert "stackmatrix dev run run-2" in text
    for region in ("us-east-1", "eu-west-1"):
        assert region in text
    assert re.search(r"Total\s+11", text), text[:2000]  # six cells and the five tiny-suite tests
    for cid, *_, status, _ in CELLS:
        if status in ("failed", "broken"):  # groups with failures are open on the main page
            assert f"deployment {cid}" in text, cid
    screenshot(chromium, f"{base_url}/allure-report/index.html", tmp_path / "p",
               site / "screenshots" / "allure-report.png", SCREENSHOTS / "allure-report.png")


def test_every_cell_page_shows_name_status_steps_and_category(chromium: str, base_url: str, tmp_path: Path):
    def page(cell: tuple) -> tuple[tuple, str]:
        cid = cell[0]
        rid = report_test_id(result_uuid("run-2", cid))
        return cell, dom_text(chromium, f"{base_url}/allure-report/index.html#/{rid}", tmp_path / cid)

    with ThreadPoolExecutor(max_workers=3) as pool:
        pages = list(pool.map(page, CELLS))
    for (cid, _region, _suffix, _fault, status, category), text in pages:
        assert f"deployment {cid}" in text, cid
        assert STATUS_WORDS[status] in text, (cid, status)
        assert "backend" in text, cid  # the first step of every cell
        if category:
            assert f"Category: {category}" in text, (cid, category, text[:3000])
    throttle = dict((c[0], t) for c, t in pages)["us-east-1-dev-throttle"]
    assert "chaos expectations" in throttle and "expectation fail-cleanly: met" in throttle
    assert "ThrottlingNotSurvived: DescribeVpcs throttled 6 times" in throttle  # the apply step's error
    assert "injected faults" in throttle  # its attachment


def test_trend_page_shows_two_runs(chromium: str, base_url: str, site: Path, tmp_path: Path):
    url = f"{base_url}/allure-report/index.html#/charts"
    text = dom_text(chromium, url, tmp_path / "t")
    trend = text.split("Status dynamics", 1)[1].split("Test results by severities", 1)[0]
    labels = re.findall(r"\d{1,4}/\d{1,2}/\d{2,4}|Latest", trend)
    assert labels[-1] == "Latest" and len(labels) == 2, trend  # run-1 (from history) and run-2
    screenshot(chromium, url, tmp_path / "t", site / "screenshots" / "trend.png", SCREENSHOTS / "trend.png")


def test_categories_page(chromium: str, base_url: str, tmp_path: Path):
    text = dom_text(chromium, f"{base_url}/allure-report/index.html#/categories", tmp_path / "c")
    for category in {c[5] for c in CELLS if c[5]} | {"Product defect"}:
        assert category in text, category


def test_grid_page(chromium: str, base_url: str, site: Path, tmp_path: Path):
    url = f"{base_url}/grid/index.html"
    text = dom_text(chromium, url, tmp_path / "g")
    assert "6 cell(s): 3 failed, 1 broken, 2 passed" in text
    for cid, *_, status, _ in CELLS:
        assert re.search(rf"{re.escape(cid)} {status} \d+\.\d s", text), (cid, status)
    screenshot(chromium, url, tmp_path / "g", site / "screenshots" / "grid.png", SCREENSHOTS / "grid.png")


def test_quality_gates_tab(chromium: str, base_url: str, site: Path, tmp_path: Path):
    """The run's gates in Allure 3's Quality Gates tab: each with its verdict, measured value and limit,
    and the cells behind a miss linked as related test results."""
    url = f"{base_url}/allure-report/index.html#/qualityGate"
    text = dom_text(chromium, url, tmp_path / "q")
    assert re.search(r"Quality Gates\s+4\b", text), text[:2000]
    missed = {"max_failed_cells": ("measured 4", 4), "max_leaks": ("measured 2", 1)}
    for key, (measured, related) in missed.items():
        assert re.search(rf"{key} Error {key} MISSED: {measured} .*?Related test results \({related}\)", text), key
    assert "max_retries_per_cell Success max_retries_per_cell met: measured 3" in text
    assert "min_cells Success min_cells met: measured 6 (cells that reached a verdict), limit >= 6" in text
    screenshot(chromium, url, tmp_path / "q", site / "screenshots" / "quality-gates.png",
               SCREENSHOTS / "quality-gates.png")


def test_single_file_report_opens_from_file_url(chromium: str, site: Path, tmp_path: Path):
    index = site / "single-file-report" / "index.html"
    text = dom_text(chromium, index.as_uri(), tmp_path / "s")
    assert "stackmatrix dev run run-2" in text and "eu-west-1" in text
    assert "deployment eu-west-1-dev" in text
