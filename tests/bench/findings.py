"""`nox -s bench -- findings`: the run's findings step, checking the documents again (before) against
reusing the synth suite's stored findings (now).

The cells of --profile (default nightly, 12 cells) are synthesized into build/bench/findings-build
(once; kept for later invocations) and the synth policy suite runs over them once, in its pytest
process, as a run does: it stores its findings in build/synth-findings.json there. Then, --rounds
times (default 3), alternately, a fresh Python process writes findings.sarif the old way
(`policy_violations`: the catalogue's check_docs in-process, as matrix/findings.py did before) and the
new way (`write_run_sarif`, which reads the stored findings): a fresh process each time, because the
cost is the catalogue's first use in a process (cfn-lint's schemas), which the run's process pays once.
Reported: CPU seconds of the step itself (time.process_time inside the child), of the whole child
(imports included, the same on both sides), medians and new/old; each round checks that both SARIF
files are byte-identical.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from bench.cost import option
from bench.measure import save, table
from matrix.paths import PROJECT_ROOT, build_dir

CHILD = r"""
import json, sys, time
from pathlib import Path
from matrix import findings
from matrix.cells import load_profile_cells
from matrix.sarif import Source, build_log, write
from matrix.paths import PROJECT_ROOT
side, profile, out = sys.argv[1], sys.argv[2], Path(sys.argv[3])
cells = load_profile_cells(profile)
started = time.process_time()
if side == "old":  # matrix/findings.py run_findings + write_run_sarif before the suite stored its findings
    present = [c for c in cells if findings.synth_file(c.id).is_file()]
    found = [findings.as_finding(v, "synth") for v in findings.policy_violations(present)]
    for cell in cells:
        found += findings.recorded(cell.id)
    sources = [Source(c.id, findings.synth_file(c.id), json.loads(findings.synth_file(c.id).read_text()))
               for c in present]
    write(build_log(found, sources, PROJECT_ROOT), out)
else:
    findings.write_run_sarif(cells, path=out)
print(json.dumps({"step": time.process_time() - started}))
"""


def child(side: str, profile: str, out: Path, env: dict[str, str]) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run([sys.executable, "-c", CHILD, side, profile, str(out)], env=env, cwd=PROJECT_ROOT,
                          capture_output=True, text=True, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    whole = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return json.loads(done.stdout.strip().splitlines()[-1])["step"], whole


def main(argv: list[str], report: Callable[[str], None] = print) -> dict:
    profile, rounds = option(argv, "--profile", "nightly"), int(option(argv, "--rounds", "3"))
    folder = build_dir().resolve() / "bench" / "findings-build"
    env = {**os.environ, "STACKMATRIX_BUILD": str(folder),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))}
    saved = os.environ.get("STACKMATRIX_BUILD")
    os.environ["STACKMATRIX_BUILD"] = str(folder)
    try:
        from matrix.cells import load_profile_cells
        from matrix.findings import store_path
        from matrix.suites import run_synth_suite
        from matrix.synth import synthesize

        cells = load_profile_cells(profile)
        synthesize(cells, progress=report)
        code = run_synth_suite(cells, ["-q", "-q"])
        report(f"synth suite over {len(cells)} cell(s): exit {code}; stored {store_path()}")
        assert store_path().is_file(), "the synth suite stored no findings"
    finally:
        if saved is None:
            os.environ.pop("STACKMATRIX_BUILD", None)
        else:
            os.environ["STACKMATRIX_BUILD"] = saved
    sides: dict[str, list[tuple[float, float]]] = {"old": [], "new": []}
    for n in range(rounds):
        texts = {}
        for side in ("old", "new") if n % 2 == 0 else ("new", "old"):
            out = folder / f"{side}.sarif"
            sides[side].append(child(side, profile, out, env))
            texts[side] = out.read_bytes()
        assert texts["old"] == texts["new"], f"round {n + 1}: the two findings.sarif differ"
        report(f"round {n + 1}: old step {sides['old'][-1][0]:.2f} s, new step {sides['new'][-1][0]:.2f} s CPU; "
               f"SARIF byte-identical ({len(texts['new'])} bytes)")
    med = {s: (statistics.median(v[0] for v in vals), statistics.median(v[1] for v in vals))
           for s, vals in sides.items()}
    table([(f"findings step, {len(cells)} cells, CPU s (median)", "check again (old)", "stored (new)", "new/old"),
           (f"the step, {rounds} rounds alternately", f"{med['old'][0]:.2f}", f"{med['new'][0]:.2f}",
            f"{med['new'][0] / med['old'][0]:.2f}"),
           ("the whole child process", f"{med['old'][1]:.2f}", f"{med['new'][1]:.2f}",
            f"{med['new'][1] / med['old'][1]:.2f}")], report)
    summary = {"profile": profile, "cells": len(cells), "rounds": sides,
               "median": {s: {"step": v[0], "process": v[1]} for s, v in med.items()}}
    save("findings", summary, report)
    return summary
