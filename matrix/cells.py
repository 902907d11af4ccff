"""Profiles and cells: the matrix a run expands to, validated before anything runs.

A profile (matrix/profiles.toml, or the file named by --profiles / STACKMATRIX_PROFILES) lists
regions, suffixes and fault scenarios; `expand()` turns it, plus command-line overrides, into
`Cell`s (region x suffix x fault, each with a target and an engine). `shard()` picks a
deterministic, disjoint slice of them for CI fan-out.

The same file holds each profile's quality gates (`[defaults.gates]`, `[profiles.P.gates]`: validated
by matrix/gates.py, read with `profile_gates()`) and the suppressions of accepted findings
(`[[suppress]]`: validated by matrix/sarif.py).

Everything wrong with the input raises `UsageError` (exit 2) naming the value, where it came from
(flag, or file and table) and what is allowed; the CLI runs nothing then. The stack parameters of a
cell are built with `Cell.stack_config()`, which applies the profile's name templates and checks
every derived name (S3 bucket, IAM role, ...) against AWS limits, so a bad suffix is caught here.
"""

from __future__ import annotations

import os
import re
import string
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from matrix.errors import UsageError
from matrix.gates import check_table as check_gates
from matrix.gates import limits_for
from matrix.regions import DEFAULT_AZ_COUNT, region_problem
from stack.config import (
    BackendConfig,
    EmulatorEndpoints,
    StackConfig,
    StackConfigError,
)

DEFAULT_PROFILES = Path(__file__).with_name("profiles.toml")
PROFILES_ENV = "STACKMATRIX_PROFILES"
TARGETS = ("moto", "localstack", "aws")
ENGINES = ("embedded", "terraform")

STACK_KEYS = {
    "project": str, "vpc_cidr": str, "nat_mode": str, "flow_log_interval": int,
    "log_retention_days": int,
}
BACKEND_KEYS = {"bucket": str, "locking": str, "dynamodb_table": str, "key": str}
PROFILE_KEYS = {
    "description": str, "regions": list, "suffixes": list, "faults": list, "target": str,
    "engine": str, "keep": bool, "jobs": int, "backend": dict, "aws": dict, "gates": dict, **STACK_KEYS,
}
TOP_KEYS = {"defaults", "regions", "profiles", "suppress"}
#: real-account credentials: AWS CLI profile(s) or role ARN(s), per region or for all
AWS_KEYS = {"profile": str, "profiles": dict, "role_arn": str, "role_arns": dict}

#: The fault axis value meaning "no fault injected".
NO_FAULT = "none"
#: Placeholders a backend template may use.
TEMPLATE_FIELDS = ("project", "region", "suffix", "name_suffix", "stack_id")


@dataclass(frozen=True)
class Cell:
    region: str
    suffix: str
    fault: str | None
    target: str
    engine: str
    profile: str
    settings: dict[str, Any] = field(default_factory=dict, compare=False, hash=False, repr=False)

    @property
    def id(self) -> str:
        base = f"{self.region}-{self.suffix}"
        return f"{base}-{self.fault}" if self.fault else base

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "region": self.region, "suffix": self.suffix, "fault": self.fault,
            "target": self.target, "engine": self.engine, "profile": self.profile,
        }

    def stack_config(
        self, endpoints: EmulatorEndpoints | None = None, run_id: str | None = None,
        backend: dict[str, Any] | None = None,
    ) -> StackConfig:
        """The VpcStack parameters of this cell (raises StackConfigError on invalid names)."""
        s = self.settings
        qualifier = self.fault or None
        name_suffix = f"{self.suffix}-{qualifier}" if qualifier else self.suffix
        project = s.get("project", "stackmatrix")
        stack_id = f"vpc-{name_suffix}-{self.region}"
        b = {**s.get("backend", {}), **(backend or {})}
        if self.fault:
            from matrix.chaos.scenarios import scenario  # lazy: the chaos package loads for fault cells only

            chosen = scenario(self.fault)
            if chosen is not None and chosen.backend_bucket:
                b["bucket"] = chosen.backend_bucket  # a scenario that breaks its bucket gets its own
        fields = {"project": project, "region": self.region, "suffix": self.suffix,
                  "name_suffix": name_suffix, "stack_id": stack_id}
        bucket = b.get("bucket", "{project}-tfstate-{region}").format(**fields)
        table = b.get("dynamodb_table")
        return StackConfig(
            region=self.region,
            suffix=self.suffix,
            qualifier=qualifier,
            stack_id=stack_id,
            project=project,
            run_id=run_id,
            vpc_cidr=s.get("vpc_cidr", "10.0.0.0/16"),
            az_count=s.get("az_count", DEFAULT_AZ_COUNT),
            nat_mode=s.get("nat_mode", "per-az"),
            flow_log_interval=s.get("flow_log_interval", 600),
            log_retention_days=s.get("log_retention_days", 14),
            endpoints=endpoints,
            backend=BackendConfig(
                bucket=bucket,
                key=b.get("key", "{suffix}/{stack_id}.tfstate").format(**fields),
                region=self.region,
                locking=b.get("locking", "lockfile"),
                dynamodb_table=table.format(**fields) if table else None,
            ),
        )


# -- loading -----------------------------------------------------------------------------------

def profiles_path(path: str | os.PathLike | None = None) -> tuple[Path, str]:
    """The profile file to read and how it was chosen (for messages)."""
    if path:
        return Path(path), "--profiles"
    if os.environ.get(PROFILES_ENV):
        return Path(os.environ[PROFILES_ENV]), PROFILES_ENV
    return DEFAULT_PROFILES, "default"


def load_profiles(path: str | os.PathLike | None = None) -> tuple[dict[str, Any], Path]:
    file, how = profiles_path(path)
    try:
        text = file.read_text()
    except OSError as exc:
        raise UsageError(
            f"profile file {file} (from {how}) cannot be read: {exc.strerror or exc}; "
            "pass an existing TOML file with --profiles"
        ) from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(
            f"profile file {file} is not valid TOML: {exc}; fix the line named "
            "(TOML reference: https://toml.io)"
        ) from exc
    _check_schema(data, file)
    return data, file


def _type_name(t: type) -> str:
    return {str: "a string", int: "an integer", list: "a list", bool: "true or false",
            dict: "a table"}[t]


def _check_keys(table: dict[str, Any], allowed: Mapping[str, type], where: str) -> None:
    for key, value in table.items():
        if key not in allowed:
            raise UsageError(
                f"{where}: unknown key {key!r}; allowed keys: {', '.join(sorted(allowed))}"
            )
        want = allowed[key]
        if not isinstance(value, want) or (want is int and isinstance(value, bool)):
            raise UsageError(
                f"{where}.{key} = {value!r}: must be {_type_name(want)}"
            )


def _check_schema(data: dict[str, Any], file: Path) -> None:
    for key in data:
        if key not in TOP_KEYS:
            raise UsageError(
                f"{file}: unknown top-level table {key!r}; allowed: {', '.join(sorted(TOP_KEYS))}"
            )
    defaults = data.get("defaults", {})
    if not isinstance(defaults, dict):
        raise UsageError(f"{file}: [defaults] must be a table")
    if "suppress" in data:
        from matrix.sarif import check_suppress_table  # lazy: SARIF loads only for files that suppress

        check_suppress_table(data["suppress"], f"{file} [[suppress]]")
    _check_keys(defaults, {**PROFILE_KEYS}, f"{file} [defaults]")
    _check_keys(defaults.get("backend", {}), BACKEND_KEYS, f"{file} [defaults.backend]")
    check_gates(defaults.get("gates", {}), f"{file} [defaults.gates]")
    regions = data.get("regions", {})
    if not isinstance(regions, dict):
        raise UsageError(f"{file}: [regions] must be a table of region = {{ azs = N }}")
    for name, spec in regions.items():
        where = f"{file} [regions.{name}]"
        if not isinstance(spec, dict):
            raise UsageError(f"{where}: must be a table like {{ azs = 2 }}")
        _check_keys(spec, {"azs": int}, where)
        if not 1 <= spec.get("azs", DEFAULT_AZ_COUNT) <= 8:
            raise UsageError(f"{where}.azs = {spec['azs']}: use 1 to 8")
    profiles = data.get("profiles", {})
    if not isinstance(profiles, dict) or not profiles:
        raise UsageError(f"{file}: no [profiles.NAME] table; define at least one profile")
    for name, prof in profiles.items():
        where = f"{file} [profiles.{name}]"
        if not isinstance(prof, dict):
            raise UsageError(f"{where}: must be a table")
        _check_keys(prof, PROFILE_KEYS, where)
        _check_keys(prof.get("backend", {}), BACKEND_KEYS, f"{where}.backend")
        _check_keys(prof.get("aws", {}), AWS_KEYS, f"{where}.aws")
        check_gates(prof.get("gates", {}), f"{file} [profiles.{name}.gates]")


# -- expansion ---------------------------------------------------------------------------------

def _axis(
    values: Any, name: str, source: str, kind: str = "string"
) -> list[str]:
    if values is None:
        raise UsageError(f"{name} missing ({source}): list at least one {kind}")
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise UsageError(f"{name} = {values!r} ({source}): must be a list of strings")
    if not values:
        raise UsageError(f"{name} is empty ({source}): list at least one {kind}")
    seen: set[str] = set()
    for v in values:
        if not v.isprintable():  # a newline or control character would also break every message naming it
            raise UsageError(f"{name}: {v!r} ({source}) holds a control character (newline, tab, ...); "
                             f"a {kind} is a plain name")
        if v in seen:
            raise UsageError(f"{name}: {v!r} is listed twice ({source}); list each once")
        seen.add(v)
    return list(values)


def expand(
    profile: str,
    *,
    regions: Sequence[str] | None = None,
    suffixes: Sequence[str] | None = None,
    faults: Sequence[str] | None = None,
    target: str | None = None,
    engine: str | None = None,
    profiles_file: str | os.PathLike | None = None,
) -> list[Cell]:
    """All cells of `profile`, with command-line overrides applied, validated."""
    data, file = load_profiles(profiles_file)
    profiles = data["profiles"]
    if profile not in profiles:
        raise UsageError(
            f"profile {profile!r} is not defined in {file}; available: {', '.join(sorted(profiles))}"
        )
    defaults = data.get("defaults", {})
    prof = profiles[profile]
    settings: dict[str, Any] = {k: v for k, v in defaults.items() if k in STACK_KEYS}
    settings.update({k: v for k, v in prof.items() if k in STACK_KEYS})
    settings["backend"] = {**defaults.get("backend", {}), **prof.get("backend", {})}
    where = f"{file} [profiles.{profile}]"
    for key in ("bucket", "key", "dynamodb_table"):
        if key in settings["backend"]:
            _check_template(settings["backend"][key], f"{where} backend.{key}")

    region_list = _axis(list(regions) if regions else prof.get("regions"), "regions",
                        "--region" if regions else where, "region")
    suffix_list = _axis(list(suffixes) if suffixes else prof.get("suffixes"), "suffixes",
                        "--suffix" if suffixes else where, "suffix")
    fault_list = _axis(list(faults) if faults else prof.get("faults", [NO_FAULT]), "faults",
                       "--fault" if faults else where, "fault scenario (or 'none')")
    for r in region_list:
        problem = region_problem(r)
        if problem:
            raise UsageError(f"{problem} (from {'--region' if regions else where})")
    _check_faults(fault_list, "--fault" if faults else where)
    chosen_target = target or prof.get("target") or defaults.get("target") or "moto"
    chosen_engine = engine or prof.get("engine") or defaults.get("engine") or "embedded"
    if chosen_target not in TARGETS:
        raise UsageError(f"target {chosen_target!r}: use one of {', '.join(TARGETS)}")
    if chosen_engine not in ENGINES:
        raise UsageError(f"engine {chosen_engine!r}: use one of {', '.join(ENGINES)}")

    az_counts = {name: spec.get("azs", DEFAULT_AZ_COUNT)
                 for name, spec in data.get("regions", {}).items()}
    cells: list[Cell] = []
    for region in region_list:
        for suffix in suffix_list:
            for fault_name in fault_list:
                fault = None if fault_name == NO_FAULT else fault_name
                cell_settings = dict(settings, az_count=az_counts.get(region, DEFAULT_AZ_COUNT))
                cell = Cell(region, suffix, fault, chosen_target, chosen_engine, profile,
                            cell_settings)
                _validate_cell(cell, suffix_source="--suffix" if suffixes else where)
                cells.append(cell)
    return cells


def _check_faults(names: Iterable[str], source: str) -> None:
    known = known_faults() | {NO_FAULT}
    for name in names:
        if name not in known:
            raise UsageError(
                f"fault scenario {name!r} ({source}) is unknown; known: "
                f"{', '.join(sorted(known)) or 'none yet'}"
            )


def known_faults() -> set[str]:
    from matrix.chaos.scenarios import SCENARIOS  # lazy: the chaos package loads when faults are named

    return set(SCENARIOS)


def _check_template(template: str, where: str) -> None:
    """A backend name template may hold plain {placeholders} only (no attributes, indexes, conversions or
    format specs: `"{region.upper}"` would reach into Python objects)."""
    allowed = ", ".join("{" + f + "}" for f in TEMPLATE_FIELDS)
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise UsageError(f"{where} = {template!r}: not a valid name template ({exc}); use placeholders "
                         f"{allowed}, and double braces for a literal brace") from exc
    for _literal, name, spec, conversion in parts:
        if name is None:
            continue
        if name not in TEMPLATE_FIELDS or spec or conversion:
            shown = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            raise UsageError(f"{where} = {template!r}: placeholder {shown!r} is not allowed; use {allowed}")


def _validate_cell(cell: Cell, suffix_source: str) -> None:
    try:
        cell.stack_config()
    except StackConfigError as exc:
        raise UsageError(f"cell {cell.id}: {exc} (suffix from {suffix_source})") from exc
    except (KeyError, IndexError, ValueError, AttributeError, TypeError) as exc:
        raise UsageError(
            f"cell {cell.id}: a backend name template uses an unknown placeholder ({exc}); "
            f"allowed: {', '.join('{' + f + '}' for f in TEMPLATE_FIELDS)}"
        ) from exc


def check_global_names(cells: Sequence[Cell]) -> None:
    """Account-global names (IAM roles) must differ between the cells of one run."""
    owner: dict[str, str] = {}
    for cell in cells:
        role = cell.stack_config().role_name
        if role in owner:
            raise UsageError(
                f"cells {owner[role]} and {cell.id} would both create IAM role {role!r} "
                "(IAM names are account-global); give them different suffixes"
            )
        owner[role] = cell.id


def run_settings(profile: str, profiles_file: str | os.PathLike | None = None) -> dict[str, Any]:
    """Run-level settings of a profile (jobs, keep), defaults first."""
    data, _ = load_profiles(profiles_file)
    defaults, prof = data.get("defaults", {}), data["profiles"].get(profile, {})
    return {k: prof.get(k, defaults.get(k)) for k in ("jobs", "keep", "aws") if k in prof or k in defaults}


def profile_gates(profile: str, profiles_file: str | os.PathLike | None = None) -> dict[str, float]:
    """The quality-gate limits of a profile (matrix/gates.py): built-in, [defaults.gates], its own."""
    data, _ = load_profiles(profiles_file)
    return limits_for(data, profile)


def load_profile_cells(profile: str, **overrides: Any) -> list[Cell]:
    cells = expand(profile, **overrides)
    check_global_names(cells)
    return cells


# -- sharding ----------------------------------------------------------------------------------

SHARD_RE = re.compile(r"^(\d+)/(\d+)$")


def parse_shard(spec: str) -> tuple[int, int]:
    m = SHARD_RE.match(spec.strip()) if isinstance(spec, str) else None
    if not m:
        raise UsageError(f"--shard {spec!r}: use I/N with 1 <= I <= N, e.g. --shard 2/4")
    index, total = int(m.group(1)), int(m.group(2))
    if total < 1 or not 1 <= index <= total:
        raise UsageError(f"--shard {spec!r}: in I/N, I must be between 1 and N (N >= 1), "
                         f"e.g. --shard 1/{max(total, 1)}")
    return index, total


def shard(cells: Sequence[Cell], spec: str | None) -> list[Cell]:
    """Deterministic slice I of N: cells sorted by id, dealt round-robin. Disjoint, complete."""
    if spec is None:
        return list(cells)
    index, total = parse_shard(spec)
    ordered = sorted(cells, key=lambda c: c.id)
    return [c for n, c in enumerate(ordered) if n % total == index - 1]


def profile_suppressions(profiles_file: str | Path | None = None) -> list[Any]:
    """The `[[suppress]]` entries of the profile file (none when the default file is absent)."""
    path, how = profiles_path(profiles_file)
    if how == "default" and not Path(path).is_file():
        return []
    data, file = load_profiles(profiles_file)  # validated, [[suppress]] included
    from matrix.sarif import check_suppress_table  # lazy: SARIF loads only for files that suppress

    return check_suppress_table(data.get("suppress", []), f"{file} [[suppress]]")
