"""When the embedded engine writes state to the bucket (matrix/engines/embedded/engine.py, Persister).

The local copy is written at every change; the bucket at the first change, then at most every
`state_persist_interval` seconds while the operation goes on (terraform's 20 s rule), and at its end,
also when it fails. Pinned against the real backend on the moto server: a burst of changes costs two
bucket writes, a long operation still gets intermediate writes, a failure's `close()` writes the last
state without waiting out the interval, and a killed process's newer local copy is what `read()`
returns, so nothing the operation made is lost in between.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

from matrix.engines.embedded.engine import Persister
from matrix.state.tfstate import State
from tests.test_engine import engine_for, unique_bucket


def _writer(dev_synth, tmp_path, clients, interval: float):
    """A real backend (bucket on the moto server, local copy), an empty state and its Persister."""
    engine = engine_for(unique_bucket(dev_synth, tmp_path), clients, tmp_path)
    engine.backend_check(bootstrap=True)
    backend, state = engine.backend, State()
    return backend, state, Persister(backend, state, lambda _msg: None, interval=interval)


def _change(state: State, i: int) -> None:
    state.set(f"aws_vpc.v{i}", {"id": f"vpc-{i:08x}"})


def _until(condition, timeout: float = 20.0) -> None:
    """Wait for the writer thread (a loaded machine may take seconds); fail naming the timeout."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not reached within {timeout} s"
        time.sleep(0.02)


def test_a_burst_of_changes_costs_two_bucket_writes_and_the_local_copy_is_always_the_latest(
        dev_synth, tmp_path, clients):
    backend, state, persister = _writer(dev_synth, tmp_path, clients, interval=30.0)
    try:
        for i in range(12):
            _change(state, i)
            persister.changed()
            assert backend.read_local().serial == state.serial  # every change on disk at once
        _until(lambda: persister.writes >= 1)
        time.sleep(0.3)
        assert persister.writes == 1  # the first change went to the bucket, the rest wait for the interval
        assert backend.read_remote().serial < state.serial
        # a process killed here loses nothing: read() takes the newer local copy
        read, origin = backend.read()
        assert read.serial == state.serial and "local copy" in origin
        persister.flush()
        assert persister.writes == 2 and backend.read_remote().serial == state.serial
    finally:
        persister.close()


def test_a_long_operation_gets_intermediate_bucket_writes(dev_synth, tmp_path, clients):
    backend, state, persister = _writer(dev_synth, tmp_path, clients, interval=0.4)
    try:
        for i in range(10):
            _change(state, i)
            persister.changed()
            time.sleep(0.15)
        _until(lambda: persister.written_serial == state.serial)  # no flush: the interval alone catches up
        assert 3 <= persister.writes < 10
        assert backend.read_remote().serial == state.serial
    finally:
        persister.close()


def test_close_after_a_failure_writes_the_last_state_without_waiting_out_the_interval(
        dev_synth, tmp_path, clients):
    backend, state, persister = _writer(dev_synth, tmp_path, clients, interval=60.0)
    _change(state, 0)
    persister.changed()
    _until(lambda: persister.writes == 1)  # the first change is in the bucket; the next wait 60 s
    for i in range(1, 3):
        _change(state, i)
        persister.changed()
    started = time.monotonic()
    persister.close()  # what apply's `finally` does when a create failed
    assert time.monotonic() - started < 10
    assert backend.read_remote().serial == state.serial and persister.writes == 2


def test_close_while_a_write_is_in_flight_still_writes_the_latest_state(dev_synth, tmp_path, clients):
    """CI caught this: close() during the first write ended the writer with the later changes unwritten."""
    backend, state, persister = _writer(dev_synth, tmp_path, clients, interval=60.0)
    write_remote, in_flight, release = backend.write_remote, threading.Event(), threading.Event()

    def held_write(snapshot):  # the real write, held open until close() has been called
        in_flight.set()
        assert release.wait(20)
        return write_remote(snapshot)

    backend.write_remote = held_write
    _change(state, 0)
    persister.changed()
    assert in_flight.wait(20)
    for i in range(1, 3):
        _change(state, i)
        persister.changed()
    closer = threading.Thread(target=persister.close)
    closer.start()
    _until(lambda: persister._stop)
    release.set()
    closer.join(30)
    assert not closer.is_alive()
    assert backend.read_remote().serial == state.serial == 3 and persister.writes == 2


def test_a_dev_apply_writes_the_bucket_twice_where_every_change_would_write_it(dev_synth, tmp_path, clients):
    """33 resources: the lock file and two state snapshots, against one write per change at interval 0."""
    counts = {}
    for interval in (20.0, 0.0):
        before = Counter(clients.counters.as_dict()["operations"])
        engine = engine_for(unique_bucket(dev_synth, tmp_path / str(interval)), clients, tmp_path / str(interval),
                            state_persist_interval=interval)
        engine.apply()
        after = Counter(clients.counters.as_dict()["operations"])
        counts[interval] = after["s3:PutObject"] - before["s3:PutObject"]
        assert engine.backend.read_remote().serial == engine.state.serial
        assert sorted(engine.backend.read_remote().addresses()) == sorted(engine.state.addresses())
        engine.destroy()
    assert counts[20.0] <= 3, counts  # lock file + first change + end
    assert counts[0.0] >= 10, counts
