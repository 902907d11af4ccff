"""Running the catalogue: one argument (`check_argument`), one document (`check_doc`), a run (`check_docs`).

`check_argument` is the value-level entry point: the schema and curated constraints of the
argument (values.py) and every registered argument check (IAM grammar, principals, AZs, endpoint
services). The strict proxy calls it after mapping an API parameter to its Terraform argument;
`check_doc` calls it for every argument of every resource (nested blocks as dotted paths) and for
the provider's default tags, then runs the document checks (wiring, service roles, project rules).
`check_docs` adds the cross-cell checks when there are two documents or more.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from matrix.catalogue import iam, network, project, service_roles, values  # noqa: F401 - they register rules
from matrix.catalogue.doc import SynthDoc, literal
from matrix.catalogue.mapping import type_map
from matrix.catalogue.model import ARG_CHECKS, CROSS_CHECKS, DOC_CHECKS, RULES, Finding

#: meta-arguments and cdktf metadata: not AWS arguments
META = {"//", "depends_on", "lifecycle", "provider", "count", "for_each", "provisioner", "connection", "timeouts"}


def check_argument(tf_type: str, argument: str, value: Any, region: str | None,
                   address: str | None = None) -> list[Finding]:
    """Every value-level rule for one Terraform argument value (tags as a map, policies as JSON text).

    `argument` may be a nested path ("dns_options.dns_record_ip_type", "route[0].cidr_block");
    `region` selects the schema's region and the region-bound rules (AZs, endpoint services)."""
    address = address or tf_type
    tm = type_map(tf_type)
    arg = tm.arg(argument) if tm else None
    out = values.check_value(tf_type, argument, value, region, address, tm, arg)
    for _rule_id, fn in ARG_CHECKS:
        out.extend(fn(tf_type, argument, value, region, address))
    return out


def arguments(body: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(argument path, value) of a resource body: mapped arguments whole, other blocks walked into."""
    for key, value in body.items():
        if key in META:
            continue
        path = f"{prefix}.{key}" if prefix else key
        yield path, value
        if key in ("tags", "tags_all"):
            continue
        blocks = value if isinstance(value, list) else [value]
        for i, block in enumerate(blocks):
            if isinstance(block, dict):
                yield from arguments(block, f"{path}[{i}]" if isinstance(value, list) else path)


def _values(doc: SynthDoc) -> Iterator[Finding]:
    region = doc.region()
    for t, n, body in doc.resources():
        for argument, value in arguments(body):
            yield from check_argument(t, argument, value, region, f"{t}.{n}")
    for i, provider in enumerate(doc.providers()):
        for block in provider.get("default_tags") or []:
            tags = (block or {}).get("tags") if isinstance(block, dict) else None
            if isinstance(tags, dict):
                where = "provider.aws" if i == 0 else f"provider.aws[{i}]"
                yield from check_argument("provider", "default_tags.tags", tags, region, where)


def _merged_tag_count(doc: SynthDoc) -> Iterator[Finding]:
    """tag-count over default_tags + a resource's own tags (each alone is checked with its argument)."""
    defaults = doc.default_tags()
    rule = RULES["tag-count"]
    for t, n, body in doc.resources():
        own = body.get("tags")
        if not isinstance(own, dict) or not (t in project.TAGGABLE or own):
            continue
        merged = {**defaults, **own}
        if len(own) <= 50 < len(merged) and literal(list(merged)):
            yield rule.finding(f"{t}.{n}", f"{len(merged)} tags with the provider's default_tags; at most 50 allowed",
                               argument="tags", value=len(merged))


def check_doc(doc: SynthDoc, only: Iterable[str] | None = None) -> list[Finding]:
    """Every per-document rule on `doc` (or only the rule ids in `only`), findings labelled with its cell."""
    wanted = set(only) if only else None
    found: list[Finding] = list(_values(doc)) + list(_merged_tag_count(doc))
    for rule_id, fn in DOC_CHECKS.items():
        if wanted is None or rule_id in wanted:
            found.extend(fn(doc))
    if wanted is not None:
        found = [f for f in found if f.rule.id in wanted]
    return [f.in_cell(doc.ctx.cell) for f in found]


def check_docs(docs: list[SynthDoc]) -> list[Finding]:
    """Every rule on every document, and the cross-cell rules when there are several."""
    out: list[Finding] = []
    for doc in docs:
        out.extend(check_doc(doc))
    if len(docs) > 1:
        for fn in CROSS_CHECKS.values():
            out.extend(fn(docs))
    return out


def doc_rule_ids() -> list[str]:
    """Rule ids that apply to one document (everything but the cross-cell rules)."""
    return sorted(set(RULES) - set(CROSS_CHECKS))
