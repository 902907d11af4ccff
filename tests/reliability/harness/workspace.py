"""Where a battery runs: its own build folder, the synthesized cells, a moto server, fresh accounts.

* `Workspace(root)`     a build folder (STACKMATRIX_BUILD) for one battery or trial; `active()` points
                        this process at it for in-process calls, `env()` gives a child the same.
* `Workspace.synth()`   the cells' cdk.tf.json: copied from a folder that has them (the project's
                        build/synth, a test session's synthesis), then `matrix.synth.synthesize`,
                        which keeps what is up to date and synthesizes the rest in one process.
* `Workspace.cell_copy()` a cell's cdk.tf.json with a state bucket of its own: bucket names are
                        global on the emulator as in AWS, so trials sharing one server never share state.
* `Moto`                a moto server subprocess on 127.0.0.1 that the battery owns (never recorded
                        in build/emulators, so no run adopts it); `kill()` and `restart()` on the
                        same port are how the restart battery takes the emulator away.
* `fresh_access()`      a new emulator account with its own keys (as the runner gives each cell).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from harness.procs import Child
from matrix.clients import Access
from matrix.paths import BUILD_ENV, PROJECT_ROOT
from matrix.targets.moto import answers, free_port

PROJECT_SYNTH = PROJECT_ROOT / "build" / "synth"


class Workspace:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"Workspace({self.root})"

    @contextlib.contextmanager
    def active(self) -> Iterator[Workspace]:
        old = os.environ.get(BUILD_ENV)
        os.environ[BUILD_ENV] = str(self.root)
        try:
            yield self
        finally:
            if old is None:
                os.environ.pop(BUILD_ENV, None)
            else:
                os.environ[BUILD_ENV] = old

    def env(self, **extra: str) -> dict[str, str]:
        from harness.procs import python_env

        return python_env(self.root, **extra)

    def sub(self, name: str, fresh: bool = True) -> Workspace:
        path = self.root / name
        if fresh:
            shutil.rmtree(path, ignore_errors=True)
        return Workspace(path)

    # -- synthesized cells -------------------------------------------------------------------
    def synth_path(self, cell_id: str) -> Path:
        return self.root / "synth" / cell_id / "cdk.tf.json"

    def synth(self, cells: Sequence[Any], source: Path | None = None, log=print) -> None:
        """Make sure every cell has an up-to-date cdk.tf.json here (one synth process at most)."""
        source = source if source is not None else PROJECT_SYNTH
        for cell in cells:
            src = Path(source) / cell.id
            dest = self.root / "synth" / cell.id
            if src.is_dir() and not (dest / "meta.json").is_file():
                shutil.copytree(src, dest, dirs_exist_ok=True)
        from matrix.synth import synthesize

        with self.active():
            result = synthesize(list(cells), progress=log)
        if result.synthesized:
            log(f"synthesized {len(result.synthesized)} cell(s) in {result.seconds:.1f} s")

    def copy_synth_from(self, other: Workspace, cell_ids: Sequence[str]) -> None:
        for cell_id in cell_ids:
            shutil.copytree(other.root / "synth" / cell_id, self.root / "synth" / cell_id, dirs_exist_ok=True)

    def cell_copy(self, cell_id: str, dest_dir: Path, bucket: str) -> Path:
        doc = json.loads(self.synth_path(cell_id).read_text())
        doc["terraform"]["backend"]["s3"]["bucket"] = bucket
        dest = Path(dest_dir) / "cdk.tf.json"
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(json.dumps(doc))
        return dest


class Moto:
    """A moto server subprocess on 127.0.0.1 owned by the battery."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.child: Child | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.child.pid if self.child is not None else None

    def start(self, timeout: float = 30) -> Moto:
        import sys

        from harness.procs import python_env

        # the server the product starts (moto's, through matrix/targets/moto_server.py)
        server = [sys.executable, "-m", "matrix.targets.moto_server", "-H", "127.0.0.1", "-p", str(self.port)]
        self.child = Child(server, env=python_env(), capture=False)
        deadline = time.monotonic() + timeout
        while not answers(self.url, 0.5):
            if not self.child.alive():
                raise RuntimeError(f"moto server exited with {self.child.returncode} at start on port {self.port}")
            if time.monotonic() > deadline:
                self.child.close()
                raise RuntimeError(f"moto server did not answer on {self.url} within {timeout:.0f} s")
            time.sleep(0.05)
        self.starts += 1
        return self

    def kill(self) -> None:
        """The emulator dies at once (SIGKILL): everything it held is gone."""
        if self.child is not None:
            self.child.signal(signal.SIGKILL, group=True)
            self.child.wait(10)
            self.child.close()
            self.child = None

    def restart(self, timeout: float = 30) -> Moto:
        self.kill()
        deadline = time.monotonic() + timeout
        while True:  # the port may linger a moment after the kill
            try:
                return self.start(timeout=max(1.0, deadline - time.monotonic()))
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def stop(self) -> None:
        if self.child is not None:
            self.child.signal(signal.SIGTERM, group=True)
            if self.child.wait(10) is None:
                self.child.signal(signal.SIGKILL, group=True)
            self.child.close()
            self.child = None

    def __enter__(self) -> Moto:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def fresh_access(url: str, cell_id: str, region: str, run_id: str) -> Access:
    """A new account on the emulator, with its own keys, as the runner gives a cell."""
    from matrix.targets.moto import MotoTarget

    target = MotoTarget(endpoint=url, strict=False)  # the battery's own server, no front process to outlive it
    target.start()
    return target.access(cell_id, region, run_id)


def access_json(access: Access) -> str:
    return json.dumps({"region": access.region, "endpoint": access.endpoint, "access_key": access.access_key,
                       "secret_key": access.secret_key, "account_id": access.account_id})


def access_from_json(text: str) -> Access:
    d = json.loads(text)
    return Access(d["region"], d.get("endpoint"), d.get("access_key"), d.get("secret_key"), None, None,
                  d.get("account_id", ""))
