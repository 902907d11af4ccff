"""`python tests/bench NAME [options]` (what `nox -s bench -- NAME` runs).

NAME: synth | deploy | chaos | matrix | scale | devloop | profile | clients | snapshot | findings | all.
Each prints its measurements side by side (targets, or old code against new) and writes
build/bench/<name>.json. `all` is every one but scale (a 96-cell run) and profile (one cell under
cProfile, for docs/performance.md).
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

if not __package__:  # run as a path (python tests/bench): tests/ and the project root become importable
    _HERE = Path(__file__).resolve().parent
    sys.path[:1] = [str(_HERE.parent), str(_HERE.parents[1])]

BENCHES = {  # name -> (module, function taking the options)
    "synth": ("bench.synth", "main"),
    "deploy": ("bench.deploy", "main"),
    "chaos": ("bench.chaos", "main"),
    "matrix": ("bench.cost", "main"),
    "scale": ("bench.cost", "scale"),
    "devloop": ("bench.devloop", "main"),
    "profile": ("bench.profile_cell", "main"),
    "clients": ("bench.clients", "main"),
    "snapshot": ("bench.snapshot", "main"),
    "findings": ("bench.findings", "main"),
}


def main(argv: list[str]) -> int:
    sys.stdout.reconfigure(line_buffering=True)  # progress lines show as they come, also through a pipe
    first_option = next((i for i, a in enumerate(argv) if a.startswith("-")), len(argv))
    names, options = argv[:first_option] or ["synth"], argv[first_option:]  # NAME... [--option [value]]...
    if names == ["all"]:
        names = ["synth", "deploy", "chaos", "matrix", "devloop"]
    unknown = [n for n in names if n not in BENCHES]
    if unknown:
        print(f"error: unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHES)} or all",
              file=sys.stderr)
        return 2
    for name in names:
        module, function = BENCHES[name]
        getattr(importlib.import_module(module), function)(options)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
