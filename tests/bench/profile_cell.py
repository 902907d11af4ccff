"""`nox -s bench -- profile`: where one cell's CPU goes inside OUR process (for docs/performance.md).

    python tests/bench profile [--profile dev] [--top 40]

Runs `python -m matrix run --profile dev --jobs 1 --bootstrap-backend` (report included) under
cProfile in a child process whose every thread is profiled (cProfile alone sees only the main thread;
a cell runs in a worker thread): `threading.Thread.run` is wrapped so that each thread enables its
own profiler, timed by that thread's CPU clock (time.thread_time: sleeping and waiting on sockets or
child processes cost nothing), and all of them are merged at exit into build/bench/profile/run.prof
(its times are CPU seconds of our process; `python -c` in the table of process kinds is our process
under the profiling driver). At the same
time tree.py accounts for the whole process tree, so the table of process kinds says what the other
processes (moto, the strict front, pytest, node) cost next to ours. cProfile's own overhead inflates
our process's figures (about 1.3-2x on call-heavy code): read its output as proportions.
"""

from __future__ import annotations

import os
import pstats
import shutil
import subprocess
import sys
from collections.abc import Callable

from bench.cost import option
from bench.tree import Tree
from matrix.paths import PROJECT_ROOT, build_dir

DRIVER = r"""
import cProfile, pstats, sys, threading, atexit, runpy, time
out = sys.argv.pop(1)
profiles = []
original = threading.Thread.run

def run(self):
    prof = cProfile.Profile(time.thread_time)  # this thread's CPU, not wall time (waits cost nothing)
    profiles.append(prof)
    prof.enable()
    try:
        original(self)
    finally:
        prof.disable()

threading.Thread.run = run
main = cProfile.Profile(time.thread_time)
profiles.append(main)

def dump():
    main.disable()
    stats = None
    for p in profiles:
        try:
            stats = pstats.Stats(p) if stats is None else stats.add(p)
        except TypeError:  # a profiler that never ran
            pass
    stats.dump_stats(out)

atexit.register(dump)
sys.argv = ["matrix", *sys.argv[1:]]
main.enable()
runpy.run_module("matrix", run_name="__main__", alter_sys=True)
"""


def main(argv: list[str], report: Callable[[str], None] = print) -> dict:
    profile = option(argv, "--profile", "dev")
    top = int(option(argv, "--top", "40"))
    work = build_dir() / "bench" / "profile"
    shutil.rmtree(work, ignore_errors=True)
    (work / "build").mkdir(parents=True)
    out = work / "run.prof"
    env = {**os.environ, "STACKMATRIX_BUILD": str(work / "build"), "PYTHONPATH": str(PROJECT_ROOT)}
    tree = Tree()
    tree.spawn([sys.executable, "-c", DRIVER, str(out), "run", "--profile", profile, "--jobs", "1",
                "--bootstrap-backend"], env=env, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL,
               stderr=subprocess.DEVNULL)
    code = tree.wait()
    total = tree.finish()
    report(f"profile of `matrix run --profile {profile} --jobs 1` (exit {code}): tree CPU {total:.1f} s "
           f"({tree.method}); by process kind (own CPU, as sampled):")
    for kind, cpu in tree.breakdown().items():
        if cpu >= 0.05:
            report(f"  {cpu:6.2f} s  {kind}")
    stats = pstats.Stats(str(out))
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)
    report(f"written {out} (python -m pstats {out})")
    return {"exit": code, "cpu": total, "kinds": tree.breakdown()}
