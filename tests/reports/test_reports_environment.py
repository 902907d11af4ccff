"""Environment properties and CI detection (executor.json)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from matrix.paths import PROJECT_ROOT
from reports.environment import collect_environment, properties_text, read_environment, write_environment
from reports.executor import detect_ci, executor

GITHUB = {"GITHUB_ACTIONS": "true", "GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "acme/infra",
          "GITHUB_RUN_ID": "987654", "GITHUB_RUN_NUMBER": "42", "GITHUB_WORKFLOW": "nightly", "GITHUB_JOB": "matrix",
          "GITHUB_REF_NAME": "main"}
GITLAB = {"GITLAB_CI": "true", "CI_PIPELINE_URL": "https://gitlab.example/acme/infra/-/pipelines/55",
          "CI_JOB_URL": "https://gitlab.example/acme/infra/-/jobs/77", "CI_PIPELINE_ID": "55", "CI_PIPELINE_IID": "12",
          "CI_PROJECT_PATH": "acme/infra", "CI_JOB_NAME": "matrix", "CI_PROJECT_URL": "https://gitlab.example/acme/infra"}
JENKINS = {"JENKINS_URL": "https://ci.example/", "BUILD_URL": "https://ci.example/job/infra/31/", "BUILD_NUMBER": "31",
           "JOB_NAME": "infra", "JOB_URL": "https://ci.example/job/infra/"}


def test_detect_github_actions():
    ci = detect_ci(GITHUB)
    assert (ci.type, ci.name) == ("github", "GitHub Actions")
    assert ci.build_url == "https://github.com/acme/infra/actions/runs/987654"
    assert ci.build_order == 42 and "nightly" in ci.build_name
    assert ci.describe() == f"running in GitHub Actions {ci.build_name}: {ci.build_url}"
    data = executor(ci, "stackmatrix nightly run 1", "https://reports.example/run-1/")
    assert data["type"] == "github" and data["buildUrl"] == ci.build_url and data["buildOrder"] == 42
    assert data["reportUrl"] == "https://reports.example/run-1/" and data["url"] == "https://github.com/acme/infra/actions"


def test_detect_gitlab_and_jenkins_and_local():
    gl = detect_ci(GITLAB)
    assert (gl.type, gl.name, gl.build_url, gl.build_order) == (
        "gitlab", "GitLab CI", GITLAB["CI_PIPELINE_URL"], 12)
    assert gl.job_url == GITLAB["CI_JOB_URL"]
    jk = detect_ci(JENKINS)
    assert (jk.type, jk.name, jk.build_url, jk.build_order) == ("jenkins", "Jenkins", JENKINS["BUILD_URL"], 31)
    assert jk.build_name == "infra #31"
    local = detect_ci({"CI": "true"})
    assert (local.type, local.is_ci) == ("local", False)
    assert local.describe() == "running locally (no CI detected)"
    assert executor(local) == {"name": "local", "type": "local"}


def test_environment_has_versions_and_run_values(tmp_path: Path, build: Path):
    env = collect_environment({"run_id": "r-7", "profile": "nightly", "target": "localstack",
                               "engine": "terraform", "localstack": "4.13.1", "cdk": "cdktn"})
    for key in ("python", "botocore", "boto3", "moto"):
        assert env.get(key), key
    assert env["run.id"] == "r-7" and env["profile"] == "nightly" and env["target"] == "localstack"
    assert env["engine"] == "terraform" and env["localstack"] == "4.13.1" and env["cdk.flavor"] == "cdktn"
    if (PROJECT_ROOT / ".git").exists():
        assert len(env.get("git.commit", "")) >= 7
    if env.get("terraform"):
        assert env["terraform"][0].isdigit()
    write_environment(tmp_path, env)
    assert read_environment(tmp_path) == env


def test_environment_reads_synth_metadata(tmp_path: Path):
    cell = tmp_path / "synth" / "us-east-1-dev"
    cell.mkdir(parents=True)
    (cell / "meta.json").write_text(json.dumps({"flavor": "cdktn", "versions": {"cdktn": "0.24.0",
                                                                                "cdktn-provider-aws": "25.8.1"}}))
    (cell / "cdk.tf.json").write_text(json.dumps({"terraform": {"required_providers": {"aws": {"version": "6.69.1"}}}}))
    env = collect_environment(synth=tmp_path / "synth", probe_tools=False)
    assert env["cdk.flavor"] == "cdktn" and env["cdktn.provider.aws"] == "25.8.1"
    assert env["provider.hashicorp.aws"] == "6.69.1"


def test_properties_escaping():
    text = properties_text({"a b": "x=y", "multi": "1\n2"})
    assert text == "a\\ b=x=y\nmulti=1\\n2\n"


def test_report_in_github_actions_writes_executor(tmp_path: Path, build: Path, make_cells):
    """A real subprocess with the CI variables set: executor.json and the printed line."""
    make_cells("run-gh")
    script = tmp_path / "report.py"
    script.write_text("from reports.build import build_report\n"
                      "o = build_report(html=False)\nprint('\\n'.join(o.lines()))\n")
    env = {**os.environ, **GITHUB, "PYTHONPATH": str(PROJECT_ROOT), "STACKMATRIX_BUILD": str(build),
           "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md")}
    proc = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=60,
                          check=True)
    assert proc.stdout.splitlines()[0].startswith("running in GitHub Actions nightly #42")
    data = json.loads((build / "allure-results" / "executor.json").read_text())
    assert data["name"] == "GitHub Actions" and data["buildUrl"].endswith("/actions/runs/987654")
    assert data["reportName"] == "stackmatrix dev run run-gh"
    assert (tmp_path / "summary.md").read_text().startswith("### stackmatrix dev run run-gh")
