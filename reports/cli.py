"""`python -m matrix report`: build the reports from build/cells and build/allure-results.

    python -m matrix report [--merge DIR...] [--history PATH] [--single-file]
                            [--publish s3://BUCKET/PREFIX] [--endpoint URL] [--open]

`add_report_parser(subparsers)` registers the command (matrix/__main__.py calls it); the handler
validates everything first (bad input raises `UsageError`: exit 2, nothing written), then calls
`reports.build.build_report` (and `reports.publish.publish` with --publish), prints where the
report is and how to open it, and exits 0 when the HTML was built, 1 when it could not be or when
a quality gate the run recorded (build/gates.json, evaluated over the cells at hand) is missed.

Publishing to real AWS needs the guarded S3 client: pass `s3_client_factory` (a callable taking
no argument and returning a boto3-style S3 client) when registering the parser; without it only an
emulator endpoint (--endpoint on 127.0.0.1/localhost) can be published to.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from matrix.errors import UsageError
from matrix.paths import allure_results_dir, build_dir
from matrix.results import cells_dir


def add_report_parser(subparsers: Any, *,
                      s3_client_factory: Callable[[], Any] | None = None) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "report", help="build the Allure report, matrix grid, JUnit and Markdown from build/",
        description="Build build/allure-report (Allure 3 HTML, trend kept in the history file), "
        "build/grid/index.html, build/junit.xml and build/grid/summary.md from build/cells and build/allure-results.")
    p.add_argument("--merge", nargs="+", metavar="DIR", default=[],
                   help="merge these shard folders (build folders or allure-results folders) first")
    p.add_argument("--history", metavar="PATH", help="history JSONL file (default build/allure-history.jsonl; "
                   "point it at a CI cache to keep the trend)")
    p.add_argument("--single-file", action="store_true", help="one index.html that opens from file://")
    p.add_argument("--publish", metavar="s3://BUCKET/PREFIX",
                   help="upload the report to PREFIX/<run-id>/ and PREFIX/latest/, history in PREFIX/history.jsonl")
    p.add_argument("--endpoint", metavar="URL", help="S3 endpoint of an emulator on this machine (with --publish)")
    p.add_argument("--open", action="store_true", help="open the report in a browser when done")
    p.set_defaults(func=lambda args: cmd_report(args, s3_client_factory=s3_client_factory))
    return p


def _validate(args: argparse.Namespace) -> None:
    for d in args.merge or []:
        if not Path(d).is_dir():
            raise UsageError(f"--merge {d}: no such folder; pass shard build folders or allure-results folders")
    if args.history:
        h = Path(args.history)
        if h.is_dir():
            raise UsageError(f"--history {h}: is a folder; pass a file path such as {h / 'allure-history.jsonl'}")
        if h.parent.exists() and not h.parent.is_dir():
            raise UsageError(f"--history {h}: {h.parent} is not a folder")
    if args.endpoint and not args.publish:
        raise UsageError("--endpoint is only used with --publish s3://BUCKET/PREFIX")
    if args.publish:
        from reports.publish import check_emulator_endpoint, parse_s3_url  # lazy: only `report` loads it

        parse_s3_url(args.publish)
        if args.endpoint:
            check_emulator_endpoint(args.endpoint)


def cmd_report(args: argparse.Namespace, *, s3_client_factory: Callable[[], Any] | None = None,
               out=print) -> int:
    _validate(args)
    if args.merge:
        from reports.merge import resolve_shard  # lazy: only `report` loads it

        for d in args.merge:
            resolve_shard(Path(d))
    elif not any(cells_dir().glob("*/result.json")) and not any(allure_results_dir().glob("*-result.json")):
        raise UsageError(f"nothing to report under {build_dir()}: no cells/*/result.json and no "
                         "allure-results/*-result.json; run `python -m matrix run` first (or pass --merge DIR...)")

    factory = None
    if args.publish:
        from reports.publish import emulator_client_factory  # lazy: only `report` loads it

        if args.endpoint:
            factory = emulator_client_factory(args.endpoint)
        elif s3_client_factory is not None:
            factory = s3_client_factory
        else:
            raise UsageError("--publish to real AWS needs the guarded AWS client, which this command was not "
                             "given; pass --endpoint URL for an emulator on this machine")

    from reports import history as H  # lazy: only `report` loads it
    from reports.build import build_report  # lazy: only `report` loads it

    history = Path(args.history) if args.history else H.default_history_path()
    kwargs = {"merge_dirs": [Path(d) for d in args.merge], "history": history, "single_file": args.single_file}
    if args.publish:
        from reports.publish import publish  # lazy: only `report` loads it

        holder: dict[str, Any] = {}

        def generate() -> Path:
            holder["outcome"] = build_report(**kwargs)
            return holder["outcome"].html.output if holder["outcome"].html else Path()

        # the run id is known only after merging and reading the cells: peek at it first
        run_id = _run_id_hint(args)
        published = publish(args.publish, client_factory=factory, run_id=run_id, history_path=history,
                            generate=generate)
        outcome = holder["outcome"]
        lines = outcome.lines() + published.messages + [f"  latest: {published.latest_url}"]
    else:
        outcome = build_report(**kwargs)
        lines = outcome.lines()
    for line in lines:
        out(line)
    if outcome.html is not None and not outcome.html.ok:
        print(f"error: {outcome.html.message}", file=sys.stderr)
        return 1
    if args.open and outcome.html is not None:
        open_report(outcome.html.output, outcome.html.single_file, out)
    if outcome.gates is not None and not outcome.gates.ok:
        print(f"failed: quality gate(s) missed: {', '.join(g.key for g in outcome.gates.missed)}", file=sys.stderr)
        return 1
    return 0


def _run_id_hint(args: argparse.Namespace) -> str:
    """The run id the report will carry (from this build's cells, or the shards' when merging)."""
    from collections import Counter

    from reports.allure_cells import load_cells  # lazy: only `report` loads it
    from reports.environment import read_environment  # lazy: only `report` loads it
    from reports.merge import resolve_shard  # lazy: only `report` loads it

    roots = [cells_dir()]
    for d in args.merge or []:
        shard = resolve_shard(Path(d))
        if shard.cells is not None:
            roots.append(shard.cells)
    runs: Counter = Counter()
    for root in roots:
        if root.is_dir():
            runs.update(c.run_id for c, _ in load_cells(root) if c.run_id)
    if runs:
        return runs.most_common(1)[0][0]

    return read_environment(allure_results_dir()).get("run.id") or "local"


def open_report(folder: Path, single_file: bool, out=print) -> None:
    """Open the report in the default browser: the file itself, or a local HTTP server (Ctrl-C stops)."""
    import webbrowser

    index = Path(folder) / "index.html"
    if single_file:
        webbrowser.open(index.resolve().as_uri())
        return
    import functools
    import http.server

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        out(f"serving {folder} at {url} (Ctrl-C to stop)")
        webbrowser.open(url)
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()
