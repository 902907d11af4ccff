"""The matrix as JUnit XML (build/junit.xml): one testcase per cell, for CI test tabs and gates.

classname is `<region>.<suffix>`, name the cell id; a failed cell has a <failure> (an expectation
not met) and a broken one an <error> (the tool or environment failed), whose message names the step
and the cause and whose type is the category. Properties carry target, engine, fault and run.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from reports.files import write_text
from reports.grid import Grid


def render(grid: Grid, name: str) -> str:
    counts = grid.counts
    total = sum(r.seconds for r in grid.rows)
    suites = ET.Element("testsuites", name=name, tests=str(len(grid.rows)), failures=str(counts["failed"]),
                        errors=str(counts["broken"]), skipped=str(counts["skipped"]), time=f"{total:.3f}")
    suite = ET.SubElement(suites, "testsuite", name=name, tests=str(len(grid.rows)),
                          failures=str(counts["failed"]), errors=str(counts["broken"]),
                          skipped=str(counts["skipped"]), time=f"{total:.3f}")
    for r in grid.rows:
        case = ET.SubElement(suite, "testcase", classname=f"{r.region}.{r.suffix}", name=r.cell,
                             time=f"{r.seconds:.3f}")
        props = ET.SubElement(case, "properties")
        for key, value in (("region", r.region), ("suffix", r.suffix), ("fault", r.scenario),
                           ("target", r.target), ("engine", r.engine), ("run", r.run_id),
                           ("retries", str(r.retries)), ("throttles", str(r.throttles))):
            ET.SubElement(props, "property", name=key, value=value)
        if r.status in ("failed", "broken"):
            first = r.message.splitlines()[0] if r.message else f"{r.step or 'cell'} {r.status}"
            tag = "failure" if r.status == "failed" else "error"
            node = ET.SubElement(case, tag, message=first, type=r.category or r.status)
            node.text = r.message
        elif r.status == "skipped":
            ET.SubElement(case, "skipped", message=r.message or "skipped")
        if r.expectation:
            ET.SubElement(case, "system-out").text = f"expectation: {r.expectation}"
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def write_junit(grid: Grid, path: Path, name: str) -> Path:
    return write_text(Path(path), render(grid, name))
