"""The dev loop: one cell kept deployed, redeployed and retested in seconds after each edit.

`python -m matrix dev` (what `nox -s dev` runs) is a run of the `dev` profile with `--keep` and the
dev-loop shortcuts of the runner:
  * a stack edit re-synthesizes only the cells whose inputs changed (the synth cache) and applies
    only the difference (the engine's plan against the kept deployment);
  * an edit of the suites only: no synth, no apply (the stack is unchanged since the last apply,
    recorded in the deployment record), just the live suite;
  * the synth policy suite runs only on re-synthesized cells; the HTML report only with --report.
`--watch` keeps ONE process: the CDK runtime and provider bindings are loaded once (`WarmSynth`),
files are polled (stack/, suites/, the profile file) and each change runs the loop again, reloading
only the edited stack modules, and one warm pytest worker (matrix/suite_worker.py) runs the live
suite of every pass (a fresh fork each time: suites/ edits are seen). Without --watch, each `dev`
hands its synth to the synth daemon (matrix/synthd.py), which keeps the CDK loaded between
invocations (`--no-daemon`: a fresh worker).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path

from matrix.paths import PROJECT_ROOT
from matrix.runner import Runner, summarize
from matrix.suite_worker import SuiteWorker
from matrix.synth import WarmSynth

WATCHED = ("stack", "suites", "matrix/profiles.toml")


def snapshot(roots: Iterable[Path]) -> dict[str, float]:
    files: dict[str, float] = {}
    for root in roots:
        paths = [root] if root.is_file() else root.rglob("*.py")
        for path in paths:
            try:
                files[str(path)] = path.stat().st_mtime_ns
            except OSError:
                continue
    return files


def changed(before: dict[str, float], after: dict[str, float]) -> list[str]:
    return sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))


def iteration(cells, options, progress: Callable[[str], None], synth_worker=None,
              suite_worker: SuiteWorker | None = None) -> tuple[int, float]:
    """One pass of the loop: (exit code, seconds)."""
    started = time.monotonic()
    runner = Runner(cells, options, progress=progress)
    runner.synth_worker = synth_worker
    runner.suite_worker = suite_worker
    result = runner.run()
    for line in summarize(result):
        progress(line)
    return result.exit_code, time.monotonic() - started


def watch(select_cells: Callable[[], list], options, progress: Callable[[str], None],
          poll: float = 0.25, max_iterations: int | None = None) -> int:
    """Run, then run again after every change under WATCHED, in this one warm process."""
    started = time.monotonic()
    warm = WarmSynth(options.cdk)
    progress(f"dev --watch: {warm.flavor} loaded in {time.monotonic() - started:.1f} s; watching "
             f"{', '.join(WATCHED)} (Ctrl-C to stop; the cell stays deployed)")
    roots = [PROJECT_ROOT / w for w in WATCHED]
    seen = snapshot(roots)
    suites = SuiteWorker()  # the live suite's warm pytest worker, for every pass of the loop
    code, seconds = iteration(select_cells(), options, progress, warm, suites)
    progress(f"dev: ready in {seconds:.1f} s")
    done = 1
    try:
        while max_iterations is None or done < max_iterations:
            time.sleep(poll)
            now = snapshot(roots)
            edits = changed(seen, now)
            if not edits:
                continue
            seen = now
            progress(f"dev: changed {', '.join(Path(e).relative_to(PROJECT_ROOT).as_posix() for e in edits)}")
            if any("/stack/" in e or e.endswith("profiles.toml") for e in edits):
                warm.reload()
            code, seconds = iteration(select_cells(), replace(options), progress, warm, suites)
            progress(f"dev: redeployed and retested in {seconds:.1f} s")
            done += 1
    except KeyboardInterrupt:
        progress("dev --watch: stopped; the cell stays deployed (python -m matrix destroy to remove it)")
    finally:
        suites.stop()
    return code
