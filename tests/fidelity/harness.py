"""`nox -s fidelity`: what each stage catches of the public corpus, alone, and its false positives.

    python tests/fidelity/harness.py [--stage synth|strict|live ...] [--build DIR] [--json FILE]
                                     [--jobs N] [--case ID ...]

Synthesizes the clean stacks (clean.py) into DIR (default build/fidelity), loads the corpus
(corpus.json), runs each available stage (stages.py) with the others switched off, and prints:
per stage the cases caught (of all, of the refused ones, of the API-call ones) and what else
happened to them, then a table of every stage alone, their union, the cases no stage catches (the
known gaps) and the false positives on the clean stacks. Writes the figures to DIR/summary.json.
`--jobs` is how many cells the live stage deploys at a time; `--case` measures only the named cases
(a partial summary, marked so). Exit 1 when a clean stack has a false positive or synth catches
under 90% of the whole corpus.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parents[1])]

from clean import synthesize_clean  # noqa: E402
from corpus import CLEAN_CELL, load  # noqa: E402
from stages import SynthStage  # noqa: E402

SYNTH_TARGET = 0.90


def all_stages(jobs: int = 4) -> list:
    stages = [SynthStage()]
    try:
        from strict_stage import StrictStage  # present once the strict emulator is in this checkout
        stages.append(StrictStage())
    except ImportError:
        pass
    try:
        from live_stage import LiveStage  # present once the live behaviour checks are in this checkout
        stages.append(LiveStage(jobs=jobs))
    except ImportError:
        pass
    return stages


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", action="append", choices=["synth", "strict", "live"])
    parser.add_argument("--build", default=str(Path.cwd() / "build" / "fidelity"))
    parser.add_argument("--json", help="also write the summary here")
    parser.add_argument("--jobs", type=int, default=4, help="cells the live stage deploys at a time (default 4)")
    parser.add_argument("--case", action="append", help="only this case (repeatable): a partial summary")
    args = parser.parse_args(argv)
    os.environ["STACKMATRIX_BUILD"] = args.build
    started = time.monotonic()
    cases = load()
    if args.case:
        unknown = set(args.case) - {c.id for c in cases}
        if unknown:
            parser.error(f"--case: no such case: {', '.join(sorted(unknown))}")
        cases = [c for c in cases if c.id in args.case]
    docs = synthesize_clean(progress=print)
    clean = next(d for d in docs if d.ctx.cell == f"nightly/{CLEAN_CELL}")
    print(f"corpus: {len(cases)} cases ({sum(c.origin == 'generated' for c in cases)} generated from schema "
          f"constraints, {sum(c.origin == 'hand-made' for c in cases)} hand-made); "
          f"{sum(c.api is not None for c in cases)} as raw API calls; clean stacks: {len(docs)}")
    summary: dict = {"cases": len(cases), "partial": bool(args.case), "clean_stacks": len(docs), "stages": {}}
    caught_by: dict[str, set[str]] = {c.id: set() for c in cases}
    failed = False
    for stage in all_stages(args.jobs):
        if args.stage and stage.name not in args.stage:
            continue
        why = stage.unavailable()
        if why:
            print(f"\n[{stage.name}] not measured: {why}")
            summary["stages"][stage.name] = {"measured": False, "why": why}
            continue
        t0 = time.monotonic()
        print(f"\n[{stage.name}] measuring ...")
        try:
            outcomes = stage.catches(cases, clean)
            fps = stage.false_positives(docs)
        finally:
            getattr(stage, "close", lambda: None)()
        hit = [cid for cid, o in outcomes.items() if o.caught]
        for cid in hit:
            caught_by[cid].add(stage.name)
        refused = [c for c in cases if c.refused and c.id in outcomes]
        api = [c for c in cases if c.api is not None and c.id in outcomes]
        stats = {
            "measured": True, "cases": len(outcomes), "caught": len(hit),
            "rate": round(len(hit) / len(outcomes), 4) if outcomes else 0.0,
            "caught_refused": sum(outcomes[c.id].caught for c in refused), "refused": len(refused),
            "caught_api": sum(outcomes[c.id].caught for c in api), "api": len(api),
            "false_positives": len(fps), "seconds": round(time.monotonic() - t0, 1),
            "missed": sorted(set(outcomes) - set(hit)),
        }
        own_rule = ""
        if getattr(stage, "judges_rules", True):
            stats["by_expected_rule"] = sum(o.by_expected_rule for o in outcomes.values())
            own_rule = f"; by the case's own rule {stats['by_expected_rule']}"
        if any(o.extra.get("class") for o in outcomes.values()):
            stats["outcomes"] = {cid: {**o.extra, "detail": o.detail[:400]} for cid, o in sorted(outcomes.items())}
        summary["stages"][stage.name] = stats
        print(f"\n[{stage.name}] caught {stats['caught']}/{stats['cases']} ({stats['rate']:.1%}); "
              f"AWS-refused cases {stats['caught_refused']}/{stats['refused']}; raw API cases "
              f"{stats['caught_api']}/{stats['api']}{own_rule}; "
              f"false positives on {getattr(stage, 'fp_scope', f'{len(docs)} clean stacks')}: {len(fps)} "
              f"({stats['seconds']} s)")
        for note in getattr(stage, "notes", lambda _o: [])(outcomes):
            print(f"  {note}")
        for cid in stats["missed"]:
            print(f"  missed: {cid}: {next(c.description for c in cases if c.id == cid)}")
        for line in fps[:20]:
            print(f"  FALSE POSITIVE: {line}")
        if fps:
            failed = True
        stats["false_positives_scope"] = getattr(stage, "fp_scope", f"{len(docs)} clean stacks")
        stats["false_positive_lines"] = fps
        if stage.name == "synth" and not args.case and stats["rate"] < SYNTH_TARGET:
            print(f"  synth catches {stats['rate']:.1%}, under the {SYNTH_TARGET:.0%} target")
            failed = True
    measured = [n for n, s in summary["stages"].items() if s.get("measured")]
    nobody = sorted(cid for cid, by in caught_by.items() if not by)
    union = len(cases) - len(nobody)
    summary["union"] = {"stages": measured, "caught": union, "cases": len(cases),
                        "rate": round(union / len(cases), 4) if cases else 0.0}
    summary["caught_by"] = {cid: sorted(by) for cid, by in caught_by.items()}
    summary["caught_by_no_stage"] = nobody
    print("\n" + "\n".join(table(summary, caught_by)))
    print(f"\ncaught by no measured stage ({', '.join(measured)}): {len(nobody)}")
    live = summary["stages"].get("live", {}).get("outcomes", {})
    for cid in nobody:
        case = next(c for c in cases if c.id == cid)
        seen = f" (live stage: {live[cid]['class']}: {live[cid]['detail'][:120]})" if cid in live else ""
        print(f"  {cid}: {case.description} [{case.source}]{seen}")
    summary["seconds"] = round(time.monotonic() - started, 1)
    out = Path(args.build) / "summary.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=1) + "\n")
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=1) + "\n")
    print(f"\nsummary: {out} ({summary['seconds']} s)")
    return 1 if failed else 0


def table(summary: dict, caught_by: dict[str, set[str]]) -> list[str]:
    """Every measured stage alone, only-by-this-stage, their union, and the false positives, as a table."""
    rows = [("stage (alone)", "cases", "caught", "rate", "only here", "false positives (on)")]
    for name, s in summary["stages"].items():
        if not s.get("measured"):
            rows.append((name, "-", "-", "-", "-", f"not measured: {s['why'][:60]}"))
            continue
        only = sum(by == {name} for by in caught_by.values())
        rows.append((name, str(s["cases"]), str(s["caught"]), f"{s['rate']:.1%}", str(only),
                     f"{s['false_positives']} ({s['false_positives_scope']})"))
    u = summary["union"]
    rows.append(("union", str(u["cases"]), str(u["caught"]), f"{u['rate']:.1%}", "",
                 f"caught by none: {u['cases'] - u['caught']}"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows]


if __name__ == "__main__":
    sys.exit(main())
