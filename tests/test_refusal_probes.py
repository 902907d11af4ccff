"""The evidence for every refusal: each probe (tests/engine_probes.py) run against a real moto
server must fail exactly where the argument table says it fails (the same on LocalStack host mode:
tests/localstack/test_refusal_probes_localstack.py)."""

from __future__ import annotations

import uuid

import boto3
import pytest
from botocore.config import Config
from engine_probes import PROBES, REGION, expected_failures, run

from matrix.engines.embedded.arguments.spec import REFUSED
from matrix.engines.embedded.resources import HANDLERS
from matrix.targets.moto import MotoTarget

EXPECTED = expected_failures()


def test_every_refusal_for_want_of_emulator_support_has_a_probe_and_every_probe_a_use():
    used = {spec.probe for h in HANDLERS.values() for spec in h.args.values() if spec.kind == REFUSED and spec.probe}
    assert used <= set(PROBES), f"refusals without a probe: {sorted(used - set(PROBES))}"
    assert set(PROBES) == set(EXPECTED), f"probes nothing refers to: {sorted(set(PROBES) - set(EXPECTED))}"
    assert all(EXPECTED[p] for p in EXPECTED), "a probe must fail somewhere, else the argument can be implemented"


@pytest.fixture(scope="module")
def make(moto_url):
    target = MotoTarget(endpoint=moto_url)
    target.start()
    access = target.access(f"probe-{uuid.uuid4().hex[:6]}", REGION, uuid.uuid4().hex[:8])
    config = Config(retries={"mode": "standard", "max_attempts": 1})
    return lambda service: boto3.client(service, endpoint_url=access.endpoint, region_name=REGION, config=config,
                                        aws_access_key_id=access.access_key, aws_secret_access_key=access.secret_key)


@pytest.mark.parametrize("name", sorted(PROBES))
def test_probe_on_moto(make, name):
    round_trips, detail = run(name, make)
    assert round_trips == ("moto" not in EXPECTED[name]), (
        f"probe {name} on moto 5.2.5: {'round-trips' if round_trips else 'does not round-trip'} ({detail}); "
        f"the argument table says it fails on {EXPECTED[name]}")
