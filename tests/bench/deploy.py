"""`nox -s bench -- deploy`: deploying on moto, measured side by side in one run.

  * one cell: apply, live suite and destroy times; API calls against the resource count
    (waits excluded: DescribeNatGateways polls); re-apply of the unchanged cell;
  * moto as a subprocess against moto in-process (ThreadedMotoServer), 4 cells at --jobs 2 each;
  * the 12-cell nightly matrix end to end, --jobs 1 against --jobs 2 (ratio), and the total with a
    cold synth cache (synth included).
Targets (issue 3): apply <= 2 calls per resource; nightly <= 90 s; re-apply <= 3 s.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
from collections.abc import Callable

from bench.measure import save, table, timed
from matrix.cells import expand, load_profile_cells
from matrix.clients import ClientFactory
from matrix.paths import build_dir

TARGET_CALLS_PER_RESOURCE = 2.0
TARGET_NIGHTLY_S = 90.0
TARGET_REAPPLY_S = 3.0
WAIT_OPERATIONS = {"ec2:DescribeNatGateways"}
RESOURCE_SERVICES = ("ec2", "iam", "logs", "sts")


def _quiet(_: str) -> None:
    return None


def one_cell(report: Callable[[str], None]) -> dict:
    from matrix.engines.embedded.engine import EmbeddedEngine, EngineOptions
    from matrix.synth import synthesize
    from matrix.targets.moto import MotoTarget

    cell = load_profile_cells("dev")[0]
    synthesize([cell])
    target = MotoTarget()
    target.start()
    try:
        access = target.access(cell.id, cell.region, "bench")
        clients = ClientFactory(access)
        engine = EmbeddedEngine(cell.id, build_dir() / "synth" / cell.id / "cdk.tf.json", clients,
                                build_dir() / "bench" / "state", EngineOptions(
                                    bootstrap_backend=True, variables={"run_id": "bench"}))
        engine.backend_check()
        before = dict(clients.counters.operations)
        apply_s, plan = timed(engine.apply)
        ops = {k: v - before.get(k, 0) for k, v in clients.counters.operations.items()}
        resources = plan.counts()["create"]
        resource_calls = sum(n for op, n in ops.items() if op.split(":")[0] in RESOURCE_SERVICES
                             and op not in WAIT_OPERATIONS)
        backend_calls = sum(n for op, n in ops.items() if op.split(":")[0] in ("s3", "dynamodb"))
        waits = sum(n for op, n in ops.items() if op in WAIT_OPERATIONS)
        reapply_s, again = timed(engine.apply)
        live_s = _live_suite_seconds(cell, access, engine)
        destroy_s, count = timed(engine.destroy)
    finally:
        target.stop()
    result = {
        "apply_s": round(apply_s, 2), "reapply_s": round(reapply_s, 2), "reapply_no_changes": not again.has_changes(),
        "live_suite_s": round(live_s, 2), "destroy_s": round(destroy_s, 2), "resources": resources,
        "resource_calls": resource_calls, "calls_per_resource": round(resource_calls / resources, 2),
        "backend_calls": backend_calls, "wait_polls": waits, "destroyed": count,
    }
    report(f"  one cell: apply {apply_s:.2f} s ({resource_calls} resource calls for {resources} resources, "
           f"{backend_calls} state/lock calls, {waits} wait polls), re-apply {reapply_s:.2f} s, "
           f"live suite {live_s:.2f} s, destroy {destroy_s:.2f} s")
    return result


def _live_suite_seconds(cell, access, engine) -> float:
    import subprocess

    from matrix.paths import PROJECT_ROOT, outputs_dir
    from matrix.suites import SUITES

    path = outputs_dir() / f"{cell.id}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(engine.current_outputs()))
    env = dict(os.environ, STACKMATRIX_CELL=json.dumps(cell.to_dict()),
               STACKMATRIX_STACK_CONFIG=json.dumps(cell.stack_config().to_dict()), STACKMATRIX_OUTPUTS=str(path),
               STACKMATRIX_RUN_ID="bench", PYTHONPATH=str(PROJECT_ROOT),
               STACKMATRIX_ACCESS=json.dumps({"region": access.region, "endpoint": access.endpoint,
                                              "access_key": access.access_key, "secret_key": access.secret_key,
                                              "account_id": access.account_id}))
    seconds, proc = timed(lambda: subprocess.run(
        [sys.executable, "-m", "pytest", str(SUITES / "live"), "-q", "-p", "no:cacheprovider"],
        env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, check=False))
    if proc.returncode != 0:
        raise RuntimeError(f"live suite failed in the benchmark: {proc.stdout[-800:]}")
    return seconds


def run_matrix(cells, jobs: int, mode: str = "subprocess") -> tuple[float, int]:
    from matrix.runner import Runner, RunOptions

    os.environ["STACKMATRIX_MOTO_MODE"] = mode
    try:
        seconds, result = timed(lambda: Runner(cells, RunOptions(jobs=jobs, bootstrap_backend=True),
                                               progress=_quiet).run())
    finally:
        os.environ.pop("STACKMATRIX_MOTO_MODE", None)
    passed = sum(r.status == "passed" for r in result.results)
    if passed != len(cells):
        raise RuntimeError(f"{len(cells) - passed} cell(s) failed in the benchmark; see build/bench")
    return seconds, passed


def main(argv: list[str], report: Callable[[str], None] = print) -> dict:
    work = build_dir() / "bench" / "deploy"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    old = os.environ.get("STACKMATRIX_BUILD")
    os.environ["STACKMATRIX_BUILD"] = str(work)
    try:
        report("bench deploy: moto, embedded engine")
        single = one_cell(report)
        nightly = load_profile_cells("nightly")
        cold_s, _ = run_matrix(nightly, 2)  # synth cache empty: synth included
        report(f"  nightly, --jobs 2, cold synth cache: {cold_s:.1f} s")
        jobs1_s, _ = run_matrix(nightly, 1)
        jobs2_s, _ = run_matrix(nightly, 2)
        report(f"  nightly warm cache: --jobs 1 {jobs1_s:.1f} s, --jobs 2 {jobs2_s:.1f} s")
        four = expand("nightly", suffixes=["dev", "qa"], regions=["us-east-1", "eu-west-1"])
        sub_s, _ = run_matrix(four, 2, "subprocess")
        thr_s, _ = run_matrix(four, 2, "threaded")
        report(f"  4 cells --jobs 2: moto subprocess {sub_s:.1f} s, moto in-process {thr_s:.1f} s")
    finally:
        if old is None:
            os.environ.pop("STACKMATRIX_BUILD", None)
        else:
            os.environ["STACKMATRIX_BUILD"] = old
    rows = [("measure", "value", "target"),
            ("apply, one cell (s)", f"{single['apply_s']:.2f}", ""),
            ("calls per resource (apply)", f"{single['calls_per_resource']:.2f}", f"<= {TARGET_CALLS_PER_RESOURCE}"),
            ("re-apply unchanged (s)", f"{single['reapply_s']:.2f}", f"<= {TARGET_REAPPLY_S}"),
            ("live suite (s)", f"{single['live_suite_s']:.2f}", ""),
            ("destroy (s)", f"{single['destroy_s']:.2f}", ""),
            ("nightly 12 cells, cold synth (s)", f"{cold_s:.1f}", f"<= {TARGET_NIGHTLY_S:.0f}"),
            ("nightly --jobs 1 / --jobs 2", f"{jobs1_s:.1f} / {jobs2_s:.1f} = {jobs1_s / jobs2_s:.2f}x", ""),
            ("moto subprocess / in-process (4 cells)", f"{sub_s:.1f} / {thr_s:.1f} = {thr_s / sub_s:.2f}x slower"
             if thr_s >= sub_s else f"{sub_s:.1f} / {thr_s:.1f} (in-process faster)", "")]
    table(rows, report)
    summary = {"one_cell": single, "nightly_cold_s": round(cold_s, 1), "nightly_jobs1_s": round(jobs1_s, 1),
               "nightly_jobs2_s": round(jobs2_s, 1), "jobs_ratio": round(jobs1_s / jobs2_s, 2),
               "moto_subprocess_s": round(sub_s, 1), "moto_threaded_s": round(thr_s, 1)}
    save("deploy", summary, report)
    return summary


if __name__ == "__main__":
    main(sys.argv[1:])
    threading.Event().wait(0)
