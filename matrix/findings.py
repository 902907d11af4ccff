"""The findings of one run, whatever stage found them, gathered into build/findings.sarif.

Stages and who reports them:
* `synth`           the synth rules over every cell's cdk.tf.json: what the synth policy suite found in
                    this run (its pytest process stores them with `store_synth_findings` in
                    build/synth-findings.json, keyed by a hash of each document's bytes and its cell,
                    region and suffix, and the cross-cell findings by the hashes of the whole set), else
                    computed here (a run with --skip-synth-suite, the dev loop, given documents: any
                    document whose key has nothing stored). Loading the catalogue's schemas here cost
                    ~2.6 s of CPU per run for findings the suite had just computed (docs/performance.md);
                    the runner removes the file when a run starts, so stored findings never outlive the
                    run whose suite wrote them;
* `strict-emulator` a call the strict fault proxy refused as AWS would (issue 11's strict mode);
* `live-suite`      a behaviour check of the live suite that failed against what was deployed.

A producer outside the synth stage calls `record(cell_id, finding, stage)` once per finding (a behaviour
check whose messages name AWS ids calls `record_problems`, which finds the resource's address in the
cell's state): one JSON
line appended to build/cells/<cell>/findings.jsonl (the runner empties that folder when the cell
starts, so a file holds this run's findings only; the live suite, a separate pytest process, appends
to the same file through $STACKMATRIX_BUILD). A finding is anything with the catalogue's `Finding`
fields (rule id, address, argument, value, message, fix): its `address` is the resource the call or
check was about, so it lands at the Python line that created that resource like every synth finding.

`write_run_sarif(cells)` gathers them all (suppressions of the profile file applied) and writes the
SARIF log with matrix/sarif.py; the run prints where it is and how many results it holds.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from matrix.files import write_atomic
from matrix.paths import PROJECT_ROOT, build_dir, synth_file
from matrix.results import cell_dir
from matrix.sarif import FindingInfo, Source, Suppression, _jsonable, as_finding, build_log, write

FILENAME = "findings.jsonl"
SARIF_NAME = "findings.sarif"
SYNTH_STORE = "synth-findings.json"
STORE_VERSION = 1
STAGES = ("synth", "strict-emulator", "live-suite")


def record(cell_id: str, finding: Any, stage: str) -> Path:
    """Append one finding of `cell_id` found at `stage` (see the module docstring)."""
    if stage not in STAGES:
        raise ValueError(f"stage {stage!r}: use one of {', '.join(STAGES)}")
    info = as_finding(finding, stage)
    data = {**asdict(info), "cell": cell_id, "stage": stage}
    path = cell_dir(cell_id) / FILENAME
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fh.write(json.dumps(data, default=str, sort_keys=True) + "\n")
    return path


#: AWS ids and ARNs a behaviour check names in its messages (subnet-..., rtb-..., arn:aws:iam::...:role/...)
AWS_ID = re.compile(r"\b(?:subnet|rtb|nat|igw|vpc|vpce|fl|eipalloc|eni)-[0-9a-f]{6,}\b|arn:aws:[a-z0-9-]+:[^\s,;)]+")


def addresses_by_id(cell_id: str) -> dict[str, str]:
    """AWS id or ARN -> Terraform address, from the cell's local state copy (build/state/<cell>/)."""
    path = build_dir() / "state" / cell_id / "terraform.tfstate"
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    out: dict[str, str] = {}
    for res in state.get("resources") or []:
        if res.get("mode") != "managed":
            continue
        address = f"{res.get('type')}.{res.get('name')}"
        for inst in res.get("instances") or []:
            attrs = inst.get("attributes") or {}
            for key in ("id", "arn"):
                if isinstance(attrs.get(key), str):
                    out.setdefault(attrs[key], address)
    return out


def record_problems(cell_id: str, rule: str, problems: Sequence[str], fix: str, stage: str = "live-suite") -> int:
    """Record each problem a behaviour check found as a finding of `rule`, at the resource it names first
    (the AWS id or ARN in the message, mapped to its address through the cell's state). Returns how many."""
    by_id = addresses_by_id(cell_id)
    for problem in problems:
        named = [by_id[m] for m in AWS_ID.findall(problem) if m in by_id]
        record(cell_id, {"rule": rule, "address": named[0] if named else "", "message": problem, "fix": fix},
               stage)
    return len(problems)


#: How the strict emulator marks a refusal in AWS's error message (matrix/chaos/strict.py, Refusal.answer)
STRICT_MARK = re.compile(r"\[stackmatrix strict: (?P<rule>[^;\]]+); source: (?P<source>[^\]]*)\]")
#: terraform names the resource of a failed call: "with aws_flow_log.flow-log,"
TERRAFORM_WITH = re.compile(r"\bwith ((?:data\.)?aws_[a-z0-9_]+\.[A-Za-z0-9_-]+)")


def record_strict_refusal(cell_id: str, exc: BaseException) -> bool:
    """When a cell failed because the strict emulator refused a call as AWS would, record that refusal as a
    finding at the resource being applied (the embedded engine's ApplyError names it; terraform's output says
    "with ADDRESS"). False when the failure was something else."""
    text = " ".join(str(e) for e in (exc, getattr(exc, "cause", None)) if e is not None)
    mark = STRICT_MARK.search(text)
    if mark is None:
        return False
    address = getattr(exc, "address", "") or next(iter(TERRAFORM_WITH.findall(text)), "")
    own = str(exc)
    cut = STRICT_MARK.search(own)
    message = " ".join((own[:cut.start()] if cut else own).split()) or text
    from matrix.catalogue import RULES  # lazy: the catalogue loads AWS's schemas

    rule = RULES.get(mark.group("rule"))
    record(cell_id, {"rule": mark.group("rule"), "address": address, "message": f"refused as AWS refuses it: {message}",
                     "fix": getattr(rule, "fix", "") or f"see {mark.group('source')}"}, "strict-emulator")
    return True


def recorded(cell_id: str) -> list[FindingInfo]:
    path = cell_dir(cell_id) / FILENAME
    out = []
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        try:
            out.append(as_finding(json.loads(line)))
        except (ValueError, AttributeError):
            continue  # a line cut short by a killed process: the rest still counts
    return out


def policy_violations(cells: Sequence[Any]) -> list[Any]:
    """The synth policy rules on synthesized cells, in this process (the dev loop's quick check)."""
    from matrix.catalogue import Context, SynthDoc, check_docs  # lazy: the catalogue loads AWS's schemas

    docs = [SynthDoc.load(synth_file(c.id),
                          Context(cell=c.id, region=c.region, suffix=c.suffix, project_dir=PROJECT_ROOT))
            for c in cells]
    return check_docs(docs) if docs else []


# -- the synth suite's findings, stored for the run's SARIF ------------------------------------------

def store_path() -> Path:
    return build_dir() / SYNTH_STORE


def doc_key(cell: str, region: str | None, suffix: str | None, content: bytes) -> str:
    """What a document's per-document findings depend on: its bytes and its context (cell, region, suffix)."""
    head = json.dumps([cell, region, suffix]).encode()
    return hashlib.sha256(head + b"\0" + content).hexdigest()


def set_key(doc_keys: Sequence[str]) -> str:
    """The cross-cell findings depend on every document of the run, in order."""
    return hashlib.sha256("\n".join(doc_keys).encode()).hexdigest()


def _stored_dict(finding: Any) -> dict[str, Any]:
    info = asdict(as_finding(finding, "synth"))
    if not _jsonable(info["value"]):
        info["value"] = None  # sarif.py leaves a value it cannot write out of the log either way
    return info


def store_synth_findings(per_doc: Sequence[tuple[str, Sequence[Any]]], cross: Sequence[Any] | None) -> Path:
    """Written by the synth suite: (doc key, its findings) for each document in order, and the cross-cell
    findings of the whole set (None when they were not computed)."""
    keys = [k for k, _ in per_doc]
    data: dict[str, Any] = {"version": STORE_VERSION,
                            "docs": {k: [_stored_dict(f) for f in found] for k, found in per_doc},
                            "cross": {} if cross is None else {set_key(keys): [_stored_dict(f) for f in cross]}}
    # keys in their order: a finding's value goes into the SARIF as it is
    return write_atomic(store_path(), json.dumps(data), fsync=False)


def forget_stored() -> None:
    """The runner calls this when a run starts: stored findings belong to the run whose suite wrote them."""
    store_path().unlink(missing_ok=True)


def _load_store() -> dict[str, Any]:
    try:
        data = json.loads(store_path().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) and data.get("version") == STORE_VERSION else {}


def synth_findings(cells: Sequence[Any]) -> list[FindingInfo]:
    """The synth findings of `cells` (with synthesized documents) in check_docs' order: stored by the synth
    suite where a document's key matches, else computed here for that document (and the cross-cell rules
    when the set's key has nothing stored)."""
    store = _load_store()
    stored_docs, stored_cross = store.get("docs") or {}, store.get("cross") or {}
    keys = [doc_key(c.id, c.region, c.suffix, synth_file(c.id).read_bytes()) for c in cells]
    cross_stored = stored_cross.get(set_key(keys)) if len(cells) > 1 else []
    if all(k in stored_docs for k in keys) and cross_stored is not None:
        hit = [FindingInfo(**f) for k in keys for f in stored_docs[k]]
        return hit + [FindingInfo(**f) for f in cross_stored]
    from matrix.catalogue import CROSS_CHECKS, Context, SynthDoc, check_doc  # lazy: loads AWS's schemas

    docs = [SynthDoc.load(synth_file(c.id),
                          Context(cell=c.id, region=c.region, suffix=c.suffix, project_dir=PROJECT_ROOT))
            for c in cells]
    out: list[FindingInfo] = []
    for key, doc in zip(keys, docs, strict=True):
        if key in stored_docs:
            out += [FindingInfo(**f) for f in stored_docs[key]]
        else:
            out += [as_finding(v, "synth") for v in check_doc(doc)]
    if cross_stored is not None:
        out += [FindingInfo(**f) for f in cross_stored]
    else:
        out += [as_finding(v, "synth") for fn in CROSS_CHECKS.values() for v in fn(docs)]
    return out


def run_findings(cells: Sequence[Any]) -> tuple[list[FindingInfo], list[Source]]:
    """Every finding of the run's cells (synth rules, then what the cells recorded) and their documents."""
    present = [c for c in cells if synth_file(c.id).is_file()]
    findings = synth_findings(present) if present else []
    for cell in cells:
        findings += recorded(cell.id)
    sources = []
    for cell in present:
        path = synth_file(cell.id)
        try:
            sources.append(Source(cell.id, path, json.loads(path.read_text())))
        except (OSError, ValueError):
            continue
    return findings, sources


def write_run_sarif(cells: Sequence[Any], suppressions: Sequence[Suppression] = (),
                    path: Path | None = None,
                    notifications: Sequence[Mapping[str, str]] = ()) -> tuple[Path, dict[str, Any]]:
    """build/findings.sarif for the run; returns the path and the log. `notifications`: what the run could
    not check (matrix/targets/strict_front.py `JudgingGaps.notifications()`)."""
    findings, sources = run_findings(cells)
    log = build_log(findings, sources, PROJECT_ROOT, suppressions=suppressions, notifications=notifications)
    return write(log, path or build_dir() / SARIF_NAME), log


def describe(path: Path, log: dict[str, Any]) -> str:
    results = log["runs"][0]["results"]
    held = sum(1 for r in results if r.get("suppressions"))
    stages = sorted({r["properties"]["stage"] for r in results})
    what = f"{len(results)} result(s)" + (f", {held} suppressed" if held else "") + \
        (f" ({', '.join(stages)})" if stages else "")
    notes = [n for inv in log["runs"][0].get("invocations", []) for n in inv.get("toolExecutionNotifications", [])]
    if notes:
        what += f"; {len(notes)} tool notification(s): what the run could not check"
    return f"findings: {path} ({what})"
