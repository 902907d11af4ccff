"""Child processes of the battery: started in a process group of their own (so a signal meant for
them never reaches the battery), watched, signalled, always reaped and never left behind.

`Child` wraps one Popen: `lines()` collects its stdout/stderr on reader threads (with the time each
line arrived), `wait_for(predicate)` polls a condition while the child lives, `signal(sig, group)`
sends a signal to it or to its whole group, and `close()` kills the group and reaps it. Children are
tracked, so `kill_all()` (atexit, and the battery's finally) cleans up whatever is left.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from matrix import procs
from matrix.paths import PROJECT_ROOT

HARNESS_PARENT = Path(__file__).resolve().parents[1]  # tests/reliability: `harness` importable from here
_LIVE: set[Child] = set()
_LIVE_LOCK = threading.Lock()


def python_env(build: Path | None = None, **extra: str) -> dict[str, str]:
    """The environment for a `python -m matrix...` (or `-m harness...`) child: this project and the
    harness importable, jsii quiet."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), str(HARNESS_PARENT),
                                                      env.get("PYTHONPATH")]))
    env["JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION"] = "20"
    env.pop("PYTEST_CURRENT_TEST", None)
    if build is not None:
        env["STACKMATRIX_BUILD"] = str(build)
    env.update(extra)
    return env


class Child:
    def __init__(self, args: Sequence[str], env: dict[str, str] | None = None, cwd: Path | None = None,
                 capture: bool = True) -> None:
        self.args = list(args)
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            self.args, env=env, cwd=cwd or PROJECT_ROOT, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
            stderr=subprocess.PIPE if capture else subprocess.DEVNULL,
            start_new_session=True,  # its own group: killpg reaches it and its children, never us
        )
        self.pid = self.proc.pid
        self.out: list[tuple[float, str]] = []
        self.err: list[tuple[float, str]] = []
        self._readers = []
        if capture:
            for stream, sink in ((self.proc.stdout, self.out), (self.proc.stderr, self.err)):
                t = threading.Thread(target=self._read, args=(stream, sink), daemon=True)
                t.start()
                self._readers.append(t)
        with _LIVE_LOCK:
            _LIVE.add(self)

    @classmethod
    def python(cls, *args: str, env: dict[str, str] | None = None, capture: bool = True) -> Child:
        return cls([sys.executable, *args], env=env, capture=capture)

    @staticmethod
    def _read(stream, sink: list[tuple[float, str]]) -> None:
        for raw in iter(stream.readline, b""):
            sink.append((time.monotonic(), raw.decode("utf-8", "replace").rstrip("\n")))
        stream.close()

    # -- state -------------------------------------------------------------------------------
    @property
    def returncode(self) -> int | None:
        return self.proc.poll()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stdout(self) -> str:
        return "\n".join(line for _, line in list(self.out))

    def stderr(self) -> str:
        return "\n".join(line for _, line in list(self.err))

    def wait_for(self, condition: Callable[[], bool], timeout: float, poll: float = 0.002) -> bool:
        """Poll `condition` until true (True) or the child exits / the timeout passes (False)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return True
            if not self.alive():
                return condition()
            time.sleep(poll)
        return False

    def wait(self, timeout: float) -> int | None:
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        for t in self._readers:
            t.join(timeout=5)
        return code

    # -- signals -----------------------------------------------------------------------------
    def signal(self, sig: int, group: bool = False) -> None:
        with contextlib.suppress(ProcessLookupError):
            if group:
                os.killpg(self.pid, sig)
            else:
                os.kill(self.pid, sig)

    def group_alive(self) -> bool:
        """Does any process of the child's group still run (children it left behind)?"""
        try:
            os.killpg(self.pid, 0)
            return True
        except ProcessLookupError:
            return False
        except PermissionError:
            return True

    def close(self) -> None:
        """Kill the child and its whole group, reap it."""
        self.signal(signal.SIGKILL, group=True)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        with _LIVE_LOCK:
            _LIVE.discard(self)

    def __enter__(self) -> Child:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def kill_all() -> None:
    with _LIVE_LOCK:
        children = list(_LIVE)
    for child in children:
        child.close()


atexit.register(kill_all)


def wait_until(condition: Callable[[], bool], timeout: float, poll: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(poll)
    return condition()


def pid_alive(pid: int) -> bool:
    """Alive and not a zombie (matrix/procs.py: reaps nothing, so a Child's Popen keeps its exit code)."""
    return procs.running(pid)
