"""`python -m matrix.bench NAME [options]` (what `nox -s bench -- NAME` runs).

NAME: synth | deploy | chaos | matrix | all. Each prints its measurements side by side with their
targets and writes build/bench/<name>.json.
"""

from __future__ import annotations

import importlib
import sys

BENCHES = {
    "synth": "matrix.bench.synth",
    "deploy": "matrix.bench.deploy",
    "chaos": "matrix.bench.chaos",
    "matrix": "matrix.bench.matrix",
}


def main(argv: list[str]) -> int:
    names = [a for a in argv if not a.startswith("-")] or ["synth"]
    options = [a for a in argv if a.startswith("-")]
    if names == ["all"]:
        names = list(BENCHES)
    unknown = [n for n in names if n not in BENCHES]
    if unknown:
        print(f"error: unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHES)} or all",
              file=sys.stderr)
        return 2
    for name in names:
        importlib.import_module(BENCHES[name]).main(options)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
