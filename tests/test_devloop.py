"""The dev loop on a copy of the project: a kept cell, a suites-only pass that skips synth and apply,
and `--watch` picking up a stack edit in one warm process (only the change applied)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def project(tmp_path) -> Path:
    """A throw-away copy of the project's sources, so edits never touch the real tree."""
    copy = tmp_path / "project"
    for name in ("stack", "matrix", "suites", "reports"):
        shutil.copytree(ROOT / name, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("cdktf.json", "pyproject.toml"):
        shutil.copy(ROOT / name, copy / name)
    return copy


def dev(project: Path, *args: str, **kw) -> subprocess.Popen | subprocess.CompletedProcess:
    env = dict(os.environ, STACKMATRIX_BUILD=str(project / "build"), PYTHONPATH=str(project))
    cmd = [sys.executable, "-m", "matrix", "dev", *args]
    if kw.get("background"):
        return subprocess.Popen(cmd, cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)
    return subprocess.run(cmd, cwd=project, env=env, capture_output=True, text=True, timeout=600)


def teardown_project(project: Path) -> None:
    env = dict(os.environ, STACKMATRIX_BUILD=str(project / "build"), PYTHONPATH=str(project))
    subprocess.run([sys.executable, "-m", "matrix", "destroy"], cwd=project, env=env, capture_output=True,
                   timeout=300)
    sys.path.insert(0, str(ROOT))
    os.environ["STACKMATRIX_BUILD"] = str(project / "build")
    try:
        from matrix.suite_worker import stop_kept
        from matrix.synthd import stop
        from matrix.targets.moto import MotoServer

        stop()
        stop_kept()  # `destroy` stops it too once no kept cell is left; a failed test may leave one
        server = MotoServer.recorded()
        if server is not None:
            server.stop()
    finally:
        del os.environ["STACKMATRIX_BUILD"]


def test_suites_only_pass_skips_synth_and_apply(project):
    try:
        first = dev(project)
        assert first.returncode == 0, first.stderr[-2000:]
        assert "33 to add" in first.stderr
        again = dev(project)
        assert again.returncode == 0, again.stderr[-2000:]
        assert "apply: skipped, the stack has not changed" in again.stderr
        assert "synthesize with" not in again.stderr and "live suite: " in again.stderr and " passed" in again.stderr
    finally:
        teardown_project(project)


def test_a_stack_edit_between_dev_runs_goes_to_the_warm_synth_daemon(project):
    try:
        first = dev(project)
        assert first.returncode == 0, first.stderr[-2000:]
        assert "starting the cdktf synth daemon" in first.stderr
        vpc = project / "stack" / "vpc.py"
        vpc.write_text(vpc.read_text().replace('tags={"Name": name("igw")}',
                                               'tags={"Name": name("igw"), "Purpose": "egress"}'))
        second = dev(project)
        assert second.returncode == 0, second.stderr[-2000:]
        assert "starting the" not in second.stderr, "the daemon from the first run is reused"
        assert "1 synthesized" in second.stderr
        assert "0 to add, 1 to change, 0 to replace, 0 to destroy" in second.stderr
    finally:
        teardown_project(project)


def test_watch_redeploys_only_the_edit_in_one_warm_process(project):
    proc = dev(project, "--watch", background=True)
    lines: list[str] = []

    def wait_for(text: str, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                raise AssertionError("dev --watch exited:\n" + "".join(lines[-40:]))
            lines.append(line)
            if text in line:
                return
        raise AssertionError(f"no {text!r} within {timeout} s:\n" + "".join(lines[-40:]))

    try:
        wait_for("dev: ready in")
        vpc = project / "stack" / "vpc.py"
        vpc.write_text(vpc.read_text().replace('tags={"Name": name("igw")}',
                                               'tags={"Name": name("igw"), "Purpose": "egress"}'))
        wait_for("dev: redeployed and retested in")
        text = "".join(lines)
        assert "changed stack/vpc.py" in text
        assert "0 to add, 1 to change, 0 to replace, 0 to destroy" in text
        assert text.count("loaded in") == 1, "the CDK is loaded once"
        (project / "suites" / "live" / "_touched.py").write_text("# an edit of the suites only\n")
        wait_for("dev: redeployed and retested in")
        tail = "".join(lines[-12:])
        assert "apply: skipped" in tail and "live suite: " in tail and "failed" not in tail
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        teardown_project(project)
