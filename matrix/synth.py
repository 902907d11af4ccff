"""Synthesis of a run's cells: one process for all of them, skipped for cells already up to date.

`synthesize(cells)` computes each cell's cache key (the stack's source files, the cell's
StackConfig, the CDK flavor and its library versions), keeps cells whose
build/synth/<cell>/meta.json carries the same key (and whose locations.json, the construct
locations SARIF points at, is there), and hands the rest to ONE worker process
(`python -m stack.app --worker`, see stack/app.py): loading the CDK costs far more per process than
one more stack in the same App (docs/measurements.md, "Loading the CDK").
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from matrix.cells import Cell
from matrix.errors import StackmatrixError, UsageError
from matrix.paths import PROJECT_ROOT, SYNTH_FILE, synth_dir, synth_file
from stack.cdk import ENV_VAR, FLAVORS, LOCATIONS_FILE

STACK_SOURCES = PROJECT_ROOT / "stack"


@dataclass
class SynthResult:
    synthesized: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    seconds: float = 0.0
    worker: dict = field(default_factory=dict)

    def path(self, cell_id: str) -> Path:
        return synth_file(cell_id)


def resolve_flavor(flavor: str | None) -> str:
    chosen = flavor or os.environ.get(ENV_VAR) or "cdktf"
    if chosen not in FLAVORS:
        source = "--cdk" if flavor else ENV_VAR
        raise UsageError(f"CDK flavor {chosen!r} (from {source}): use one of {', '.join(FLAVORS)}")
    return chosen


def library_versions(flavor: str) -> dict[str, str]:
    core, provider = FLAVORS[flavor]
    dists = [core, provider.replace("_", "-"), "jsii", "constructs"]
    out = {}
    for dist in dists:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError as exc:
            extra = " (pip install '.[cdktn]')" if flavor == "cdktn" else ""
            raise UsageError(f"CDK flavor {flavor!r} needs {dist}, which is not installed{extra}") from exc
    return out


def sources_digest() -> str:
    h = hashlib.sha256()
    for path in sorted(STACK_SOURCES.glob("*.py")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def cache_key(cell: Cell, flavor: str, digest: str, versions: dict[str, str]) -> str:
    payload = {
        "sources": digest, "flavor": flavor, "versions": versions,
        "config": cell.stack_config().to_dict(),
        "python": f"{sys.version_info.major}.{sys.version_info.minor}",
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def is_fresh(cell_id: str, key: str) -> bool:
    cell_dir = synth_dir() / cell_id
    try:
        meta = json.loads((cell_dir / "meta.json").read_text())
    except (OSError, ValueError):
        return False
    return meta.get("key") == key and all((cell_dir / f).is_file() for f in (SYNTH_FILE, LOCATIONS_FILE))


def synthesize(
    cells: Sequence[Cell],
    *,
    flavor: str | None = None,
    force: bool = False,
    progress: Callable[[str], None] | None = None,
    worker: Callable[[list[dict], str], dict] | None = None,
) -> SynthResult:
    """Synthesize the stale cells; `worker` replaces the one-shot process (the warm dev loop)."""
    started = time.monotonic()
    chosen = resolve_flavor(flavor)
    versions = library_versions(chosen)
    digest = sources_digest()
    result = SynthResult()
    jobs = []
    for cell in cells:
        key = cache_key(cell, chosen, digest, versions)
        if not force and is_fresh(cell.id, key):
            result.cached.append(cell.id)
            continue
        jobs.append({"cell": cell.id, "config": cell.stack_config().to_dict(), "key": key})
    if jobs:
        if progress:
            progress(f"synth: {len(jobs)} cell(s) to synthesize with {chosen}, "
                     f"{len(result.cached)} unchanged (cache)")
        result.worker = worker(jobs, chosen) if worker else run_worker(jobs, chosen, progress)
        result.synthesized = [j["cell"] for j in jobs]
    elif progress:
        progress(f"synth: all {len(result.cached)} cell(s) unchanged (cache)")
    result.seconds = round(time.monotonic() - started, 3)
    return result


def run_worker(jobs: list[dict], flavor: str, log: Callable[[str], None] | None = None) -> dict:
    """One `python -m stack.app --worker` process for `jobs`; its stderr lines go to `log` as they come
    (default: this process's stderr), so a live display (matrix/progress.py) shows them in place."""
    request = {"jobs": jobs, "outroot": str(synth_dir()), "flavor": flavor}
    env = dict(os.environ, JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="20")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    sink = log or (lambda line: print(line, file=sys.stderr, flush=True))
    with subprocess.Popen([sys.executable, "-m", "stack.app", "--worker"], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                          cwd=PROJECT_ROOT) as proc:
        relay = threading.Thread(target=lambda: [sink(line.rstrip("\n")) for line in proc.stderr], daemon=True)
        relay.start()
        proc.stdin.write(json.dumps(request))
        proc.stdin.close()
        out = proc.stdout.read()  # one JSON line; stderr is drained by the relay meanwhile
        proc.wait()
        relay.join(timeout=10)
    lines = [ln for ln in out.splitlines() if ln.startswith("{")]
    try:
        reply = json.loads(lines[-1])
    except (IndexError, ValueError):
        reply = {"ok": False, "error": f"synth worker exited {proc.returncode} without a result"}
    if not reply.get("ok"):
        cells = ", ".join(j["cell"] for j in jobs)
        raise StackmatrixError(f"synth failed for cells {cells}: {reply.get('error')}")
    return reply


class WarmSynth:
    """Synthesis inside this process, the CDK loaded once (the dev loop's `--watch`).

    Loading cdktf and its provider bindings costs far more than using them (docs/measurements.md).
    Before each synth the stack's own modules (stack/config.py, stack/vpc.py, stack/app.py) and the
    cell expansion that builds on them are reloaded, so an edit is picked up; the CDK seam
    (stack/cdk.py) and what it loaded stay.
    """

    RELOAD = ("stack.config", "stack.vpc", "stack.app")

    def __init__(self, flavor: str | None = None) -> None:
        from stack.cdk import load  # lazy: the CDK loads only when synthesizing

        self.flavor = resolve_flavor(flavor)
        load(self.flavor)

    def reload(self) -> None:
        import importlib

        for name in self.RELOAD:
            if name in sys.modules:
                importlib.reload(sys.modules[name])
        import matrix.cells  # lazy: the CDK loads only when synthesizing

        importlib.reload(matrix.cells)

    def __call__(self, jobs: list[dict], flavor: str) -> dict:
        from stack.app import synthesize as synth_in_process  # lazy: the CDK loads only when synthesizing

        return {"ok": True, **synth_in_process(jobs, synth_dir(), flavor)}
