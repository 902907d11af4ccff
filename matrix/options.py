"""What a run was asked to do: `RunOptions`, the command line's choices as one value.

The CLI (matrix/__main__.py) builds it; the runner (matrix/runner.py), the engines, the targets and
the operations on kept cells (matrix/ops.py) read it. It sits below all of them so that each can
take it without importing the runner.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class RunOptions:
    target: str = "moto"
    engine: str = "embedded"
    jobs: int = 2
    keep: bool = False
    bootstrap_backend: bool = False
    lock_timeout: float = 0.0
    force_unlock: bool = False
    cell_timeout: float = 900.0
    teardown_timeout: float = 600.0
    endpoint: str | None = None
    cdk: str | None = None
    run_id: str | None = None
    max_attempts: int = 8
    skip_live: bool = False
    synth_check: bool = True
    extra_pytest: list[str] = field(default_factory=list)
    expectations: dict[str, str] = field(default_factory=dict)  # scenario -> expectation override
    chaos_seed: int = 0
    dev: bool = False  # dev loop: skip the apply of a kept cell whose stack did not change
    refresh: bool = False  # dev loop: apply (refresh against the account) even when unchanged
    chaos_backend: str = "proxy"  # proxy | localstack (its Chaos API, where the edition has one)
    strict: bool = True  # the strict emulator in front of moto / LocalStack (run --no-strict: off)
    allow_real_aws: bool = False
    yes: bool = False
    max_cells: int | None = None
    aws: dict[str, Any] = field(default_factory=dict)  # profile file [profiles.P.aws]
    #: cell id -> a cdk.tf.json to deploy instead of the cell's synthesized one (not synthesized then);
    #: the fidelity harness deploys mutated stacks this way (tests/fidelity/live_stage.py)
    documents: dict[str, str] = field(default_factory=dict)
