"""The shipped package: `pip wheel .` holds the tool and nothing of its tests, and works installed alone.

The wheel is built from a copy of the sources (so the checkout gets no build/ or egg-info from
setuptools), then installed into a fresh venv with its declared runtime dependencies and without
the dev extra (no hypothesis, nox, ruff). From a folder outside the checkout, so that nothing can be
imported from the sources, the `stackmatrix` console script must list the dev profile's cells and
`check` a cdk.tf.json synthesized by the project's own synth (the session's `dev_synth`), clean and
with one violation planted.

Installing the runtime dependencies (cdktf and its AWS provider bindings, jsii, moto, boto3,
cfn-lint, ...) from the warm pip cache dominates the time, without byte-compiling them (printed
by `pytest -s tests/test_wheel.py`; figures in docs/measurements.md, "The wheel").
It runs in `nox -s tests` (marked slow).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ("stack", "matrix", "suites", "reports")
NOT_SHIPPED = ("matrix/reliability/", "matrix/bench/", "tests/", "harness/")
DEV_ONLY = ("hypothesis", "nox", "ruff")

pytestmark = pytest.mark.slow


def _copy_sources(dest: Path) -> Path:
    """What `pip wheel .` reads: pyproject, README and the package folders (tests too, to prove they
    are left out), without caches or build output."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "build", "*.egg-info", ".nox", "node_modules")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, dest / name)
    for name in (*SHIPPED, "tests"):
        shutil.copytree(ROOT / name, dest / name, ignore=ignore)
    return dest


def _run(args: list[str], cwd: Path, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    src = _copy_sources(tmp_path_factory.mktemp("wheel-src"))
    out = tmp_path_factory.mktemp("wheel-dist")
    proc = _run([sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--disable-pip-version-check",
                 "-q", "-w", str(out)], src, dict(os.environ), 600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (whl,) = out.glob("stackmatrix-*.whl")
    return whl


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory) -> dict[str, object]:
    """A fresh venv with the wheel and its runtime dependencies only; its environment and a folder
    outside the checkout to run in."""
    venv = tmp_path_factory.mktemp("wheel-venv") / "venv"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    py = venv / "bin" / "python"
    # --no-compile: byte-compiling every module of the provider bindings at install time was most of
    # the cost (137 s vs 40 s here); Python still compiles what the commands import
    proc = _run([str(py), "-m", "pip", "install", "--disable-pip-version-check", "-q", "--no-compile", str(wheel)],
                venv.parent, env, 1800)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    seconds = time.monotonic() - started
    print(f"\nwheel test: fresh venv + runtime dependencies installed in {seconds:.0f} s")
    work = tmp_path_factory.mktemp("wheel-cwd")
    env.update(PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}", VIRTUAL_ENV=str(venv),
               STACKMATRIX_BUILD=str(work / "build"), JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="20")
    env.pop("STACKMATRIX_PROFILES", None)
    return {"python": py, "script": venv / "bin" / "stackmatrix", "env": env, "cwd": work, "seconds": seconds}


def test_wheel_ships_the_tool_and_no_test_code(wheel: Path):
    names = zipfile.ZipFile(wheel).namelist()
    assert not [n for n in names if n.startswith(NOT_SHIPPED) or "/reliability/" in n or "/bench/" in n], \
        "test code in the wheel"
    assert {n.split("/")[0] for n in names if not n.startswith("stackmatrix-")} == set(SHIPPED)
    # the data the installed package reads next to its modules
    for data in ("matrix/profiles.toml", "matrix/catalogue/principals.json",
                 "matrix/engines/embedded/arguments/schema.py", "matrix/targets/localstack-requirements.txt",
                 "matrix/targets/localstack_dynamodb/pyproject.toml", "reports/allure_generate.mjs",
                 "suites/live/test_vpc.py"):
        assert data in names, f"{data} missing from the wheel"
    meta = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "stackmatrix = matrix.__main__:main" in zipfile.ZipFile(wheel).read(meta).decode()


def test_installed_alone_without_the_dev_extra(installed):
    # imports of the installed package come from the venv, not from this checkout; no dev package there
    code = ("import importlib.util, matrix, json; print(json.dumps({'matrix': matrix.__file__, "
            f"'dev': [m for m in {DEV_ONLY!r} if importlib.util.find_spec(m)]}}))")
    proc = _run([str(installed["python"]), "-c", code], installed["cwd"], installed["env"], 120)
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout)
    assert "site-packages" in found["matrix"] and not found["matrix"].startswith(str(ROOT))
    assert found["dev"] == []
    # every shipped module imports without the dev extra (no hypothesis, nox, ... at import time)
    walk = ("import importlib, json, pkgutil\nbad = {}\n"
            f"for top in {SHIPPED!r}:\n"
            "    pkg = importlib.import_module(top)\n"
            "    for m in pkgutil.walk_packages(pkg.__path__, top + '.'):\n"
            "        try:\n            importlib.import_module(m.name)\n"
            "        except Exception as exc:\n            bad[m.name] = f'{type(exc).__name__}: {exc}'\n"
            "print(json.dumps(bad))")
    proc = _run([str(installed["python"]), "-c", walk], installed["cwd"], installed["env"], 300)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.splitlines()[-1]) == {}


def test_installed_script_lists_the_dev_cells(installed):
    proc = _run([str(installed["script"]), "cells", "--profile", "dev", "--format", "json"],
                installed["cwd"], installed["env"], 300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    cells = json.loads(proc.stdout)
    assert [c["id"] for c in cells] == ["us-east-1-dev"]
    assert {k: cells[0][k] for k in ("region", "suffix", "target", "engine")} == {
        "region": "us-east-1", "suffix": "dev", "target": "moto", "engine": "embedded"}
    table = _run([str(installed["script"]), "cells", "--profile", "dev"], installed["cwd"], installed["env"], 300)
    assert table.returncode == 0 and "us-east-1-dev" in table.stdout, table.stdout + table.stderr
    bad = _run([str(installed["script"]), "cells", "--profile", "no-such-profile"], installed["cwd"],
               installed["env"], 300)
    assert bad.returncode == 2 and "no-such-profile" in bad.stderr and "Traceback" not in bad.stderr


def test_installed_script_checks_a_synthesized_stack(installed, dev_synth: Path):
    cwd: Path = installed["cwd"]
    clean = cwd / "clean" / "cdk.tf.json"
    clean.parent.mkdir()
    shutil.copy2(dev_synth, clean)
    doc = json.loads(dev_synth.read_text())
    (name,) = doc["resource"]["aws_flow_log"]
    doc["resource"]["aws_flow_log"][name]["max_aggregation_interval"] = 300
    broken = cwd / "broken" / "cdk.tf.json"
    broken.parent.mkdir()
    broken.write_text(json.dumps(doc))
    script, env = str(installed["script"]), installed["env"]

    ok = _run([script, "check", str(clean), "--project", str(ROOT)], cwd, env, 300)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout == "" and "check: 1 file(s)" in ok.stderr and "clean" in ok.stderr

    bad = _run([script, "check", str(broken), "--project", str(ROOT)], cwd, env, 300)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert f"flow-log-interval: aws_flow_log.{name}" in bad.stdout and "Fix:" in bad.stdout
    assert "1 violation(s)" in bad.stderr

    sarif = _run([script, "check", "--format", "sarif", str(broken), "--project", str(ROOT)], cwd, env, 300)
    assert sarif.returncode == 1, sarif.stderr
    log = json.loads(sarif.stdout)
    assert log["version"] == "2.1.0"
    assert [r["ruleId"] for r in log["runs"][0]["results"]] == ["flow-log-interval"]
