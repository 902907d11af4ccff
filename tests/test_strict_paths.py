"""The strict emulator on every client path of a run: the embedded engine and the backend (boto3), the
live suite (its own user agent), terraform (its override file), the endpoint `matrix env` prints for a
kept cell (the AWS CLI), and its lifetime: started with the emulator, kept with kept cells, restarted
by `env` when it died while the emulator lives, stopped with the emulator; `--no-strict` turns it off."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest

from matrix.clients import ClientFactory
from matrix.engines.embedded.engine import EmbeddedEngine, EngineOptions
from matrix.engines.terraform import TerraformEngine, terraform_binary
from matrix.errors import StackmatrixError
from matrix.state.backend import MissingStateBucket
from matrix.targets.moto import MotoTarget
from matrix.targets.strict_front import stats
from tests.strict_cases import AWS_CLI
from tests.test_run import fresh_build, matrix  # noqa: F401 - fresh_build is a fixture

ROOT = Path(__file__).resolve().parent.parent


def _exports(text: str) -> dict[str, str]:
    return dict(part.split("=", 1) for line in text.splitlines() if line.startswith("export")
                for part in line.split("#")[0].split()[1:])


def _gone(pid: int, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def test_a_kept_run_its_env_and_its_teardown_go_through_the_strict_emulator(fresh_build):  # noqa: F811
    out = matrix(fresh_build, "run", "--profile", "dev", "--bootstrap-backend", "--keep", "--no-report")
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    record = json.loads((fresh_build / "deployments" / "us-east-1-dev.json").read_text())
    front = json.loads((fresh_build / "emulators" / "strict-moto.json").read_text())
    moto = json.loads((fresh_build / "emulators" / "moto.json").read_text())
    assert record["endpoint"] == front["url"] != moto["url"]
    assert (record["emulator"], record["strict_front"], front["upstream"]) == (moto["url"], "moto", moto["url"])
    seen = stats(front["url"])
    assert seen["strict"]["judged"] >= 30 and seen["strict"]["refused"] == 0 and seen["strict"]["errors"] == 0
    assert seen["by_client"]["boto3"] > 30  # the embedded engine and the backend
    assert seen["by_client"]["app/stackmatrix-live"] > 5  # the live suite
    assert seen["by_service"]["s3"] > 0 and seen["by_service"]["iam"] > 0
    # the endpoint `env` prints is the strict emulator: the AWS CLI gets AWS's refusal there
    env = matrix(fresh_build, "env", "us-east-1-dev")
    assert env.returncode == 0, env.stderr
    exports = _exports(env.stdout)
    assert exports["AWS_ENDPOINT_URL"] == front["url"] and "strict emulator in front of" in env.stdout
    group = json.loads((fresh_build / "outputs" / "us-east-1-dev.json").read_text())["log_group_name"]
    cli = subprocess.run([AWS_CLI, "logs", "put-retention-policy", "--log-group-name", group,
                          "--retention-in-days", "45"], env={**os.environ, **exports, "AWS_MAX_ATTEMPTS": "1"},
                         capture_output=True, text=True, timeout=120)
    assert cli.returncode != 0 and "(InvalidParameterException)" in cli.stderr, cli.stderr
    assert "[stackmatrix strict: schema-enum; source: cfn-lint schema AWS::Logs::LogGroup.RetentionInDays" in cli.stderr
    assert stats(front["url"])["by_client"]["aws-cli"] == 1
    # the front died, the emulator lives: `env` starts it again on the same port, the record stays right
    os.kill(front["pid"], signal.SIGTERM)
    assert _gone(front["pid"])
    again = matrix(fresh_build, "env", "us-east-1-dev")
    assert again.returncode == 0, again.stderr
    revived = json.loads((fresh_build / "emulators" / "strict-moto.json").read_text())
    assert revived["url"] == front["url"] and revived["pid"] != front["pid"]
    assert stats(front["url"])["strict"]["errors"] == 0
    # destroy reaches the cell through it; --stop-emulator stops moto and its front
    gone = matrix(fresh_build, "destroy", "us-east-1-dev", "--stop-emulator")
    assert gone.returncode == 0, gone.stderr
    assert "destroyed 33 resource(s); no leftovers" in gone.stderr
    assert not (fresh_build / "emulators" / "strict-moto.json").exists()
    assert _gone(revived["pid"]) and _gone(moto["pid"])


def test_no_strict_hands_out_the_emulator_and_says_so(fresh_build):  # noqa: F811
    out = matrix(fresh_build, "run", "--profile", "dev", "--bootstrap-backend", "--no-strict", "--skip-live")
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    ledger = json.loads(next((fresh_build / "runs").glob("*.json")).read_text())["cells"][0]
    assert ledger["front"] is None and ledger["endpoint"].startswith("http://127.0.0.1:")
    assert not list((fresh_build / "emulators").glob("strict-*.json"))
    environment = (fresh_build / "allure-results" / "environment.properties").read_text()
    assert "strict=off (--no-strict)" in environment


def test_the_front_of_a_users_emulator_lives_while_kept_cells_need_it(fresh_build, moto_url):  # noqa: F811
    out = matrix(fresh_build, "run", "--profile", "dev", "--endpoint", moto_url, "--bootstrap-backend", "--keep",
                 "--skip-live", "--no-report")
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    name = f"endpoint-{moto_url.rsplit(':', 1)[1]}"
    front = json.loads((fresh_build / "emulators" / f"strict-{name}.json").read_text())
    assert stats(front["url"])["upstream"] == moto_url  # kept after the run: the kept cell needs it
    gone = matrix(fresh_build, "destroy", "us-east-1-dev")
    assert gone.returncode == 0, gone.stderr
    assert f"stopped the strict emulator {name}" in gone.stderr
    assert _gone(front["pid"]) and not (fresh_build / "emulators" / f"strict-{name}.json").exists()


@pytest.fixture
def strict_target(moto_url, build):
    """The moto target with its strict front (a process of its own), stopped after the test."""
    target = MotoTarget(endpoint=moto_url)
    target.start()
    yield target
    target.stop()
    assert _gone(target.front.pid)


def test_the_embedded_engine_gets_the_refusal(strict_target, dev_synth, tmp_path):
    doc = json.loads(dev_synth.read_text())
    doc["terraform"]["backend"]["s3"]["bucket"] = f"strict-{uuid.uuid4().hex[:12]}"
    doc["resource"]["aws_cloudwatch_log_group"]["flow-logs"]["retention_in_days"] = 45
    synth = tmp_path / "cdk.tf.json"
    synth.write_text(json.dumps(doc))
    clients = ClientFactory(strict_target.access("strict-engine", "us-east-1", uuid.uuid4().hex[:8]), max_attempts=2)
    assert clients.access.endpoint == strict_target.front.url
    engine = EmbeddedEngine("strict-engine", synth, clients, tmp_path / "state",
                            EngineOptions(bootstrap_backend=True, variables={"run_id": "t"}))
    engine.backend_check()
    with pytest.raises(StackmatrixError) as caught:
        engine.apply()
    assert "InvalidParameterException" in str(caught.value) and "[stackmatrix strict: schema-enum" in str(caught.value)
    assert stats(strict_target.front.url)["strict"]["refused_by_rule"] == {"schema-enum": 1}
    engine.destroy()


@pytest.mark.skipif(terraform_binary() is None, reason="terraform is not on PATH")
def test_terraform_reaches_the_emulator_through_the_strict_emulator(strict_target, dev_synth, tmp_path):
    """The override file points every endpoint at the front; terraform's own init traffic passes it.
    (Its resource calls would too; the AWS provider cannot be installed here, so they are not made.)"""
    from matrix.runner import RunOptions

    doc = json.loads(dev_synth.read_text())
    doc["terraform"]["backend"]["s3"]["bucket"] = f"strict-tf-{uuid.uuid4().hex[:12]}"
    synth = tmp_path / "cdk.tf.json"
    synth.write_text(json.dumps(doc))
    clients = ClientFactory(strict_target.access("strict-tf", "us-east-1", uuid.uuid4().hex[:8]), max_attempts=2)
    engine = TerraformEngine("strict-tf", synth, clients, tmp_path / "tf", RunOptions(engine="terraform"),
                             run_id="t", cancel=threading.Event())
    override = engine._override()
    endpoints = {*override["provider"]["aws"][0]["endpoints"][0].values(),
                 *override["terraform"]["backend"]["s3"]["endpoints"].values()}
    assert endpoints == {strict_target.front.url}
    with pytest.raises(MissingStateBucket) as caught:
        engine.backend_check(bootstrap=False)
    assert "NoSuchBucket" in caught.value.detail
    assert stats(strict_target.front.url)["by_client"].get("terraform", 0) >= 1


def test_the_front_is_stopped_with_the_server_it_fronts(build):
    from matrix.targets.moto import MotoServer

    target = MotoTarget()
    target.start()
    front, server = target.front, target.server
    assert stats(front.url)["upstream"] == server.url
    again = MotoTarget()  # a later run finds both and reuses them
    again.start()
    assert (again.front.pid, again.server.pid) == (front.pid, server.pid)
    again.stop()  # not its server: leaves both running
    assert stats(front.url) is not None
    MotoServer.recorded().stop()  # as `destroy --stop-emulator` does
    assert _gone(front.pid) and _gone(server.pid)
    assert not (build / "emulators" / "strict-moto.json").exists()
