"""The warm pytest worker (matrix/suite_worker.py): real pytest runs in forked children of one real
worker process. Pinned: each run is its own session (a module global, a failure, the junit file and
the exit code of one run never reach the next), the run's environment and cwd are the child's, a
timeout kills the child, and the worker ends with the process that started it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from matrix import procs, suite_worker
from matrix.paths import PROJECT_ROOT
from matrix.runner import suite_outcomes
from matrix.suite_worker import SuiteWorker, enabled
from matrix.suites import run_suite

pytestmark = pytest.mark.skipif(not enabled(), reason="the warm worker needs os.fork")

# a suite that leaves a mark in a module the worker preloaded (matrix.clients), and fails or passes
# by its environment: the second run must see neither the first's mark nor its failure
SUITE = textwrap.dedent('''
    import os
    import matrix.clients

    def test_cell():
        assert getattr(matrix.clients, "_LEAKED_BY", None) is None, matrix.clients._LEAKED_BY
        matrix.clients._LEAKED_BY = os.environ["CELL"]
        assert os.getcwd() == os.environ["EXPECT_CWD"]
        assert os.environ.get("ONLY_IN_A") is None or os.environ["CELL"] == "a"
        print("cell", os.environ["CELL"])
        assert os.environ["CELL"] != "a", "cell a fails on purpose"
''')


@pytest.fixture(scope="module")
def worker():
    w = SuiteWorker()
    yield w
    w.stop()


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), **extra}


def _failures(junit: Path) -> list[str]:
    return [f["test"] for f in suite_outcomes(junit)["failed"]]


def test_runs_are_isolated_sessions(worker: SuiteWorker, tmp_path: Path) -> None:
    (tmp_path / "test_cell.py").write_text(SUITE)
    results = {}
    for cell in ("a", "b", "a", "b"):
        junit = tmp_path / f"junit-{cell}.xml"
        proc = worker.run([str(tmp_path), "-q", "-s", "-p", "no:cacheprovider", f"--junitxml={junit}"],
                          _env(CELL=cell, EXPECT_CWD=str(tmp_path), **({"ONLY_IN_A": "1"} if cell == "a" else {})),
                          timeout=60, cwd=tmp_path)
        results[cell] = proc
        assert f"cell {cell}" in proc.stdout
        assert _failures(junit) == (["test_cell::test_cell"] if cell == "a" else [])
    assert results["a"].returncode == 1 and "cell a fails on purpose" in results["a"].stdout
    assert results["b"].returncode == 0 and "1 passed" in results["b"].stdout
    assert "_LEAKED_BY" not in results["b"].stdout  # b never saw a's module global
    assert "cell a" not in results["b"].stdout  # nor its output


def test_concurrent_runs_each_get_their_own_output(worker: SuiteWorker, tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor  # lazy: this test only

    (tmp_path / "test_cell.py").write_text(SUITE)
    with ThreadPoolExecutor(2) as pool:
        futures = {cell: pool.submit(worker.run, [str(tmp_path), "-q", "-s", "-p", "no:cacheprovider"],
                                     _env(CELL=cell, EXPECT_CWD=str(tmp_path)), 60, tmp_path)
                   for cell in ("b", "c")}
    for cell, future in futures.items():
        proc = future.result()
        assert proc.returncode == 0, proc.stdout
        assert f"cell {cell}" in proc.stdout and f"cell {'c' if cell == 'b' else 'b'}" not in proc.stdout


def test_timeout_kills_the_child(worker: SuiteWorker, tmp_path: Path) -> None:
    (tmp_path / "test_slow.py").write_text("import time\n\ndef test_slow():\n    time.sleep(120)\n")
    started = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):
        worker.run([str(tmp_path), "-q", "-p", "no:cacheprovider"], _env(), timeout=2, cwd=tmp_path)
    assert time.monotonic() - started < 30
    assert worker.pid is not None
    deadline = time.monotonic() + 10
    while procs.children(worker.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert procs.children(worker.pid) == [], "the timed-out child outlived its timeout"
    # the worker still serves
    (tmp_path / "test_slow.py").write_text("def test_quick():\n    pass\n")
    assert worker.run([str(tmp_path), "-q", "-p", "no:cacheprovider"], _env(), 60, tmp_path).returncode == 0


def test_worker_ignores_ctrl_c_and_ends_with_its_parent(tmp_path: Path) -> None:
    script = textwrap.dedent('''
        import os, sys
        from matrix.suite_worker import SuiteWorker
        w = SuiteWorker()
        folder = w._ensure()
        print(w.pid, folder, flush=True)
        sys.stdin.readline()
        os._exit(9)  # no stop(): the worker must notice on its own
    ''')
    parent = subprocess.Popen([sys.executable, "-c", script], cwd=PROJECT_ROOT, env=_env(), text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert parent.stdout is not None and parent.stdin is not None
    pid_text, folder = parent.stdout.readline().split()
    pid = int(pid_text)
    assert (Path(folder) / "sock").exists() and (Path(folder) / "pid").read_text() == pid_text
    os.kill(pid, signal.SIGINT)
    time.sleep(1.0)
    assert procs.running(pid), "Ctrl-C reached the worker: it decides nothing, the run does"
    parent.stdin.write("\n")
    parent.stdin.flush()
    assert parent.wait(timeout=30) == 9
    deadline = time.monotonic() + 10
    while procs.running(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not procs.running(pid), "the worker outlived the process that started it"
    assert not Path(folder).exists(), "the worker left its folder (and socket) behind"


def test_folders_of_workers_that_died_unseen_are_swept(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(suite_worker, "SHORT_TMP", str(tmp_path))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    for name, pid in (("dead", dead), ("alive", str(os.getpid())), ("starting", None)):
        folder = tmp_path / f"{suite_worker.PREFIX}{name}"
        folder.mkdir()
        if pid is not None:
            (folder / "pid").write_text(pid)
    old = tmp_path / f"{suite_worker.PREFIX}old-no-pid"
    old.mkdir()
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    removed = suite_worker.sweep_stale_folders()
    prefix = suite_worker.PREFIX
    assert sorted(Path(r).name for r in removed) == [f"{prefix}dead", f"{prefix}old-no-pid"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{prefix}alive", f"{prefix}starting"]


def test_a_worker_that_cannot_start_gives_way_to_processes(tmp_path: Path, capfd) -> None:
    worker = SuiteWorker()
    worker.module = "matrix.no_such_worker"  # the worker's interpreter fails at once
    proc = run_suite(worker, "live", ["--collect-only"], _env(), 120)
    assert "test_vpc.py" in proc.stdout  # the suite still ran, as a process of its own
    assert worker.failed and "No module named matrix.no_such_worker" in worker.failed
    assert "suite worker: could not start" in capfd.readouterr().err
    proc = run_suite(worker, "live", ["--collect-only"], _env(), 120)  # not tried again
    assert "test_vpc.py" in proc.stdout and worker.pid is None


def test_a_worker_that_hangs_at_start_is_stopped_and_gives_way_to_processes(
        tmp_path: Path, monkeypatch, capfd) -> None:
    (tmp_path / "hung_worker.py").write_text(  # notes its pid and folder, then never says READY
        f"import os, sys, time\nopen({str(tmp_path / 'seen')!r}, 'w').write(f'{{os.getpid()}} {{sys.argv[1]}}')\n"
        "time.sleep(600)\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    worker = SuiteWorker()
    worker.module, worker.start_seconds = "hung_worker", 2.0
    started = time.monotonic()
    proc = run_suite(worker, "live", ["--collect-only"], _env(), 120)
    assert time.monotonic() - started < 60
    assert "test_vpc.py" in proc.stdout  # the suite still ran, as a process of its own
    assert worker.failed == "not ready within 2 s" and worker.pid is None
    assert "suite worker: could not start (not ready within 2 s)" in capfd.readouterr().err
    pid, folder = (tmp_path / "seen").read_text().split()
    assert _wait_gone(int(pid)), "the hung worker was left running"
    assert not Path(folder).exists(), "the hung worker's folder was left behind"


def test_the_fallback_runs_the_same_command_as_its_own_process(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("STACKMATRIX_LIVE_WORKER", "0")
    worker = SuiteWorker()
    proc = run_suite(worker, "live", ["--collect-only"], _env(), 120)
    assert worker.pid is None  # never started
    assert "test_vpc.py" in proc.stdout  # the live suite, collected by a pytest process of its own


def _wait_gone(pid: int, seconds: float = 15) -> bool:
    deadline = time.monotonic() + seconds
    while procs.running(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not procs.running(pid)


def test_a_kept_worker_outlives_its_process_serves_the_next_and_is_replaced_when_stale(
        tmp_path: Path, monkeypatch) -> None:
    """What `python -m matrix dev` does: the first process starts a kept worker and exits; the next
    adopts it (same pid) and runs its suite in it; a changed file among those it loaded makes the next
    one stop it and start a fresh one; `stop_kept()` (matrix destroy) ends it with its record."""
    import json

    build = tmp_path / "build"
    monkeypatch.setenv("STACKMATRIX_BUILD", str(build))
    (tmp_path / "test_cell.py").write_text(SUITE)
    script = textwrap.dedent('''
        import os
        from matrix.suite_worker import SuiteWorker
        w = SuiteWorker(keep=True)
        w._ensure()
        print(w.pid, flush=True)
        os._exit(0)  # a dev process ends: its kept worker stays
    ''')
    first = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_ROOT, env=_env(STACKMATRIX_BUILD=str(build)),
                           capture_output=True, text=True, timeout=60)
    pid = int(first.stdout.split()[0])
    try:
        time.sleep(1.0)  # longer than its checks for a parent (twice a second)
        assert procs.running(pid), "the kept worker ended with the process that started it"
        record = json.loads(suite_worker.record_path().read_text())
        assert record["pid"] == pid and any(p.endswith("matrix/clients.py") for p in record["files"])
        assert record["root"] == str(PROJECT_ROOT)  # another checkout's dev never adopts it

        def run_b(w: SuiteWorker) -> subprocess.CompletedProcess:
            return w.run([str(tmp_path), "-q", "-s", "-p", "no:cacheprovider"],
                         _env(CELL="b", EXPECT_CWD=str(tmp_path)), timeout=60, cwd=tmp_path)

        second = SuiteWorker(keep=True)
        assert run_b(second).returncode == 0 and second.pid == pid  # adopted, not started again
        second.stop()
        assert procs.running(pid), "stop() of a kept worker lets go of it, never ends it"

        # a file it loaded changed (its recorded stamp no longer matches): replaced, not reused
        record["files"][next(p for p in record["files"] if p.endswith("matrix/clients.py"))] = [1, 1]
        suite_worker.record_path().write_text(json.dumps(record))
        third = SuiteWorker(keep=True)
        assert run_b(third).returncode == 0 and third.pid not in (None, pid)
        assert _wait_gone(pid), "the stale kept worker was not stopped"
        fresh = third.pid
        third.stop()
        assert fresh is not None and suite_worker.stop_kept() is True
        assert _wait_gone(fresh) and not suite_worker.record_path().exists()
    finally:
        suite_worker.stop_kept()


def test_a_kept_worker_ends_after_its_idle_time_and_removes_its_record(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("STACKMATRIX_BUILD", str(tmp_path / "build"))
    w = SuiteWorker(keep=True, idle=1.0)
    folder = w._ensure()
    pid = w.pid
    w.stop()
    try:
        assert pid is not None and _wait_gone(pid), "the kept worker outlived its idle time"
        assert not Path(folder).exists() and not suite_worker.record_path().exists()
    finally:
        suite_worker.stop_kept()
