"""Quality gates from the profile file: validated like the rest of it (exit 2 naming file, key and what is
allowed), defaults for dev, prerelease and nightly, and a real run on moto that passes every cell but misses
a gate exits 1 naming it, with the measured value next to the limit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from matrix.cells import DEFAULT_PROFILES, expand, profile_gates
from matrix.errors import UsageError
from matrix.gates import GATES, evaluate, narrowing
from matrix.results import CellResult, Step

ROOT = Path(__file__).resolve().parent.parent
BASE = DEFAULT_PROFILES.read_text()


def _profiles(tmp_path: Path, extra: str) -> Path:
    path = tmp_path / "profiles.toml"
    path.write_text(BASE + "\n" + extra)
    return path


@pytest.mark.parametrize(("table", "needle"), [
    ("[profiles.dev.gates]\nmax_fail = 1", "unknown gate 'max_fail'; allowed: max_failed_cells, min_success_rate"),
    ("[profiles.dev.gates]\nmin_success_rate = 95", "(a fraction: 0.95 means 95%)"),
    ("[profiles.dev.gates]\nmax_failed_cells = -1", "must be an integer from 0 or more"),
    ("[profiles.dev.gates]\nmax_leaks = 0.5", "max_leaks = 0.5: must be an integer"),
    ("[profiles.dev.gates]\nmin_cells = 0", "min_cells = 0: must be an integer from 1 or more"),
    ("[profiles.dev.gates]\nmax_cell_seconds = \"10m\"", "max_cell_seconds = '10m': must be a number"),
    ("[profiles.dev.gates]\nmin_cells = true", "min_cells = True: must be an integer"),
])
def test_bad_gates_are_refused_naming_file_key_and_allowed(tmp_path: Path, table: str, needle: str):
    path = _profiles(tmp_path, table.replace("[profiles.dev.gates]", "[profiles.gated]\nregions = [\"us-east-1\"]\n"
                                             "suffixes = [\"dev\"]\n[profiles.gated.gates]"))
    with pytest.raises(UsageError) as err:
        expand("gated", profiles_file=path)
    assert str(path) in str(err.value) and "[profiles.gated.gates]" in str(err.value)
    assert needle in str(err.value)


def test_bad_default_gates_exit_2_on_the_command_line(tmp_path: Path):
    text = BASE.replace("[defaults.gates]\n", "[defaults.gates]\nmax_retries = 3\n")
    path = tmp_path / "p.toml"
    path.write_text(text)
    out = subprocess.run([sys.executable, "-m", "matrix", "run", "--profile", "dev", "--profiles", str(path)],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2, out.stderr
    assert out.stderr.startswith(f"error: {path} [defaults.gates]: unknown gate 'max_retries'; allowed: ")
    assert "Traceback" not in out.stderr


def test_defaults_for_dev_prerelease_and_nightly():
    dev, pre, nightly = (profile_gates(p) for p in ("dev", "prerelease", "nightly"))
    for limits in (dev, pre, nightly):
        assert limits["max_leaks"] == 0 and limits["max_failed_cells"] == 0
        assert "max_cell_seconds" not in limits, "no time limit on by default: machines are noisy"
    assert pre["min_cells"] == len(expand("prerelease")) == 36 and pre["min_success_rate"] == 1.0
    assert nightly["min_cells"] == len(expand("nightly")) == 12
    assert dev["min_cells"] == 1
    assert set(GATES) == {"max_failed_cells", "min_success_rate", "max_retries_per_cell", "max_cell_seconds",
                          "max_leaks", "min_cells"}


def _cell(cell: str, fault: str | None, status: str, retries: int = 0, seconds: float = 1.0) -> CellResult:
    return CellResult("r", cell, "us-east-1", "dev", fault, "moto", "embedded", "p", status=status, started=0,
                      stopped=int(seconds * 1000), counters={"retries": {"ec2": retries}})


def test_max_leaks_is_never_met_on_cells_whose_leak_check_did_not_complete():
    """A destroy that failed (or a leak check that broke) counts no leaks: the gate used to say
    "measured 0, met" for leaks it never looked for."""
    clean, broken, kept = _cell("a", None, "passed"), _cell("b", None, "broken"), _cell("c", None, "passed")
    clean.steps = [Step("apply", status="passed"), Step("destroy", status="passed"),
                   Step("leak check", status="passed")]
    broken.steps = [Step("apply", status="passed"), Step("destroy", status="broken")]  # no leak check ran
    kept.steps = [Step("apply", status="passed")]  # --keep: not torn down, nothing to check
    gate = {r.key: r for r in evaluate([clean, kept], {"max_leaks": 0}).results}["max_leaks"]
    assert gate.ok and gate.measured == 0
    gate = {r.key: r for r in evaluate([clean, broken, kept], {"max_leaks": 0}).results}["max_leaks"]
    assert gate.ok is False and gate.cells == ["b: not checked"]
    assert "MISSED" in gate.line() and "the leak check did not complete in 1 torn-down cell(s)" in gate.line()
    # a leak check that failed because it found leftovers did complete: its finds are counted, once
    leaky = _cell("d", None, "failed")
    leaky.steps = [Step("apply", status="passed"), Step("destroy", status="passed"),
                   Step("leak check", status="failed")]
    leaky.leaks = ["aws_vpc vpc-1", "aws_eip eipalloc-1"]
    gate = {r.key: r for r in evaluate([clean, leaky], {"max_leaks": 0}).results}["max_leaks"]
    assert gate.ok is False and gate.measured == 2 and gate.cells == ["d: 2"]
    # ... but one that failed without naming what it found (it raised) counted nothing
    leaky.leaks = []
    gate = {r.key: r for r in evaluate([clean, leaky], {"max_leaks": 0}).results}["max_leaks"]
    assert gate.ok is False and gate.cells == ["d: not checked"]


def test_success_and_retries_follow_the_declared_expectation():
    cells = [_cell("a", None, "passed", retries=1), _cell("b", "throttle-ec2", "passed", retries=40),
             _cell("c", "missing-state-bucket", "passed"), _cell("d", None, "skipped")]
    report = evaluate(cells, {"min_success_rate": 0.75, "max_retries_per_cell": 1, "min_cells": 3})
    by = {r.key: r for r in report.results}
    assert by["min_success_rate"].measured == 0.75 and by["min_success_rate"].ok  # fail-cleanly met = success
    assert by["max_retries_per_cell"].measured == 1  # the throttle cell's 40 retries were injected on purpose
    assert by["min_cells"].measured == 3 and by["min_cells"].cells == ["d"]  # a skipped cell reached no verdict
    narrowed = evaluate(cells, {"min_cells": 10}, narrowing("2/4", None, ["dev"], None))
    assert narrowed.ok and narrowed.results[0].ok is None
    assert "--shard 2/4 --suffix dev" in narrowed.results[0].line()


@pytest.mark.slow
def test_a_run_that_misses_a_gate_exits_1_naming_it(tmp_path: Path, synth_root: Path):
    import shutil

    build = tmp_path / "build"
    shutil.copytree(synth_root / "synth", build / "synth")
    path = tmp_path / "profiles.toml"
    path.write_text(BASE.replace("[profiles.dev.gates]\nmin_cells = 1", "[profiles.dev.gates]\nmin_cells = 2"))
    out = subprocess.run([sys.executable, "-m", "matrix", "run", "--profile", "dev", "--profiles", str(path),
                          "--bootstrap-backend"], cwd=ROOT, capture_output=True, text=True, timeout=600,
                         env={**os.environ, "STACKMATRIX_BUILD": str(build)})
    assert out.returncode == 1, out.stdout + out.stderr
    assert "PASSED   us-east-1-dev" in out.stdout  # the cell met its expectation: the gate made it 1
    assert "quality gates: 1 missed (min_cells)" in out.stdout
    assert "gate min_cells MISSED: measured 1 (cells that reached a verdict), limit >= 2" in out.stdout
    record = json.loads((build / "run.json").read_text())
    assert record["exit_code"] == 1 and record["gates"]["ok"] is False
    assert json.loads((build / "gates.json").read_text())["limits"]["min_cells"] == 2
    summary = (build / "grid" / "summary.md").read_text()
    assert "**Quality gates: 1 missed**" in summary and "| `min_cells` | >= 2 | 1 (cells that reached a verdict)" \
        in summary
