"""The HTML report: the pinned Allure 3 CLI (package.json, `npm ci`) run over the results folders.

`generate_html()` works around the CLI's quirks (see shared notes/verified-facts.md):
* it never cleans its output folder, so stale files of an older report would survive: we delete
  the output folder first (refusing anything that is not a dedicated report folder);
* it embeds a Google Analytics tag in index.html: `strip_analytics()` removes it;
* history is a JSONL file (`historyPath`) that the CLI appends to: we keep it outside the output
  folder and drop an earlier point of the same run first (`history.forget_run`);
* categories are read from the config, not from categories.json (see allurerc.py);
* `generate` never evaluates the config's quality gate, so the report is rendered by
  reports/allure_generate.mjs (the CLI's own generate calls on its own @allurereport/core, plus the
  gate evaluation `allure run` does): the run's quality gates show in the Quality Gates tab, and
  what the report says about each gate comes back in `HtmlResult.quality_gate`.

Without Node.js or without node_modules, nothing fails: the result says what is missing and the
exact command that produces the HTML (`npm ci` in the project, or `nox -s report`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from matrix.gates import GateReport
from matrix.paths import PROJECT_ROOT, allure_report_dir, build_dir
from matrix.redact import redact
from reports import history as H
from reports.allurerc import write_allurerc
from reports.files import scrub_secrets, write_bytes

CLI = PROJECT_ROOT / "node_modules" / "allure" / "cli.js"
GENERATE = Path(__file__).with_name("allure_generate.mjs")
TIMEOUT = 600
ANALYTICS_RE = re.compile(
    r"[ \t]*<script[^>]*googletagmanager\.com[^>]*>\s*</script>\s*"
    r"(?:<script[^>]*>(?:(?!</script>).)*?\bgtag\((?:(?!</script>).)*</script>\s*)?",
    re.DOTALL,
)
GTAG_RE = re.compile(r"[ \t]*<script[^>]*>(?:(?!</script>).)*?\bgtag\((?:(?!</script>).)*</script>\s*", re.DOTALL)


@dataclass
class HtmlResult:
    ok: bool
    output: Path
    message: str
    seconds: float = 0.0
    history: Path | None = None
    single_file: bool = False
    quality_gate: list[dict] = field(default_factory=list)  # the gates as the report shows them

    @property
    def index(self) -> Path:
        return self.output / "index.html"

    def how_to_open(self) -> str:
        if not self.ok:
            return self.message
        if self.single_file:
            return f"open {self.index} in a browser (a single file: it works from file://)"
        return (f"serve it: python -m http.server -d {self.output} 8000, then open http://127.0.0.1:8000/ "
                "(the multi-file report needs HTTP; or use --single-file)")


def allure_command() -> tuple[list[str] | None, str]:
    """(command prefix, "") when the pinned CLI can run, else (None, what to do about it)."""
    node = shutil.which("node")
    hint = (f"to get the HTML, run `npm ci` in {PROJECT_ROOT} (installs the pinned Allure 3 CLI from "
            "package-lock.json) and then `python -m matrix report`, or run `nox -s report`")
    if node is None:
        return None, f"Node.js is not installed (no `node` on PATH): install Node.js 20 with npm, then {hint}"
    if not CLI.is_file():
        return None, f"the Allure CLI is not installed ({CLI} is missing): {hint}"
    return [node, str(CLI)], ""


def strip_analytics(folder: Path) -> int:
    """Remove the analytics tag (the gtag loader and its config script) from every HTML file."""
    removed = 0
    for page in Path(folder).rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        new, n = ANALYTICS_RE.subn("", text)
        new, m = GTAG_RE.subn("", new)
        if n or m:
            write_bytes(page, new.encode("utf-8"))
            removed += n + m
    return removed


def _safe_to_clean(output: Path, inputs: Sequence[Path]) -> str:
    out = output.resolve()
    forbidden = {Path("/").resolve(), Path.home().resolve(), PROJECT_ROOT.resolve(), build_dir().resolve(),
                 Path.cwd().resolve()}
    if out in forbidden:
        return f"refusing to clean {out}: it is not a dedicated report folder"
    for src in inputs:
        s = Path(src).resolve()
        if s == out or out in s.parents:
            return f"refusing to clean {out}: it contains the results folder {s}"
    return ""


def clean_output(output: Path, inputs: Sequence[Path] = ()) -> None:
    problem = _safe_to_clean(Path(output), inputs)
    if problem:
        raise ValueError(problem)
    if Path(output).exists():
        shutil.rmtree(output)


def generate_html(results_dirs: Sequence[Path], *, name: str, output: Path | None = None,
                  history: Path | None = None, single_file: bool = False,
                  config_path: Path | None = None, gates: GateReport | None = None) -> HtmlResult:
    """Generate the Allure 3 report of `results_dirs` into `output` (default build/allure-report).

    `history` is the JSONL trend file (default build/allure-history.jsonl); pass the same file on
    every run to keep the trend. Returns ok=False with instructions when the CLI cannot run.
    """
    out = Path(output or allure_report_dir())
    hist = Path(history) if history else H.default_history_path()
    dirs = [Path(d) for d in results_dirs if Path(d).is_dir()]
    cmd, problem = allure_command()
    if cmd is None:
        return HtmlResult(False, out, f"HTML report not generated: {problem}. The Allure results are in "
                          f"{', '.join(map(str, dirs)) or 'build/allure-results'}.", history=hist)
    if not dirs:
        return HtmlResult(False, out, "HTML report not generated: no Allure results folder to read", history=hist)
    clean_output(out, dirs)
    hist.parent.mkdir(parents=True, exist_ok=True)
    H.forget_run(hist, name)
    rc = write_allurerc(name, out, hist, single_file, path=config_path, gates=gates)
    env = {**os.environ, "ALLURE_NO_ANALYTICS": "true", "NO_COLOR": "1"}
    t0 = time.monotonic()
    proc = subprocess.run([cmd[0], str(GENERATE), str(rc), str(out), *map(str, dirs)],
                          capture_output=True, text=True, timeout=TIMEOUT, cwd=build_dir() if build_dir().is_dir()
                          else PROJECT_ROOT, env=env, check=False,
                          start_new_session=True)  # a terminal's Ctrl-C must not kill it mid-report
    seconds = time.monotonic() - t0
    if proc.returncode != 0 or not (out / "index.html").is_file():
        detail = redact((proc.stderr or proc.stdout or "").strip()[-2000:])
        return HtmlResult(False, out, f"the Allure CLI failed (exit {proc.returncode}): {detail}", seconds, hist)
    strip_analytics(out)
    scrub_secrets(out)
    kind = "single-file report" if single_file else "report"
    return HtmlResult(True, out, f"Allure {kind} generated in {seconds:.1f} s: {out / 'index.html'}",
                      seconds, hist, single_file, _gate_line(proc.stdout))


def _gate_line(stdout: str) -> list[dict]:
    """The quality-gate results allure_generate.mjs printed (its last JSON line)."""
    for line in reversed(stdout.splitlines()):
        if line.startswith('{"qualityGate":'):
            try:
                return list(json.loads(line)["qualityGate"])
            except (ValueError, KeyError, TypeError):
                return []
    return []
