"""Each cell's deployment as one Allure test, from `build/cells/<cell-id>/result.json`.

`write_cell_result()` turns a `matrix.results.CellResult` into an Allure 2-format
`<uuid>-result.json` (which Allure 3 reads too), built with allure-python-commons' model
(`allure_commons.model2`: TestResult, TestStepResult, Attachment, Label, Parameter, StatusDetails)
and serialized as allure-python-commons' own file logger does (attrs' `asdict`, empty fields left
out): the runner's steps (backend check or bootstrap, apply, live suite, chaos expectations,
destroy, leak check) become Allure steps with their own start/stop, status and status details; the
files the cell and its steps list are copied (redacted) next to it as Allure attachments, plus
tables made from the result's counters, changes, outputs and leaks when the runner did not attach
its own. Labels, parameters and the history and test case ids come from `labels.py`.

Writing is idempotent: the result's uuid is derived from (run id, cell id) and each attachment's
file name from that uuid and the attachment, so writing the same cell twice (a re-run of
`python -m matrix report`, a shard copied twice) replaces files instead of adding results.
"""

from __future__ import annotations

import html
import json
import mimetypes
import platform
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from allure_commons.model2 import (
    TEST_CASE_PATTERN,
    Label,
    Parameter,
    StatusDetails,
    TestResult,
    TestStepResult,
)
from allure_commons.model2 import Attachment as AllureAttachment
from attr import asdict

from matrix.paths import allure_results_dir
from matrix.redact import redact
from matrix.results import Attachment, CellResult, Step, cells_dir, now_ms
from reports import counters as C
from reports import labels as L
from reports.categories import tag_message
from reports.files import copy_redacted, write_bytes, write_json
from reports.outcome import cell_category, cell_message, failing_step

SUITE = "deployment"
STAGE = "finished"  # allure_commons has no constant for it (allure-pytest writes the same string)
NAMESPACE = uuid.UUID("6f1c2a52-5d0e-4bb5-9d27-0b6f2f9f4c11")
TRACE_TAIL_LINES = 40
EXTENSIONS = {"application/json": ".json", "text/plain": ".txt", "text/csv": ".csv", "text/html": ".html",
              "text/markdown": ".md", "image/png": ".png", "application/xml": ".xml", "text/xml": ".xml"}


def full_name(cell_id: str) -> str:
    return f"stackmatrix.{SUITE}#{cell_id}"


def result_uuid(run_id: str, cell_id: str) -> str:
    """Stable per (run, cell): rewriting a cell replaces its result instead of adding one."""
    return str(uuid.uuid5(NAMESPACE, f"{run_id}/{cell_id}"))


def load_cells(root: Path | None = None) -> list[tuple[CellResult, Path]]:
    """Every `<root>/<cell>/result.json` with its folder (attachments are relative to it)."""
    base = Path(root) if root else cells_dir()
    return [(CellResult.load(p), p.parent) for p in sorted(base.glob("*/result.json"))]


def write_cell_results(cells: Iterable[tuple[CellResult, Path]] | None = None,
                       results_dir: Path | None = None, prune: bool | None = None) -> list[Path]:
    """Write every cell (default: all of build/cells) into `results_dir` (default build/allure-results).

    With `prune` (the default when writing all of build/cells), deployment results of cells that are
    not among those written (an earlier run's) are removed."""
    pairs = load_cells() if cells is None else list(cells)
    out = Path(results_dir or allure_results_dir())
    written = [write_cell_result(r, out, folder) for r, folder in pairs]
    if prune if prune is not None else cells is None:
        prune_stale(out, {p.name for p in written})
    return written


def prune_stale(results_dir: Path, keep: set[str]) -> list[Path]:
    """Remove deployment results (and their attachments) of cells that are no longer in build/cells,
    such as the previous run's: their uuids embed another run id. allure-pytest results are the
    runner's to clean (it empties build/allure-results when a run starts)."""
    removed: list[Path] = []
    for path in Path(results_dir).glob("*-result.json"):
        if path.name in keep:
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not str(data.get("fullName", "")).startswith(f"stackmatrix.{SUITE}#"):
            continue
        sources = [a.get("source") for a in data.get("attachments", [])]
        sources += [a.get("source") for s in data.get("steps", []) for a in s.get("attachments", [])]
        for src in filter(None, sources):
            (Path(results_dir) / src).unlink(missing_ok=True)
        path.unlink()
        removed.append(path)
    return removed


def write_cell_result(result: CellResult, results_dir: Path | None = None,
                      cell_folder: Path | None = None) -> Path:
    """Write one cell's Allure result (and its attachments); returns the result file."""
    out = Path(results_dir or allure_results_dir())
    out.mkdir(parents=True, exist_ok=True)
    folder = Path(cell_folder) if cell_folder else result.folder
    test = allure_result(result, folder, out)
    return write_json(out / TEST_CASE_PATTERN.format(prefix=test.uuid), to_json(test), indent=None)


def to_json(item: Any) -> dict[str, Any]:
    """An allure_commons model object as the JSON allure-python-commons writes (AllureFileLogger):
    attrs' asdict, leaving out empty values but keeping False."""
    return asdict(item, filter=lambda _, v: v or v is False)


# -- the result document ---------------------------------------------------------------------

def allure_result(result: CellResult, folder: Path, out: Path) -> TestResult:
    cell = L.CellInfo.from_result(result)
    uid = result_uuid(result.run_id, result.cell)
    name = full_name(result.cell)
    identity = L.parameters(cell)  # region, suffix, fault (+ target, engine excluded): the history id's input
    params = [Parameter(**p) for p in identity]
    exp = result.expectation or {}
    if exp.get("kind"):  # shown on the test page (the description is in an iframe), not in the history id
        met = "met" if exp.get("met") else ("not met" if exp.get("met") is not None else "not evaluated")
        params.append(Parameter(name="expectation", value=f"{exp['kind']}: {met}", excluded=True))
    writer = _AttachmentWriter(uid, folder, out)
    steps_by_name = {s.name: s for s in result.steps}
    extra = _generated_attachments(result, steps_by_name)

    steps = [_step(s, result, writer, extra.pop(s.name, [])) for s in result.steps]
    attachments = [writer.listed(a) for a in result.attachments] + [writer.data(*g) for g in extra.pop("", [])]
    for leftovers in extra.values():  # generated for a step that does not exist: attach to the test
        attachments += [writer.data(*g) for g in leftovers]

    message, trace = _status_details(result, folder)
    stop = result.stopped or max([s.stopped or s.started for s in result.steps] + [result.started])
    labels = [Label(name=n, value=v) for n, v in L.labels(cell, SUITE)]
    labels += [Label(name="framework", value="stackmatrix"), Label(name="host", value=platform.node()),
               Label(name="thread", value=result.cell)]
    return TestResult(
        uuid=uid,
        historyId=L.history_id(name, identity),
        testCaseId=L.testcase_id(name),
        fullName=name,
        name=f"deployment {result.cell}",
        status=result.status,
        stage=STAGE,
        start=result.started,
        stop=stop,
        labels=labels,
        parameters=params,
        steps=steps,
        attachments=attachments,
        titlePath=[cell.region, cell.suffix, cell.fault_name],
        description=_description_text(result),
        descriptionHtml=_description_html(result),
        statusDetails=StatusDetails(message=message, trace=trace) if message or trace else None,
    )


def _status_details(result: CellResult, folder: Path) -> tuple[str, str]:
    """The message says which step failed and why (see outcome.py); the trace is the runner's, or
    the failing step's, or the tail of the log that step attached."""
    message = cell_message(result)
    trace = str((result.error or {}).get("trace") or "")
    if not trace and result.status in ("failed", "broken"):
        step = failing_step(result)
        trace = _step_trace(step, folder) if step else ""
        if not trace:  # the runner attaches the engine log tail to the cell when it failed
            trace = _log_tail(result.attachments, folder)
    return message, redact(trace)


def _step_trace(step: Step, folder: Path) -> str:
    for key in ("trace", "traceback"):
        if step.details.get(key):
            return str(step.details[key])
    return _log_tail(step.attachments, folder)


def _log_tail(attachments: list[Attachment], folder: Path) -> str:
    """The last lines of the first attached log (the engine log tail), for the trace."""
    for att in attachments:
        if "log" in att.name.lower():
            path = folder / att.path
            if path.is_file():
                lines = path.read_text(errors="replace").splitlines()
                return "\n".join(lines[-TRACE_TAIL_LINES:])
    return ""


def _step(step: Step, result: CellResult, writer: _AttachmentWriter, extra: list[tuple]) -> TestStepResult:
    err = result.error or {}
    message = step.message
    if err.get("step") == step.name and err.get("message"):
        message = str(err["message"])
    if step.status in ("failed", "broken") and message:
        message = tag_message(message, err.get("category") if err.get("step") == step.name else None)
    trace = _step_trace(step, writer.folder) if step.status in ("failed", "broken") else ""
    params = [Parameter(name=k, value=C.summary(v) if C.looks_like_counters(v) else _short(v))
              for k, v in step.details.items() if k not in ("trace", "traceback")]
    return TestStepResult(
        name=step.name,
        status=step.status,
        stage=STAGE,
        start=step.started,
        stop=step.stopped or step.started,
        parameters=params,
        attachments=[writer.listed(a) for a in step.attachments] + [writer.data(*g) for g in extra],
        statusDetails=StatusDetails(message=redact(message), trace=redact(trace)) if message or trace else None,
    )


def _short(value: Any, limit: int = 500) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# -- attachments -----------------------------------------------------------------------------

def _has_attachment(result: CellResult, *words: str) -> bool:
    names = [a.name.lower() for a in result.attachments]
    names += [a.name.lower() for s in result.steps for a in s.attachments]
    return any(w in n for n in names for w in words)


def _generated_attachments(result: CellResult, steps: dict[str, Step]) -> dict[str, list[tuple]]:
    """Tables from the result's own fields, keyed by the step they belong to ("" = the test)."""
    out: dict[str, list[tuple]] = {}

    def add(step: str, *item: Any) -> None:
        out.setdefault(step if step in steps else "", []).append(item)

    if result.counters and not _has_attachment(result, "api call"):
        add("", "API calls by service", counters_csv(result.counters), "text/csv", "api-calls")
        if C.operations(result.counters):
            add("", "API calls by operation", operations_csv(result.counters), "text/csv", "api-operations")
    if result.changes and not _has_attachment(result, "change"):
        add("apply", "Changes summary", json.dumps(result.changes, indent=2, sort_keys=True),
            "application/json", "changes")
    if result.outputs and not _has_attachment(result, "output"):
        add("apply", "Outputs", json.dumps(result.outputs, indent=2, sort_keys=True, default=str),
            "application/json", "outputs")
    if result.leaks and not _has_attachment(result, "leak"):
        add("leak check", "Leaked resources", "\n".join(result.leaks) + "\n", "text/plain", "leaks")
    return out


def counters_csv(counters: dict) -> str:
    """service,calls,retries,throttles[,mutating,errors] (one row per service, then the total)."""
    rows = C.by_service(counters)
    cols = ["calls", "retries", "throttles"] + [m for m in ("mutating", "errors")
                                               if any(m in r for r in rows.values())]
    lines = ["service," + ",".join(cols)]
    total = dict.fromkeys(cols, 0)
    for service, row in rows.items():
        lines.append(service + "," + ",".join(str(row.get(c, 0)) for c in cols))
        for c in cols:
            total[c] += row.get(c, 0)
    lines.append("total," + ",".join(str(total[c]) for c in cols))
    return "\n".join(lines) + "\n"


def operations_csv(counters: dict) -> str:
    return "operation,calls\n" + "".join(f"{op},{n}\n" for op, n in C.operations(counters).items())


class _AttachmentWriter:
    """Copies attachments into the results folder under names derived from the result's uuid."""

    def __init__(self, result_uuid: str, folder: Path, out: Path) -> None:
        self.uuid, self.folder, self.out = result_uuid, folder, out

    def _name(self, key: str, ext: str) -> str:
        return f"{uuid.uuid5(NAMESPACE, self.uuid + '/' + key)}-attachment{ext}"

    def listed(self, att: Attachment) -> AllureAttachment:
        src = self.folder / att.path
        mime = att.type or mimetypes.guess_type(att.path)[0] or "text/plain"
        ext = Path(att.path).suffix or EXTENSIONS.get(mime, ".txt")
        target = self._name(att.path, ext)
        if src.is_file():
            copy_redacted(src, self.out / target)
        else:
            write_bytes(self.out / target, f"attachment file {att.path} was listed but not found in "
                        f"{self.folder}\n".encode())
            mime = "text/plain"
        return AllureAttachment(name=redact(att.name), source=target, type=mime)

    def data(self, name: str, text: str, mime: str, key: str) -> AllureAttachment:
        target = self._name(f"generated/{key}", EXTENSIONS.get(mime, ".txt"))
        write_bytes(self.out / target, redact(text).encode("utf-8"))
        return AllureAttachment(name=name, source=target, type=mime)


# -- description -----------------------------------------------------------------------------

def _facts(result: CellResult) -> list[tuple[str, str]]:
    exp = result.expectation or {}
    seconds = ((result.stopped or now_ms()) - result.started) / 1000
    facts = [
        ("cell", result.cell), ("region", result.region), ("suffix", result.suffix),
        ("fault", result.fault or "none"), ("target", result.target), ("engine", result.engine),
        ("profile", result.profile), ("run", result.run_id), ("status", result.status),
        ("duration", f"{seconds:.1f} s"),
    ]
    if result.account_id:
        facts.append(("account", result.account_id))
    if exp:
        facts.append(("expectation", f"{exp.get('kind', '?')}: {'met' if exp.get('met') else 'not met'}"
                      + (f" ({exp['reason']})" if exp.get("reason") else "")))
    category = cell_category(result)
    if category:
        facts.append(("category", category.name))
    if result.faults_injected:
        facts.append(("faults injected", str(result.faults_injected)))
    if result.changes:
        facts.append(("changes", ", ".join(f"{k} {v}" for k, v in sorted(result.changes.items()))))
    if result.counters:
        facts.append(("API calls", C.summary(result.counters)))
    facts.append(("leaks", ", ".join(result.leaks) if result.leaks else "none"))
    return facts


def _description_text(result: CellResult) -> str:
    return redact("\n".join(f"{k}: {v}" for k, v in _facts(result)))


def _description_html(result: CellResult) -> str:
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(redact(str(v)))}</td></tr>"
                   for k, v in _facts(result))
    return f"<table>{rows}</table>"
