"""One synthesized Terraform JSON document (`cdk.tf.json`) and the lookups the rules need.

`SynthDoc` wraps the parsed JSON with its `Context` (cell, region, suffix, project folder) and
answers: resources by type, a resource by address, provider blocks, the backend, default tags, the
region. `refs()`/`ref_to()` read `${...}` references, so rules follow the graph of references and
never rely on construct ids. `literal()` tells a value known at synth from one computed at apply.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REF_RE = re.compile(r"\$\{([^}]*)\}")
ADDR_RE = re.compile(r"^(?:(data)\.)?([a-z0-9_]+)\.([A-Za-z0-9_-]+)(?:\.([A-Za-z0-9_]+))?")
RESOURCE_REF_RE = re.compile(r"(?:data\.)?aws_[a-z0-9_]+\.[A-Za-z0-9_-]+")


@dataclass
class Context:
    """What a rule may know beyond the JSON: the cell's region/suffix, the project folder."""

    cell: str = ""
    region: str | None = None
    suffix: str | None = None
    project_dir: Path | None = None


@dataclass
class SynthDoc:
    path: Path
    data: dict[str, Any]
    ctx: Context = field(default_factory=Context)

    @classmethod
    def load(cls, path: Path, ctx: Context | None = None) -> SynthDoc:
        data = json.loads(Path(path).read_text())
        if not isinstance(data, dict):
            raise ValueError("top level is not a JSON object")
        return cls(Path(path), data, ctx or Context())

    # -- lookups -------------------------------------------------------------------------------
    def resources(self, rtype: str | None = None) -> Iterator[tuple[str, str, dict[str, Any]]]:
        for t, by_name in (self.data.get("resource") or {}).items():
            if rtype and t != rtype:
                continue
            for name, body in (by_name or {}).items():
                if isinstance(body, dict):
                    yield t, name, body

    def get(self, address: str | None) -> dict[str, Any] | None:
        m = ADDR_RE.match(address or "")
        if not m:
            return None
        section = "data" if m.group(1) else "resource"
        return ((self.data.get(section) or {}).get(m.group(2)) or {}).get(m.group(3))

    def providers(self, name: str = "aws") -> list[dict[str, Any]]:
        blocks = (self.data.get("provider") or {}).get(name) or []
        return [b for b in (blocks if isinstance(blocks, list) else [blocks]) if isinstance(b, dict)]

    def backend(self) -> tuple[str, dict[str, Any]] | None:
        backends = (self.data.get("terraform") or {}).get("backend") or {}
        for kind, body in backends.items():
            return kind, body or {}
        return None

    def default_tags(self) -> dict[str, Any]:
        tags: dict[str, Any] = {}
        for p in self.providers():
            dt = p.get("default_tags") or []
            for block in dt if isinstance(dt, list) else [dt]:
                block_tags = (block or {}).get("tags")
                if isinstance(block_tags, dict):  # else an expression ("${local.tags}"): unknown here
                    tags.update(block_tags)
        return tags

    def region(self) -> str | None:
        if self.ctx.region:
            return self.ctx.region
        for p in self.providers():
            if isinstance(p.get("region"), str) and not p.get("alias") and literal(p["region"]):
                return p["region"]
        return None


def refs(value: Any) -> list[str]:
    """Resource addresses referenced anywhere in `value` (`aws_vpc.main`, `data.x.y`)."""
    out: list[str] = []
    if isinstance(value, str):
        for expr in REF_RE.findall(value):
            out.extend(m.group(0) for m in RESOURCE_REF_RE.finditer(expr))
    elif isinstance(value, dict):
        for v in value.values():
            out.extend(refs(v))
    elif isinstance(value, list):
        for v in value:
            out.extend(refs(v))
    return out


def ref_to(value: Any, rtype: str) -> str | None:
    """The address of the first `rtype` resource that `value` refers to."""
    for r in refs(value):
        if r.startswith(rtype + "."):
            return r
    return None


def literal(value: Any) -> bool:
    """True when `value` is known at synth (no `${...}` expression anywhere in it)."""
    if isinstance(value, str):
        return "${" not in value
    if isinstance(value, dict):
        return all(literal(k) and literal(v) for k, v in value.items())
    if isinstance(value, list):
        return all(literal(v) for v in value)
    return True


def strings(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for k, v in value.items():
            if k != "//":
                yield from strings(v, f"{path}.{k}" if path else k)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from strings(v, f"{path}[{i}]")


def as_bool(value: Any, default: bool) -> bool | None:
    """A Terraform boolean (true, "true"); `default` when unset; None for an expression."""
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None
