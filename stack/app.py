"""The CDKTF app: many cells synthesized in one process, and the entry the cdktf CLI runs.

Three ways in:

* `synthesize(jobs, outroot, flavor)`: one App holding one VpcStack per cell, synthesized once;
  each stack's `cdk.tf.json` is moved to `<outroot>/<cell-id>/cdk.tf.json` (atomically) next to a
  `meta.json` recording the cache key and a `locations.json` naming the Python line that created
  each construct (stack/cdk.py's `record_locations`). Used by the worker below and by the warm dev-loop process.
* `python -m stack.app --worker`: reads a JSON job list on stdin (written by matrix/synth.py),
  synthesizes it, prints one JSON result line on stdout, then ends the jsii runtime and leaves with
  `os._exit` (interpreter teardown after a synth takes seconds and does nothing useful:
  docs/measurements.md).
* `python3 stack/app.py` (the `app` of cdktf.json): synthesizes the cells of a profile into the
  directory the cdktf CLI gives in CDKTF_OUTDIR, so `cdktf synth`/`cdktf deploy` work per stack.
  STACKMATRIX_PROFILE (default `dev`) and STACKMATRIX_CELLS (comma-separated ids) choose the cells.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __name__ == "__main__" and __package__ in (None, ""):  # run as a file by the cdktf CLI
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from matrix.cells import load_profile_cells
from matrix.files import write_atomic
from matrix.paths import SYNTH_FILE
from stack.cdk import load, record_locations, stop_runtime
from stack.config import StackConfig
from stack.vpc import make_stack

REPO_ROOT = Path(__file__).resolve().parent.parent


def synthesize(
    jobs: list[dict[str, Any]], outroot: Path, flavor: str | None = None, progress=None
) -> dict[str, Any]:
    """jobs: [{"cell": id, "config": StackConfig.to_dict(), "key": cache key}] -> timings."""
    started = time.monotonic()
    cdk = load(flavor)
    loaded = time.monotonic()
    outroot.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=outroot, prefix=".app-") as tmp, record_locations(REPO_ROOT) as where:
        app = cdk.core.App(outdir=tmp)
        stacks = {}
        for n, job in enumerate(jobs, 1):
            cfg = StackConfig.from_dict(job["config"])
            stacks[job["cell"]] = cfg.stack_id
            make_stack(app, cfg, cdk)
            if progress:
                progress(f"constructed {job['cell']} ({n}/{len(jobs)})")
        app.synth()
        for job in jobs:
            cell = job["cell"]
            src = Path(tmp, "stacks", stacks[cell], SYNTH_FILE)
            dest = outroot / cell
            where.write(dest, stacks[cell])  # before cdk.tf.json: a fresh cdk.tf.json always has its map
            write_atomic(dest / SYNTH_FILE, src.read_text())
            meta = {
                "cell": cell, "key": job["key"], "stack_id": stacks[cell], "flavor": cdk.flavor,
                "versions": cdk.versions, "synthesized_at": time.time(),
            }
            write_atomic(dest / "meta.json", json.dumps(meta, indent=2, sort_keys=True))
    done = time.monotonic()
    return {
        "flavor": cdk.flavor, "cells": [j["cell"] for j in jobs],
        "load_seconds": round(loaded - started, 3), "synth_seconds": round(done - loaded, 3),
    }


def _worker() -> None:
    request = json.loads(sys.stdin.read())
    code = 0
    try:
        result = synthesize(
            request["jobs"], Path(request["outroot"]), request.get("flavor"),
            progress=lambda msg: print(f"synth: {msg}", file=sys.stderr, flush=True),
        )
        print(json.dumps({"ok": True, **result}), flush=True)
    except Exception as exc:  # reported to the parent, which names the cell and the cause
        print(json.dumps({"ok": False, "error": f"{type(exc).__name__}: {exc}"}), flush=True)
        code = 1
    stop_runtime()
    sys.stderr.flush()
    os._exit(code)


def _cli_app() -> None:
    """Entry for the cdktf CLI: synthesize a profile's cells into CDKTF_OUTDIR."""
    profile = os.environ.get("STACKMATRIX_PROFILE", "dev")
    wanted = [c for c in os.environ.get("STACKMATRIX_CELLS", "").split(",") if c]
    cells = load_profile_cells(profile)
    if wanted:
        unknown = sorted(set(wanted) - {c.id for c in cells})
        if unknown:
            sys.exit(f"STACKMATRIX_CELLS names cells not in profile {profile!r}: {', '.join(unknown)}")
        cells = [c for c in cells if c.id in wanted]
    cdk = load()
    app = cdk.core.App()  # honours CDKTF_OUTDIR / CDKTF_CONTEXT_JSON set by the CLI
    with record_locations(REPO_ROOT) as where:
        for cell in cells:
            make_stack(app, cell.stack_config(), cdk)
    app.synth()
    for cell in cells:  # each stack's construct locations next to its cdk.tf.json
        stack_id = cell.stack_config().stack_id
        where.write(Path(app.outdir, "stacks", stack_id), stack_id)
    stop_runtime()
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    if "--worker" in sys.argv[1:]:
        _worker()
    else:
        _cli_app()
