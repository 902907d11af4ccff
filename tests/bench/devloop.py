"""`nox -s bench -- devloop`: parallel cells and the dev loop, measured side by side in one run.

  * the 12-cell nightly matrix on moto with --jobs 1, 2 and 4 (ratios against --jobs 1), and the
    same on host-mode LocalStack (`--no-localstack` skips it);
  * the dev loop, median of 5, on a throw-away copy of the project (edits never touch the tree):
      cold   a stack edit, then a new `python -m matrix dev` process (what `nox -s dev` runs;
             nox's own start is measured apart), with cdktf and with cdktn;
      warm   a stack edit picked up by `python -m matrix dev --watch` (one process, CDK loaded);
      suites a suites-only edit picked up by --watch (no synth, no apply, the live suite).
Targets: cold <= 10 s (cdktf) / <= 5 s (cdktn) (issue 6); warm <= 1.5 s; suites-only <= 0.7 s (issue 14).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench.measure import save, table, timed
from matrix.cells import load_profile_cells
from matrix.paths import PROJECT_ROOT, build_dir

TARGETS = {"cold_cdktf": 10.0, "cold_cdktn": 5.0, "warm": 1.5, "suites": 0.7}
REPEAT = 5


def nightly(target: str, jobs: int) -> float:
    from matrix.runner import Runner, RunOptions

    cells = load_profile_cells("nightly")
    seconds, result = timed(lambda: Runner(cells, RunOptions(target=target, jobs=jobs, bootstrap_backend=True),
                                           progress=lambda _: None).run())
    failed = [r.cell for r in result.results if r.status != "passed"]
    if failed:
        raise RuntimeError(f"nightly on {target} --jobs {jobs}: {', '.join(failed)} failed")
    return seconds


def parallel(report: Callable[[str], None], with_localstack: bool) -> dict:
    out: dict = {}
    for target in ["moto", *(["localstack"] if with_localstack else [])]:
        times = {}
        nightly(target, 2)  # warm-up: synth cache, emulator start
        for jobs in (1, 2, 4):
            times[jobs] = nightly(target, jobs)
            report(f"  nightly on {target}, --jobs {jobs}: {times[jobs]:.1f} s")
        out[target] = times
    return out


class Project:
    """A copy of the sources under build/bench/devloop, with its own build folder."""

    def __init__(self, root: Path) -> None:
        shutil.rmtree(root, ignore_errors=True)
        for name in ("stack", "matrix", "suites", "reports"):
            shutil.copytree(PROJECT_ROOT / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
        for name in ("cdktf.json", "pyproject.toml"):
            shutil.copy(PROJECT_ROOT / name, root / name)
        self.root = root
        self.env = dict(os.environ, STACKMATRIX_BUILD=str(root / "build"), PYTHONPATH=str(root))
        self.edits = 0

    def dev(self, *args: str) -> float:
        seconds, proc = timed(lambda: subprocess.run([sys.executable, "-m", "matrix", "dev", *args], cwd=self.root,
                                                     env=self.env, capture_output=True, text=True, check=False))
        if proc.returncode != 0:
            raise RuntimeError(f"matrix dev failed: {proc.stderr[-1500:]}")
        return seconds

    def edit_stack(self) -> None:
        self.edits += 1
        vpc = self.root / "stack" / "vpc.py"
        text = vpc.read_text()
        marker = 'tags={"Name": name("igw")'
        head, tail = text.split(marker, 1)
        tail = tail.split("}", 1)[1]
        vpc.write_text(f'{head}{marker}, "Edit": "e{self.edits}"}}{tail}')

    def edit_suites(self) -> None:
        self.edits += 1
        (self.root / "suites" / "live" / "_bench_edit.py").write_text(f"# edit {self.edits}\n")

    def cleanup(self) -> None:
        subprocess.run([sys.executable, "-m", "matrix", "destroy"], cwd=self.root, env=self.env,
                       capture_output=True, check=False)  # also stops the synth daemons
        record = self.root / "build" / "emulators" / "moto.json"
        if record.is_file():
            pid = json.loads(record.read_text()).get("pid")
            if pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), 15)


def watch_times(project: Project, edit: Callable[[], None], cdk: str) -> list[float]:
    proc = subprocess.Popen([sys.executable, "-m", "matrix", "dev", "--watch", "--cdk", cdk], cwd=project.root,
                            env=project.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def until(text: str) -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError("dev --watch exited")
            if text in line:
                return
        raise RuntimeError(f"dev --watch: no {text!r}")

    times = []
    try:
        until("dev: ready in")
        for _ in range(REPEAT):
            time.sleep(0.5)
            started = time.monotonic()
            edit()
            until("dev: redeployed and retested in")
            times.append(time.monotonic() - started)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    return times


def devloop(report: Callable[[str], None]) -> dict:
    project = Project(build_dir() / "bench" / "devloop" / "project")
    results: dict[str, list[float]] = {}
    try:
        project.dev("--no-daemon")  # deploy once: the loop starts from a kept cell
        for cdk in ("cdktf", "cdktn"):
            fresh = []
            for _ in range(REPEAT):
                project.edit_stack()
                fresh.append(project.dev("--cdk", cdk, "--no-daemon"))
            results[f"fresh_{cdk}"] = fresh
            project.edit_stack()
            results[f"first_{cdk}"] = [project.dev("--cdk", cdk)]  # starts the synth daemon
            runs = []
            for _ in range(REPEAT):
                project.edit_stack()
                runs.append(project.dev("--cdk", cdk))
            results[f"cold_{cdk}"] = runs
            report(f"  dev loop, stack edit, new process ({cdk}): daemon warm median {statistics.median(runs):.2f} s, "
                   f"first (daemon start) {results[f'first_{cdk}'][0]:.2f} s, "
                   f"--no-daemon median {statistics.median(fresh):.2f} s")
        for cdk in ("cdktf", "cdktn"):
            results[f"warm_{cdk}"] = watch_times(project, project.edit_stack, cdk)
            report(f"  dev loop, --watch stack edit ({cdk}): median {statistics.median(results[f'warm_{cdk}']):.2f} s")
        results["suites"] = watch_times(project, project.edit_suites, "cdktf")
        report(f"  dev loop, --watch suites-only edit: median {statistics.median(results['suites']):.2f} s")
    finally:
        project.cleanup()
    nox_start, _ = timed(lambda: subprocess.run([str(PROJECT_ROOT / "noxw"), "-l"], cwd=PROJECT_ROOT,
                                                capture_output=True, check=False))
    results["nox_start"] = [nox_start]
    return results


def main(argv: list[str], report: Callable[[str], None] = print) -> dict:
    work = build_dir() / "bench" / "devloop-run"
    shutil.rmtree(work, ignore_errors=True)
    old = os.environ.get("STACKMATRIX_BUILD")
    os.environ["STACKMATRIX_BUILD"] = str(work)
    try:
        report("bench matrix: parallel cells, then the dev loop")
        par = {} if "--devloop-only" in argv else parallel(report, "--no-localstack" not in argv)
        loop = devloop(report)
    finally:
        if old is None:
            os.environ.pop("STACKMATRIX_BUILD", None)
        else:
            os.environ["STACKMATRIX_BUILD"] = old
    rows = [("measure", "value", "target")]
    for target, times in par.items():
        rows.append((f"nightly on {target}: --jobs 1 / 2 / 4 (s)",
                     f"{times[1]:.1f} / {times[2]:.1f} / {times[4]:.1f}", ""))
        rows.append(("  speed-up vs --jobs 1", f"{times[1] / times[2]:.2f}x / {times[1] / times[4]:.2f}x", ""))
    med = {k: statistics.median(v) for k, v in loop.items()}
    rows += [
        ("dev stack edit, new process, cdktf (s, median of 5)",
         f"{med['cold_cdktf']:.2f} (+ nox start {med['nox_start']:.1f}); no daemon {med['fresh_cdktf']:.2f}",
         f"<= {TARGETS['cold_cdktf']:.0f}"),
        ("dev stack edit, new process, cdktn (s, median of 5)",
         f"{med['cold_cdktn']:.2f} (+ nox start {med['nox_start']:.1f}); no daemon {med['fresh_cdktn']:.2f}",
         f"<= {TARGETS['cold_cdktn']:.0f}"),
        ("dev --watch stack edit, cdktf (s)", f"{med['warm_cdktf']:.2f}", f"<= {TARGETS['warm']:g}"),
        ("dev --watch stack edit, cdktn (s)", f"{med['warm_cdktn']:.2f}", f"<= {TARGETS['warm']:g}"),
        ("dev --watch suites-only edit (s)", f"{med['suites']:.2f}", f"<= {TARGETS['suites']:g}"),
    ]
    table(rows, report)
    summary = {"parallel": par, "devloop": loop, "medians": med}
    save("devloop", summary, report)
    return summary


if __name__ == "__main__":
    main(sys.argv[1:])
