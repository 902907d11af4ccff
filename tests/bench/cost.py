"""`nox -s bench -- matrix` and `-- scale`: what a whole run costs, in wall time, CPU seconds of its
entire process tree and peak memory of that tree; the old code against the new, alternately.

    python tests/bench matrix [--profile nightly] [--jobs 2] [--rounds 3] [--baseline 81ece30]
                              [--no-report] [--no-old]
    python tests/bench scale  [--jobs 2] [--rounds 1] [--code new|old|old,new] [--with-old (= old,new)]

**matrix.** Every round runs `python -m matrix run --profile P --jobs N --bootstrap-backend` (report
included unless --no-report) once with the OLD code and once with the NEW code, old first, then
new, then old again...: drift on a shared machine hits both sides alike. Each run is cold: a fresh
build folder (no synth cache, no deployment record, no emulator record), and nothing of an earlier
run is left alive (tree.py stops whatever of a measured tree outlives its root, and names it).
NEW is this checkout. OLD is the baseline commit (default 81ece30: main before the warm suite worker
and the describes by filter; 23ebc80, main when issue 14 started, now pins other dependencies)
checked out as a git worktree in build/bench/baseline-<sha>, run with the same interpreter and
site-packages (refused when its pyproject.toml pins other dependencies),
PYTHONPATH and the working directory pointing at that worktree, and node_modules linked to this
checkout's (when package-lock.json is the same) so that both sides build the HTML report. Both
trees are byte-compiled before the first round so that neither pays for compiling.

Per run, tree.py accounts for the whole process tree (cgroup v2 where one can be made, else polling
/proc; it says which): wall time, CPU seconds of every process (ours, moto, strict fronts, the synth
worker and its node, pytest, the Allure CLI), peak summed PSS and RSS. The run is cut into phases by
the lines it prints and the step timestamps every cell writes to build/cells/<cell>/result.json:

  synth        start of the process -> "synth: ..." (interpreter start, imports, the synth worker)
  checks+up    -> "target: ..." (the synth policy suite in pytest, the emulator start)
  cells        -> the "N/M cell(s) passed" line; inside it, per cell step (backend, apply, live suite,
               destroy, leak check, chaos ...): the tree's CPU sampled every 0.1 s, each interval's CPU
               split equally among the steps running at its midpoint ("between steps" when none:
               cell setup, clients, engine construction, result writing)
  report       -> exit (findings SARIF, Allure results, the HTML report through node)

So a step's figure is the whole tree's CPU while that step ran, shared with the steps running at the
same time (with --jobs 2 two cells overlap: the split is an approximation; with --jobs 1 it is exact
to the sample interval). The emulator's CPU is inside the step that made it work.

**scale.** The bench-only profiles in tests/bench/profiles.toml: `nightly` (3 regions x 4 suffixes =
12 cells, the shipped nightly) and `bench-96` (8 regions x 12 suffixes = 96 cells), NEW code, cold,
report included (`--code old` or `old,new`: the baseline too); prints wall, CPU and peak memory per
cell for each and the slope (what one more cell adds).

Figures go to build/bench/matrix.json / scale-<sides>.json (every round, raw).
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.measure import save, table
from bench.tree import Tree, loadavg, machine_cpu
from matrix.paths import PROJECT_ROOT, build_dir

BASELINE = "81ece30"
BENCH_DIR = PROJECT_ROOT / "build" / "bench"  # the baseline worktree
BENCH_PROFILES = Path(__file__).resolve().parent / "profiles.toml"
SYNTH_DONE = re.compile(r"^synth: \d+ synthesized")
TARGET_UP = re.compile(r"^target: ")
CELLS_DONE = re.compile(r"^\d+/\d+ cell\(s\) passed in")
REPORT_DONE = re.compile(r"^report: ")
BETWEEN = "between steps"


@dataclass
class Code:
    name: str  # "old" | "new"
    root: Path
    rev: str


def git(*args: str, cwd: Path = PROJECT_ROOT) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def remove_worktree(path: Path) -> None:
    subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=PROJECT_ROOT,
                   capture_output=True, check=False)
    shutil.rmtree(path, ignore_errors=True)
    subprocess.run(["git", "worktree", "prune"], cwd=PROJECT_ROOT, capture_output=True, check=False)


def baseline(rev: str, report: Callable[[str], None]) -> Code:
    """The baseline commit in a git worktree under build/bench (reused when it is already there; one is
    kept: checking out another baseline removes the others, so worktrees do not pile up in `git worktree list`)."""
    sha = git("rev-parse", f"{rev}^{{commit}}")
    path = BENCH_DIR / f"baseline-{sha[:10]}"
    if not (path / ".git").exists() or git("rev-parse", "HEAD", cwd=path) != sha:
        for old in path.parent.glob("baseline-*"):
            remove_worktree(old)
            report(f"removed the earlier baseline worktree {old}")
        path.parent.mkdir(parents=True, exist_ok=True)
        git("worktree", "add", "--detach", str(path), sha)
        report(f"baseline {sha[:10]} checked out in {path}")
    if dependencies(path) != dependencies(PROJECT_ROOT):
        raise SystemExit(f"error: the baseline {rev} pins other dependencies than this checkout "
                         "(pyproject.toml [project] dependencies, optional-dependencies, requires-python), so it "
                         "cannot share this environment. Choose another --baseline, or install its dependencies "
                         "into a venv of its own and run it there.")
    modules = path / "node_modules"
    lock = "package-lock.json"
    if (not modules.exists() and (PROJECT_ROOT / "node_modules").is_dir()
            and (path / lock).read_bytes() == (PROJECT_ROOT / lock).read_bytes()):
        modules.symlink_to(PROJECT_ROOT / "node_modules")
    return Code("old", path, sha[:10])


def dependencies(root: Path) -> tuple:
    """What decides the environment a checkout needs (packaging settings such as package discovery do not)."""
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    return (project.get("requires-python"), sorted(project.get("dependencies", [])),
            {k: sorted(v) for k, v in project.get("optional-dependencies", {}).items()})


def compile_tree(code: Code) -> None:
    dirs = [str(code.root / d) for d in ("matrix", "stack", "suites", "reports") if (code.root / d).is_dir()]
    subprocess.run([sys.executable, "-m", "compileall", "-q", *dirs], check=False, capture_output=True)


@dataclass
class RunFigures:
    code: str
    round: int
    cells: int
    exit_code: int
    report_built: bool
    method: str
    wall: float
    cpu: float
    peak_pss_mb: float
    peak_rss_mb: float
    max_processes: int
    machine_busy_cpu: float  # every process on the machine during the run (the others' load shows here)
    phases: dict[str, dict[str, float]] = field(default_factory=dict)  # phase -> {wall, cpu}
    steps: dict[str, dict[str, float]] = field(default_factory=dict)  # step -> {wall, cpu} over all cells
    kinds: dict[str, float] = field(default_factory=dict)
    leftovers: list[str] = field(default_factory=list)
    loadavg: str = ""

    @property
    def cpu_per_cell(self) -> float:
        return self.cpu / max(1, self.cells)


def step_kind(name: str) -> str:
    """'apply (resume)' -> 'apply'; 'chaos: throttled EC2 ...' -> 'chaos'."""
    name = name.split(":")[0].split(" (")[0].strip()
    return name or "?"


def read_steps(build: Path) -> list[tuple[str, float, float]]:
    out = []
    for result in sorted((build / "cells").glob("*/result.json")):
        data = json.loads(result.read_text())
        for s in data.get("steps", []):
            if s.get("started") and s.get("stopped"):
                out.append((step_kind(s["name"]), s["started"] / 1000, s["stopped"] / 1000))
    return out


def attribute(tree: Tree, steps: list[tuple[str, float, float]], start: float, stop: float) -> dict[str, dict]:
    """Tree CPU of [start, stop] per step kind: each sample interval split among the steps then running."""
    out: dict[str, dict[str, float]] = {}
    for name, a, b in steps:
        out.setdefault(name, {"wall": 0.0, "cpu": 0.0})["wall"] += b - a
    out.setdefault(BETWEEN, {"wall": 0.0, "cpu": 0.0})
    samples = [s for s in tree.samples if start <= s.t <= stop]
    edges = [start, *(s.t for s in samples), stop]
    for a, b in itertools.pairwise(edges):
        if b <= a:
            continue
        cpu = tree.cpu_between(a, b)
        mid = (a + b) / 2
        active = [name for name, s0, s1 in steps if s0 <= mid < s1]
        for name in active or [BETWEEN]:
            out[name]["cpu"] += cpu / max(1, len(active))
        if not active:
            out[BETWEEN]["wall"] += b - a
    return out


def measure_run(code: Code, rnd: int, args: list[str], cells: int, work: Path,
                report: Callable[[str], None]) -> RunFigures:
    build = work / f"{code.name}-{rnd}"
    shutil.rmtree(build, ignore_errors=True)
    build.mkdir(parents=True)
    env = {**os.environ, "STACKMATRIX_BUILD": str(build), "PYTHONPATH": str(code.root),
           "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    env.pop("STACKMATRIX_PROFILES", None)
    lines: list[tuple[float, str]] = []
    lock = threading.Lock()

    def read(stream) -> None:
        for line in stream:
            with lock:
                lines.append((time.time(), line.rstrip("\n")))

    tree = Tree()
    busy0 = machine_cpu()
    started = time.time()
    proc = tree.spawn([sys.executable, "-m", "matrix", "run", *args], env=env, cwd=code.root,
                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    readers = [threading.Thread(target=read, args=(s,), daemon=True) for s in (proc.stdout, proc.stderr)]
    for r in readers:
        r.start()
    try:
        exit_code = tree.wait()
    except BaseException:  # Ctrl-C of the bench: nothing of the measured run may outlive it
        tree.finish(grace=2.0)
        raise
    ended = time.time()
    for r in readers:
        r.join(timeout=10)
    total = tree.finish()
    busy = machine_cpu() - busy0
    (build / "bench-output.log").write_text("\n".join(f"{t - started:8.3f} {line}" for t, line in lines))

    def when(pattern: re.Pattern, default: float) -> float:
        return next((t for t, line in lines if pattern.search(line)), default)

    t_synth = when(SYNTH_DONE, started)
    t_up = when(TARGET_UP, t_synth)
    t_cells = when(CELLS_DONE, ended)
    phases = {}
    for name, a, b in (("synth", started, t_synth), ("checks+up", t_synth, t_up), ("cells", t_up, t_cells),
                       ("report", t_cells, ended)):
        phases[name] = {"wall": b - a, "cpu": tree.cpu_between(a, b)}
    # what outlived the root (stopped by tree.finish) is accounted as its own phase
    phases["after exit"] = {"wall": 0.0, "cpu": max(0.0, total - tree.cpu_at(ended))}
    steps = attribute(tree, read_steps(build), t_up, t_cells)
    figures = RunFigures(
        code=code.name, round=rnd, cells=cells, exit_code=exit_code,
        report_built=any(REPORT_DONE.search(line) for _, line in lines), method=tree.method,
        wall=ended - started, cpu=total, peak_pss_mb=tree.peak_pss / 2**20, peak_rss_mb=tree.peak_rss / 2**20,
        max_processes=tree.max_processes, machine_busy_cpu=busy, phases=phases, steps=steps,
        kinds=tree.breakdown(), leftovers=tree.leftovers, loadavg=loadavg())
    left = f"; outlived the run and stopped: {', '.join(tree.leftovers)}" if tree.leftovers else ""
    report(f"  {code.name} ({code.rev}) round {rnd}: exit {exit_code}, wall {figures.wall:.1f} s, tree CPU "
           f"{total:.1f} s ({figures.cpu_per_cell:.2f} s/cell), peak PSS {figures.peak_pss_mb:.0f} MB "
           f"(RSS {figures.peak_rss_mb:.0f} MB), {tree.max_processes} processes at most; machine busy "
           f"{busy:.1f} CPU s (others: {max(0.0, busy - total):.1f}){left}")
    if exit_code != 0:
        tail = "\n".join(line for _, line in lines[-15:])
        report(f"  WARNING: the run exited {exit_code}; its figures are not comparable. Last lines:\n{tail}")
    return figures


def med(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def ratio(new: float, old: float) -> str:
    return f"{new / old:.2f}" if old else "-"


def compare(runs: list[RunFigures], report: Callable[[str], None]) -> dict[str, Any]:
    sides = {name: [r for r in runs if r.code == name] for name in ("old", "new")}
    sides = {k: v for k, v in sides.items() if v}
    summary: dict[str, Any] = {}
    for name, rs in sides.items():
        summary[name] = {
            "rounds": len(rs), "wall": med([r.wall for r in rs]), "cpu": med([r.cpu for r in rs]),
            "cpu_per_cell": med([r.cpu_per_cell for r in rs]), "peak_pss_mb": med([r.peak_pss_mb for r in rs]),
            "peak_rss_mb": med([r.peak_rss_mb for r in rs]),
            "phases": {p: {k: med([r.phases.get(p, {}).get(k, 0.0) for r in rs]) for k in ("wall", "cpu")}
                       for p in rs[0].phases},
            "steps": {s: {k: med([r.steps.get(s, {}).get(k, 0.0) / r.cells for r in rs]) for k in ("wall", "cpu")}
                      for s in sorted({s for r in rs for s in r.steps})},
            "kinds": {k: med([r.kinds.get(k, 0.0) for r in rs]) for k in {k for r in rs for k in r.kinds}},
            "machine_busy_cpu": med([r.machine_busy_cpu for r in rs]),
        }
    names = list(sides)
    both = len(names) == 2
    head = ("measure (median)", *names, *(["new/old"] if both else []))

    def row(label: str, get: Callable[[dict], float], fmt: str = "{:.2f}") -> tuple[str, ...]:
        vals = [get(summary[n]) for n in names]
        return (label, *(fmt.format(v) for v in vals), *([ratio(vals[1], vals[0])] if both else []))

    rows = [head,
            row("wall (s)", lambda s: s["wall"], "{:.1f}"),
            row("tree CPU (s)", lambda s: s["cpu"], "{:.1f}"),
            row("CPU per cell (s)", lambda s: s["cpu_per_cell"]),
            row("peak memory, summed PSS (MB)", lambda s: s["peak_pss_mb"], "{:.0f}"),
            row("peak memory, summed RSS (MB)", lambda s: s["peak_rss_mb"], "{:.0f}"),
            row("machine busy during the run (CPU s)", lambda s: s["machine_busy_cpu"], "{:.1f}")]
    table(rows, report)
    report("")
    rows = [("phase: wall s / tree CPU s", *names, *(["CPU new/old"] if both else []))]
    for p in summary[names[0]]["phases"]:
        vals = [summary[n]["phases"].get(p, {"wall": 0, "cpu": 0}) for n in names]
        rows.append((p, *(f"{v['wall']:.1f} / {v['cpu']:.1f}" for v in vals),
                     *([ratio(vals[1]["cpu"], vals[0]["cpu"])] if both else [])))
    table(rows, report)
    report("")
    rows = [("cell step, per cell: wall s / tree CPU s", *names, *(["CPU new/old"] if both else []))]
    steps = sorted({s for n in names for s in summary[n]["steps"]},
                   key=lambda s: -summary[names[-1]]["steps"].get(s, {"cpu": 0})["cpu"])
    for s in steps:
        vals = [summary[n]["steps"].get(s, {"wall": 0.0, "cpu": 0.0}) for n in names]
        rows.append((s, *(f"{v['wall']:.2f} / {v['cpu']:.2f}" for v in vals),
                     *([ratio(vals[1]["cpu"], vals[0]["cpu"])] if both else [])))
    table(rows, report)
    report("")
    rows = [("CPU s by process kind (own, as sampled)", *names)]
    kinds = sorted({k for n in names for k in summary[n]["kinds"]},
                   key=lambda k: -summary[names[-1]]["kinds"].get(k, 0))
    for k in kinds:
        vals = [summary[n]["kinds"].get(k, 0.0) for n in names]
        if max(vals) >= 0.05:
            rows.append((k, *(f"{v:.1f}" for v in vals)))
    table(rows, report)
    return summary


def option(argv: list[str], name: str, default: str) -> str:
    if name in argv:
        i = argv.index(name)
        if i + 1 < len(argv):
            return argv[i + 1]
    for a in argv:
        if a.startswith(name + "="):
            return a.split("=", 1)[1]
    return default


def count_cells(code: Code, profile: str, profiles: str | None) -> int:
    cmd = [sys.executable, "-m", "matrix", "cells", "--profile", profile, "--format", "json",
           *(["--profiles", profiles] if profiles else [])]
    out = subprocess.run(cmd, cwd=code.root, env={**os.environ, "PYTHONPATH": str(code.root)},
                         capture_output=True, text=True, check=True).stdout
    return len(json.loads(out))


def main(argv: list[str], report: Callable[[str], None] = print) -> dict:
    """`bench matrix`: old against new, alternately, --rounds times."""
    profile = option(argv, "--profile", "nightly")
    jobs = option(argv, "--jobs", "2")
    rounds = int(option(argv, "--rounds", "3"))
    dirty = "+" if git("status", "--porcelain", "--untracked-files=no") else ""  # + uncommitted changes
    new = Code("new", PROJECT_ROOT, git("rev-parse", "--short=10", "HEAD") + dirty)
    sides = [new] if "--no-old" in argv else [baseline(option(argv, "--baseline", BASELINE), report), new]
    for code in sides:
        compile_tree(code)
    args = ["--profile", profile, "--jobs", jobs, "--bootstrap-backend",
            *(["--no-report"] if "--no-report" in argv else [])]
    cells = count_cells(new, profile, None)
    work = build_dir() / "bench" / "matrix"
    report(f"bench matrix: `matrix run {' '.join(args)}` ({cells} cells), cold, "
           f"{' then '.join(f'{c.name} ({c.rev})' for c in sides)}, alternately, {rounds} round(s); "
           f"{os.cpu_count()} CPUs, load {loadavg().split()[0]}")
    runs = []
    for rnd in range(1, rounds + 1):
        for code in sides:
            runs.append(measure_run(code, rnd, args, cells, work, report))
    report(f"accounting: {runs[0].method} (tests/bench/tree.py)")
    summary = {"args": args, "cells": cells, "sides": {c.name: c.rev for c in sides}, "rounds": rounds,
               "medians": compare(runs, report), "runs": [r.__dict__ for r in runs]}
    if any(r.exit_code != 0 for r in runs):
        report("WARNING: some runs did not exit 0 (above): their figures are not comparable")
    save("matrix", summary, report)
    return summary


def scale(argv: list[str], report: Callable[[str], None] = print) -> dict:
    """`bench scale`: the 12-cell nightly against the bench-only 96-cell profile, NEW code."""
    jobs = option(argv, "--jobs", "2")
    rounds = int(option(argv, "--rounds", "1"))
    new = Code("new", PROJECT_ROOT, git("rev-parse", "--short=10", "HEAD"))
    which = option(argv, "--code", "old,new" if "--with-old" in argv else "new").split(",")
    sides = ([baseline(option(argv, "--baseline", BASELINE), report)] if "old" in which else []) + \
        ([new] if "new" in which else [])
    for code in sides:
        compile_tree(code)
    work = build_dir() / "bench" / "scale"
    out: dict[str, Any] = {"jobs": jobs, "rounds": rounds, "profiles": {}}
    rows = [("profile (code)", "cells", "wall s", "wall/cell", "CPU s", "CPU/cell", "peak PSS MB", "PSS/cell",
             "peak RSS MB")]
    for code in sides:
        figs: dict[str, list[RunFigures]] = {}
        for profile in ("nightly", "bench-96"):
            cells = count_cells(code, profile, str(BENCH_PROFILES))
            args = ["--profiles", str(BENCH_PROFILES), "--profile", profile, "--jobs", jobs, "--bootstrap-backend"]
            report(f"bench scale: {code.name} ({code.rev}) `matrix run {' '.join(args)}` ({cells} cells), cold")
            figs[profile] = [measure_run(code, rnd, args, cells, work / profile, report)
                             for rnd in range(1, rounds + 1)]
        small, big = figs["nightly"], figs["bench-96"]
        m = {p: {"cells": f[0].cells, "wall": med([r.wall for r in f]), "cpu": med([r.cpu for r in f]),
                 "pss": med([r.peak_pss_mb for r in f]), "rss": med([r.peak_rss_mb for r in f]),
                 "phases": {ph: med([r.phases[ph]["cpu"] for r in f]) for ph in f[0].phases}}
             for p, f in figs.items()}
        for p, v in m.items():
            rows.append((f"{p} ({code.name})", str(v["cells"]), f"{v['wall']:.1f}", f"{v['wall'] / v['cells']:.2f}",
                         f"{v['cpu']:.1f}", f"{v['cpu'] / v['cells']:.2f}", f"{v['pss']:.0f}",
                         f"{v['pss'] / v['cells']:.1f}", f"{v['rss']:.0f}"))
        d = big[0].cells - small[0].cells
        lo, hi = m["nightly"], m["bench-96"]
        slope = {"wall_s_per_cell": (hi["wall"] - lo["wall"]) / d, "cpu_s_per_cell": (hi["cpu"] - lo["cpu"]) / d,
                 "pss_mb_per_cell": (hi["pss"] - lo["pss"]) / d,
                 "wall_per_cell_ratio_96_vs_12": (hi["wall"] / hi["cells"]) / (lo["wall"] / lo["cells"]),
                 "cpu_per_cell_ratio_96_vs_12": (hi["cpu"] / hi["cells"]) / (lo["cpu"] / lo["cells"])}
        out["profiles"][code.name] = {"medians": m, "slope": slope,
                                      "runs": [r.__dict__ for f in figs.values() for r in f]}
    table(rows, report)
    for name, v in out["profiles"].items():
        s = v["slope"]
        report(f"slope ({name}): each cell past 12 adds {s['wall_s_per_cell']:.2f} s wall, {s['cpu_s_per_cell']:.2f} s "
               f"CPU, {s['pss_mb_per_cell']:.1f} MB peak PSS; per-cell wall 96 vs 12: "
               f"{s['wall_per_cell_ratio_96_vs_12']:.2f}x, per-cell CPU {s['cpu_per_cell_ratio_96_vs_12']:.2f}x")
    save("scale-" + "-".join(c.name for c in sides), out, report)  # scale-new.json, scale-old.json, ...
    return out
