"""Constraints from AWS's own data: CloudFormation resource schemas (cfn-lint) and botocore models.

For one Terraform argument (through the table in mapping.py) `constraints()` gathers:
* the CloudFormation schema of its property, per region, as cfn-lint ships it
  (`cfnlint.schema.PROVIDER_SCHEMA_MANAGER`): enum, pattern, minLength/maxLength,
  minimum/maximum, minItems/maxItems and `format` (cfn-lint's checkers: ipv4-network, VPC ids...);
* the botocore service model of the API parameter that carries it (enum, min/max, pattern), which
  AWS validates on every call whatever the client;
* the curated constraints of values.py, only where neither of the above has the same keyword for
  the same target (so one broken limit gives one finding).
Where both sources carry an enum for the same target, the API model's wins (see `constraints()`).

Each `Constraint` knows its target (the value, each list item, the list, a tag key or tag value),
its source and its rule id (`schema-enum`, ... or the curated rule's own id). `violation()` says what
is wrong with a value, in words, or None.
"""

from __future__ import annotations

import importlib
import inspect
import ipaddress
import json
import pkgutil
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import regex

from matrix.catalogue.mapping import Arg, TypeMap

DEFAULT_REGION = "us-east-1"
KEYWORDS = ("enum", "pattern", "minLength", "maxLength", "minimum", "maximum", "minItems", "maxItems", "format")
#: rule id per keyword for constraints that come from AWS's data
SCHEMA_RULE = {
    "enum": "schema-enum", "pattern": "schema-pattern", "minLength": "schema-length", "maxLength": "schema-length",
    "minimum": "schema-range", "maximum": "schema-range", "minItems": "schema-items", "maxItems": "schema-items",
    "format": "schema-format",
}
TARGETS = ("value", "item", "list", "tag-key", "tag-value")


@dataclass(frozen=True)
class Constraint:
    target: str          # value | item | list | tag-key | tag-value
    keyword: str         # a JSON-schema keyword, or a curated one (cidr-prefix, not-prefix)
    bound: Any
    source: str
    rule: str            # rule id
    fullmatch: bool = False  # botocore patterns match the whole value; JSON-schema patterns search

    def violation(self, value: Any) -> str | None:
        """What is wrong with `value` under this constraint, or None when it holds."""
        k, b = self.keyword, self.bound
        if k == "enum":
            if value in b or (isinstance(value, str) and any(isinstance(x, str) and x == value for x in b)):
                return None
            return f"is not one of {', '.join(map(str, b))}"
        if k in ("minLength", "maxLength", "minItems", "maxItems"):
            if not isinstance(value, str | list | dict):
                return None
            n = len(value)
            what = "items" if k.endswith("Items") else "characters"
            if k.startswith("min") and n < b:
                return f"has {n} {what}; at least {b} allowed"
            if k.startswith("max") and n > b:
                return f"has {n} {what}; at most {b} allowed"
            return None
        if k in ("minimum", "maximum"):
            if isinstance(value, bool) or not isinstance(value, int | float):
                return None
            if (k == "minimum" and value < b) or (k == "maximum" and value > b):
                return f"is out of range ({'at least' if k == 'minimum' else 'at most'} {b})"
            return None
        if k == "pattern":
            if not isinstance(value, str):
                return None
            ok = regex.fullmatch(b, value) if self.fullmatch else regex.search(b, value)
            return None if ok else f"does not match the pattern {b}"
        if k == "format":
            if not isinstance(value, str):
                return None
            return None if format_ok(b, value) else f"is not a valid {b}"
        if k == "cidr-prefix":
            try:
                net = ipaddress.ip_network(value, strict=True)
            except ValueError:
                return None  # the format constraint names it
            lo, hi = b
            if net.version == 4 and not lo <= net.prefixlen <= hi:
                return f"has prefix /{net.prefixlen}; AWS allows /{lo} to /{hi}"
            return None
        if k == "not-prefix":
            if isinstance(value, str) and value.lower().startswith(b):
                return f"starts with the reserved prefix {b!r}"
            return None
        raise ValueError(f"unknown constraint keyword {k}")


# -- CloudFormation schemas (cfn-lint) -----------------------------------------------------------

@lru_cache(maxsize=256)
def cfn_schema(region: str, cfn_type: str) -> dict[str, Any]:
    from cfnlint.schema import PROVIDER_SCHEMA_MANAGER  # lazy: loading cfn-lint costs ~0.5 s

    try:
        return PROVIDER_SCHEMA_MANAGER.get_resource_schema(region, cfn_type).schema
    except Exception:  # a region cfn-lint does not ship: the us-east-1 schema stands in
        return PROVIDER_SCHEMA_MANAGER.get_resource_schema(DEFAULT_REGION, cfn_type).schema


def _resolve(node: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    seen = 0
    while isinstance(node, dict) and "$ref" in node and seen < 8:
        ref = node["$ref"]
        if not ref.startswith("#/definitions/"):
            break
        node = {**schema["definitions"][ref.split("/")[-1]], **{k: v for k, v in node.items() if k != "$ref"}}
        seen += 1
    return node


def cfn_property(region: str, cfn_type: str, path: str) -> dict[str, Any] | None:
    """The resolved schema node of `path` ("DnsOptions.DnsRecordIpType") in `cfn_type`."""
    schema = cfn_schema(region, cfn_type)
    node: dict[str, Any] = schema
    for part in path.split("."):
        node = _resolve(node, schema)
        props = node.get("properties") or {}
        if part not in props:
            return None
        node = props[part]
    return _resolve(node, schema)


def _from_node(node: dict[str, Any] | None, target: str, source: str) -> list[Constraint]:
    out: list[Constraint] = []
    if not node:
        return out
    for k in KEYWORDS:
        if k in node:
            out.append(Constraint(target, k, tuple(node[k]) if k == "enum" else node[k], source, SCHEMA_RULE[k]))
    return out


def cfn_constraints(region: str, cfn_type: str, path: str, kind: str) -> list[Constraint]:
    node = cfn_property(region, cfn_type, path)
    if node is None:
        return []
    src = f"cfn-lint schema {cfn_type}.{path} ({region})"
    schema = cfn_schema(region, cfn_type)
    if kind == "tags":
        items = _resolve(node.get("items") or {}, schema)
        props = items.get("properties") or {}
        out = [c for c in _from_node(node, "list", src) if c.keyword.endswith("Items")]
        out += _from_node(_resolve(props.get("Key") or {}, schema), "tag-key",
                          f"cfn-lint schema {cfn_type}.{path}[].Key ({region})")
        out += _from_node(_resolve(props.get("Value") or {}, schema), "tag-value",
                          f"cfn-lint schema {cfn_type}.{path}[].Value ({region})")
        return out
    if kind == "list":
        out = [c for c in _from_node(node, "list", src) if c.keyword.endswith("Items")]
        return out + _from_node(_resolve(node.get("items") or {}, schema), "item", src + " items")
    return [c for c in _from_node(node, "value", src) if not c.keyword.endswith("Items")]


# -- botocore service models --------------------------------------------------------------------

@lru_cache(maxsize=8)
def _service_model(service: str):
    import botocore.session  # lazy: only when a check needs an API model

    return botocore.session.get_session().get_service_model(service)


def api_shape(service: str, operation: str, path: str):
    """The botocore shape of input member `path` ("DnsOptions.DnsRecordIpType") of `operation`."""
    try:
        shape = _service_model(service).operation_model(operation).input_shape
    except Exception:
        return None
    for part in path.split("."):
        while shape is not None and shape.type_name == "list":
            shape = shape.member
        if shape is None or shape.type_name != "structure" or part not in shape.members:
            return None
        shape = shape.members[part]
    return shape


def _shape_constraints(shape, target: str, source: str) -> list[Constraint]:
    out: list[Constraint] = []
    if shape is None:
        return out
    meta = shape.metadata
    enum = getattr(shape, "enum", None)  # only string shapes have one
    if enum:
        out.append(Constraint(target, "enum", tuple(enum), source, "schema-enum"))
    if "pattern" in meta:
        out.append(Constraint(target, "pattern", meta["pattern"], source, "schema-pattern", fullmatch=True))
    kinds = {"string": ("minLength", "maxLength"), "integer": ("minimum", "maximum"), "long": ("minimum", "maximum"),
             "list": ("minItems", "maxItems"), "map": ("minItems", "maxItems")}.get(shape.type_name)
    if kinds:
        for key, keyword in zip(("min", "max"), kinds, strict=True):
            if key in meta:
                out.append(Constraint(target, keyword, meta[key], source, SCHEMA_RULE[keyword]))
    return out


def api_constraints(service: str, operation: str, path: str, kind: str) -> list[Constraint]:
    shape = api_shape(service, operation, path)
    if shape is None:
        return []
    src = f"botocore {service} {operation} {path} ({shape.name})"
    if kind == "tags":
        if path == "TagSpecifications":  # EC2: TagSpecifications[].Tags[] carry Key/Value
            shape = api_shape(service, operation, "TagSpecifications.Tags")
            if shape is None:
                return []
        out = [c for c in _shape_constraints(shape, "list", src) if c.keyword.endswith("Items")]
        if shape.type_name == "map":
            return out + _shape_constraints(shape.key, "tag-key", src + " key") + \
                _shape_constraints(shape.value, "tag-value", src + " value")
        member = shape.member if shape.type_name == "list" else shape
        if member is not None and member.type_name == "structure":
            out += _shape_constraints(member.members.get("Key"), "tag-key", src + " Key")
            out += _shape_constraints(member.members.get("Value"), "tag-value", src + " Value")
        return out
    if shape.type_name == "list":
        out = [c for c in _shape_constraints(shape, "list", src) if c.keyword.endswith("Items")]
        return out + _shape_constraints(shape.member, "item" if kind == "list" else "value", src)
    return [c for c in _shape_constraints(shape, "value", src) if not c.keyword.endswith("Items")]


# -- formats (cfn-lint's checkers) --------------------------------------------------------------

@lru_cache(maxsize=1)
def _format_patterns() -> dict[str, str]:
    """format name -> pattern, from cfn-lint's format rules (AWS::EC2::VPC.Id, ...)."""
    import cfnlint.rules.formats as formats  # lazy: see cfn_schema
    from cfnlint.rules.formats.FormatKeyword import FormatKeyword

    out: dict[str, str] = {}
    for info in pkgutil.iter_modules(formats.__path__):
        module = importlib.import_module(f"{formats.__name__}.{info.name}")
        for _name, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, FormatKeyword) and cls is not FormatKeyword:
                try:
                    rule = cls()
                except TypeError:
                    continue
                if rule.format_keyword and rule.pattern:
                    out[rule.format_keyword] = rule.pattern
    return out


def format_ok(fmt: str, value: str) -> bool:
    """Whether `value` has format `fmt`; a format cfn-lint cannot check is taken as valid."""
    from cfnlint.jsonschema._format import cfn_format_checker  # lazy: see cfn_schema
    from cfnlint.jsonschema.exceptions import FormatError

    if fmt == "json":  # cfn-lint checks it with a rule of its own, not a format checker
        try:
            json.loads(value)
        except ValueError:
            return False
        return True
    if fmt in cfn_format_checker.checkers:
        try:
            cfn_format_checker.check(value, fmt)
        except FormatError:
            return False
        return True
    pattern = _format_patterns().get(fmt)
    return True if pattern is None else regex.match(pattern, value) is not None


# -- all of it for one argument -----------------------------------------------------------------

def constraints(tm: TypeMap, arg: Arg, region: str | None, curated: list[Constraint]) -> list[Constraint]:
    """Every constraint on one argument: the CFN schema's, the API model's, then curated ones that
    neither has (same target and keyword)."""
    region = region or DEFAULT_REGION
    cfn = cfn_constraints(region, arg.cfn_type or tm.cfn_type, arg.cfn, arg.kind) if arg.cfn else []
    api = api_constraints(tm.service, arg.operation or tm.operation, arg.api, arg.kind) if arg.api else []
    # Where both carry an enum, the API model's wins: Terraform calls the API, and the two lag each
    # other (CloudWatch's ESSENTIALS log class is in botocore only; CFN's "not-specified" only in CFN).
    api_enums = {c.target for c in api if c.keyword == "enum"}
    found = [c for c in cfn if not (c.keyword == "enum" and c.target in api_enums)] + api
    if arg.kind == "tags":  # Terraform omits an empty tags map: a minimum count never applies
        found = [c for c in found if c.keyword != "minItems"]
    have = {(c.target, c.keyword) for c in found}
    return found + [c for c in curated if (c.target, c.keyword) not in have]
