"""A warm pytest worker: one process per run serves the per-cell suite runs (live, chaos), each in
a fresh forked child, so a cell pays neither interpreter start-up nor the imports of pytest,
allure-pytest, boto3/botocore and the loaded service models (about 1 s of CPU per cell here).

  SuiteWorker (the run's side)              worker process (`python -m matrix.suite_worker DIR`)
    start()    spawns the worker  ------->  imports pytest, allure, boto3, our client layer; loads the
                                            models once; listens on DIR/sock (a 0700 folder, AF_UNIX)
    run(args, env, timeout)  -- request ->  forks a child per request (ForkingMixIn), which
                                              sends its pid, takes the cell's environment and cwd,
                                              sends fds 1/2 to an output file, runs pytest.main(args),
                                            <- {"rc": code} ; the child then ends (os._exit)
    stop()     SIGTERM: the worker kills its live children, removes DIR and exits (as it does when
               the run that started it is gone; a later start sweeps what a SIGKILL left)

Isolation: each cell's pytest session is its own process (a copy-on-write fork), so fixtures,
module globals, plugin state, results, Allure output and failures never leak between cells; only
what was imported before the fork is shared, and that is the tool's own code and third-party
libraries, never the user's stack/ or suites/ (the dev loop must see their edits).
The worker exits when the process that started it is gone (checked twice a second), and it ignores
Ctrl-C (the run decides; its children get Ctrl-C as a pytest process would).

Kept (`SuiteWorker(keep=True)`, what `python -m matrix dev` uses, like the synth daemon): the worker
outlives the command in a session of its own and records itself in build/suite-worker.json (its
folder, pid, and the size and mtime of every file it loaded from this project and of the
site-packages folders); the next `dev` adopts it when the pid runs and none of those files changed,
else stops it and starts a fresh one. A kept worker exits after `IDLE_SECONDS` without a request,
on SIGTERM (`stop_kept()`: `python -m matrix destroy` once no kept cell is left), or when its folder
is removed; it then removes its record.
A worker that fails to start, or is not ready within `START_SECONDS`, is stopped and said once;
`matrix.suites.run_suite` chooses: the worker, or, with `STACKMATRIX_LIVE_WORKER=0` or on a platform
without fork, each suite as its own process (`pytest_command`): the same arguments, the same results.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import select
import shutil
import signal
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from matrix.files import read_record, write_atomic
from matrix.paths import PROJECT_ROOT, build_dir
from matrix.procs import running

READY = "stackmatrix-suite-worker ready"
IDLE_SECONDS = 15 * 60  # a kept worker's life without a request; the synth daemon (matrix/synthd.py) uses it too
START_SECONDS = 120.0  # a worker not ready by then is stopped; the suites run as processes
# the services the suites call: their models are loaded once in the worker, before any fork
WARM_SERVICES = ("ec2", "iam", "logs", "s3", "sts")


def enabled() -> bool:
    return hasattr(os, "fork") and os.environ.get("STACKMATRIX_LIVE_WORKER", "1") != "0"


# -- the worker process -----------------------------------------------------------------------
def _preload() -> None:
    """What every suite run imports and builds the same way: done once, before the forks."""
    import importlib
    import importlib.metadata

    import _pytest.config
    import allure_pytest.plugin  # noqa: F401
    import pytest  # noqa: F401

    # pytest's own plugins and the installed ones (entry points), as every session loads them
    for name in _pytest.config.default_plugins:
        importlib.import_module(f"_pytest.{name}")
    for entry in importlib.metadata.entry_points(group="pytest11"):
        with contextlib.suppress(Exception):  # a broken plugin fails in the child, as it would in pytest
            importlib.import_module(entry.value.partition(":")[0])
    if "_hypothesis_pytestplugin" in sys.modules:  # its summary hook imports hypothesis in every session
        importlib.import_module("hypothesis")

    import matrix.targets.emulator_gaps  # noqa: F401  # lazy: worker process only
    from matrix.clients import Access, ClientFactory  # lazy: worker process only

    with contextlib.suppress(ImportError):
        import reports.pytest_plugin  # noqa: F401  # lazy: optional, present with the reports package
    # a client per service loads and parses its models into the shared loader (no call is made)
    warm = "warm"  # placeholder keys: the clients are built, never called
    factory = ClientFactory(Access(region="us-east-1", endpoint="http://127.0.0.1:9", access_key=warm,
                                   secret_key=warm))
    for service in WARM_SERVICES:
        factory.client(service)
    # all of the above lives as long as the worker: out of the collector's sight, so that the full
    # collections pytest makes at the end of every session (unraisableexception: 5 of them, about 0.5 s
    # over this heap) walk only what the child made, and the children's pages stay shared
    gc.collect()
    gc.freeze()


class _Handler(socketserver.StreamRequestHandler):
    """Runs in the forked child: one suite run, then the child ends."""

    def handle(self) -> None:
        request = json.loads(self.rfile.readline())
        self.wfile.write(json.dumps({"pid": os.getpid()}).encode() + b"\n")
        self.wfile.flush()
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        rc = _run_pytest(request)
        self.wfile.write(json.dumps({"rc": rc}).encode() + b"\n")
        self.wfile.flush()


def _run_pytest(request: dict) -> int:
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    # what `python -m pytest` run from cwd with $PYTHONPATH would have on sys.path
    for entry in reversed([request["cwd"], *filter(None, request["env"].get("PYTHONPATH", "").split(os.pathsep))]):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    out = os.open(request["output"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.close(out)
    import pytest  # lazy: preloaded by the worker before the fork

    # the tool's own modules and allure's were imported before the fork, so pytest cannot rewrite their
    # asserts (none of them is a test's assertion) and would warn once per module: it is expected here
    args = [*request["args"], "-W", "ignore::pytest.PytestAssertRewriteWarning"]
    try:
        rc = int(pytest.main(args))
    except BaseException as exc:
        print(f"suite worker: pytest ended with {type(exc).__name__}: {exc}", file=sys.stderr)
        rc = 130 if isinstance(exc, KeyboardInterrupt) else 3
    sys.stdout.flush()
    sys.stderr.flush()
    return rc


class _Server(socketserver.ForkingMixIn, socketserver.UnixStreamServer):
    block_on_close = False

    def __init__(self, path: str, parent: int, record: Path | None = None, idle: float = IDLE_SECONDS) -> None:
        super().__init__(path, _Handler)
        self.path, self.parent = path, parent
        self.record, self.idle = record, idle  # kept: its record, and how long it waits for a request
        self.last = time.monotonic()

    def process_request(self, request: socket.socket, client_address: object) -> None:  # type: ignore[override]
        self.last = time.monotonic()
        super().process_request(request, client_address)

    def service_actions(self) -> None:
        super().service_actions()  # reaps finished children
        if self.record is None:
            if os.getppid() != self.parent:  # the run is gone: so is its worker
                self.end()
            return
        if self.active_children:
            self.last = time.monotonic()
        if time.monotonic() - self.last > self.idle or not os.path.exists(self.path):
            self.end()

    def end(self) -> None:
        """Kill the children still running, remove the worker's folder (the run may be gone) and its
        record when it still names this worker, exit."""
        self.kill_children()
        shutil.rmtree(os.path.dirname(self.path), ignore_errors=True)
        if self.record is not None and (read_record(self.record) or {}).get("pid") == os.getpid():
            self.record.unlink(missing_ok=True)
        os._exit(0)

    def kill_children(self) -> None:
        for pid in list(self.active_children or ()):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def serve(folder: str, record: Path | None = None, idle: float = IDLE_SECONDS) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _preload()
    server = _Server(os.path.join(folder, "sock"), os.getppid(), record, idle)
    Path(folder, "pid").write_text(str(os.getpid()))  # a later run removes the folder if this dies unseen
    signal.signal(signal.SIGTERM, lambda *_: server.end())
    if record is not None:
        write_atomic(record, json.dumps({"folder": folder, "pid": os.getpid(), "python": sys.executable,
                                         "root": str(PROJECT_ROOT), "files": _loaded_files()}), fsync=False)
    print(READY, flush=True)
    server.serve_forever(poll_interval=0.5)


def _loaded_files() -> dict[str, list[int]]:
    """What a kept worker would serve stale if it changed: the files it loaded from this project and
    the site-packages folders (an install or upgrade changes their mtime), each as [mtime_ns, size]."""
    sites = [p for p in sys.path if p.endswith("site-packages") and os.path.isdir(p)]
    files = [str(f) for m in list(sys.modules.values()) if (f := getattr(m, "__file__", None))]
    paths = {f for f in files if f.startswith(str(PROJECT_ROOT))
             and not any(f.startswith(site) for site in sites)}  # a venv inside the project
    paths.update(sites)
    return {p: _stamp(p) for p in sorted(paths)}


def _stamp(path: str) -> list[int]:
    try:
        st = os.stat(path)
    except OSError:
        return [0, -1]
    return [st.st_mtime_ns, st.st_size]


def record_path() -> Path:
    return build_dir() / "suite-worker.json"


def _kept_worker() -> tuple[str | None, int | None]:
    """(folder, pid) of the recorded kept worker when it can serve this process: it runs, its socket
    is there, same interpreter and project, and nothing it loaded changed; else it is stopped and
    (None, None)."""
    data = read_record(record_path())
    if data is None:
        return None, None
    pid, folder = data.get("pid"), data.get("folder")
    fresh = (isinstance(pid, int) and isinstance(folder, str) and running(pid)
             and os.path.exists(os.path.join(folder, "sock")) and data.get("python") == sys.executable
             and data.get("root") == str(PROJECT_ROOT)
             and all(_stamp(p) == stamp for p, stamp in (data.get("files") or {}).items()))
    if fresh:
        return folder, pid
    stop_kept()
    return None, None


def stop_kept() -> bool:
    """Stop the recorded kept worker (SIGTERM: it removes its folder and record); True if one ran."""
    path = record_path()
    data = read_record(path) or {}
    pid, folder = data.get("pid"), data.get("folder")
    was_running = False
    if isinstance(pid, int) and isinstance(folder, str) and running(pid):
        with contextlib.suppress(OSError, ValueError):
            if int(Path(folder, "pid").read_text()) == pid:  # the pid is still that worker
                os.kill(pid, signal.SIGTERM)
                was_running = True
    path.unlink(missing_ok=True)
    return was_running


# -- the run's side ---------------------------------------------------------------------------
PREFIX = "stackmatrix-suites-"
SHORT_TMP = "/tmp"  # noqa: S108 - only when $TMPDIR is too long for a socket path; mkdtemp makes it 0700


def sweep_stale_folders(grace: float = 60.0) -> list[str]:
    """Remove the folders of workers that died without removing their own (SIGKILLed with their run):
    their recorded pid no longer runs (or none was recorded within `grace` seconds). Returns them."""
    removed = []
    for root in {tempfile.gettempdir(), SHORT_TMP}:
        for folder in Path(root).glob(f"{PREFIX}*"):
            try:
                if folder.stat().st_uid != os.getuid():  # another user's worker: not ours to judge
                    continue
                pid_file = folder / "pid"
                if pid_file.is_file():
                    gone = not running(int(pid_file.read_text() or 0))
                else:
                    gone = time.time() - folder.stat().st_mtime > grace
            except (OSError, ValueError):
                continue
            if gone:
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(str(folder))
    return removed


class WorkerUnavailable(RuntimeError):
    """The worker could not start (before any suite ran in it): the suites run as processes instead."""


class SuiteWorker:
    """The run's handle on its worker: started on first use, shared by the cells' threads. `keep`:
    adopt the recorded kept worker, or start one that outlives this process (the dev loop)."""

    module = "matrix.suite_worker"  # what the worker process runs
    start_seconds = START_SECONDS

    def __init__(self, keep: bool = False, idle: float = IDLE_SECONDS) -> None:
        self.keep, self.idle = keep, idle
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[str] | None = None
        self._folder: str | None = None
        self._kept_pid: int | None = None  # an adopted kept worker (started by an earlier process)
        self.failed: str | None = None  # why it could not start; then it is not tried again

    @property
    def pid(self) -> int | None:
        """The worker process's pid while it runs (None before the first suite, or after stop)."""
        if self._kept_pid is not None:
            return self._kept_pid if running(self._kept_pid) else None
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def _ensure(self) -> str:
        with self._lock:
            if self._proc is not None and self._proc.poll() is None:
                assert self._folder is not None
                return self._folder
            if self._kept_pid is not None and running(self._kept_pid):
                assert self._folder is not None
                return self._folder
            if self.failed is not None:
                raise WorkerUnavailable(self.failed)
            self._cleanup()
            if self.keep:
                folder, pid = _kept_worker()
                if folder is not None:
                    self._folder, self._kept_pid = folder, pid
                    return folder
            sweep_stale_folders()
            # 0700 (mkdtemp): the requests carry credentials; an AF_UNIX path has room for about 100
            # bytes, so a long $TMPDIR gives way to /tmp
            self._folder = tempfile.mkdtemp(prefix=PREFIX)
            if len(os.path.join(self._folder, "sock")) > 100:
                os.rmdir(self._folder)
                self._folder = tempfile.mkdtemp(prefix=PREFIX, dir=SHORT_TMP)
            env = dict(os.environ)
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
            errors = Path(self._folder) / "worker.err"  # its own complaints (a child's go to its output)
            command = [sys.executable, "-m", self.module, self._folder]
            if self.keep:  # its own session: it outlives this process, and the terminal's Ctrl-C
                command += [str(record_path()), str(self.idle)]
            with errors.open("w") as err:
                self._proc = subprocess.Popen(
                    command, cwd=PROJECT_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                    stderr=err, text=True, start_new_session=self.keep)
            assert self._proc.stdout is not None
            # nothing is buffered before the first line, so select() on the pipe is exact here
            answered = select.select([self._proc.stdout], [], [], self.start_seconds)[0]
            line = self._proc.stdout.readline().strip() if answered else ""
            if line != READY:
                self.failed = (line or errors.read_text().strip()[-2000:]
                               or ("no answer" if answered else f"not ready within {self.start_seconds:g} s"))
                self._cleanup()
                print(f"suite worker: could not start ({self.failed.splitlines()[-1]}); every suite runs as a "
                      "pytest process of its own instead", file=sys.stderr, flush=True)
                raise WorkerUnavailable(self.failed)
            return self._folder

    def start_soon(self) -> None:
        """Start the worker on a thread now (it takes about a second), so that it is warm when the
        first suite asks; a start that fails is said once, and the suites run as processes."""
        def _start() -> None:
            with contextlib.suppress(Exception):
                self._ensure()

        threading.Thread(target=_start, name="suite-worker-start", daemon=True).start()

    def run(self, args: Sequence[str], env: dict[str, str], timeout: float | None, cwd: Path = PROJECT_ROOT,
            ) -> subprocess.CompletedProcess[str]:
        """pytest.main(args) in a fresh child with `env` and `cwd`: what `subprocess.run` of
        `python -m pytest args` would give (the output comes back as stdout; stderr is folded in).
        On timeout the child is killed and subprocess.TimeoutExpired raised, as subprocess.run does."""
        folder = self._ensure()
        output = os.path.join(folder, f"{uuid.uuid4().hex}.out")
        cmd = ["pytest", *args]
        child = 0
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(timeout)
                sock.connect(os.path.join(folder, "sock"))
                stream = sock.makefile("rwb")
                stream.write(json.dumps({"args": list(args), "env": env, "cwd": str(cwd),
                                         "output": output}).encode() + b"\n")
                stream.flush()
                try:
                    child = int(json.loads(stream.readline())["pid"])
                    answer = stream.readline()
                except TimeoutError:
                    raise subprocess.TimeoutExpired(cmd, timeout or 0) from None
                if not answer:
                    raise RuntimeError("the suite worker's child ended without an answer (killed?)")
                rc = int(json.loads(answer)["rc"])
            text = Path(output).read_text(errors="replace") if os.path.exists(output) else ""
            return subprocess.CompletedProcess(cmd, rc, text, "")
        except BaseException:
            if child:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child, signal.SIGKILL)
            raise
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(output)

    def stop(self) -> None:
        """End the worker; a kept one stays up for the next process (only the handles are let go)."""
        with self._lock:
            if not self.keep:
                self._cleanup()
                return
            if self._proc is not None and self._proc.stdout is not None:
                self._proc.stdout.close()
            self._proc, self._folder, self._kept_pid = None, None, None

    def _cleanup(self) -> None:
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.terminate()
                try:
                    self._proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait()
            if self._proc.stdout is not None:
                self._proc.stdout.close()
            self._proc = None
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None


if __name__ == "__main__":  # DIR [RECORD IDLE_SECONDS]: with a record, a kept worker
    serve(sys.argv[1], Path(sys.argv[2]) if len(sys.argv) > 2 else None,
          float(sys.argv[3]) if len(sys.argv) > 3 else IDLE_SECONDS)
