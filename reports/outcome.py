"""What a cell's outcome says in one line, the same in Allure, the grid, JUnit and Markdown.

`cell_message(result)` names the step that failed and the cause (tagged with the runner's category
when the text alone would not match it), then the expectation and leaks; `cell_category(result)`
is the category Allure will file it under; `failing_step(result)` finds the step to blame.
"""

from __future__ import annotations

from matrix.redact import redact
from matrix.results import CellResult, Step
from reports.categories import Category, classify, tag_message

FAILED = ("failed", "broken")


def failing_step(result: CellResult) -> Step | None:
    name = (result.error or {}).get("step")
    if name:
        for s in result.steps:
            if s.name == name:
                return s
    for s in result.steps:
        if s.status in FAILED:
            return s
    return None


def cause(result: CellResult) -> tuple[str, str]:
    """(step name, message) of the failure, or ("", "") when there is none to report."""
    err = result.error or {}
    step = failing_step(result)
    text = str(err.get("message") or (step.message if step else "") or "")
    name = str(err.get("step") or (step.name if step else ""))
    if not text and not name and result.status not in FAILED:
        return "", ""
    return name, text


def cell_message(result: CellResult) -> str:
    err = result.error or {}
    exp = result.expectation or {}
    lines: list[str] = []
    step, text = cause(result)
    if step or text or result.status in FAILED:
        msg = f"{step}: {text}" if step and text else text or f"{step or 'cell'} {result.status}"
        lines.append(tag_message(msg, err.get("category")) if result.status in FAILED else msg)
    if exp.get("kind"):
        met = exp.get("met")
        state = "met" if met else ("not met" if met is not None else "not evaluated")
        reason = f": {exp['reason']}" if exp.get("reason") else ""
        lines.append(f"expectation {exp['kind']} {state}{reason}")
    if result.leaks:
        more = " ..." if len(result.leaks) > 10 else ""
        lines.append(f"leaked: {', '.join(result.leaks[:10])}{more}")
    return redact("\n".join(lines))


def cell_category(result: CellResult) -> Category | None:
    """The category Allure files this cell under (None when it passed or was skipped): the first
    whose pattern is in the message, as in Allure; the runner's own category is in the message as a
    `[Token]` whenever the text alone would not match it."""
    if result.status not in FAILED:
        return None
    return classify(cell_message(result), result.status)
