"""Publishing to S3 on a real moto server over HTTP: run folder, latest/, history across machines."""

from __future__ import annotations

import argparse
import json
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from matrix.errors import UsageError
from reports import history as H
from reports.build import build_report
from reports.cli import add_report_parser
from reports.publish import check_emulator_endpoint, parse_s3_url, publish


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    _, port = server.get_host_and_port()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3(moto_endpoint: str):
    client = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing",
                          config=Config(s3={"addressing_style": "path"}))
    bucket = f"reports-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    yield client, bucket
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])]
    if keys:
        client.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys]})
    client.delete_bucket(Bucket=bucket)


def _keys(client, bucket: str, prefix: str) -> set[str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return {o["Key"] for page in pages for o in page.get("Contents", [])}


def _trend(client, bucket: str, key: str) -> list[dict]:
    charts = json.loads(client.get_object(Bucket=bucket, Key=key)["Body"].read())
    return next(c["data"] for c in charts["general"].values() if c["type"] == "statusDynamics")


def test_publish_twice_from_two_machines_keeps_the_trend(build: Path, make_cells, allure_cli: Path, s3,
                                                         moto_endpoint: str):
    client, bucket = s3
    url = f"s3://{bucket}/nightly/stackmatrix"
    history = H.default_history_path()

    # machine 1, run 1: through the library call, with a plain boto3 client as the factory
    make_cells("run-1", t0=1_700_000_000_000)
    first = publish(url, client_factory=lambda: client, run_id="run-1", history_path=history,
                    generate=lambda: build_report(history=history).html.output)
    assert not first.history_restored
    keys = _keys(client, bucket, "nightly/stackmatrix/")
    assert {"nightly/stackmatrix/run-1/index.html", "nightly/stackmatrix/latest/index.html",
            "nightly/stackmatrix/history.jsonl"} <= keys
    head = client.head_object(Bucket=bucket, Key="nightly/stackmatrix/latest/index.html")
    assert head["ContentType"].startswith("text/html")
    client.put_object(Bucket=bucket, Key="nightly/stackmatrix/latest/stale-old-file.js", Body=b"old")

    # machine 2, run 2: a fresh build folder (no local history), through the CLI with --endpoint
    shutil.rmtree(build)
    build.mkdir()
    make_cells("run-2", t0=1_700_000_900_000)
    parser = argparse.ArgumentParser()
    add_report_parser(parser.add_subparsers())
    args = parser.parse_args(["report", "--publish", url, "--endpoint", moto_endpoint])
    printed: list[str] = []
    from reports.cli import cmd_report

    assert cmd_report(args, out=printed.append) == 0
    assert any("history restored from" in line for line in printed), printed
    assert any(line.strip() == f"latest: {url}/latest/index.html" for line in printed), printed

    keys = _keys(client, bucket, "nightly/stackmatrix/")
    assert "nightly/stackmatrix/run-1/index.html" in keys and "nightly/stackmatrix/run-2/index.html" in keys
    assert "nightly/stackmatrix/latest/stale-old-file.js" not in keys  # latest/ replaced, not layered
    history_lines = client.get_object(Bucket=bucket, Key="nightly/stackmatrix/history.jsonl")["Body"].read()
    assert len(history_lines.decode().strip().splitlines()) == 2
    trend = _trend(client, bucket, "nightly/stackmatrix/latest/widgets/charts.json")
    assert [p["name"] for p in trend] == ["stackmatrix dev run run-1", "current"]  # both runs
    index = client.get_object(Bucket=bucket, Key="nightly/stackmatrix/latest/index.html")["Body"].read().decode()
    assert "stackmatrix dev run run-2" in index and "googletagmanager" not in index


def test_publish_to_a_missing_bucket_names_it(build: Path, make_cells, allure_cli: Path, s3):
    client, _ = s3
    make_cells("run-1")
    from matrix.errors import StackmatrixError

    with pytest.raises(StackmatrixError, match="bucket no-such-bucket-here does not exist"):
        publish("s3://no-such-bucket-here/x", client_factory=lambda: client, run_id="run-1",
                history_path=H.default_history_path(), generate=lambda: build)


@pytest.mark.parametrize("url", ["s3:/bucket/x", "https://bucket/x", "s3://UPPER/x", "s3://a/x", "s3://b..c/x",
                                 "s3://bucket/a//b", "s3://bucket/../x", ""])
def test_malformed_s3_urls_are_usage_errors(url: str):
    with pytest.raises(UsageError, match="--publish"):
        parse_s3_url(url)


def test_s3_url_parts():
    t = parse_s3_url("s3://my-reports/nightly/stackmatrix/")
    assert (t.bucket, t.prefix, t.key("run-1", "index.html")) == ("my-reports", "nightly/stackmatrix",
                                                                  "nightly/stackmatrix/run-1/index.html")
    assert parse_s3_url("s3://my-reports").key("latest") == "latest"


@pytest.mark.parametrize("endpoint", ["https://s3.amazonaws.com", "http://10.0.0.5:4566", "ftp://127.0.0.1",
                                      "127.0.0.1:5000"])
def test_only_loopback_endpoints_bypass_the_guard(endpoint: str):
    with pytest.raises(UsageError, match="--endpoint"):
        check_emulator_endpoint(endpoint)
    for ok in ("http://127.0.0.1:5000", "http://localhost:4566", "http://[::1]:5000"):
        assert check_emulator_endpoint(ok) == ok
