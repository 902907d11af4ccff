"""What the strict emulator cannot judge is never a silent pass: a malformed body, a form body whose
Content-Type is spelt in another case, an operation it cannot identify, a judging error are counted
(`GET /_stackmatrix/stats`), named once per operation in the front's log (stderr) without bodies,
headers or secrets, and printed in `python -m matrix proxy`'s exit summary. Real moto server over
HTTP, real botocore clients (raw HTTP only where botocore would never send the request)."""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import boto3
import botocore.config
import botocore.exceptions
import pytest

from matrix.chaos.proxy import FaultProxy
from matrix.chaos.strict import StrictChecker

ROOT = Path(__file__).resolve().parent.parent
CREDS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
AUTH = ("AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/{service}/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64)


def client(service: str, url: str, **config):
    cfg = botocore.config.Config(retries={"mode": "standard", "total_max_attempts": 1}, **config)
    return boto3.session.Session().client(service, endpoint_url=url, region_name="us-east-1", config=cfg, **CREDS)


def stats(url: str) -> dict:
    with urllib.request.urlopen(f"{url}/_stackmatrix/stats", timeout=5) as resp:  # noqa: S310 - loopback
        return json.loads(resp.read())


def raw(url: str, service: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    """A request botocore would never send (malformed, or spelt unusually), signed-looking for `service`."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.request("POST", "/", body=body, headers={"Authorization": AUTH.format(service=service),
                                                      "X-Amz-Date": "20240101T000000Z", **headers})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


@pytest.fixture
def strict(moto_url):
    with FaultProxy(moto_url, strict=True) as proxy:
        proxy.strict.warm()
        yield proxy


def test_a_malformed_body_is_unjudged_not_judged_and_named_once(strict, capfd):
    headers = {"X-Amz-Target": "Logs_20140328.CreateLogGroup", "Content-Type": "application/x-amz-json-1.1"}
    for _ in range(2):
        status, _ = raw(strict.url, "logs", b'{"logGroupName": "secret-value-xyz", ', headers)
        assert status >= 400  # the emulator answers the malformed request itself (moto: 500)
    seen = stats(strict.url)["strict"]
    assert seen["judged"] == 0 and seen["refused"] == 0
    assert seen["unjudged"] == 2
    assert seen["unjudged_by_call"] == {"logs.CreateLogGroup": {"malformed JSON body": 2}}
    err = capfd.readouterr().err
    lines = [line for line in err.splitlines() if "logs.CreateLogGroup" in line]
    assert len(lines) == 1 and "forwarded unjudged: malformed JSON body" in lines[0], err
    assert "secret-value-xyz" not in err and "Signature" not in err and "testing" not in err


def test_a_form_body_in_any_case_of_content_type_is_judged(strict):
    """`Application/X-WWW-Form-Urlencoded; Charset=UTF-8` is the same media type (RFC 9110): the call
    is identified, judged and refused as AWS refuses it."""
    iam = client("iam", strict.url)

    def recase(request, **_):
        request.headers["Content-Type"] = "Application/X-WWW-Form-Urlencoded; Charset=UTF-8"

    iam.meta.events.register_first("before-send.iam.CreateRole", recase)
    policy = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                                "Principal": {"Service": "ec2.amazonaws.com"}}]})
    name = f"strict-case-{uuid.uuid4().hex[:8]}"
    with pytest.raises(iam.exceptions.ClientError) as caught:
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=policy, MaxSessionDuration=50000)
    assert caught.value.response["Error"]["Code"] == "ValidationError"
    assert "x-stackmatrix-strict" in caught.value.response["ResponseMetadata"]["HTTPHeaders"]
    assert stats(strict.url)["strict"]["judged"] == 1
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_role(RoleName=name)  # it never reached the emulator


def test_a_post_whose_operation_cannot_be_identified_is_unjudged(strict, capfd):
    for _ in range(2):
        raw(strict.url, "ec2", b"Action=CreateVpc&Version=2016-11-15&CidrBlock=10.0.0.0%2F8",
            {"Content-Type": "text/plain"})
    seen = stats(strict.url)["strict"]
    assert seen["unjudged_by_call"] == {"ec2.?": {"operation not identified": 2}}
    lines = [line for line in capfd.readouterr().err.splitlines() if "ec2.?" in line]
    assert len(lines) == 1 and "forwarded unjudged: operation not identified" in lines[0]


def test_a_judging_error_is_counted_and_named_once_without_its_message(moto_url, capfd):
    def broken(_tf_type, _argument, value, _region):
        if str(value).startswith("strict-error-"):  # not the warm-up's values
            raise RuntimeError("a value from the request: secret-value-xyz")
        return []

    with FaultProxy(moto_url, strict=StrictChecker(check=broken)) as proxy:
        logs = client("logs", proxy.url)
        for i in range(2):
            logs.create_log_group(logGroupName=f"strict-error-{uuid.uuid4().hex[:8]}-{i}")  # forwarded
        seen = stats(proxy.url)["strict"]
    assert seen["errors"] == 2 and seen["errors_by_call"] == {"logs.CreateLogGroup": 2}
    err = capfd.readouterr().err
    lines = [line for line in err.splitlines() if "judging logs.CreateLogGroup failed" in line]
    assert len(lines) == 1 and "RuntimeError at test_strict_unjudged.py:" in lines[0], err
    assert "secret-value-xyz" not in err


def test_the_exit_summary_prints_unjudged_errors_and_internal_counts(moto_url):
    proc = subprocess.Popen([sys.executable, "-m", "matrix", "proxy", "--upstream", moto_url, "--strict"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        raw(url, "logs", b"{", {"X-Amz-Target": "Logs_20140328.CreateLogGroup",
                                "Content-Type": "application/x-amz-json-1.1"})
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "0 request(s) it could not classify (forwarded untouched), 0 upstream error(s)" in err, err
    assert ('strict: 0 call(s) judged, 0 refused: {}; 1 forwarded unjudged: '
            '{"logs.CreateLogGroup": {"malformed JSON body": 1}}; 0 judging error(s) (forwarded): {}') in err, err
    assert "strict: logs.CreateLogGroup (POST) forwarded unjudged: malformed JSON body" in err, err
    # "internal error" is stackmatrix's crash line (matrix/errors.py), which the fuzz battery looks for: a clean
    # exit summary must not say it (it did, "0 internal error(s)", and failed the battery)
    assert "internal error" not in err, err


def test_a_reset_after_the_call_does_not_skip_the_judge(moto_url):
    """`--strict --rules`: a reset drawn for after the call waits for the verdict. A call AWS would
    refuse gets the refusal and never reaches the emulator; a valid one takes effect, then is reset."""
    rules = [{"service": "logs", "operation": "PutRetentionPolicy", "effect": "reset", "when": "after"}]
    with FaultProxy(moto_url, rules, strict=True) as proxy:
        logs = client("logs", proxy.url)
        group = f"strict-reset-{uuid.uuid4().hex[:8]}"
        logs.create_log_group(logGroupName=group)
        with pytest.raises(logs.exceptions.InvalidParameterException) as caught:
            logs.put_retention_policy(logGroupName=group, retentionInDays=45)  # not a retention AWS offers
        assert "x-stackmatrix-strict" in caught.value.response["ResponseMetadata"]["HTTPHeaders"]
        found = client("logs", moto_url).describe_log_groups(logGroupNamePrefix=group)["logGroups"]
        assert "retentionInDays" not in found[0]  # the refused call never reached the emulator
        with pytest.raises(botocore.exceptions.ConnectionClosedError):
            logs.put_retention_policy(logGroupName=group, retentionInDays=30)
        found = client("logs", moto_url).describe_log_groups(logGroupNamePrefix=group)["logGroups"]
        assert found[0]["retentionInDays"] == 30  # the valid call took effect, its answer was lost
    assert [e["effect"] for e in proxy.fault_log.events()] == ["refuse", "reset"]


def test_a_refusal_echoing_a_control_character_still_parses(strict, moto_url):
    """The refusal echoes the client's value; a character XML 1.0 cannot carry becomes U+FFFD, so
    botocore reads AWS's error (ValidationError, InvalidParameterValue), not a ResponseParserError."""
    iam = client("iam", strict.url)
    policy = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                                "Principal": {"Service": "ec2.amazonaws.com"}}]})
    with pytest.raises(iam.exceptions.ClientError) as caught:
        iam.create_role(RoleName="bad\x01name", AssumeRolePolicyDocument=policy)
    assert caught.value.response["Error"]["Code"] == "ValidationError"
    assert "'bad\ufffdname'" in caught.value.response["Error"]["Message"]
    ec2 = client("ec2", strict.url)
    with pytest.raises(ec2.exceptions.ClientError) as caught:
        ec2.create_vpc(CidrBlock="10.0.0.0/8\x1b")
    assert caught.value.response["Error"]["Code"] == "InvalidParameterValue"
    assert "10.0.0.0/8\ufffd" in caught.value.response["Error"]["Message"]
    # an injected fault's message goes through the same writer (S3's XML form)
    rules = [{"service": "s3", "effect": "error", "code": "InternalError", "status": 500, "message": "bad\x00byte"}]
    with FaultProxy(moto_url, rules) as chaos:
        s3 = client("s3", chaos.url)
        with pytest.raises(s3.exceptions.ClientError) as caught:
            s3.list_buckets()
    assert caught.value.response["Error"] == {"Code": "InternalError", "Message": "bad\ufffdbyte"}


def _refusal(call) -> tuple[str, str, str]:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call()
    response = caught.value.response
    return (response["Error"]["Code"], response["ResponseMetadata"]["HTTPHeaders"].get("x-stackmatrix-strict", ""),
            response["Error"]["Message"].split(" [stackmatrix strict:")[0])


def test_in_place_updates_are_judged_as_the_create_call_is(strict, moto_url):
    iam = client("iam", strict.url)
    policy = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                                "Principal": {"Service": "ec2.amazonaws.com"}}]})
    name = f"strict-update-{uuid.uuid4().hex[:8]}"
    created = _refusal(lambda: iam.create_role(RoleName=name, AssumeRolePolicyDocument=policy,
                                               MaxSessionDuration=50000))
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=policy)
    assert _refusal(lambda: iam.update_role(RoleName=name, MaxSessionDuration=50000)) == created
    assert created[:2] == ("ValidationError", "schema-range")
    assert client("iam", moto_url).get_role(RoleName=name)["Role"]["MaxSessionDuration"] == 3600  # never reached
    iam.update_role(RoleName=name, MaxSessionDuration=7200, Description="valid")  # a valid update passes
    assert client("iam", moto_url).get_role(RoleName=name)["Role"]["MaxSessionDuration"] == 7200
    too_long = "x" * 1001
    described = _refusal(lambda: iam.create_role(RoleName=f"{name}-d", AssumeRolePolicyDocument=policy,
                                                 Description=too_long))
    assert _refusal(lambda: iam.update_role(RoleName=name, Description=too_long)) == described
    assert _refusal(lambda: iam.update_role_description(RoleName=name, Description=too_long)) == described
    unchecked = client("iam", strict.url, parameter_validation=False)  # as an SDK that checks no length sends it
    assert _refusal(lambda: unchecked.put_role_permissions_boundary(RoleName=name, PermissionsBoundary="arn"))[:2] \
        == ("ValidationError", "schema-length")

    ec2 = client("ec2", strict.url)
    vpc = client("ec2", moto_url).create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    assert _refusal(lambda: ec2.modify_vpc_tenancy(VpcId=vpc, InstanceTenancy="bogus"))[:2] \
        == ("InvalidParameterValue", "schema-enum")
    endpoint = client("ec2", moto_url).create_vpc_endpoint(
        VpcId=vpc, ServiceName="com.amazonaws.us-east-1.s3", VpcEndpointType="Gateway")["VpcEndpoint"]["VpcEndpointId"]
    assert _refusal(lambda: ec2.modify_vpc_endpoint(VpcEndpointId=endpoint, AddSecurityGroupIds=["bogus"]))[:2] \
        == ("InvalidGroupId.Malformed", "schema-format")
    assert _refusal(lambda: ec2.modify_vpc_endpoint(VpcEndpointId=endpoint, IpAddressType="bogus"))[:2] \
        == ("InvalidParameterValue", "schema-enum")

    logs = client("logs", strict.url)
    group = f"strict-update-{uuid.uuid4().hex[:8]}"
    logs.create_log_group(logGroupName=group)
    assert _refusal(lambda: logs.associate_kms_key(logGroupName=group, kmsKeyId="bogus"))[:2] \
        == ("InvalidParameterException", "schema-pattern")
    assert _refusal(lambda: logs.tag_log_group(logGroupName=group, tags={"aws:owner": "x"}))[:2] \
        == ("InvalidParameterException", "tag-reserved-prefix")


def test_a_runs_judging_gaps_are_what_grew_while_it_ran():
    """The front serves every run on its emulator: a run counts only what grew between its two stats
    (matrix/targets/strict_front.py), and each kind of gap gets its warning and its SARIF notification."""
    from matrix.targets.strict_front import judging_gaps

    def snap(judged, unjudged, errors, internal):
        return {"internal_errors": internal, "strict": {"judged": judged, "unjudged_by_call": unjudged,
                                                        "errors_by_call": errors}}

    before = snap(10, {"logs.PutRetentionPolicy": {"malformed JSON body": 2}}, {"ec2.CreateVpc": 1}, 1)
    same = judging_gaps(before, before)
    assert same is not None and same.empty and same.lines() == [] and same.notifications() == []
    after = snap(25, {"logs.PutRetentionPolicy": {"malformed JSON body": 2, "chunked body": 1},
                      "s3.PutObject": {"body over 1048576 bytes": 3}}, {"ec2.CreateVpc": 3}, 2)
    gaps = judging_gaps(before, after, "build/emulators/strict-moto.log")
    assert gaps is not None and gaps.judged == 15
    assert gaps.unjudged == {"logs.PutRetentionPolicy": {"chunked body": 1},
                             "s3.PutObject": {"body over 1048576 bytes": 3}}
    assert gaps.errors == {"ec2.CreateVpc": 2} and gaps.internal == 1
    assert [n["id"] for n in gaps.notifications()] == ["strict-unjudged", "strict-judging-error",
                                                        "proxy-internal-error"]
    assert [n["level"] for n in gaps.notifications()] == ["warning", "error", "error"]
    lines = gaps.lines()
    assert lines[0].startswith("WARNING strict: 4 call(s) forwarded unjudged: logs.PutRetentionPolicy "
                               "(chunked body: 1); s3.PutObject (body over 1048576 bytes: 3)")
    assert "judging failed on 2 call(s)" in lines[1] and "build/emulators/strict-moto.log" in lines[1]
    assert lines[2].startswith("WARNING strict: 1 request(s) could not be classified")
    assert all("internal error" not in line for line in lines)  # never stackmatrix's crash line
    # a front that did not answer, or one without strict mode: nothing is claimed either way
    assert judging_gaps(None, after) is None and judging_gaps(before, {"strict": None}) is None
