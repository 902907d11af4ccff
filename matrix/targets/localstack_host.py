"""LocalStack as a target: a managed one in host mode, or one the user already runs.

Since 2026-03-23 the LocalStack images and `localstack start` need an auth token. `localstack-core`
from PyPI started directly (`python -m localstack.runtime.main`) runs in host mode: no token, no
Docker. This module runs it so, in its own venv, and finds a LocalStack the user runs with a token.

* `ensure_venv(log)`   `.nox/localstack/venv` from `localstack-requirements.txt` (every version
  pinned), re-created only when that file (or the Python version) changes: the stamp is their hash.
  Our `dynamodb:moto` provider (`localstack_dynamodb/`) is installed into it, re-installed only when
  its files change. A lock file serializes concurrent builders.
* `start(port, log, timeout)`  spawns the runtime with `localstack_env(port)`: loopback only
  (`GATEWAY_SERVER=hypercorn`: the default server ignores the host of `GATEWAY_LISTEN`), no DNS
  server, the six services the stack needs, DynamoDB served by moto, no analytics, no certificate
  download, its files under `build/localstack/`. It waits until `/_localstack/health` lists those
  services available and `/_localstack/init/ready` says completed, and records the server in
  `build/localstack/server.json` (pid, port, url, started) so that another process can find, reuse
  or stop it. A healthy recorded server is reused; a dead one's record is dropped.
* `stop(timeout)`  SIGTERM to the server's process group, SIGKILL after `timeout`, record removed;
  the strict emulator in front of it (recorded as `FRONT`) is stopped with it.
  It only ever signals the recorded pid when that pid is still the process we started (same start
  time in /proc, LocalStack's entry point in its command line).
* `status()`  the record plus `healthy`, `rss_mb`, `uptime_s` when the server lives; None otherwise.
* `health(url)`, `info(url)`  `/_localstack/health` and `/_localstack/info` (version and edition,
  for the report environment).
* `find_external(explicit)`  a LocalStack the user runs: the explicit URL, else `LOCALSTACK_ENDPOINT`,
  else `AWS_ENDPOINT_URL`, when its `/_localstack/health` answers.

Secrets: `LOCALSTACK_AUTH_TOKEN` is passed to the managed server when set (community host mode has no
use for it, a user's own build may) and never written: not in the state file, not in our log lines,
and the server's own output passes through a redacting stream before it reaches
`build/localstack/localstack.log` (see `_LAUNCHER`).

The launcher also fixes a LocalStack 4.13.1 shutdown race (its hypercorn server stops the event loop
from another thread without waking it, so a SIGTERM could hang until the next I/O) and exits
without interpreter teardown (slow after heavy use, and useless). What the venv build, start, memory,
request rate and stop cost: docs/measurements.md, "Managed LocalStack in host mode".
LocalStack's S3 provider keeps object data in a hard-coded `/tmp/localstack-s3-storage` whatever
FILESYSTEM_ROOT says (`DEFAULT_S3_TMP_DIR`, never cleaned): the launcher points it at
`localstack-s3-storage` under the server's own TMPDIR, `build/localstack/tmp`, emptied when a server
starts and when it stops, so two build folders' servers never share object data and none is left in
/tmp. No Chaos API in the community edition.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from matrix import procs
from matrix.devenv import digest
from matrix.errors import StackmatrixError
from matrix.files import write_atomic
from matrix.paths import PROJECT_ROOT, build_dir
from matrix.redact import SECRET_ENV, redact, redact_obj
from matrix.targets.base import cells_on
from matrix.targets.strict_front import StrictFront

#: The newest localstack-core that runs on the project's Python 3.11. 4.14.0 and 2026.3.0 install there
#: (their metadata says Python >= 3.10) but cannot be imported: localstack/services/stores.py declares
#: `class RegionBundle[BaseStoreType](dict)`, PEP 695 syntax of Python 3.12 (tried 2026-12-01).
LOCALSTACK_VERSION = "4.13.1"
SERVICES = ("ec2", "s3", "dynamodb", "logs", "iam", "sts")
HERE = Path(__file__).resolve().parent
REQUIREMENTS = HERE / "localstack-requirements.txt"
PROVIDER_DIR = HERE / "localstack_dynamodb"
VENV = PROJECT_ROOT / ".nox" / "localstack" / "venv"
STAMP = VENV / ".stackmatrix-stamp"
PROVIDER_STAMP = VENV / ".stackmatrix-provider-stamp"
ENTRY_POINT = "localstack.runtime.main"
#: Environment variables copied from ours into the server's when set (all else is set here).
PASSTHROUGH_ENV = ("LOCALSTACK_AUTH_TOKEN", "DEBUG", "LS_LOG", "TZ")
HEALTHY_STATES = ("available", "running")

Log = Callable[[str], Any]


class LocalStackError(StackmatrixError):
    """The managed LocalStack could not be installed, started or reached."""


# -- where its files live --------------------------------------------------------------------------

def state_dir() -> Path:
    return build_dir() / "localstack"


def state_file() -> Path:
    return state_dir() / "server.json"


def tmp_dir() -> Path:
    """The server's TMPDIR: where its S3 object data lands (see the module docstring)."""
    return state_dir() / "tmp"


def log_file() -> Path:
    return state_dir() / "localstack.log"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive advisory lock (flock) held for the block: one builder/starter at a time."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# -- the venv ----------------------------------------------------------------------------------------

def venv_stamp() -> str:
    """What the venv was built from: the requirements file and the Python it runs on."""
    return digest(REQUIREMENTS.read_bytes(), f"{sys.version_info.major}.{sys.version_info.minor}".encode())


def provider_stamp() -> str:
    files = sorted(p for p in PROVIDER_DIR.iterdir() if p.suffix in (".py", ".toml"))
    return digest(*(p.name.encode() + b"\0" + p.read_bytes() for p in files))


def venv_python() -> Path:
    return VENV / "bin" / "python"


def _pip(python: Path, *args: str, log: Log) -> None:
    cmd = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--quiet", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise LocalStackError(
            f"pip could not install into {VENV} (exit {proc.returncode}): {' '.join(args)}\n{redact(tail)}"
        )


def ensure_venv(log: Log = print) -> Path:
    """Build or update `.nox/localstack/venv`; return its python. Installs nothing when up to date."""
    with _locked(VENV.parent / ".lock"):
        python = venv_python()
        want = venv_stamp()
        if not (STAMP.is_file() and STAMP.read_text() == want and python.exists()):
            t0 = time.monotonic()
            log(f"localstack: creating {VENV} with localstack-core {LOCALSTACK_VERSION} "
                f"({REQUIREMENTS.name} changed or first run; about a minute)")
            shutil.rmtree(VENV, ignore_errors=True)
            proc = subprocess.run([sys.executable, "-m", "venv", str(VENV)], capture_output=True, text=True,
                                  check=False)
            if proc.returncode != 0:
                raise LocalStackError(f"could not create {VENV}: {proc.stderr.strip()}")
            _pip(python, "-r", str(REQUIREMENTS), log=log)
            STAMP.write_text(want)
            log(f"localstack: venv ready in {time.monotonic() - t0:.0f} s")
        want_provider = provider_stamp()
        if not (PROVIDER_STAMP.is_file() and PROVIDER_STAMP.read_text() == want_provider):
            # Build from a copy: an in-tree build would leave build/ and *.egg-info in the sources.
            with tempfile.TemporaryDirectory(prefix="stackmatrix-ls-provider-") as tmp:
                src = Path(tmp) / "src"
                shutil.copytree(PROVIDER_DIR, src, ignore=shutil.ignore_patterns("__pycache__", "build",
                                                                                  "*.egg-info"))
                _pip(python, "--no-deps", "--no-build-isolation", "--force-reinstall", str(src), log=log)
            PROVIDER_STAMP.write_text(want_provider)
            log("localstack: dynamodb:moto provider installed")
        return python


# -- HTTP -------------------------------------------------------------------------------------------

def _is_loopback(url: str) -> bool:
    host = urllib.parse.urlsplit(url).hostname or ""
    return host == "localhost" or host.startswith("127.") or host == "::1"


def _get_json(url: str, timeout: float) -> Any:
    # Loopback never goes through a proxy from the environment; a remote LocalStack may need one.
    handlers = [urllib.request.ProxyHandler({})] if _is_loopback(url) else []
    opener = urllib.request.build_opener(*handlers)
    with opener.open(url, timeout=timeout) as resp:
        return json.loads(resp.read().decode() or "null")


def _base(url: str) -> str:
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise LocalStackError(f"not an http(s) URL: {url!r}")
    return url.rstrip("/")


def health(url: str, timeout: float = 2.0) -> dict | None:
    """`/_localstack/health` as a dict ({"services": {...}, "version": ...}), None when it does not answer."""
    try:
        doc = _get_json(f"{_base(url)}/_localstack/health", timeout)
    except (OSError, ValueError, urllib.error.URLError, LocalStackError):
        return None
    return doc if isinstance(doc, dict) and isinstance(doc.get("services"), dict) else None


def services_ready(doc: dict | None, services: tuple[str, ...] = SERVICES) -> bool:
    if not doc:
        return False
    states = doc.get("services", {})
    return all(states.get(s) in HEALTHY_STATES for s in services)


def init_ready(url: str, timeout: float = 2.0) -> bool:
    """`/_localstack/init/ready` says completed (it answers 200 with completed=false while booting)."""
    try:
        doc = _get_json(f"{_base(url)}/_localstack/init/ready", timeout)
    except (OSError, ValueError, urllib.error.URLError):
        return False
    return isinstance(doc, dict) and doc.get("completed") is True


def info(url: str, timeout: float = 5.0) -> dict:
    """Version and edition of the LocalStack at `url` (for the report environment).

    Returns {"version", "edition", "is_license_activated", "is_docker", "system"}; the community
    build in host mode says edition "unknown" and is_docker False. Raises LocalStackError when the
    endpoint does not answer.
    """
    try:
        doc = _get_json(f"{_base(url)}/_localstack/info", timeout)
    except (OSError, ValueError, urllib.error.URLError) as exc:
        raise LocalStackError(f"LocalStack at {url} did not answer /_localstack/info: {exc}") from exc
    if not isinstance(doc, dict):
        raise LocalStackError(f"LocalStack at {url}: /_localstack/info is not a JSON object")
    keys = ("version", "edition", "is_license_activated", "is_docker", "system")
    return redact_obj({k: doc.get(k) for k in keys})


def find_external(explicit: str | None = None) -> str | None:
    """A LocalStack the user runs: `explicit`, else $LOCALSTACK_ENDPOINT, else $AWS_ENDPOINT_URL.

    Only the first of those that is set is tried (an explicit URL never falls back to the
    environment); returns it without a trailing slash when its `/_localstack/health` answers,
    None otherwise (a moto server at AWS_ENDPOINT_URL answers 404 there: None).
    """
    candidates = [explicit] if explicit else [os.environ.get("LOCALSTACK_ENDPOINT"),
                                              os.environ.get("AWS_ENDPOINT_URL")]
    for url in candidates:
        if url and url.strip():
            url = url.strip().rstrip("/")
            return url if health(url) is not None else None
    return None


# -- the managed server -----------------------------------------------------------------------------

def localstack_env(port: int) -> dict[str, str]:
    """The server's whole environment: ours is not inherited (no AWS_* keys, no endpoint URLs)."""
    root = state_dir()
    env = {
        "PATH": f"{VENV / 'bin'}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": os.environ.get("HOME") or str(root),
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        "OVERRIDE_IN_DOCKER": "0",          # the machine looks like a container to LocalStack
        "GATEWAY_SERVER": "hypercorn",      # the default (twisted) binds 0.0.0.0 whatever GATEWAY_LISTEN says
        "GATEWAY_LISTEN": f"127.0.0.1:{port}",
        "LOCALSTACK_HOST": f"127.0.0.1:{port}",  # URLs in responses (not localhost.localstack.cloud: no DNS)
        "DNS_ADDRESS": "0",                 # else it binds UDP 53
        "SERVICES": ",".join(SERVICES),
        "PROVIDER_OVERRIDE_DYNAMODB": "moto",   # our provider: stock DynamoDB downloads a JDK
        "FILESYSTEM_ROOT": str(root / "filesystem"),
        "TMPDIR": str(tmp_dir()),           # S3 object data: localstack-s3-storage under it, not /tmp
        "CONFIG_DIR": str(root / "config"),
        "DISABLE_EVENTS": "1",              # no analytics
        "SKIP_SSL_CERT_DOWNLOAD": "1",      # self-signed certificate, no download
        "PERSISTENCE": "0",
    }
    for name in PASSTHROUGH_ENV:
        if os.environ.get(name):
            env[name] = os.environ[name]
    return env


# Runs in LocalStack's venv: wraps stdout/stderr so that secret values never reach the log file,
# then runs the runtime exactly as `python -m localstack.runtime.main`, then exits at once.
_LAUNCHER = f"""# stackmatrix-localstack launcher
import faulthandler, os, runpy, signal, sys
faulthandler.register(signal.SIGUSR1, all_threads=True)  # kill -USR1 <pid>: thread dump into the log
_secrets = sorted({{v for v in (os.environ.get(n, "") for n in {SECRET_ENV!r}) if len(v) >= 4}}, key=len, reverse=True)
class _Redacting:
    def __init__(self, stream):
        self._stream = stream
    def write(self, text):
        for value in _secrets:
            text = text.replace(value, "***")
        return self._stream.write(text)
    def __getattr__(self, name):
        return getattr(self._stream, name)
if _secrets:
    sys.stdout, sys.stderr = _Redacting(sys.stdout), _Redacting(sys.stderr)
try:  # LocalStack 4.13.1 stops its event loop from another thread without waking it: SIGTERM then
    # hangs in select() until some I/O arrives (1 stop in 3-10, measured). Wake it properly.
    from localstack.runtime.server import hypercorn as _hc
    _shutdown = _hc.HypercornRuntimeServer.shutdown
    def _shutdown_and_wake(self):
        _shutdown(self)
        self.loop.call_soon_threadsafe(self.loop.stop)
    _hc.HypercornRuntimeServer.shutdown = _shutdown_and_wake
except (ImportError, AttributeError):
    pass
try:  # S3 object data goes to a hard-coded /tmp/localstack-s3-storage, never cleaned: put it under this
    # server's own TMPDIR (build/localstack/tmp), so servers of two build folders stay apart
    import tempfile as _tf
    from localstack.services.s3 import provider as _s3
    _s3.DEFAULT_S3_TMP_DIR = os.path.join(_tf.gettempdir(), "localstack-s3-storage")
except (ImportError, AttributeError):
    pass
try:
    runpy.run_module({ENTRY_POINT!r}, run_name="__main__", alter_sys=True)
    code = 0
except SystemExit as exc:
    code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
# The runtime has stopped its services. Skip interpreter teardown: its garbage collection of moto's
# state took 5-10 s after one run in three (measured), and nothing of it outlives the process anyway.
sys.stdout.flush()
sys.stderr.flush()
os._exit(code)
"""


@dataclass
class LocalStackProcess:
    pid: int
    port: int
    url: str
    started: str
    log: str
    proc_start: int | None = None
    _popen: subprocess.Popen | None = field(default=None, repr=False, compare=False)

    def to_state(self) -> dict:
        return {"pid": self.pid, "port": self.port, "url": self.url, "started": self.started,
                "log": self.log, "proc_start": self.proc_start}

    @classmethod
    def from_state(cls, doc: dict) -> LocalStackProcess:
        return cls(pid=int(doc["pid"]), port=int(doc["port"]), url=doc["url"], started=doc["started"],
                   log=doc.get("log", str(log_file())), proc_start=doc.get("proc_start"))

    def alive(self) -> bool:
        return _is_ours(self.pid, self.proc_start)

    def stop(self, timeout: float = 10) -> bool:
        """Stop this server (SIGTERM, SIGKILL after `timeout`); drop the record if it is this one's."""
        with _locked(state_dir() / ".lock"):
            stopped = _terminate(self.pid, self.proc_start, timeout, self._popen)
            doc = _read_state()
            if doc is not None and int(doc.get("pid", -1)) == self.pid:
                state_file().unlink(missing_ok=True)
            return stopped


def _is_ours(pid: int, proc_start: int | None) -> bool:
    """`pid` lives and is the LocalStack we started (not a recycled pid)."""
    if pid <= 0 or not procs.alive(pid):
        return False
    if proc_start is not None and procs.start_time(pid) not in (None, proc_start):
        return False
    cmdline = procs.cmdline(pid)
    if cmdline is None:
        return True  # no /proc: trust the pid and start time we have
    return ENTRY_POINT.encode() in cmdline


def _wait_gone(pid: int, timeout: float, popen: subprocess.Popen | None) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if popen is not None and popen.poll() is not None:
            return True
        if not procs.alive(pid):
            return True
        time.sleep(0.05)
    return not procs.alive(pid)


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)  # the server leads its own session: its children go too
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _terminate(pid: int, proc_start: int | None, timeout: float, popen: subprocess.Popen | None = None) -> bool:
    """SIGTERM, then SIGKILL after `timeout`. True when it was running and is now gone."""
    if not _is_ours(pid, proc_start):
        if popen is not None:
            with contextlib.suppress(ChildProcessError):
                popen.poll()
        return False
    _signal_group(pid, signal.SIGTERM)
    if not _wait_gone(pid, timeout, popen):
        _signal_group(pid, signal.SIGKILL)
        if not _wait_gone(pid, 10, popen):
            raise LocalStackError(f"LocalStack pid {pid} survived SIGKILL")
    return True


def _read_state() -> dict | None:
    try:
        doc = json.loads(state_file().read_text())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and "pid" in doc and "url" in doc else None


def _write_state(doc: dict) -> None:
    write_atomic(state_file(), json.dumps(redact_obj(doc), indent=2) + "\n", fsync=False)


def _rss_mb(pid: int) -> float | None:
    kb = procs.rss_kb(pid)
    return None if kb is None else round(kb / 1024, 1)


def status() -> dict | None:
    """The recorded server when its process lives: the record plus `healthy`, `rss_mb`, `uptime_s`.

    None when nothing is recorded or the recorded process is gone (its stale record is removed).
    """
    doc = _read_state()
    if doc is None:
        return None
    if not _is_ours(int(doc["pid"]), doc.get("proc_start")):
        state_file().unlink(missing_ok=True)
        return None
    h = health(doc["url"])
    started = datetime.fromisoformat(doc["started"])
    return {
        **doc,
        "running": True,
        "healthy": services_ready(h),
        "services": {s: (h or {}).get("services", {}).get(s, "unknown") for s in SERVICES},
        "rss_mb": _rss_mb(int(doc["pid"])),
        "uptime_s": round((datetime.now(UTC) - started).total_seconds(), 1),
    }


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _log_tail(lines: int = 20) -> str:
    try:
        text = log_file().read_text(errors="replace")
    except OSError:
        return "(no log)"
    return redact("\n".join(text.splitlines()[-lines:]))


def wait_ready(url: str, timeout: float = 60, popen: subprocess.Popen | None = None) -> float:
    """Poll until the services are available and init is complete; seconds waited. Raises on exit/timeout."""
    t0 = time.monotonic()
    deadline = t0 + timeout
    while True:
        if popen is not None and popen.poll() is not None:
            raise LocalStackError(
                f"LocalStack exited with code {popen.returncode} before it was ready; "
                f"last lines of {log_file()}:\n{_log_tail()}"
            )
        if services_ready(health(url, timeout=1)) and init_ready(url, timeout=1):
            return time.monotonic() - t0
        if time.monotonic() > deadline:
            raise LocalStackError(
                f"LocalStack at {url} not ready after {timeout:.0f} s; last lines of {log_file()}:\n{_log_tail()}"
            )
        time.sleep(0.1)


def start(port: int | None = None, log: Log = print, timeout: float = 60) -> LocalStackProcess:
    """Start the managed LocalStack (or reuse the healthy recorded one) and wait until it is ready."""
    with _locked(state_dir() / ".lock"):
        current = status()
        if current is not None:
            if current["healthy"] and port in (None, current["port"]):
                log(f"localstack: reusing the running server at {current['url']} (pid {current['pid']})")
                return LocalStackProcess.from_state(current)
            if current["healthy"]:
                raise LocalStackError(
                    f"a managed LocalStack already runs at {current['url']} (pid {current['pid']}); "
                    f"stop it first (python -m matrix localstack stop) to start one on port {port}"
                )
            log(f"localstack: recorded server pid {current['pid']} is not healthy; stopping it")
            _terminate(int(current["pid"]), current.get("proc_start"), 10)
            state_file().unlink(missing_ok=True)

        python = ensure_venv(log)
        port = port or free_port()
        if not _port_free(port):
            raise LocalStackError(f"port {port} on 127.0.0.1 is already in use; choose another with --port")
        url = f"http://127.0.0.1:{port}"
        env = localstack_env(port)
        root = state_dir()
        for sub in ("filesystem", "config"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        shutil.rmtree(tmp_dir(), ignore_errors=True)  # nothing of an earlier server (PERSISTENCE=0)
        tmp_dir().mkdir(parents=True)
        shown = {k: v for k, v in env.items() if k not in ("PATH", "HOME", "LANG", *SECRET_ENV)}
        if log_file().exists():  # keep the previous server's log for a post-mortem
            log_file().replace(log_file().with_name("localstack.previous.log"))
        with log_file().open("w") as fh:
            fh.write(redact(f"# stackmatrix: {python} -m {ENTRY_POINT} at {datetime.now(UTC).isoformat()}\n"
                            f"# environment: {json.dumps(shown, sort_keys=True)}\n"))
            fh.flush()
            popen = subprocess.Popen(
                [str(python), "-c", _LAUNCHER], env=env, cwd=root, stdin=subprocess.DEVNULL,
                stdout=fh, stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
            )
        server = LocalStackProcess(
            pid=popen.pid, port=port, url=url, started=datetime.now(UTC).isoformat(timespec="seconds"),
            log=str(log_file()), proc_start=procs.start_time(popen.pid), _popen=popen,
        )
        try:
            _write_state(server.to_state())  # recorded at once: a crash of ours must not orphan it
            waited = wait_ready(url, timeout, popen)
        except BaseException:
            _terminate(server.pid, server.proc_start, 5, popen)
            state_file().unlink(missing_ok=True)
            raise
        log(f"localstack: {url} ready in {waited:.1f} s (pid {server.pid}, log {log_file()})")
        return server


FRONT = "localstack"  # the record name of the strict emulator in front of the managed server


def mark_kept(kept: bool = True) -> None:
    """Record that the managed server stays up for kept cells (a run that kept cells ends), so that
    the command that removes the last of them stops it (`stop_if_unneeded`)."""
    with _locked(state_dir() / ".lock"):
        doc = _read_state()
        if doc is not None and bool(doc.get("kept")) != kept:
            _write_state({**doc, "kept": kept})


def is_kept() -> bool:
    """True when the recorded server was left up for kept cells (not by `localstack start`, not by a
    run still going)."""
    doc = _read_state()
    return bool(doc and doc.get("kept"))


def stop_if_unneeded(log: Log | None = None) -> bool:
    """Stop the managed server (and its strict front) when it was kept for cells and no deployment
    record names it any more; True when it was stopped. A server started by `localstack start` or by a
    run still going is left alone; an unreadable record counts as needing it."""
    current = status()
    if current is None or not current.get("kept"):
        return False
    front = StrictFront.recorded(FRONT, current["url"])
    if cells_on(current["url"], front.url if front is not None else None):
        return False
    stop()
    if log is not None:
        log(f"stopped the managed LocalStack at {current['url']} (no kept cell needs it)")
    return True


def stop(timeout: float = 10) -> bool:
    """Stop the recorded server and the strict emulator in front of it (matrix/targets/strict_front.py):
    SIGTERM, SIGKILL after `timeout`; remove the records. False if no server ran."""
    StrictFront.stop_named(FRONT)
    with _locked(state_dir() / ".lock"):
        doc = _read_state()
        if doc is None:
            state_file().unlink(missing_ok=True)
            return False
        try:
            stopped = _terminate(int(doc["pid"]), doc.get("proc_start"), timeout)
            if stopped:
                shutil.rmtree(tmp_dir(), ignore_errors=True)  # its S3 data goes with it
            return stopped
        finally:
            state_file().unlink(missing_ok=True)
