"""pytest plugin for the per-cell suites: `pytest -p reports.pytest_plugin --alluredir=...`.

It files every allure-pytest result under the cell it ran for, with the labels and parameters of
`reports/labels.py` (parentSuite = region, suite = suffix, subSuite = fault, epic by suite,
feature = target/engine, story = cell id, tags; parameters region/suffix/fault, plus target/engine
shown but excluded from the history id). allure-pytest computes the history id in teardown from
the test's full name and its non-excluded parameters, so adding the cell's region, suffix and fault
as parameters during setup makes the same test's history id differ per cell and stay the same
across runs and shards.

Which cell:
* `$STACKMATRIX_CELL` (JSON of `Cell.to_dict()`): the live and chaos suites, one run per cell;
* `$STACKMATRIX_SUITE_CELLS` (JSON list): the synth suite, which parametrizes over the cells
  itself; a test belongs to the cell whose id is one of its parameter values (`cell`), else to the
  longest cell id inside its test id's brackets. Cross-cell tests keep their default suites.

Which suite (the epic): the folder under suites/ the test file lives in (synth, live, chaos), or
`$STACKMATRIX_SUITE`.

Secrets: at the end of the session every file this session wrote into the alluredir is passed
through `matrix.redact` (JSON structurally), because allure-pytest writes assertion messages and
attachments as they are; the cell's own emulator keys handed to the suite in `$STACKMATRIX_ACCESS`
(secret_key, session_token) are replaced too.

Without allure-pytest enabled (no --alluredir) the labels are no-ops.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from reports import labels as L
from reports.files import redact_json_file, redact_text_file, scrub_file

SUITE_ENV = "STACKMATRIX_SUITE"
ACCESS_ENV = "STACKMATRIX_ACCESS"
_STATE: dict[str, object] = {}


def pytest_configure(config: pytest.Config) -> None:
    _STATE["started"] = time.time() - 1
    _STATE["cell"] = L.cell_from_env()
    _STATE["suite_cells"] = L.suite_cells_from_env()


def suite_of(item: pytest.Item) -> str:
    if os.environ.get(SUITE_ENV):
        return os.environ[SUITE_ENV]
    parts = Path(str(item.path)).parts
    if "suites" in parts:
        i = len(parts) - 1 - parts[::-1].index("suites")
        if i + 1 < len(parts) - 1:
            return parts[i + 1]
    return Path(str(item.path)).parent.name


def cell_of(item: pytest.Item) -> L.CellInfo | None:
    cell = _STATE.get("cell")
    if isinstance(cell, L.CellInfo):
        return cell
    cells = _STATE.get("suite_cells") or {}
    if not isinstance(cells, dict) or not cells:
        return None
    callspec = getattr(item, "callspec", None)
    if callspec is not None:
        for value in callspec.params.values():
            if isinstance(value, str) and value in cells:
                return cells[value]
    name = item.name
    inside = name[name.find("[") + 1:name.rfind("]")] if "[" in name else ""
    matches = [cid for cid in cells if cid in inside]
    return cells[max(matches, key=len)] if matches else None


def apply_cell(cell: L.CellInfo, suite: str) -> None:
    """Label the current allure-pytest test (called while the test is being set up)."""
    import allure

    for name, value in L.labels(cell, suite):
        allure.dynamic.label(name, value)
    for p in L.parameters(cell):
        allure.dynamic.parameter(p["name"], p["value"], excluded=p.get("excluded", False))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item: pytest.Item):
    # A wrapper runs before every plain setup hook, so the labels land even when a skip marker or
    # a failing fixture ends the setup early.
    cell = cell_of(item)
    if cell is not None:
        try:
            apply_cell(cell, suite_of(item))
        except Exception as exc:  # never let reporting break a suite
            item.warn(pytest.PytestWarning(f"stackmatrix: could not label the Allure result: {exc}"))
    yield


def access_secrets(environ: dict[str, str] | None = None) -> list[bytes]:
    """The secret values inside $STACKMATRIX_ACCESS (the suite's credentials for its cell)."""
    raw = (os.environ if environ is None else environ).get(ACCESS_ENV)
    if not raw:
        return []
    try:
        data = json.loads(raw)
    except ValueError:
        return []
    values = [data.get(k) for k in ("secret_key", "session_token", "aws_secret_access_key", "aws_session_token")]
    return sorted({v.encode() for v in values if isinstance(v, str) and len(v) >= 4}, key=len, reverse=True)


def _alluredir(config: pytest.Config) -> Path | None:
    value = getattr(config.option, "allure_report_dir", None)
    return Path(value) if value else None


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    folder = _alluredir(config)
    if folder is None or not folder.is_dir():
        return
    since = float(_STATE.get("started") or 0)  # type: ignore[arg-type]
    extra = access_secrets()
    for path in folder.iterdir():
        # Other cells' suites write into the same folder at the same time: their files being written
        # (allure's `*.tmp`, our `.name.*` temporaries) are left alone; finished ones are safe to
        # redact again (the result is the same).
        if path.name.startswith(".") or path.name.endswith(".tmp"):
            continue
        try:
            if not path.is_file() or path.stat().st_mtime < since:
                continue
            if path.suffix == ".json":
                redact_json_file(path)
            else:
                redact_text_file(path)
            if extra:
                scrub_file(path, extra)
        except (OSError, UnicodeDecodeError):
            continue  # vanished or unreadable: never fail a suite over reporting
