"""The fault proxy with real botocore clients against a real moto server over HTTP."""

from __future__ import annotations

import http.client
import json
import os
import socket
import threading
import time
import uuid

import botocore.exceptions
import pytest
from conftest import make_client

from matrix.chaos.faultlog import FaultLog, count_faults, read_fault_log
from matrix.chaos.proxy import FaultProxy
from matrix.chaos.rules import parse_rules, rule
from matrix.errors import UsageError


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


# one call per protocol (plus STS, the other query service)
CALLS = {
    "ec2": lambda c: c.describe_vpcs(),
    "iam": lambda c: c.list_roles(),
    "sts": lambda c: c.get_caller_identity(),
    "s3": lambda c: c.list_buckets(),
    "dynamodb": lambda c: c.list_tables(),
    "logs": lambda c: c.describe_log_groups(),
}
THROTTLE = {"ec2": ("RequestLimitExceeded", 503), "iam": ("Throttling", 400), "sts": ("Throttling", 400),
            "s3": ("SlowDown", 503), "dynamodb": ("ThrottlingException", 400), "logs": ("ThrottlingException", 400)}


@pytest.mark.parametrize("service", list(CALLS))
def test_botocore_retries_the_proxys_throttle_and_succeeds(proxy, fault_log, service):
    proxy.set_rules([rule(service=service, effect="throttle", first=1)])
    c = make_client(service, proxy.url, attempts=3, mode="standard")
    resp = CALLS[service](c)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert resp["ResponseMetadata"]["RetryAttempts"] == 1
    (event,) = fault_log.events()
    assert (event["service"], event["effect"], event["cell"]) == (service, "throttle", "test-cell")
    assert (event["code"], event["status"]) == THROTTLE[service]


PERMANENT = {  # a code per service, modeled exception classes included
    "ec2": ("UnauthorizedOperation", 403, None),
    "iam": ("NoSuchEntity", 404, "NoSuchEntityException"),
    "sts": ("RegionDisabledException", 403, "RegionDisabledException"),
    "s3": ("AccessDenied", 403, None),
    "dynamodb": ("ResourceNotFoundException", 400, "ResourceNotFoundException"),
    "logs": ("ServiceUnavailableException", 500, "ServiceUnavailableException"),
}


@pytest.mark.parametrize("service", list(CALLS))
def test_a_permanent_fault_raises_the_injected_code_and_status(proxy, service):
    code, status, exc_class = PERMANENT[service]
    proxy.set_rules([rule(service=service, effect="error", code=code, message="injected")])
    c = make_client(service, proxy.url, attempts=1)
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        CALLS[service](c)
    err = exc.value.response
    assert err["Error"]["Code"] == code
    assert err["Error"]["Message"] == "injected"
    assert err["ResponseMetadata"]["HTTPStatusCode"] == status
    assert err["ResponseMetadata"]["RequestId"]
    if exc_class:
        assert isinstance(exc.value, getattr(c.exceptions, exc_class))


def test_s3_calls_of_a_state_bucket_bootstrap_and_terraform_backend_are_named(proxy, fault_log):
    proxy.set_rules([rule(service="s3", effect="latency", latency_ms=0.01)])
    s3 = make_client("s3", proxy.url)
    b = _name("state")
    s3.create_bucket(Bucket=b)
    s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_encryption(Bucket=b, ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
    s3.put_public_access_block(Bucket=b, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
    s3.put_bucket_tagging(Bucket=b, Tagging={"TagSet": [{"Key": "run", "Value": "x"}]})
    s3.head_bucket(Bucket=b)
    s3.list_objects_v2(Bucket=b, Prefix="env/")
    s3.put_object(Bucket=b, Key="env/terraform.tfstate", Body=b"{}")
    s3.head_object(Bucket=b, Key="env/terraform.tfstate")
    s3.get_object(Bucket=b, Key="env/terraform.tfstate")["Body"].read()
    s3.copy_object(Bucket=b, Key="env/copy", CopySource={"Bucket": b, "Key": "env/terraform.tfstate"})
    s3.delete_object(Bucket=b, Key="env/copy")
    listed = s3.list_object_versions(Bucket=b)
    versions = listed.get("Versions", []) + listed.get("DeleteMarkers", [])
    s3.delete_objects(Bucket=b, Delete={"Objects": [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in versions]})
    s3.delete_bucket(Bucket=b)
    assert [e["operation"] for e in fault_log.events()] == [
        "CreateBucket", "PutBucketVersioning", "PutBucketEncryption", "PutPublicAccessBlock", "PutBucketTagging",
        "HeadBucket", "ListObjectsV2", "PutObject", "HeadObject", "GetObject", "CopyObject", "DeleteObject",
        "ListObjectVersions", "DeleteObjects", "DeleteBucket"]
    assert [e["mutating"] for e in fault_log.events()][:6] == [True] * 5 + [False]


def test_latency_adds_at_least_the_delay(proxy):
    proxy.set_rules([rule(service="ec2", operation="DescribeVpcs", effect="latency", latency_ms=150)])
    ec2 = make_client("ec2", proxy.url)
    ec2.describe_regions()
    t = time.perf_counter()
    ec2.describe_vpcs()
    slow = time.perf_counter() - t
    t = time.perf_counter()
    ec2.describe_regions()
    fast = time.perf_counter() - t
    assert slow >= 0.150
    assert fast < 0.150


def test_connection_reset_is_retried_or_raised(proxy, fault_log):
    proxy.set_rules([rule(service="dynamodb", effect="reset", first=1)])
    resp = make_client("dynamodb", proxy.url, attempts=3).list_tables()
    assert resp["ResponseMetadata"]["RetryAttempts"] == 1
    proxy.set_rules([rule(service="dynamodb", effect="reset")])
    with pytest.raises(botocore.exceptions.ConnectionClosedError):
        make_client("dynamodb", proxy.url, attempts=1).list_tables()
    assert [e["effect"] for e in fault_log.events()] == ["reset", "reset"]


def test_reset_after_forwarding_loses_the_answer_not_the_call(proxy, moto_url):
    name = _name("reset-after")
    proxy.set_rules([rule(service="logs", operation="CreateLogGroup", effect="reset", when="after")])
    with pytest.raises(botocore.exceptions.ConnectionClosedError):
        make_client("logs", proxy.url, attempts=1).create_log_group(logGroupName=name)
    groups = make_client("logs", moto_url).describe_log_groups(logGroupNamePrefix=name)["logGroups"]
    assert [g["logGroupName"] for g in groups] == [name]


def test_binds_loopback_only(moto_url):
    with FaultProxy(moto_url) as p:
        assert p.address[0] == "127.0.0.1"
        assert p.url == f"http://127.0.0.1:{p.address[1]}"
    for host in ("0.0.0.0", "192.168.1.10", "example.com"):  # noqa: S104 (refused on purpose)
        with pytest.raises(UsageError, match="loopback"):
            FaultProxy(moto_url, host=host)
    for bad in ("ftp://x", "127.0.0.1:5000", "http://127.0.0.1:5000/path"):
        with pytest.raises(UsageError, match="--upstream"):
            FaultProxy(bad)


def test_concurrent_clients_all_get_their_own_answers(proxy):
    proxy.set_rules(parse_rules([rule(effect="throttle", probability=0.1)], seed=7))
    errors: list[BaseException] = []
    done = []

    clients = [tuple(make_client(s, proxy.url, attempts=8) for s in ("logs", "dynamodb", "ec2")) for _ in range(8)]

    def worker(i: int) -> None:
        try:
            logs, ddb, ec2 = clients[i]
            name = _name(f"conc{i}")
            logs.create_log_group(logGroupName=name)
            for _ in range(3):
                got = logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"]
                assert [g["logGroupName"] for g in got] == [name]
                assert isinstance(ddb.list_tables()["TableNames"], list)
                assert ec2.describe_vpcs()["Vpcs"]
            done.append(i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert sorted(done) == list(range(8))
    stats = proxy.stats()
    assert stats["requests"] >= 8 * 10 and stats["faults"]["total"] > 0


def test_bodies_stream_through_untouched(proxy):
    s3 = make_client("s3", proxy.url)
    b = _name("big")
    s3.create_bucket(Bucket=b)
    payload = os.urandom(5 * 1024 * 1024 + 7)  # botocore sends Expect: 100-continue for this
    s3.put_object(Bucket=b, Key="blob", Body=payload)
    got = s3.get_object(Bucket=b, Key="blob")
    assert got["ContentLength"] == len(payload)
    assert got["Body"].read() == payload


def test_a_fault_on_a_streamed_upload_is_retried_with_the_body(proxy, fault_log):
    s3 = make_client("s3", proxy.url, attempts=3)
    b = _name("upload")
    s3.create_bucket(Bucket=b)
    proxy.set_rules([rule(service="s3", operation="PutObject", effect="throttle", first=1)])
    payload = os.urandom(3 * 1024 * 1024)  # Expect: 100-continue; the error answers before the body is sent
    resp = s3.put_object(Bucket=b, Key="k", Body=payload)
    assert resp["ResponseMetadata"]["RetryAttempts"] == 1
    assert s3.get_object(Bucket=b, Key="k")["Body"].read() == payload
    assert [e["operation"] for e in fault_log.events()] == ["PutObject"]


class _Echo(threading.Thread):
    """An upstream that answers each request with the exact bytes it received (chunked, to test that too)."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]

    def run(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(conn,), daemon=True).start()

    def serve(self, conn: socket.socket) -> None:
        f = conn.makefile("rb")
        with conn, f:
            while True:
                head = b""
                while not head.endswith(b"\r\n\r\n"):
                    line = f.readline()
                    if not line:
                        return
                    head += line
                body = b""
                if b"chunked" in head.lower():
                    while True:
                        line = f.readline()
                        body += line
                        size = int(line.split(b";")[0], 16)
                        if size == 0:
                            while line not in (b"\r\n", b""):  # trailers up to the blank line
                                line = f.readline()
                                body += line
                            break
                        body += f.read(size + 2)
                else:
                    for h in head.split(b"\r\n"):
                        if h.lower().startswith(b"content-length:"):
                            body = f.read(int(h.split(b":")[1]))
                data = head + body
                half = len(data) // 2
                conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Echo: 1\r\n\r\n"
                             + b"%x\r\n" % half + data[:half] + b"\r\n"
                             + b"%x\r\n" % (len(data) - half) + data[half:] + b"\r\n0\r\n\r\n")


def test_requests_reach_the_upstream_byte_for_byte_and_keep_alive_holds():
    echo = _Echo()
    echo.start()
    rules = [rule(service="iam", operation="CreateRole", effect="throttle")]  # armed: requests are classified
    with FaultProxy(f"http://127.0.0.1:{echo.port}", rules) as p:
        conn = http.client.HTTPConnection("127.0.0.1", p.port)
        head = (b"PUT /bucket/key?x=1 HTTP/1.1\r\nHost: bucket.s3.example:1234\r\nX-Amz-Date: 20240101T000000Z\r\n"
                b"authorization: AWS4-HMAC-SHA256 Credential=A/20240101/eu-west-1/s3/aws4_request, "
                b"SignedHeaders=host;x-amz-date, Signature=abc\r\nX-Mixed-Case: Value\r\n")
        chunked = b"5\r\nhello\r\n3;ext=1\r\nabc\r\n0\r\nTrailer-X: t\r\n\r\n"
        conn.connect()
        first_sock = conn.sock
        for body, framing in ((b"0123456789", b"Content-Length: 10\r\n"), (chunked, b"Transfer-Encoding: chunked\r\n")):
            conn.sock.sendall(head + framing + b"\r\n" + body)
            resp = http.client.HTTPResponse(conn.sock, method="PUT")
            resp.begin()
            echoed = resp.read()
            assert resp.status == 200 and resp.getheader("X-Echo") == "1"
            assert resp.getheader("Connection") is None  # the proxy keeps the client's connection
            assert echoed == head + framing + b"\r\n" + body  # same request line, headers (case, order), body
            assert conn.sock is first_sock


def test_rules_are_swapped_armed_and_disarmed_at_run_time(proxy, fault_log):
    ec2 = make_client("ec2", proxy.url, attempts=1)
    ec2.describe_vpcs()
    proxy.set_rules([rule(name="storm", service="ec2", effect="throttle")])
    with pytest.raises(botocore.exceptions.ClientError, match="RequestLimitExceeded"):
        ec2.describe_vpcs()
    proxy.disarm()
    ec2.describe_vpcs()
    proxy.arm()
    with pytest.raises(botocore.exceptions.ClientError, match="RequestLimitExceeded"):
        ec2.describe_vpcs()
    assert proxy.stats()["rule_counters"] == {"storm": {"matched": 1, "injected": 1}}
    assert fault_log.counts(by=("rule",)) == {("storm",): 2}


def test_fault_log_file_lines_counts_and_redaction(moto_url, tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s3cr3tValueThatMustNotLeak")
    path = tmp_path / "faults.jsonl"
    log = FaultLog(path)
    rules = [rule(name="t", service="ec2", effect="throttle", first=2), rule(name="l", service="s3", effect="latency",
                                                                             latency_ms=1)]
    with FaultProxy(moto_url, rules, fault_log=log, cell="cell-s3cr3tValueThatMustNotLeak") as p:
        make_client("ec2", p.url, attempts=3).describe_vpcs()
        make_client("s3", p.url).list_buckets()
    log.close()
    text = path.read_text()
    assert "s3cr3tValueThatMustNotLeak" not in text and "testing" not in text
    events = read_fault_log(path)
    assert [(e["rule"], e["effect"]) for e in events] == [("t", "throttle"), ("t", "throttle"), ("l", "latency")]
    assert all(set(e) >= {"time", "cell", "service", "operation", "region", "effect", "rule"} for e in events)
    assert events[0]["cell"] == "cell-***"
    summary = count_faults(path)
    assert summary == log.summary()
    assert summary["by_service"] == {"ec2": 2, "s3": 1} and summary["by_effect"] == {"throttle": 2, "latency": 1}
    assert json.loads(text.splitlines()[0])["operation"] == "DescribeVpcs"


def test_an_unreachable_upstream_is_a_retryable_502():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    with FaultProxy(f"http://127.0.0.1:{dead}") as p:
        with pytest.raises(botocore.exceptions.ClientError) as exc:
            make_client("ec2", p.url, attempts=2).describe_vpcs()
        assert exc.value.response["Error"]["Code"] == "502"
        assert exc.value.response["ResponseMetadata"]["RetryAttempts"] == 1
        assert p.stats()["upstream_errors"] == 2
