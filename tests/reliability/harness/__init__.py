"""The reliability battery: measured proof that stackmatrix keeps terraform's promises under abuse.

    python tests/reliability/harness [--trials N] [--seed S] [--fuzz-examples N]
                                     [--only kill|signals|fuzz|restart|secrets ...]

(`nox -s reliability`) runs each battery against real processes on a real moto server (no mocks),
prints the figures as a table and writes them to build/reliability/summary.json. The tests beside
this package (tests/reliability/test_rel_*.py) run the same batteries with CI-sized counts and
assert the figures. It lives under tests/ so that the shipped package carries none of it (it needs
hypothesis, a dev-only package); inside it, modules import each other as `harness.*` (tests/reliability
is on sys.path: pytest puts it there, and so do `__main__` and `procs.python_env` for child
processes). Each module has one concern:

* `workspace`  an isolated build folder per battery, the synthesized cells, a moto server
               subprocess, a fresh emulator account per trial, a per-trial copy of a cell's
               cdk.tf.json with its own state bucket
* `procs`      child processes: spawn in a group of their own, wait for a condition, signal, reap
* `census`     what really exists in a cell's account, counted per resource kind (duplicates,
               orphans and leaks are differences between this and the state / the configuration)
* `driver`     `python -m harness.driver`: the embedded engine's apply (or destroy) in a
               child process, which can pause right before or right after the n-th create call of a
               kind (botocore events), so that a SIGKILL lands exactly in that crash window
* `kill`       kill trials: SIGKILL an apply at seeded points over the resource kinds and counts,
               re-apply (converges, adopts, no duplicates), destroy (no leaks); the stale-lock policy
* `signals`    SIGINT / SIGTERM to `python -m matrix run` during a parallel matrix run
* `fuzz`       hypothesis over profile TOML, chaos rule files, cell ids and suffixes, CLI arguments
* `restart`    the moto server killed and started again in the middle of an apply
* `secretscan` fake secrets in the environment never reach a file under build/; listeners
* `listeners`  the listening sockets of a process tree, read from /proc/net/{tcp,tcp6,udp,udp6}
* `summary`    the figures, their table and build/reliability/summary.json

The stale-lock policy itself lives with the engine: matrix/state/stale_lock.py.
"""
