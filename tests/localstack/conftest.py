"""A real LocalStack in host mode for the whole session, and real boto3 clients to it.

The server runs from `.nox/localstack/venv` (built once, about a minute the first time) with its
state in a temporary build folder, never the user's build/. When the venv cannot be built (no
package registry), the tests skip with the reason, except under CI (`CI` set), where they fail.
The session server is started with a fake LOCALSTACK_AUTH_TOKEN so that tests can prove it is never
written anywhere.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from matrix.paths import BUILD_ENV
from matrix.targets import localstack_host as lh

FAKE_TOKEN = "ls-FAKE-token-" + secrets.token_hex(6)
CLIENT_CONFIG = Config(retries={"max_attempts": 2, "mode": "standard"}, s3={"addressing_style": "path"},
                       connect_timeout=5, read_timeout=30)


@pytest.fixture(scope="session")
def ls_fake_token() -> str:
    """The LOCALSTACK_AUTH_TOKEN the session server was given: it must never be written anywhere."""
    return FAKE_TOKEN


@pytest.fixture(scope="session")
def ls_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("localstack-build")


@pytest.fixture(scope="session")
def ls_python() -> Path:
    try:
        return lh.ensure_venv(log=lambda msg: print(msg, flush=True))
    except lh.LocalStackError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"the LocalStack venv must build in CI: {exc}")
        pytest.skip(f"LocalStack venv cannot be built here (package registry unreachable?): {exc}")


@pytest.fixture(scope="session")
def localstack(ls_build: Path, ls_python: Path) -> Iterator[lh.LocalStackProcess]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(BUILD_ENV, str(ls_build))
        mp.setenv("LOCALSTACK_AUTH_TOKEN", FAKE_TOKEN)
        mp.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # must not leak into the server's environment
        server = lh.start(log=lambda msg: print(msg, flush=True), timeout=90)
    try:
        yield server
    finally:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv(BUILD_ENV, str(ls_build))
            lh.stop(timeout=10)


@pytest.fixture(autouse=True)
def _ls_build_env(monkeypatch: pytest.MonkeyPatch, ls_build: Path) -> None:
    """Every test sees the session server's build folder (tests that need another one override it)."""
    monkeypatch.setenv(BUILD_ENV, str(ls_build))
    for name in ("LOCALSTACK_ENDPOINT", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def new_account() -> Callable[[], str]:
    """A fresh 12-digit account id per call: on LocalStack the access key id selects the account."""
    return lambda: "7" + "".join(secrets.choice("0123456789") for _ in range(11))


@pytest.fixture
def ls_client(localstack: lh.LocalStackProcess) -> Callable[..., Any]:
    """boto3 clients to the session server: ls_client("ec2", account="...", region="...")."""

    def make(service: str, account: str = "000000000000", region: str = "eu-west-1") -> Any:
        return boto3.client(service, endpoint_url=localstack.url, region_name=region,
                            aws_access_key_id=account, aws_secret_access_key="test", config=CLIENT_CONFIG)

    return make
