"""The synth suite: every rule of the AWS acceptance catalogue (matrix/catalogue) on every cell, and
the cross-cell rules across them.

One test per cell and rule; a failure prints one line per finding: rule, resource address, what is
wrong, the AWS error it prevents (or what breaks) and the fix.
"""

from __future__ import annotations

import pytest

from matrix.catalogue import CROSS_CHECKS, RULES, doc_rule_ids


@pytest.mark.parametrize("rule_id", doc_rule_ids())
def test_rule(cell, rule_id, findings):
    found = [f for f in findings[cell] if f.rule.id == rule_id]
    assert not found, f"{RULES[rule_id].title}:\n" + "\n".join(f.line() for f in found)


@pytest.mark.parametrize("rule_id", sorted(CROSS_CHECKS))
def test_cross_cell_rule(rule_id, docs, checked):
    if len(docs) < 2:
        pytest.skip("cross-cell rules need two cells or more")
    cross = checked[1]
    found = cross[rule_id] if cross is not None else list(CROSS_CHECKS[rule_id](list(docs.values())))
    assert not found, f"{RULES[rule_id].title}:\n" + "\n".join(f.line() for f in found)
