"""`nox -s bench -- synth`: one-process synth against one process per cell, side by side.

For each CDK flavor installed (cdktf, cdktn), in one run on this machine:
  * the 12 nightly cells synthesized by ONE worker process (how `matrix synth` works);
  * the same 12 cells, one worker process per cell (the same worker code, 12 times);
  * peak resident memory of the one-process synth (worker + its jsii node process);
  * a re-synth of the 12 unchanged cells from the cache (no worker at all).
With `--eager` also the naive baseline: one `python stack/app.py`-style process per cell importing
the whole provider package (what a project without the seam pays).
Targets (issue 2): ratio >= 8x, cache <= 1 s, peak <= 1.5 GB with cdktf.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Callable
from importlib.util import find_spec
from pathlib import Path

from bench.measure import run_measured, save, table, timed
from matrix.cells import load_profile_cells
from matrix.paths import PROJECT_ROOT, build_dir

TARGET_RATIO = 8.0
TARGET_CACHE_S = 1.0
TARGET_PEAK_MB = 1536

EAGER = """
import json, os, sys, time
sys.path.insert(0, {root!r})
import importlib
importlib.import_module({provider!r})  # the package __init__: every submodule, as plain imports do
from stack.app import synthesize
synthesize(json.loads(sys.stdin.read()), __import__('pathlib').Path({out!r}), {flavor!r})
sys.stdout.flush()
"""


def _jobs(cells, flavor: str) -> list[dict]:
    from matrix.synth import cache_key, library_versions, sources_digest

    versions, digest = library_versions(flavor), sources_digest()
    return [{"cell": c.id, "config": c.stack_config().to_dict(), "key": cache_key(c, flavor, digest, versions)}
            for c in cells]


def _worker(jobs: list[dict], outroot: Path, flavor: str) -> tuple[float, int]:
    env = dict(os.environ, JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="20", PYTHONPATH=str(PROJECT_ROOT))
    request = json.dumps({"jobs": jobs, "outroot": str(outroot), "flavor": flavor})
    seconds, peak, proc = run_measured([sys.executable, "-m", "stack.app", "--worker"], input_text=request,
                                       env=env, cwd=PROJECT_ROOT)
    if proc.returncode != 0:
        raise RuntimeError(f"synth worker failed: {proc.stdout[-500:]} {proc.stderr[-500:]}")
    return seconds, peak


def bench_flavor(flavor: str, eager: bool, report: Callable[[str], None]) -> dict:
    cells = load_profile_cells("nightly")
    jobs = _jobs(cells, flavor)
    with tempfile.TemporaryDirectory(dir=build_dir()) as tmp:
        one_s, one_peak = _worker(jobs, Path(tmp, "one"), flavor)
        report(f"  {flavor}: one process, 12 cells: {one_s:.1f} s, peak {one_peak} MB")
        per_s, per_peak = 0.0, 0
        for job in jobs:
            s, peak = _worker([job], Path(tmp, "per"), flavor)
            per_s += s
            per_peak = max(per_peak, peak)
        report(f"  {flavor}: one process per cell: {per_s:.1f} s")
        result = {"flavor": flavor, "one_process_s": round(one_s, 2), "per_cell_s": round(per_s, 2),
                  "ratio": round(per_s / one_s, 2), "peak_mb": one_peak, "per_cell_peak_mb": per_peak}
        if eager:
            from stack.cdk import FLAVORS

            eager_s = 0.0
            for job in jobs:
                code = EAGER.format(root=str(PROJECT_ROOT), provider=FLAVORS[flavor][1],
                                    out=str(Path(tmp, "eager")), flavor=flavor)
                s, _, _proc = run_measured([sys.executable, "-c", code], input_text=json.dumps([job]),
                                          env=dict(os.environ, JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="20"))
                eager_s += s
            result["eager_per_cell_s"] = round(eager_s, 2)
            result["eager_ratio"] = round(eager_s / one_s, 2)
            report(f"  {flavor}: eager import, one process per cell: {eager_s:.1f} s")
    return result


def bench_cache(report: Callable[[str], None]) -> float:
    from matrix.synth import synthesize

    cells = load_profile_cells("nightly")
    synthesize(cells)  # make sure the cache is warm
    seconds, result = timed(lambda: synthesize(cells))
    assert len(result.cached) == 12
    report(f"  re-synth of 12 unchanged cells from cache: {seconds:.3f} s")
    return seconds


def main(argv: list[str], report: Callable[[str], None] = print) -> dict:
    eager = "--eager" in argv
    flavors = [f for f in ("cdktf", "cdktn") if find_spec(f) is not None]
    build_dir().mkdir(parents=True, exist_ok=True)
    report(f"bench synth: nightly profile (12 cells), flavors {', '.join(flavors)}")
    results = [bench_flavor(f, eager, report) for f in flavors]
    cache_s = bench_cache(report)
    rows = [("flavor", "1 process (s)", "1 per cell (s)", "ratio", "target", "peak MB", "target")]
    for r in results:
        rows.append((r["flavor"], f"{r['one_process_s']:.1f}", f"{r['per_cell_s']:.1f}", f"{r['ratio']:.1f}x",
                     f">= {TARGET_RATIO:.0f}x", str(r["peak_mb"]),
                     f"<= {TARGET_PEAK_MB}" if r["flavor"] == "cdktf" else "-"))
        if "eager_ratio" in r:
            rows.append((f"{r['flavor']} (eager)", f"{r['one_process_s']:.1f}", f"{r['eager_per_cell_s']:.1f}",
                         f"{r['eager_ratio']:.1f}x", "", "", ""))
    rows.append(("cache", f"{cache_s:.3f}", "", "", f"<= {TARGET_CACHE_S:.0f} s", "", ""))
    table(rows, report)
    summary = {"flavors": results, "cache_s": round(cache_s, 3)}
    save("synth", summary, report)
    return summary


if __name__ == "__main__":
    main(sys.argv[1:])
