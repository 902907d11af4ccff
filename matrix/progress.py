"""How a run tells its progress: one live display in a terminal, the plain line-per-step log elsewhere.

`for_stream(stream, total, jobs)` picks one of two sinks, both callables taking a log line (what the
runner calls `progress`) and both context managers:

* `PlainProgress` when the stream is not a terminal (CI, pipes, files, TERM=dumb): every line is
  written as it comes, exactly the log this project always printed; CI and the tests parse it.
* `LiveProgress` in a terminal: one rich display for the whole run, redrawn in place: cells done,
  running and failed out of the total, elapsed time and an estimate of the time left, and one row per
  running cell with its current step. Lines that matter print above it as they come (the runner's own
  messages, every failure, each cell's verdict); the per-step chatter of a running cell only updates
  its row (all of it stays in build/cells/<cell>/engine.log).

The runner reports structure through optional hooks that only the live display has
(`cell_started`, `cell_step`, `cell_finished`: see `notify()`), so the plain log is byte for byte what
it was. Leaving the `with` block (normally, on an error or on Ctrl-C) stops the display: the last
frame stays, the cursor is shown again and the streams rich redirected are restored.
"""

from __future__ import annotations

import os
import re
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console, Group
    from rich.live import Live

CELL_LINE = re.compile(r"^\[(?P<cell>[^\]]+)\] (?P<text>.*)$", re.S)
VERDICT = re.compile(r"^(PASSED|FAILED|BROKEN|SKIPPED) in ")
LOUD = re.compile(r"FAILED|not met|error|interrupted|timeout|SIGTERM|Ctrl-C", re.I)
STYLES = {"passed": "green", "failed": "red", "broken": "yellow", "skipped": "dim"}


def notify(progress: Callable[[str], None], hook: str, *args: Any) -> None:
    """Call `progress.<hook>(*args)` when the sink has that hook (only the live display does)."""
    fn = getattr(progress, hook, None)
    if callable(fn):
        fn(*args)


class PlainProgress:
    """One line per message, flushed at once: the log as CI and the tests read it."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream

    def __call__(self, msg: str) -> None:
        print(msg, file=self.stream or sys.stderr, flush=True)

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


@dataclass
class _Cell:
    started: float
    step: str = "starting"
    step_started: float = 0.0
    last: str = ""
    status: str = ""
    finished: float = 0.0


@dataclass
class LiveProgress:
    """The whole run in one display (see the module docstring)."""

    console: Console
    total: int
    jobs: int = 1
    title: str = "stackmatrix run"
    cells: dict[str, _Cell] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _live: Live | None = None

    # -- the runner's sink and hooks -----------------------------------------------------------
    def __call__(self, msg: str) -> None:
        from rich.text import Text  # lazy here and below: rich loads only when a terminal shows the run

        m = CELL_LINE.match(msg)
        if m is None:
            self.console.print(Text(msg))  # the runner's own lines: synth, target, Ctrl-C, ...
            return
        cell, text = m.group("cell"), m.group("text")
        with self._lock:
            state = self.cells.setdefault(cell, _Cell(time.monotonic(), step_started=time.monotonic()))
            state.last = " ".join(text.split())
        if VERDICT.match(text):
            status = text.split()[0].lower()
            self.cell_finished(cell, status)
            self.console.print(Text(msg, style=STYLES.get(status, "")))
        elif LOUD.search(text):
            self.console.print(Text(msg, style="red" if "FAILED" in text or "not met" in text else "yellow"))

    def cell_started(self, cell: str) -> None:
        with self._lock:
            now = time.monotonic()
            self.cells[cell] = _Cell(now, step_started=now)

    def cell_step(self, cell: str, step: str) -> None:
        with self._lock:
            now = time.monotonic()
            state = self.cells.setdefault(cell, _Cell(now))
            state.step, state.step_started, state.last = step, now, ""
        live = self._live
        if live is not None:  # drawn now, not at the next tick: a step shorter than a tick still shows
            live.refresh()

    def cell_finished(self, cell: str, status: str) -> None:
        with self._lock:
            state = self.cells.setdefault(cell, _Cell(time.monotonic()))
            if not state.status:
                state.status, state.finished = status, time.monotonic()

    # -- drawing -------------------------------------------------------------------------------
    def counts(self) -> tuple[int, int, int]:
        """(done, running, failed) right now."""
        done = sum(1 for c in self.cells.values() if c.status)
        failed = sum(1 for c in self.cells.values() if c.status and c.status != "passed")
        return done, len(self.cells) - done, failed

    def eta(self, now: float) -> float | None:
        """Seconds left at the pace so far (cells finished per second of the run), None before the first."""
        done, _, _ = self.counts()
        if not done or done >= self.total:
            return 0.0 if done >= self.total else None
        return (now - self.started) / done * (self.total - done)

    def __rich__(self) -> Group:
        from rich.console import Group
        from rich.progress_bar import ProgressBar
        from rich.table import Table
        from rich.text import Text

        now = time.monotonic()
        with self._lock:
            done, running, failed = self.counts()
            rows = sorted((k, v) for k, v in self.cells.items() if not v.status)
        left = self.eta(now)
        head = Text(f"{self.title}: {done}/{self.total} cells done", style="bold")
        head.append(f" · {running} running")
        head.append(f" · {failed} failed", style="red" if failed else "")
        head.append(f" · {_clock(now - self.started)} elapsed")
        head.append(f" · {'~' + _clock(left) + ' left' if left is not None else 'estimating time left'}")
        table = Table(box=None, show_header=bool(rows), pad_edge=False, expand=False)
        table.add_column("cell", style="cyan", no_wrap=True)
        table.add_column("step", no_wrap=True)
        table.add_column("for", justify="right", no_wrap=True)
        table.add_column("", style="dim", no_wrap=True, overflow="ellipsis", max_width=70)
        for cell, state in rows:
            table.add_row(cell, state.step, f"{now - state.step_started:.0f} s", state.last)
        return Group(head, ProgressBar(total=max(self.total, 1), completed=done, width=60), table)

    # -- lifetime ------------------------------------------------------------------------------
    def __enter__(self) -> LiveProgress:
        from rich.live import Live

        self._live = Live(self, console=self.console, refresh_per_second=4, transient=False,
                          redirect_stdout=True, redirect_stderr=True)
        self._live.start(refresh=True)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.stop()  # last frame stays; cursor shown; stdout/stderr restored
            self._live = None


def _clock(seconds: float | None) -> str:
    s = int(max(0.0, seconds or 0.0))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def is_live_terminal(stream: IO[str]) -> bool:
    """A terminal that can redraw in place (not a pipe, not TERM=dumb)."""
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        return False
    return tty and os.environ.get("TERM", "") != "dumb"


def for_stream(stream: IO[str] | None = None, total: int = 0, jobs: int = 1,
               title: str = "stackmatrix run") -> PlainProgress | LiveProgress:
    target = stream or sys.stderr
    if not is_live_terminal(target):
        return PlainProgress(stream)
    from rich.console import Console

    return LiveProgress(Console(file=target, force_terminal=True), total, jobs, title)
