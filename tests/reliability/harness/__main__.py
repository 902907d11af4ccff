"""`python tests/reliability/harness`: run the reliability battery, print its figures, write summary.json.

    python tests/reliability/harness [--trials N] [--seed S] [--fuzz-examples N]
                                     [--only kill|signals|fuzz|restart|secrets ...]
                                     [--signal-runs N] [--restarts N] [--cli-trials N] [--fuzz-subprocess N]
                                     [--work DIR] [--summary FILE]

(`nox -s reliability` runs it; with tests/reliability on PYTHONPATH `python -m harness` is the same.)

Every battery works in its own folder under --work (default build/reliability/work, emptied first)
and starts the moto servers it needs; nothing touches build/ outside build/reliability. Exit 0 when
every figure kept its promise (0 state lost, 0 leaks, 0 duplicates, 0 tracebacks, 0 secrets found,
every listener on 127.0.0.1, ...), 1 when one did not (the table lists each problem), 2 on bad
arguments.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

if not __package__:  # run as a path: the package's parent and the project root become importable
    _HERE = Path(__file__).resolve().parent
    sys.path[0:1] = [str(_HERE.parent), str(_HERE.parents[2])]

from matrix.paths import PROJECT_ROOT

BATTERIES = ("kill", "signals", "fuzz", "restart", "secrets")
DEFAULTS = {"trials": 45, "fuzz_examples": 500, "signal_runs": 4, "restarts": 2, "cli_trials": 2,
            "fuzz_subprocess": 20}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python tests/reliability/harness", description=__doc__.split("\n\n")[0])
    p.add_argument("--trials", type=int, default=DEFAULTS["trials"], help="kill trials (at least 20 in CI)")
    p.add_argument("--seed", type=int, default=20261129, help="seed of every random choice (kill points, ...)")
    p.add_argument("--fuzz-examples", type=int, default=DEFAULTS["fuzz_examples"],
                   help="hypothesis examples per fuzz target (at least 500 in CI)")
    p.add_argument("--fuzz-subprocess", type=int, default=DEFAULTS["fuzz_subprocess"],
                   help="of those, how many per target also run as real processes")
    p.add_argument("--signal-runs", type=int, default=DEFAULTS["signal_runs"])
    p.add_argument("--restarts", type=int, default=DEFAULTS["restarts"])
    p.add_argument("--cli-trials", type=int, default=DEFAULTS["cli_trials"],
                   help="kill trials that SIGKILL `python -m matrix run` itself and resume it")
    p.add_argument("--only", nargs="+", choices=BATTERIES, metavar="BATTERY",
                   help=f"run only these batteries ({', '.join(BATTERIES)})")
    p.add_argument("--work", type=Path, default=PROJECT_ROOT / "build" / "reliability" / "work")
    p.add_argument("--summary", type=Path, default=PROJECT_ROOT / "build" / "reliability" / "summary.json")
    return p


def needed_cells(batteries: tuple[str, ...]) -> list:
    from harness import signals
    from matrix.cells import load_profile_cells

    cells = {}
    for cell in load_profile_cells("dev", faults=["none", "throttle-ec2"]):
        cells[cell.id] = cell
    if "signals" in batteries:
        for cell in signals.subset_cells():
            cells.setdefault(cell.id, cell)
    return list(cells.values())


def run(args: argparse.Namespace, log=print) -> int:
    from harness import fuzz, kill, restart, secretscan, signals
    from harness.summary import Summary
    from harness.workspace import Workspace

    batteries = tuple(args.only or BATTERIES)
    shutil.rmtree(args.work, ignore_errors=True)
    ws = Workspace(args.work)
    summary = Summary(seed=args.seed)
    started = time.monotonic()
    ws.synth(needed_cells(batteries), log=log)
    steps = {
        "kill": lambda: kill.run_battery(ws.sub("kill"), args.trials, args.seed, args.cli_trials, log,
                                         synth_from=ws),
        "signals": lambda: signals.run_battery(ws, args.signal_runs, args.seed, log),
        "fuzz": lambda: fuzz.run_battery(ws, args.fuzz_examples, args.seed, args.fuzz_subprocess, log),
        "restart": lambda: restart.run_battery(ws, args.restarts, args.seed, log),
        "secrets": lambda: secretscan.SecretsBattery(ws, log).run(),
    }
    judges = {"kill": kill.problems, "signals": signals.problems, "fuzz": fuzz.problems,
              "restart": restart.problems, "secrets": secretscan.problems}
    for name in batteries:
        log(f"== {name} ==")
        t0 = time.monotonic()
        try:
            section = steps[name]()
        except Exception as exc:  # a battery that breaks is itself a finding; the others still run
            import traceback

            section = {"error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()}
            summary.problem(name, f"the battery itself failed: {type(exc).__name__}: {exc}")
        else:
            for p in judges[name](section):
                summary.problem(name, p)
        section.setdefault("seconds", round(time.monotonic() - t0, 1))
        summary.sections[name] = section
        summary.write(args.summary)
    summary.sections["total"] = {"seconds": round(time.monotonic() - started, 1)}
    summary.write(args.summary)
    log("")
    log(summary.table())
    log(f"\nsummary: {args.summary}")
    return 0 if summary.ok else 1


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for name in ("trials", "fuzz_examples", "signal_runs", "restarts", "cli_trials", "fuzz_subprocess"):
        if getattr(args, name) < 0:
            print(f"error: --{name.replace('_', '-')} {getattr(args, name)}: must be zero or more", file=sys.stderr)
            return 2
    try:
        return run(args)
    finally:
        from harness.procs import kill_all

        kill_all()


if __name__ == "__main__":
    sys.exit(main())
