"""A pytest plugin for tests/test_run.py (loaded through PYTEST_ADDOPTS=-p unjudged_live_call, with
tests/ on PYTHONPATH): as the live suite starts, it sends the cell's endpoint (the strict front) one
logs PutRetentionPolicy whose JSON body does not parse, a call the front must forward unjudged. The
run that made it must say so. Other suites (no STACKMATRIX_ACCESS in their environment) send nothing."""

from __future__ import annotations

import json
import os

from tests.test_strict_unjudged import raw  # a request botocore would never send, signed-looking


def pytest_sessionstart(session):
    if "STACKMATRIX_ACCESS" not in os.environ:  # only the live suite has it
        return
    endpoint = json.loads(os.environ["STACKMATRIX_ACCESS"])["endpoint"]
    # the emulator's answer, whatever it is: the front's count is what matters
    raw(endpoint, "logs", b'{"logGroupName": "x", "retentionInDays": ', {
        "X-Amz-Target": "Logs_20140328.PutRetentionPolicy", "Content-Type": "application/x-amz-json-1.1"})
