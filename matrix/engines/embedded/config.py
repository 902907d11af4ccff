"""A synthesized cdk.tf.json as the embedded engine sees it: nodes, edges, provider, backend.

`load_config(path)` parses the document and checks everything that can be checked before an API
call: resource and data source types are supported, every expression parses and uses supported
functions, every reference names an existing resource, data source or variable and an attribute
that type exports, no meta-argument the engine does not implement (count, for_each, lifecycle,
provisioners, provider aliases), and the dependency graph has no cycle. Any problem raises
`ConfigError` naming the resource address and the expression or argument.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from matrix.engines.embedded import expressions as ex
from matrix.engines.embedded.resources import DATA_SOURCES, HANDLERS

UNSUPPORTED_META = ("count", "for_each", "lifecycle", "provisioner", "connection", "dynamic", "provider")


class ConfigError(Exception):
    """The synthesized configuration uses something the embedded engine cannot apply."""


@dataclass
class Node:
    address: str
    mode: str  # managed | data
    type: str
    name: str
    args: dict[str, Any]
    depends_on: set[str] = field(default_factory=set)


@dataclass
class Backend:
    bucket: str
    key: str
    region: str
    encrypt: bool = False
    use_lockfile: bool = False
    dynamodb_table: str | None = None

    @property
    def lock_path(self) -> str:
        return f"{self.bucket}/{self.key}"


@dataclass
class TfConfig:
    path: Path
    nodes: dict[str, Node]
    order: list[str]  # topological: dependencies first
    outputs: dict[str, Any]
    variables: dict[str, Any]
    region: str
    default_tags: dict[str, Any]
    backend: Backend | None

    def managed(self) -> list[str]:
        return [a for a in self.order if self.nodes[a].mode == "managed"]

    def data(self) -> list[str]:
        return [a for a in self.order if self.nodes[a].mode == "data"]


def _ref_address(parts: tuple[str, ...]) -> tuple[str, str | None]:
    """("aws_vpc","vpc") -> ("aws_vpc.vpc", None); ("var","x") -> ("var.x", None)."""
    if parts[0] == "data":
        return f"data.{parts[1]}.{parts[2]}", None
    return ".".join(parts[:2]), None


def _walk_refs(value: Any, address: str) -> list[tuple[tuple[str, ...], str | None, str]]:
    """(reference parts, first attribute read, expression text) for each expression in value."""
    out = []
    if isinstance(value, str):
        for is_expr, text in ex._segments(value):
            if not is_expr:
                continue
            node = ex.parse(text)
            out.extend((parts, attr, text) for parts, attr in _refs_with_attr(node))
    elif isinstance(value, dict):
        for k, v in value.items():
            if k != "//":
                out.extend(_walk_refs(v, address))
    elif isinstance(value, list):
        for v in value:
            out.extend(_walk_refs(v, address))
    return out


def _refs_with_attr(node: Any, attr: str | None = None) -> list[tuple[tuple[str, ...], str | None]]:
    if isinstance(node, ex.Ref):
        return [(node.parts, attr)]
    if isinstance(node, ex.Attr):
        inner = node.target
        if isinstance(inner, ex.Ref):
            return [(inner.parts, node.name)]
        return _refs_with_attr(inner, attr)
    if isinstance(node, ex.Index):
        return _refs_with_attr(node.target, attr) + _refs_with_attr(node.index)
    if isinstance(node, ex.Call):
        return [r for a in node.args for r in _refs_with_attr(a)]
    if isinstance(node, ex.ListExpr):
        return [r for a in node.items for r in _refs_with_attr(a)]
    return []


def load_config(path: Path) -> TfConfig:
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot read synthesized configuration ({exc})") from exc

    providers = (doc.get("provider") or {}).get("aws") or [{}]
    providers = providers if isinstance(providers, list) else [providers]
    if len(providers) > 1 or providers[0].get("alias"):
        raise ConfigError("provider.aws: several or aliased AWS providers are not supported by the embedded "
                          "engine (use --engine terraform)")
    provider = providers[0]
    region = provider.get("region")
    if not isinstance(region, str) or "${" in region:
        raise ConfigError("provider.aws.region must be a literal region name")
    default_tags: dict[str, Any] = {}
    for block in provider.get("default_tags") or []:
        default_tags.update(block.get("tags") or {})

    variables = {name: (body or {}).get("default") for name, body in (doc.get("variable") or {}).items()}
    nodes: dict[str, Node] = {}
    for section, mode, registry in (("resource", "managed", HANDLERS), ("data", "data", DATA_SOURCES)):
        for rtype, by_name in (doc.get(section) or {}).items():
            for name, body in (by_name or {}).items():
                address = f"{'data.' if mode == 'data' else ''}{rtype}.{name}"
                if rtype not in registry:
                    kind = "resource" if mode == "managed" else "data source"
                    raise ConfigError(
                        f"{address}: {kind} type {rtype!r} is not supported by the embedded engine "
                        f"(supported: {', '.join(sorted(registry))}); use --engine terraform")
                body = dict(body or {})
                body.pop("//", None)
                for meta in UNSUPPORTED_META:
                    if meta in body:
                        raise ConfigError(f"{address}: meta-argument {meta!r} is not supported by the embedded "
                                          "engine; use --engine terraform")
                depends = {d for d in body.pop("depends_on", []) or []}
                nodes[address] = Node(address, mode, rtype, name, body, depends)

    for node in nodes.values():
        try:
            refs = _walk_refs(node.args, node.address)
        except ex.UnsupportedExpression as exc:
            raise ConfigError(f"{node.address}: {exc}") from exc
        for parts, attr, text in refs:
            target, _ = _ref_address(parts)
            if parts[0] == "var":
                if parts[1] not in variables:
                    raise ConfigError(f"{node.address}: ${{{text}}} refers to undeclared variable var.{parts[1]}")
                continue
            if target not in nodes:
                raise ConfigError(f"{node.address}: ${{{text}}} refers to {target}, which is not in the configuration")
            if attr is not None:
                tnode = nodes[target]
                registry = HANDLERS if tnode.mode == "managed" else DATA_SOURCES
                if attr not in registry[tnode.type].exports and attr not in tnode.args:
                    raise ConfigError(f"{node.address}: ${{{text}}} reads attribute {attr!r} that {tnode.type} "
                                      "does not export in the embedded engine")
            node.depends_on.add(target)
        for dep in list(node.depends_on):
            if dep not in nodes:
                raise ConfigError(f"{node.address}: depends_on {dep}, which is not in the configuration")

    outputs = {name: (body or {}).get("value") for name, body in (doc.get("output") or {}).items()}
    for name, value in outputs.items():
        try:
            for parts, _attr, text in _walk_refs(value, f"output.{name}"):
                target, _ = _ref_address(parts)
                if parts[0] != "var" and target not in nodes:
                    raise ConfigError(f"output.{name}: ${{{text}}} refers to {target}, "
                                      "which is not in the configuration")
        except ex.UnsupportedExpression as exc:
            raise ConfigError(f"output.{name}: {exc}") from exc

    return TfConfig(Path(path), nodes, topological(nodes), outputs, variables, region, default_tags,
                    _backend(doc))


def _backend(doc: dict[str, Any]) -> Backend | None:
    backends = (doc.get("terraform") or {}).get("backend") or {}
    if not backends:
        return None
    if "s3" not in backends:
        raise ConfigError(f"terraform.backend: only the s3 backend is supported (found {', '.join(backends)})")
    b = backends["s3"]
    for arg in ("bucket", "key", "region"):
        if not isinstance(b.get(arg), str) or not b[arg]:
            raise ConfigError(f"terraform.backend.s3: {arg} is required")
    return Backend(bucket=b["bucket"], key=b["key"], region=b["region"], encrypt=bool(b.get("encrypt")),
                   use_lockfile=bool(b.get("use_lockfile")), dynamodb_table=b.get("dynamodb_table") or None)


def topological(nodes: dict[str, Node]) -> list[str]:
    """Kahn's algorithm, ties broken by address so the order is stable; a cycle is a ConfigError."""
    indegree = {a: 0 for a in nodes}
    dependents: dict[str, list[str]] = {a: [] for a in nodes}
    for a, node in nodes.items():
        for dep in node.depends_on:
            indegree[a] += 1
            dependents[dep].append(a)
    ready = sorted(a for a, d in indegree.items() if d == 0)
    order = []
    while ready:
        a = ready.pop(0)
        order.append(a)
        for dep in sorted(dependents[a]):
            indegree[dep] -= 1
            if indegree[dep] == 0:
                ready.append(dep)
        ready.sort()
    if len(order) != len(nodes):
        stuck = sorted(a for a, d in indegree.items() if d > 0)
        raise ConfigError(f"dependency cycle between: {', '.join(stuck)}")
    return order
