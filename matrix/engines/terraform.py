"""The `terraform` engine: the real terraform (or tofu) binary on a cell's synthesized JSON.

Per cell: build/terraform/<cell>/ holds the synthesized `cdk.tf.json`, an override file
`stackmatrix_override.tf.json` (emulator endpoints, path-style S3 and skip flags for the provider
and the backend, only on emulator targets), its own TF_DATA_DIR, and a plugin cache shared by all
cells (build/terraform/plugin-cache). Credentials reach terraform through the environment, never a
file. Steps: init / apply / output -json / destroy / force-unlock, with terraform's own messages
surfaced in errors.

The backend check is shared with the embedded engine (matrix/state/backend.py), so a missing bucket and
a held lock end the same way on both engines; terraform's own words (NoSuchBucket, "Error acquiring
the state lock") are added to the message. When the AWS provider cannot be installed (no registry,
no mirror), the error says exactly that.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matrix.clients import ClientFactory
from matrix.engines.base import Drift
from matrix.errors import StackmatrixError
from matrix.paths import SYNTH_FILE, build_dir
from matrix.redact import redact
from matrix.state.backend import LockHeld, MissingStateBucket, StateBackend, backend_of

SERVICES = ("ec2", "iam", "logs", "s3", "sts", "dynamodb")
LOCK_FIELD_RE = re.compile(r"^\s*(ID|Path|Operation|Who|Version|Created|Info):\s*(.*)$", re.M)


class ProviderUnavailable(StackmatrixError):
    """terraform could not install the AWS provider."""


class TerraformFailed(StackmatrixError):
    """A terraform command failed; the message carries terraform's own words."""


def terraform_binary() -> str | None:
    return shutil.which("terraform") or shutil.which("tofu")


def terraform_version() -> str | None:
    binary = terraform_binary()
    if not binary:
        return None
    try:
        out = subprocess.run([binary, "version", "-json"], capture_output=True, text=True, timeout=30,
                             env=dict(os.environ, TF_CLI_CONFIG_FILE="/dev/null"), check=False)
        return json.loads(out.stdout).get("terraform_version")
    except (OSError, ValueError, subprocess.SubprocessError):
        return None


@dataclass
class PlanSummary:
    """What `terraform apply` reported, shaped like the embedded engine's Plan for the runner."""

    added: int = 0
    changed: int = 0
    destroyed: int = 0
    text: str = ""

    def counts(self) -> dict[str, int]:
        return {"create": self.added, "update": self.changed, "replace": 0, "delete": self.destroyed, "noop": 0}

    def has_changes(self) -> bool:
        return bool(self.added or self.changed or self.destroyed)

    def summary(self) -> str:
        if not self.has_changes():
            return "no changes: the deployed cell matches the configuration"
        return f"{self.added} added, {self.changed} changed, {self.destroyed} destroyed"

    def lines(self) -> list[str]:
        return [ln for ln in self.text.splitlines() if re.match(r"^\s*[#~+-]", ln)][:200]

    @property
    def drift(self) -> list[Drift]:
        return []  # terraform repairs drift without naming it here


@dataclass
class TerraformOptions:
    """One cell's settings (make_engine copies them from the run's: never shared between cells)."""

    lock_timeout: float = 0.0  # -lock-timeout of apply and destroy
    bootstrap_backend: bool = False


def lock_info_from(text: str) -> dict[str, str]:
    return {m.group(1): m.group(2).strip() for m in LOCK_FIELD_RE.finditer(text)}


class TerraformEngine:
    """The `Engine` (base.py) that runs the terraform binary."""

    name = "terraform"

    def __init__(self, cell: str, config_path: Path, clients: ClientFactory, workdir: Path,
                 options: TerraformOptions,
                 run_id: str, log: Callable[[str], None] | None = None,
                 cancel: threading.Event | None = None) -> None:
        binary = terraform_binary()
        if not binary:
            raise StackmatrixError("--engine terraform: neither terraform nor tofu is on PATH")
        self.binary = binary
        self.cell = cell
        self.config_path = Path(config_path)
        self.clients = clients
        self.workdir = Path(workdir)
        self.options = options
        self.run_id = run_id
        self._log = log or (lambda msg: None)
        self.cancel = cancel or threading.Event()
        doc = json.loads(self.config_path.read_text())
        self.doc = doc
        backend = backend_of(doc)
        if backend is None:
            raise StackmatrixError(f"{self.config_path}: no S3 backend configured")
        self.backend = StateBackend(clients, backend, build_dir() / "state" / cell)
        self.state = None  # terraform holds it: never read into this process
        self.notes: list[str] = []
        self.readback: dict[str, Any] = {}  # terraform's provider reads back on its own
        self.state_kept_locally: Path | None = None  # terraform keeps errored.tfstate itself
        self._outputs: dict[str, Any] = {}
        self._initialized = False

    def log(self, msg: str) -> None:
        self._log(redact(f"[{self.cell}] terraform: {msg}"))

    def use_cancel(self, cancel: threading.Event) -> None:
        self.cancel = cancel

    # -- files and environment ---------------------------------------------------------------
    def _override(self) -> dict[str, Any]:
        endpoint = self.clients.access.endpoint
        if not endpoint:
            return {}
        b = dict(self.doc["terraform"]["backend"]["s3"])
        b.update({
            "endpoints": {svc: endpoint for svc in ("s3", "dynamodb", "iam", "sts")}, "use_path_style": True,
            "skip_credentials_validation": True, "skip_requesting_account_id": True,
            "skip_metadata_api_check": True, "skip_region_validation": True,
        })
        return {
            "provider": {"aws": [{
                "endpoints": [{svc: endpoint for svc in SERVICES}], "s3_use_path_style": True,
                "skip_credentials_validation": True, "skip_metadata_api_check": "true",
                "skip_requesting_account_id": True, "skip_region_validation": True,
            }]},
            "terraform": {"backend": {"s3": b}},
        }

    def prepare(self, backend_only: bool = False) -> Path:
        work = self.workdir / ("backend-only" if backend_only else "")
        work.mkdir(parents=True, exist_ok=True)
        if backend_only:
            doc = {"terraform": {"backend": self.doc["terraform"]["backend"]}}
            override = self._override()
            override.pop("provider", None)
        else:
            doc, override = self.doc, self._override()
        (work / SYNTH_FILE).write_text(json.dumps(doc, indent=2))
        target = work / "stackmatrix_override.tf.json"
        if override:
            target.write_text(json.dumps(override, indent=2))
        else:
            target.unlink(missing_ok=True)
        return work

    def env(self, work: Path) -> dict[str, str]:
        access = self.clients.access
        cache = build_dir() / "terraform" / "plugin-cache"
        cache.mkdir(parents=True, exist_ok=True)
        cli_config = build_dir() / "terraform" / "terraformrc"
        cli_config.write_text(f'plugin_cache_dir = "{cache}"\n')
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TF_"))}
        env.update({
            "TF_IN_AUTOMATION": "1", "TF_INPUT": "0", "TF_DATA_DIR": str(work / ".terraform"),
            "TF_CLI_CONFIG_FILE": str(cli_config), "TF_VAR_run_id": self.run_id,
            "AWS_REGION": access.region, "AWS_DEFAULT_REGION": access.region,
            "CHECKPOINT_DISABLE": "1",
        })
        if access.access_key:
            env["AWS_ACCESS_KEY_ID"] = access.access_key
            env["AWS_SECRET_ACCESS_KEY"] = access.secret_key or ""
        if access.session_token:
            env["AWS_SESSION_TOKEN"] = access.session_token
        if access.profile:
            env["AWS_PROFILE"] = access.profile
        return env

    def run(self, work: Path, *args: str, timeout: float = 1800) -> subprocess.CompletedProcess:
        cmd = [self.binary, *args, "-no-color"]
        self.log(" ".join(cmd[1:]))
        proc = subprocess.Popen(cmd, cwd=work, env=self.env(work), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        deadline = time.monotonic() + timeout
        while True:
            try:
                out, err = proc.communicate(timeout=0.5)
                break
            except subprocess.TimeoutExpired:
                if self.cancel.is_set() or time.monotonic() > deadline:
                    proc.terminate()  # terraform stops gracefully on SIGTERM and saves state
                    out, err = proc.communicate(timeout=120)
                    break
        result = subprocess.CompletedProcess(cmd, proc.returncode, out, err)
        for line in (out + err).splitlines()[-40:]:
            self.log(f"  {line}")
        return result

    @staticmethod
    def _why(proc: subprocess.CompletedProcess) -> str:
        text = (proc.stderr or "") + (proc.stdout or "")
        errors = [ln.strip("│ ").strip() for ln in text.splitlines() if "Error" in ln]
        return redact("; ".join(dict.fromkeys(errors)) or text.strip()[-800:])

    def _check(self, proc: subprocess.CompletedProcess, what: str) -> None:
        if proc.returncode == 0:
            return
        text = (proc.stderr or "") + (proc.stdout or "")
        if "Error acquiring the state lock" in text:
            raise LockHeld(lock_info_from(text), self.options.lock_timeout)
        if "NoSuchBucket" in text:
            raise MissingStateBucket(self.backend.config.bucket, self.backend.config.region)
        if re.search(r"Failed to query available provider packages|Failed to install provider|"
                     r"could not connect to registry|Failed to resolve provider", text):
            raise ProviderUnavailable(
                "terraform could not install the AWS provider (hashicorp/aws): "
                f"{self._why(proc)}. This machine cannot download providers from registry.terraform.io: "
                "provide it through a plugin cache or a filesystem mirror, or use --engine embedded")
        raise TerraformFailed(f"terraform {what} failed: {self._why(proc)}")

    # -- operations --------------------------------------------------------------------------
    def backend_check(self, bootstrap: bool | None = None) -> list[str]:
        flag = self.options.bootstrap_backend if bootstrap is None else bootstrap
        try:
            return self.backend.check(bootstrap=flag)
        except MissingStateBucket as exc:
            # terraform's own verdict on the same backend, for the report
            work = self.prepare(backend_only=True)
            proc = self.run(work, "init", "-input=false", "-reconfigure", timeout=300)
            said = self._why(proc) if proc.returncode else "terraform init succeeded"
            raise MissingStateBucket(self.backend.config.bucket, self.backend.config.region,
                                     detail=f"terraform init said: {said}") from exc

    def init(self) -> Path:
        work = self.prepare()
        if not self._initialized:
            self._check(self.run(work, "init", "-input=false", "-reconfigure", timeout=900), "init")
            self._initialized = True
        return work

    def apply(self) -> PlanSummary:
        work = self.init()
        proc = self.run(work, "apply", "-auto-approve", "-input=false",
                        f"-lock-timeout={int(self.options.lock_timeout)}s")
        self._check(proc, "apply")
        m = re.search(r"(\d+) added, (\d+) changed, (\d+) destroyed", proc.stdout)
        if m:
            added, changed, destroyed = (int(x) for x in m.groups())
            summary = PlanSummary(added, changed, destroyed, text=proc.stdout)
        else:
            summary = PlanSummary(text=proc.stdout)
        self._outputs = self.outputs()
        return summary

    def outputs(self) -> dict[str, Any]:
        work = self.init()
        proc = self.run(work, "output", "-json")
        self._check(proc, "output")
        return {k: v.get("value") for k, v in json.loads(proc.stdout or "{}").items()}

    def current_outputs(self) -> dict[str, Any]:
        return self._outputs or self.outputs()

    def destroy(self) -> int:
        work = self.init()
        listed = self.run(work, "state", "list")
        count = len([ln for ln in listed.stdout.splitlines() if ln and not ln.startswith("data.")])
        proc = self.run(work, "destroy", "-auto-approve", "-input=false",
                        f"-lock-timeout={int(self.options.lock_timeout)}s")
        self._check(proc, "destroy")
        return count

    def force_unlock(self, lock_id: str) -> None:
        work = self.prepare(backend_only=True)  # needs no provider
        self._check(self.run(work, "init", "-input=false", "-reconfigure", timeout=300), "init")
        self._check(self.run(work, "force-unlock", "-force", lock_id), "force-unlock")
