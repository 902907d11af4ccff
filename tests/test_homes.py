"""One named home per helper: each job below is done in exactly one module, and these tests pin it.

A second home would drift from the first (two /proc parsers with different zombie semantics, two
deployment-record readers with different validation, ...). The tests read the shipped sources with
`ast` (string constants and calls, docstrings left out) and fail naming the file that grew a copy.
The test harnesses (tests/reliability/harness, tests/bench) are test code outside the package.
"""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def sources() -> dict[str, ast.Module]:
    out = {}
    for pkg in ("matrix", "reports", "suites", "stack"):
        for path in sorted((ROOT / pkg).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            out[rel] = ast.parse(path.read_text(), rel)
    return out


SOURCES = sources()


def docstrings(tree: ast.Module) -> set[int]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                out.add(id(first.value))
    return out


def strings(tree: ast.Module) -> list[str]:
    """Every string constant of a module (f-string parts included), docstrings left out."""
    skip = docstrings(tree)
    return [n.value for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in skip]


def where(predicate) -> list[str]:
    return sorted(rel for rel, tree in SOURCES.items() if predicate(tree))


def calls(tree: ast.Module, owner: str, name: str) -> bool:
    """Does the module call `owner.name(...)` (os.replace) or a bare `name(...)` imported from it?"""
    for n in ast.walk(tree):
        if isinstance(n, ast.Call):
            f = n.func
            if (isinstance(f, ast.Attribute) and f.attr == name and isinstance(f.value, ast.Name)
                    and f.value.id == owner):
                return True
            if isinstance(f, ast.Name) and f.id == name and owner == "tempfile":
                return True
    return False


def test_only_matrix_procs_reads_proc():
    assert where(lambda t: any(s == "/proc" or s.startswith("/proc/") for s in strings(t))) == ["matrix/procs.py"]


def test_only_matrix_files_writes_atomically():
    renames = where(lambda t: calls(t, "os", "replace") or calls(t, "os", "rename") or calls(t, "tempfile", "mkstemp"))
    assert renames == ["matrix/files.py"]


def test_only_matrix_paths_names_the_synth_file():
    assert where(lambda t: "cdk.tf.json" in strings(t)) == ["matrix/paths.py"]


def test_only_matrix_suites_builds_the_pytest_command():
    def runs_pytest(tree: ast.Module) -> bool:
        for n in ast.walk(tree):
            if isinstance(n, ast.List):
                items = [e.value for e in n.elts if isinstance(e, ast.Constant)]
                if any(a == "-m" and b == "pytest" for a, b in itertools.pairwise(items)):
                    return True
        return False

    assert where(runs_pytest) == ["matrix/suites.py"]


def test_only_the_deployment_class_reads_deployment_records():
    """No module builds a Deployment from a file's keys but Deployment.read (matrix/targets/base.py)."""
    def builds_from_keys(tree: ast.Module) -> bool:
        return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "Deployment"
                   and any(k.arg is None for k in n.keywords) for n in ast.walk(tree))

    assert where(builds_from_keys) == []
    base = SOURCES["matrix/targets/base.py"]
    readers = [n.name for n in ast.walk(base) if isinstance(n, ast.FunctionDef)
               and any(isinstance(c, ast.Call) and isinstance(c.func, ast.Name) and c.func.id == "cls"
                       and any(k.arg is None for k in c.keywords) for c in ast.walk(n))]
    assert readers == ["read"]


def test_leak_detection_asks_the_handlers():
    """matrix/leaks.py names no resource type: each handler finds its own leftovers."""
    assert [s for s in strings(SOURCES["matrix/leaks.py"]) if s.startswith("aws_")] == []
    from matrix.engines.embedded.resources import HANDLERS

    ranks = {t: h.sweep_rank for t, h in HANDLERS.items() if h.sweep_rank != 99}
    assert min(ranks, key=ranks.get) == "aws_flow_log" and ranks["aws_vpc"] < ranks["aws_iam_role"]
