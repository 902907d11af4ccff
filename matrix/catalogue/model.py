"""The catalogue's data model: what AWS answers (`AwsError`), a rule (`Rule`), one finding (`Finding`).

A `Rule` is the stable, documented part (id, severity, title, the AWS refusal it prevents or the
behaviour that breaks, its source); a `Finding` is one occurrence (address, argument, value, a
specific message and fix). A finding carries its own `aws_error` and `source` when they are more
specific than the rule's (a schema rule covers many properties; each finding names the one it hit),
else it inherits the rule's.

`RULES` holds every rule; the modules that implement them call `define()` once per rule at import
and register the code that finds it: `doc_check` (one synthesized document), `cross_check` (all
documents of a run) or `arg_check` (one argument's value, also what the strict proxy calls). Rules
that are data (schema and curated constraints) need no code: values.py applies them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

SEVERITIES = ("error", "warning")


@dataclass(frozen=True)
class AwsError:
    """What AWS answers when it refuses a call: error code, HTTP status and message text.

    `message` may hold `{value}` and `{argument}` placeholders; `render()` fills them."""

    code: str
    status: int
    message: str

    def render(self, value: Any = None, argument: str | None = None, **extra: Any) -> AwsError:
        """This error with its placeholders filled (unknown placeholders stay as written)."""
        fields = {"value": _text(value), "argument": argument or "", **{k: _text(v) for k, v in extra.items()}}
        message = self.message
        for key, text in fields.items():  # plain replacement: messages quote regexes with braces
            message = message.replace("{" + key + "}", text)
        return replace(self, message=message)

    def text(self) -> str:
        return f"{self.code}: {self.message}"


@dataclass(frozen=True)
class Rule:
    id: str              # stable, kebab-case
    severity: str        # "error": AWS refuses it or it breaks; "warning": a project convention
    title: str           # one line
    description: str     # what AWS does, in full
    aws_error: AwsError | None   # the refusal it prevents, None when AWS accepts it and it breaks
    breaks: str | None           # the behaviour that breaks when AWS accepts it
    source: str          # an AWS documentation URL, or the schema it comes from
    fix: str             # how to fix, generic
    kind: str = "curated"        # "schema" (AWS constraint data), "curated" (documented), "project"

    def finding(self, address: str, message: str, fix: str | None = None, argument: str | None = None,
                value: Any = None, aws_error: AwsError | None = None, source: str = "") -> Finding:
        """One occurrence of this rule (the fix defaults to the rule's)."""
        return Finding(self, address, argument, value, message, fix or self.fix, aws_error=aws_error, source=source)

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"rule {self.id}: severity {self.severity!r} is not one of {SEVERITIES}")
        if self.aws_error is None and not self.breaks:
            raise ValueError(f"rule {self.id}: name the AWS error it prevents or the behaviour that breaks")


@dataclass(frozen=True)
class Finding:
    rule: Rule
    address: str         # "aws_flow_log.flow-log", "provider.aws", "terraform.backend.s3"
    argument: str | None # "max_aggregation_interval", "dns_options.dns_record_ip_type"
    value: Any
    message: str         # specific: the value and what AWS allows
    fix: str             # specific fix
    cell: str = ""
    aws_error: AwsError | None = None  # specific refusal (placeholders filled); default: the rule's
    source: str = ""                   # specific source (the schema property); default: the rule's

    def __post_init__(self) -> None:
        if self.aws_error is None and self.rule.aws_error is not None:
            object.__setattr__(self, "aws_error", self.rule.aws_error.render(self.value, self.argument))
        if not self.source:
            object.__setattr__(self, "source", self.rule.source)

    @property
    def rule_id(self) -> str:
        return self.rule.id

    @property
    def severity(self) -> str:
        return self.rule.severity

    def prevented(self) -> str:
        """What AWS would do: its error, or the behaviour that breaks after it accepts the stack."""
        if self.aws_error is not None:
            return f"AWS would answer {self.aws_error.code}: {self.aws_error.message}"
        return f"AWS accepts it, then {self.rule.breaks}"

    def line(self) -> str:
        """`rule-id: address: message (AWS would answer CODE: msg). Fix: ...`, one line."""
        where = f"[{self.cell}] " if self.cell else ""
        return f"{where}{self.rule.id}: {self.address}: {self.message} ({self.prevented()}). Fix: {self.fix}"

    def in_cell(self, cell: str) -> Finding:
        return self if self.cell == cell else replace(self, cell=cell)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule.id, "severity": self.rule.severity, "address": self.address,
            "argument": self.argument, "value": self.value, "message": self.message, "fix": self.fix,
            "cell": self.cell, "source": self.source,
            "aws_error": None if self.aws_error is None else {
                "code": self.aws_error.code, "status": self.aws_error.status, "message": self.aws_error.message},
            "breaks": None if self.aws_error is not None else self.rule.breaks,
        }


RULES: dict[str, Rule] = {}
#: rule id -> function(doc) yielding findings over one synthesized document
DOC_CHECKS: dict[str, Callable[[Any], Iterable[Finding]]] = {}
#: rule id -> function(docs) yielding findings across the cells of a run
CROSS_CHECKS: dict[str, Callable[[list[Any]], Iterable[Finding]]] = {}
#: (rule id, function(tf_type, argument, value, region, address)) run on every argument
ARG_CHECKS: list[tuple[str, Callable[..., Iterable[Finding]]]] = []


def define(
    id: str, severity: str, title: str, description: str, source: str, fix: str,
    aws_error: AwsError | None = None, breaks: str | None = None, kind: str = "curated",
) -> Rule:
    """Register a rule (once per id) and return it."""
    if id in RULES:
        raise ValueError(f"rule {id} defined twice")
    rule = Rule(id, severity, title, description, aws_error, breaks, source, fix, kind)
    RULES[id] = rule
    return rule


def doc_check(rule: Rule) -> Callable:
    """Register the decorated function as `rule`'s check over one document."""
    def register(fn):
        DOC_CHECKS[rule.id] = fn
        return fn
    return register


def cross_check(rule: Rule) -> Callable:
    """Register the decorated function as `rule`'s check across the documents of a run."""
    def register(fn):
        CROSS_CHECKS[rule.id] = fn
        return fn
    return register


def arg_check(rule: Rule) -> Callable:
    """Register the decorated function as `rule`'s check of one argument value."""
    def register(fn):
        ARG_CHECKS.append((rule.id, fn))
        return fn
    return register


def _text(value: Any) -> str:
    if value is None or isinstance(value, str):
        return value or ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, sort_keys=True)
