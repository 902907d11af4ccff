"""Merging CI shards: their allure-results and cells folders into this build, once each.

Each shard job uploads its build folder (or just its allure-results); the report job downloads
them side by side and runs `python -m matrix report --merge DIR...`. `merge(dirs, into)`:

* copies every Allure file into `into/allure-results`; a result whose uuid is already there (the
  same shard downloaded twice, a file re-copied) is not added again, and neither is a second copy
  of the same execution under another uuid (same history id, start and stop);
* copies `cells/<cell-id>/` folders; when two shards hold the same cell, the later run wins;
* keeps one environment.properties / executor.json (the first one found; `into`'s own wins);
* unions the shards' history files into the build's history by entry uuid (`history.merge_history`),
  so the trend stays continuous when each shard restored the same cache;
* keeps one gates.json (the quality-gate limits the shards' runs recorded; `into`'s own wins), so the
  merged report evaluates the gates over all the shards' cells (matrix/gates.py).

A DIR may be a shard's build folder (holding allure-results/ and/or cells/) or an allure-results
folder itself. A DIR that is missing or holds neither raises `UsageError` before anything is copied.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from matrix.errors import UsageError
from matrix.gates import FILENAME as GATES_FILE
from reports import history as H
from reports.files import copy_redacted

SINGLETONS = ("environment.properties", "executor.json", "categories.json")


@dataclass
class MergeStats:
    results: int = 0
    duplicates: int = 0
    files: int = 0
    cells: int = 0
    history_entries: int = 0
    sources: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (f"merged {len(self.sources)} folder(s): {self.results} result(s) added, "
                f"{self.duplicates} duplicate(s) skipped, {self.cells} cell folder(s), "
                f"{self.history_entries} history entr{'y' if self.history_entries == 1 else 'ies'}")


@dataclass(frozen=True)
class Shard:
    root: Path
    results: Path | None
    cells: Path | None
    history: Path | None
    gates: Path | None = None


def _is_results_dir(path: Path) -> bool:
    return any(path.glob("*-result.json")) or any(path.glob("*-container.json"))


def resolve_shard(path: Path) -> Shard:
    p = Path(path)
    if not p.is_dir():
        raise UsageError(f"--merge {path}: no such folder; pass shard build folders (holding "
                         "allure-results/ and cells/) or allure-results folders")
    if _is_results_dir(p):
        results, cells = p, (p.parent / "cells" if (p.parent / "cells").is_dir() else None)
    else:
        results = p / "allure-results" if (p / "allure-results").is_dir() else None
        cells = p / "cells" if (p / "cells").is_dir() else None
    if results is None and cells is None:
        raise UsageError(f"--merge {path}: holds neither allure-results/ nor cells/ nor Allure result "
                         "files; pass a shard's build folder or its allure-results folder")
    hist = next((c for c in (p / H.FILENAME, p.parent / H.FILENAME) if c.is_file()), None)
    gates = next((c for c in (p / GATES_FILE, p.parent / GATES_FILE) if c.is_file()), None)
    return Shard(p, results, cells, hist, gates)


def _identity(data: dict) -> tuple:
    return (data.get("historyId") or data.get("fullName"), data.get("start"), data.get("stop"), data.get("status"))


def _index(results: Path) -> tuple[set[str], set[tuple]]:
    uuids, ids = set(), set()
    for f in results.glob("*-result.json"):
        try:
            data = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        uuids.add(str(data.get("uuid")))
        ids.add(_identity(data))
    return uuids, ids


def _merge_results(src: Path, into: Path, stats: MergeStats) -> None:
    into.mkdir(parents=True, exist_ok=True)
    uuids, ids = _index(into)
    for f in sorted(src.iterdir()):
        if not f.is_file() or f.name.endswith(".tmp") or f.name.startswith("."):
            continue
        target = into / f.name
        if f.name.endswith("-result.json"):
            try:
                data = json.loads(f.read_text(encoding="utf-8"))
            except ValueError:
                continue
            if str(data.get("uuid")) in uuids or _identity(data) in ids:
                stats.duplicates += 1
                continue
            uuids.add(str(data.get("uuid")))
            ids.add(_identity(data))
            copy_redacted(f, target)
            stats.results += 1
        elif f.name in SINGLETONS:
            if not target.exists():
                copy_redacted(f, target)
        elif not target.exists():
            copy_redacted(f, target)
            stats.files += 1


def _stopped(folder: Path) -> int:
    try:
        data = json.loads((folder / "result.json").read_text())
    except (OSError, ValueError):
        return -1
    return int(data.get("stopped") or data.get("started") or 0)


def _merge_cells(src: Path, into: Path, stats: MergeStats) -> None:
    for cell in sorted(p for p in src.iterdir() if (p / "result.json").is_file()):
        target = into / cell.name
        if target.exists():
            if target.resolve() == cell.resolve() or _stopped(target) >= _stopped(cell):
                continue
            shutil.rmtree(target)
        target.mkdir(parents=True, exist_ok=True)
        for f in cell.rglob("*"):
            if f.is_file():
                copy_redacted(f, target / f.relative_to(cell))
        stats.cells += 1


def merge(dirs: Sequence[Path], into: Path, history: Path | None = None) -> MergeStats:
    """Merge shard folders into the build folder `into` (its allure-results/ and cells/)."""
    shards = [resolve_shard(Path(d)) for d in dirs]  # validate all before copying anything
    into = Path(into)
    results_into, cells_into = into / "allure-results", into / "cells"
    stats = MergeStats(sources=[str(s.root) for s in shards])
    for shard in shards:
        if shard.results is not None and shard.results.resolve() != results_into.resolve():
            _merge_results(shard.results, results_into, stats)
        if shard.cells is not None and shard.cells.resolve() != cells_into.resolve():
            cells_into.mkdir(parents=True, exist_ok=True)
            _merge_cells(shard.cells, cells_into, stats)
    gates_into = into / GATES_FILE
    for shard in shards:
        if shard.gates is not None and not gates_into.exists():
            copy_redacted(shard.gates, gates_into)
    hist = Path(history) if history else into / H.FILENAME
    sources = [s.history for s in shards if s.history is not None and s.history.resolve() != hist.resolve()]
    stats.history_entries = H.merge_history(sources, hist) if sources else len(H.read_entries(hist))
    return stats
