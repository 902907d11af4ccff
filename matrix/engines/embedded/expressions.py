"""Terraform JSON expressions: `${...}` templates, parsed once, evaluated against known values.

Terraform JSON carries expressions inside strings: `"${aws_vpc.vpc.id}"` (the whole string is
one expression and keeps its type, e.g. a list), or `"${aws_cloudwatch_log_group.x.arn}:*"`
(a template: the pieces are joined as text). This module parses the subset of HCL a synthesized
stack uses — references with attribute and index access, literals, lists, and a small set of
functions — into a tiny AST, so that:

* `references(value)` lists every address a value depends on (for the dependency graph);
* `check(value)` raises `UnsupportedExpression` for any syntax or function outside the subset,
  before the first API call;
* `evaluate(value, resolve)` computes the value, where `resolve(parts)` returns the value of a
  reference (or raises `Unknown` when it is known only after apply).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# -- errors ------------------------------------------------------------------------------------


class UnsupportedExpression(Exception):
    """An expression the embedded engine cannot evaluate (named with its text)."""

    def __init__(self, expr: str, reason: str) -> None:
        super().__init__(f"{reason} in expression ${{{expr}}}")
        self.expr = expr
        self.reason = reason


class Unknown(Exception):
    """A value known only after apply (a reference to something not created yet)."""


# -- AST ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Lit:
    value: Any


@dataclass(frozen=True)
class Ref:
    parts: tuple[str, ...]  # ("aws_vpc", "vpc", "id") or ("data", "aws_x", "y", "names")


@dataclass(frozen=True)
class Index:
    target: Any
    index: Any


@dataclass(frozen=True)
class Attr:
    target: Any
    name: str


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple[Any, ...]


@dataclass(frozen=True)
class ListExpr:
    items: tuple[Any, ...]


# -- functions ---------------------------------------------------------------------------------


def _element(lst: list, idx: Any) -> Any:
    if not isinstance(lst, list) or not lst:
        raise ValueError("element() needs a non-empty list")
    return lst[int(idx) % len(lst)]


def _lookup(mapping: dict, key: str, *default: Any) -> Any:
    if key in mapping:
        return mapping[key]
    if default:
        return default[0]
    raise ValueError(f"lookup(): no key {key!r}")


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "element": _element,
    "length": lambda v: len(v),
    "join": lambda sep, lst: sep.join(str(x) for x in lst),
    "concat": lambda *lists: [x for lst in lists for x in lst],
    "lower": lambda s: str(s).lower(),
    "upper": lambda s: str(s).upper(),
    "tostring": lambda v: v if isinstance(v, str) else json.dumps(v),
    "tonumber": lambda v: float(v) if "." in str(v) else int(v),
    "tolist": lambda v: list(v),
    "toset": lambda v: sorted(set(v)),
    "jsonencode": lambda v: json.dumps(v, separators=(",", ":")),
    "lookup": _lookup,
}

# -- tokenizer and parser ----------------------------------------------------------------------

TOKEN_RE = re.compile(
    r"\s*(?:(?P<num>\d+(?:\.\d+)?)|(?P<str>\"(?:[^\"\\]|\\.)*\")|(?P<ident>[A-Za-z_][A-Za-z0-9_-]*)"
    r"|(?P<op>[()\[\],.*]))"
)


def _tokens(expr: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(expr):
        if expr[pos:].strip() == "":
            break
        m = TOKEN_RE.match(expr, pos)
        if not m or m.end() == pos:
            raise UnsupportedExpression(expr, f"unsupported syntax at {expr[pos:pos + 12]!r}")
        kind = m.lastgroup or "op"
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, expr: str) -> None:
        self.expr = expr
        self.toks = _tokens(expr)
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if tok is None or (value is not None and tok[1] != value):
            want = f"{value!r}" if value else "more input"
            raise UnsupportedExpression(self.expr, f"expected {want}")
        self.i += 1
        return tok

    def parse(self) -> Any:
        node = self.expression()
        if self.peek() is not None:
            raise UnsupportedExpression(self.expr, f"unsupported syntax at {self.peek()[1]!r}")
        return node

    def expression(self) -> Any:
        node = self.primary()
        while True:
            tok = self.peek()
            if tok == ("op", "["):
                self.take("[")
                if self.peek() == ("op", "*"):
                    raise UnsupportedExpression(self.expr, "splat expressions are not supported")
                node = Index(node, self.expression())
                self.take("]")
            elif tok == ("op", "."):
                self.take(".")
                kind, name = self.take()
                if kind == "num":
                    node = Index(node, Lit(int(name)))
                elif kind == "ident":
                    node = Attr(node, name)
                else:
                    raise UnsupportedExpression(self.expr, f"unsupported attribute access .{name}")
            else:
                return node

    def primary(self) -> Any:
        kind, text = self.take()
        if kind == "num":
            return Lit(float(text) if "." in text else int(text))
        if kind == "str":
            return Lit(json.loads(text))
        if kind == "op" and text == "[":
            items = []
            while self.peek() != ("op", "]"):
                items.append(self.expression())
                if self.peek() == ("op", ","):
                    self.take(",")
            self.take("]")
            return ListExpr(tuple(items))
        if kind == "op" and text == "(":
            node = self.expression()
            self.take(")")
            return node
        if kind == "ident":
            if text in ("true", "false"):
                return Lit(text == "true")
            if text == "null":
                return Lit(None)
            if self.peek() == ("op", "("):
                if text not in FUNCTIONS:
                    raise UnsupportedExpression(
                        self.expr, f"function {text}() is not supported (supported: "
                        f"{', '.join(sorted(FUNCTIONS))})")
                self.take("(")
                args = []
                while self.peek() != ("op", ")"):
                    args.append(self.expression())
                    if self.peek() == ("op", ","):
                        self.take(",")
                self.take(")")
                return Call(text, tuple(args))
            return self.reference(text)
        raise UnsupportedExpression(self.expr, f"unsupported syntax at {text!r}")

    def reference(self, first: str) -> Ref:
        # resource refs are TYPE.NAME; data refs data.TYPE.NAME; var.NAME; the rest is Attr/Index.
        want = {"data": 2, "var": 1}.get(first, 1)
        if first in ("local", "module", "each", "count", "path", "self", "terraform"):
            raise UnsupportedExpression(self.expr, f"{first}.* references are not supported")
        parts = [first]
        for _ in range(want):
            self.take(".")
            kind, name = self.take()
            if kind != "ident":
                raise UnsupportedExpression(self.expr, f"bad reference {'.'.join(parts)}.{name}")
            parts.append(name)
        return Ref(tuple(parts))


_cache: dict[str, Any] = {}


def parse(expr: str) -> Any:
    if expr not in _cache:
        _cache[expr] = _Parser(expr).parse()
    return _cache[expr]


# -- templates ---------------------------------------------------------------------------------


def _segments(text: str) -> list[tuple[bool, str]]:
    """Split a string into (is_expression, text) pieces, honouring nested braces and quotes."""
    out: list[tuple[bool, str]] = []
    i, start = 0, 0
    while i < len(text):
        if text.startswith("$${", i):  # escaped literal ${
            i += 3
            continue
        if text.startswith("${", i):
            if i > start:
                out.append((False, text[start:i]))
            depth, j, quote = 1, i + 2, False
            while j < len(text) and depth:
                c = text[j]
                if quote:
                    if c == "\\":
                        j += 1
                    elif c == '"':
                        quote = False
                elif c == '"':
                    quote = True
                elif c == "{":
                    depth += 1
                elif c == "}":
                    depth -= 1
                j += 1
            if depth:
                raise UnsupportedExpression(text[i + 2:], "unterminated ${")
            out.append((True, text[i + 2:j - 1]))
            i = start = j
            continue
        i += 1
    if start < len(text):
        out.append((False, text[start:]))
    return [(is_expr, s if is_expr else s.replace("$${", "${")) for is_expr, s in out]


def has_expression(value: Any) -> bool:
    if isinstance(value, str):
        return "${" in value
    if isinstance(value, dict):
        return any(has_expression(v) for v in value.values())
    if isinstance(value, list):
        return any(has_expression(v) for v in value)
    return False


# -- walking -----------------------------------------------------------------------------------


def _refs_in(node: Any, out: set[tuple[str, ...]]) -> None:
    if isinstance(node, Ref):
        out.add(node.parts)
    elif isinstance(node, Index):
        _refs_in(node.target, out)
        _refs_in(node.index, out)
    elif isinstance(node, Attr):
        _refs_in(node.target, out)
    elif isinstance(node, Call):
        for a in node.args:
            _refs_in(a, out)
    elif isinstance(node, ListExpr):
        for a in node.items:
            _refs_in(a, out)


def references(value: Any) -> set[tuple[str, ...]]:
    """Every reference in a JSON value: ("aws_vpc", "vpc"), ("data", "aws_x", "y"), ("var", "v")."""
    out: set[tuple[str, ...]] = set()
    if isinstance(value, str):
        for is_expr, text in _segments(value):
            if is_expr:
                _refs_in(parse(text), out)
    elif isinstance(value, dict):
        for k, v in value.items():
            if k != "//":
                out |= references(v)
    elif isinstance(value, list):
        for v in value:
            out |= references(v)
    return out


def check(value: Any) -> None:
    """Raise UnsupportedExpression for anything outside the subset (parsing is the check)."""
    references(value)


Resolver = Callable[[tuple[str, ...]], Any]


def _eval(node: Any, resolve: Resolver, expr: str) -> Any:
    if isinstance(node, Lit):
        return node.value
    if isinstance(node, Ref):
        return resolve(node.parts)
    if isinstance(node, ListExpr):
        return [_eval(i, resolve, expr) for i in node.items]
    if isinstance(node, Attr):
        target = _eval(node.target, resolve, expr)
        if isinstance(target, dict) and node.name in target:
            return target[node.name]
        raise UnsupportedExpression(expr, f"no attribute {node.name!r}")
    if isinstance(node, Index):
        target = _eval(node.target, resolve, expr)
        index = _eval(node.index, resolve, expr)
        try:
            return target[int(index)] if isinstance(target, list) else target[index]
        except (IndexError, KeyError, TypeError, ValueError) as exc:
            raise UnsupportedExpression(expr, f"index {index!r} is out of range ({exc})") from exc
    if isinstance(node, Call):
        args = [_eval(a, resolve, expr) for a in node.args]
        try:
            return FUNCTIONS[node.name](*args)
        except (TypeError, ValueError, KeyError) as exc:
            raise UnsupportedExpression(expr, f"{node.name}() failed: {exc}") from exc
    raise UnsupportedExpression(expr, f"cannot evaluate {node!r}")


def evaluate(value: Any, resolve: Resolver) -> Any:
    """The value with every expression computed; raises Unknown if a reference is not known yet."""
    if isinstance(value, str):
        if "${" not in value:
            return value.replace("$${", "${")
        segs = _segments(value)
        if len(segs) == 1 and segs[0][0]:
            return _eval(parse(segs[0][1]), resolve, segs[0][1])
        parts = []
        for is_expr, text in segs:
            if not is_expr:
                parts.append(text)
                continue
            v = _eval(parse(text), resolve, text)
            parts.append(v if isinstance(v, str) else json.dumps(v) if isinstance(v, list | dict)
                         else str(v).lower() if isinstance(v, bool) else str(v))
        return "".join(parts)
    if isinstance(value, dict):
        return {k: evaluate(v, resolve) for k, v in value.items() if k != "//"}
    if isinstance(value, list):
        return [evaluate(v, resolve) for v in value]
    return value
