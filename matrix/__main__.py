"""The command line: `python -m matrix <command>` (also installed as `stackmatrix`).

Each command parses its flags here and calls the module that does the work; exit codes are
0 (all good), 1 (something ran and failed or found violations), 2 (bad input, nothing run).
Bad input is any `UsageError`: its message names the value, where it came from and what is allowed.

Start-up stays fast: at the top only what every command needs (profiles and cells, options, exit
codes); each command imports its machinery (boto3, moto, the CDK, the report) itself, marked
`# lazy` (tests/test_layers.py checks the marks), so `cells` and `env` never load what they do not use.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from matrix.cells import check_global_names, expand, profile_gates, profile_suppressions, run_settings, shard
from matrix.errors import StackmatrixError, UsageError, exit_code
from matrix.gates import evaluate, narrowing
from matrix.options import RunOptions
from matrix.paths import synth_file
from matrix.progress import for_stream


def _cell_selection(p: argparse.ArgumentParser, default_profile: str | None = "dev") -> None:
    p.add_argument("--profile", default=default_profile, help="profile name (matrix/profiles.toml)")
    p.add_argument("--profiles", metavar="FILE", help="profile file (default matrix/profiles.toml, "
                   "or $STACKMATRIX_PROFILES)")
    p.add_argument("--region", action="append", metavar="REGION", help="override the regions (repeat)")
    p.add_argument("--suffix", action="append", metavar="SUFFIX", help="override the suffixes (repeat)")
    p.add_argument("--fault", action="append", metavar="NAME",
                   help="override the fault scenarios (repeat; 'none' for no fault)")
    p.add_argument("--target", help="moto | localstack | aws")
    p.add_argument("--engine", help="embedded | terraform")
    p.add_argument("--shard", metavar="I/N", help="run only slice I of N (deterministic)")


def select_cells(args: argparse.Namespace):
    cells = expand(
        args.profile, regions=args.region, suffixes=args.suffix, faults=args.fault,
        target=args.target, engine=args.engine, profiles_file=args.profiles,
    )
    check_global_names(cells)
    return shard(cells, args.shard)


def _progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# -- commands ----------------------------------------------------------------------------------

def cmd_cells(args: argparse.Namespace) -> int:
    cells = select_cells(args)
    rows = [c.to_dict() for c in cells]
    if args.format == "json":
        print(json.dumps(rows, indent=2))
    elif args.format == "github":
        include = [{**r, "cell": r["id"], "fault": r["fault"] or "none"} for r in rows]
        print(json.dumps({"include": include}, separators=(",", ":")))
    else:
        print(f"{'cell':<36} {'region':<16} {'suffix':<10} {'fault':<22} {'target':<11} engine")
        for r in rows:
            print(f"{r['id']:<36} {r['region']:<16} {r['suffix']:<10} {r['fault'] or '-':<22} "
                  f"{r['target']:<11} {r['engine']}")
    return 0


def cmd_synth(args: argparse.Namespace) -> int:
    from matrix.synth import synthesize  # lazy: loaded by its command only

    cells = select_cells(args)
    result = synthesize(cells, flavor=args.cdk, force=args.force, progress=_progress)
    for cell in cells:
        state = "synthesized" if cell.id in result.synthesized else "cached"
        print(f"{result.path(cell.id)}  ({state})")
    _progress(f"synth: {len(result.synthesized)} synthesized, {len(result.cached)} from cache, "
              f"{result.seconds:.2f} s")
    if args.check:
        from matrix.suites import run_synth_suite  # lazy: loaded by its command only

        code = run_synth_suite(cells)
        if code != 0:
            _progress("synth suite: policy violations above (rule, resource, fix); nothing was deployed")
            return 1
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from matrix.check import check  # lazy: loaded by its command only
    from matrix.sarif import build_log  # lazy: loaded by its command only

    result = check([Path(f) for f in args.files], project=Path(args.project) if args.project else None,
                   region=args.region, suffix=args.suffix, suppressions=profile_suppressions(args.profiles))
    if args.format == "sarif":
        log = build_log(result.violations, result.sources(), result.root, located=result.located)
        print(json.dumps(log, indent=2))
    else:
        for line in result.lines():
            print(line)
    _progress(result.summary())
    return 1 if result.open else 0


def _positive(name: str, value: float, allow_zero: bool = False) -> None:
    if value < 0 or (value == 0 and not allow_zero):
        raise UsageError(f"{name} {value}: must be {'zero or more' if allow_zero else 'more than zero'}")


def chaos_backend(args: argparse.Namespace, cells) -> str:
    backend = getattr(args, "chaos_backend", None) or "proxy"
    if backend == "localstack":
        if not cells or cells[0].target != "localstack":
            raise UsageError("--chaos-backend localstack needs --target localstack")
        faulty = [c for c in cells if c.fault]
        if len(faulty) > 1 and (args.jobs or 1) > 1:
            raise UsageError("--chaos-backend localstack: LocalStack's fault rules apply to the whole instance, "
                             f"so {len(faulty)} fault cells must run one at a time: add --jobs 1")
    return backend


def run_options(args: argparse.Namespace, cells) -> object:
    import shutil

    settings = run_settings(args.profile, args.profiles)
    if args.jobs is None:
        args.jobs = settings.get("jobs") or 2
    _positive("--jobs", args.jobs)
    _positive("--lock-timeout", args.lock_timeout, allow_zero=True)
    _positive("--cell-timeout", args.cell_timeout)
    _positive("--max-attempts", args.max_attempts)
    engine = cells[0].engine if cells else "embedded"
    if engine == "terraform" and not (shutil.which("terraform") or shutil.which("tofu")):
        raise UsageError("--engine terraform: neither terraform nor tofu is on PATH; install one or use "
                         "--engine embedded")
    expectations = {}
    for item in args.expect or []:
        from matrix.chaos.scenarios import EXPECTATIONS, SCENARIOS  # lazy: the chaos package, for --expect only

        name, _, kind = item.partition("=")
        if name not in SCENARIOS or kind not in EXPECTATIONS:
            raise UsageError(f"--expect {item!r}: use SCENARIO=KIND with SCENARIO one of {', '.join(SCENARIOS)} "
                             f"and KIND one of {', '.join(EXPECTATIONS)}")
        expectations[name] = kind
    return RunOptions(
        chaos_backend=chaos_backend(args, cells),
        expectations=expectations, chaos_seed=args.chaos_seed, allow_real_aws=args.allow_real_aws,
        yes=args.yes, max_cells=args.max_cells, aws=settings.get("aws") or {},
        target=cells[0].target if cells else "moto", engine=engine, jobs=args.jobs, keep=args.keep,
        bootstrap_backend=args.bootstrap_backend, lock_timeout=args.lock_timeout, force_unlock=args.force_unlock,
        cell_timeout=args.cell_timeout, endpoint=args.endpoint, cdk=args.cdk, run_id=args.run_id,
        max_attempts=args.max_attempts, skip_live=args.skip_live, strict=not args.no_strict,
    )


def cmd_run(args: argparse.Namespace) -> int:
    from matrix.runner import (  # lazy: loaded by its command only
        Runner,
        start_reports,
        summarize,
        write_run_record,
    )

    cells = select_cells(args)
    if not cells:
        raise UsageError(f"--shard {args.shard} selects no cell of profile {args.profile}")
    options = run_options(args, cells)
    limits = profile_gates(args.profile, args.profiles)
    display = for_stream(sys.stderr, total=len(cells), jobs=options.jobs, title=f"stackmatrix {args.profile}")
    runner = Runner(cells, options, progress=display)
    if options.target == "aws":  # every refusal happens here, before anything is written or created
        from matrix.targets.aws import AwsTarget  # lazy: loaded by its command only

        runner.target = AwsTarget(options, _progress)
        runner.target.vet(cells)  # may ask for "yes": before the live display takes the terminal
    run_info = {"run_id": runner.run_id, "profile": args.profile, "target": options.target,
                "engine": options.engine, "cdk": options.cdk or "cdktf", "shard": args.shard or ""}
    start_reports(run_info, _progress)
    with display:  # a terminal: one live display until the cells are done; else the plain log
        result = runner.run()
    late: list[str] = []  # Ctrl-C/SIGTERM from here on: the report is finished first (a few seconds)
    previous = {sig: signal.signal(sig, lambda signum, _f: late.append(signal.Signals(signum).name))
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        result.gates = evaluate(result.results, limits, narrowing(args.shard, args.region, args.suffix, args.fault))
        result.gates.save()
        write_run_record(result, options)
        for line in summarize(result):
            print(line)
        from matrix.findings import (  # lazy: loaded by its command only
            describe,
            write_run_sarif,
        )

        gaps = result.strict_gaps.notifications() if result.strict_gaps is not None else []
        print(describe(*write_run_sarif(cells, profile_suppressions(args.profiles), notifications=gaps)))
        if not args.no_report:
            from reports.build import build_report  # lazy: loaded by its command only

            run_info.update(runner.target_facts)
            outcome = build_report(run=run_info, gates=result.gates)
            for line in outcome.lines():
                print(line)
            if outcome.html.ok:
                print(f"report: {outcome.html.index}")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if late:
        _progress(f"{late[0]} while the report was built: the report was finished first; the run counts as "
                  "interrupted")
        return 130
    return result.exit_code


def cmd_dev(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from matrix.devloop import iteration, watch  # lazy: loaded by its command only

    args.keep = True
    cells = select_cells(args)
    options = replace(run_options(args, cells), keep=True, dev=True, refresh=args.refresh)
    if options.target == "aws":
        raise UsageError("dev: the dev loop runs on an emulator (moto or localstack), not a real account")
    if args.watch:
        return watch(lambda: select_cells(args), options, _progress)
    worker, suites = None, None
    if not args.no_daemon:
        from matrix.suite_worker import SuiteWorker  # lazy: loaded by its command only
        from matrix.synthd import DaemonWorker  # lazy: loaded by its command only

        worker = DaemonWorker(_progress)
        suites = SuiteWorker(keep=True)  # the live suite's warm pytest worker, kept for the next `dev`
    try:
        code, seconds = iteration(cells, options, _progress, synth_worker=worker, suite_worker=suites)
    finally:
        if suites is not None:
            suites.stop()  # lets go of it: it stays up
    _progress(f"dev: redeployed and retested in {seconds:.1f} s; the cell stays deployed "
              f"(python -m matrix env {cells[0].id} / python -m matrix destroy)")
    if args.report:
        from reports.build import build_report  # lazy: loaded by its command only

        for line in build_report(run={"profile": args.profile, "target": options.target}).lines():
            print(line)
    return code


def cmd_destroy(args: argparse.Namespace) -> int:
    from matrix.ops import destroy_deployments  # lazy: loaded by its command only
    from matrix.synthd import stop as stop_synth_daemons  # lazy: loaded by its command only
    from matrix.targets.base import Deployment  # lazy: loaded by its command only

    profile_cells = select_cells(args) if args.profile else None
    failures = destroy_deployments(args.cells, profile_cells, _progress, allow_real_aws=args.allow_real_aws)
    if not Deployment.all():  # no kept cell left: the dev loop is over
        from matrix.suite_worker import stop_kept as stop_suite_worker  # lazy: loaded by its command only
        from matrix.targets.strict_front import stop_user_emulator_fronts  # lazy: loaded by its command only

        stop_synth_daemons()
        stop_suite_worker()
        for name in stop_user_emulator_fronts():
            _progress(f"stopped the strict emulator {name} (no kept cell needs it)")
    from matrix.targets.moto import stop_recorded_if_unneeded  # lazy: loaded by its command only

    stop_recorded_if_unneeded(log=_progress)  # the moto server this tool started, once no cell needs it
    from matrix.targets import localstack_host  # lazy: loaded by its command only

    localstack_host.stop_if_unneeded(log=_progress)  # the same for a managed LocalStack kept for cells
    return 1 if failures else 0


def cmd_env(args: argparse.Namespace) -> int:
    from matrix.ops import env_exports  # lazy: loaded by its command only

    print("\n".join(env_exports(args.cell)))
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from matrix.ops import run_sweep  # lazy: loaded by its command only

    if bool(args.run_id) == bool(args.all_runs):
        raise UsageError("sweep: give exactly one of --run-id ID or --all-runs")
    return 1 if run_sweep(args.run_id, args.all_runs, args.dry_run, _progress) else 0


def cmd_force_unlock(args: argparse.Namespace) -> int:
    import threading

    from matrix.clients import ClientFactory  # lazy: loaded by its command only
    from matrix.engines import make_engine  # lazy: loaded by its command only
    from matrix.ops import load_record  # lazy: loaded by its command only
    d = load_record(args.cell)
    if d is not None and d.endpoint:
        from matrix.ops import _target_for  # lazy: loaded by its command only

        if _target_for(d) is None:
            raise StackmatrixError(f"cell {args.cell}: its emulator at {d.endpoint} is gone, and with it the lock; "
                                   "nothing to release")
    if d is None:
        raise UsageError(f"cell {args.cell!r} has no deployment record; nothing to unlock there")
    engine = make_engine(d.as_cell(), synth_file(args.cell), ClientFactory(d.access()),
                         RunOptions(target=d.target, engine=d.engine), d.run_id, _progress, threading.Event())
    engine.force_unlock(args.lock_id)
    print(f"released lock {args.lock_id} on {args.cell}")
    return 0


def guarded_s3_client_factory():
    """S3 client for `report --publish` to a real bucket: only through the real-account guard."""
    from matrix.targets.aws import guarded_session  # lazy: loaded by its command only

    return guarded_session(purpose="report --publish").client("s3")


# -- parser ------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m matrix",
        description="stackmatrix: deploy a CDKTF stack over regions x suffixes x faults, test it, "
        "tear it down, report.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("cells", help="list the cells of a profile")
    _cell_selection(p)
    p.add_argument("--format", choices=["table", "json", "github"], default="table")
    p.set_defaults(func=cmd_cells)

    p = sub.add_parser("synth", help="synthesize every cell to build/synth/<cell>/cdk.tf.json")
    _cell_selection(p)
    p.add_argument("--force", action="store_true", help="ignore the synth cache")
    p.add_argument("--cdk", choices=["cdktf", "cdktn"], help="CDK flavor (default $STACKMATRIX_CDK or cdktf)")
    p.add_argument("--check", action="store_true", help="then run the synth policy suite (pytest)")
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser("run", help="synth, deploy, test, destroy and leak-check every cell")
    _cell_selection(p)
    p.add_argument("--jobs", type=int, help="cells in parallel (default: the profile's, else 2)")
    p.add_argument("--keep", action="store_true", help="keep cells deployed (dev loop); destroy later")
    p.add_argument("--bootstrap-backend", action="store_true",
                   help="create a missing state bucket (and lock table) before deploying")
    p.add_argument("--lock-timeout", type=float, default=0.0, metavar="SECONDS",
                   help="wait this long for a held state lock (default 0: fail at once)")
    p.add_argument("--force-unlock", action="store_true", help="release a stale lock left by a dead run")
    p.add_argument("--cell-timeout", type=float, default=900.0, metavar="SECONDS")
    p.add_argument("--endpoint", metavar="URL", help="use this running emulator instead of starting one")
    p.add_argument("--cdk", choices=["cdktf", "cdktn"])
    p.add_argument("--run-id", help="name the run (default: time + random)")
    p.add_argument("--max-attempts", type=int, default=8, help="botocore standard-mode attempts per call")
    p.add_argument("--skip-live", action="store_true", help="deploy and destroy without the live suite")
    p.add_argument("--no-report", action="store_true", help="write results, skip building the HTML report")
    p.add_argument("--expect", action="append", metavar="SCENARIO=KIND",
                   help="judge a fault scenario against another expectation (survive, fail-cleanly, ...)")
    p.add_argument("--chaos-seed", type=int, default=0, help="seed of the fault draws (reproducible runs)")
    p.add_argument("--no-strict", action="store_true",
                   help="moto/localstack: no strict emulator in front (calls AWS would refuse reach the emulator)")
    p.add_argument("--chaos-backend", choices=["proxy", "localstack"], default="proxy",
                   help="inject faults with our proxy (default) or a LocalStack's own Chaos API")
    p.add_argument("--allow-real-aws", action="store_true",
                   help="--target aws only: you mean it (the account must also be in STACKMATRIX_AWS_ACCOUNTS)")
    p.add_argument("--yes", action="store_true", help="--target aws: confirm without the prompt")
    p.add_argument("--max-cells", type=int, help="--target aws: refuse runs of more cells (default 4)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("dev", help="the dev loop: keep a cell deployed, redeploy and retest after each edit")
    _cell_selection(p)
    p.add_argument("--watch", action="store_true", help="one warm process: rerun on every change")
    p.add_argument("--no-strict", action="store_true", help="no strict emulator in front of the emulator")
    p.add_argument("--refresh", action="store_true", help="apply even when the stack did not change")
    p.add_argument("--report", action="store_true", help="also build the HTML report")
    p.add_argument("--no-daemon", action="store_true",
                   help="synthesize in a fresh process, and run the live suite in a worker of this command's "
                        "own, instead of the synth daemon and suite worker kept warm between dev runs")
    p.add_argument("--jobs", type=int)
    p.add_argument("--endpoint", metavar="URL")
    p.add_argument("--cdk", choices=["cdktf", "cdktn"])
    p.set_defaults(func=cmd_dev, bootstrap_backend=True, lock_timeout=0.0, force_unlock=False, cell_timeout=600.0,
                   run_id=None, max_attempts=8, skip_live=False, expect=None, chaos_seed=0, allow_real_aws=False,
                   yes=False, max_cells=None)

    p = sub.add_parser("destroy", help="destroy cells kept with --keep (from their state)")
    p.add_argument("cells", nargs="*", metavar="CELL")
    _cell_selection(p, default_profile=None)
    p.add_argument("--allow-real-aws", action="store_true", help="needed to tear down cells in a real account")
    p.add_argument("--stop-emulator", action="store_true",
                   help="kept for scripts: the moto server this tool started always stops once no kept cell "
                   "needs it")
    p.set_defaults(func=cmd_destroy)

    p = sub.add_parser("env", help="shell exports that reach a kept cell's account")
    p.add_argument("cell", metavar="CELL")
    p.set_defaults(func=cmd_env)

    p = sub.add_parser("sweep", help="delete leftovers of a run by tag")
    p.add_argument("--run-id", metavar="ID")
    p.add_argument("--all-runs", action="store_true")
    p.add_argument("--dry-run", action="store_true", help="list, delete nothing")
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("force-unlock", help="release a state lock by its ID (as terraform force-unlock)")
    p.add_argument("lock_id", metavar="LOCK_ID")
    p.add_argument("--cell", required=True)
    p.set_defaults(func=cmd_force_unlock)

    from matrix.chaos.cli import add_proxy_parser  # lazy: loaded by its command only
    from matrix.targets.localstack_cli import add_localstack_parser  # lazy: loaded by its command only
    from reports.cli import add_report_parser  # lazy: loaded by its command only

    add_report_parser(sub, s3_client_factory=guarded_s3_client_factory)
    add_proxy_parser(sub)
    add_localstack_parser(sub)

    p = sub.add_parser("check", help="run the synth policy rules on cdk.tf.json files")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--project", metavar="DIR", help="folder holding cdktf.json (default: searched upward)")
    p.add_argument("--region", help="the cells' region (default: the provider's)")
    p.add_argument("--suffix", help="the cells' environment suffix (default: the EnvironmentSuffix tag)")
    p.add_argument("--format", choices=["text", "sarif"], default="text",
                   help="text lines (default) or SARIF 2.1.0 on stdout, each result at the stack's Python line")
    p.add_argument("--profiles", metavar="FILE", help="profile file whose [[suppress]] entries apply "
                   "(default matrix/profiles.toml or $STACKMATRIX_PROFILES)")
    p.set_defaults(func=cmd_check)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return exit_code(args.func, args)


if __name__ == "__main__":
    sys.exit(main())
