"""The synth policy suite: every rule of policies.py on every cell, and the cross-cell rules.

A failure prints one line per violation: rule, resource address, what is wrong and the fix.
"""

from __future__ import annotations

import pytest

from suites.synth.policies import CROSS_RULES, RULE_DOCS, RULES, check_doc


@pytest.mark.parametrize("rule_id", sorted(RULES))
def test_rule(cell, rule_id, docs):
    doc = docs[cell]
    violations = check_doc(doc, only=[rule_id])
    assert not violations, f"{RULE_DOCS[rule_id]}:\n" + "\n".join(v.line() for v in violations)


@pytest.mark.parametrize("rule_id", sorted(CROSS_RULES))
def test_cross_cell_rule(rule_id, docs):
    if len(docs) < 2:
        pytest.skip("cross-cell rules need two cells or more")
    violations = list(CROSS_RULES[rule_id](list(docs.values())))
    assert not violations, f"{RULE_DOCS[rule_id]}:\n" + "\n".join(v.line() for v in violations)
