"""The engine contract: exactly what the runner (matrix/runner.py), the cell operations (matrix/ops.py)
and the chaos driver (matrix/chaos/) may use of a deploy engine; nothing else is probed.

  EngineSettings  the two run settings an engine takes: `lock_timeout` and `bootstrap_backend`.
                  make_engine() (matrix/engines/__init__.py) copies them into options of the cell's
                  own, so a fault phase that changes its cell's lock timeout (the lock-held scenario)
                  changes no other cell's.
  Engine          backend_check / apply / destroy / current_outputs / force_unlock, plus what a reader
                  needs afterwards: the state backend, the state it holds, the read-back of the last
                  apply, notes, and where the state was kept when its bucket vanished.
  PlanResult      what `apply()` returns: counts, a one-line summary, the plan lines and drift.

Both engines satisfy it: `EmbeddedEngine` (embedded/engine.py) and `TerraformEngine` (terraform.py);
mypy checks that in the lint session (`nox -s lint`, pyproject.toml [tool.mypy]).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # types only: the engine contract names them, the engines bring them
    from matrix.state.backend import StateBackend
    from matrix.state.tfstate import State


class EngineSettings(Protocol):
    """The run settings an engine reads (RunOptions has them; each engine keeps its own copy)."""

    lock_timeout: float  # seconds a held state lock is waited for (a fault phase may change it)
    bootstrap_backend: bool  # create a missing state bucket (and lock table)


class Drift(Protocol):
    """A resource that drifted from its recorded state (and was repaired)."""

    @property
    def address(self) -> str: ...

    @property
    def reason(self) -> str: ...

    def line(self) -> str: ...


class PlanResult(Protocol):
    """What an apply did, for the report: counts by action, one summary line, the plan's lines."""

    def counts(self) -> dict[str, int]: ...

    def summary(self) -> str: ...

    def lines(self) -> list[str]: ...

    @property
    def drift(self) -> Sequence[Drift]: ...


class Engine(Protocol):
    """A cell's deploy engine, as the runner, ops and the chaos driver use it."""

    @property
    def name(self) -> str: ...

    @property
    def options(self) -> EngineSettings:
        """This cell's own settings: the runner sets `lock_timeout` for one fault phase, then restores it."""
        ...

    @property
    def backend(self) -> StateBackend:
        """The cell's S3 state backend (state, locks), shared with terraform."""
        ...

    @property
    def state(self) -> State | None:
        """The state after the last apply or destroy (None: not held in memory)."""
        ...

    @property
    def notes(self) -> list[str]:
        """What a reader of the report must know (a stale lock released, where state was kept)."""
        ...

    @property
    def readback(self) -> dict[str, Any]:
        """The last apply's read-back: resources, arguments, calls, differences, lines ({}: none)."""
        ...

    @property
    def state_kept_locally(self) -> Path | None:
        """Set by a destroy that found the state bucket gone: the local file the state was kept in."""
        ...

    def use_cancel(self, cancel: threading.Event) -> None:
        """Stop waiting and creating when `cancel` is set (teardown gets an event of its own)."""
        ...

    def backend_check(self, bootstrap: bool | None = None) -> list[str]:
        """The state bucket (and lock table) exist, or are created with `bootstrap`; what was done."""
        ...

    def apply(self) -> PlanResult: ...

    def destroy(self) -> int:
        """Delete everything the state names; how many resources."""
        ...

    def current_outputs(self) -> dict[str, Any]: ...

    def force_unlock(self, lock_id: str) -> None: ...
