"""Deploy engines: `embedded` (boto3, this package's embedded/) and `terraform` (the binary).

Both satisfy the `Engine` protocol (base.py): backend_check, apply (returns a plan summary), destroy,
current_outputs, force_unlock; both keep state in the synthesized S3 backend, so a cell can move
between them. `make_engine` gives every cell's engine options of its own, copied from the run's.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from matrix.clients import ClientFactory
from matrix.paths import build_dir

if TYPE_CHECKING:  # types only: make_engine is called with them, never needs them loaded
    from matrix.cells import Cell
    from matrix.engines.base import Engine, EngineSettings


def make_engine(cell: Cell, synth_path: Path, clients: ClientFactory, options: EngineSettings, run_id: str,
                log: Callable[[str], None], cancel: threading.Event) -> Engine:
    """The cell's engine, with its own copy of the run's `lock_timeout` and `bootstrap_backend`
    (never the run's options object: a fault phase changes its own cell's lock timeout only)."""
    state_dir = build_dir() / "state" / cell.id
    if cell.engine == "terraform":
        from matrix.engines.terraform import TerraformEngine, TerraformOptions  # lazy: a cell loads only its own engine

        return TerraformEngine(cell.id, synth_path, clients, build_dir() / "terraform" / cell.id,
                               TerraformOptions(lock_timeout=options.lock_timeout,
                                                bootstrap_backend=options.bootstrap_backend),
                               run_id=run_id, log=log, cancel=cancel)
    from matrix.engines.embedded.engine import EmbeddedEngine, EngineOptions  # lazy: a cell loads only its own engine

    return EmbeddedEngine(
        cell.id, synth_path, clients, state_dir,
        EngineOptions(lock_timeout=options.lock_timeout, bootstrap_backend=options.bootstrap_backend,
                      variables={"run_id": run_id},
                      lock_details={"run_id": run_id}),
        log=log, cancel=cancel)
