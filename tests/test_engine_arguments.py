"""Every argument the embedded engine implements, set to a non-default value and read back from a
real moto server by a reader of the test's own, on the create path and on the update path (the
test stack and the reader: tests/engine_cases.py; the same on LocalStack host mode:
tests/localstack/test_engine_arguments_localstack.py)."""

from __future__ import annotations

import uuid

import pytest
from engine_cases import REGION, implemented, run_phases, verdicts

from matrix.clients import ClientFactory
from matrix.targets.moto import MotoTarget


@pytest.fixture(scope="module")
def result(moto_url, tmp_path_factory):
    target = MotoTarget(endpoint=moto_url)
    target.start()
    access = target.access(f"args-{uuid.uuid4().hex[:6]}", REGION, uuid.uuid4().hex[:8])
    return run_phases(ClientFactory(access, max_attempts=3), tmp_path_factory.mktemp("arguments"))


def test_both_phases_apply_and_pass_their_read_back(result):
    create, update = result.phases["create"], result.phases["update"]
    assert not create.mismatch and not update.mismatch, create.mismatch + update.mismatch
    assert create.summary.startswith(f"{len(create.ids)} to add") and create.readback["resources"] == len(create.ids)
    assert update.replaced == [], "the update phase changes only in-place arguments"
    assert update.updated and update.readback["resources"] == len(update.updated)
    assert result.destroyed == len(update.ids)


@pytest.mark.parametrize("rtype, arg", implemented(), ids=[f"{t}.{a}" for t, a in implemented()])
def test_implemented_argument_is_applied_and_read_back(result, rtype, arg):
    problems, checks = verdicts(result, rtype, arg)
    assert not problems, "\n".join([*problems, "checked:", *checks])
