"""The live progress display: in a pseudo-terminal it redraws one display in place and leaves the terminal
clean (also on Ctrl-C); with output piped the log stays the plain line-per-step log, no escape codes.

Real runs of `python -m matrix run --profile dev` on moto, the terminal a real pty (os.openpty)."""

from __future__ import annotations

import os
import re
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HIDE, SHOW = "\x1b[?25l", "\x1b[?25h"
pytestmark = pytest.mark.slow


@pytest.fixture
def build(tmp_path: Path, synth_root: Path) -> Path:
    folder = tmp_path / "build"
    shutil.copytree(synth_root / "synth", folder / "synth")
    return folder


def _env(build: Path) -> dict[str, str]:
    return {**os.environ, "STACKMATRIX_BUILD": str(build), "TERM": "xterm-256color", "COLUMNS": "140",
            "LINES": "40"}


def run_in_pty(build: Path, *args: str, interrupt_when: str | None = None, timeout: float = 600) -> tuple[int, str]:
    """Run the CLI with stdin/stdout/stderr on a pty; optionally Ctrl-C (SIGINT to its group) when the
    output shows `interrupt_when`. Returns (exit code, everything the terminal received)."""
    master, slave = os.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "matrix", *args], cwd=ROOT, env=_env(build), stdin=slave,
                            stdout=slave, stderr=slave, start_new_session=True)
    os.close(slave)
    chunks: list[bytes] = []
    sent = False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the last writer closed the pty
                break
            if not data:
                break
            chunks.append(data)
        if interrupt_when and not sent and interrupt_when in b"".join(chunks).decode("utf-8", "replace"):
            os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
            sent = True
        if proc.poll() is not None and not ready:
            break
    code = proc.wait(timeout=60)
    os.close(master)
    return code, b"".join(chunks).decode("utf-8", "replace")


def test_terminal_gets_one_live_display_and_a_clean_terminal(build: Path):
    code, out = run_in_pty(build, "run", "--profile", "dev", "--bootstrap-backend", "--no-report")
    assert code == 0, out[-3000:]
    frames = out.count("stackmatrix dev: ")
    assert frames >= 3, f"the display was drawn {frames} time(s)"
    assert re.search(r"stackmatrix dev: 0/1 cells done · 1 running", out)
    assert "stackmatrix dev: 1/1 cells done · 0 running · 0 failed" in out
    assert "\x1b[2K" in out and re.search(r"\x1b\[\d*A", out), "redrawn in place (erase line, cursor up)"
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out)
    # each step of the running cell shows in its row while it runs
    for step in ("backend", "apply", "live suite", "destroy"):
        assert re.search(rf"us-east-1-dev\s+{step}\s+\d+ s", plain), step
    assert "[us-east-1-dev] PASSED in" in out
    assert out.rfind(SHOW) > out.rfind(HIDE) >= 0, "the cursor is shown again at the end"
    assert "PASSED   us-east-1-dev" in out and "quality gates: all met" in out


def test_ctrl_c_tears_down_and_leaves_the_terminal_clean(build: Path):
    code, out = run_in_pty(build, "run", "--profile", "dev", "--bootstrap-backend", "--no-report",
                           interrupt_when="apply ")
    assert code in (1, 130), out[-3000:]
    assert "Ctrl-C: stopping every cell and tearing down" in out
    assert out.rfind(SHOW) > out.rfind(HIDE) >= 0, "the cursor is shown again"
    assert "Traceback" not in out
    assert not list((build / "deployments").glob("*.json")), "torn down: no deployment record left"


def test_piped_output_is_the_plain_log(build: Path):
    out = subprocess.run([sys.executable, "-m", "matrix", "run", "--profile", "dev", "--bootstrap-backend",
                          "--no-report"], cwd=ROOT, env=_env(build), capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert "\x1b" not in out.stderr + out.stdout, "no escape codes off a terminal"
    lines = out.stderr.splitlines()
    assert any(line.startswith("synth: ") for line in lines)
    assert any(line.startswith("target: moto at http://127.0.0.1:") for line in lines)
    cell_lines = [line for line in lines if line.startswith("[us-east-1-dev] ")]
    assert len(cell_lines) >= 5, lines  # one line per step, as always
    assert re.match(r"\[us-east-1-dev\] PASSED in \d+\.\d s$", cell_lines[-1])
    assert "cells done" not in out.stderr
