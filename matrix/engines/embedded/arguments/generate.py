"""Writes `schema.py`: every argument name of the types the embedded engine supports, read from the
AWS provider bindings of the default CDK flavor (cdktf-cdktf-provider-aws), plus the provider
block and cdktf's S3 backend.

    python -m matrix.engines.embedded.arguments.generate      # rewrites schema.py next to this file

Run it after adding a handler or a data source, or after moving to another provider binding. It
imports the bindings the way `stack/cdk.py` does (only the submodules needed, never the package's
`__init__`, which imports them all): so it runs offline, and never at test or run time (its cost:
docs/measurements.md, "Loading the CDK").

For each `<Class>Config` (the keyword arguments of the construct) it reads the Python type hints
and, for the Terraform name, the registry link every generated property carries in its docstring
(`.../docs/resources/vpc#cidr_block Vpc#cidr_block`): Python names differ from Terraform names
where a name is a Python keyword (`lambda_`) or holds digits (`s3_us_east1_regional_endpoint`).
Nested blocks (`timeouts`, `dns_options`, `route`, ...) are walked and written as dotted names.
cdktf's own meta-argument fields (count, depends_on, for_each, lifecycle, provider, provisioners,
connection) are left out: the engine handles them as meta-arguments (config.py).
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys
import typing
from importlib.metadata import version
from pathlib import Path
from typing import Any

PROVIDER_PACKAGE = "cdktf_cdktf_provider_aws"
PROVIDER_DIST = "cdktf-cdktf-provider-aws"
META_FIELDS = frozenset({"connection", "count", "depends_on", "for_each", "lifecycle", "provider", "provisioners"})
# Arguments of terraform 1.11's S3 backend that cdktf 0.21's S3BackendConfig does not model (the
# stack sets them with add_override).
BACKEND_EXTRA = {"use_lockfile": "bool"}
OUT = Path(__file__).with_name("schema.py")
REGISTRY_NAME = re.compile(r"registry\.terraform\.io/\S*#([A-Za-z0-9_]+)\s")


def _module_and_class(tf_type: str, data: bool) -> tuple[str, str]:
    """aws_vpc -> (vpc, Vpc); data aws_region -> (data_aws_region, DataAwsRegion)."""
    module = f"data_{tf_type}" if data else tf_type.removeprefix("aws_")
    return module, "".join(part.capitalize() for part in module.split("_"))


def _terraform_name(cls: type, py_name: str) -> str:
    doc = inspect.getdoc(getattr(cls, py_name, None)) or ""
    m = REGISTRY_NAME.search(doc)
    return m.group(1) if m else py_name


def _struct(hint: Any) -> type | None:
    """The jsii struct class inside a hint (a nested block), or None. Interfaces such as
    IResolvable are typing Protocols; structs are plain classes with a jsii type."""
    if inspect.isclass(hint):
        is_struct = hasattr(hint, "__jsii_type__") and not getattr(hint, "_is_protocol", False)
        return hint if is_struct else None
    for arg in typing.get_args(hint):
        found = _struct(arg)
        if found is not None:
            return found
    return None


def _kind(hint: Any) -> str:
    text = str(hint)
    if "Sequence[" in text and _struct(hint) is not None:
        return "block-list"
    if _struct(hint) is not None:
        return "block"
    if "Mapping[" in text:
        return "map(string)"
    if "Sequence[" in text:
        return "list(string)"
    args = typing.get_args(hint) or (hint,)
    if bool in args:
        return "bool"
    if int in args or float in args:
        return "number"
    return "string"


def fields(cls: type, prefix: str = "") -> dict[str, dict[str, Any]]:
    """Dotted Terraform name -> {"kind", "required"} for a Config or nested-block struct class."""
    hints = typing.get_type_hints(cls.__init__)
    params = inspect.signature(cls.__init__).parameters
    out: dict[str, dict[str, Any]] = {}
    for py_name, hint in hints.items():
        if py_name == "return" or py_name in META_FIELDS:
            continue
        name = prefix + _terraform_name(cls, py_name)
        kind = _kind(hint)
        out[name] = {"kind": kind, "required": params[py_name].default is inspect.Parameter.empty}
        if kind in ("block", "block-list"):
            out.update(fields(_struct(hint), name + "."))
    return dict(sorted(out.items()))


def _bare_package() -> None:
    from stack.cdk import _bare_package as bare  # lazy: the generator alone loads the CDK and the handlers

    bare(PROVIDER_PACKAGE)


def collect() -> dict[str, Any]:
    from matrix.engines.embedded.resources import (  # lazy: the generator alone loads the CDK and the handlers
        DATA_SOURCES,
        HANDLERS,
    )

    _bare_package()
    out: dict[str, Any] = {"resources": {}, "data_sources": {}}
    for section, types, data in (("resources", HANDLERS, False), ("data_sources", DATA_SOURCES, True)):
        for tf_type in sorted(types):
            module, cls = _module_and_class(tf_type, data)
            mod = importlib.import_module(f"{PROVIDER_PACKAGE}.{module}")
            out[section][tf_type] = fields(getattr(mod, f"{cls}Config"))
    provider = importlib.import_module(f"{PROVIDER_PACKAGE}.provider")
    out["provider"] = fields(provider.AwsProviderConfig)
    import cdktf

    backend = fields(cdktf.S3BackendConfig)
    backend.update({k: {"kind": v, "required": False} for k, v in BACKEND_EXTRA.items()})
    out["backend_s3"] = dict(sorted(backend.items()))
    out["provider_version"] = _provider_version(provider)
    return out


def _provider_version(provider_module: Any) -> str:
    doc = inspect.getdoc(provider_module.AwsProvider) or ""
    m = re.search(r"hashicorp/aws/([0-9.]+)/docs", doc)
    return m.group(1) if m else "?"


def render(data: dict[str, Any]) -> str:
    lines = [
        '"""GENERATED: every argument of the types the embedded engine supports, from the AWS provider',
        f"bindings {PROVIDER_DIST} {version(PROVIDER_DIST)} (hashicorp/aws {data['provider_version']}).",
        "",
        "Regenerate with:  python -m matrix.engines.embedded.arguments.generate",
        "",
        "Do not edit: the classification of these names is in the handlers (resources/*.py) and in",
        "arguments/blocks.py; tests/test_arguments.py checks both ways that they cover exactly these.",
        'Each entry: dotted Terraform name -> (kind, required); kind is string, bool, number,',
        'list(string), map(string), block or block-list (nested blocks are listed under their dotted names).',
        '"""',
        "",
        f"BINDINGS = {f'{PROVIDER_DIST} {version(PROVIDER_DIST)}'!r}",
        f"PROVIDER = {'hashicorp/aws ' + data['provider_version']!r}",
        "",
    ]
    titles = {"resources": "RESOURCES", "data_sources": "DATA_SOURCES"}
    for section in ("resources", "data_sources"):
        lines.append(f"{titles[section]}: dict[str, dict[str, tuple[str, bool]]] = {{")
        for tf_type, names in data[section].items():
            lines.append(f"    {tf_type!r}: {{")
            lines += [f"        {n!r}: ({f['kind']!r}, {f['required']}),"for n, f in names.items()]
            lines.append("    },")
        lines += ["}", ""]
    for title, key in (("PROVIDER_BLOCK", "provider"), ("BACKEND_S3", "backend_s3")):
        lines.append(f"{title}: dict[str, tuple[str, bool]] = {{")
        lines += [f"    {n!r}: ({f['kind']!r}, {f['required']})," for n, f in data[key].items()]
        lines += ["}", ""]
    return "\n".join(lines)


def main() -> None:
    OUT.write_text(render(collect()))
    print(f"wrote {OUT}")
    from stack.cdk import stop_runtime  # lazy: the generator alone loads the CDK and the handlers

    stop_runtime()
    sys.stdout.flush()


if __name__ == "__main__":
    main()
