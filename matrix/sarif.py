"""SARIF 2.1.0 for every finding: what code scanning and editors read, pointing at the Python line
that created the construct.

Input is findings (rule id, resource address, argument, value, message, fix, cell) and the rules they
come from (id, severity, title, description, the AWS error it prevents, what breaks, source, fix):
the catalogue's `Finding` and `Rule` (matrix/catalogue). `as_finding()` also takes a finding as the
dict a producer recorded (matrix/findings.py); `rule_info()` reads a rule's metadata.

Parts, in the order `build_log()` uses them:
* `Locator`       one per cdk.tf.json: address -> construct path (the `//` metadata cdktf writes) ->
                  the Python call that created it (locations.json next to cdk.tf.json, recorded by
                  stack/cdk.py), else the block's own line in cdk.tf.json;
* `Suppressions`  from the profile file (`[[suppress]]` rule, reason, optional address and cell globs)
                  and inline on the construct's lines in the stack (`# stackmatrix: ignore[RULE] reason`);
                  a suppressed finding stays in the log, marked suppressed with its reason;
* `build_log()`   findings -> one SARIF run: the tool with its rules (help text with the fix, help URI
                  to the AWS source, level from the rule's severity), one result per finding and
                  location (the cells that share it listed), stable `partialFingerprints` (rule,
                  address, argument, file: no line numbers, no run ids) and suppressions; what the
                  run could not check (the strict front's unjudged calls) as tool execution notifications.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

from matrix.errors import UsageError
from matrix.paths import PROJECT_ROOT, SYNTH_FILE
from stack.cdk import LOCATIONS_FILE

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
FINGERPRINT = "stackmatrix/v1"
SRCROOT = "%SRCROOT%"
LEVELS = {"error": "error", "warning": "warning", "note": "note"}
INLINE = re.compile(r"#\s*stackmatrix:\s*ignore\[(?P<rules>[^\]]+)\]\s*(?P<reason>.*)$")
SUPPRESS_KEYS = {"rule": str, "reason": str, "address": str, "cell": str}


# -- the shape of rules and findings (the catalogue's, adapted from the synth policies meanwhile) --------

@dataclass(frozen=True)
class RuleInfo:
    id: str
    severity: str
    title: str
    description: str
    aws_error: str = ""
    breaks: str = ""
    source: str = ""
    fix: str = ""


@dataclass(frozen=True)
class FindingInfo:
    rule: str
    address: str
    message: str
    fix: str = ""
    cell: str = ""
    argument: str = ""
    value: Any = None
    stage: str = "synth"


def as_finding(item: Any, stage: str = "synth") -> FindingInfo:
    """Any finding-shaped object (the catalogue's Finding, a policy Violation, a dict) as a FindingInfo."""
    get = item.get if isinstance(item, Mapping) else (lambda k, d=None: getattr(item, k, d))
    rule = get("rule")
    rule_id = getattr(rule, "id", rule)
    message = str(get("message", "") or "")
    prevented = getattr(item, "prevented", None)  # the catalogue's Finding: AWS's error, or what breaks
    if callable(prevented):
        message = f"{message} ({prevented()})"
    return FindingInfo(str(rule_id), str(get("address", "") or ""), message,
                       str(get("fix", "") or ""), str(get("cell", "") or ""), str(get("argument", "") or ""),
                       get("value"), str(get("stage", stage) or stage))


def rule_info(rule_id: str, rules: Mapping[str, Any] | None = None) -> RuleInfo:
    """The rule's metadata from `rules` (the catalogue's RULES) or the synth policies' registry."""
    rule = (rules or {}).get(rule_id)
    if rule is not None:
        err = getattr(rule, "aws_error", None)
        err_text = " ".join(str(x) for x in (getattr(err, "code", ""), getattr(err, "message", "")) if x) \
            if err is not None and not isinstance(err, str) else str(err or "")
        return RuleInfo(rule_id, str(getattr(rule, "severity", "error")), str(getattr(rule, "title", rule_id)),
                        str(getattr(rule, "description", "") or getattr(rule, "title", rule_id)), err_text,
                        str(getattr(rule, "breaks", "") or ""), str(getattr(rule, "source", "") or ""),
                        str(getattr(rule, "fix", "") or ""))
    from matrix.catalogue import RULES  # lazy: the catalogue loads AWS's schemas

    if rules is not RULES and rule_id in RULES:
        return rule_info(rule_id, RULES)
    return RuleInfo(rule_id, "error", rule_id, f"{rule_id} (a rule this version of the catalogue does not know)")


# -- locations --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Location:
    uri: str
    start_line: int
    start_column: int = 1
    end_line: int | None = None
    end_column: int | None = None
    base: bool = True  # relative to %SRCROOT%
    construct: str = ""  # the construct path, when the location is the Python line

    @property
    def in_python(self) -> bool:
        return self.uri.endswith(".py")


@cache
def _source_lines(path: str) -> list[str]:
    try:
        return Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return []


def _codepoint_column(lines: list[str], line: int, byte_col: int) -> int:
    """Python's AST columns are UTF-8 byte offsets; SARIF here counts Unicode code points, 1-based."""
    if 1 <= line <= len(lines):
        return len(lines[line - 1].encode("utf-8")[:byte_col].decode("utf-8", "ignore")) + 1
    return byte_col + 1


class Locator:
    """Where a finding in one cdk.tf.json is: the Python call of its construct, else the JSON block."""

    def __init__(self, doc_path: Path, data: Mapping[str, Any], root: Path) -> None:
        self.doc_path = Path(doc_path)
        self.data = data
        self.root = Path(root).resolve()
        self.constructs: dict[str, dict[str, Any]] = {}
        self.map_root = self.root
        loc_file = self.doc_path.parent / LOCATIONS_FILE
        try:
            doc = json.loads(loc_file.read_text())
            self.constructs = dict(doc.get("constructs") or {})
            self.map_root = Path(doc.get("root") or self.root)
            self.stack = str(doc.get("stack") or "")
        except (OSError, ValueError, AttributeError):
            self.stack = ""
        self._json_lines = _source_lines(str(self.doc_path))

    # address -> construct path
    def construct_path(self, address: str) -> str | None:
        address = _bare(address)
        parts = address.split(".")
        if address.startswith("terraform.backend"):
            return self._by_class("Backend")
        if parts[0] == "provider":
            m = re.match(r"provider\.([\w-]+)(?:\[(\d+)\])?", address)
            index = int(m.group(2) or 0) if m else 0
            providers = [p for p, loc in self.constructs.items() if str(loc.get("construct", "")).endswith("Provider")]
            return sorted(providers)[index] if index < len(providers) else None
        section, rest = ("data", parts[1:]) if parts[0] == "data" else ("resource", parts)
        if len(rest) < 2:
            return None
        body = ((self.data.get(section) or {}).get(rest[0]) or {}).get(rest[1])
        meta = (body or {}).get("//", {}).get("metadata", {}) if isinstance(body, dict) else {}
        return meta.get("path") if isinstance(meta, dict) else None

    def _by_class(self, suffix: str) -> str | None:
        found = sorted(p for p, loc in self.constructs.items() if str(loc.get("construct", "")).endswith(suffix))
        return found[0] if found else None

    def python(self, address: str) -> Location | None:
        path = self.construct_path(address)
        site = self.constructs.get(path or "")
        if not site:
            return None
        file = Path(site["file"])
        absolute = file if file.is_absolute() else self.map_root / file
        try:
            uri, base = absolute.resolve().relative_to(self.root).as_posix(), True
        except ValueError:
            uri, base = absolute.resolve().as_uri(), False
        lines = _source_lines(str(absolute))
        start, end = int(site["line"]), int(site.get("end_line") or site["line"])
        return Location(uri, start, _codepoint_column(lines, start, int(site.get("column", 0))), end,
                        _codepoint_column(lines, end, int(site.get("end_column", 0))), base, path or "")

    def in_json(self, address: str) -> Location:
        """The line of the block in cdk.tf.json (cdktf writes it indented, one key per line)."""
        keys = self._json_keys(address)
        line = 0
        for key in keys:
            pattern = re.compile(r'^\s*"' + re.escape(key) + r'"\s*:')
            for n in range(line, len(self._json_lines)):
                if pattern.search(self._json_lines[n]):
                    line = n
                    break
            else:
                break
        try:
            uri, base = self.doc_path.resolve().relative_to(self.root).as_posix(), True
        except ValueError:
            uri, base = self.doc_path.resolve().as_uri(), False
        return Location(uri, line + 1, 1, None, None, base)

    @staticmethod
    def _json_keys(address: str) -> list[str]:
        address = _bare(address)
        if address.startswith("terraform.backend"):
            return ["terraform", "backend", *address.split(".")[2:3]]
        if address.startswith("provider."):
            return ["provider", re.sub(r"\[\d+\]$", "", address.split(".", 1)[1])]
        parts = address.split(".")
        if parts[0] == "data":
            return ["data", *parts[1:3]]
        return ["resource", *parts[:2]] if len(parts) >= 2 else []

    def locate(self, address: str) -> tuple[Location, Location | None]:
        """(primary location, the cdk.tf.json block as a related location when the primary is Python).
        A finding about several resources ("aws_subnet.a, aws_subnet.b") is placed at the first."""
        address = address.split(", ")[0]
        block = self.in_json(address)
        py = self.python(address)
        return (py, block) if py is not None else (block, None)


# -- suppressions -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Suppression:
    rule: str
    reason: str
    address: str = "*"
    cell: str = "*"
    where: str = ""  # the file (and table) it came from

    def matches(self, f: FindingInfo) -> bool:
        return (fnmatch.fnmatchcase(f.rule, self.rule) and fnmatch.fnmatchcase(f.address, self.address)
                and fnmatch.fnmatchcase(f.cell or "", self.cell))


def check_suppress_table(entries: Any, where: str) -> list[Suppression]:
    """Validate the `[[suppress]]` tables of a profile file (cells.py calls this while loading it)."""
    if not isinstance(entries, list):
        raise UsageError(f"{where}: must be an array of tables, e.g. [[suppress]] rule = \"...\" reason = \"...\"")
    out = []
    for i, entry in enumerate(entries):
        at = f"{where}[{i}]"
        if not isinstance(entry, dict):
            raise UsageError(f"{at}: must be a table with rule and reason (and optional address, cell globs)")
        for key, value in entry.items():
            if key not in SUPPRESS_KEYS:
                raise UsageError(f"{at}: unknown key {key!r}; allowed keys: {', '.join(SUPPRESS_KEYS)}")
            if not isinstance(value, str) or not value.strip() or not value.isprintable():
                raise UsageError(f"{at}.{key} = {value!r}: must be a non-empty one-line string")
        for key in ("rule", "reason"):
            if key not in entry:
                raise UsageError(f"{at}: {key!r} is missing; a suppression names its rule and says why")
        out.append(Suppression(entry["rule"], entry["reason"].strip(), entry.get("address", "*"),
                               entry.get("cell", "*"), f"{where}"))
    return out


def inline_suppression(location: Location, root: Path, rule: str) -> Suppression | None:
    """`# stackmatrix: ignore[RULE, ...] reason` on the construct's lines or the line just above."""
    if not location.in_python:
        return None
    path = Path(root) / location.uri if location.base else Path(location.uri.removeprefix("file://"))
    lines = _source_lines(str(path))
    last = location.end_line or location.start_line
    for n in range(max(1, location.start_line - 1), min(len(lines), last) + 1):
        m = INLINE.search(lines[n - 1])
        if m is None:
            continue
        rules = [r.strip() for r in m.group("rules").split(",")]
        if any(fnmatch.fnmatchcase(rule, r) for r in rules) and m.group("reason").strip():
            return Suppression(rule, m.group("reason").strip(), where=f"{location.uri}:{n}")
    return None


# -- the log ----------------------------------------------------------------------------------------

@dataclass
class Source:
    """One synthesized document the findings of a cell refer to."""

    cell: str
    path: Path
    data: Mapping[str, Any] = field(default_factory=dict)


def fingerprint(f: FindingInfo, uri: str) -> str:
    text = "\x1f".join((f.rule, _bare(f.address), f.argument, uri))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _tool_version() -> str:
    try:
        return metadata.version("stackmatrix")
    except metadata.PackageNotFoundError:
        return "0.0.0"


def _information_uri() -> str:
    try:
        urls = metadata.metadata("stackmatrix").get_all("Project-URL") or []
    except metadata.PackageNotFoundError:
        urls = []
    for entry in urls:
        _label, _, url = entry.partition(",")
        if url.strip().startswith("http"):
            return url.strip()
    return (PROJECT_ROOT / "README.md").resolve().as_uri()


def _region(loc: Location) -> dict[str, int]:
    region = {"startLine": loc.start_line, "startColumn": loc.start_column}
    if loc.end_line is not None:
        region["endLine"] = loc.end_line
    if loc.end_column is not None:
        region["endColumn"] = max(loc.end_column, 1)
    return region


def _physical(loc: Location) -> dict[str, Any]:
    artifact = {"uri": loc.uri, "uriBaseId": SRCROOT} if loc.base else {"uri": loc.uri}
    return {"artifactLocation": artifact, "region": _region(loc)}


def _rule_descriptor(info: RuleInfo, fix: str) -> dict[str, Any]:
    fix = info.fix or fix
    parts = [info.description]
    if info.aws_error:
        parts.append(f"AWS error prevented: {info.aws_error}")
    if info.breaks:
        parts.append(f"What breaks: {info.breaks}")
    if fix:
        parts.append(f"Fix: {fix}")
    if info.source:
        parts.append(f"Source: {info.source}")
    text = "\n".join(parts)
    descriptor: dict[str, Any] = {
        "id": info.id, "name": "".join(w.capitalize() for w in re.split(r"[^A-Za-z0-9]+", info.id) if w),
        "shortDescription": {"text": info.title},
        "fullDescription": {"text": info.description},
        "help": {"text": text, "markdown": "\n\n".join(parts)},
        "defaultConfiguration": {"level": LEVELS.get(info.severity, "error")},
        "properties": {"tags": ["aws", "cdktf", "terraform"], "severity": info.severity},
    }
    if info.source.startswith(("http://", "https://")):
        descriptor["helpUri"] = info.source
    return descriptor


@dataclass
class Located:
    """One finding with where it points and, when suppressed, the suppression that applies."""

    finding: FindingInfo
    primary: Location
    related: Location | None
    suppression: Suppression | None = None
    inline: bool = False


def locate(findings: Iterable[Any], sources: Sequence[Source], root: Path,
           suppressions: Sequence[Suppression] = ()) -> list[Located]:
    """Each finding's location (the Python line, else the JSON block) and its suppression, if any."""
    root = Path(root).resolve()
    locators = {s.cell: Locator(s.path, s.data, root) for s in sources}
    default = locators[sources[0].cell] if sources else None
    out = []
    for raw in findings:
        f = as_finding(raw)
        locator = locators.get(f.cell) or default
        if f.rule == "cdktf-json" and f.address.endswith("cdktf.json"):
            path = Path(f.address).resolve()
            try:
                primary, related = Location(path.relative_to(root).as_posix(), 1), None
            except ValueError:
                primary, related = Location(path.as_uri(), 1, base=False), None
        elif locator is None:
            primary, related = Location(SYNTH_FILE, 1, base=False), None
        else:
            primary, related = locator.locate(f.address)
        external = next((s for s in suppressions if s.matches(f)), None)
        inline = None if external is not None else inline_suppression(primary, root, f.rule)
        out.append(Located(f, primary, related, external or inline, inline is not None))
    return out


def build_log(findings: Iterable[Any], sources: Sequence[Source], root: Path, *,
              rules: Mapping[str, Any] | None = None, suppressions: Sequence[Suppression] = (),
              located: Sequence[Located] | None = None,
              notifications: Sequence[Mapping[str, str]] = ()) -> dict[str, Any]:
    """The SARIF 2.1.0 log of `findings` (see the module docstring); pass `located` to reuse `locate()`.

    `notifications` ({"id", "level", "text"}) are what the tool could not check, not findings about the
    code: they go to the run's invocation as `toolExecutionNotifications`."""
    root = Path(root).resolve()
    located = list(located) if located is not None else locate(findings, sources, root, suppressions)
    infos: dict[str, RuleInfo] = {}
    first_fix: dict[str, str] = {}
    grouped: dict[tuple, dict[str, Any]] = {}
    for item in located:
        f, primary = item.finding, item.primary
        infos.setdefault(f.rule, rule_info(f.rule, rules))
        first_fix.setdefault(f.rule, f.fix)
        key = (f.rule, _bare(f.address), f.argument, f.message, primary.uri, primary.start_line, f.stage,
               item.suppression is not None)
        entry = grouped.setdefault(key, {"item": item, "cells": []})
        if f.cell and f.cell not in entry["cells"]:
            entry["cells"].append(f.cell)
    rule_ids = sorted(infos)
    results = [_result(e["item"], e["cells"], infos[e["item"].finding.rule], rule_ids) for e in grouped.values()]
    driver = {"name": "stackmatrix", "version": _tool_version(), "semanticVersion": _tool_version(),
              "informationUri": _information_uri(),
              "rules": [_rule_descriptor(infos[r], first_fix.get(r, "")) for r in rule_ids]}
    run: dict[str, Any] = {
        "tool": {"driver": driver},
        "originalUriBaseIds": {SRCROOT: {"uri": root.as_uri() + "/"}},
        "columnKind": "unicodeCodePoints",
        "results": results,
    }
    if notifications:
        run["invocations"] = [{"executionSuccessful": True, "toolExecutionNotifications": [
            {"level": LEVELS.get(n["level"], "warning"), "message": {"text": n["text"]}, "descriptor": {"id": n["id"]}}
            for n in notifications]}]
    return {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}


def _bare(address: str) -> str:
    """The address without a `cell:` prefix (cross-cell rules name the cell in it)."""
    if ":" in address and not address.startswith(("aws_", "data.", "terraform.", "provider.")):
        return address.split(":", 1)[1]
    return address


def _result(item: Located, cells: list[str], info: RuleInfo, rule_ids: list[str]) -> dict[str, Any]:
    f, primary, related = item.finding, item.primary, item.related
    text = f"{f.message}. Fix: {f.fix}" if f.fix else f.message
    if cells:
        text += f" (cell{'s' if len(cells) > 1 else ''} {', '.join(cells)})"
    location: dict[str, Any] = {"physicalLocation": _physical(primary)}
    if f.address:
        location["logicalLocations"] = [{"fullyQualifiedName": _bare(f.address), "kind": "resource"}]
    props: dict[str, Any] = {"address": f.address, "cells": cells, "stage": f.stage}
    if f.argument:
        props["argument"] = f.argument
    if primary.construct:
        props["construct"] = primary.construct
    if f.value is not None and _jsonable(f.value):
        props["value"] = f.value
    result: dict[str, Any] = {
        "ruleId": f.rule, "ruleIndex": rule_ids.index(f.rule), "level": LEVELS.get(info.severity, "error"),
        "message": {"text": text}, "locations": [location],
        "partialFingerprints": {FINGERPRINT: fingerprint(f, primary.uri)}, "properties": props,
    }
    if related is not None:
        result["relatedLocations"] = [{"id": 1, "physicalLocation": _physical(related),
                                       "message": {"text": "the synthesized block (cdk.tf.json)"}}]
    if item.suppression is not None:
        result["suppressions"] = [{"kind": "inSource" if item.inline else "external", "status": "accepted",
                                   "justification": item.suppression.reason,
                                   "properties": {"source": item.suppression.where}}]
    return result


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def suppressed(result: Mapping[str, Any]) -> bool:
    return bool(result.get("suppressions"))


def write(log: Mapping[str, Any], path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(log, indent=2))
    return path
