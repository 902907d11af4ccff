"""The embedded engine's apply and destroy order (graphlib.TopologicalSorter in `_run_graph`):
dependencies first, what is ready together run together, the first failure stops new work, and a
dependency cycle fails naming every node it blocks, once everything else has run."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from matrix.engines.embedded.engine import EmbeddedEngine
from matrix.errors import StackmatrixError

DEPS = {"a": set(), "b": {"a"}, "c": {"a"}, "d": {"b", "c"}, "x": {"y"}, "y": {"x"}, "z": {"x"}, "w": {"q"}}


@pytest.fixture
def engine(dev_synth, clients, tmp_path) -> EmbeddedEngine:
    return EmbeddedEngine("order", dev_synth, clients, tmp_path / "state")


def run_graph(engine: EmbeddedEngine, todo: set[str], done: set[str], fail: str = "") -> list[str]:
    ran: list[str] = []
    lock = threading.Lock()

    def work(address: str) -> None:
        with lock:
            ran.append(address)
        if address == fail:
            raise RuntimeError(f"{address} failed")

    with ThreadPoolExecutor(max_workers=4) as pool:
        engine._run_graph(todo, done, lambda a: DEPS[a], work, pool)
    return ran


def test_dependencies_run_first_and_a_cycle_is_named_after_the_rest(engine):
    ran: list[str] = []
    with pytest.raises(StackmatrixError, match=r"^cannot order: w, x, y, z$"):
        ran = run_graph(engine, set(DEPS), set())
    done: set[str] = set()
    with pytest.raises(StackmatrixError):
        run_graph(engine, {"a", "b", "c", "d", "x", "y"}, done)
    assert done == {"a", "b", "c", "d"}  # everything orderable ran before the error
    assert ran == []


def test_order_and_what_is_already_done(engine):
    ran = run_graph(engine, {"a", "b", "c", "d"}, set())
    assert ran[0] == "a" and set(ran[1:3]) == {"b", "c"} and ran[3] == "d"
    assert run_graph(engine, {"d"}, {"b", "c"}) == ["d"]


def test_the_first_failure_stops_new_work(engine):
    done: set[str] = set()
    with pytest.raises(RuntimeError, match="a failed"):
        run_graph(engine, {"a", "b", "c", "d"}, done, fail="a")
    assert done == set()
