"""Shared fixtures for the project's own tests.

* `build`         an isolated build directory (STACKMATRIX_BUILD) per test
* `synth_root`    one session-wide synthesis of the nightly and dev cells (one cdktf process)
* `moto_url`      a real moto server over HTTP on 127.0.0.1 for the session
* `strict_url`    the strict emulator (matrix/chaos/strict.py) in front of it, in this process
* `cell_access`   a fresh emulator account with its own keys (isolation, as the runner does it),
                  reached through the strict emulator, as every run's cells are
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from pathlib import Path

import pytest

from matrix.clients import Access, ClientFactory

logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto server request lines

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def build(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "build"
    monkeypatch.setenv("STACKMATRIX_BUILD", str(path))
    return path


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory) -> Path:
    """build/ of a session that synthesized the nightly profile (12 cells) once."""
    from matrix.cells import load_profile_cells
    from matrix.synth import synthesize

    root = tmp_path_factory.mktemp("synth-build")
    old = os.environ.get("STACKMATRIX_BUILD")
    os.environ["STACKMATRIX_BUILD"] = str(root)
    try:
        synthesize(load_profile_cells("nightly"))
    finally:
        if old is None:
            os.environ.pop("STACKMATRIX_BUILD", None)
        else:
            os.environ["STACKMATRIX_BUILD"] = old
    return root


@pytest.fixture(scope="session")
def dev_synth(synth_root) -> Path:
    return synth_root / "synth" / "us-east-1-dev" / "cdk.tf.json"


@pytest.fixture(scope="session")
def moto_url() -> str:
    from moto.server import ThreadedMotoServer

    from matrix.targets.moto_server import remove_per_request_costs

    remove_per_request_costs()  # as the server the product starts (matrix/targets/moto_server.py)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="session")
def strict_url(moto_url) -> str:
    from matrix.chaos.proxy import FaultProxy

    proxy = FaultProxy(moto_url, strict=True).start()
    yield proxy.url
    proxy.stop()


@pytest.fixture
def cell_access(moto_url, strict_url) -> Access:
    from dataclasses import replace

    from matrix.targets.moto import MotoTarget

    target = MotoTarget(endpoint=moto_url, strict=False)  # the session's strict emulator is in-process
    target.start()
    access = target.access(f"test-{uuid.uuid4().hex[:8]}", "us-east-1", uuid.uuid4().hex[:8])
    return replace(access, endpoint=strict_url)


@pytest.fixture
def clients(cell_access) -> ClientFactory:
    return ClientFactory(cell_access, max_attempts=3)


def copy_synth(src: Path, dest_dir: Path) -> Path:
    dest_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(src, dest_dir / "cdk.tf.json")
    return dest_dir / "cdk.tf.json"
