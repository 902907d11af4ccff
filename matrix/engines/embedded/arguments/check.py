"""Every key of a synthesized document against its table, before the first API call.

`problems_in_body(address, table, schema, body)` checks one resource or data source body (its
arguments, nested blocks included, and its meta-arguments); `problems_in_block(where, table,
schema, block)` the provider block and the backend; `problems_in_document(doc)` the top-level
blocks. Each returns one message per problem, naming where, the argument and the way out; the
caller (config.load_config) refuses the document when there is any. An argument that is in no
table is refused too, never passed over: when the provider schema has it, the engine's table is
incomplete (tests/test_arguments.py keeps that from happening); when it has not, terraform would
refuse it as well.
"""

from __future__ import annotations

from typing import Any

from matrix.engines.embedded.arguments import schema
from matrix.engines.embedded.arguments.blocks import DOCUMENT, META
from matrix.engines.embedded.arguments.normalize import show
from matrix.engines.embedded.arguments.spec import REFUSED, WAY_OUT, Arg

BLOCK_KINDS = ("block", "block-list")


def lookup(table: dict[str, Arg], name: str) -> Arg | None:
    """The entry for a dotted name, or the nearest enclosing block entry that covers its children."""
    if name in table:
        return table[name]
    parts = name.split(".")
    for i in range(len(parts) - 1, 0, -1):
        spec = table.get(".".join(parts[:i]))
        if spec is not None and spec.children:
            return spec
    return None


def refusal(where: str, name: str, spec: Arg, value: Any = None) -> str:
    why = spec.note
    if spec.probe:
        why += f" (the emulators do not round-trip it: probe {spec.probe} fails on {', '.join(spec.fails_on)})"
    if spec.allowed:
        why += f"; accepted only as {' or '.join(show(a) for a in spec.allowed)}, found {show(value, 80)}"
    return f"{where}: argument {name!r} is refused by the embedded engine: {why}; way out: {WAY_OUT}"


def _items(value: Any) -> list[dict[str, Any]]:
    """A nested block's bodies: terraform JSON writes a block as an object or a list of objects."""
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, dict)]
    return []


def problems_in_block(where: str, table: dict[str, Arg], names: dict[str, tuple[str, bool]],
                      body: dict[str, Any], prefix: str = "", what: str = "") -> list[str]:
    out: list[str] = []
    for key, value in body.items():
        name = prefix + key
        if value is None:
            continue  # null: as if absent
        spec = lookup(table, name)
        if spec is None:
            if name in names:
                out.append(f"{where}: argument {name!r} is not classified by the embedded engine (a gap in its "
                           f"table for {what or where}); way out: {WAY_OUT}")
            else:
                out.append(f"{where}: {what or where} has no argument {name!r} in {schema.PROVIDER} "
                           f"(terraform refuses it too); way out: remove it")
            continue
        if spec.kind == REFUSED and not spec.accepts(value):
            out.append(refusal(where, name, spec, value))
            continue
        kind = names.get(name, ("", False))[0]
        if kind in BLOCK_KINDS and not spec.children:
            for item in _items(value):
                out += problems_in_block(where, table, names, item, name + ".", what)
    return out


def problems_in_body(address: str, rtype: str, table: dict[str, Arg], names: dict[str, tuple[str, bool]],
                     body: dict[str, Any]) -> list[str]:
    """A resource or data source body: meta-arguments first, then the arguments."""
    out: list[str] = []
    args: dict[str, Any] = {}
    for key, value in body.items():
        if key not in META:
            args[key] = value
            continue
        spec = META[key]
        if spec.kind == REFUSED and not spec.accepts(value):
            out.append(refusal(address, key, spec, value).replace("argument", "meta-argument", 1))
        elif key == "lifecycle":
            for item in _items(value):
                for sub, sub_value in item.items():
                    sub_spec = META.get(f"lifecycle.{sub}")
                    if sub_spec is None:
                        out.append(f"{address}: lifecycle has no argument {sub!r} (terraform refuses it too); "
                                   "way out: remove it")
                    elif sub_spec.kind == REFUSED and sub_value is not None:
                        message = refusal(address, f"lifecycle.{sub}", sub_spec)
                        out.append(message.replace("argument", "meta-argument", 1))
    for name, (_kind, required) in names.items():
        if required and "." not in name and args.get(name) is None:
            out.append(f"{address}: required argument {name!r} is missing (terraform refuses it too)")
    return out + problems_in_block(address, table, names, args, what=rtype)


def problems_in_document(doc: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for key, value in doc.items():
        spec = DOCUMENT.get(key)
        if spec is None:
            out.append(f"{key}: unknown top-level block (terraform refuses it too); way out: remove it")
        elif spec.kind == REFUSED and value:
            out.append(refusal(key, key, spec).replace("argument", "block", 1))
    for key, value in (doc.get("terraform") or {}).items():
        spec = DOCUMENT.get(f"terraform.{key}")
        if spec is None:
            out.append(f"terraform: unknown key {key!r}; way out: remove it")
        elif spec.kind == REFUSED and value:
            out.append(refusal("terraform", key, spec))
    for section in ("output", "variable"):
        for name, body in (doc.get(section) or {}).items():
            for key, value in (body or {}).items():
                spec = DOCUMENT.get(f"{section}.{key}")
                if spec is None:
                    out.append(f"{section}.{name}: no argument {key!r} (terraform refuses it too); way out: remove it")
                elif spec.kind == REFUSED and value is not None:
                    out.append(refusal(f"{section}.{name}", key, spec))
    return out
