"""matrix/procs.py: one zombie semantics (an exited process is not running, reaped or not), and
`alive()` reaps our own exited child while `running()` leaves its exit code to its Popen."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from matrix import procs


def exited_child() -> subprocess.Popen:
    child = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    deadline = time.monotonic() + 30
    while not procs.is_zombie(child.pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert procs.is_zombie(child.pid), "the child should have exited, unreaped"
    return child


def test_a_zombie_is_not_running_and_running_reaps_nothing():
    child = exited_child()
    assert not procs.running(child.pid)
    assert procs.is_zombie(child.pid), "running() must not reap"
    assert child.wait(timeout=10) == 3, "its Popen still gets the exit code"


def test_alive_reaps_our_exited_child():
    child = exited_child()
    assert not procs.alive(child.pid)
    assert procs.process_stat(child.pid) is None, "reaped: the pid is gone"
    child.returncode = 0  # reaped behind Popen's back: keep its destructor quiet


def test_this_process_is_running_with_a_start_time():
    me = os.getpid()
    assert procs.running(me) and procs.alive(me)
    assert procs.start_time(me) == procs.process_stat(me)[1] > 0
    assert procs.rss_kb(me) > 0 and b"python" in (procs.cmdline(me) or b"").lower()
    assert not procs.running(0) and procs.process_stat(2**22 + 1) is None
