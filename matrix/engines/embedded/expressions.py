"""Terraform JSON expressions: string templates, parsed once, evaluated against known values.

Terraform JSON carries expressions inside strings, and every string is a template:

* `"${aws_vpc.vpc.id}"`: the whole string is one interpolation and keeps its type (e.g. a list);
* `"${aws_cloudwatch_log_group.x.arn}:*"`: a template, its pieces joined as text;
* `"%{ if var.x }a%{ else }b%{ endif }"`, `"%{ for az in data.aws_availability_zones.azs.names }${az},%{ endfor }"`:
  template directives (`for k, v in map` too), rendered as terraform renders them;
* `~` strip markers (`${~ x ~}`, `%{~ endfor ~}`) remove the whitespace next to them;
* `$${` and `%%{` are escapes for a literal `${` and `%{`.

Inside an interpolation or directive this module parses the subset of HCL a synthesized stack
uses: references with attribute and index access, literals, lists, the comparison and logic
operators (`== != < > <= >= ! && ||`), the conditional `c ? a : b`, and a small set of functions.
So that:

* `uses(value)` lists every reference a value makes, with the first attribute it reads (for the
  dependency graph and the checks before any API call); `references(value)` just the references;
* `check(value)` raises `UnsupportedExpression` for any syntax or function outside the subset,
  before the first API call;
* `evaluate(value, resolve)` computes the value, where `resolve(parts)` returns the value of a
  reference (or raises `Unknown` when it is known only after apply).
"""

from __future__ import annotations

import ipaddress
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


# -- expression AST ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Lit:
    value: Any


@dataclass(frozen=True)
class Ref:
    parts: tuple[str, ...]  # ("aws_vpc", "vpc") or ("data", "aws_x", "y") or ("var", "v")


@dataclass(frozen=True)
class Var:
    name: str  # a template `for` variable


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


@dataclass(frozen=True)
class Op:
    op: str
    args: tuple[Any, ...]


@dataclass(frozen=True)
class Cond:
    test: Any
    then: Any
    other: Any


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


def _cidrsubnet(prefix: str, newbits: Any, netnum: Any) -> str:
    """terraform's cidrsubnet(): the netnum-th subnet of `prefix` with `newbits` more bits."""
    net = ipaddress.ip_network(str(prefix), strict=False)
    bits, num = int(newbits), int(netnum)
    if bits < 0 or net.prefixlen + bits > net.max_prefixlen or not 0 <= num < 2 ** bits:
        raise ValueError(f"cannot make subnet {num} of {prefix} with {bits} more bits")
    size = 2 ** (net.max_prefixlen - net.prefixlen - bits)
    return str(ipaddress.ip_network((int(net.network_address) + num * size, net.prefixlen + bits)))


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "cidrsubnet": _cidrsubnet,
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
    r"|(?P<op>==|!=|<=|>=|&&|\|\||[()\[\],.*!<>?:-]))"
)
BINARY = (("||",), ("&&",), ("==", "!="), ("<", ">", "<=", ">="))
RESERVED_ROOTS = ("local", "module", "each", "count", "path", "self", "terraform")


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
    def __init__(self, expr: str, local_names: frozenset[str] = frozenset()) -> None:
        self.expr = expr
        self.locals = local_names
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
        node = self.binary(0)
        if self.peek() == ("op", "?"):
            self.take("?")
            then = self.expression()
            self.take(":")
            return Cond(node, then, self.expression())
        return node

    def binary(self, level: int) -> Any:
        if level == len(BINARY):
            return self.unary()
        node = self.binary(level + 1)
        while self.peek() is not None and self.peek()[0] == "op" and self.peek()[1] in BINARY[level]:
            op = self.take()[1]
            node = Op(op, (node, self.binary(level + 1)))
        return node

    def unary(self) -> Any:
        if self.peek() in (("op", "!"), ("op", "-")):
            return Op(self.take()[1], (self.unary(),))
        return self.postfix()

    def postfix(self) -> Any:
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
                if kind == "num" and name.isdigit():
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
            if "${" in text or "%{" in text:
                raise UnsupportedExpression(self.expr, "templates inside a quoted string are not supported")
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
                return self.call(text)
            if text in self.locals:
                return Var(text)
            return self.reference(text)
        raise UnsupportedExpression(self.expr, f"unsupported syntax at {text!r}")

    def call(self, name: str) -> Call:
        if name not in FUNCTIONS:
            raise UnsupportedExpression(
                self.expr, f"function {name}() is not supported (supported: {', '.join(sorted(FUNCTIONS))})")
        self.take("(")
        args = []
        while self.peek() != ("op", ")"):
            args.append(self.expression())
            if self.peek() == ("op", ","):
                self.take(",")
        self.take(")")
        return Call(name, tuple(args))

    def reference(self, first: str) -> Ref:
        # resource refs are TYPE.NAME; data refs data.TYPE.NAME; var.NAME; the rest is Attr/Index.
        want = {"data": 2, "var": 1}.get(first, 1)
        if first in RESERVED_ROOTS:
            raise UnsupportedExpression(self.expr, f"{first}.* references are not supported")
        parts = [first]
        for _ in range(want):
            if self.peek() != ("op", "."):
                raise UnsupportedExpression(self.expr, f"unknown name {first!r} (not a reference, function or "
                                                       "template variable)")
            self.take(".")
            kind, name = self.take()
            if kind != "ident":
                raise UnsupportedExpression(self.expr, f"bad reference {'.'.join(parts)}.{name}")
            parts.append(name)
        return Ref(tuple(parts))


_cache: dict[tuple[str, frozenset[str]], Any] = {}


def parse(expr: str, local_names: frozenset[str] = frozenset()) -> Any:
    key = (expr, local_names)
    if key not in _cache:
        _cache[key] = _Parser(expr, local_names).parse()
    return _cache[key]


# -- templates ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Interp:
    node: Any
    expr: str


@dataclass(frozen=True)
class IfT:
    test: Any
    expr: str
    then: tuple[Any, ...]
    other: tuple[Any, ...]


@dataclass(frozen=True)
class ForT:
    key: str | None
    value: str
    collection: Any
    expr: str
    body: tuple[Any, ...]


def _close(text: str, start: int) -> int:
    """Index just past the `}` that closes the `${`/`%{` opened at `start` (braces and quotes honoured)."""
    depth, j, quote = 1, start + 2, False
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
        raise UnsupportedExpression(text[start + 2:], f"unterminated {text[start:start + 2]}")
    return j


def _pieces(text: str) -> list[tuple[str, str]]:
    """("text", s) | ("interp", expr) | ("directive", body): escapes resolved, strip markers applied."""
    raw: list[list[Any]] = []  # [kind, content, strip_before, strip_after]
    buf: list[str] = []
    i = 0
    while i < len(text):
        if text.startswith(("$${", "%%{"), i):
            buf.append(text[i + 1:i + 3])
            i += 3
            continue
        if text.startswith(("${", "%{"), i):
            if buf:
                raw.append(["text", "".join(buf), False, False])
                buf = []
            end = _close(text, i)
            inner = text[i + 2:end - 1]
            left, right = inner.startswith("~"), inner.endswith("~") and len(inner) > 1
            inner = inner[1 if left else 0:len(inner) - (1 if right else 0)]
            raw.append(["interp" if text[i] == "$" else "directive", inner.strip(), left, right])
            i = end
            continue
        buf.append(text[i])
        i += 1
    if buf:
        raw.append(["text", "".join(buf), False, False])
    for n, piece in enumerate(raw):
        if piece[0] == "text":
            continue
        if piece[2] and n > 0 and raw[n - 1][0] == "text":
            raw[n - 1][1] = raw[n - 1][1].rstrip()
        if piece[3] and n + 1 < len(raw) and raw[n + 1][0] == "text":
            raw[n + 1][1] = raw[n + 1][1].lstrip()
    return [(p[0], p[1]) for p in raw]


FOR_RE = re.compile(r"for\s+([A-Za-z_][A-Za-z0-9_]*)(?:\s*,\s*([A-Za-z_][A-Za-z0-9_]*))?\s+in\s+(.+)$", re.S)


def _build(pieces: list[tuple[str, str]], pos: int, local_names: frozenset[str], text: str,
           ends: tuple[str, ...]) -> tuple[tuple[Any, ...], int, str | None]:
    """Nodes from pieces[pos:] up to one of the `ends` directives; returns (nodes, next pos, end met)."""
    nodes: list[Any] = []
    while pos < len(pieces):
        kind, body = pieces[pos]
        pos += 1
        if kind == "text":
            nodes.append(Text(body))
        elif kind == "interp":
            nodes.append(Interp(parse(body, local_names), body))
        else:
            word = body.split(None, 1)[0] if body else ""
            if word in ends:
                return tuple(nodes), pos, word
            if word == "if":
                test = body[2:].strip()
                then, pos, end = _build(pieces, pos, local_names, text, ("else", "endif"))
                other: tuple[Any, ...] = ()
                if end == "else":
                    other, pos, end = _build(pieces, pos, local_names, text, ("endif",))
                if end != "endif":
                    raise UnsupportedExpression(body, "%{ if } without %{ endif }")
                nodes.append(IfT(parse(test, local_names), test, then, other))
            elif word == "for":
                m = FOR_RE.match(body)
                if not m:
                    raise UnsupportedExpression(body, "malformed %{ for } directive")
                key, value = (m.group(1), m.group(2)) if m.group(2) else (None, m.group(1))
                inner = local_names | {n for n in (key, value) if n}
                loop, pos, end = _build(pieces, pos, inner, text, ("endfor",))
                if end != "endfor":
                    raise UnsupportedExpression(body, "%{ for } without %{ endfor }")
                nodes.append(ForT(key, value, parse(m.group(3).strip(), local_names), m.group(3).strip(), loop))
            else:
                raise UnsupportedExpression(body, f"unsupported template directive %{{{body}}}")
    if ends:
        raise UnsupportedExpression(text, f"template directive without %{{ {ends[-1]} }}")
    return tuple(nodes), pos, None


_templates: dict[str, tuple[Any, ...]] = {}


def template(text: str) -> tuple[Any, ...]:
    """The parsed template of a string (cached)."""
    if text not in _templates:
        _templates[text] = _build(_pieces(text), 0, frozenset(), text, ())[0]
    return _templates[text]


def has_expression(value: Any) -> bool:
    if isinstance(value, str):
        return any(not isinstance(n, Text) for n in template(value))
    if isinstance(value, dict):
        return any(has_expression(v) for v in value.values())
    if isinstance(value, list):
        return any(has_expression(v) for v in value)
    return False


# -- walking -----------------------------------------------------------------------------------


def _uses_in(node: Any, attr: str | None, text: str, out: list[tuple[tuple[str, ...], str | None, str]]) -> None:
    if isinstance(node, Ref):
        out.append((node.parts, attr, text))
    elif isinstance(node, Attr):
        if isinstance(node.target, Ref):
            out.append((node.target.parts, node.name, text))
        else:
            _uses_in(node.target, attr, text, out)
    elif isinstance(node, Index):
        _uses_in(node.target, attr, text, out)
        _uses_in(node.index, None, text, out)
    elif isinstance(node, Call | ListExpr | Op):
        for a in getattr(node, "args", None) or getattr(node, "items", ()):
            _uses_in(a, None, text, out)
    elif isinstance(node, Cond):
        for a in (node.test, node.then, node.other):
            _uses_in(a, None, text, out)
    elif isinstance(node, Interp):
        _uses_in(node.node, None, node.expr, out)
    elif isinstance(node, IfT):
        _uses_in(node.test, None, node.expr, out)
        for n in (*node.then, *node.other):
            _uses_in(n, None, text, out)
    elif isinstance(node, ForT):
        _uses_in(node.collection, None, node.expr, out)
        for n in node.body:
            _uses_in(n, None, text, out)


def uses(value: Any) -> list[tuple[tuple[str, ...], str | None, str]]:
    """(reference parts, first attribute read or None, expression text) for each reference in a JSON value."""
    out: list[tuple[tuple[str, ...], str | None, str]] = []
    if isinstance(value, str):
        for node in template(value):
            _uses_in(node, None, "", out)
    elif isinstance(value, dict):
        for k, v in value.items():
            if k != "//":
                out += uses(v)
    elif isinstance(value, list):
        for v in value:
            out += uses(v)
    return out


def references(value: Any) -> set[tuple[str, ...]]:
    """Every reference in a JSON value: ("aws_vpc", "vpc"), ("data", "aws_x", "y"), ("var", "v")."""
    return {parts for parts, _attr, _text in uses(value)}


def check(value: Any) -> None:
    """Raise UnsupportedExpression for anything outside the subset (parsing is the check)."""
    references(value)


# -- evaluation --------------------------------------------------------------------------------

Resolver = Callable[[tuple[str, ...]], Any]


def _truth(value: Any, expr: str) -> bool:
    if not isinstance(value, bool):
        raise UnsupportedExpression(expr, f"a condition must be true or false, not {value!r}")
    return value


def _number(value: Any, expr: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise UnsupportedExpression(expr, f"a number is required, not {value!r}")
    try:
        return float(value)
    except ValueError as exc:
        raise UnsupportedExpression(expr, f"a number is required, not {value!r}") from exc


def _same(a: Any, b: Any) -> bool:
    """terraform's ==: no conversion between types (1 == "1" is false), numbers by value."""
    def numeric(v: Any) -> bool:
        return isinstance(v, int | float) and not isinstance(v, bool)

    if numeric(a) and numeric(b):
        return float(a) == float(b)
    return type(a) is type(b) and a == b


def _op(node: Op, resolve: Resolver, expr: str, scope: dict[str, Any]) -> Any:
    if node.op == "&&":
        return _truth(_eval(node.args[0], resolve, expr, scope), expr) and _truth(
            _eval(node.args[1], resolve, expr, scope), expr)
    if node.op == "||":
        return _truth(_eval(node.args[0], resolve, expr, scope), expr) or _truth(
            _eval(node.args[1], resolve, expr, scope), expr)
    vals = [_eval(a, resolve, expr, scope) for a in node.args]
    if node.op == "!":
        return not _truth(vals[0], expr)
    if node.op == "-" and len(vals) == 1:
        n = -_number(vals[0], expr)
        return int(n) if n.is_integer() else n
    if node.op in ("==", "!="):
        return _same(vals[0], vals[1]) == (node.op == "==")
    a, b = _number(vals[0], expr), _number(vals[1], expr)
    return {"<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}[node.op]


def _eval(node: Any, resolve: Resolver, expr: str, scope: dict[str, Any]) -> Any:
    if isinstance(node, Lit):
        return node.value
    if isinstance(node, Ref):
        return resolve(node.parts)
    if isinstance(node, Var):
        return scope[node.name]
    if isinstance(node, ListExpr):
        return [_eval(i, resolve, expr, scope) for i in node.items]
    if isinstance(node, Op):
        return _op(node, resolve, expr, scope)
    if isinstance(node, Cond):
        test = _truth(_eval(node.test, resolve, expr, scope), expr)
        return _eval(node.then if test else node.other, resolve, expr, scope)
    if isinstance(node, Attr):
        target = _eval(node.target, resolve, expr, scope)
        if isinstance(target, dict) and node.name in target:
            return target[node.name]
        raise UnsupportedExpression(expr, f"no attribute {node.name!r}")
    if isinstance(node, Index):
        target = _eval(node.target, resolve, expr, scope)
        index = _eval(node.index, resolve, expr, scope)
        try:
            return target[int(index)] if isinstance(target, list) else target[index]
        except (IndexError, KeyError, TypeError, ValueError) as exc:
            raise UnsupportedExpression(expr, f"index {index!r} is out of range ({exc})") from exc
    if isinstance(node, Call):
        args = [_eval(a, resolve, expr, scope) for a in node.args]
        try:
            return FUNCTIONS[node.name](*args)
        except (TypeError, ValueError, KeyError) as exc:
            raise UnsupportedExpression(expr, f"{node.name}() failed: {exc}") from exc
    raise UnsupportedExpression(expr, f"cannot evaluate {node!r}")


def _text(value: Any, expr: str) -> str:
    """A value inside a string template, as terraform renders it (strings, numbers and bools only)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return str(int(value)) if float(value).is_integer() else repr(value)
    what = "null" if value is None else type(value).__name__
    raise UnsupportedExpression(expr, f"cannot include a {what} in a string template (a string is required)")


def _render(nodes: tuple[Any, ...], resolve: Resolver, scope: dict[str, Any]) -> str:
    out: list[str] = []
    for node in nodes:
        if isinstance(node, Text):
            out.append(node.text)
        elif isinstance(node, Interp):
            out.append(_text(_eval(node.node, resolve, node.expr, scope), node.expr))
        elif isinstance(node, IfT):
            test = _truth(_eval(node.test, resolve, node.expr, scope), node.expr)
            out.append(_render(node.then if test else node.other, resolve, scope))
        elif isinstance(node, ForT):
            coll = _eval(node.collection, resolve, node.expr, scope)
            if isinstance(coll, dict):
                pairs = sorted(coll.items())
            elif isinstance(coll, list):
                pairs = list(enumerate(coll))
            else:
                raise UnsupportedExpression(node.expr, "%{ for } needs a list or a map")
            for k, v in pairs:
                inner = {**scope, node.value: v, **({node.key: k} if node.key else {})}
                out.append(_render(node.body, resolve, inner))
    return "".join(out)


def evaluate(value: Any, resolve: Resolver) -> Any:
    """The value with every template rendered; raises Unknown if a reference is not known yet."""
    if isinstance(value, str):
        nodes = template(value)
        if len(nodes) == 1 and isinstance(nodes[0], Interp):
            return _eval(nodes[0].node, resolve, nodes[0].expr, {})  # one interpolation keeps its type
        return _render(nodes, resolve, {})
    if isinstance(value, dict):
        return {k: evaluate(v, resolve) for k, v in value.items() if k != "//"}
    if isinstance(value, list):
        return [evaluate(v, resolve) for v in value]
    return value
