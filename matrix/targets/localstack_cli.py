"""`python -m matrix localstack start|stop|status`: the managed host-mode LocalStack by hand.

`start [--port N] [--timeout S]` prints the URL once the server is ready (or the running one's URL:
a healthy recorded server is reused); `stop [--timeout S]` stops it (SIGKILL after the timeout);
`status` prints the record as JSON and exits 0 when the server runs and is healthy, 3 otherwise.
`matrix/__main__.py` registers the command with `add_localstack_parser(subparsers)`.
"""

from __future__ import annotations

import argparse
import json
import sys

from matrix.errors import UsageError

EXIT_NOT_RUNNING = 3


def _progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def cmd_localstack(args: argparse.Namespace) -> int:
    from matrix.targets import localstack_host as ls  # lazy: building the CLI parser must not load LocalStack's module

    if args.action == "start":
        server = ls.start(port=args.port, log=_progress, timeout=args.timeout)
        print(server.url)
        return 0
    if args.action == "stop":
        stopped = ls.stop(timeout=args.timeout)
        _progress("localstack: stopped" if stopped else "localstack: was not running")
        return 0
    doc = ls.status()
    print(json.dumps(doc if doc is not None else {"running": False}, indent=2))
    return 0 if doc is not None and doc.get("healthy") else EXIT_NOT_RUNNING


def add_localstack_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "localstack", help="start, stop or inspect the managed LocalStack (host mode, no Docker, no token)",
        description="The managed LocalStack: localstack-core in its own venv (.nox/localstack/venv), "
        "listening on 127.0.0.1 only; logs and state under build/localstack/.",
    )
    p.add_argument("action", choices=["start", "stop", "status"])
    p.add_argument("--port", type=int, default=None,
                   help="port on 127.0.0.1 for start (default: a free one)")
    p.add_argument("--timeout", type=float, default=None,
                   help="seconds: readiness wait for start (default 60), SIGKILL delay for stop (default 10)")
    p.set_defaults(func=_run)
    return p


def _run(args: argparse.Namespace) -> int:
    if args.timeout is None:
        args.timeout = 60.0 if args.action == "start" else 10.0
    if args.port is not None and not 0 < args.port < 65536:
        raise UsageError(f"--port {args.port}: a TCP port is 1-65535")
    return cmd_localstack(args)
