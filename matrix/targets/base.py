"""What every target gives a cell, and the deployment records that outlive a run.

A `Target` starts (or finds) where cells deploy and hands each cell an `Access`: endpoint, region,
credentials, account id. On emulators every cell of a run gets its own account, so parallel cells
and separate runs never see each other's resources, whatever client they use (terraform, the AWS
CLI, boto3): the credentials alone select the account.

On emulators the endpoint a cell gets is the strict emulator in front of the emulator
(matrix/targets/strict_front.py; `Target.emulator_url` is the emulator itself, `Target.front` the
front), unless the run says `--no-strict`.

A `Deployment` record (build/deployments/<cell>.json) is written before a cell creates anything and
removed after its destroy and leak check passed. It names the run id, target, endpoint (the strict
front's, with `emulator` and `strict_front` naming what it fronts) and account, so a kept cell
(`--keep`), a crashed run, `matrix destroy` and `matrix env` all reach the same account later.
It holds emulator test keys only; for real accounts it names the AWS profile, never a secret.
`Deployment.load(cell)`, `Deployment.all()` and `Deployment.read(path)` are the one reader of these
records: an unreadable record is named (UsageError), never half-read.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from matrix.cells import Cell
from matrix.clients import Access
from matrix.errors import UsageError
from matrix.files import write_atomic
from matrix.paths import build_dir


def deployments_dir() -> Path:
    return build_dir() / "deployments"


def account_for(run_id: str, cell_id: str) -> str:
    """A deterministic 12-digit emulator account id for (run, cell), never 000000000000/123456789012."""
    digits = int(hashlib.sha256(f"{run_id}/{cell_id}".encode()).hexdigest(), 16) % 10**11
    return f"9{digits:011d}"


@dataclass
class Deployment:
    cell: str
    run_id: str
    target: str
    engine: str
    region: str
    endpoint: str | None = None
    account_id: str = ""
    emulator: str | None = None  # the emulator behind `endpoint` when that is a strict front
    strict_front: str | None = None  # the front's record name (build/emulators/strict-<name>.json)
    access_key: str | None = None  # emulator keys only
    secret_key: str | None = None  # emulator keys only (moto/LocalStack test credentials)
    profile: str | None = None  # real accounts: the AWS profile name, never a key
    suffix: str = ""
    fault: str | None = None
    matrix_profile: str = ""
    project: str = "stackmatrix"
    kept: bool = False
    created: float = field(default_factory=time.time)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return deployments_dir() / f"{self.cell}.json"

    def save(self) -> None:
        write_atomic(self.path, json.dumps(asdict(self), indent=2, sort_keys=True))

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)

    def as_cell(self) -> Any:
        """The cell this record deployed, enough to destroy and leak-check it."""
        return Cell(self.region, self.suffix, self.fault, self.target, self.engine, self.matrix_profile,
                    {"project": self.project})

    def access(self, region: str | None = None) -> Access:
        return Access(region or self.region, self.endpoint, self.access_key, self.secret_key, None,
                      self.profile, self.account_id)

    @classmethod
    def read(cls, path: Path) -> Deployment:
        """The record in `path`; an unreadable one is a UsageError naming the file and the way out."""
        try:
            data = json.loads(Path(path).read_text())
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            return cls(**data)
        except (OSError, ValueError, TypeError) as exc:
            raise UsageError(f"deployment record {path} cannot be read ({type(exc).__name__}: {exc}); move it "
                             "away (its cell may still be deployed: look in its account)") from exc

    @classmethod
    def load(cls, cell: str) -> Deployment | None:
        """The record of `cell`, None when it has none. Looked up among the records' file names: a cell
        id given on the command line never becomes a path (`../runs/x` must not read build/runs/x.json)."""
        for path in deployments_dir().glob("*.json"):
            if path.stem == cell:
                return cls.read(path)
        return None

    @classmethod
    def all(cls) -> list[Deployment]:
        """Every record, sorted by cell id; an unreadable one is named (UsageError)."""
        return [cls.read(p) for p in sorted(deployments_dir().glob("*.json"))]


def cells_on(*urls: str | None) -> list[str]:
    """The cells whose deployment record reaches an emulator at one of `urls` (as its endpoint, or as
    the emulator behind its strict front). A record that cannot be read counts: it may."""
    wanted = {u.rstrip("/") for u in urls if u}
    out = []
    for path in sorted(deployments_dir().glob("*.json")):
        try:
            d = Deployment.read(path)
        except UsageError:
            out.append(path.stem)
            continue
        if {(d.endpoint or "").rstrip("/"), (d.emulator or "").rstrip("/")} & wanted:
            out.append(d.cell)
    return out


class Target:
    """A place to deploy: `start()`, `access(cell, run_id)` per cell, `stop()`."""

    name = "target"
    endpoint: str | None = None  # what every client path uses
    emulator_url: str | None = None  # the emulator itself (the strict front's upstream)
    front: Any = None  # the StrictFront in front of it, None with --no-strict or on real AWS

    def start(self) -> None:
        raise NotImplementedError

    def access(self, cell_id: str, region: str, run_id: str) -> Access:
        raise NotImplementedError

    def reattach(self, deployment: Deployment) -> Access:
        """Access to an existing deployment's account (kept or crashed cells)."""
        return deployment.access()

    def describe(self) -> dict[str, str]:
        """Facts for the report environment (version, endpoint)."""
        return {"target": self.name}

    def stop(self, keep_running: bool = False) -> None:
        raise NotImplementedError
