"""The one import seam between the stack and its CDK: cdktf (default) or CDK Terrain (cdktn).

`load(flavor)` returns a `Cdk` namespace with the core module (App, TerraformStack, Fn, ...) and
the provider classes the VPC stack uses. The flavor comes from the argument, else from the
`STACKMATRIX_CDK` environment variable (`cdktf` or `cdktn`), else `cdktf`.

Speed: `cdktf_cdktf_provider_aws/__init__.py` imports all of its submodules (one per resource type
of the provider). The submodules themselves only need the package's `_jsii` assembly, so `load`
registers a bare package object for the provider and imports just the submodules the stack uses
(what each way costs: docs/measurements.md, "Loading the CDK").
cdktn's package is lazy already; the same path is used for both so their behaviour stays identical.

Where each construct was made: cdktf records only construct paths in cdk.tf.json (its stack traces
are JavaScript frames of the jsii kernel). Every construct, of either flavor, is created through
`jsii.create(klass, obj, args)`, so `load` wraps that one function: inside `record_locations(root)`
it notes, per construct path, the first Python frame outside this file and the CDK libraries (the
stack's own line, the line inside the loop for a construct made in a loop) with the exact span of
the call. `LocationRecorder.write(folder, stack_id)` writes that stack's map as `locations.json` next
to its cdk.tf.json; `python -m matrix check` and SARIF (matrix/sarif.py) read it.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import json
import os
import sys
import threading
import types
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from matrix.files import write_atomic

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
    _install_create_hook()
    _loaded[chosen] = Cdk(chosen, core, aws)
    return _loaded[chosen]


# -- where each construct was made ---------------------------------------------------------------

LOCATIONS_FILE = "locations.json"
#: Frames in these packages (and this file) are the CDK's, never the stack's line.
LIBRARY_PACKAGES = {"jsii", "cdktf", "cdktn", "constructs", "typeguard", "publication", "importlib",
                    *(provider for _core, provider in FLAVORS.values())}


@dataclass
class LocationRecorder:
    """construct path -> {file, line, column, end_line, end_column, construct} (columns 0-based, as
    Python's AST; `construct` is the class, e.g. Vpc, AwsProvider, S3Backend)."""

    root: Path
    paths: dict[str, dict[str, Any]] = field(default_factory=dict)
    _scopes: dict[int, str] = field(default_factory=dict)  # id(construct) -> its path, for children
    _positions: dict[Any, list] = field(default_factory=dict)

    def site(self) -> dict[str, Any] | None:
        """The creating frame: the first one outside the CDK libraries and this seam."""
        frame = sys._getframe(2)
        while frame is not None:
            module = frame.f_globals.get("__name__", "")
            if module != __name__ and module.split(".", 1)[0] not in LIBRARY_PACKAGES:
                break
            frame = frame.f_back
        if frame is None:
            return None
        code = frame.f_code
        positions = self._positions.get(code)
        if positions is None:
            positions = self._positions[code] = list(code.co_positions())
        line, end_line, col, end_col = positions[frame.f_lasti // 2]
        file = Path(code.co_filename).resolve()
        try:
            name = file.relative_to(self.root).as_posix()
        except ValueError:
            name = file.as_posix()
        return {"file": name, "line": line or frame.f_lineno, "end_line": end_line or line or frame.f_lineno,
                "column": col or 0, "end_column": end_col or 0}

    def note(self, obj: Any, args: list[Any] | None, site: dict[str, Any]) -> None:
        if not args or len(args) < 2 or not isinstance(args[1], str):
            if args and hasattr(args[0], "node") and hasattr(obj, "node"):  # a construct with a fixed id
                with contextlib.suppress(Exception):  # (S3Backend: "backend"): ask for its path
                    self._scopes[id(obj)] = path = obj.node.path
                    self.paths.setdefault(path, site)
            return
        scope = args[0]
        parent = self._scopes.get(id(scope))
        if parent is None:
            try:
                parent = scope.node.path
            except Exception:  # not a construct scope after all
                return
            self._scopes[id(scope)] = parent
        path = f"{parent}/{args[1]}" if parent else args[1]
        self._scopes[id(obj)] = path
        self.paths.setdefault(path, site)

    def for_stack(self, stack_id: str) -> dict[str, dict[str, Any]]:
        prefix = stack_id + "/"
        return {p: loc for p, loc in sorted(self.paths.items()) if p == stack_id or p.startswith(prefix)}

    def write(self, folder: Path, stack_id: str) -> Path:
        """`<folder>/locations.json` for one stack, written atomically."""
        doc = {"root": str(self.root), "stack": stack_id, "constructs": self.for_stack(stack_id)}
        return write_atomic(folder / LOCATIONS_FILE, json.dumps(doc, indent=1, sort_keys=True), fsync=False)


_recording = threading.local()


@contextlib.contextmanager
def record_locations(root: Path) -> Iterator[LocationRecorder]:
    """Record where every construct created in this thread inside the block was made."""
    recorder = LocationRecorder(Path(root).resolve())
    previous = getattr(_recording, "recorder", None)
    _recording.recorder = recorder
    try:
        yield recorder
    finally:
        _recording.recorder = previous


def _install_create_hook() -> None:
    import jsii

    original = jsii.create
    if getattr(original, "_stackmatrix_locations", False):
        return

    def create(klass: Any, obj: Any, args: list[Any] | None = None) -> Any:
        recorder = getattr(_recording, "recorder", None)
        site = recorder.site() if recorder is not None else None
        if site is not None:
            site["construct"] = getattr(klass, "__name__", "")
        ref = original(klass, obj, args)
        if site is not None:
            recorder.note(obj, args, site)
        return ref

    create._stackmatrix_locations = True  # type: ignore[attr-defined]
    jsii.create = create


def stop_runtime() -> None:
    """End the jsii node process now, so the caller may os._exit() without the slow teardown."""
    if not _loaded:
        return  # the runtime was never started: asking for it would start it
    from jsii._runtime import kernel

    kernel.provider._process.stop()
