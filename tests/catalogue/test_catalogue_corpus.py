"""The public corpus (tests/fidelity/corpus.json) and the synth stage of the fidelity harness.

The committed corpus is what the generator writes from the clean stack; at synth the catalogue
catches at least 90% of it, each caught case by its own rule; the clean nightly cells and their
renamed copies (every construct id replaced) have no finding at all.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

FIDELITY = Path(__file__).resolve().parents[1] / "fidelity"
sys.path.insert(0, str(FIDELITY))

from clean import renamed  # noqa: E402
from corpus import CORPUS, generate, load, mutate  # noqa: E402
from stages import SynthStage  # noqa: E402

from matrix.catalogue import Context, SynthDoc, check_doc  # noqa: E402
from matrix.paths import PROJECT_ROOT  # noqa: E402

pytestmark = pytest.mark.cdk


def _clean(synth_root: Path, cell: str = "us-east-1-dev") -> SynthDoc:
    region = "-".join(cell.split("-")[:3])
    return SynthDoc.load(synth_root / "synth" / cell / "cdk.tf.json",
                         Context(cell=cell, region=region, suffix=cell.split("-")[3], project_dir=PROJECT_ROOT))


def test_corpus_format_and_size():
    cases = load()
    assert len(cases) >= 40 and len({c.id for c in cases}) == len(cases)
    generated = [c for c in cases if c.origin == "generated"]
    assert len(generated) > len(cases) / 2
    for c in cases:
        assert c.source and c.description and c.mutation
        assert c.refused == ("code" in c.aws) and (c.refused or "breaks" in c.aws)
        if c.api is not None:
            assert {"service", "operation", "params"} <= set(c.api)


def test_committed_corpus_is_what_the_generator_writes(synth_root):
    data = json.loads(CORPUS.read_text())
    fresh = [c.__dict__ for c in generate(_clean(synth_root).data)]
    assert json.loads(json.dumps(fresh)) == data["cases"], "regenerate: python tests/fidelity/corpus.py --write ..."


def test_synth_catches_90_percent_each_by_its_own_rule(synth_root):
    cases = load()
    outcomes = SynthStage().catches(cases, _clean(synth_root))
    caught = [cid for cid, o in outcomes.items() if o.caught]
    assert len(caught) / len(cases) >= 0.9
    for case in cases:
        o = outcomes[case.id]
        if case.rule is None:
            assert not o.caught, f"{case.id} is listed as a known gap but is caught: move it out of the gaps"
        else:
            assert o.caught and o.by_expected_rule, f"{case.id}: expected {case.rule}, got {o.extra}"


def test_clean_cells_and_renamed_copies_have_no_finding(synth_root):
    docs = [_clean(synth_root, p.parent.name) for p in sorted((synth_root / "synth").glob("*/cdk.tf.json"))]
    assert len(docs) >= 12
    for doc in docs + [renamed(d) for d in docs]:
        assert check_doc(doc) == [], doc.ctx.cell


def test_renaming_really_renames_and_mutations_apply(synth_root):
    clean = _clean(synth_root)
    other = renamed(clean)
    assert not set(other.data["resource"]["aws_vpc"]) & set(clean.data["resource"]["aws_vpc"])
    assert "${aws_vpc.vpc." not in json.dumps(other.data)
    case = next(c for c in load() if c.id == "nat-in-private-subnet")
    assert mutate(clean.data, case)["resource"]["aws_nat_gateway"]["nat-0"]["subnet_id"] == \
        "${aws_subnet.private-subnet-0.id}"
    assert clean.data["resource"]["aws_nat_gateway"]["nat-0"]["subnet_id"] != "${aws_subnet.private-subnet-0.id}"
