"""Cells for the synth suite: the ones named in $STACKMATRIX_SUITE_CELLS (written by the runner),
else every build/synth/<cell>/cdk.tf.json that has a meta.json."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from matrix.catalogue import Context, Finding, SynthDoc, check_doc
from matrix.paths import PROJECT_ROOT, synth_dir, synth_file


def _cells() -> list[dict]:
    listed = os.environ.get("STACKMATRIX_SUITE_CELLS")
    if listed:
        return json.loads(listed)
    found = []
    for meta in sorted(synth_dir().glob("*/meta.json")):
        found.append({"id": meta.parent.name})
    return found


def _doc(cell: dict) -> SynthDoc:
    path = synth_file(cell["id"])
    return SynthDoc.load(path, Context(cell=cell["id"], region=cell.get("region"),
                                       suffix=cell.get("suffix"), project_dir=PROJECT_ROOT))


CELLS = _cells()


@pytest.fixture(scope="session")
def docs() -> dict[str, SynthDoc]:
    return {c["id"]: _doc(c) for c in CELLS}


@pytest.fixture(scope="session")
def findings(docs) -> dict[str, list[Finding]]:
    """Every per-cell finding, computed once per cell; each test_rule picks its rule's."""
    return {cell: check_doc(doc) for cell, doc in docs.items()}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "cell" in metafunc.fixturenames:
        metafunc.parametrize("cell", [c["id"] for c in CELLS] or [pytest.param(
            None, marks=pytest.mark.skip(reason=f"no synthesized cells under {synth_dir()}"))])


def pytest_report_header(config: pytest.Config) -> str:
    return f"stackmatrix synth suite: {len(CELLS)} cell(s) from {Path(synth_dir())}"
