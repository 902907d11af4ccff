"""The run's environment (what ran where, with which versions), written once per run.

`collect_environment(run)` starts from what the runner knows (`run`: run id, profile, target,
engine, cdk flavor, LocalStack version, ...) and fills what it can find itself: the Python
version, installed package versions (importlib.metadata), the CDK flavor and provider versions
recorded by synth (build/synth/*/meta.json and the synthesized `required_providers`), `terraform
version -json` when terraform is on PATH, and the git commit. The runner's values win.

`write_environment(results_dir, env)` writes `environment.properties`, which both Allure 2 and
Allure 3 read from the results folder (Allure 3's reader turns it into the report's Environment
widget; its config's `environments` key is something else: splitting one report by environment).
Keys are dotted, without spaces, so that the .properties format needs no escaping.
"""

from __future__ import annotations

import importlib.metadata as md
import json
import os
import platform
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from matrix.paths import PROJECT_ROOT, SYNTH_FILE, synth_dir
from reports.files import write_text

FILENAME = "environment.properties"

#: runner dict key -> property key (anything else the runner passes is kept under its own name)
RUN_KEYS = {
    "run_id": "run.id", "profile": "profile", "target": "target", "engine": "engine",
    "cdk": "cdk.flavor", "flavor": "cdk.flavor", "localstack": "localstack", "cells": "cells",
    "shard": "shard", "jobs": "jobs",
}
PACKAGES = {
    "cdktf": "cdktf", "cdktf-cdktf-provider-aws": "cdktf.provider.aws",
    "cdktn": "cdktn", "cdktn-provider-aws": "cdktn.provider.aws",
    "jsii": "jsii", "moto": "moto", "boto3": "boto3", "botocore": "botocore",
    "pytest": "pytest", "allure-pytest": "allure.pytest",
}


def _version(dist: str) -> str | None:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


def _synth_facts(folder: Path) -> dict[str, str]:
    """CDK flavor and versions as synth recorded them, and the AWS provider the JSON requires."""
    facts: dict[str, str] = {}
    for meta in sorted(folder.glob("*/meta.json"))[:1]:
        try:
            data = json.loads(meta.read_text())
        except (OSError, ValueError):
            continue
        if data.get("flavor"):
            facts["cdk.flavor"] = str(data["flavor"])
        for dist, version in (data.get("versions") or {}).items():
            key = PACKAGES.get(dist)
            if key:
                facts[key] = str(version)
        try:
            doc = json.loads((meta.parent / SYNTH_FILE).read_text())
            aws = ((doc.get("terraform") or {}).get("required_providers") or {}).get("aws") or {}
            if aws.get("version"):
                facts["provider.hashicorp.aws"] = str(aws["version"])
        except (OSError, ValueError):
            pass
    return facts


def terraform_version() -> str | None:
    exe = shutil.which("terraform")
    if not exe:
        return None
    env = {**os.environ, "TF_CLI_CONFIG_FILE": "/dev/null", "CHECKPOINT_DISABLE": "1"}
    try:
        proc = subprocess.run([exe, "version", "-json"], capture_output=True, text=True, timeout=20,
                              env=env, check=False)
        return json.loads(proc.stdout).get("terraform_version")
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return None


def git_commit(root: Path = PROJECT_ROOT) -> str | None:
    for var in ("GITHUB_SHA", "CI_COMMIT_SHA", "GIT_COMMIT"):
        if os.environ.get(var):
            return os.environ[var]
    if not shutil.which("git"):
        return None
    try:
        proc = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                              text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    return proc.stdout.strip() or None


def collect_environment(run: Mapping[str, Any] | None = None, *, synth: Path | None = None,
                        probe_tools: bool = True) -> dict[str, str]:
    """Ordered environment properties; `run` (from the runner) overrides what is detected."""
    env: dict[str, str] = {"python": f"{platform.python_implementation()} {platform.python_version()}",
                           "os": f"{platform.system()} {platform.release()} {platform.machine()}"}
    for dist, key in PACKAGES.items():
        version = _version(dist)
        if version:
            env[key] = version
    env.update(_synth_facts(Path(synth) if synth else synth_dir()))
    if "cdk.flavor" not in env:
        flavor = os.environ.get("STACKMATRIX_CDK") or ("cdktf" if "cdktf" in env else "cdktn" if "cdktn" in env else "")
        if flavor:
            env["cdk.flavor"] = flavor
    if probe_tools:
        tf = terraform_version()
        if tf:
            env["terraform"] = tf
        commit = git_commit()
        if commit:
            env["git.commit"] = commit
    for key, value in (run or {}).items():
        if value is None or value == "":
            continue
        text = ",".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
        env[RUN_KEYS.get(key, key)] = text
    return env


def properties_text(env: Mapping[str, str]) -> str:
    def esc(text: str, key: bool = False) -> str:
        text = text.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "")
        if key:
            text = text.replace(" ", "\\ ").replace("=", "\\=").replace(":", "\\:")
        return text

    return "".join(f"{esc(k, key=True)}={esc(str(v))}\n" for k, v in env.items())


def write_environment(results_dir: Path, env: Mapping[str, str]) -> Path:
    """Write `environment.properties` into the results folder (replacing the previous one)."""
    return write_text(Path(results_dir) / FILENAME, properties_text(env))


def read_environment(results_dir: Path) -> dict[str, str]:
    """The properties written by `write_environment` (simple key=value lines)."""
    path = Path(results_dir) / FILENAME
    if not path.is_file():
        return {}
    out: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if not line or line.startswith(("#", "!")) or "=" not in line:
            continue
        key, _, value = line.partition("=")
        out[key.replace("\\ ", " ").replace("\\=", "=").replace("\\:", ":")] = value.replace("\\n", "\n")
    return out
