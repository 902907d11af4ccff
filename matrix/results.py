"""What one cell's run produced, as data: the contract between the runner and the reports.

The runner fills a `CellResult` step by step and writes it to build/cells/<cell-id>/result.json
(after every step, so a killed run still leaves what it did). reports/ reads these files (and the
attachments they name) to write Allure results, the matrix grid, JUnit and Markdown; it never
reaches back into the runner.

Statuses follow Allure (`Status`): passed, failed (an expectation or assertion not met), broken (the
tool or the environment failed), skipped. A cell whose deploy failed *by design* (a fail-cleanly
fault scenario) is `passed` when its expectation was met. `error["category"]` is an `ErrorCategory`
(the tokens reports/categories.py classifies by) or, for an error of no known kind, its class name.
Both are `StrEnum`s: result.json and the reports hold the same strings as before.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from matrix.files import write_atomic
from matrix.paths import build_dir
from matrix.redact import redact, redact_obj

SCHEMA = 1


class Status(StrEnum):
    PASSED = "passed"
    FAILED = "failed"  # an expectation or assertion not met
    BROKEN = "broken"  # the tool or the environment failed
    SKIPPED = "skipped"


class ErrorCategory(StrEnum):
    """Failure kinds a cell's error names (reports/categories.py: each one's message patterns)."""

    THROTTLING = "ThrottlingNotSurvived"
    MISSING_STATE_BUCKET = "MissingStateBucket"
    STATE_LOST = "StateLost"
    LOCK_CONTENTION = "LockContention"
    POLICY = "PolicyViolation"
    LEAKED = "LeakedResources"
    EMULATOR_GAP = "EmulatorGap"
    PRODUCT_DEFECT = "ProductDefect"
    TEST_DEFECT = "TestDefect"
    # the runner's own, outside the report categories
    EMULATOR_GONE = "EmulatorGone"  # the emulator stopped answering: the cell's resources went with it
    TIMEOUT = "timeout"  # the cell's time limit
    INTERRUPTED = "interrupted"  # Ctrl-C / SIGTERM on the run


def now_ms() -> int:
    return int(time.time() * 1000)


def cells_dir() -> Path:
    return build_dir() / "cells"


def cell_dir(cell_id: str) -> Path:
    return cells_dir() / cell_id


@dataclass
class Attachment:
    name: str
    path: str  # relative to the cell's folder build/cells/<cell-id>/
    type: str = "text/plain"


@dataclass
class Step:
    name: str  # "synth", "backend", "apply", "live suite", "chaos expectations", "destroy", "leak check"
    status: Status = Status.PASSED
    started: int = field(default_factory=now_ms)
    stopped: int | None = None
    message: str = ""
    attachments: list[Attachment] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return ((self.stopped or now_ms()) - self.started) / 1000


@dataclass
class CellResult:
    run_id: str
    cell: str
    region: str
    suffix: str
    fault: str | None
    target: str
    engine: str
    profile: str
    status: Status = Status.SKIPPED
    started: int = field(default_factory=now_ms)
    stopped: int | None = None
    expectation: dict[str, Any] = field(default_factory=dict)  # {"kind", "met", "reason"}
    error: dict[str, Any] | None = None  # {"step", "category", "message"}
    steps: list[Step] = field(default_factory=list)
    counters: dict[str, dict[str, int]] = field(default_factory=dict)  # calls/retries/throttles by service
    changes: dict[str, int] = field(default_factory=dict)  # create/update/delete/noop
    outputs: dict[str, Any] = field(default_factory=dict)
    leaks: list[str] = field(default_factory=list)
    faults_injected: int = 0
    account_id: str = ""
    attachments: list[Attachment] = field(default_factory=list)

    # -- files -----------------------------------------------------------------------------------
    @property
    def folder(self) -> Path:
        return cell_dir(self.cell)

    def attach(self, name: str, content: str | bytes | dict | list, filename: str,
               mime: str = "text/plain", step: Step | None = None) -> Attachment:
        """Write an attachment (redacted) next to result.json and list it on the step or cell."""
        self.folder.mkdir(parents=True, exist_ok=True)
        if isinstance(content, dict | list):
            content = json.dumps(redact_obj(content), indent=2, sort_keys=True, default=str)
            mime = "application/json"
        if isinstance(content, str):
            (self.folder / filename).write_text(redact(content))
        else:
            (self.folder / filename).write_bytes(content)
        att = Attachment(name, filename, mime)
        (step.attachments if step else self.attachments).append(att)
        return att

    def save(self) -> Path:
        data = redact_obj({"schema": SCHEMA, **asdict(self)})
        return write_atomic(self.folder / "result.json", json.dumps(data, indent=2, sort_keys=True, default=str),
                            fsync=False)

    @classmethod
    def load(cls, path: Path) -> CellResult:
        data = json.loads(Path(path).read_text())
        data.pop("schema", None)
        steps = [Step(**{**s, "status": Status(s.get("status", Status.PASSED)),
                         "attachments": [Attachment(**a) for a in s.get("attachments", [])]})
                 for s in data.pop("steps", [])]
        atts = [Attachment(**a) for a in data.pop("attachments", [])]
        status = Status(data.pop("status", Status.SKIPPED))
        return cls(**data, status=status, steps=steps, attachments=atts)


def load_results(folder: Path | None = None) -> list[CellResult]:
    root = folder or cells_dir()
    return [CellResult.load(p) for p in sorted(Path(root).glob("*/result.json"))]
