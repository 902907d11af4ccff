"""No AWS secret key, session token or LocalStack auth token ever lands under build/.

Fake secrets are set in the environment (as a real run would have them), put into cell messages,
attachments, an allure-pytest assertion message and attachment; then every report is generated
and every file under the build folder (and the job summary) is searched for them.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from reports_helpers import FAKE_SECRETS, cell_dict, cell_env, run_suite

from matrix.paths import allure_results_dir
from matrix.results import CellResult
from reports.build import build_report

UNSET_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"  # not in the environment: caught by its key name


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name, value in FAKE_SECRETS.items():
        monkeypatch.setenv(name, value)
    return FAKE_SECRETS


def test_secrets_scan_of_the_build_folder(build: Path, make_cells, secrets, tmp_path: Path, allure_cli: Path,
                                          monkeypatch: pytest.MonkeyPatch):
    summary = tmp_path / "step-summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    all_secrets = " ".join(secrets.values())
    cells = make_cells("run-1", secret=all_secrets)
    # more places a secret could slip in: a raw attachment, step details, outputs, the error itself
    cell: CellResult = cells[0]
    cell.attach("env dump", f"AWS_SECRET_ACCESS_KEY={secrets['AWS_SECRET_ACCESS_KEY']}\n"
                f"aws_secret_access_key = {UNSET_SECRET}\n", "env.txt")
    cell.steps[0].details["token"] = secrets["LOCALSTACK_AUTH_TOKEN"]
    cell.outputs["session"] = secrets["AWS_SESSION_TOKEN"]
    cell.error = {"step": "apply", "message": f"boom secret_key={UNSET_SECRET} {all_secrets}"}
    cell.save()
    proc = run_suite(tmp_path, allure_results_dir(), cell_env(cell_dict("us-east-1-dev")), secret=all_secrets)
    assert proc.returncode == 1, proc.stdout + proc.stderr

    outcome = build_report()
    assert outcome.html.ok, outcome.html.message
    build_report(single_file=True, output=build / "single")

    files = [p for p in build.rglob("*") if p.is_file()] + [summary]
    assert len(files) > 50
    leaks = []
    for path in files:
        data = path.read_bytes()
        for value in [*secrets.values(), UNSET_SECRET]:
            if value.encode() in data:
                leaks.append(f"{path}: {value[:12]}...")
    assert not leaks, "\n".join(leaks)
    # and the redaction marker is where the secrets were
    assert "***" in (build / "junit.xml").read_text()
