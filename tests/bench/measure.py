"""Measuring helpers shared by the benchmarks: wall time of a callable, and the peak resident memory
of a process tree (a child and all its descendants, e.g. the synth worker and its jsii node
process), sampled every 20 ms (matrix/procs.py reads /proc)."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from matrix import procs


def tree_rss_kb(pid: int) -> int:
    """Resident memory of a process and all its descendants now, in KiB (read through bench.tree)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += procs.rss_kb(p) or 0
        todo.extend(procs.children(p))
    return total


def run_measured(cmd: Sequence[str], *, input_text: str | None = None, env: dict[str, str] | None = None,
                 cwd: str | os.PathLike | None = None) -> tuple[float, int, subprocess.CompletedProcess]:
    """(seconds, peak tree RSS in MB, completed process) for one command."""
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE if input_text is not None else None,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=cwd)
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, tree_rss_kb(proc.pid))
            stop.wait(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate(input_text)
    stop.set()
    sampler.join()
    return time.monotonic() - started, peak // 1024, subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.monotonic()
    value = fn()
    return time.monotonic() - started, value


def save(name: str, summary: dict, report: Callable[[str], None] = print) -> Path:
    """Write a benchmark's figures to build/bench/<name>.json and say where."""
    from matrix.paths import build_dir

    out = build_dir() / "bench" / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2, default=str))
    report(f"written {out}")
    return out


def table(rows: list[tuple[str, ...]], report: Callable[[str], None] = print) -> None:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    for n, row in enumerate(rows):
        report("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=False)))
        if n == 0:
            report("  ".join("-" * w for w in widths))
