"""The embedded emulator target: a moto server on 127.0.0.1, one account per cell and run.

`MotoServer` runs moto either as a subprocess (default: moto's server through
matrix/targets/moto_server.py, which removes two per-request costs; its own interpreter, so the
engine's threads and the server never share a GIL; it also survives the run for `--keep`) or
in-process (`ThreadedMotoServer`, mode "threaded"); `nox -s bench -- deploy` measures both.
A server this tool started is recorded in build/emulators/moto.json and reused by later runs while
it answers (the dev loop keeps cells on it); `--endpoint URL` names one the user runs.

Its lifetime has one rule, kept by `MotoTarget.stop()` at the end of a run and by
`stop_recorded_if_unneeded()` in `destroy`: the server (and its strict front) stops as soon as no
deployment record names it, whichever command removed the last one. A run that ends with records
naming it marks the record `kept`; a later run that reuses a kept server adopts it (and decides at
its own end), while a run that merely reuses the server of a run still going never stops it. A
server the user runs (`--endpoint`) is never stopped.

`MotoTarget.access()` creates, inside moto, an IAM user with an access key in the cell's own
account (chosen with the `x-moto-account-id` header once). moto maps those keys to that account on
every later request, so terraform, the AWS CLI and boto3 all land in the cell's account without
any custom header.

Strict (default): the target puts the strict emulator (matrix/targets/strict_front.py) in front of
the server and hands every cell the front's URL as its endpoint (`emulator_url` stays the server's,
used only to provision accounts); the front lives and dies with the server it fronts (recorded as
build/emulators/strict-moto.json next to moto.json). `strict=False` (`run --no-strict`) hands out
the server itself.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from matrix.clients import Access
from matrix.errors import StackmatrixError, UsageError
from matrix.files import read_record, write_atomic
from matrix.paths import build_dir
from matrix.procs import alive
from matrix.targets.base import Target, account_for, cells_on
from matrix.targets.moto_server import remove_per_request_costs
from matrix.targets.strict_front import StrictFront, strict_fact

IAM_USER = "stackmatrix-runner"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answers(url: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/moto-api/", timeout=timeout) as resp:  # noqa: S310 - loopback
            return resp.status == 200
    except OSError:
        return False


@dataclass
class MotoServer:
    url: str
    pid: int | None = None
    mode: str = "subprocess"
    owned: bool = False
    kept: bool = False  # left running for cells whose records name it (no run is using it)
    _threaded: Any = None

    @staticmethod
    def record_path() -> Path:
        return build_dir() / "emulators" / "moto.json"

    def front_name(self) -> str:
        """The name its strict front is recorded under: the recorded server's is "moto"."""
        return "moto" if self.mode == "subprocess" else f"moto-{self.url.rsplit(':', 1)[-1]}"

    @classmethod
    def recorded(cls) -> MotoServer | None:
        path = cls.record_path()
        data = read_record(path)
        if data is None:
            return None
        if data.get("pid") and alive(int(data["pid"])) and answers(data["url"]):
            return cls(url=data["url"], pid=int(data["pid"]), mode="subprocess", owned=False,
                       kept=bool(data.get("kept")))
        path.unlink(missing_ok=True)
        return None

    @classmethod
    def start(cls, mode: str = "subprocess", timeout: float = 30) -> MotoServer:
        if mode == "threaded":
            import logging

            from moto.server import ThreadedMotoServer

            remove_per_request_costs()
            logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
            server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
            server.start()
            host, port = server.get_host_and_port()
            return cls(url=f"http://{host}:{port}", mode="threaded", owned=True, _threaded=server)
        port = free_port()
        log = build_dir() / "emulators" / "moto.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "matrix.targets.moto_server", "-H", "127.0.0.1", "-p", str(port)],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C in the terminal must not kill it before teardown
            )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout
        while not answers(url, 0.5):
            if proc.poll() is not None:
                raise StackmatrixError(f"moto server exited with {proc.returncode} at start; see {log}")
            if time.monotonic() > deadline:
                proc.kill()
                raise StackmatrixError(f"moto server did not answer on {url} within {timeout:.0f} s; see {log}")
            time.sleep(0.1)
        server = cls(url=url, pid=proc.pid, mode="subprocess", owned=True)
        server.save()
        return server

    def save(self) -> None:
        write_atomic(self.record_path(), json.dumps({"url": self.url, "pid": self.pid, "kept": self.kept}))

    def mark_kept(self, kept: bool) -> None:
        """Record whether the server stays up for kept cells (True) or a run is using it (False)."""
        if self.mode == "subprocess" and self.kept != kept:
            self.kept = kept
            self.save()

    def stop(self, timeout: float = 10) -> None:
        """Stop the server and the strict emulator in front of it."""
        StrictFront.stop_named(self.front_name())
        if self._threaded is not None:
            self._threaded.stop()
            return
        if self.pid and alive(self.pid):
            os.kill(self.pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while alive(self.pid) and time.monotonic() < deadline:  # reaps it: no zombie is left
                time.sleep(0.05)
            if alive(self.pid):
                os.kill(self.pid, signal.SIGKILL)
        self.record_path().unlink(missing_ok=True)


def _admin_client(url: str, service: str, account_id: str) -> Any:
    """A client whose requests carry x-moto-account-id (used only to provision the account)."""
    client = boto3.client(service, endpoint_url=url, region_name="us-east-1", aws_access_key_id="admin",
                          aws_secret_access_key="admin",  # noqa: S106 - moto's admin test key
                          config=Config(retries={"mode": "standard"}))

    def add_header(request: Any, **_: Any) -> None:
        request.headers["x-moto-account-id"] = account_id

    client.meta.events.register("before-sign.*.*", add_header)
    return client


class MotoTarget(Target):
    name = "moto"

    def __init__(self, endpoint: str | None = None, mode: str | None = None, strict: bool = True) -> None:
        self.explicit = endpoint
        self.mode = mode or os.environ.get("STACKMATRIX_MOTO_MODE", "subprocess")
        if self.mode not in ("subprocess", "threaded"):
            raise UsageError(f"STACKMATRIX_MOTO_MODE {self.mode!r}: use subprocess or threaded")
        self.server: MotoServer | None = None
        self.endpoint = endpoint  # what clients use: the strict front, or the server with strict off
        self.emulator_url = endpoint
        self.strict = strict
        self.front: StrictFront | None = None
        self.front_started = False

    def start(self) -> None:
        if self.explicit:
            if not answers(self.explicit, 3):
                raise UsageError(f"--endpoint {self.explicit}: no moto server answers there "
                                 "(GET /moto-api/); start one or drop --endpoint")
            self.emulator_url = self.explicit.rstrip("/")
        else:
            self.server = MotoServer.recorded() if self.mode == "subprocess" else None
            if self.server is None:
                self.server = MotoServer.start(self.mode)
            elif self.server.kept:  # left up for kept cells: this run adopts it and decides at its end
                self.server.owned = True
                self.server.mark_kept(False)
            self.emulator_url = self.server.url
        self.endpoint = self.emulator_url
        if self.strict:
            name = self.server.front_name() if self.server else f"endpoint-{self.emulator_url.rsplit(':', 1)[-1]}"
            self.front_started = StrictFront.recorded(name, self.emulator_url) is None
            self.front = StrictFront.ensure(name, self.emulator_url)
            self.endpoint = self.front.url

    def access(self, cell_id: str, region: str, run_id: str) -> Access:
        account = account_for(run_id, cell_id)
        iam = _admin_client(self.emulator_url, "iam", account)
        with contextlib.suppress(iam.exceptions.EntityAlreadyExistsException):
            iam.create_user(UserName=IAM_USER)
        key = iam.create_access_key(UserName=IAM_USER)["AccessKey"]
        return Access(region, self.endpoint, key["AccessKeyId"], key["SecretAccessKey"], None, None, account)

    def reattach(self, deployment: Any) -> Access:
        """The recorded keys, if they still reach the cell's account. A restarted moto has forgotten
        them (they would land in its default account): make the account's keys again."""
        access = replace(deployment.access(), endpoint=self.endpoint)  # today's front (or the server)
        try:
            sts = boto3.client("sts", endpoint_url=self.endpoint, region_name=access.region,
                               aws_access_key_id=access.access_key, aws_secret_access_key=access.secret_key)
            if sts.get_caller_identity()["Account"] == deployment.account_id:
                if deployment.endpoint != self.endpoint:
                    deployment.endpoint = self.endpoint
                    deployment.save()
                return access
        except Exception:  # noqa: S110 - any failure here means: the keys are no longer good
            pass
        fresh = self.access(deployment.cell, deployment.region, deployment.run_id)
        if fresh.account_id != deployment.account_id:
            raise StackmatrixError(f"cell {deployment.cell}: its account {deployment.account_id} cannot be reached "
                                   f"again on {self.endpoint}")
        deployment.endpoint, deployment.access_key, deployment.secret_key = (
            fresh.endpoint, fresh.access_key, fresh.secret_key)
        deployment.save()
        return fresh

    def describe(self) -> dict[str, str]:
        from importlib.metadata import version

        return {"target": "moto", "moto": version("moto"), "endpoint": self.endpoint or "",
                "moto_mode": self.server.mode if self.server else "external",
                "strict": strict_fact(self.front, self.emulator_url)}

    def stop(self, keep_running: bool = False) -> None:
        """End of a run. `keep_running` says the run kept cells; for a server this tool started the
        deployment records decide: a cell an earlier run kept and this run destroyed no longer holds it."""
        if self.server is not None and self.server.owned and self.server.mode == "subprocess":
            if cells_on(self.server.url):
                self.server.mark_kept(True)  # kept cells (this run's or earlier ones) still need it
            else:
                self.server.stop()  # its strict front with it
        elif self.server is not None and self.server.owned and not keep_running:
            self.server.stop()  # in-process: it ends with us anyway
        elif self.server is None and self.front is not None and self.front_started and not keep_running:
            self.front.stop()  # in front of a server the user runs: ours to stop
        # a server another run started and still uses (not kept): left alone


def stop_recorded_if_unneeded(server: MotoServer | None = None, log: Any = None) -> bool:
    """Stop the recorded moto server kept for cells (and its strict front) when no deployment record
    names it any more; True when it was stopped. A server a run is using (not kept) is left alone; an
    unreadable record counts as needing it."""
    server = server or MotoServer.recorded()
    if server is None or server.mode != "subprocess" or not server.kept:
        return False
    users = cells_on(server.url)
    if users:
        return False
    server.stop()
    if log is not None:
        log(f"stopped the moto server at {server.url} (no kept cell needs it)")
    return True

