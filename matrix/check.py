"""`python -m matrix check FILE...`: the AWS acceptance catalogue on any synthesized cdk.tf.json.

Loads each file (bad paths or JSON are a UsageError: exit 2, nothing checked), gives every file
its context (cell label, region, suffix, the project folder holding cdktf.json) and runs the
per-cell and cross-cell rules of matrix/catalogue. Each finding prints as one line: rule id,
address, what is wrong, the AWS error it prevents (or what breaks) and the fix. `check()` also
locates each finding (the Python line that created the construct, from the locations.json the
synthesizer wrote next to the file; else the block in cdk.tf.json) and applies suppressions
(profile file or inline), for the text lines and for `--format sarif` (matrix/sarif.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from matrix.catalogue import CROSS_CHECKS, RULES, Context, Finding, SynthDoc, check_docs
from matrix.errors import UsageError
from matrix.paths import SYNTH_FILE
from matrix.sarif import Located, Source, Suppression, locate


def find_project(start: Path) -> Path:
    """The nearest folder at or above `start` holding cdktf.json, else the current folder."""
    for folder in [start, *start.parents]:
        if (folder / "cdktf.json").is_file():
            return folder
    return Path.cwd()


def _kind(value: object) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number")


def _name(key: object) -> str:
    """A key as it reads in a path: plain names as they are, anything else quoted (one line, always)."""
    text = str(key)
    return text if re.fullmatch(r"[A-Za-z0-9_./-]+", text) else json.dumps(text)


def shape_problem(data: dict) -> str | None:
    """What is wrong with the block structure of a Terraform JSON document, None when it is sound.

    The rules read `resource`/`data` as {type: {name: {arguments}}}, `provider` as
    {name: {block} or [{block}]} (with `default_tags` blocks as objects), `terraform` as
    an object whose `backend` is {kind: {settings}}, and `output`/`variable`/`locals` as objects."""
    for section in ("resource", "data"):
        types = data.get(section)
        if types is None:
            continue
        if not isinstance(types, dict):
            return f"{section} is {_kind(types)}, not an object of resource types"
        for rtype, by_name in types.items():
            if by_name is None:
                continue
            if not isinstance(by_name, dict):
                return f"{section}.{_name(rtype)} is {_kind(by_name)}, not an object of named {_name(rtype)} blocks"
            for name, body in by_name.items():
                if not isinstance(body, dict):
                    return f"{section}.{_name(rtype)}.{_name(name)} is {_kind(body)}, not an object of arguments"
    providers = data.get("provider")
    if providers is not None:
        if not isinstance(providers, dict):
            return f"provider is {_kind(providers)}, not an object of provider names"
        for name, blocks in providers.items():
            if blocks is None:
                continue
            for i, block in enumerate(blocks if isinstance(blocks, list) else [blocks]):
                if not isinstance(block, dict):
                    return f"provider.{_name(name)}[{i}] is {_kind(block)}, not an object"
                tags = block.get("default_tags")
                for j, dt in enumerate(tags if isinstance(tags, list) else [tags]):
                    if dt is not None and not isinstance(dt, dict):
                        return f"provider.{_name(name)}[{i}].default_tags[{j}] is {_kind(dt)}, not an object"
    terraform = data.get("terraform")
    if terraform is not None:
        if not isinstance(terraform, dict):
            return f"terraform is {_kind(terraform)}, not an object"
        backend = terraform.get("backend")
        if backend is not None:
            if not isinstance(backend, dict):
                return f"terraform.backend is {_kind(backend)}, not an object"
            for kind, body in backend.items():
                if body is not None and not isinstance(body, dict):
                    return f"terraform.backend.{_name(kind)} is {_kind(body)}, not an object of settings"
    for section in ("output", "variable", "locals"):
        if data.get(section) is not None and not isinstance(data[section], dict):
            return f"{section} is {_kind(data[section])}, not an object"
    return None


def load_doc(path: Path, project: Path | None, region: str | None, suffix: str | None) -> SynthDoc:
    if not path.is_file():
        raise UsageError(f"{path}: no such file; pass synthesized cdk.tf.json files "
                         "(python -m matrix synth writes build/synth/<cell>/cdk.tf.json)")
    try:
        doc = SynthDoc.load(path)
    except (ValueError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: not a Terraform JSON document ({exc})") from exc
    if not any(k in doc.data for k in ("resource", "terraform", "provider", "data")):
        raise UsageError(f"{path}: no resource, provider or terraform block; is this a cdk.tf.json?")
    problem = shape_problem(doc.data)
    if problem:
        raise UsageError(f"{path}: {problem}; the checker reads Terraform JSON in the object form cdktf writes "
                         "(https://developer.hashicorp.com/terraform/language/syntax/json)")
    label = path.parent.name if path.name == SYNTH_FILE else str(path)
    tags = doc.default_tags()
    doc.ctx = Context(
        cell=label,
        region=region,
        suffix=suffix or (tags.get("EnvironmentSuffix") if isinstance(tags.get("EnvironmentSuffix"), str)
                          else None),
        project_dir=project or find_project(path.resolve().parent),
    )
    return doc


@dataclass
class CheckResult:
    docs: list[SynthDoc]
    violations: list[Finding]
    rules: int
    root: Path = field(default_factory=Path.cwd)  # SARIF URIs are relative to it
    located: list[Located] = field(default_factory=list)  # where each finding points, suppressed or not

    @property
    def open(self) -> list[Located]:
        return [x for x in self.located if x.suppression is None]

    def summary(self) -> str:
        held = len(self.violations) - len(self.open) if self.located else 0
        state = f"{len(self.violations)} violation(s)" if self.violations else "clean"
        if held:
            state += f", {held} suppressed"
        return f"check: {len(self.docs)} file(s), {self.rules} rules: {state}"

    def lines(self) -> list[str]:
        """One line per finding (rule, address, AWS error, fix); a suppressed one says so and why."""
        if not self.located:
            return [v.line() for v in self.violations]
        return [v.line() + (f" [suppressed: {x.suppression.reason} ({x.suppression.where})]" if x.suppression else "")
                for v, x in zip(self.violations, self.located, strict=True)]

    def sources(self) -> list[Source]:
        return [Source(d.ctx.cell, d.path, d.data) for d in self.docs]


def check(files: list[Path], project: Path | None = None, region: str | None = None, suffix: str | None = None,
          suppressions: Sequence[Suppression] = (), root: Path | None = None) -> CheckResult:
    """The rules over `files`; each finding located (the stack's Python line) and its suppression found."""
    if project is not None and not project.is_dir():
        raise UsageError(f"--project {project}: not a folder")
    docs = [load_doc(f, project, region, suffix) for f in files]
    violations = check_docs(docs)
    rules = len(RULES) - (0 if len(docs) > 1 else len(CROSS_CHECKS))
    result = CheckResult(docs, violations, rules, (root or repo_root(docs)).resolve())
    result.located = locate(violations, result.sources(), result.root, suppressions)
    return result


def repo_root(docs: Sequence[SynthDoc]) -> Path:
    """The folder SARIF URIs are relative to: the git work tree holding the project, else the project."""
    start = (docs[0].ctx.project_dir if docs and docs[0].ctx.project_dir else Path.cwd()).resolve()
    for folder in [start, *start.parents]:
        if (folder / ".git").exists():
            return folder
    return start
