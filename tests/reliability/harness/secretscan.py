"""Secrets never reach a file, and every server of ours listens on 127.0.0.1 only.

With distinctive fake values in AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN and LOCALSTACK_AUTH_TOKEN
(the secret key with '/' and '+' in it, as real ones have), in a build folder of its own, the battery
runs what writes files and opens sockets:

* `python -m matrix run --profile dev --fault none --fault throttle-ec2 --bootstrap-backend --keep`:
  live suite, chaos suite with its per-cell fault proxy, report; the run starts its own moto server
  subprocess; then `env`, `destroy`, and the moto server is stopped
* the same dev cell with `STACKMATRIX_MOTO_MODE=threaded` (moto inside the run's process)
* `python -m matrix proxy` with a rule file and a fault log, and boto3 calls through it signed with the
  fake environment credentials (the session token travels in a header the proxy reads)
* `python -m matrix localstack start` / `stop` (host mode, when its venv exists), given the fake
  LOCALSTACK_AUTH_TOKEN
* the report's local HTTP server (`reports.cli.open_report`, BROWSER=true)

While each runs, the listening sockets of its whole process tree are read from /proc/net/tcp{,6}
and /proc/net/udp{,6} (tests/reliability/harness/listeners.py); all must be on a loopback address. Then every
file under the build folder, binary too, is searched for each secret: as is, percent-encoded, and
base64-encoded at the three byte alignments.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import signal
import sys
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

from harness.listeners import Listener, listening
from harness.procs import Child, python_env
from harness.workspace import Moto, Workspace
from matrix.targets.moto import free_port


def fake_secrets() -> dict[str, str]:
    tag = secrets.token_hex(6)
    return {"AWS_SECRET_ACCESS_KEY": f"FAKEsecret/Reliability+{tag}Xq9zW2", "AWS_SESSION_TOKEN":
            f"FQoGZXIvYXdzEFAKEsessionToken{tag}//////////wEaDK+reliability", "LOCALSTACK_AUTH_TOKEN":
            f"ls-FAKE-reliability-{tag}"}


def needles(secret: str) -> dict[str, bytes]:
    """The byte strings that would betray `secret`: raw, percent-encoded, base64 at each alignment."""
    raw = secret.encode()
    out = {"raw": raw, "percent-encoded": urllib.parse.quote(secret, safe="").encode()}
    for k in range(3):
        enc = base64.b64encode(b"\0" * k + raw)
        skip = (k * 4 + 2) // 3
        out[f"base64+{k}"] = enc[skip:len(enc) - 4]
    return {name: n for name, n in out.items() if len(n) >= 8}


def scan(root: Path, secret_values: dict[str, str]) -> tuple[int, list[str]]:
    """(files scanned, hits "file: VAR (variant)")."""
    patterns = {(var, name): n for var, value in secret_values.items() for name, n in needles(value).items()}
    files, hits = 0, []
    for folder, _dirs, names in os.walk(root):
        for name in names:
            path = Path(folder) / name
            if path.is_symlink() or not path.is_file():
                continue
            try:
                data = path.read_bytes()
            except OSError:
                continue
            files += 1
            for (var, variant), n in patterns.items():
                if n in data:
                    hits.append(f"{path.relative_to(root)}: {var} ({variant})")
    return files, hits


class ListenerWatch:
    """Polls the listening sockets of a process tree on a thread until stopped."""

    def __init__(self, pid: int, label: str, every: float = 0.1) -> None:
        self.pid, self.label, self.every = pid, label, every
        self.seen: dict[str, Listener] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.poll()
            self._stop.wait(self.every)

    def poll(self) -> None:
        for s in listening(self.pid):
            self.seen.setdefault(s.line(), s)

    def stop(self) -> list[Listener]:
        self._stop.set()
        self._thread.join(timeout=5)
        return list(self.seen.values())


class SecretsBattery:
    def __init__(self, base: Workspace, log=print) -> None:
        self.ws = base.sub("secrets")
        self.base = base
        self.log = log
        self.secrets = fake_secrets()
        self.listeners: list[dict[str, Any]] = []
        self.steps: dict[str, Any] = {}

    def env(self, **extra: str) -> dict[str, str]:
        return python_env(self.ws.root, **self.secrets, **extra)

    def _listeners(self, label: str, found: list[Listener]) -> None:
        for s in found:
            self.listeners.append({"server": label, "address": s.line(), "loopback": s.loopback})
        self.log(f"listeners of {label}: {', '.join(s.line() for s in found) or 'none seen'}")

    # -- the things that run --------------------------------------------------------------------
    def matrix_run(self) -> None:
        args = ["-m", "matrix", "run", "--profile", "dev", "--fault", "none", "--fault", "throttle-ec2",
                "--bootstrap-backend", "--keep"]
        with Child.python(*args, env=self.env()) as child:
            watch = ListenerWatch(child.pid, "matrix run (its moto server, fault proxy)")
            code = child.wait(900)
            self._listeners("matrix run (its moto server, fault proxy)", watch.stop())
            self.steps["run_exit"] = code
            self.steps["run_tail"] = child.stderr().splitlines()[-4:]
        record = self._json(self.ws.root / "emulators" / "moto.json")
        if record:
            self._listeners("moto server (kept)", listening(int(record["pid"])))
        with Child.python("-m", "matrix", "env", "us-east-1-dev", env=self.env()) as child:
            self.steps["env_exit"] = child.wait(60)
        with Child.python("-m", "matrix", "destroy", env=self.env()) as child:
            self.steps["destroy_exit"] = child.wait(300)
        from matrix.targets.moto import MotoServer

        with self.ws.active():
            server = MotoServer.recorded()
            if server is not None:
                server.stop()

    def threaded_moto_run(self) -> None:
        args = ["-m", "matrix", "run", "--profile", "dev", "--bootstrap-backend", "--skip-live", "--no-report"]
        with Child.python(*args, env=self.env(STACKMATRIX_MOTO_MODE="threaded")) as child:
            watch = ListenerWatch(child.pid, "matrix run, moto threaded in-process")
            self.steps["threaded_exit"] = child.wait(600)
            self._listeners("matrix run, moto threaded in-process", watch.stop())

    def proxy(self) -> None:
        import boto3

        rules = self.ws.root / "rules.json"
        rules.write_text(json.dumps([{"name": "throttle-some", "service": "ec2", "probability": 0.5,
                                      "effect": "throttle"}]))
        with Moto() as moto:
            args = ["-m", "matrix", "proxy", "--upstream", moto.url, "--rules", str(rules), "--log",
                    str(self.ws.root / "proxy-faults.jsonl"), "--seed", "3"]
            with Child.python(*args, env=self.env()) as child:
                if not child.wait_for(lambda: bool(child.out), 30, 0.02):
                    self.steps["proxy"] = f"did not start: {child.stderr()[-500:]}"
                    return
                url = child.out[0][1].strip()
                self._listeners("fault proxy (python -m matrix proxy)", listening(child.pid))
                ec2 = boto3.client("ec2", endpoint_url=url, region_name="us-east-1",
                                   aws_access_key_id="AKIAFAKERELIABILITY",
                                   aws_secret_access_key=self.secrets["AWS_SECRET_ACCESS_KEY"],
                                   aws_session_token=self.secrets["AWS_SESSION_TOKEN"])
                calls = 0
                for _ in range(10):
                    try:
                        ec2.describe_vpcs()
                        calls += 1
                    except Exception:  # throttled past the retries: the fault log has it
                        calls += 1
                child.signal(signal.SIGTERM)
                self.steps["proxy_exit"] = child.wait(30)
                self.steps["proxy_calls"] = calls

    def localstack(self) -> None:
        from matrix.targets import localstack_host as lh

        if not lh.venv_python().is_file():
            self.steps["localstack"] = f"skipped: no venv at {lh.VENV} (nox -s localstack builds it)"
            return
        port = free_port()
        with Child.python("-m", "matrix", "localstack", "start", "--port", str(port), env=self.env()) as child:
            code = child.wait(180)
            self.steps["localstack_start_exit"] = code
            if code != 0:
                self.steps["localstack"] = child.stderr()[-800:]
                return
        record = self._json(self.ws.root / "localstack" / "server.json") or {}
        pid = int(record.get("pid", 0))
        if pid:
            found = listening(pid)
            for attempt in range(20):  # its sockets may open a moment after ready
                if found or attempt:
                    break
                time.sleep(0.1)
                found = listening(pid)
            self._listeners("LocalStack host mode", found)
        with Child.python("-m", "matrix", "localstack", "stop", env=self.env()) as child:
            self.steps["localstack_stop_exit"] = child.wait(60)

    def report_server(self) -> None:
        report = self.ws.root / "allure-report"
        if not (report / "index.html").is_file():
            report.mkdir(parents=True, exist_ok=True)
            (report / "index.html").write_text("<html></html>")
        code = "import sys; from pathlib import Path; from reports.cli import open_report; " \
               "open_report(Path(sys.argv[1]), False)"
        with Child([sys.executable, "-c", code, str(report)], env=self.env(BROWSER="true")) as child:
            if child.wait_for(lambda: any("serving" in ln for _, ln in list(child.out)), 30, 0.02):
                self._listeners("report HTTP server (report --open)", listening(child.pid))
            else:
                self.steps["report_server"] = f"did not start: {child.stderr()[-400:]}"
            child.signal(signal.SIGINT)
            self.steps["report_server_exit"] = child.wait(30)

    @staticmethod
    def _json(path: Path) -> Any:
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return None

    def run(self) -> dict[str, Any]:
        started = time.monotonic()
        self.ws.copy_synth_from(self.base, ["us-east-1-dev", "us-east-1-dev-throttle-ec2"])
        for step in (self.matrix_run, self.threaded_moto_run, self.proxy, self.localstack, self.report_server):
            try:
                step()
            except Exception as exc:  # a step that cannot run is reported, the rest still runs
                self.steps[step.__name__] = f"{type(exc).__name__}: {exc}"
                self.log(f"secrets battery: {step.__name__} failed: {type(exc).__name__}: {exc}")
        files, hits = scan(self.ws.root, self.secrets)
        off = [entry for entry in self.listeners if not entry["loopback"]]
        self.log(f"secrets: {files} files scanned under {self.ws.root}, {len(hits)} hit(s); "
                 f"{len(self.listeners)} listening address(es) checked, {len(off)} off loopback")
        return {
            "files_scanned": files,
            "secrets_found": len(hits),
            "hits": hits[:50],
            "listeners_checked": len(self.listeners),
            "listeners_off_loopback": len(off),
            "listeners": self.listeners,
            "servers_checked": sorted({entry["server"] for entry in self.listeners}),
            "steps": self.steps,
            "seconds": round(time.monotonic() - started, 1),
        }


EXPECTED_SERVERS = ("matrix run (its moto server, fault proxy)", "moto server (kept)",
                    "matrix run, moto threaded in-process", "fault proxy (python -m matrix proxy)",
                    "report HTTP server (report --open)")


def problems(section: dict[str, Any]) -> list[str]:
    out = [f"secret found: {h}" for h in section["hits"]]
    out += [f"listening off loopback: {e['server']} {e['address']}" for e in section["listeners"] if not e["loopback"]]
    expected = [*EXPECTED_SERVERS, *(["LocalStack host mode"] if "localstack_start_exit" in section["steps"] else [])]
    missing = [s for s in expected if s not in section["servers_checked"]]
    if missing:
        out.append(f"no listening socket seen for: {', '.join(missing)} (steps: {section['steps']})")
    steps = section["steps"]
    for key in ("run_exit", "destroy_exit", "threaded_exit", "proxy_exit"):
        if steps.get(key) not in (0,):
            out.append(f"secrets battery step {key} = {steps.get(key)}")
    return out
