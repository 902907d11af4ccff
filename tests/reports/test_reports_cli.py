"""`python -m matrix report`: the parser and handler, run as a real process through a driver that
wires `add_report_parser` the way matrix/__main__.py does (UsageError -> exit 2)."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from matrix.errors import UsageError
from matrix.paths import PROJECT_ROOT
from reports.cli import add_report_parser, cmd_report

DRIVER = '''
import argparse, sys
from matrix.errors import StackmatrixError, UsageError
from reports.cli import add_report_parser

parser = argparse.ArgumentParser(prog="python -m matrix")
sub = parser.add_subparsers(dest="command", required=True)
add_report_parser(sub)
args = parser.parse_args(sys.argv[1:])
try:
    sys.exit(args.func(args))
except UsageError as exc:
    print(f"error: {exc}", file=sys.stderr)
    sys.exit(2)
except StackmatrixError as exc:
    print(f"failed: {exc}", file=sys.stderr)
    sys.exit(1)
'''


def _run(tmp_path: Path, build: Path, *argv: str, path: str | None = None) -> subprocess.CompletedProcess:
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "STACKMATRIX_BUILD": str(build)}
    if path is not None:
        env["PATH"] = path
    return subprocess.run([sys.executable, str(driver), "report", *argv], env=env, capture_output=True, text=True,
                          timeout=120, check=False)


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_report_parser(parser.add_subparsers())
    return parser.parse_args(["report", *argv])


@pytest.mark.parametrize(("argv", "message"), [
    (["--merge", "/no/such/shard"], "--merge /no/such/shard: no such folder"),
    (["--publish", "s3:/bucket"], "use s3://BUCKET/PREFIX"),
    (["--publish", "bucket/prefix"], "use s3://BUCKET/PREFIX"),
    (["--endpoint", "http://127.0.0.1:5000"], "--endpoint is only used with --publish"),
    (["--publish", "s3://bucket/p", "--endpoint", "https://s3.eu-west-1.amazonaws.com"], "only an emulator"),
])
def test_bad_input_is_a_usage_error(build: Path, make_cells, argv: list[str], message: str):
    make_cells("run-1")
    with pytest.raises(UsageError, match=re.escape(message)):
        cmd_report(_args(*argv))
    assert not (build / "allure-report").exists() and not (build / "grid").exists()  # nothing done


def test_history_must_be_a_file_and_there_must_be_something_to_report(build: Path, make_cells, tmp_path: Path):
    with pytest.raises(UsageError, match="nothing to report"):
        cmd_report(_args())
    make_cells("run-1")
    with pytest.raises(UsageError, match="is a folder"):
        cmd_report(_args("--history", str(tmp_path)))


def test_real_aws_publishing_needs_the_guarded_client(build: Path, make_cells):
    make_cells("run-1")
    with pytest.raises(UsageError, match="guarded AWS client"):
        cmd_report(_args("--publish", "s3://my-reports/nightly"))


def test_exit_codes_and_what_it_prints(build: Path, make_cells, tmp_path: Path, allure_cli: Path):
    make_cells("run-1")
    bad = _run(tmp_path, build, "--merge", str(tmp_path / "nope"))
    assert bad.returncode == 2 and "error: --merge" in bad.stderr

    ok = _run(tmp_path, build)
    assert ok.returncode == 0, ok.stderr
    assert "Allure report generated" in ok.stdout
    assert f"python -m http.server -d {build / 'allure-report'}" in ok.stdout
    assert f"matrix grid: {build / 'grid' / 'index.html'}" in ok.stdout

    single = _run(tmp_path, build, "--single-file", "--history", str(tmp_path / "cache" / "h.jsonl"))
    assert single.returncode == 0, single.stderr
    assert f"open {build / 'allure-report' / 'index.html'} in a browser" in single.stdout
    assert (tmp_path / "cache" / "h.jsonl").is_file()

    no_node = _run(tmp_path, build, path=str(tmp_path / "empty-bin"))
    assert no_node.returncode == 1
    assert "npm ci" in no_node.stdout and "npm ci" in no_node.stderr
    assert (build / "allure-results").is_dir() and (build / "junit.xml").is_file()
