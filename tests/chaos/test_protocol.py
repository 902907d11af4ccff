"""protocol: every operation of the six services, as botocore really serializes it, is identified;
error bodies parse with botocore's own parsers to the injected code, message and request id."""

from __future__ import annotations

import datetime
from urllib.parse import urlsplit

import boto3
import botocore.config
import botocore.parsers
import pytest
from botocore.awsrequest import HeadersDict

from matrix.chaos import catalog, codes
from matrix.chaos.protocol import RequestInfo, classify, error_response, is_mutating, split_bucket_key

PROTOCOL_OF = {"ec2": "ec2", "iam": "query", "sts": "query", "s3": "rest-xml", "dynamodb": "json", "logs": "json"}

# Requests that are byte-for-byte the same on the wire as another operation's, or carry no signature.
WIRE_AMBIGUOUS = {
    ("s3", "GetBucketLifecycle"): "GetBucketLifecycleConfiguration",      # deprecated alias
    ("s3", "PutBucketLifecycle"): "PutBucketLifecycleConfiguration",      # deprecated alias
    ("s3", "GetBucketNotification"): "GetBucketNotificationConfiguration",  # deprecated alias
    ("s3", "PutBucketNotification"): "PutBucketNotificationConfiguration",  # deprecated alias
    ("s3", "ListDirectoryBuckets"): "ListBuckets",                        # same GET / (S3 Express endpoint)
    ("s3", "WriteGetObjectResponse"): None,                               # signed as s3-object-lambda
    ("sts", "AssumeRoleWithSAML"): None,                                  # unsigned: no region in the request
    ("sts", "AssumeRoleWithWebIdentity"): None,                           # unsigned: no region in the request
}


class _Captured(Exception):
    pass


def _value(shape, depth=0):
    t = shape.type_name
    if t == "structure":
        return {n: _value(shape.members[n], depth + 1) for n in shape.required_members}
    if t == "list":
        return [_value(shape.member, depth + 1)] if depth < 6 else []
    if t == "map":
        return {}
    if t == "string":
        return shape.enum[0] if shape.enum else "a" * max(int(shape.metadata.get("min", 3)), 3)
    if t in ("integer", "long"):
        return int(shape.metadata.get("min", 1))
    if t in ("float", "double"):
        return 1.0
    if t == "boolean":
        return True
    if t == "timestamp":
        return datetime.datetime(2024, 1, 1)
    if t == "blob":
        return b"x"
    return None


@pytest.mark.parametrize("service", catalog.CORE_SERVICES)
def test_every_operation_is_identified_from_the_wire(service):
    c = boto3.session.Session().client(
        service, endpoint_url="http://127.0.0.1:9", region_name="eu-west-1", aws_access_key_id="a",
        aws_secret_access_key="b",
        config=botocore.config.Config(retries={"max_attempts": 1}, parameter_validation=False))
    captured = {}

    def capture(request, **_):
        captured["request"] = request
        raise _Captured

    c.meta.events.register("before-send", capture)
    model = c.meta.service_model
    wrong = []
    for op in model.operation_names:
        shape = model.operation_model(op).input_shape
        with pytest.raises(_Captured):
            c._make_api_call(op, _value(shape) if shape else {})
        r = captured["request"]
        u = urlsplit(r.url)
        headers = {k.lower(): (v.decode() if isinstance(v, bytes) else v) for k, v in r.headers.items()}
        headers.setdefault("host", u.netloc)
        body = r.body.encode() if isinstance(r.body, str) else r.body if isinstance(r.body, bytes) else None
        info = classify(r.method, u.path + (f"?{u.query}" if u.query else ""), headers, body)
        if (info.service, info.region, info.operation) == (service, "eu-west-1", op):
            assert info.protocol == PROTOCOL_OF[service]
            continue
        if (service, op) in WIRE_AMBIGUOUS:
            expected = WIRE_AMBIGUOUS[(service, op)]
            assert expected is None or info.operation == expected
            continue
        wrong.append((op, info.service, info.region, info.operation, r.method, r.url))
    assert not wrong


@pytest.mark.parametrize(("method", "path", "query", "headers", "op"), [
    ("HEAD", "/b", "", {}, "HeadBucket"),
    ("GET", "/b", "list-type=2&prefix=x", {}, "ListObjectsV2"),
    ("GET", "/b", "", {}, "ListObjects"),
    ("PUT", "/b", "", {}, "CreateBucket"),
    ("DELETE", "/b", "", {}, "DeleteBucket"),
    ("PUT", "/b/k/state.tfstate", "", {}, "PutObject"),
    ("PUT", "/b/k", "", {"x-amz-copy-source": "/b/o"}, "CopyObject"),
    ("GET", "/b/k", "", {}, "GetObject"),
    ("HEAD", "/b/k", "", {}, "HeadObject"),
    ("DELETE", "/b/k", "", {}, "DeleteObject"),
    ("PUT", "/b", "versioning", {}, "PutBucketVersioning"),
    ("GET", "/b", "versioning", {}, "GetBucketVersioning"),
    ("PUT", "/b", "encryption", {}, "PutBucketEncryption"),
    ("PUT", "/b", "publicAccessBlock", {}, "PutPublicAccessBlock"),
    ("PUT", "/b", "tagging", {}, "PutBucketTagging"),
    ("GET", "/b", "versions", {}, "ListObjectVersions"),
    ("POST", "/b", "delete", {}, "DeleteObjects"),
    ("POST", "/b/k", "uploads", {}, "CreateMultipartUpload"),
    ("PUT", "/b/k", "partNumber=1&uploadId=u", {}, "UploadPart"),
    ("POST", "/b/k", "uploadId=u", {}, "CompleteMultipartUpload"),
    ("GET", "/", "", {}, "ListBuckets"),
])
def test_s3_rest_operations(method, path, query, headers, op):
    auth = {"authorization": "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/s3/aws4_request, "
            "SignedHeaders=host, Signature=0"}
    for host, p in (("127.0.0.1:4566", path), ("b.s3.us-east-1.amazonaws.com", path[2:] or "/")):
        if host.startswith("b.") and path == "/":
            continue
        info = classify(method, p + (f"?{query}" if query else ""), {**auth, "host": host, **headers})
        assert (info.service, info.region, info.operation) == ("s3", "us-east-1", op), host


def test_virtual_host_and_path_style_bucket_split():
    assert split_bucket_key("/k/x.tfstate", "my.bucket.s3.eu-west-1.amazonaws.com") == ("my.bucket", "k/x.tfstate")
    assert split_bucket_key("/k", "state.s3.localhost.localstack.cloud:4566") == ("state", "k")
    assert split_bucket_key("/k", "state.localhost:5000") == ("state", "k")
    assert split_bucket_key("/state/k%20x", "127.0.0.1:5000") == ("state", "k x")
    assert split_bucket_key("/state", "s3.localhost.localstack.cloud:4566") == ("state", "")


def test_presigned_url_and_unsigned_fallbacks():
    q = ("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20240101%2Fap-northeast-1%2Fs3%2Faws4_request"
         "&X-Amz-Signature=0")
    info = classify("GET", f"/b/k?{q}", {"host": "127.0.0.1:1"})
    assert (info.service, info.region, info.operation) == ("s3", "ap-northeast-1", "GetObject")
    # no signature: the target prefix and the query Version still tell the service
    assert classify("POST", "/", {"x-amz-target": "Logs_20140328.PutLogEvents"}).service == "logs"
    body = b"Action=DescribeVpcs&Version=2016-11-15"
    headers = {"content-type": "application/x-www-form-urlencoded; charset=utf-8", "content-length": str(len(body))}
    assert classify("POST", "/", headers, body).service == "ec2"
    # emulator internals are never AWS calls
    assert classify("POST", "/moto-api/reset", {}).service == ""


def test_mutating_by_verb_and_by_method():
    for op in ("CreateVpc", "DeleteSubnet", "ModifyVpcAttribute", "AssociateRouteTable", "AllocateAddress",
               "ReleaseAddress", "AttachInternetGateway", "DetachInternetGateway", "ReplaceRoute", "PutItem",
               "UpdateTable", "TagResource", "CreateTags", "RunInstances", "BatchWriteItem", "TransactWriteItems"):
        assert is_mutating("ec2", op), op
    for op in ("DescribeVpcs", "GetItem", "ListRoles", "Query", "Scan", "BatchGetItem", "TransactGetItems",
               "FilterLogEvents", "GetCallerIdentity", "AssumeRole"):
        assert not is_mutating("dynamodb", op), op
    assert is_mutating("s3", "PutObject", "PUT") and is_mutating("s3", "DeleteObjects", "POST")
    assert not is_mutating("s3", "ListObjectsV2", "GET") and not is_mutating("s3", "HeadBucket", "HEAD")




@pytest.mark.parametrize("service", catalog.CORE_SERVICES)
def test_error_bodies_parse_with_botocores_own_parser(service):
    proto = PROTOCOL_OF[service]
    parser = botocore.parsers.create_parser(proto)
    version = "1.0" if service == "dynamodb" else "1.1"
    throttle = codes.DEFAULT_THROTTLE[service]
    for code, status in ((throttle[0], throttle[1]), ("InternalError", 500), ("ServiceUnavailable", 503)):
        info = RequestInfo(service, "us-east-1", "X", proto, "POST", version)
        resp = error_response(info, code, status, "it <broke> & more", rule="r1", req_id="rid-123")
        headers = HeadersDict(resp.headers)  # case-insensitive, as urllib3 hands them to botocore
        parsed = parser.parse({"status_code": resp.status, "headers": headers, "body": resp.body}, None)
        assert parsed["Error"]["Code"] == code
        assert parsed["Error"]["Message"] == "it <broke> & more"
        assert parsed["ResponseMetadata"]["RequestId"] == "rid-123"
        assert int(headers["Content-Length"]) == len(resp.body)
        assert headers["x-stackmatrix-fault"] == "r1"
        if proto == "json":
            assert headers["Content-Type"] == f"application/x-amz-json-{version}"
            assert headers["x-amzn-ErrorType"] == code


def test_s3_head_errors_have_no_body_and_botocore_reads_the_status():
    info = RequestInfo("s3", "us-east-1", "HeadBucket", "rest-xml", "HEAD")
    resp = error_response(info, "SlowDown", 503, "slow", req_id="r")
    assert resp.body == b""
    parsed = botocore.parsers.create_parser("rest-xml").parse(
        {"status_code": 503, "headers": HeadersDict(resp.headers), "body": b""}, None)
    assert parsed["Error"]["Code"] == "503"  # as with real S3: botocore retries it as a transient 503
