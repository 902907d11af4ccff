"""The evidence for every refusal on LocalStack host mode: each probe (tests/engine_probes.py) must
fail exactly where the argument table says it fails (moto: tests/test_refusal_probes.py)."""

from __future__ import annotations

import secrets

import boto3
import pytest
from botocore.config import Config
from engine_probes import PROBES, REGION, expected_failures, run

EXPECTED = expected_failures()


@pytest.fixture(scope="module")
def make(localstack):
    account = "5" + "".join(secrets.choice("0123456789") for _ in range(11))
    config = Config(retries={"mode": "standard", "max_attempts": 1})
    return lambda service: boto3.client(service, endpoint_url=localstack.url, region_name=REGION, config=config,
                                        aws_access_key_id=account, aws_secret_access_key="test")


@pytest.mark.parametrize("name", sorted(PROBES))
def test_probe_on_localstack(make, name):
    round_trips, detail = run(name, make)
    assert round_trips == ("localstack" not in EXPECTED[name]), (
        f"probe {name} on LocalStack 4.13.1: {'round-trips' if round_trips else 'does not round-trip'} ({detail}); "
        f"the argument table says it fails on {EXPECTED[name]}")
