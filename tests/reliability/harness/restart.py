"""The emulator dies in the middle of an apply and comes back empty: the cell fails naming it, the
state stays true, and a re-run converges.

One restart trial, on a moto server the battery owns (passed to the run with --endpoint):

1. `python -m matrix run --profile dev --bootstrap-backend --skip-live --no-report` starts; when the
   local state records k resources (seeded), the moto server is SIGKILLed. The cell must fail with
   the cause named (botocore's "Could not connect to the endpoint URL", connection refused), exit 1,
   and its local state copy must be readable terraform state v4 that claims nothing the engine did not
   create (every address in it has its "created <address> (<id>)" line in the engine log, same id).
2. moto is started again on the same port: everything it held is gone (accounts, keys, bucket,
   resources).
3. the same command without --bootstrap-backend must fail on the missing state bucket, naming the
   bucket and --bootstrap-backend.
4. with --bootstrap-backend it must converge: the resources of the old state are drift ("deleted
   outside stackmatrix; will be re-created"), all 33 are created, destroyed, and no leftovers remain in
   the accounts of the run ledgers.

The trial also records what the deployment record and the account keys look like after the restart
(moto forgets the IAM users that map keys to accounts), which the runner relies on to resume.
"""

from __future__ import annotations

import json
import random
import re
import time
from typing import Any

import boto3
from botocore.config import Config

from harness import census as cz
from harness.kill import StateWatcher
from harness.procs import Child
from harness.workspace import Moto, Workspace
from matrix.clients import Access, ClientFactory
from matrix.state.tfstate import State, StateError

CELL = "us-east-1-dev"
#: how a failure may name the vanished emulator (botocore's connection errors, or the runner's own words)
GONE = ("Could not connect to the endpoint URL", "Connection refused", "EndpointConnectionError",
        "ConnectionClosedError", "Connection was closed", "is gone")


def _run(ws: Workspace, url: str, *extra: str, timeout: float = 600) -> tuple[int | None, str, float]:
    args = ["-m", "matrix", "run", "--profile", "dev", "--skip-live", "--no-report", "--endpoint", url, *extra]
    started = time.monotonic()
    with Child.python(*args, env=ws.env()) as child:
        code = child.wait(timeout)
        return code, child.stderr() + "\n" + child.stdout(), time.monotonic() - started


def _result(ws: Workspace) -> dict[str, Any]:
    try:
        return json.loads((ws.root / "cells" / CELL / "result.json").read_text())
    except (OSError, ValueError):
        return {}


def _record(ws: Workspace) -> dict[str, Any] | None:
    try:
        return json.loads((ws.root / "deployments" / f"{CELL}.json").read_text())
    except (OSError, ValueError):
        return None


def state_claims(ws: Workspace) -> dict[str, Any]:
    """Is the local state readable v4, and does it claim only what the engine logged as created?"""
    local = ws.root / "state" / CELL / "terraform.tfstate"
    out: dict[str, Any] = {"local_state": local.is_file()}
    if not local.is_file():
        out.update(readable=True, resources=0, unproven=[])
        return out
    try:
        state = State.from_json(local.read_text(), str(local))
    except StateError as exc:
        out.update(readable=False, error=str(exc))
        return out
    log = (ws.root / "cells" / CELL / "engine.log")
    text = log.read_text() if log.is_file() else ""
    created = dict(re.findall(r"created (\S+) \(([^)]*)\)", text))
    addresses = state.addresses()
    out.update(readable=True, version=state.data.get("version"), serial=state.serial, resources=len(addresses),
               unproven=[a for a in addresses if created.get(a) != (state.get(a) or {}).get("id")],
               pending=sorted(json.loads((local.parent / "pending.json").read_text()))
               if (local.parent / "pending.json").is_file() else [])
    return out


def caller_account(url: str, record: dict[str, Any] | None) -> str | None:
    """The account the record's keys reach on the (restarted) emulator."""
    if not record or not record.get("access_key"):
        return None
    sts = boto3.client("sts", endpoint_url=url, region_name="us-east-1", aws_access_key_id=record["access_key"],
                       aws_secret_access_key=record.get("secret_key") or "x",
                       config=Config(retries={"total_max_attempts": 2}))
    return sts.get_caller_identity()["Account"]


def leftovers(ws: Workspace) -> list[str]:
    found = []
    for ledger in sorted((ws.root / "runs").glob("*.json")):
        for c in json.loads(ledger.read_text()).get("cells", []):
            access = Access(c["region"], c.get("endpoint"), c.get("access_key"), c.get("secret_key"), None, None,
                            c.get("account_id", ""))
            live = cz.census(ClientFactory(access, max_attempts=3), c["region"], "stackmatrix")
            found += [f"{ledger.stem}: {k} {i}" for k, ids in live.items() for i in ids]
    return sorted(set(found))


def trial(base: Workspace, index: int, kill_at: int, max_attempts: int | None, log=print) -> dict[str, Any]:
    ws = base.sub(f"restart-{index}")
    ws.copy_synth_from(base, [CELL])
    out: dict[str, Any] = {"trial": index, "kill_at": kill_at, "max_attempts": max_attempts or "default (8)"}
    attempts = ["--max-attempts", str(max_attempts)] if max_attempts else []
    moto = Moto().start()
    try:
        args = ["-m", "matrix", "run", "--profile", "dev", "--bootstrap-backend", "--skip-live", "--no-report",
                "--endpoint", moto.url, *attempts]
        with Child.python(*args, env=ws.env()) as child:
            watcher = StateWatcher(ws.root / "state" / CELL / "terraform.tfstate")
            out["point_reached"] = child.wait_for(lambda: sum(watcher.poll().values()) >= kill_at, 120, 0.002)
            moto.kill()
            killed = time.monotonic()
            out["exit"] = child.wait(900)
            out["fail_seconds"] = round(time.monotonic() - killed, 1)
            text = child.stderr()
        result = _result(ws)
        error = result.get("error") or {}
        out["error"] = error
        out["failure_named"] = out["exit"] == 1 and any(g in json.dumps(error) for g in GONE)
        out["stderr_tail"] = text.splitlines()[-6:]
        out["state"] = state_claims(ws)
        out["state_consistent"] = bool(out["state"]["readable"] and not out["state"]["unproven"])
        out["record_after_crash"] = _record(ws) is not None

        moto.restart()
        record = _record(ws)
        try:
            out["record_keys_reach"] = caller_account(moto.url, record)
            out["record_account"] = (record or {}).get("account_id")
        except Exception as exc:  # the finding is what happened, not a crash of the battery
            out["record_keys_reach"] = f"{type(exc).__name__}: {exc}"
        code, text, _ = _run(ws, moto.url, *attempts)
        out["no_bootstrap_exit"] = code
        bucket = "stackmatrix-tfstate-us-east-1"
        out["missing_bucket_reported"] = code == 1 and bucket in text and "--bootstrap-backend" in text
        out["record_after_missing_bucket"] = _record(ws) is not None

        code, text, seconds = _run(ws, moto.url, "--bootstrap-backend", *attempts)
        result = _result(ws)
        out["rerun_exit"] = code
        out["rerun_seconds"] = round(seconds, 1)
        out["rerun_changes"] = result.get("changes")
        engine_log = ws.root / "cells" / CELL / "engine.log"
        log_text = engine_log.read_text() if engine_log.is_file() else ""
        out["drift_recreated"] = log_text.count("deleted outside stackmatrix; will be re-created")
        out["leaks"] = leftovers(ws)
        out["reconverged"] = bool(code == 0 and (result.get("changes") or {}).get("create") == 33
                                  and result.get("status") == "passed" and not result.get("leaks"))
        out["drift_ok"] = out["drift_recreated"] >= out["state"].get("resources", 0) or not out["state"]["local_state"]
    finally:
        moto.stop()
    out["ok"] = bool(out.get("failure_named") and out.get("state_consistent") and out.get("missing_bucket_reported")
                     and out.get("reconverged") and out.get("drift_ok") and not out.get("leaks"))
    log(f"restart {index}: moto killed at {kill_at} resources; cell failed in {out.get('fail_seconds')} s "
        f"(exit {out.get('exit')}, cause named: {out.get('failure_named')}); state readable "
        f"{out['state'].get('readable')}, {out['state'].get('resources')} resources, unproven "
        f"{out['state'].get('unproven')}; missing bucket reported {out.get('missing_bucket_reported')}; re-run exit "
        f"{out.get('rerun_exit')}, drift re-created {out.get('drift_recreated')}, leaks {len(out.get('leaks', []))}"
        f"{'' if out['ok'] else ' -- FAILED'}")
    return out


def run_battery(base: Workspace, restarts: int, seed: int, log=print) -> dict[str, Any]:
    rng = random.Random(seed + 2)
    started = time.monotonic()
    records = [trial(base, i, rng.randint(3, 30), None if i == 0 else 3, log) for i in range(restarts)]
    return {
        "restarts": len(records),
        "restarts_survived": sum(1 for r in records if r["ok"]),
        "failure_named": sum(1 for r in records if r.get("failure_named")),
        "state_consistent": sum(1 for r in records if r.get("state_consistent")),
        "missing_bucket_reported": sum(1 for r in records if r.get("missing_bucket_reported")),
        "reconverged": sum(1 for r in records if r.get("reconverged")),
        "leaks_found": sum(len(r.get("leaks", [])) for r in records),
        "fail_seconds": [r.get("fail_seconds") for r in records],
        "seconds": round(time.monotonic() - started, 1),
        "records": records,
    }


def problems(section: dict[str, Any]) -> list[str]:
    out = []
    for r in section["records"]:
        if not r["ok"]:
            keys = ("failure_named", "state_consistent", "missing_bucket_reported", "reconverged", "drift_ok")
            out.append(f"restart trial {r['trial']}: " + ", ".join(f"{k}={r.get(k)}" for k in keys)
                       + f", leaks={r.get('leaks')}, error={r.get('error')}")
    return out
