"""Where the run executed: GitHub Actions, GitLab CI, Jenkins, or a local machine.

`detect_ci(environ)` reads the CI's documented variables (the same ones Allure 3's own CI
detection reads) and returns a `CiInfo` with the CI's name and the links to the build; it is used
for the report's `executor.json` (Allure 2 and 3 both read it from the results folder) and for the
one line a run prints ("running in GitHub Actions: <run url>"). Nothing here reads tokens: only
names, numbers and URLs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reports.files import write_json

FILENAME = "executor.json"


@dataclass(frozen=True)
class CiInfo:
    type: str  # "github" | "gitlab" | "jenkins" | "local" (Allure's executor types)
    name: str  # "GitHub Actions" | "GitLab CI" | "Jenkins" | "local"
    build_name: str = ""
    build_url: str = ""
    build_order: int | None = None
    job_url: str = ""  # the workflow / pipeline list / job page
    repository_url: str = ""
    branch: str = ""

    @property
    def is_ci(self) -> bool:
        return self.type != "local"

    def describe(self) -> str:
        """One line for the run's output."""
        if not self.is_ci:
            return "running locally (no CI detected)"
        where = f" {self.build_name}" if self.build_name else ""
        url = f": {self.build_url}" if self.build_url else ""
        return f"running in {self.name}{where}{url}"


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def detect_ci(environ: Mapping[str, str] | None = None) -> CiInfo:
    env = os.environ if environ is None else environ

    def get(name: str) -> str:
        return env.get(name, "") or ""

    if get("GITHUB_ACTIONS"):
        server = get("GITHUB_SERVER_URL") or "https://github.com"
        repo, run_id = get("GITHUB_REPOSITORY"), get("GITHUB_RUN_ID")
        workflow = get("GITHUB_WORKFLOW")
        attempt = get("GITHUB_RUN_ATTEMPT")
        name = " ".join(filter(None, [workflow, f"#{get('GITHUB_RUN_NUMBER')}" if get("GITHUB_RUN_NUMBER") else "",
                                      get("GITHUB_JOB"), f"(attempt {attempt})" if attempt and attempt != "1" else ""]))
        return CiInfo(
            "github", "GitHub Actions", build_name=name,
            build_url=f"{server}/{repo}/actions/runs/{run_id}" if repo and run_id else "",
            build_order=_int(get("GITHUB_RUN_NUMBER")),
            job_url=f"{server}/{repo}/actions" if repo else "",
            repository_url=f"{server}/{repo}" if repo else "",
            branch=get("GITHUB_HEAD_REF") or get("GITHUB_REF_NAME"),
        )
    if get("GITLAB_CI"):
        name = " ".join(filter(None, [get("CI_PROJECT_PATH"), f"pipeline #{get('CI_PIPELINE_ID')}"
                                      if get("CI_PIPELINE_ID") else "", get("CI_JOB_NAME")]))
        return CiInfo(
            "gitlab", "GitLab CI", build_name=name,
            build_url=get("CI_PIPELINE_URL") or get("CI_JOB_URL"),
            build_order=_int(get("CI_PIPELINE_IID") or get("CI_PIPELINE_ID")),
            job_url=get("CI_JOB_URL"),
            repository_url=get("CI_PROJECT_URL"),
            branch=get("CI_COMMIT_REF_NAME"),
        )
    if get("JENKINS_URL"):
        return CiInfo(
            "jenkins", "Jenkins", build_name=get("BUILD_DISPLAY_NAME") or
            " ".join(filter(None, [get("JOB_NAME"), f"#{get('BUILD_NUMBER')}" if get("BUILD_NUMBER") else ""])),
            build_url=get("BUILD_URL"), build_order=_int(get("BUILD_NUMBER")), job_url=get("JOB_URL"),
            repository_url=get("GIT_URL"), branch=get("BRANCH_NAME") or get("GIT_BRANCH"),
        )
    return CiInfo("local", "local")


def executor(ci: CiInfo, report_name: str = "", report_url: str = "") -> dict[str, Any]:
    """Allure's executor.json fields."""
    data: dict[str, Any] = {"name": ci.name, "type": ci.type}
    if ci.job_url:
        data["url"] = ci.job_url
    if ci.build_order is not None:
        data["buildOrder"] = ci.build_order
    if ci.build_name:
        data["buildName"] = ci.build_name
    if ci.build_url:
        data["buildUrl"] = ci.build_url
    if report_name:
        data["reportName"] = report_name
    if report_url:
        data["reportUrl"] = report_url
    return data


def write_executor(results_dir: Path, ci: CiInfo | None = None, report_name: str = "",
                   report_url: str = "") -> Path:
    return write_json(Path(results_dir) / FILENAME, executor(ci or detect_ci(), report_name, report_url))
