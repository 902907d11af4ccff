"""`python -m harness.driver`: one embedded-engine apply (or destroy) in a child process,
for the kill trials to SIGKILL.

    STACKMATRIX_RELIABILITY_ACCESS='{"region": ..., "endpoint": ..., "access_key": ..., ...}' \\
    python -m harness.driver --synth cdk.tf.json --state-dir DIR --cell ID --run-id R \\
        [--op apply|destroy] [--pause before|during:KIND:N] [--marker FILE]

It builds the engine exactly as the runner does (matrix.engines.make_engine: state under
--state-dir, lock details naming the run) and writes `<marker>.started` just before the operation.

`--pause before:aws_nat_gateway:2` stops the thread that is about to send the 2nd CreateNatGateway
(the engine has journaled it; AWS has not seen it); `during:...` stops it right after AWS answered
(the NAT gateway exists, the state does not name it yet: the crash window the journal is for).
Either way the driver writes `<marker>` (JSON: kind, call, n) and sleeps, so the battery's SIGKILL
lands exactly there. Other worker threads go on meanwhile, as they would in a real crash.
The hooks are botocore `before-call` / `after-call` events on the cell's clients; nothing in the
engine is replaced.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

ACCESS_ENV = "STACKMATRIX_RELIABILITY_ACCESS"


def parse_pause(spec: str | None) -> tuple[str, str, int] | None:
    if not spec:
        return None
    mode, kind, n = spec.split(":")
    if mode not in ("before", "during"):
        raise SystemExit(f"--pause {spec}: mode must be before or during")
    return mode, kind, int(n)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m harness.driver")
    p.add_argument("--synth", required=True)
    p.add_argument("--state-dir", required=True)
    p.add_argument("--cell", required=True)
    p.add_argument("--run-id", required=True)
    p.add_argument("--op", choices=["apply", "destroy"], default="apply")
    p.add_argument("--pause")
    p.add_argument("--marker")
    args = p.parse_args(argv)

    from harness.census import CREATE_CALLS
    from harness.workspace import access_from_json
    from matrix.clients import ClientFactory
    from matrix.engines.embedded.engine import EmbeddedEngine, EngineOptions

    access = access_from_json(os.environ[ACCESS_ENV])
    clients = ClientFactory(access)
    marker = Path(args.marker) if args.marker else None
    pause = parse_pause(args.pause)
    if pause is not None:
        mode, kind, nth = pause
        service, operation = CREATE_CALLS[kind]
        seen = [0]
        lock = threading.Lock()

        def hold(**_: object) -> None:
            with lock:
                seen[0] += 1
                n = seen[0]
            if n == nth:
                if marker is not None:
                    marker.write_text(json.dumps({"mode": mode, "kind": kind, "call": operation, "n": n,
                                                  "pid": os.getpid()}))
                time.sleep(600)  # the SIGKILL comes here

        clients.add_hook(f"{'before' if mode == 'before' else 'after'}-call.{service}.{operation}", hold)

    log_path = Path(args.state_dir) / "driver.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_file = open(log_path, "a")  # noqa: SIM115 - kept open for the life of the process

    def log(msg: str) -> None:
        log_file.write(f"{time.time():.3f} {msg}\n")
        log_file.flush()

    engine = EmbeddedEngine(args.cell, Path(args.synth), clients, Path(args.state_dir),
                            EngineOptions(bootstrap_backend=True, variables={"run_id": args.run_id},
                                          lock_details={"run_id": args.run_id}),
                            log=log)
    if marker is not None:
        Path(f"{marker}.started").write_text(str(os.getpid()))
    if args.op == "apply":
        plan = engine.apply()
        print(plan.summary(), flush=True)
    else:
        print(f"{engine.destroy()} destroyed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
