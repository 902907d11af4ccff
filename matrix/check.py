"""`python -m matrix check FILE...`: the synth policy rules on any synthesized cdk.tf.json.

Loads each file (bad paths or JSON are a UsageError: exit 2, nothing checked), gives every file
its context (cell label, region, suffix, the project folder holding cdktf.json) and runs the
per-cell and cross-cell rules of suites/synth/policies.py.
"""

from __future__ import annotations

from pathlib import Path

from matrix.errors import UsageError
from suites.synth.policies import CROSS_RULES, RULES, Context, SynthDoc, Violation, check_docs


def find_project(start: Path) -> Path:
    """The nearest folder at or above `start` holding cdktf.json, else the current folder."""
    for folder in [start, *start.parents]:
        if (folder / "cdktf.json").is_file():
            return folder
    return Path.cwd()


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
    label = path.parent.name if path.name == "cdk.tf.json" else str(path)
    tags = doc.default_tags()
    doc.ctx = Context(
        cell=label,
        region=region,
        suffix=suffix or (tags.get("EnvironmentSuffix") if isinstance(tags.get("EnvironmentSuffix"), str)
                          else None),
        project_dir=project or find_project(path.resolve().parent),
    )
    return doc


def check_files(
    files: list[Path], project: Path | None = None, region: str | None = None, suffix: str | None = None
) -> tuple[list[Violation], str]:
    if project is not None and not project.is_dir():
        raise UsageError(f"--project {project}: not a folder")
    docs = [load_doc(f, project, region, suffix) for f in files]
    violations = check_docs(docs)
    rules = len(RULES) + (len(CROSS_RULES) if len(docs) > 1 else 0)
    state = f"{len(violations)} violation(s)" if violations else "clean"
    return violations, f"check: {len(docs)} file(s), {rules} rules: {state}"
