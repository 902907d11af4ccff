"""`nox -s fidelity`: what each stage catches of the public corpus, alone, and its false positives.

    python tests/fidelity/harness.py [--stage synth|strict|live ...] [--build DIR] [--json FILE]

Synthesizes the clean stacks (clean.py) into DIR (default build/fidelity), loads the corpus
(corpus.json), runs each available stage (stages.py) with the others switched off, and prints:
per stage the cases caught (of all, of the refused ones, of the API-call ones), the cases no stage
catches (the known gaps), and the false positives on every clean stack. Writes the figures to
DIR/summary.json. Exit 1 when a clean stack has a false positive or synth catches under 90%.
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


def all_stages() -> list:
    stages = [SynthStage()]
    try:
        from strict_stage import StrictStage  # present once the strict emulator is in this checkout
        stages.append(StrictStage())
    except ImportError:
        pass
    try:
        from live_stage import LiveStage  # present once the live behaviour checks are in this checkout
        stages.append(LiveStage())
    except ImportError:
        pass
    return stages


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", action="append", choices=["synth", "strict", "live"])
    parser.add_argument("--build", default=str(Path.cwd() / "build" / "fidelity"))
    parser.add_argument("--json", help="also write the summary here")
    args = parser.parse_args(argv)
    os.environ["STACKMATRIX_BUILD"] = args.build
    started = time.monotonic()
    cases = load()
    docs = synthesize_clean(progress=print)
    clean = next(d for d in docs if d.ctx.cell == f"nightly/{CLEAN_CELL}")
    print(f"corpus: {len(cases)} cases ({sum(c.origin == 'generated' for c in cases)} generated from schema "
          f"constraints, {sum(c.origin == 'hand-made' for c in cases)} hand-made); "
          f"{sum(c.api is not None for c in cases)} as raw API calls; clean stacks: {len(docs)}")
    summary: dict = {"cases": len(cases), "clean_stacks": len(docs), "stages": {}}
    caught_by: dict[str, set[str]] = {c.id: set() for c in cases}
    failed = False
    for stage in all_stages():
        if args.stage and stage.name not in args.stage:
            continue
        why = stage.unavailable()
        if why:
            print(f"\n[{stage.name}] not measured: {why}")
            summary["stages"][stage.name] = {"measured": False, "why": why}
            continue
        t0 = time.monotonic()
        outcomes = stage.catches(cases, clean)
        fps = stage.false_positives(docs)
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
            "by_expected_rule": sum(o.by_expected_rule for o in outcomes.values()),
            "false_positives": len(fps), "seconds": round(time.monotonic() - t0, 1),
            "missed": sorted(set(outcomes) - set(hit)),
        }
        summary["stages"][stage.name] = stats
        print(f"\n[{stage.name}] caught {stats['caught']}/{stats['cases']} ({stats['rate']:.1%}); "
              f"AWS-refused cases {stats['caught_refused']}/{stats['refused']}; raw API cases "
              f"{stats['caught_api']}/{stats['api']}; by the case's own rule {stats['by_expected_rule']}; "
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
        if stage.name == "synth" and stats["rate"] < SYNTH_TARGET:
            print(f"  synth catches {stats['rate']:.1%}, under the {SYNTH_TARGET:.0%} target")
            failed = True
    measured = [n for n, s in summary["stages"].items() if s.get("measured")]
    nobody = sorted(cid for cid, by in caught_by.items() if not by)
    summary["caught_by_no_stage"] = nobody
    print(f"\ncaught by no measured stage ({', '.join(measured)}): {len(nobody)}")
    for cid in nobody:
        case = next(c for c in cases if c.id == cid)
        print(f"  {cid}: {case.description} [{case.source}]")
    summary["seconds"] = round(time.monotonic() - started, 1)
    out = Path(args.build) / "summary.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=1) + "\n")
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=1) + "\n")
    print(f"\nsummary: {out} ({summary['seconds']} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
