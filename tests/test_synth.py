"""One-process synth of many cells, its cache, the two CDK flavors, and the cdktf app entry."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from matrix.cells import expand, load_profile_cells
from matrix.synth import cache_key, library_versions, sources_digest, synthesize

ROOT = Path(__file__).resolve().parent.parent


def _doc(root: Path, cell: str) -> dict:
    return json.loads((root / "synth" / cell / "cdk.tf.json").read_text())


def test_nightly_synthesizes_twelve_cells_in_one_process(synth_root):
    cells = load_profile_cells("nightly")
    for cell in cells:
        doc = _doc(synth_root, cell.id)
        resources = sum(len(v) for v in doc["resource"].values())
        assert resources >= 30, f"{cell.id}: {resources} resources"
        flow = next(iter(doc["resource"]["aws_flow_log"].values()))
        assert flow["max_aggregation_interval"] == 600
        backend = doc["terraform"]["backend"]["s3"]
        assert backend["encrypt"] is True and backend["use_lockfile"] is True
        assert backend["key"] == f"{cell.suffix}/vpc-{cell.suffix}-{cell.region}.tfstate"
        assert doc["provider"]["aws"][0]["region"] == cell.region
        assert "endpoints" not in doc["provider"]["aws"][0], "no emulator endpoints unless a target asks"
        meta = json.loads((synth_root / "synth" / cell.id / "meta.json").read_text())
        assert meta["flavor"] == "cdktf" and meta["cell"] == cell.id


def test_cache_hits_unchanged_cells_and_misses_changed_ones(synth_root, monkeypatch, tmp_path):
    work = tmp_path / "build"
    shutil.copytree(synth_root, work)
    monkeypatch.setenv("STACKMATRIX_BUILD", str(work))
    cells = load_profile_cells("nightly")
    started = time.monotonic()
    again = synthesize(cells)
    assert again.cached == [c.id for c in cells] and again.synthesized == []
    assert time.monotonic() - started < 1.0
    # one cell with another parameter: only that one is re-synthesized
    profiles = tmp_path / "p.toml"
    profiles.write_text((ROOT / "matrix" / "profiles.toml").read_text().replace(
        'suffixes = ["dev"]', 'suffixes = ["dev"]\nlog_retention_days = 30', 1))
    changed = expand("dev", profiles_file=profiles)
    result = synthesize([*cells[1:], *changed])
    assert result.synthesized == ["us-east-1-dev"] and len(result.cached) == 11
    assert json.loads((work / "synth" / "us-east-1-dev" / "cdk.tf.json").read_text())[
        "resource"]["aws_cloudwatch_log_group"]["flow-logs"]["retention_in_days"] == 30


def test_cache_key_covers_sources_flavor_and_versions():
    cell = load_profile_cells("dev")[0]
    versions = library_versions("cdktf")
    base = cache_key(cell, "cdktf", sources_digest(), versions)
    assert cache_key(cell, "cdktf", "other-sources", versions) != base
    assert cache_key(cell, "cdktn", sources_digest(), versions) != base
    assert cache_key(cell, "cdktf", sources_digest(), {**versions, "jsii": "0.0.0"}) != base
    assert cache_key(cell, "cdktf", sources_digest(), versions) == base


def test_force_resynthesizes(synth_root, monkeypatch, tmp_path):
    work = tmp_path / "build"
    shutil.copytree(synth_root, work)
    monkeypatch.setenv("STACKMATRIX_BUILD", str(work))
    result = synthesize(load_profile_cells("dev"), force=True)
    assert result.synthesized == ["us-east-1-dev"] and result.worker["cells"] == ["us-east-1-dev"]


def test_cdktf_and_cdktn_give_identical_resource_blocks(synth_root, monkeypatch, tmp_path):
    pytest.importorskip("cdktn", reason="CDK Terrain not installed (pip install '.[cdktn]')")
    monkeypatch.setenv("STACKMATRIX_BUILD", str(tmp_path / "build"))
    cells = expand("nightly", suffixes=["dev", "prod"])
    synthesize(cells, flavor="cdktn")
    for cell in cells:
        ours = _doc(synth_root, cell.id)
        theirs = _doc(tmp_path / "build", cell.id)
        for section in ("resource", "data", "output", "variable"):
            assert ours[section] == theirs[section], f"{cell.id}: {section} differs between cdktf and cdktn"
        assert ours["terraform"]["backend"] == theirs["terraform"]["backend"]
        strip = lambda p: {k: v for k, v in p["aws"][0].items()}  # noqa: E731
        assert strip(ours["provider"]) == strip(theirs["provider"])


def test_the_cdktf_json_app_command_synthesizes_like_the_cli(tmp_path):
    """cdktf.json's app runs as the cdktf CLI runs it: in the project folder, outdir in CDKTF_OUTDIR."""
    app = json.loads((ROOT / "cdktf.json").read_text())["app"]
    env = dict(os.environ, CDKTF_OUTDIR=str(tmp_path / "cdktf.out"), STACKMATRIX_PROFILE="nightly",
               STACKMATRIX_CELLS="eu-west-1-qa", JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="20")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    subprocess.run(app, shell=True, cwd=ROOT, env=env, check=True, timeout=300)  # noqa: S602 - the app line
    out = tmp_path / "cdktf.out" / "stacks" / "vpc-qa-eu-west-1" / "cdk.tf.json"
    doc = json.loads(out.read_text())
    assert doc["provider"]["aws"][0]["region"] == "eu-west-1"
    assert (tmp_path / "cdktf.out" / "manifest.json").is_file()


NO_CDKTF_CLI = pytest.mark.skipif(shutil.which("cdktf") is None,
                                  reason="the cdktf CLI (npm cdktf-cli, installed by .ci/run) is not installed")


def _cli_env(**extra: str) -> dict[str, str]:
    """The CLI runs cdktf.json's `python3 stack/app.py`: this interpreter first on PATH; no phone-home."""
    env = dict(os.environ, CHECKPOINT_DISABLE="1", JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="20", **extra)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    return env


@NO_CDKTF_CLI
def test_cdktf_cli_synth_per_cell(tmp_path):
    env = _cli_env(STACKMATRIX_CELLS="us-east-1-dev")
    subprocess.run(["cdktf", "synth", "--output", str(tmp_path)], cwd=ROOT, env=env, check=True, timeout=600,
                   capture_output=True)
    assert (tmp_path / "stacks" / "vpc-dev-us-east-1" / "cdk.tf.json").is_file()


@NO_CDKTF_CLI
def test_a_missing_cdktf_json_stops_the_cli_and_check_names_the_cause_and_the_fix(tmp_path, synth_root):
    """Real failure 7: a project without cdktf.json. The CLI refuses; `check` says why and what to write."""
    project = tmp_path / "project"
    shutil.copytree(ROOT / "stack", project / "stack", ignore=shutil.ignore_patterns("__pycache__"))
    cli = subprocess.run(["cdktf", "synth"], cwd=project, env=_cli_env(), capture_output=True, text=True, timeout=300)
    assert "no cdktf.json found" in cli.stdout + cli.stderr
    synth = project / "cdk.tf.json"
    shutil.copy(synth_root / "synth" / "us-east-1-dev" / "cdk.tf.json", synth)
    out = subprocess.run([sys.executable, "-m", "matrix", "check", str(synth), "--project", str(project)],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 1
    assert "cdktf-json" in out.stdout and "cdktf.json" in out.stdout and '"app"' in out.stdout, out.stdout


def test_testing_synth_returns_a_json_string(tmp_path):
    """cdktf's Testing.synth() gives a JSON *string* (a real project treated it as a dict)."""
    script = tmp_path / "t.py"
    script.write_text(
        "import json, os, sys\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "from matrix.cells import expand\n"
        "from stack.cdk import load, stop_runtime\n"
        "from stack.vpc import make_stack\n"
        "cdk = load()\n"
        "stack = make_stack(cdk.core.Testing.app(), expand('dev')[0].stack_config(), cdk)\n"
        "out = cdk.core.Testing.synth(stack)\n"
        "assert isinstance(out, str), type(out)\n"
        "doc = json.loads(out)\n"
        "assert cdk.core.Testing.to_have_resource_with_properties(out, 'aws_flow_log', "
        "{'max_aggregation_interval': 600})\n"
        "print(len(doc['resource']))\n"
        "stop_runtime(); sys.stdout.flush(); os._exit(0)\n")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300,
                         env=dict(os.environ, JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="20"))
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.strip()) >= 13


def test_a_user_test_that_treats_synth_as_a_dict_gets_the_cause_and_the_fix(tmp_path):
    """The pytest plugin installed with stackmatrix turns the confusing str-index error into advice."""
    test = tmp_path / "test_user_stack.py"
    test.write_text(
        "import json, sys\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "from matrix.cells import expand\n"
        "from stack.cdk import load\n"
        "from stack.vpc import make_stack\n"
        "cdk = load()\n"
        "def _stack():\n"
        "    return make_stack(cdk.core.Testing.app(), expand('dev')[0].stack_config(), cdk)\n"
        "def test_wrong():\n"
        "    synth = cdk.core.Testing.synth(_stack())\n"
        "    assert synth['resource']['aws_flow_log']\n"
        "def test_right():\n"
        "    synth = cdk.core.Testing.synth(_stack())\n"
        "    assert json.loads(synth)['resource']['aws_flow_log']\n"
        "    assert cdk.core.Testing.to_have_resource(synth, 'aws_vpc')\n")
    out = subprocess.run([sys.executable, "-m", "pytest", str(test), "-q", "-p", "no:cacheprovider"],
                         capture_output=True, text=True, timeout=300, cwd=tmp_path,
                         env=dict(os.environ, JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="20"))
    assert "1 failed, 1 passed" in out.stdout, out.stdout[-2000:]
    assert "Testing.synth() returns a JSON string, not a dict" in out.stdout
    assert "json.loads(Testing.synth(stack))" in out.stdout
