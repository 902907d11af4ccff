"""The synth daemon: the dev loop's CDK kept loaded between `nox -s dev` invocations.

Loading a CDK costs far more than using it (docs/measurements.md, "Loading the CDK"), and a dev loop
would pay it after every stack edit. The first
`python -m matrix dev` of a session starts this daemon (`python -m matrix.synthd FLAVOR`, detached);
later ones hand it their synth jobs over a Unix socket in build/ and get the answer in a fraction
of a second. Before each synth it reloads the stack's modules (matrix.synth.WarmSynth), so edits are
picked up; if a module it cannot reload changed (the CDK seam, the synth code), it answers
"restart" and the client starts a fresh one. It exits after `IDLE_SECONDS` without a request, on
SIGTERM, or when its socket file disappears. Only `python -m matrix dev` uses it (`--no-daemon`
skips it); runs always synthesize in a fresh worker.

Protocol: one JSON line per request ({"jobs": [...], "flavor": ..., "code": <digest>}), one JSON
line per answer (the worker's result, or {"ok": false, "error": ...}, or {"restart": true}).
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from matrix.errors import StackmatrixError
from matrix.paths import PROJECT_ROOT, build_dir
from matrix.suite_worker import IDLE_SECONDS  # the kept helpers' one idle limit (the suite worker's too)

START_TIMEOUT = 60.0
#: modules the daemon keeps as loaded: a change in them needs a fresh daemon
PINNED = ("stack/cdk.py", "matrix/synth.py", "matrix/synthd.py", "matrix/paths.py")


def socket_path(flavor: str) -> Path:
    return build_dir() / "synthd" / f"{flavor}.sock"


def code_digest() -> str:
    h = hashlib.sha256()
    for rel in PINNED:
        h.update((PROJECT_ROOT / rel).read_bytes())
    return h.hexdigest()[:16]


# -- server ------------------------------------------------------------------------------------

def serve(flavor: str) -> None:
    from matrix.synth import WarmSynth  # lazy: the daemon process alone loads the CDK

    warm = WarmSynth(flavor)
    code = code_digest()
    path = socket_path(flavor)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(4)
    server.settimeout(5.0)
    last = time.monotonic()
    try:
        while time.monotonic() - last < IDLE_SECONDS and path.exists():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            last = time.monotonic()
            with conn, conn.makefile("rwb") as stream:
                reply = handle(json.loads(stream.readline() or b"{}"), warm, code)
                stream.write(json.dumps(reply).encode() + b"\n")
                stream.flush()
            if reply.get("restart"):
                break
    finally:
        server.close()
        path.unlink(missing_ok=True)
        from stack.cdk import stop_runtime  # lazy: the daemon process alone loads the CDK

        stop_runtime()
        os._exit(0)


def handle(request: dict[str, Any], warm: Any, code: str) -> dict[str, Any]:
    if request.get("code") != code:
        return {"restart": True}
    try:
        warm.reload()
        return warm(request["jobs"], request["flavor"])
    except Exception as exc:  # reported to the client, which names the cell
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}


# -- client ------------------------------------------------------------------------------------

def _ask(path: Path, request: dict[str, Any], timeout: float) -> dict[str, Any]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(path))
        with sock.makefile("rwb") as stream:
            stream.write(json.dumps(request).encode() + b"\n")
            stream.flush()
            return json.loads(stream.readline())


def _start(flavor: str) -> None:
    log = build_dir() / "synthd" / f"{flavor}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="20",
               PYTHONPATH=os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")])))
    with open(log, "ab") as out:
        subprocess.Popen([sys.executable, "-m", "matrix.synthd", flavor], cwd=PROJECT_ROOT, env=env,
                         stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


class DaemonWorker:
    """A `worker` for matrix.synth.synthesize() that goes through the daemon (started on demand)."""

    def __init__(self, progress=None) -> None:
        self.progress = progress or (lambda msg: None)

    def __call__(self, jobs: list[dict], flavor: str) -> dict:
        path = socket_path(flavor)
        request = {"jobs": jobs, "flavor": flavor, "code": code_digest()}
        for _ in range(2):
            if not path.exists():
                self.progress(f"synth: starting the {flavor} synth daemon (later dev runs reuse it)")
                _start(flavor)
                deadline = time.monotonic() + START_TIMEOUT
                while not path.exists():
                    if time.monotonic() > deadline:
                        raise StackmatrixError(f"the synth daemon did not start; see {path.with_suffix('.log')}")
                    time.sleep(0.05)
            try:
                reply = _ask(path, request, timeout=300)
            except OSError:
                path.unlink(missing_ok=True)  # a dead daemon's socket: start a new one
                continue
            if reply.get("restart"):
                self.progress("synth: the synth code changed; restarting the synth daemon")
                deadline = time.monotonic() + 30
                while path.exists() and time.monotonic() < deadline:
                    time.sleep(0.05)
                continue
            if not reply.get("ok"):
                raise StackmatrixError(f"synth failed for cells {', '.join(j['cell'] for j in jobs)}: "
                                       f"{reply.get('error')}")
            return reply
        raise StackmatrixError("the synth daemon could not be reached twice; run with --no-daemon")


def stop(flavor: str | None = None) -> None:
    """Ask the daemons to leave (their socket files go, they notice within seconds)."""
    for path in (build_dir() / "synthd").glob(f"{flavor or '*'}.sock"):
        path.unlink(missing_ok=True)


if __name__ == "__main__":
    serve(sys.argv[1] if len(sys.argv) > 1 else "cdktf")
