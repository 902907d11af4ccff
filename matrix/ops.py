"""Operations on cells that outlive a run: destroy kept cells, print their environment, sweep
leftovers by tag, force-unlock a state lock. All of them start from the deployment records
(build/deployments/) and the run ledgers (build/runs/<run-id>.json) the runner writes.
"""

from __future__ import annotations

import json
import shlex
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matrix.cells import Cell, run_settings
from matrix.clients import Access, ClientFactory
from matrix.errors import StackmatrixError, UsageError
from matrix.files import write_atomic
from matrix.leaks import destroy_and_check, find_leftovers, sweep
from matrix.options import RunOptions
from matrix.paths import build_dir, synth_file
from matrix.targets.base import Deployment, deployments_dir

# -- run ledgers -------------------------------------------------------------------------------

def ledger_path(run_id: str) -> Path:
    return build_dir() / "runs" / f"{run_id}.json"


_ledger_lock = threading.Lock()


def record_in_ledger(run_id: str, entry: dict[str, Any]) -> None:
    """Remember where a run put a cell (target, endpoint, account, region), for sweeps."""
    with _ledger_lock:
        path = ledger_path(run_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        data: dict[str, Any] = _read_ledger(path) if path.is_file() else {"run_id": run_id, "cells": []}
        data["cells"] = [c for c in data["cells"] if c.get("cell") != entry.get("cell")] + [entry]
        write_atomic(path, json.dumps(data, indent=2, sort_keys=True))  # a kill mid-write never truncates it


def _read_ledger(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
        if not isinstance(data, dict) or not isinstance(data.get("run_id"), str) or not all(
                isinstance(c, dict) and {"cell", "region", "suffix"} <= set(c) for c in data.get("cells", [])):
            raise ValueError("not a run ledger (run_id, cells with cell/region/suffix)")
    except (OSError, ValueError) as exc:
        raise UsageError(f"run ledger {path} cannot be read ({exc}); move it away (the run's accounts may still "
                         "hold resources: sweep them by hand)") from exc
    return data


def ledgers() -> list[dict[str, Any]]:
    return [_read_ledger(p) for p in sorted((build_dir() / "runs").glob("*.json"))]


# -- deployment records ------------------------------------------------------------------------

def deployment_records() -> dict[str, Deployment]:
    """Every deployment record (build/deployments/*.json), by cell; an unreadable one is named."""
    return {d.cell: d for d in Deployment.all()}


def load_record(cell_id: str) -> Deployment | None:
    """The record of `cell_id` (matrix/targets/base.py reads it), None when it has none."""
    return Deployment.load(cell_id)


def known_cells() -> list[str]:
    return sorted(p.stem for p in deployments_dir().glob("*.json"))


# -- env ---------------------------------------------------------------------------------------

def env_exports(cell_id: str) -> list[str]:
    d = load_record(cell_id)
    if d is None:
        known = ", ".join(known_cells()) or "none"
        raise UsageError(f"cell {cell_id!r} has no deployment record in {build_dir() / 'deployments'} "
                         f"(deployed cells: {known}); deploy it with `python -m matrix run --keep`")
    if d.endpoint and reach(d) is None:
        raise StackmatrixError(f"cell {cell_id}: its emulator at {d.emulator or d.endpoint} is gone, and with it "
                               f"the cell; forget it with `python -m matrix destroy {cell_id}`")
    lines = [f"# cell {d.cell}: run {d.run_id}, target {d.target}, account {d.account_id}"]
    if d.emulator:
        lines.append(f"# endpoint: the strict emulator in front of {d.emulator}: calls AWS would refuse "
                     "are refused with AWS's error")
    lines.append(f"export AWS_REGION={shlex.quote(d.region)} AWS_DEFAULT_REGION={shlex.quote(d.region)}")
    if d.endpoint:
        lines.append(f"export AWS_ENDPOINT_URL={shlex.quote(d.endpoint)}")
        lines.append(f"export AWS_ACCESS_KEY_ID={shlex.quote(d.access_key or '')} "
                     f"AWS_SECRET_ACCESS_KEY={shlex.quote(d.secret_key or '')}  # emulator test keys of this cell")
    else:
        lines.append(f"export AWS_PROFILE={shlex.quote(d.profile or 'default')}  # credentials stay in your profile")
        lines.append("unset AWS_ENDPOINT_URL")
    return lines


# -- destroy -----------------------------------------------------------------------------------

def _emulator_answers(target: str, url: str | None) -> bool:
    if not url:
        return False
    if target == "moto":
        from matrix.targets.moto import answers  # lazy: only for a record on that emulator

        return answers(url, 2)
    from matrix.targets.localstack_host import health  # lazy: only for a record on that emulator

    return health(url) is not None


def reach(d: Deployment) -> str | None:
    """The endpoint that reaches a deployed cell now, or None when its emulator is gone. A cell behind
    the strict emulator keeps it: when the emulator answers but its front died, the front is started
    again (on its old port when free) and the record follows it."""
    if d.target not in ("moto", "localstack"):
        return d.endpoint
    if _emulator_answers(d.target, d.endpoint):
        return d.endpoint
    if not (d.emulator and d.strict_front and _emulator_answers(d.target, d.emulator)):
        return None
    from matrix.targets.strict_front import StrictFront, port_of  # lazy: only for a record on that emulator

    front = StrictFront.ensure(d.strict_front, d.emulator, port=port_of(d.endpoint or ""))
    if front.url != d.endpoint:
        d.endpoint = front.url
        d.save()
    return d.endpoint


def _target_for(d: Deployment):
    """The target a record's cell lives on, or None when its emulator is gone."""
    return None if d.endpoint and reach(d) is None else d.target


def destroy_deployments(cells: list[str], profile_cells: list[Cell] | None, log: Callable[[str], None],
                        allow_real_aws: bool = False) -> int:
    """Destroy the named deployed cells from their state; returns how many failed."""
    from matrix.engines import make_engine  # lazy: `env` and `sweep` never load an engine

    records = deployment_records()
    wanted = cells or ([c.id for c in profile_cells if c.id in records] if profile_cells else sorted(records))
    unknown = [c for c in wanted if c not in records]
    if unknown:
        raise UsageError(f"no deployment record for {', '.join(repr(c) for c in unknown)}; deployed cells: "
                         f"{', '.join(sorted(records)) or 'none'}")
    if not wanted:
        log("nothing to destroy: no deployed cells")
        return 0
    failures = 0
    for cell_id in wanted:
        d = records[cell_id]
        if d.endpoint and _target_for(d) is None:
            log(f"[{cell_id}] the emulator at {d.endpoint} is gone, and with it everything the cell had; "
                "forgetting the record")
            d.remove()
            continue
        cell = d.as_cell()
        access = d.access()
        if d.target == "aws":
            from matrix.targets.aws import AwsTarget  # lazy: only for a record on that emulator

            aws = run_settings(d.matrix_profile).get("aws") or {} if d.matrix_profile else {}
            target = AwsTarget(RunOptions(target="aws", allow_real_aws=allow_real_aws, aws=aws), log)
            target.vet_for_teardown([cell])
            access = target.reattach(d)
        clients = ClientFactory(access)
        synth = synth_file(cell_id)
        if not synth.is_file():
            log(f"[{cell_id}] {synth} is missing: run `python -m matrix synth` for this cell first")
            failures += 1
            continue
        engine = make_engine(cell, synth, clients, RunOptions(target=d.target, engine=d.engine), d.run_id,
                             log, threading.Event())
        try:
            state = engine.backend.read()[0]
            count, left = destroy_and_check(engine, clients, cell, d.run_id, state)
            if left:
                failures += 1
                log(f"[{cell_id}] destroyed {count}, but leftovers remain: {', '.join(x.line() for x in left)}")
                continue
            d.remove()
            log(f"[{cell_id}] destroyed {count} resource(s); no leftovers")
        except StackmatrixError as exc:
            failures += 1
            log(f"[{cell_id}] destroy failed: {exc}")
    return failures


# -- sweep -------------------------------------------------------------------------------------

@dataclass
class SweepTarget:
    run_id: str
    cell: str
    region: str
    suffix: str
    fault: str | None
    access: Access


def sweep_targets(run_id: str | None, all_runs: bool) -> list[SweepTarget]:
    out = []
    for ledger in ledgers():
        if not all_runs and ledger.get("run_id") != run_id:
            continue
        for c in ledger.get("cells", []):
            access = Access(c["region"], c.get("endpoint"), c.get("access_key"), c.get("secret_key"), None,
                            c.get("profile"), c.get("account_id", ""))
            out.append(SweepTarget(ledger["run_id"], c["cell"], c["region"], c["suffix"], c.get("fault"), access))
    if not out and not all_runs:
        raise UsageError(f"run {run_id!r} is unknown here (no ledger of that run in {build_dir() / 'runs'}); "
                         f"known runs: {', '.join(ld['run_id'] for ld in ledgers()) or 'none'}")
    return out


def run_sweep(run_id: str | None, all_runs: bool, dry_run: bool, log: Callable[[str], None]) -> int:
    from matrix.targets.localstack_host import health  # lazy: only for a record on that emulator
    from matrix.targets.moto import answers  # lazy: only for a record on that emulator

    failures = 0
    found_any = 0
    for t in sweep_targets(run_id, all_runs):
        if t.access.endpoint and not (answers(t.access.endpoint, 2) or health(t.access.endpoint)):
            log(f"[{t.cell}] run {t.run_id}: emulator {t.access.endpoint} is gone; nothing can be left there")
            continue
        clients = ClientFactory(t.access)
        left = find_leftovers(clients, t.region, {"RunId": t.run_id, "EnvironmentSuffix": t.suffix}, fault=t.fault)
        found_any += len(left)
        for lo in left:
            log(f"[{t.cell}] run {t.run_id}: {'would delete' if dry_run else 'deleting'} {lo.line()}")
        if left and not dry_run:
            failed = sweep(clients, t.region, left, log)
            failures += len(failed)
            for f in failed:
                log(f"[{t.cell}] could not delete {f}")
    log(f"sweep: {found_any} leftover(s) found{' (dry run: nothing deleted)' if dry_run else ''}")
    return failures
