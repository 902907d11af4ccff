"""Benchmarks that print side-by-side ratios (`nox -s bench -- <name>`).

* `matrix.bench.proxy`  the fault proxy against direct calls to a moto server: added latency, throughput
"""
