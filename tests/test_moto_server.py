"""The moto server the product starts (matrix/targets/moto_server.py): moto's own server with its
module list and each response class's method names cached, no default AMIs per account, and no
per-request log line. Pinned: the cached list and names are exactly what moto computes, neither is
computed again, and the server started the product's way answers every service a cell uses, holds
no default AMI and logs no request line."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request

import boto3
import pytest
from moto import backends

from matrix.paths import PROJECT_ROOT
from matrix.targets.moto import free_port
from matrix.targets.moto_server import cache_method_names, cache_module_list


def test_the_cached_list_is_motos_own_and_is_never_listed_again(monkeypatch: pytest.MonkeyPatch) -> None:
    path = os.path.dirname(backends.__file__)
    expected = tuple(sorted(e for e in os.listdir(path)
                            if os.path.isdir(os.path.join(path, e)) and not e.startswith("__")))
    cache_module_list()
    assert tuple(backends.list_of_moto_modules()) == expected
    assert {"ec2", "iam", "logs", "s3", "sts", "dynamodb"} <= set(expected)

    def no_listing(*_: object) -> list[str]:
        raise AssertionError("moto's folder listed again")

    monkeypatch.setattr(os, "listdir", no_listing)
    cache_module_list()  # idempotent
    assert "ec2" in backends.list_of_moto_modules()


def test_method_names_are_motos_own_and_walked_once_per_class(monkeypatch: pytest.MonkeyPatch) -> None:
    import inspect

    from moto.core import responses, utils
    from moto.ec2.responses import EC2Response
    from moto.s3.responses import S3Response

    cache_method_names()
    for cls in (EC2Response, S3Response):
        assert responses.method_names_from_class(cls) == frozenset(utils.method_names_from_class(cls))
    assert "describe_vpcs" in responses.method_names_from_class(EC2Response)
    assert "describe_vpcs" not in responses.method_names_from_class(S3Response)

    def no_walk(*_: object, **__: object) -> list[object]:
        raise AssertionError("class walked again")

    monkeypatch.setattr(inspect, "getmembers", no_walk)
    cache_method_names()  # idempotent
    assert "create_subnet" in responses.method_names_from_class(EC2Response)


def test_the_server_answers_every_service_of_a_cell_and_logs_no_request(tmp_path) -> None:
    port = free_port()
    log = tmp_path / "moto.log"
    env = {k: v for k, v in os.environ.items() if k != "MOTO_EC2_LOAD_DEFAULT_AMIS"}
    with log.open("wb") as out:
        server = [sys.executable, "-m", "matrix.targets.moto_server", "-H", "127.0.0.1", "-p", str(port)]
        proc = subprocess.Popen(server, cwd=PROJECT_ROOT, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{url}/moto-api/", timeout=1)  # noqa: S310 - our loopback server
                break
            except OSError:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
        session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                        region_name="eu-west-1")
        assert session.client("ec2", endpoint_url=url).describe_vpcs()["Vpcs"]  # the default VPC
        assert session.client("sts", endpoint_url=url).get_caller_identity()["Account"]
        assert "Roles" in session.client("iam", endpoint_url=url).list_roles()
        assert "logGroups" in session.client("logs", endpoint_url=url).describe_log_groups()
        session.client("s3", endpoint_url=url).create_bucket(
            Bucket="stackmatrix-probe", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        buckets = session.client("s3", endpoint_url=url).list_buckets()["Buckets"]
        assert [b["Name"] for b in buckets] == ["stackmatrix-probe"]
        assert session.client("dynamodb", endpoint_url=url).list_tables()["TableNames"] == []
        # no default AMIs built in each cell's account (MOTO_EC2_LOAD_DEFAULT_AMIS unset here)
        assert session.client("ec2", endpoint_url=url).describe_images(Owners=["amazon"])["Images"] == []
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert "POST / HTTP" not in log.read_text() and "GET /" not in log.read_text()


def test_the_emulator_gaps_were_measured_on_the_versions_in_use() -> None:
    """matrix/targets/emulator_gaps.py names the versions its entries were measured on: a moto or a
    managed LocalStack of another version needs the gaps measured again before they are trusted."""
    from importlib.metadata import version

    from matrix.targets import emulator_gaps, localstack_host

    assert version("moto") == emulator_gaps.MOTO_VERSION, "moto moved: measure the emulator gaps again"
    assert localstack_host.LOCALSTACK_VERSION == emulator_gaps.LOCALSTACK_VERSION, (
        "the managed LocalStack moved: measure the emulator gaps again")
