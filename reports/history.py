"""The trend across runs: Allure 3's history file, one JSON line per generated report.

Allure 3 reads the file named by `historyPath` before generating and appends one line (the run's
results keyed by history id) after. It lives at build/allure-history.jsonl by default, outside the
report folder that is wiped before each generation; `--history PATH` points elsewhere (a CI cache),
and publishing keeps a copy next to the published reports.

Two helpers keep the trend honest: `forget_run(path, name)` removes the lines of a report with the
same name (the name carries the run id) before that run is generated again, so regenerating or
re-publishing a run replaces its point instead of adding one; `merge_history(sources, into)` unions
the files of CI shards by entry uuid, in time order.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from matrix.paths import build_dir
from reports.files import write_bytes

FILENAME = "allure-history.jsonl"


def default_history_path() -> Path:
    return build_dir() / FILENAME


def read_entries(path: Path) -> list[dict[str, Any]]:
    """The entries of a history file (unreadable lines are skipped; a missing file is empty)."""
    p = Path(path)
    if not p.is_file():
        return []
    out = []
    for line in p.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict):
            out.append(entry)
    return out


def write_entries(path: Path, entries: Iterable[dict[str, Any]]) -> Path:
    text = "".join(json.dumps(e, separators=(",", ":"), ensure_ascii=False) + "\n" for e in entries)
    return write_bytes(Path(path), text.encode("utf-8"))


def forget_run(path: Path, report_name: str) -> int:
    """Drop the entries of a previous generation of the same report; returns how many."""
    entries = read_entries(path)
    kept = [e for e in entries if e.get("name") != report_name]
    if len(kept) != len(entries):
        write_entries(path, kept)
    return len(entries) - len(kept)


def merge_history(sources: Iterable[Path], into: Path) -> int:
    """Union of history files by entry uuid, oldest first; returns the entry count of `into`."""
    by_uuid: dict[str, dict[str, Any]] = {}
    for src in [Path(into), *map(Path, sources)]:
        for e in read_entries(src):
            key = str(e.get("uuid") or json.dumps(e, sort_keys=True))
            by_uuid.setdefault(key, e)
    entries = sorted(by_uuid.values(), key=lambda e: e.get("timestamp") or 0)
    if entries:
        write_entries(into, entries)
    return len(entries)
