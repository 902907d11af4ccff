"""The stages the fidelity harness measures, each alone (the earlier stages switched off).

A stage is a plug-in with three methods:
    unavailable() -> str | None          why it cannot run here (None: it can)
    catches(cases, clean) -> {case id: Outcome}
    false_positives(docs) -> [str]        what it wrongly reports on clean stacks (must be empty)

* `SynthStage`: the catalogue on the mutated document (`check_doc`), a case is caught when a finding
  appears that the clean document does not have; it also records whether the case's own rule fired.
* `StrictStage` (strict_stage.py): each case's raw API call through the strict proxy in front of moto.
* `LiveStage` (live_stage.py): not measured yet; it says why.
A stage may also have `fp_scope` (what its false positives were counted on) and `notes(outcomes)`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from corpus import Case, mutate

from matrix.catalogue import Finding, SynthDoc, check_doc


@dataclass
class Outcome:
    caught: bool
    detail: str = ""
    by_expected_rule: bool = False
    extra: dict = field(default_factory=dict)


def _key(f: Finding) -> tuple[str, str, str]:
    return (f.rule.id, f.address, f.message)


class SynthStage:
    name = "synth"

    def unavailable(self) -> str | None:
        return None

    def catches(self, cases: list[Case], clean: SynthDoc) -> dict[str, Outcome]:
        before = {_key(f) for f in check_doc(clean)}
        out = {}
        for case in cases:
            doc = SynthDoc(clean.path, mutate(clean.data, case), clean.ctx)
            new = [f for f in check_doc(doc) if _key(f) not in before]
            rules = sorted({f.rule.id for f in new})
            out[case.id] = Outcome(bool(new), "; ".join(f.line() for f in new[:2]),
                                   by_expected_rule=case.rule in rules, extra={"rules": rules})
        return out

    def false_positives(self, docs: list[SynthDoc]) -> list[str]:
        return [f.line() for d in docs for f in check_doc(d)]
