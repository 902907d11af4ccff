"""`python -m matrix run` end to end on a moto server it starts itself: deploy, live suite, destroy,
leak check; --keep with env and destroy; a missing bucket; a cell timeout that still tears down."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def matrix(build: Path, *args: str, timeout: float = 600, env: dict | None = None) -> subprocess.CompletedProcess:
    full = dict(os.environ, STACKMATRIX_BUILD=str(build), **(env or {}))
    return subprocess.run([sys.executable, "-m", "matrix", *args], cwd=ROOT, env=full, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture
def fresh_build(tmp_path, synth_root) -> Path:
    """A build folder that already has the session's synthesized cells (saves a cdktf start)."""
    import shutil

    build = tmp_path / "build"
    shutil.copytree(synth_root / "synth", build / "synth")
    return build


def test_dev_profile_end_to_end(fresh_build):
    out = matrix(fresh_build, "run", "--profile", "dev", "--bootstrap-backend")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "PASSED   us-east-1-dev" in out.stdout
    outputs = json.loads((fresh_build / "outputs" / "us-east-1-dev.json").read_text())
    assert outputs["vpc_id"].startswith("vpc-") and len(outputs["public_subnet_ids"]) == 3
    result = json.loads((fresh_build / "cells" / "us-east-1-dev" / "result.json").read_text())
    assert result["status"] == "passed" and result["leaks"] == []
    assert [s["name"] for s in result["steps"]] == ["backend", "apply", "live suite", "destroy", "leak check"]
    assert result["counters"]["calls"]["ec2"] > 30
    assert not list((fresh_build / "deployments").glob("*.json")), "record removed after a clean destroy"
    assert not (fresh_build / "emulators" / "moto.json").exists(), "the run's own moto server is stopped"
    assert list((fresh_build / "allure-results").glob("*-result.json")), "allure-pytest results written"


def test_keep_env_and_destroy(fresh_build):
    out = matrix(fresh_build, "run", "--profile", "dev", "--bootstrap-backend", "--keep")
    assert out.returncode == 0, out.stdout + out.stderr
    record = json.loads((fresh_build / "deployments" / "us-east-1-dev.json").read_text())
    assert record["kept"] is True
    env_out = matrix(fresh_build, "env", "us-east-1-dev")
    assert env_out.returncode == 0
    exports = dict(part.split("=", 1) for line in env_out.stdout.splitlines() if line.startswith("export")
                   for part in line.split("#")[0].split()[1:])
    assert exports["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:") and exports["AWS_REGION"] == "us-east-1"
    # the AWS CLI, which sends no custom header, lands in the cell's own account through its keys
    cli = subprocess.run([str(Path(sys.executable).parent / "aws"), "ec2", "describe-vpcs", "--filters",
                          "Name=tag:EnvironmentSuffix,Values=dev", "--output", "json"],
                         env={**os.environ, **exports}, capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0, cli.stderr
    vpc_ids = [v["VpcId"] for v in json.loads(cli.stdout)["Vpcs"]]
    outputs = json.loads((fresh_build / "outputs" / "us-east-1-dev.json").read_text())
    assert vpc_ids == [outputs["vpc_id"]]
    # re-run of the kept cell: same account, nothing to change
    again = matrix(fresh_build, "run", "--profile", "dev", "--keep", "--skip-live")
    assert again.returncode == 0, again.stderr
    assert "no changes" in again.stderr
    live = [s for s in json.loads((fresh_build / "cells" / "us-east-1-dev" / "result.json").read_text())["steps"]
            if s["name"] == "live suite"]
    assert [(s["status"], s["message"]) for s in live] == [
        ("skipped", "not run (--skip-live): the deployed stack was not tested")]  # said, never silent
    gone = matrix(fresh_build, "destroy", "us-east-1-dev")
    assert gone.returncode == 0, gone.stderr
    assert "destroyed 33 resource(s); no leftovers" in gone.stderr
    assert not (fresh_build / "deployments" / "us-east-1-dev.json").exists()
    _stop_recorded_moto(fresh_build)


def test_a_rerun_without_keep_stops_the_server_the_kept_cell_held(fresh_build):
    """The moto server (and its strict front) a `--keep` run left up for its cell stops when a later
    run re-deploys and destroys that cell: no kept cell needs it any more."""
    from matrix.procs import running

    emulators = fresh_build / "emulators"
    try:
        kept = matrix(fresh_build, "run", "--profile", "dev", "--bootstrap-backend", "--keep", "--skip-live")
        assert kept.returncode == 0, kept.stdout + kept.stderr
        server = json.loads((emulators / "moto.json").read_text())
        front = json.loads((emulators / "strict-moto.json").read_text())
        assert running(server["pid"]) and running(front["pid"])
        again = matrix(fresh_build, "run", "--profile", "dev", "--skip-live")
        assert again.returncode == 0, again.stdout + again.stderr
        assert not (fresh_build / "deployments" / "us-east-1-dev.json").exists()
        assert not (emulators / "moto.json").exists() and not (emulators / "strict-moto.json").exists()
        assert not running(server["pid"]), "the kept cell's moto server outlived its last cell"
        assert not running(front["pid"]), "the kept cell's strict front outlived its last cell"
    finally:
        _stop_recorded_moto(fresh_build)


def _stop_recorded_moto(build: Path) -> None:
    from matrix.targets.moto import MotoServer

    os.environ["STACKMATRIX_BUILD"] = str(build)
    try:
        server = MotoServer.recorded()
        if server is not None:
            server.stop()
    finally:
        del os.environ["STACKMATRIX_BUILD"]


def test_missing_state_bucket_fails_cleanly(fresh_build):
    out = matrix(fresh_build, "run", "--profile", "dev")
    assert out.returncode == 1
    assert "stackmatrix-tfstate-us-east-1" in out.stdout and "--bootstrap-backend" in out.stdout
    result = json.loads((fresh_build / "cells" / "us-east-1-dev" / "result.json").read_text())
    assert result["error"]["step"] == "backend"
    assert result["error"]["cause"] == "MissingStateBucket" and "aws_error" not in result["error"]
    assert [s["name"] for s in result["steps"]] == ["backend"], "nothing deployed, nothing to destroy"


def test_cell_timeout_still_tears_down(fresh_build):
    out = matrix(fresh_build, "run", "--profile", "dev", "--bootstrap-backend", "--cell-timeout", "1.2")
    assert out.returncode == 1
    result = json.loads((fresh_build / "cells" / "us-east-1-dev" / "result.json").read_text())
    assert result["error"]["category"] == "timeout", result["error"]
    steps = {s["name"]: s["status"] for s in result["steps"]}
    assert steps.get("destroy") == "passed" and steps.get("leak check") == "passed", steps
    assert result["leaks"] == []


def test_a_timeout_during_the_live_suite_is_no_pass(fresh_build):
    """The live suite does not watch the cell's cancel: a timeout landing while it runs used to leave
    the cell PASSED (exit 0) with a timeout error beside it."""
    out = matrix(fresh_build, "run", "--profile", "dev", "--bootstrap-backend", "--cell-timeout", "8",
                 env={"PYTEST_ADDOPTS": "-p hold_live_suite", "PYTHONPATH": str(ROOT / "tests")})
    assert out.returncode == 1, out.stdout + out.stderr
    assert "BROKEN   us-east-1-dev" in out.stdout, out.stdout
    result = json.loads((fresh_build / "cells" / "us-east-1-dev" / "result.json").read_text())
    assert result["status"] == "broken" and result["error"]["category"] == "timeout", result["error"]
    steps = {s["name"]: s["status"] for s in result["steps"]}
    assert steps.get("destroy") == "passed" and steps.get("leak check") == "passed", steps


def test_a_call_the_strict_front_could_not_judge_is_named_by_the_run(fresh_build):
    """A call the strict front forwards unjudged (here a PutRetentionPolicy whose body does not parse,
    sent through the cell's endpoint as the live suite starts) is no silent pass: the run warns, naming
    the operation and the reason, and records it in run.json and the report environment."""
    out = matrix(fresh_build, "run", "--profile", "dev", "--bootstrap-backend", "--no-report",
                 env={"PYTEST_ADDOPTS": "-p unjudged_live_call", "PYTHONPATH": str(ROOT / "tests")})
    assert out.returncode == 0, out.stdout + out.stderr  # the cell itself passed: a warning, not a failure
    warning = ("WARNING strict: 1 call(s) forwarded unjudged: logs.PutRetentionPolicy (malformed JSON body: 1): "
               "AWS's constraints were not checked on them, only the emulator judged them")
    assert warning in out.stdout, out.stdout
    run = json.loads((fresh_build / "run.json").read_text())
    gaps = run["strict_gaps"]
    assert gaps["unjudged"] == {"logs.PutRetentionPolicy": {"malformed JSON body": 1}}, gaps
    assert gaps["errors"] == {} and gaps["internal_errors"] == 0 and gaps["judged"] > 30, gaps
    log = (fresh_build / "emulators" / "strict-moto.log").read_text()
    assert "logs.PutRetentionPolicy" in log and "retentionInDays" not in log  # named, its body never logged
    # findings.sarif says it too, as a tool execution notification (not a finding about the code), valid SARIF
    from tests.sarif.test_sarif import validate

    sarif = json.loads((fresh_build / "findings.sarif").read_text())
    notes = sarif["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    assert [(n["descriptor"]["id"], n["level"]) for n in notes] == [("strict-unjudged", "warning")]
    assert notes[0]["message"]["text"].startswith("strict: 1 call(s) forwarded unjudged: logs.PutRetentionPolicy")
    assert "1 tool notification(s): what the run could not check" in out.stdout
    checked = validate(fresh_build / "findings.sarif")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # a run without such a call says nothing of the kind, and records an empty account
    again = matrix(fresh_build, "run", "--profile", "dev", "--bootstrap-backend", "--no-report")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "forwarded unjudged" not in again.stdout
    gaps = json.loads((fresh_build / "run.json").read_text())["strict_gaps"]
    assert gaps["unjudged"] == {} and gaps["judged"] > 30, gaps
    assert "invocations" not in json.loads((fresh_build / "findings.sarif").read_text())["runs"][0]


def test_a_known_emulator_gap_is_reported_as_such(tmp_path, moto_url, synth_root):
    """A state bucket made without default encryption: moto answers 404 where AWS (and LocalStack)
    encrypt by default. The live suite labels it "Emulator gap", the cell still passes."""
    import boto3

    profiles = tmp_path / "profiles.toml"
    profiles.write_text((ROOT / "matrix" / "profiles.toml").read_text().replace(
        'bucket = "{project}-tfstate-{region}"', 'bucket = "gap-test-{region}"'))
    s3 = boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1", aws_access_key_id="a",
                      aws_secret_access_key="b")
    s3.create_bucket(Bucket="gap-test-us-east-1")
    s3.put_bucket_versioning(Bucket="gap-test-us-east-1", VersioningConfiguration={"Status": "Enabled"})
    build = tmp_path / "build"
    out = matrix(build, "run", "--profiles", str(profiles), "--profile", "dev", "--endpoint", moto_url,
                 "--no-report")
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    suite = (build / "cells" / "us-east-1-dev" / "live-suite.txt").read_text()
    assert "1 xfailed" in suite
    results = [json.loads(p.read_text()) for p in (build / "allure-results").glob("*-result.json")]
    gap = [r for r in results if r["name"].startswith("test_state_bucket")]
    assert gap and gap[0]["status"] == "skipped"
    assert "Emulator gap: s3-default-encryption" in gap[0]["statusDetails"]["message"]
    result = json.loads((build / "cells" / "us-east-1-dev" / "result.json").read_text())
    tests = next(s for s in result["steps"] if s["name"] == "live suite")["details"]["tests"]
    assert tests["failed"] == []
    assert [t["test"] for t in tests["skipped"]] == ["test_vpc::test_state_bucket_is_versioned_encrypted_and_private"]
    assert tests["skipped"][0]["reason"].startswith("Emulator gap: s3-default-encryption"), tests


def test_live_suite_outcomes_are_read_from_pytest_junit(tmp_path):
    """suite_outcomes() on the JUnit file of a real pytest run: failures and errors are failed (named
    module::test, with their message), skips and xfails are skipped (with their reason)."""
    from matrix.runner import suite_outcomes

    (tmp_path / "test_mod.py").write_text(
        "import pytest\n"
        "@pytest.fixture\ndef broken():\n    raise RuntimeError('fixture down')\n"
        "def test_ok():\n    pass\n"
        "def test_fails():\n    assert 1 == 2, 'one is not two'\n"
        "def test_errors(broken):\n    pass\n"
        "def test_skips():\n    pytest.skip('Emulator gap: some-gap (moto)')\n"
        "@pytest.mark.parametrize('x', ['a.b'])\ndef test_param(x):\n    assert x == 'c'\n")
    junit = tmp_path / "junit.xml"
    proc = subprocess.run([sys.executable, "-m", "pytest", str(tmp_path / "test_mod.py"), "-q", "-p",
                           "no:cacheprovider", f"--junitxml={junit}", "--rootdir", str(tmp_path)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stdout
    out = suite_outcomes(junit)
    failed = {t["test"]: t["message"] for t in out["failed"]}
    assert set(failed) == {"test_mod::test_fails", "test_mod::test_errors", "test_mod::test_param[a.b]"}
    assert "one is not two" in failed["test_mod::test_fails"]
    assert "fixture down" in failed["test_mod::test_errors"]
    assert out["skipped"] == [{"test": "test_mod::test_skips", "reason": "Emulator gap: some-gap (moto)"}]
    assert suite_outcomes(tmp_path / "missing.xml") == {"failed": [], "skipped": []}


def test_error_origin_names_the_root_cause_and_the_emulators_answer(moto_url):
    """A real refusal from moto, wrapped as the embedded engine wraps it: the code, status and operation
    come out as data; an engine-side cause has no aws_error."""
    import boto3
    from botocore.exceptions import ClientError

    from matrix.engines.embedded.config import ConfigError
    from matrix.engines.embedded.engine import ApplyError
    from matrix.runner import error_origin

    ec2 = boto3.client("ec2", endpoint_url=moto_url, region_name="us-east-1", aws_access_key_id="a",
                       aws_secret_access_key="b")
    with pytest.raises(ClientError) as refused:
        ec2.create_vpc(CidrBlock="10.0.0.0/29")
    origin = error_origin(ApplyError("aws_vpc.vpc", "create", refused.value))
    assert origin == {"cause": "ClientError",
                      "aws_error": {"code": "InvalidVpc.Range", "status": 400, "operation": "CreateVpc"}}
    assert error_origin(ConfigError("x: cannot apply")) == {"cause": "ConfigError"}
    assert error_origin(ApplyError("a.b", "create", RuntimeError("unknown"))) == {"cause": "RuntimeError"}


def test_given_documents_need_the_synth_check_off(tmp_path, monkeypatch):
    from matrix.cells import expand
    from matrix.errors import UsageError
    from matrix.runner import Runner, RunOptions

    monkeypatch.setenv("STACKMATRIX_BUILD", str(tmp_path / "build"))
    cell = expand("dev")[0]
    options = RunOptions(documents={cell.id: str(tmp_path / "cdk.tf.json")})
    with pytest.raises(UsageError, match="synth_check"):
        Runner([cell], options, progress=lambda _m: None).run()
