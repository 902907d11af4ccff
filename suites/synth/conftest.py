"""Cells for the synth suite: the ones named in $STACKMATRIX_SUITE_CELLS (written by the runner),
else every build/synth/<cell>/cdk.tf.json that has a meta.json.

The findings are computed once per session (every per-document rule on each cell, every cross-cell
rule over the set) and stored in build/synth-findings.json (matrix/findings.py `store_synth_findings`),
so the run's findings.sarif reuses them instead of checking the same documents again."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from matrix.catalogue import CROSS_CHECKS, Context, Finding, SynthDoc, check_doc
from matrix.findings import doc_key, store_synth_findings
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
def checked(docs) -> tuple[dict[str, list[Finding]], dict[str, list[Finding]] | None]:
    """(per-cell findings, cross-cell findings by rule: None when a cross-cell rule raised), computed once
    and stored for the run's SARIF (the keys: each document's bytes and context, as findings.py reads them)."""
    per_doc = {cell: check_doc(doc) for cell, doc in docs.items()}
    listed = list(docs.values())
    cross: dict[str, list[Finding]] | None
    try:
        cross = {rule_id: list(fn(listed)) for rule_id, fn in CROSS_CHECKS.items()} if len(listed) > 1 else {}
    except Exception:
        cross = None
    by_id = {c["id"]: c for c in CELLS}
    keys = {cell: doc_key(cell, by_id[cell].get("region"), by_id[cell].get("suffix"), doc.path.read_bytes())
            for cell, doc in docs.items()}
    store_synth_findings([(keys[cell], found) for cell, found in per_doc.items()],
                         None if cross is None else [f for found in cross.values() for f in found])
    return per_doc, cross


@pytest.fixture(scope="session")
def findings(checked) -> dict[str, list[Finding]]:
    """Every per-cell finding, computed once per cell; each test_rule picks its rule's."""
    return checked[0]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "cell" in metafunc.fixturenames:
        metafunc.parametrize("cell", [c["id"] for c in CELLS] or [pytest.param(
            None, marks=pytest.mark.skip(reason=f"no synthesized cells under {synth_dir()}"))])


def pytest_report_header(config: pytest.Config) -> str:
    return f"stackmatrix synth suite: {len(CELLS)} cell(s) from {Path(synth_dir())}"
