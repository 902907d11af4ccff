"""Stale state locks: is the holder of a lock provably dead, on this very machine?

Terraform never breaks a lock on its own: a lock left by a killed run stays until someone runs
`terraform force-unlock ID`. stackmatrix keeps that promise for every lock it cannot judge, and does
one thing more for the one case it can prove: a lock that a stackmatrix process on this machine took,
whose process is gone.

The proof rests on what the engine writes into the lock's `Info` JSON when it takes a lock
(`holder_identity()`): the tool name, the host name, the kernel's boot id, the PID namespace, the
pid and that process's start time (clock ticks since boot, matrix/procs.py `process_stat`). The
holder is dead when all of

* `tool` is "stackmatrix" (terraform's own locks, and locks by other tools, are never judged),
* `host`, `boot_id` and `pid_ns` equal ours (same machine, same boot, same PID namespace: a pid
  means the same thing to us as it did to the holder; a container sharing the host name or a
  machine that rebooted is not "the same" and its locks are left alone),
* and its pid no longer runs, or has exited and awaits reaping (zombie), or now belongs to another
  process (a different start time: pids are recycled).

Anything else (the holder alive, another host, a field missing, /proc unreadable) is not a proof:
the lock stays and `LockHeld` names its holder (Who) and ID, to be released with `--force-unlock`
or `python -m matrix force-unlock ID --cell CELL`.

`release_if_dead(backend, lock, log)` releases a provably stale lock by its ID (the backend refuses
if the lock changed hands meanwhile, so two runs judging the same stale lock cannot break a fresh
one) and logs who held it and why it was judged dead. The embedded engine calls it when its first
attempt to take the lock fails (matrix/engines/embedded/engine.py, `EmbeddedEngine._lock`).
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable
from typing import Any

from matrix.errors import StackmatrixError
from matrix.procs import boot_id, pid_namespace, process_stat

TOOL = "stackmatrix"
IDENTITY_KEYS = ("host", "boot_id", "pid_ns")


def holder_identity() -> dict[str, Any]:
    """What the engine writes into a lock's Info so that a later run can judge the holder."""
    out: dict[str, Any] = {"tool": TOOL, "pid": os.getpid(), "host": socket.gethostname()}
    stat = None
    try:
        stat = process_stat(os.getpid())
    except (OSError, ValueError, IndexError):
        stat = None
    boot, ns = boot_id(), pid_namespace()
    if stat is not None and boot and ns:
        out.update(pid_start=stat[1], boot_id=boot, pid_ns=ns)
    return out


def lock_details(lock: dict[str, Any]) -> dict[str, Any]:
    """The Info JSON of a lock (terraform's lock format), {} when absent or not JSON."""
    info = lock.get("Info")
    if isinstance(info, dict):
        return info
    if not isinstance(info, str):
        return {}
    try:
        data = json.loads(info)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def why_dead(lock: dict[str, Any]) -> str | None:
    """The proof that the lock's holder is dead on this machine, or None when it cannot be proven."""
    details = lock_details(lock)
    if details.get("tool") != TOOL:
        return None
    me = holder_identity()
    if any(not details.get(k) or details.get(k) != me.get(k) for k in IDENTITY_KEYS):
        return None
    pid, start = details.get("pid"), details.get("pid_start")
    if isinstance(pid, bool) or isinstance(start, bool) or not isinstance(pid, int) or not isinstance(start, int):
        return None
    if pid <= 0:
        return None
    if pid == os.getpid():
        return None  # never judge ourselves: another engine in this process may hold it
    try:
        stat = process_stat(pid)
    except (OSError, ValueError, IndexError):
        return None
    where = f"on {details['host']}"
    if stat is None:
        return f"its process {pid} {where} no longer runs"
    state, started = stat
    if started != start:
        return (f"pid {pid} {where} now belongs to another process (started at tick {started}, "
                f"the holder at tick {start})")
    if state in ("Z", "X"):
        return f"its process {pid} {where} has exited (not yet reaped)"
    return None


def describe(lock: dict[str, Any]) -> str:
    return (f"lock {lock.get('ID', '?')} held by {lock.get('Who', '?')} "
            f"(operation {lock.get('Operation', '?')}, created {lock.get('Created', '?')})")


def release_if_dead(backend: Any, lock: dict[str, Any] | None, log: Callable[[str], None]) -> bool:
    """Release `lock` when its holder is provably dead; True when released. Never raises for a lock
    that changed hands meanwhile (the backend refuses to release another ID: then False)."""
    if not lock or not lock.get("ID"):
        return False
    reason = why_dead(lock)
    if reason is None:
        return False
    try:
        backend.unlock(lock["ID"], force=True)
    except StackmatrixError as exc:
        log(f"stale {describe(lock)} was not released: {exc}")
        return False
    log(f"released stale state {describe(lock)}: {reason}")
    return True
