"""A pytest plugin for tests/test_run.py (loaded through PYTEST_ADDOPTS=-p unjudged_live_call, with
tests/ on PYTHONPATH): as the live suite starts, it sends the cell's endpoint (the strict front) one
logs PutRetentionPolicy whose JSON body does not parse, a call the front must forward unjudged. The
run that made it must say so. Other suites (no STACKMATRIX_ACCESS in their environment) send nothing."""

from __future__ import annotations

import http.client
import json
import os
from urllib.parse import urlsplit

AUTH = ("AWS4-HMAC-SHA256 Credential=testing/20240101/{region}/logs/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64)


def pytest_sessionstart(session):
    if "STACKMATRIX_ACCESS" not in os.environ:  # only the live suite has it
        return
    access = json.loads(os.environ["STACKMATRIX_ACCESS"])
    parts = urlsplit(access["endpoint"])
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.request("POST", "/", body=b'{"logGroupName": "x", "retentionInDays": ', headers={
            "Authorization": AUTH.format(region=access["region"]), "X-Amz-Date": "20240101T000000Z",
            "X-Amz-Target": "Logs_20140328.PutRetentionPolicy", "Content-Type": "application/x-amz-json-1.1"})
        conn.getresponse().read()  # the emulator's answer, whatever it is: the front's count is what matters
    finally:
        conn.close()
