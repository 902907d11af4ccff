"""The bench's process-tree account (tests/bench/tree.py) counts every descendant of a command: a
child reaped by its parent, a daemon that forked twice and was reparented, and what outlives the
root is named and stopped. Both methods: cgroup v2 where one can be made here, and /proc polling."""

from __future__ import annotations

import os
import sys
import time

import pytest
from bench.tree import Tree, make_cgroup

BUSY = r"""
import os, sys, time
def burn(seconds):
    t = time.process_time()
    while time.process_time() - t < seconds:
        pass
middle = os.fork()
if middle == 0:                 # a daemon: forks twice, the middle one exits, init adopts it
    if os.fork() == 0:
        burn(0.4)
        open(sys.argv[1], "w").close()
        time.sleep(60)          # outlives the root: must be named and stopped
    os._exit(0)
os.waitpid(middle, 0)
reaped = os.fork()
if reaped == 0:                 # a child its parent reaps
    burn(0.3)
    os._exit(0)
os.waitpid(reaped, 0)           # that one (os.wait() could take the middle one and leave this running)
burn(0.2)
while not os.path.exists(sys.argv[1]):
    time.sleep(0.02)
"""


def can_make_cgroup() -> bool:
    group = make_cgroup(f"stackmatrix-bench-probe-{os.getpid()}")
    if group is None:
        return False
    group.rmdir()
    return True


@pytest.mark.parametrize("use_cgroup", [True, False], ids=["cgroup", "polling"])
def test_tree_counts_every_descendant_and_stops_what_outlives_the_root(tmp_path, use_cgroup):
    if use_cgroup and not can_make_cgroup():
        pytest.skip("no cgroup v2 can be made here")
    tree = Tree(use_cgroup=use_cgroup, interval=0.02)
    tree.spawn([sys.executable, "-c", BUSY, str(tmp_path / "daemon-done")], env=dict(os.environ), cwd=tmp_path)
    assert tree.wait() == 0
    started = time.monotonic()
    total = tree.finish(grace=3.0)
    assert tree.method == ("cgroup v2" if use_cgroup else "process-tree polling")
    assert total >= 0.85, tree.breakdown()  # 0.4 + 0.3 + 0.2 s burnt, interpreter start on top
    assert tree.leftovers == ["python -c"]  # the daemon, named, then stopped
    assert time.monotonic() - started < 5
    assert tree.peak_rss > 0 and tree.max_processes >= 2
