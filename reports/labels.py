"""One cell, one set of Allure labels and parameters: shared by the cell writer and the pytest plugin.

Whatever produced a result (the deployment of a cell, or a live/chaos/synth test run for a cell),
it is filed the same way: parentSuite = region, suite = suffix, subSuite = fault scenario ("none"),
epic = what kind of suite it is, feature = target/engine, story = cell id, parameters region,
suffix, fault (these three identify the cell: they feed the history id) and target, engine
(shown, but `excluded` from the history id, so that a cell keeps its history when it moves from
moto to LocalStack).

History ids are derived only from the test's full name and those parameters, never from a run id,
a time or a uuid: the same test of the same cell has the same history id in every run and shard,
and two cells never share one. `history_id()` is allure-pytest's formula (allure_commons' md5 of the
full name and the non-excluded parameter values sorted by name); Allure 3 recomputes its own from the
test case id and the same parameters, with the same property.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from allure_commons.utils import md5 as allure_md5

CELL_ENV = "STACKMATRIX_CELL"
SUITE_CELLS_ENV = "STACKMATRIX_SUITE_CELLS"
NO_FAULT = "none"

#: epic per suite kind (the folder under suites/, or "deployment" for the cell's own result)
EPICS = {
    "deployment": "Deployment",
    "synth": "Synth policies",
    "live": "Live suite",
    "chaos": "Chaos expectations",
}
IDENTITY_PARAMETERS = ("region", "suffix", "fault")
SHOWN_PARAMETERS = ("target", "engine")


@dataclass(frozen=True)
class CellInfo:
    """The part of `matrix.cells.Cell.to_dict()` (or of a CellResult) that labels need."""

    id: str
    region: str = ""
    suffix: str = ""
    fault: str | None = None
    target: str = ""
    engine: str = ""
    profile: str = ""

    @property
    def fault_name(self) -> str:
        return self.fault or NO_FAULT

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CellInfo:
        cell_id = data.get("id") or data.get("cell")
        if not cell_id:
            raise ValueError(f"cell without an id: {dict(data)!r}")
        fault = data.get("fault")
        return cls(
            id=str(cell_id), region=str(data.get("region") or ""), suffix=str(data.get("suffix") or ""),
            fault=None if fault in (None, "", NO_FAULT) else str(fault),
            target=str(data.get("target") or ""), engine=str(data.get("engine") or ""),
            profile=str(data.get("profile") or ""),
        )

    @classmethod
    def from_result(cls, result: Any) -> CellInfo:
        """From a `matrix.results.CellResult`."""
        return cls(result.cell, result.region, result.suffix, result.fault or None, result.target,
                   result.engine, result.profile)


def cell_from_env(environ: Mapping[str, str] | None = None) -> CellInfo | None:
    """The cell of a per-cell suite run: `$STACKMATRIX_CELL` (JSON of Cell.to_dict())."""
    raw = (environ if environ is not None else os.environ).get(CELL_ENV)
    if not raw:
        return None
    return CellInfo.from_dict(json.loads(raw))


def suite_cells_from_env(environ: Mapping[str, str] | None = None) -> dict[str, CellInfo]:
    """The cells of a synth suite run: `$STACKMATRIX_SUITE_CELLS` (JSON list of Cell.to_dict())."""
    raw = (environ if environ is not None else os.environ).get(SUITE_CELLS_ENV)
    if not raw:
        return {}
    cells = [CellInfo.from_dict(c) for c in json.loads(raw)]
    return {c.id: c for c in cells}


def labels(cell: CellInfo, suite: str) -> list[tuple[str, str]]:
    """(name, value) labels for a result of `suite` ("deployment", "synth", "live", "chaos")."""
    out = [
        ("parentSuite", cell.region or cell.id),
        ("suite", cell.suffix or cell.id),
        ("subSuite", cell.fault_name),
        ("epic", EPICS.get(suite, suite.capitalize())),
        ("feature", f"{cell.target or '?'}/{cell.engine or '?'}"),
        ("story", cell.id),
    ]
    out += [("tag", t) for t in tags(cell)]
    return out


def tags(cell: CellInfo) -> list[str]:
    out = [t for t in (cell.target, cell.engine) if t]
    if cell.profile:
        out.append(f"profile:{cell.profile}")
    if cell.fault:
        out.append(f"fault:{cell.fault}")
    return out


def parameters(cell: CellInfo) -> list[dict[str, Any]]:
    """Allure parameters: region, suffix, fault (identity), target and engine (excluded)."""
    values = {"region": cell.region, "suffix": cell.suffix, "fault": cell.fault_name,
              "target": cell.target, "engine": cell.engine}
    out: list[dict[str, Any]] = [{"name": n, "value": values[n]} for n in IDENTITY_PARAMETERS]
    out += [{"name": n, "value": values[n], "excluded": True} for n in SHOWN_PARAMETERS]
    return out


def md5(*parts: str) -> str:
    """allure-python-commons' md5 (the one allure-pytest's ids use): the parts' UTF-8 bytes, concatenated."""
    return allure_md5(*parts)


def history_id(full_name: str, params: Iterable[Mapping[str, Any]]) -> str:
    """allure-pytest's history id: md5(full name, non-excluded parameter values sorted by name)."""
    kept = sorted((p for p in params if not p.get("excluded")), key=lambda p: p["name"])
    return md5(full_name, *(str(p["value"]) for p in kept))


def testcase_id(full_name: str) -> str:
    return md5(full_name)


def report_test_id(uuid: str) -> str:
    """The id the Allure 3 report gives a result (its URL is `index.html#/<id>`): md5 of its uuid."""
    return md5(uuid)
