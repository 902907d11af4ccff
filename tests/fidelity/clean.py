"""The clean stacks every stage must pass without a single finding (false positives must be 0).

* the nightly, prerelease and chaos profiles of matrix/profiles.toml;
* variants (profiles.toml beside this file): a single NAT gateway, a 2-AZ region (us-west-1),
  flow-log interval 60, DynamoDB locking and both locking modes;
* every nightly cell with every construct id renamed (`renamed()`): resource and data source names
  replaced by meaningless ones everywhere, references included, proving no rule keys on ids.

`synthesize_clean()` synthesizes them with the project's own synth (one worker process, cached by
content) into `<build>/synth/` and returns the documents with their cell context.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

from matrix.catalogue import Context, SynthDoc
from matrix.cells import expand
from matrix.paths import PROJECT_ROOT, synth_dir

HERE = Path(__file__).resolve().parent
VARIANTS = HERE / "profiles.toml"
PROFILES = (("nightly", None), ("prerelease", None), ("chaos", None),
            ("single-nat", VARIANTS), ("two-az", VARIANTS), ("interval-60", VARIANTS),
            ("dynamodb-lock", VARIANTS), ("both-locks", VARIANTS))
REF = re.compile(r"\$\{([^}]*)\}")
ADDRESS = re.compile(r"\b(data\.)?(aws_[a-z0-9_]+)\.([A-Za-z0-9_-]+)")


def clean_cells() -> list[tuple[str, Any]]:
    """(label, cell) for every clean cell: profile/cell id."""
    out = []
    for profile, file in PROFILES:
        for cell in expand(profile, profiles_file=file):
            out.append((f"{profile}/{cell.id}", cell))
    return out


def synthesize_clean(progress=lambda msg: None) -> list[SynthDoc]:
    """Synthesize every clean cell (cached) and load it; renamed copies of the nightly cells follow."""
    from matrix.synth import synthesize  # lazy: the synth worker is only needed here

    cells = clean_cells()
    unique = {c.id: c for _label, c in cells}
    result = synthesize(list(unique.values()), progress=progress)
    progress(f"clean stacks: {len(result.synthesized)} synthesized, {len(result.cached)} from cache")
    docs = []
    for label, cell in cells:
        docs.append(SynthDoc.load(synth_dir() / cell.id / "cdk.tf.json",
                                  Context(cell=label, region=cell.region, suffix=cell.suffix,
                                          project_dir=PROJECT_ROOT)))
    docs += [renamed(d) for d in docs if d.ctx.cell.startswith("nightly/")]
    return docs


def renamed(doc: SynthDoc) -> SynthDoc:
    """`doc` with every resource and data source name replaced (references rewritten to match)."""
    names: dict[tuple[str, str, str], str] = {}
    for section in ("resource", "data"):
        for rtype, by_name in (doc.data.get(section) or {}).items():
            for i, name in enumerate(sorted(by_name or {})):
                names[(section, rtype, name)] = f"n{len(names):03d}x{i}"

    def rewrite_ref(m: re.Match) -> str:
        section = "data" if m.group(1) else "resource"
        new = names.get((section, m.group(2), m.group(3)))
        return f"{m.group(1) or ''}{m.group(2)}.{new}" if new else m.group(0)

    def rewrite(value: Any) -> Any:
        if isinstance(value, str):
            return REF.sub(lambda r: "${" + ADDRESS.sub(rewrite_ref, r.group(1)) + "}", value)
        if isinstance(value, dict):
            return {k: rewrite(v) for k, v in value.items()}
        if isinstance(value, list):
            return [rewrite(v) for v in value]
        return value

    data = copy.deepcopy(doc.data)
    for section in ("resource", "data"):
        for rtype, by_name in list((data.get(section) or {}).items()):
            data[section][rtype] = {names[(section, rtype, n)]: rewrite(body) for n, body in (by_name or {}).items()}
    for section in ("output", "provider", "terraform", "locals"):
        if section in data:
            data[section] = rewrite(data[section])
    ctx = Context(cell=f"renamed/{doc.ctx.cell.split('/', 1)[-1]}", region=doc.ctx.region, suffix=doc.ctx.suffix,
                  project_dir=doc.ctx.project_dir)
    return SynthDoc(doc.path, data, ctx)
