"""The CI examples under docs/ci stay true to the commands they call."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def _cells_output(*args: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "matrix", "cells", *args], cwd=ROOT, capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout)


def test_github_matrix_expression_matches_the_cells_command():
    flow = yaml.safe_load((ROOT / "docs" / "ci" / "github-actions.yml").read_text())
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
    flow = yaml.safe_load((ROOT / "docs" / "ci" / "gitlab-ci.yml").read_text())
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
