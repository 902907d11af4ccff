"""Processes on this machine as /proc tells them: the one module of the package that reads /proc.

One zombie semantics for every caller: a process that has exited is not running, whether or not its
parent has reaped it yet. A zombie (state Z) or a dead task (X) keeps its pid and answers
`kill(pid, 0)`, so `running()` asks /proc for the state, and a pid that cannot be signalled by us
(PermissionError) but exists counts as running.

* `running(pid)`       exists and has not exited (zombies and dead tasks are not running);
* `alive(pid)`         the same, after reaping `pid` when it is an exited child of ours (else it
                       would stay a zombie for as long as we live); callers that keep a `Popen` of
                       the child ask `running()` instead, so that `Popen.wait()` still gets its code;
* `process_stat(pid)`  (state letter, start time in clock ticks since boot): the start time tells a
                       recycled pid from the process that had it; None when there is no such process,
                       `OSError` when /proc cannot tell;
* `start_time`, `cmdline`, `rss_kb`, `children`: one field each, None (or empty) when unknown;
* `boot_id()`, `pid_namespace()`: what makes a pid mean the same thing to two processes.

Users: the stale-lock proof (matrix/state/stale_lock.py), the managed servers and their fronts
(matrix/targets/), the benchmarks' memory sampling.
"""

from __future__ import annotations

import os
from pathlib import Path

PROC = Path("/proc")


def process_stat(pid: int) -> tuple[str, int] | None:
    """(state letter, start time in clock ticks since boot) of `pid`, None when no such process.

    Raises OSError (PermissionError) when /proc cannot tell."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # "pid (comm) state ppid ..." - comm may hold spaces and parentheses: split after the last ')'
    fields = text[text.rindex(")") + 2:].split()
    return fields[0], int(fields[19])  # field 3 (state) and field 22 (starttime)


def _stat_or_none(pid: int) -> tuple[str, int] | None:
    try:
        return process_stat(pid)
    except (OSError, ValueError, IndexError):
        return None


def start_time(pid: int) -> int | None:
    """Start time of `pid` in clock ticks since boot, None when unknown."""
    stat = _stat_or_none(pid)
    return None if stat is None else stat[1]


def is_zombie(pid: int) -> bool:
    """`pid` has exited and waits to be reaped (or is being torn down); False when unknown."""
    stat = _stat_or_none(pid)
    return stat is not None and stat[0] in ("Z", "X")


def running(pid: int) -> bool:
    """`pid` exists and has not exited (a zombie is not running). Reaps nothing."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, someone else's
    return not is_zombie(pid)


def alive(pid: int) -> bool:
    """`running(pid)`, after reaping `pid` when it is an exited child of ours."""
    if pid <= 0:
        return False
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    except ChildProcessError:
        pass  # not our child
    return running(pid)


def cmdline(pid: int) -> bytes | None:
    """The NUL-separated command line of `pid`, None when /proc cannot tell."""
    try:
        return (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return None


def rss_kb(pid: int) -> int | None:
    """Resident memory of `pid` in KiB (VmRSS), None when unknown."""
    try:
        for line in (PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def children(pid: int) -> list[int]:
    """The direct children of `pid` (every thread's), [] when unknown."""
    out = []
    for task in (PROC / str(pid) / "task").glob("*/children"):
        try:
            out.extend(int(c) for c in task.read_text().split())
        except (OSError, ValueError):
            continue
    return out


def boot_id() -> str | None:
    try:
        return (PROC / "sys" / "kernel" / "random" / "boot_id").read_text().strip()
    except OSError:
        return None


def pid_namespace() -> str | None:
    try:
        return os.readlink(PROC / "self" / "ns" / "pid")
    except OSError:
        return None
