"""`python -m matrix proxy`: the fault proxy alone, for any client.

    python -m matrix proxy --upstream http://127.0.0.1:5000 [--rules FILE] [--strict] [--port N]
                           [--seed N] [--log FILE] [--cell LABEL] [--exit-with-upstream SECONDS]

`--strict` makes it the strict emulator (matrix/chaos/strict.py): calls AWS would refuse are
answered with AWS's error (code, status, message and its source) instead of reaching the emulator;
with `--rules` too, faults are drawn first. The targets run exactly this command in front of their
emulators (matrix/targets/strict_front.py).

The first line on stdout is exactly the URL it listens on (`http://127.0.0.1:PORT`), flushed, so a
script can read it and point `AWS_ENDPOINT_URL` (or terraform's endpoints) there. It serves until
SIGINT or SIGTERM, then prints a summary on stderr (requests, faults, requests it could not classify, upstream errors;
with `--strict` the calls judged, refused, forwarded unjudged and failed to judge) and exits 0. While it
serves, stderr names once per operation each call forwarded unjudged or failed to judge (never a body
or header). Bad input (unknown service, operation or error code in the rules, a malformed file, a bad
URL or port) is a UsageError: exit 2.

`add_proxy_parser(subparsers)` registers the subcommand on matrix/__main__.py's parser;
`main(argv)` runs it standalone (`python -m matrix.chaos.cli proxy ...`).
"""

from __future__ import annotations

import argparse
import json
import signal
import socket
import sys
import threading
import time
from collections.abc import Sequence
from urllib.parse import urlsplit

from matrix.errors import exit_code


def add_proxy_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "proxy", help="run the AWS fault proxy alone (prints its URL, serves until SIGINT/SIGTERM)",
        description="An HTTP reverse proxy on 127.0.0.1 that injects AWS faults (throttles, errors, "
        "latency, connection resets) by rule, in each protocol's own error format.",
    )
    p.add_argument("--upstream", required=True, metavar="URL",
                   help="the endpoint behind the proxy, e.g. a moto server or LocalStack (http://127.0.0.1:4566)")
    p.add_argument("--rules", metavar="FILE",
                   help="rule file, JSON or TOML: our schema, LocalStack Chaos rules or FIS (none: pass-through)")
    p.add_argument("--strict", action="store_true",
                   help="refuse what AWS would refuse, with AWS's error code, status and message (and its source)")
    p.add_argument("--port", type=int, default=0, help="port to listen on (default: any free port)")
    p.add_argument("--seed", type=int, help="random seed for probabilities (default: the file's, else 0)")
    p.add_argument("--log", metavar="FILE", help="fault log, one JSON line per injected fault")
    p.add_argument("--cell", default="", help="cell label written in the fault log")
    p.add_argument("--exit-with-upstream", type=float, metavar="SECONDS",
                   help="exit when the upstream has refused connections for this long (it is gone for good)")
    p.set_defaults(func=cmd_proxy)
    return p


def cmd_proxy(args: argparse.Namespace) -> int:
    from matrix.chaos.faultlog import FaultLog  # lazy: building the CLI parser must not load the proxy
    from matrix.chaos.proxy import FaultProxy  # lazy: building the CLI parser must not load the proxy
    from matrix.chaos.rules import RuleSet, load_rules  # lazy: building the CLI parser must not load the proxy

    rules = load_rules(args.rules, seed=args.seed) if args.rules else RuleSet(seed=args.seed or 0)
    proxy = FaultProxy(args.upstream, rules, fault_log=None, cell=args.cell, port=args.port,
                       strict=bool(args.strict))
    log = FaultLog(args.log) if args.log else FaultLog()
    proxy.fault_log = log
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        proxy.start()
        print(proxy.url, flush=True)
        print(f"fault proxy: {proxy.url} -> {proxy.upstream_url}, {len(rules)} rule(s)"
              f"{', strict' if args.strict else ''}"
              f"{' from ' + args.rules if args.rules else ''}, seed {rules.seed}"
              f"{', log ' + args.log if args.log else ''}; Ctrl-C to stop", file=sys.stderr, flush=True)
        gone_since: float | None = None
        next_probe = 0.0
        while not stop.wait(0.5):
            if args.exit_with_upstream is None or time.monotonic() < next_probe:
                continue
            next_probe = time.monotonic() + min(5.0, args.exit_with_upstream / 2)
            if _reachable(proxy.upstream_url):
                gone_since = None
            elif gone_since is None:
                gone_since = time.monotonic()
            elif time.monotonic() - gone_since >= args.exit_with_upstream:
                print(f"fault proxy: {proxy.upstream_url} refused connections for {args.exit_with_upstream:.0f} s: "
                      "it is gone; exiting", file=sys.stderr, flush=True)
                break
    finally:
        proxy.stop()
        log.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    for line in summary_lines(proxy.stats()):
        print(line, file=sys.stderr, flush=True)
    return 0


def summary_lines(summary: dict) -> list[str]:
    """The exit summary: requests and faults, internal and upstream errors, and in strict mode what was
    judged, refused, forwarded unjudged (by operation and reason) and what failed to be judged."""
    lines = [f"fault proxy: {summary['requests']} request(s), {summary['faults']['total']} fault(s) injected: "
             f"{json.dumps(summary['faults']['by_rule'])}; {summary['internal_errors']} request(s) it could "
             f"not classify (forwarded untouched), {summary['upstream_errors']} upstream error(s)"]
    strict = summary["strict"]
    if strict is not None:
        lines.append(f"strict: {strict['judged']} call(s) judged, {strict['refused']} refused: "
                     f"{json.dumps(strict['refused_by_rule'])}; {strict['unjudged']} forwarded unjudged: "
                     f"{json.dumps(strict['unjudged_by_call'])}; {strict['errors']} judging error(s) "
                     f"(forwarded): {json.dumps(strict['errors_by_call'])}")
    return lines


def _reachable(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname, parts.port or 80), timeout=2):
            return True
    except OSError:
        return False


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m matrix.chaos.cli proxy ...` is `python -m matrix proxy ...` (same parser, same exit codes)."""
    parser = argparse.ArgumentParser(prog="python -m matrix.chaos.cli")
    add_proxy_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(sys.argv[1:] if argv is None else list(argv))
    return exit_code(args.func, args)


if __name__ == "__main__":
    sys.exit(main())
