"""The import graph of the shipped code runs one way: no cycles, no module importing a layer above it.

Every module of matrix/, reports/, suites/ and stack/ is parsed with `ast`; its imports are read at
module level and inside functions alike (a lazy import is still a dependency). A module's layer is
the most specific entry of `LAYERS` that names it or a package above it; a module no entry names
fails the test, so a new module gets a place on purpose.

Function-level imports of the project's own modules are allowed only where they keep start-up fast
(the CDK load, boto3 and moto in commands that do not need them, a heavy catalogue) or break no
rule otherwise: each carries a `# lazy: why` comment.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("matrix", "reports", "suites", "stack")

# Lowest first. A module may import its own layer or one below it, never one above.
LAYERS: dict[str, list[str]] = {
    "base": ["matrix.paths", "matrix.errors", "matrix.redact", "matrix.files", "matrix.procs",
             "matrix.devenv", "matrix.regions"],
    "data": ["matrix.state", "matrix.clients", "matrix.cells", "matrix.options", "matrix.results",
             "matrix.gates", "matrix.catalogue", "stack",
             "matrix.sarif",  # the findings format: profiles check their [[suppress]] tables with it
             "matrix.chaos.codes", "matrix.chaos.catalog",  # data only: what AWS answers (the client counts throttles)
             "matrix.chaos.scenarios",  # the scenario table: profiles name their faults from it
             "reports.counters"],  # the one reader of the runner's counters (the gates count with it)
    "stages": ["matrix.engines", "matrix.targets", "matrix.chaos", "reports", "suites", "matrix.leaks",
               "matrix.synth", "matrix.synthd", "matrix.suites", "matrix.suite_worker", "matrix.check",
               "matrix.findings", "matrix.progress", "matrix.pytest_cdktf", "stack.app"],
    "runner": ["matrix.runner", "matrix.ops", "matrix.devloop"],
    "cli": ["matrix.__main__", "matrix.chaos.cli", "reports.cli", "matrix.targets.localstack_cli"],
}
ORDER = list(LAYERS)


def modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


MODULES = modules()


def known(name: str) -> str | None:
    """The module (or package) of ours that `name` is or lives in, None for a third-party name."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def layer_of(module: str) -> str | None:
    if module in PACKAGES:
        return "base"  # the top packages' __init__: docstrings only
    best, where = -1, None
    for layer, prefixes in LAYERS.items():
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, where = len(prefix), layer
    return where


def imports(module: str) -> list[tuple[str, int, bool]]:
    """(imported module, line, inside a function) for every import of ours in `module`."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(), str(path))
    in_function: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            in_function.update(id(n) for n in ast.walk(node) if n is not node)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            # `from a.b import c`: c is a module of ours, or a name inside a.b
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        else:
            continue
        for name in names:
            target = known(name)
            if target and target != module:
                out.append((target, node.lineno, id(node) in in_function))
    return out


GRAPH = {m: imports(m) for m in MODULES}


def test_every_module_has_a_layer():
    assert [m for m in MODULES if layer_of(m) is None] == []


def test_no_module_imports_a_layer_above_it():
    upward = [f"{m}:{line} ({layer_of(m)}) imports {t} ({layer_of(t)})"
              for m, edges in GRAPH.items() for t, line, _ in edges
              if ORDER.index(layer_of(t) or "base") > ORDER.index(layer_of(m) or "base")]
    assert upward == []


def test_no_import_cycles():
    """Tarjan's strongly connected components over module-level and function-level imports."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w, _, _ in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in MODULES:
        if v not in index:
            visit(v)
    assert cycles == []


def test_function_level_imports_say_why():
    unmarked = []
    for m, path in MODULES.items():
        lines = path.read_text().splitlines()
        for _target, line, lazy in GRAPH[m]:
            if lazy and "# lazy" not in lines[line - 1]:  # a wrapped import: on its first line
                unmarked.append(f"{path.relative_to(ROOT)}:{line}: {lines[line - 1].strip()}")
    assert sorted(set(unmarked)) == []


@pytest.mark.parametrize(("module", "layer"), [("matrix.runner", "runner"), ("matrix.state.backend", "data"),
                                               ("matrix.chaos.cli", "cli"), ("matrix.chaos.proxy", "stages")])
def test_layer_map_reads_as_written(module, layer):
    assert layer_of(module) == layer


def test_the_engines_share_state_code_not_each_other():
    """Both engines build on matrix/state/; neither reaches into the other, and the state package
    depends on no engine."""
    assert [t for t, _, _ in GRAPH["matrix.engines.terraform"] if t.startswith("matrix.engines.embedded")] == []
    for module in (m for m in MODULES if m.startswith("matrix.state")):
        assert [t for t, _, _ in GRAPH[module] if t.startswith("matrix.engines")] == [], module
