"""Deploy engines: `embedded` (boto3, this package's embedded/) and `terraform` (the binary).

Both take a cell's synthesized cdk.tf.json and offer the same operations: backend_check, apply
(returns a plan summary), destroy, current_outputs, force_unlock; both keep state in the
synthesized S3 backend, so a cell can move between them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from matrix.clients import ClientFactory
from matrix.paths import build_dir


def make_engine(cell: Any, synth_path: Path, clients: ClientFactory, options: Any, run_id: str,
                log: Callable[[str], None], cancel: threading.Event) -> Any:
    state_dir = build_dir() / "state" / cell.id
    if cell.engine == "terraform":
        from matrix.engines.terraform import TerraformEngine  # lazy: a cell loads only its own engine

        return TerraformEngine(cell.id, synth_path, clients, build_dir() / "terraform" / cell.id, options,
                               run_id=run_id, log=log, cancel=cancel)
    from matrix.engines.embedded.engine import EmbeddedEngine, EngineOptions  # lazy: a cell loads only its own engine

    return EmbeddedEngine(
        cell.id, synth_path, clients, state_dir,
        EngineOptions(lock_timeout=options.lock_timeout, bootstrap_backend=options.bootstrap_backend,
                      variables={"run_id": run_id},
                      lock_details={"run_id": run_id}),
        log=log, cancel=cancel)
