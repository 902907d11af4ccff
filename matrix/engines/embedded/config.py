"""A synthesized cdk.tf.json as the embedded engine sees it: nodes, edges, provider, backend.

`load_config(path)` parses the document and checks everything that can be checked before an API
call: every key of the document against its table (arguments/check.py: each resource and data
source argument, nested blocks included, the meta-arguments, the provider block, the S3 backend,
the other top-level blocks), so that an argument the engine would not apply is refused by name
instead of passed over; resource and data source types are supported; every expression parses
and uses supported functions; every reference names an existing resource, data source or variable
and an attribute that type exports; and the dependency graph has no cycle. Any problem raises
`ConfigError` naming the resource address and the argument or expression, and the way out.

The provider block's honoured settings travel in `TfConfig` (default_tags, ignore_tags, the
account allow/deny lists); a resource's `lifecycle` in its `Node`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from matrix.engines.embedded import expressions as ex
from matrix.engines.embedded.arguments import schema
from matrix.engines.embedded.arguments.blocks import BACKEND_S3, PROVIDER
from matrix.engines.embedded.arguments.check import (
    problems_in_block,
    problems_in_body,
    problems_in_document,
)
from matrix.engines.embedded.resources import DATA_SOURCES, HANDLERS
from matrix.errors import ConfigError
from matrix.state.backend import Backend, backend_of


@dataclass(frozen=True)
class Lifecycle:
    ignore_changes: frozenset[str] = frozenset()
    ignore_all: bool = False
    prevent_destroy: bool = False
    create_before_destroy: bool = False

    def ignores(self, arg: str) -> bool:
        return self.ignore_all or arg in self.ignore_changes or (arg == "tags_all" and "tags" in self.ignore_changes)


@dataclass
class Node:
    address: str
    mode: str  # managed | data
    type: str
    name: str
    args: dict[str, Any]
    depends_on: set[str] = field(default_factory=set)
    lifecycle: Lifecycle = field(default_factory=Lifecycle)


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
    ignore_tag_keys: frozenset[str] = frozenset()
    ignore_tag_prefixes: tuple[str, ...] = ()
    allowed_account_ids: frozenset[str] = frozenset()
    forbidden_account_ids: frozenset[str] = frozenset()
    sensitive_outputs: frozenset[str] = frozenset()

    def managed(self) -> list[str]:
        return [a for a in self.order if self.nodes[a].mode == "managed"]

    def data(self) -> list[str]:
        return [a for a in self.order if self.nodes[a].mode == "data"]

    def ignored_tag(self, key: str) -> bool:
        """The provider's ignore_tags: never set, removed or compared."""
        return key in self.ignore_tag_keys or key.startswith(self.ignore_tag_prefixes)


def _ref_address(parts: tuple[str, ...]) -> tuple[str, str | None]:
    """("aws_vpc","vpc") -> ("aws_vpc.vpc", None); ("var","x") -> ("var.x", None)."""
    if parts[0] == "data":
        return f"data.{parts[1]}.{parts[2]}", None
    return ".".join(parts[:2]), None


def _refuse(problems: list[str]) -> None:
    if problems:
        more = f" (and {len(problems) - 1} more: {'; '.join(problems[1:])})" if len(problems) > 1 else ""
        raise ConfigError(problems[0] + more)


def _provider(doc: dict[str, Any]) -> dict[str, Any]:
    providers = doc.get("provider") or {}
    others = sorted(set(providers) - {"aws"})
    if others:
        raise ConfigError(f"provider.{others[0]}: only the aws provider is supported by the embedded engine; way "
                          "out: remove it, or deploy this stack with --engine terraform")
    blocks = providers.get("aws") or [{}]
    blocks = blocks if isinstance(blocks, list) else [blocks]
    if len(blocks) > 1:
        raise ConfigError("provider.aws: several AWS provider configurations are not supported by the embedded "
                          "engine; way out: deploy this stack with --engine terraform")
    provider = blocks[0]
    _refuse(problems_in_block("provider.aws", PROVIDER, schema.PROVIDER_BLOCK, provider, what="provider aws"))
    region = provider.get("region")
    if not isinstance(region, str) or "${" in region:
        raise ConfigError("provider.aws.region must be a literal region name")
    return provider


def _lifecycle(address: str, rtype: str, body: dict[str, Any]) -> Lifecycle:
    raw = body.pop("lifecycle", None) or {}
    raw = raw[0] if isinstance(raw, list) and raw else raw
    ignore = raw.get("ignore_changes") or []
    names = [ignore] if isinstance(ignore, str) else list(ignore)
    handler = HANDLERS.get(rtype)
    for name in names:
        if name != "all" and (handler is None or name not in handler.args):
            raise ConfigError(f"{address}: lifecycle.ignore_changes names {name!r}, which is not an argument of "
                              f"{rtype} (only top-level argument names or \"all\" are supported)")
    for flag in ("prevent_destroy", "create_before_destroy"):
        if not isinstance(raw.get(flag, False), bool):
            raise ConfigError(f"{address}: lifecycle.{flag} must be a literal true or false")
    return Lifecycle(frozenset(n for n in names if n != "all"), "all" in names, raw.get("prevent_destroy", False),
                     raw.get("create_before_destroy", False))


def load_config(path: Path) -> TfConfig:
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot read synthesized configuration ({exc})") from exc
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: not a Terraform JSON document (an object)")
    _refuse(problems_in_document(doc))
    provider = _provider(doc)
    default_tags: dict[str, Any] = {}
    for block in provider.get("default_tags") or []:
        default_tags.update(block.get("tags") or {})
    ignore = (provider.get("ignore_tags") or [{}])[0] if provider.get("ignore_tags") else {}

    variables = {name: (body or {}).get("default") for name, body in (doc.get("variable") or {}).items()}
    nodes: dict[str, Node] = {}
    for section, mode, registry, names in (("resource", "managed", HANDLERS, schema.RESOURCES),
                                           ("data", "data", DATA_SOURCES, schema.DATA_SOURCES)):
        for rtype, by_name in (doc.get(section) or {}).items():
            for name, body in (by_name or {}).items():
                address = f"{'data.' if mode == 'data' else ''}{rtype}.{name}"
                if rtype not in registry:
                    kind = "resource" if mode == "managed" else "data source"
                    raise ConfigError(
                        f"{address}: {kind} type {rtype!r} is not supported by the embedded engine "
                        f"(supported: {', '.join(sorted(registry))}); use --engine terraform")
                body = dict(body or {})
                _refuse(problems_in_body(address, rtype, registry[rtype].args, names.get(rtype, {}), body))
                body.pop("//", None)
                body.pop("provider", None)  # "aws": the default configuration (anything else was refused)
                lifecycle = _lifecycle(address, rtype, body)
                depends = {d for d in body.pop("depends_on", []) or []}
                nodes[address] = Node(address, mode, rtype, name, body, depends, lifecycle)

    for node in nodes.values():
        try:
            refs = ex.uses(node.args)
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
            for parts, _attr, text in ex.uses(value):
                target, _ = _ref_address(parts)
                if parts[0] != "var" and target not in nodes:
                    raise ConfigError(f"output.{name}: ${{{text}}} refers to {target}, "
                                      "which is not in the configuration")
        except ex.UnsupportedExpression as exc:
            raise ConfigError(f"output.{name}: {exc}") from exc
    sensitive = frozenset(n for n, body in (doc.get("output") or {}).items() if (body or {}).get("sensitive"))
    s3 = ((doc.get("terraform") or {}).get("backend") or {}).get("s3") or {}
    _refuse(problems_in_block("terraform.backend.s3", BACKEND_S3, schema.BACKEND_S3, s3, what="the s3 backend"))
    allowed = {str(a) for src in (provider, s3) for a in src.get("allowed_account_ids") or []}
    forbidden = {str(a) for src in (provider, s3) for a in src.get("forbidden_account_ids") or []}

    return TfConfig(Path(path), nodes, topological(nodes), outputs, variables, provider["region"], default_tags,
                    backend_of(doc), frozenset(ignore.get("keys") or []), tuple(ignore.get("key_prefixes") or []),
                    frozenset(allowed), frozenset(forbidden), sensitive)


def account_problem(config: TfConfig, account: str) -> str | None:
    """Why the provider's (or backend's) allowed/forbidden_account_ids refuse `account`, or None."""
    allowed, forbidden = config.allowed_account_ids, config.forbidden_account_ids
    if allowed and account not in allowed:
        return f"account {account} is not in allowed_account_ids ({', '.join(sorted(allowed))})"
    if account in forbidden:
        return f"account {account} is in forbidden_account_ids"
    return None


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
