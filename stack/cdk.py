"""The one import seam between the stack and its CDK: cdktf (default) or CDK Terrain (cdktn).

`load(flavor)` returns a `Cdk` namespace with the core module (App, TerraformStack, Fn, ...) and
the provider classes the VPC stack uses. The flavor comes from the argument, else from the
`STACKMATRIX_CDK` environment variable (`cdktf` or `cdktn`), else `cdktf`.

Speed: `cdktf_cdktf_provider_aws/__init__.py` imports all of its ~2,200 submodules (10-15 s,
~1.2 GB). The submodules themselves only need the package's `_jsii` assembly, so `load` registers
a bare package object for the provider and imports just the submodules the stack uses (about 2.5 s).
cdktn's package is lazy already; the same path is used for both so their behaviour stays identical.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import types
from dataclasses import dataclass
from typing import Any

FLAVORS = {
    "cdktf": ("cdktf", "cdktf_cdktf_provider_aws"),
    "cdktn": ("cdktn", "cdktn_provider_aws"),
}
ENV_VAR = "STACKMATRIX_CDK"

# submodule -> class name, the same in both provider packages
RESOURCES = {
    "provider": "AwsProvider",
    "vpc": "Vpc",
    "subnet": "Subnet",
    "internet_gateway": "InternetGateway",
    "eip": "Eip",
    "nat_gateway": "NatGateway",
    "route_table": "RouteTable",
    "route": "Route",
    "route_table_association": "RouteTableAssociation",
    "vpc_endpoint": "VpcEndpoint",
    "cloudwatch_log_group": "CloudwatchLogGroup",
    "iam_role": "IamRole",
    "iam_role_policy": "IamRolePolicy",
    "flow_log": "FlowLog",
    "data_aws_availability_zones": "DataAwsAvailabilityZones",
    "data_aws_caller_identity": "DataAwsCallerIdentity",
}


class CdkUnavailable(RuntimeError):
    """The requested CDK flavor is not installed."""


@dataclass(frozen=True)
class Cdk:
    flavor: str
    core: Any
    aws: types.SimpleNamespace

    @property
    def versions(self) -> dict[str, str]:
        from importlib.metadata import version

        core_pkg, provider_pkg = FLAVORS[self.flavor]
        dist = {"cdktf_cdktf_provider_aws": "cdktf-cdktf-provider-aws",
                "cdktn_provider_aws": "cdktn-provider-aws"}[provider_pkg]
        return {core_pkg: version(core_pkg), dist: version(dist), "jsii": version("jsii")}


def flavor_from_env(flavor: str | None = None) -> str:
    chosen = flavor or os.environ.get(ENV_VAR) or "cdktf"
    if chosen not in FLAVORS:
        raise CdkUnavailable(
            f"CDK flavor {chosen!r} (from {'--cdk' if flavor else ENV_VAR}): use one of "
            f"{', '.join(FLAVORS)}"
        )
    return chosen


def _bare_package(name: str) -> None:
    """Register `name` as a package without running its __init__ (see module docstring)."""
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None or spec.submodule_search_locations is None:
        raise CdkUnavailable(f"{name} is not installed")
    pkg = types.ModuleType(name)
    pkg.__path__ = list(spec.submodule_search_locations)
    pkg.__file__ = spec.origin
    pkg.__package__ = name
    sys.modules[name] = pkg


_loaded: dict[str, Cdk] = {}


def load(flavor: str | None = None) -> Cdk:
    chosen = flavor_from_env(flavor)
    if chosen in _loaded:
        return _loaded[chosen]
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    core_name, provider_name = FLAVORS[chosen]
    try:
        core = importlib.import_module(core_name)
        _bare_package(provider_name)
        aws = types.SimpleNamespace()
        for sub, cls in RESOURCES.items():
            module = importlib.import_module(f"{provider_name}.{sub}")
            setattr(aws, cls, getattr(module, cls))
    except ImportError as exc:
        extra = " (pip install '.[cdktn]')" if chosen == "cdktn" else ""
        raise CdkUnavailable(f"CDK flavor {chosen!r} is not installed{extra}: {exc}") from exc
    _loaded[chosen] = Cdk(chosen, core, aws)
    return _loaded[chosen]


def stop_runtime() -> None:
    """End the jsii node process now, so the caller may os._exit() without the slow teardown."""
    if not _loaded:
        return  # the runtime was never started: asking for it would start it
    from jsii._runtime import kernel

    kernel.provider._process.stop()
