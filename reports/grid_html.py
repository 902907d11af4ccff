"""The matrix grid as one self-contained HTML page (build/grid/index.html): no script, no fetch.

Rows are region x suffix, columns are fault scenarios; each square shows the cell's status,
duration, API retries and throttles, the failure category, and links to the cell's test in the
Allure report (a relative link, so the grid and the report can be served or published together).
Below the grid, every failed cell with the step that failed and why.
"""

from __future__ import annotations

import os
from html import escape
from pathlib import Path

from reports.files import write_text
from reports.grid import Grid, GridRow

CSS = """
body{font:14px/1.4 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#1f2328;background:#fff}
h1{font-size:20px;margin:0 0 4px} .meta{color:#59636e;margin-bottom:16px}
table.grid{border-collapse:collapse;margin:12px 0}
table.grid th,table.grid td{border:1px solid #d1d9e0;padding:6px 8px;vertical-align:top;text-align:left}
table.grid th{background:#f6f8fa}
.cell{min-width:150px;border-radius:6px;padding:6px 8px}
.passed{background:#dafbe1} .failed{background:#ffebe9} .broken{background:#fff1c2} .skipped{background:#eaeef2}
.status{font-weight:600;text-transform:uppercase;font-size:12px}
.passed .status{color:#1a7f37} .failed .status{color:#cf222e} .broken .status{color:#9a6700}
.id{font-family:ui-monospace,Menlo,monospace;font-size:12px}
.small{font-size:12px;color:#59636e} .cat{font-size:12px;font-weight:600;color:#a40e26}
table.failures td{border-bottom:1px solid #d1d9e0;padding:6px 8px;vertical-align:top}
pre{white-space:pre-wrap;margin:0;font-size:12px}
"""


def _link(row: GridRow, report_href: str | None) -> str:
    if not report_href:
        return ""
    return f' <a href="{escape(report_href)}#/{escape(row.report_id)}">Allure&nbsp;&rsaquo;</a>'


def _square(row: GridRow | None, report_href: str | None) -> str:
    if row is None:
        return '<td class="none small">—</td>'
    extra = []
    if row.calls or row.retries or row.throttles:
        extra.append(f"{row.retries} retries, {row.throttles} throttles")
    if row.expectation and row.scenario != "none":
        extra.append(escape(row.expectation))
    category = f'<div class="cat">{escape(row.category)}</div>' if row.category else ""
    return (
        f'<td><div class="cell {escape(row.status)}" data-cell="{escape(row.cell)}" data-status="{escape(row.status)}">'
        f'<div class="id">{escape(row.cell)}</div>'
        f'<div><span class="status">{escape(row.status)}</span> '
        f'<span class="small">{row.seconds:.1f} s</span>{_link(row, report_href)}</div>'
        + "".join(f'<div class="small">{e}</div>' for e in extra) + category + "</div></td>"
    )


def render(grid: Grid, title: str, report_href: str | None = None) -> str:
    head = "".join(f"<th>{escape(s)}</th>" for s in grid.scenarios)
    body = []
    for region in grid.regions:
        suffixes = [s for s in grid.suffixes if any(r.region == region and r.suffix == s for r in grid.rows)]
        for i, suffix in enumerate(suffixes):
            region_cell = f'<th rowspan="{len(suffixes)}">{escape(region)}</th>' if i == 0 else ""
            squares = "".join(_square(grid.at(region, suffix, sc), report_href) for sc in grid.scenarios)
            body.append(f"<tr>{region_cell}<th>{escape(suffix)}</th>{squares}</tr>")
    failures = [r for r in grid.rows if r.status in ("failed", "broken")]
    fail_rows = "".join(
        f'<tr><td class="id">{escape(r.cell)}</td><td>{escape(r.status)}</td><td>{escape(r.step)}</td>'
        f'<td>{escape(r.category)}</td><td><pre>{escape(r.message)}</pre></td></tr>' for r in failures)
    report_link = f' · <a href="{escape(report_href)}">Allure report</a>' if report_href else ""
    failures_html = (
        f'<h2>Failures</h2><table class="failures"><tr><th>cell</th><th>status</th><th>step</th>'
        f"<th>category</th><th>cause</th></tr>{fail_rows}</table>" if failures else "<p>No failures.</p>")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<meta name=\"viewport\" content=\"width=device-width\"><title>{escape(title)}</title>"
        f"<style>{CSS}</style></head><body>"
        f"<h1>{escape(title)}</h1><div class=\"meta\" id=\"summary\">{escape(grid.summary())}{report_link}</div>"
        f'<table class="grid"><thead><tr><th>region</th><th>suffix</th>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>{failures_html}</body></html>\n"
    )


def write_grid_html(grid: Grid, path: Path, title: str, report_dir: Path | None = None) -> Path:
    """Write the page; `report_dir` (the Allure report folder) becomes a relative link."""
    href = None
    if report_dir is not None:
        href = os.path.relpath(Path(report_dir) / "index.html", Path(path).parent).replace(os.sep, "/")
    return write_text(Path(path), render(grid, title, href))
