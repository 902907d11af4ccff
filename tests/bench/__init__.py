"""Benchmarks that print side-by-side ratios (`nox -s bench -- <name>`; the modules are `bench.*`).

They live under tests/ so that the shipped package carries none of them: pyproject's package
discovery includes only stack, matrix, suites and reports. `python tests/bench NAME` runs them
(`__main__` puts tests/ and the project root first on sys.path); under pytest tests/ is already on
sys.path (tests/conftest.py sits in a folder without __init__.py), so `import bench.measure` works
there too.

* `bench.synth`    one-process synth against one process per cell, peak memory, the synth cache
* `bench.deploy`   one cell on moto (calls per resource, re-apply), moto subprocess vs in-process
* `bench.chaos`    the fault proxy's cost (`bench.proxy`) and the prerelease gate
* `bench.devloop`  the nightly at --jobs 1/2/4 and the dev loop (new process, --watch)
* `bench.cost`     `matrix` and `scale`: a whole run's wall, CPU and peak memory over its entire process
                   tree, per phase, cell step and process kind; old code (a baseline worktree) against
                   new, alternately; 12 against 96 cells (profiles.toml: bench-only profiles)
* `bench.tree`     the process-tree account (cgroup v2, else /proc polling): the bench's only /proc reader
* `bench.profile_cell`  one cell under a per-thread cProfile, next to the tree's CPU by process
* `bench.clients`  a cell's client factory: a botocore loader of its own against the shared one
* `bench.measure`  shared helpers: wall time, peak RSS of a child's tree, tables, build/bench/*.json
* `bench.proxy`    the fault proxy against direct calls to a moto server: added latency, throughput

What they found: docs/performance.md.
"""
