"""The real-account guard: every refusal exits 2 before any AWS call (a counting proxy in front of an
emulator proves the number of calls); the allowlisted, confirmed path runs, prints the hourly cost,
stores no key and tears everything down."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from matrix.chaos import FaultProxy
from matrix.errors import UsageError
from matrix.targets.aws import hourly_cost

ROOT = Path(__file__).resolve().parent.parent
MOTO_DEFAULT_ACCOUNT = "123456789012"


@pytest.fixture
def counting(moto_url):
    """A proxy with no fault rules in front of moto: its stats count every request that reached it."""
    with FaultProxy(moto_url) as proxy:
        yield proxy


def aws_run(build: Path, proxy, *args: str, env: dict | None = None, stdin: str | None = None):
    full = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "STACKMATRIX_"))}
    full.update(STACKMATRIX_BUILD=str(build), STACKMATRIX_AWS_ENDPOINT=proxy.url,
                AWS_ACCESS_KEY_ID="AKIAFAKEFAKEFAKEFAKE", AWS_SECRET_ACCESS_KEY="fake-secret-for-the-guard-test",
                AWS_DEFAULT_REGION="us-east-1", **(env or {}))
    return subprocess.run([sys.executable, "-m", "matrix", "run", "--target", "aws", *args], cwd=ROOT, env=full,
                          capture_output=True, text=True, timeout=600, input=stdin)


def requests(proxy) -> int:
    return proxy.stats()["requests"]


@pytest.mark.parametrize("args, env, needle", [
    (["--profile", "dev"], {"STACKMATRIX_AWS_ACCOUNTS": MOTO_DEFAULT_ACCOUNT}, "--allow-real-aws"),
    (["--profile", "dev", "--allow-real-aws"], {}, "STACKMATRIX_AWS_ACCOUNTS is empty"),
    (["--profile", "dev", "--allow-real-aws"], {"STACKMATRIX_AWS_ACCOUNTS": "12345"}, "not a 12-digit account id"),
    (["--profile", "nightly", "--allow-real-aws", "--yes"], {"STACKMATRIX_AWS_ACCOUNTS": MOTO_DEFAULT_ACCOUNT},
     "exceed --max-cells 4"),
    (["--profile", "prerelease", "--region", "us-east-1", "--suffix", "qa", "--fault", "state-bucket-lost",
      "--allow-real-aws", "--yes"], {"STACKMATRIX_AWS_ACCOUNTS": MOTO_DEFAULT_ACCOUNT}, "deletes the state bucket"),
])
def test_refusals_make_no_call_at_all(tmp_path, counting, args, env, needle):
    out = aws_run(tmp_path / "build", counting, *args, env=env)
    assert out.returncode == 2, out.stdout + out.stderr
    assert needle in out.stderr
    assert requests(counting) == 0
    assert not (tmp_path / "build").exists(), "a refused run writes nothing"


def test_an_endpoint_override_is_refused_without_a_call(tmp_path, counting):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "STACKMATRIX_"))}
    env.update(STACKMATRIX_BUILD=str(tmp_path / "build"), STACKMATRIX_AWS_ACCOUNTS=MOTO_DEFAULT_ACCOUNT,
               AWS_ENDPOINT_URL=counting.url)
    out = subprocess.run([sys.executable, "-m", "matrix", "run", "--target", "aws", "--profile", "dev",
                          "--allow-real-aws", "--yes"], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 2 and "AWS_ENDPOINT_URL" in out.stderr
    assert requests(counting) == 0


def test_an_account_outside_the_allowlist_is_refused_after_one_identity_call(tmp_path, counting):
    out = aws_run(tmp_path / "build", counting, "--profile", "dev", "--allow-real-aws", "--yes",
                  env={"STACKMATRIX_AWS_ACCOUNTS": "111111111111"})
    assert out.returncode == 2
    assert f"account {MOTO_DEFAULT_ACCOUNT}, which is not in STACKMATRIX_AWS_ACCOUNTS" in out.stderr
    assert counting.stats()["by_service"] == {"sts": 1}, "only GetCallerIdentity, read-only"


def test_no_confirmation_without_a_terminal(tmp_path, counting):
    out = aws_run(tmp_path / "build", counting, "--profile", "dev", "--allow-real-aws",
                  env={"STACKMATRIX_AWS_ACCOUNTS": MOTO_DEFAULT_ACCOUNT}, stdin="")
    assert out.returncode == 2 and "pass --yes" in out.stderr
    assert "NAT gateway(s)" in out.stderr and "$" in out.stderr, "the cost is shown before asking"
    assert counting.stats()["by_service"] == {"sts": 1}


def test_the_confirmed_allowlisted_path_deploys_tests_and_tears_down(tmp_path, counting, synth_root):
    build = tmp_path / "build"
    shutil.copytree(synth_root / "synth", build / "synth")
    out = aws_run(build, counting, "--profile", "dev", "--allow-real-aws", "--yes", "--bootstrap-backend",
                  "--no-report", env={"STACKMATRIX_AWS_ACCOUNTS": f"999999999999,{MOTO_DEFAULT_ACCOUNT}"})
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert "3 NAT gateway(s) x $0.045/h" in out.stderr and "per hour" in out.stderr
    result = json.loads((build / "cells" / "us-east-1-dev" / "result.json").read_text())
    assert result["status"] == "passed" and result["leaks"] == []
    ledger = next((build / "runs").glob("*.json")).read_text()
    assert "fake-secret-for-the-guard-test" not in ledger and '"secret_key": null' in ledger
    for path in build.rglob("*"):
        if path.is_file():
            assert b"fake-secret-for-the-guard-test" not in path.read_bytes(), path


def test_hourly_cost_counts_nat_gateways_and_addresses():
    from matrix.cells import expand

    lines, total = hourly_cost(expand("nightly", suffixes=["dev"]))
    assert len(lines) == 3
    assert total == pytest.approx(3 * (0.045 + 0.005) + 3 * (0.048 + 0.005) + 3 * (0.062 + 0.005))


def test_publishing_to_a_real_bucket_needs_the_same_consent(monkeypatch):
    from matrix.targets.aws import guarded_session

    monkeypatch.delenv("STACKMATRIX_ALLOW_REAL_AWS", raising=False)
    with pytest.raises(UsageError, match="STACKMATRIX_ALLOW_REAL_AWS=1"):
        guarded_session("report --publish")
