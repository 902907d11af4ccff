"""`nox -s bench -- chaos`: the fault proxy's cost and the pre-release gate, in one run.

  * proxy overhead against direct calls to a moto server (bench.proxy): added p50/p99
    latency per call and the throughput ratio, side by side;
  * the prerelease profile (every fault scenario) end to end on moto: wall time, and whether every
    cell met its expectation.
Targets (issue 4): added p50 <= 1 ms, throughput ratio >= 0.9; every prerelease cell met.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable

from bench.measure import save, table, timed
from bench.proxy import TARGET_ADDED_P50_MS, TARGET_THROUGHPUT_RATIO, bench_proxy
from matrix.cells import load_profile_cells, run_settings
from matrix.paths import build_dir


def prerelease(report: Callable[[str], None]) -> dict:
    from matrix.runner import Runner, RunOptions

    work = build_dir() / "bench" / "chaos"
    shutil.rmtree(work, ignore_errors=True)
    old = os.environ.get("STACKMATRIX_BUILD")
    os.environ["STACKMATRIX_BUILD"] = str(work)
    try:
        cells = load_profile_cells("prerelease")
        jobs = run_settings("prerelease").get("jobs") or 2
        seconds, result = timed(lambda: Runner(cells, RunOptions(jobs=jobs, bootstrap_backend=True),
                                               progress=lambda _: None).run())
    finally:
        if old is None:
            os.environ.pop("STACKMATRIX_BUILD", None)
        else:
            os.environ["STACKMATRIX_BUILD"] = old
    unmet = [r.cell for r in result.results if r.status != "passed"]
    report(f"  prerelease: {len(cells)} cells, --jobs {jobs}: {seconds:.1f} s, "
           f"{len(cells) - len(unmet)} met their expectation" + (f"; NOT met: {', '.join(unmet)}" if unmet else ""))
    return {"cells": len(cells), "jobs": jobs, "seconds": round(seconds, 1), "unmet": unmet}


def main(argv: list[str], report: Callable[[str], None] = print) -> dict:
    report("bench chaos: fault proxy overhead, then the prerelease profile")
    proxy = bench_proxy(report=report)
    gate = prerelease(report)
    added = max(v["added_p50_ms"] for v in proxy["latency"].values())
    added99 = max(v["added_p99_ms"] for v in proxy["latency"].values())
    rows = [("measure", "value", "target"),
            ("proxy added p50, worst service (ms)", f"{added:.2f}", f"<= {TARGET_ADDED_P50_MS}"),
            ("proxy added p99, worst service (ms)", f"{added99:.2f}", ""),
            ("proxy throughput ratio", f"{proxy['throughput']['ratio']:.2f}", f">= {TARGET_THROUGHPUT_RATIO}"),
            ("prerelease wall time (s)", f"{gate['seconds']}", ""),
            ("prerelease cells met", f"{gate['cells'] - len(gate['unmet'])}/{gate['cells']}", "all")]
    table(rows, report)
    save("chaos", {"proxy": proxy, "prerelease": gate}, report)
    return {"proxy": proxy, "prerelease": gate}


if __name__ == "__main__":
    main(sys.argv[1:])
