"""The battery's figures: one `Summary` filled by every battery, printed as a table and written to
build/reliability/summary.json.

Each battery adds its own section (`summary.section("kill")` returns a dict it fills) and records
`problems`: one line per figure that broke a promise (a duplicate, a leak, lost state, a traceback,
a secret found, a listener off loopback). `ok` is true when there are none; the CLI exits 1 otherwise.
The JSON keeps the raw per-trial records too, so a failed figure can be traced to its trial.
"""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from matrix.files import write_atomic

# (section, key, label) rows of the table, in order; a missing key is skipped
TABLE = (
    ("kill", "trials", "kill trials"),
    ("kill", "kills", "  SIGKILLs landed"),
    ("kill", "kills_in_crash_window", "  ... between create call and state write"),
    ("kill", "kills_by_phase", "  ... by phase"),
    ("kill", "converged", "  converged on re-apply (33 resources, then no changes)"),
    ("kill", "adopted", "  orphans adopted through the journal"),
    ("kill", "duplicates_found", "  duplicate resources"),
    ("kill", "state_lost", "  state lost (orphans + unreadable states)"),
    ("kill", "leaks_found", "  leaks after destroy"),
    ("kill", "stale_locks_reported", "  stale locks reported (Who + ID)"),
    ("kill", "stale_locks_cleared", "  stale locks cleared (holder provably dead)"),
    ("kill", "lock_policy_checks", "  lock policy checks passed"),
    ("kill", "cli_trials", "  CLI trials (run killed, resumed, destroyed)"),
    ("kill", "seconds", "  seconds"),
    ("signals", "runs", "signal runs"),
    ("signals", "cells_deployed", "  cells deployed when signalled"),
    ("signals", "leaks_found", "  leaks"),
    ("signals", "reports_written", "  reports written"),
    ("signals", "teardown_seconds", "  teardown done after signal (s)"),
    ("signals", "exit_seconds", "  exit after signal (s)"),
    ("signals", "exit_codes", "  exit codes"),
    ("signals", "report_phase_reports", "  report still written when signalled while it is built"),
    ("fuzz", "examples", "fuzz examples (in-process)"),
    ("fuzz", "subprocess_examples", "fuzz examples (subprocess)"),
    ("fuzz", "tracebacks", "  tracebacks / internal errors"),
    ("fuzz", "exit_codes", "  exit codes"),
    ("restart", "restarts_survived", "emulator restarts survived"),
    ("restart", "failure_named", "  failure named the emulator"),
    ("restart", "state_consistent", "  state consistent after the crash"),
    ("restart", "missing_bucket_reported", "  missing state bucket reported"),
    ("restart", "reconverged", "  re-run converged (drift re-created)"),
    ("restart", "leaks_found", "  leaks"),
    ("secrets", "files_scanned", "files scanned for secrets"),
    ("secrets", "secrets_found", "  secrets found"),
    ("secrets", "listeners_checked", "listening addresses checked"),
    ("secrets", "listeners_off_loopback", "  listening off 127.0.0.1"),
)


@dataclass
class Summary:
    seed: int = 0
    started: float = field(default_factory=time.time)
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def section(self, name: str) -> dict[str, Any]:
        return self.sections.setdefault(name, {})

    def problem(self, battery: str, message: str) -> None:
        self.problems.append(f"{battery}: {message}")

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {"seed": self.seed, "started": self.started, "seconds": round(time.time() - self.started, 1),
                "host": {"python": platform.python_version(), "machine": platform.machine(),
                         "cpus": _cpus()},
                "ok": self.ok, "problems": self.problems, **self.sections}

    def write(self, path: Path) -> Path:
        write_atomic(path, json.dumps(self.to_dict(), indent=2, sort_keys=False, default=str))
        return path

    def table(self) -> str:
        rows = []
        for section, key, label in TABLE:
            data = self.sections.get(section)
            if data is None or key not in data:
                continue
            rows.append((label, _fmt(data[key])))
        width = max((len(r[0]) for r in rows), default=10)
        lines = [f"{label:<{width}}  {value}" for label, value in rows]
        lines.append(f"{'problems':<{width}}  {len(self.problems)}")
        lines += [f"  ! {p}" for p in self.problems]
        return "\n".join(lines)


def _cpus() -> int:
    return os.cpu_count() or 0


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.2f}"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_fmt(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(_fmt(v) for v in value)
    return str(value)
