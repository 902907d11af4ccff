"""Fixtures for the chaos tests: one real moto server over HTTP for the session, real botocore clients."""

from __future__ import annotations

import threading

import boto3
import botocore.config
import pytest
from moto.server import ThreadedMotoServer

from matrix.chaos.faultlog import FaultLog
from matrix.chaos.proxy import FaultProxy

CREDS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


_SESSION = boto3.session.Session()  # one loader: service models are parsed once per test run
_LOCK = threading.Lock()                     # creating clients from one session is not thread-safe


def make_client(service: str, url: str, *, attempts: int = 3, mode: str = "standard", region: str = "us-east-1",
                **config):
    """A real boto3 client; `attempts` counts every attempt (botocore's total_max_attempts)."""
    cfg = botocore.config.Config(retries={"mode": mode, "total_max_attempts": attempts}, **config)
    with _LOCK:
        return _SESSION.client(
            service, endpoint_url=url, region_name=region, config=cfg, **CREDS)


@pytest.fixture(scope="session")
def moto_url():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    make_client("sts", url).get_caller_identity()  # moto's first call is slow: pay it once
    yield url
    server.stop()


@pytest.fixture
def fault_log():
    return FaultLog()


@pytest.fixture
def proxy(moto_url, fault_log):
    with FaultProxy(moto_url, None, fault_log=fault_log, cell="test-cell") as p:
        yield p


@pytest.fixture
def client():
    return make_client
