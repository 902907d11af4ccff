"""SIGINT and SIGTERM during a parallel matrix run: everything deployed is destroyed, the report is
written, the exit is non-zero, and all of it within a measured time.

Each signal run is `python -m matrix run` over a nightly subset (2 regions x 2 suffixes = 4 cells,
--jobs 2, live suite on, HTML report on) in a build folder of its own, against a fresh moto server
of the battery's (passed with --endpoint, so the accounts are still there to be checked after the
run exits). The signal lands at a seeded point, chosen by watching the run's progress lines: a few
hundred milliseconds after the k-th cell reported its backend check (apply running), its apply (live
suite running), its live suite (destroy running), or after the target came up.

* SIGINT goes to the run's whole process group, as a terminal's Ctrl-C does (the live-suite pytest
  child gets it too);
* SIGTERM goes to the run's process only, as a CI runner or `kill PID` does.

Afterwards: exit code non-zero; a result.json for every cell; allure-results present and the HTML
report built (when the Allure CLI is installed); the run record says interrupted; no deployment record
left; and, in the account of every cell of the run's ledger (build/runs/<run-id>.json), nothing
carrying the run's tags (matrix.leaks.find_leftovers) and nothing at all (census). Times: from the
signal to the last cell's teardown (result.json `stopped`) and to the process exit. No process of
the run's group may outlive it.
"""

from __future__ import annotations

import json
import random
import signal
import time
import uuid
from pathlib import Path
from typing import Any

from harness import census as cz
from harness.procs import Child, wait_until
from harness.workspace import Moto, Workspace
from matrix.clients import Access, ClientFactory
from matrix.leaks import find_leftovers
from matrix.paths import PROJECT_ROOT

PROFILE = "nightly"
REGIONS = ("us-east-1", "eu-west-1")
SUFFIXES = ("dev", "qa")
EVENTS = ("target:", "backend:", "apply:", "live suite:")
REPORT_EVENT = "cell(s) passed in"  # the run's summary line: every cell is done, the report is next
EXIT_TIMEOUT = 600.0


def subset_cells() -> list[Any]:
    from matrix.cells import load_profile_cells

    return load_profile_cells(PROFILE, regions=list(REGIONS), suffixes=list(SUFFIXES))


def plan(runs: int, seed: int) -> list[dict[str, Any]]:
    """Seeded signal points; SIGINT and SIGTERM alternate, events cycle so each is hit."""
    rng = random.Random(seed)
    events = list(EVENTS[1:])
    rng.shuffle(events)
    out = []
    for i in range(runs):
        event = events[i % len(events)] if i < runs - 1 or runs < 4 else "target:"
        out.append({"signal": "SIGINT" if i % 2 == 0 else "SIGTERM", "event": event,
                    "nth": 1 if event == "target:" else rng.randint(1, 3),
                    "delay_ms": rng.randint(200, 1500) if event == "target:" else rng.randint(0, 400)})
    return out


def _count(child: Child, needle: str) -> int:
    return sum(1 for _, line in list(child.err) + list(child.out) if needle in line)


def signal_run(base: Workspace, index: int, point: dict[str, Any], log=print) -> dict[str, Any]:
    ws = base.sub(f"signal-{index}")
    ws.copy_synth_from(base, [c.id for c in subset_cells()])
    run_id = f"sig-{index}-{uuid.uuid4().hex[:6]}"
    args = ["-m", "matrix", "run", "--profile", PROFILE, "--jobs", "2", "--bootstrap-backend", "--run-id", run_id]
    for r in REGIONS:
        args += ["--region", r]
    for s in SUFFIXES:
        args += ["--suffix", s]
    out: dict[str, Any] = {"run": index, **point, "run_id": run_id}
    sig = signal.SIGINT if point["signal"] == "SIGINT" else signal.SIGTERM
    with Moto() as moto:
        child = Child.python(*args, "--endpoint", moto.url, env=ws.env())
        try:
            out["point_reached"] = child.wait_for(lambda: _count(child, point["event"]) >= point["nth"], 300, 0.01)
            time.sleep(point["delay_ms"] / 1000)
            sent_wall, sent = time.time(), time.monotonic()
            out["cells_started"] = _count(child, "backend:")
            child.signal(sig, group=sig == signal.SIGINT)
            code = child.wait(EXIT_TIMEOUT)
            out["exit_seconds"] = round(time.monotonic() - sent, 2)
            out["exit"] = code
            out["group_left"] = wait_until(lambda: not child.group_alive(), 10) is False
        finally:
            child.close()
        out["stderr_tail"] = child.stderr().splitlines()[-12:]
        out.update(_after(ws, run_id, sent_wall))
        out["leaks"] = _leaks(ws, run_id)
    out["ok"] = bool(out["exit"] not in (0, None) and not out["leaks"] and out["results_complete"]
                     and out["allure_results"] and out["report_ok"] and not out["records_left"]
                     and not out["group_left"])
    log(f"signal run {index}: {point['signal']} after {point['event']!r} #{point['nth']} +{point['delay_ms']} ms: "
        f"exit {out['exit']} in {out['exit_seconds']} s, teardown done {out.get('teardown_seconds')} s after the "
        f"signal, cells deployed {out['cells_deployed']}, leaks {len(out['leaks'])}, report "
        f"{'ok' if out['report_ok'] else 'MISSING'}{'' if out['ok'] else ' -- FAILED'}")
    return out


def _after(ws: Workspace, run_id: str, sent_wall: float) -> dict[str, Any]:
    root = ws.root
    cells = [c.id for c in subset_cells()]
    results = {}
    for cell in cells:
        path = root / "cells" / cell / "result.json"
        try:
            results[cell] = json.loads(path.read_text())
        except (OSError, ValueError):
            results[cell] = None
    stopped = [r["stopped"] for r in results.values() if r and r.get("stopped")]
    deployed = [c for c, r in results.items() if r and any(s["name"] == "apply" for s in r.get("steps", []))]
    allure_cli = (PROJECT_ROOT / "node_modules" / ".bin" / "allure").exists()
    run_record = _json(root / "run.json") or {}
    return {
        "results_complete": all(results.values()),
        "statuses": {c: (r or {}).get("status") for c, r in results.items()},
        "cells_deployed": len(deployed),
        "teardown_seconds": round(max(stopped) / 1000 - sent_wall, 2) if stopped else None,
        "allure_results": (root / "allure-results").is_dir() and any((root / "allure-results").iterdir()),
        "report_ok": (root / "allure-report" / "index.html").is_file() if allure_cli else True,
        "report_html": allure_cli,
        "interrupted_recorded": run_record.get("interrupted"),
        "records_left": sorted(p.name for p in (root / "deployments").glob("*.json")),
    }


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _leaks(ws: Workspace, run_id: str) -> list[str]:
    """Everything left in the accounts of the run's ledger: tagged leftovers, then anything at all."""
    ledger = _json(ws.root / "runs" / f"{run_id}.json") or {"cells": []}
    found = []
    for c in ledger["cells"]:
        access = Access(c["region"], c.get("endpoint"), c.get("access_key"), c.get("secret_key"), None, None,
                        c.get("account_id", ""))
        clients = ClientFactory(access, max_attempts=3)
        left = find_leftovers(clients, c["region"], {"RunId": run_id, "EnvironmentSuffix": c["suffix"]},
                              fault=c.get("fault"), iam_prefix="stackmatrix")
        found += [f"{c['cell']}: {lo.line()}" for lo in left]
        live = cz.census(clients, c["region"], "stackmatrix")
        found += [f"{c['cell']}: {k} {i} (untagged)" for k, ids in live.items() for i in ids
                  if not any(i in f for f in found)]
    return found


def report_phase_points(seed: int) -> list[dict[str, Any]]:
    """A signal while the report is built (every cell done): the report must still be written."""
    rng = random.Random(seed + 3)
    return [{"signal": sig, "event": REPORT_EVENT, "nth": 1, "delay_ms": rng.randint(0, 150)}
            for sig in ("SIGINT", "SIGTERM")]


def run_battery(base: Workspace, runs: int, seed: int, log=print, report_phase: bool = True) -> dict[str, Any]:
    started = time.monotonic()
    records = [signal_run(base, i, p, log) for i, p in enumerate(plan(runs, seed))]
    late = [signal_run(base, runs + i, p, log) for i, p in enumerate(report_phase_points(seed))] \
        if report_phase else []
    teardown = [r["teardown_seconds"] for r in records if r.get("teardown_seconds") is not None]
    exits = [r["exit_seconds"] for r in records + late]
    return {
        "runs": len(records) + len(late),
        "by_signal": {s: sum(1 for r in records + late if r["signal"] == s) for s in ("SIGINT", "SIGTERM")},
        "cells_deployed": sum(r["cells_deployed"] for r in records),
        "leaks_found": sum(len(r["leaks"]) for r in records + late),
        "reports_written": sum(1 for r in records + late if r["report_ok"] and r["allure_results"]),
        "teardown_seconds": {"max": max(teardown, default=0.0),
                             "mean": round(sum(teardown) / len(teardown), 2) if teardown else 0.0},
        "exit_seconds": {"max": max(exits, default=0.0), "mean": round(sum(exits) / len(exits), 2) if exits else 0.0},
        "exit_codes": sorted({r["exit"] for r in records + late}, key=str),
        "report_phase_reports": f"{sum(1 for r in late if r['report_ok'])}/{len(late)}",
        "failed": [r["run"] for r in records + late if not r["ok"]],
        "seconds": round(time.monotonic() - started, 1),
        "records": records,
        "report_phase": late,
    }


def problems(section: dict[str, Any]) -> list[str]:
    out = []
    for r in section["records"] + section.get("report_phase", []):
        if r["ok"]:
            continue
        why = [k for k, bad in (("exit code 0 or none", r["exit"] in (0, None)), ("leaks", bool(r["leaks"])),
                                ("result.json missing", not r["results_complete"]),
                                ("allure-results missing", not r["allure_results"]),
                                ("HTML report missing", not r["report_ok"]),
                                ("deployment records left", bool(r["records_left"])),
                                ("processes outlived the run", r["group_left"])) if bad]
        out.append(f"run {r['run']} ({r['signal']} after {r['event']!r}): {', '.join(why)}; "
                   f"stderr tail: {' | '.join(r['stderr_tail'][-4:])}")
    return out
