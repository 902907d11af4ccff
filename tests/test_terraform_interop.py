"""Interop with the real terraform binary: it reads the embedded engine's state and outputs from the
S3 backend, each side honours the other's lock, its init reports NoSuchBucket on a missing bucket,
and the terraform engine says exactly why when the AWS provider cannot be installed."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from matrix.engines.embedded.engine import EmbeddedEngine, EngineOptions
from matrix.engines.terraform import ProviderUnavailable, TerraformEngine, TerraformOptions, lock_info_from
from matrix.state.backend import LockHeld, LockInfo, MissingStateBucket

pytestmark = pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not on PATH")


def synth_with(dev_synth: Path, tmp_path: Path, **backend) -> Path:
    doc = json.loads(dev_synth.read_text())
    doc["terraform"]["backend"]["s3"].update(backend)
    path = tmp_path / "synth" / "cdk.tf.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return path


def bucket_name(tmp_path: Path) -> str:
    return f"sm-tf-{tmp_path.name[-22:].lower().replace('_', '-')}".rstrip("-")


def tf(work: Path, access, *args: str, timeout: float = 300, background: bool = False):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TF_"))}
    env.update(TF_CLI_CONFIG_FILE="/dev/null", TF_IN_AUTOMATION="1", TF_DATA_DIR=str(work / ".terraform"),
               AWS_ACCESS_KEY_ID=access.access_key, AWS_SECRET_ACCESS_KEY=access.secret_key,
               AWS_REGION=access.region, CHECKPOINT_DISABLE="1")
    cmd = ["terraform", *args, "-no-color"]
    if background:
        return subprocess.Popen(cmd, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=timeout)


def backend_only(tmp_path: Path, synth: Path, access, extra: dict | None = None) -> Path:
    """A configuration with only the synthesized backend (plus emulator settings): no provider needed."""
    backend = json.loads(synth.read_text())["terraform"]["backend"]["s3"]
    url = access.endpoint
    backend.update(endpoints={"s3": url, "dynamodb": url, "sts": url, "iam": url}, use_path_style=True,
                   skip_credentials_validation=True, skip_requesting_account_id=True,
                   skip_metadata_api_check=True, skip_region_validation=True)
    work = tmp_path / "tf"
    work.mkdir(exist_ok=True)
    (work / "main.tf.json").write_text(json.dumps({"terraform": {"backend": {"s3": backend}}, **(extra or {})}))
    init = tf(work, access, "init", "-input=false")
    # The backend initializes; installing hashicorp/aws (named by the state) needs a registry this
    # machine may not reach. state list/pull/push and output work with the backend alone.
    assert "Successfully configured the backend" in init.stdout, init.stdout + init.stderr
    assert init.returncode == 0 or "provider" in init.stderr, init.stderr
    return work


def test_terraform_lists_and_outputs_what_the_embedded_engine_deployed(dev_synth, tmp_path, clients, cell_access):
    synth = synth_with(dev_synth, tmp_path, bucket=bucket_name(tmp_path))
    engine = EmbeddedEngine("interop", synth, clients, tmp_path / "state",
                            EngineOptions(bootstrap_backend=True, variables={"run_id": "interop"}))
    engine.apply()
    work = backend_only(tmp_path, synth, cell_access)
    listed = tf(work, cell_access, "state", "list")
    assert listed.returncode == 0, listed.stderr
    addresses = listed.stdout.split()
    assert len([a for a in addresses if not a.startswith("data.")]) == 33
    assert "aws_vpc.vpc" in addresses and "data.aws_availability_zones.azs" in addresses
    out = tf(work, cell_access, "output", "-json")
    assert out.returncode == 0, out.stderr
    assert {k: v["value"] for k, v in json.loads(out.stdout).items()} == engine.current_outputs()
    engine.destroy()


@pytest.mark.parametrize("backend", [{}, {"dynamodb_table": "sm-tf-locks"}])
def test_terraform_respects_our_lock(dev_synth, tmp_path, clients, cell_access, backend):
    synth = synth_with(dev_synth, tmp_path, bucket=bucket_name(tmp_path), **backend)
    engine = EmbeddedEngine("interop", synth, clients, tmp_path / "state", EngineOptions(bootstrap_backend=True))
    engine.backend_check()
    info = engine.backend.lock("OperationTypeApply", {"test": True})
    work = backend_only(tmp_path, synth, cell_access, {"output": {"x": {"value": "y"}}})
    applied = tf(work, cell_access, "apply", "-auto-approve", "-input=false", "-lock-timeout=1s")
    assert applied.returncode != 0
    assert "Error acquiring the state lock" in applied.stderr
    held = lock_info_from(applied.stderr)
    assert held["ID"] == info.ID and held["Who"] == info.Who
    engine.backend.unlock(info.ID)
    assert tf(work, cell_access, "apply", "-auto-approve", "-input=false").returncode == 0


def test_we_respect_terraforms_lock_and_can_force_unlock_it(dev_synth, tmp_path, clients, cell_access):
    key = "locktest/holder.tfstate"
    synth = synth_with(dev_synth, tmp_path, bucket=bucket_name(tmp_path), key=key)
    engine = EmbeddedEngine("interop", synth, clients, tmp_path / "state",
                            EngineOptions(bootstrap_backend=True, lock_timeout=1))
    engine.backend_check()
    slow = {"resource": {"terraform_data": {"wait": {"provisioner": [{"local-exec": {"command": "sleep 60"}}]}}}}
    work = backend_only(tmp_path, synth, cell_access, slow)
    holder = tf(work, cell_access, "apply", "-auto-approve", "-input=false", background=True)
    try:
        deadline = time.monotonic() + 60
        while engine.backend.current_lock() is None:
            assert holder.poll() is None, holder.stdout.read()
            assert time.monotonic() < deadline, "terraform never took the lock"
            time.sleep(0.2)
        theirs = engine.backend.current_lock()
        with pytest.raises(LockHeld) as err:
            engine.backend.lock("OperationTypeApply", {}, timeout=1)
        assert theirs["ID"] in str(err.value) and theirs["Who"] in str(err.value)
        assert theirs["Version"].startswith("1.")  # written by terraform itself
    finally:
        holder.send_signal(signal.SIGKILL)  # a killed terraform leaves its lock behind
        holder.wait(timeout=30)
    assert engine.backend.current_lock()["ID"] == theirs["ID"]
    engine.force_unlock(theirs["ID"])
    assert engine.backend.current_lock() is None


def test_terraform_init_on_a_missing_bucket_says_nosuchbucket(dev_synth, tmp_path, clients, cell_access):
    synth = synth_with(dev_synth, tmp_path, bucket=bucket_name(tmp_path))
    engine = TerraformEngine("interop", synth, clients, tmp_path / "tfwork", TerraformOptions(), run_id="r")
    with pytest.raises(MissingStateBucket) as err:
        engine.backend_check(bootstrap=False)
    assert "--bootstrap-backend" in str(err.value)
    assert "NoSuchBucket" in err.value.detail, err.value.detail
    assert clients.client("ec2").describe_vpcs(Filters=[{"Name": "tag:RunId", "Values": ["r"]}])["Vpcs"] == []


def test_the_terraform_engine_holds_the_same_lock_outcome(dev_synth, tmp_path, clients):
    synth = synth_with(dev_synth, tmp_path, bucket=bucket_name(tmp_path))
    engine = TerraformEngine("interop", synth, clients, tmp_path / "tfwork",
                             TerraformOptions(bootstrap_backend=True, lock_timeout=1), run_id="r")
    engine.backend_check()
    info = LockInfo.new("OperationTypeApply", engine.backend.config.lock_path, {})
    assert engine.backend.try_lock(info)
    engine.force_unlock(info.ID)  # terraform force-unlock releases our lock
    assert engine.backend.current_lock() is None


def test_full_terraform_apply_or_a_clear_provider_message(dev_synth, tmp_path, clients):
    synth = synth_with(dev_synth, tmp_path, bucket=bucket_name(tmp_path))
    engine = TerraformEngine("interop", synth, clients, tmp_path / "tfwork", TerraformOptions(bootstrap_backend=True),
                             run_id="r", cancel=threading.Event())
    engine.backend_check()
    try:
        engine.init()
    except ProviderUnavailable as exc:
        assert "could not install the AWS provider" in str(exc) and "--engine embedded" in str(exc)
        pytest.skip(f"AWS provider not installable here: {exc}")
    summary = engine.apply()
    assert summary.added >= 33 and engine.current_outputs()["vpc_cidr"] == "10.0.0.0/16"
    assert engine.destroy() >= 33
