"""The normalisation the AWS provider applies before it compares a configured value with what AWS
returns, so that the read-back and the plan call equal what the provider calls equal:

* policy documents as JSON, equivalent the way hashicorp/awspolicyequivalence sees them: a single
  string and a one-element list are the same, the order of actions, resources, principals and
  statements does not matter, IAM's URL-encoded documents are decoded; Version and Id must match;
* CIDR blocks in canonical form (`10.0.0.0/16`, IPv6 compressed and lower case);
* booleans, numbers and strings by the argument's schema kind ("true" == True, 600 == "600");
* sets as sets; tags as string maps; nested blocks managed as a set (inline routes, inline
  policies) as a set of their non-empty fields.

`equal(arg, kind, want, have)` is the one entry point; `show(value)` renders a value for a message.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any
from urllib.parse import unquote

POLICY_LIST_KEYS = ("Action", "NotAction", "Resource", "NotResource")


def _decode(doc: Any) -> Any:
    if isinstance(doc, dict | list) or doc is None:
        return doc
    text = str(doc)
    for candidate in (text, unquote(text)):
        try:
            return json.loads(candidate)
        except ValueError:
            continue
    return text


def _as_sorted_list(value: Any) -> list[Any]:
    items = value if isinstance(value, list) else [value]
    return sorted((_canonical(v) for v in items), key=lambda v: json.dumps(v, sort_keys=True))


def _canonical(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    return value


def _principal(value: Any) -> Any:
    if value == "*" or not isinstance(value, dict):
        return {"AWS": ["*"]} if value == "*" else value
    return {k: _as_sorted_list(v) for k, v in sorted(value.items())}


def _statement(st: Any) -> Any:
    if not isinstance(st, dict):
        return st
    out: dict[str, Any] = {}
    for key, value in st.items():
        if key in POLICY_LIST_KEYS:
            out[key] = _as_sorted_list(value)
        elif key in ("Principal", "NotPrincipal"):
            out[key] = _principal(value)
        elif key == "Condition" and isinstance(value, dict):
            out[key] = {op: {k: _as_sorted_list(v) for k, v in sorted((body or {}).items())}
                        for op, body in sorted(value.items())}
        else:
            out[key] = _canonical(value)
    return out


def policy(doc: Any) -> Any:
    """A policy document in canonical form (None for none)."""
    data = _decode(doc)
    if not isinstance(data, dict):
        return data
    out = {k: _canonical(v) for k, v in data.items() if k != "Statement"}
    statements = data.get("Statement")
    statements = statements if isinstance(statements, list) else [statements] if statements is not None else []
    out["Statement"] = sorted((_statement(s) for s in statements), key=lambda s: json.dumps(s, sort_keys=True))
    return out


def cidr(value: Any) -> Any:
    if not isinstance(value, str) or "/" not in value:
        return value
    try:
        return str(ipaddress.ip_network(value, strict=False))
    except ValueError:
        return value


def _scalar(kind: str, value: Any) -> Any:
    if value is None:
        return None
    if kind == "bool":
        if isinstance(value, str):
            return value.strip().lower() == "true"
        return bool(value)
    if kind == "number":
        try:
            return float(value)
        except (TypeError, ValueError):
            return value
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return str(value)
    return value


def _block(body: Any) -> Any:
    """One nested block in canonical form: empty fields dropped, policies and CIDRs normalised."""
    if not isinstance(body, dict):
        return body
    out: dict[str, Any] = {}
    for k, v in sorted(body.items()):
        if v in (None, "", [], {}):
            continue
        out[k] = policy(v) if k == "policy" else cidr(v) if "cidr" in k else _scalar("string", v)
    return out


def value(compare: str, kind: str, v: Any) -> Any:
    """`v` in the form the comparison uses."""
    if compare == "policy":
        return policy(v)
    if compare == "cidr":
        return cidr(v)
    if compare == "tags":
        return {str(k): str(x) for k, x in (v or {}).items()}
    if compare == "set":
        return sorted(_scalar("string", x) for x in (v or []))
    if kind == "list(string)":
        return [_scalar("string", x) for x in (v or [])]
    if kind == "map(string)":
        return {str(k): str(x) for k, x in (v or {}).items()}
    if compare == "blockset":
        items = (_block(b) for b in (v if isinstance(v, list) else [v] if v else []))
        return sorted((b for b in items if b != {}), key=lambda b: json.dumps(b, sort_keys=True))
    if kind in ("block", "block-list"):
        return _canonical(v)
    return _scalar(kind, v)


EMPTY = (None, "", [], {})


def equal(compare: str, kind: str, want: Any, have: Any) -> bool:
    """Equal as the provider sees it (null and empty are the same: an unset optional argument)."""
    a, b = value(compare, kind, want), value(compare, kind, have)
    return a == b or (a in EMPTY and b in EMPTY)


def show(v: Any, limit: int = 300) -> str:
    text = v if isinstance(v, str) else json.dumps(v, sort_keys=True, default=str)
    return text if len(text) <= limit else text[:limit] + "..."
