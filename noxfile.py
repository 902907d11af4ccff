"""nox sessions: thin wrappers over `python -m matrix ...` and pytest, in one shared environment.

Every session runs with `python=False` in `.nox/shared`, which matrix/devenv.py creates and updates
only when pyproject.toml changes: a second `nox -s synth` installs nothing.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nox

sys.path.insert(0, str(Path(__file__).parent))
from matrix import devenv

nox.options.sessions = ["lint", "tests"]
nox.options.default_venv_backend = "none"
NIGHTLY_REGIONS, NIGHTLY_SUFFIXES = devenv.nightly_axes()


def _env(session: nox.Session, node: bool = False) -> devenv.Env:
    env = devenv.ensure(log=session.log)
    if node:
        devenv.ensure_node(log=session.log)
    return env


def _matrix(session: nox.Session, env: devenv.Env, *args: str) -> None:
    session.run(env.python, "-m", "matrix", *args, env=env.env(), external=True)


@nox.session(python=False)
def tests(session: nox.Session) -> None:
    """The project's own tests (unit and end-to-end on the emulators)."""
    env = _env(session, node=True)
    args = session.posargs or ["tests", "--ignore=tests/reliability"]  # that battery: nox -s reliability
    session.run(env.python, "-m", "pytest", *args, env=env.env(), external=True)


@nox.session(python=False)
def lint(session: nox.Session) -> None:
    """ruff over the whole project, then mypy over the typed contracts and their callers (pyproject.toml)."""
    env = _env(session)
    session.run(env.python, "-m", "ruff", "check", ".", *session.posargs, env=env.env(), external=True)
    session.run(env.python, "-m", "mypy", env=env.env(), external=True)


@nox.session(python=False)
def synth(session: nox.Session) -> None:
    """Synthesize the cells of a profile (default nightly) and run the synth policy suite."""
    env = _env(session)
    _matrix(session, env, "synth", "--check", *(session.posargs or ["--profile", "nightly"]))


@nox.session(python=False)
@nox.parametrize("suffix", NIGHTLY_SUFFIXES)
@nox.parametrize("region", NIGHTLY_REGIONS)
def cell(session: nox.Session, region: str, suffix: str) -> None:
    """One nightly cell end to end on the embedded emulator (extra flags after --)."""
    env = _env(session, node=True)
    _matrix(session, env, "run", "--profile", "nightly", "--region", region, "--suffix", suffix,
            "--bootstrap-backend", *session.posargs)


@nox.session(python=False)
def matrix(session: nox.Session) -> None:
    """The main job: the dev profile on the embedded emulator, end to end, then the report.

    `nox -s matrix -- --profile nightly --jobs 4` runs another profile with other flags.
    """
    env = _env(session, node=True)
    _matrix(session, env, "run", *(session.posargs or ["--profile", "dev"]), "--bootstrap-backend")


@nox.session(python=False)
def dev(session: nox.Session) -> None:
    """The dev loop: the dev cell kept deployed, redeployed and retested (`-- --watch` stays warm)."""
    env = _env(session)
    _matrix(session, env, "dev", *session.posargs)


@nox.session(python=False)
def chaos(session: nox.Session) -> None:
    """Every fault scenario on the dev cell, each judged against its expectation, then the report."""
    env = _env(session, node=True)
    _matrix(session, env, "run", "--profile", "chaos", "--bootstrap-backend", *session.posargs)


@nox.session(python=False)
def report(session: nox.Session) -> None:
    """Rebuild the Allure report from build/ (flags after --: --merge DIR, --single-file, --publish)."""
    env = _env(session, node=True)
    _matrix(session, env, "report", *session.posargs)


@nox.session(python=False)
def localstack(session: nox.Session) -> None:
    """Managed LocalStack in host mode: `nox -s localstack -- start|stop|status`."""
    env = _env(session)
    _matrix(session, env, "localstack", *(session.posargs or ["status"]))


@nox.session(python=False)
def reliability(session: nox.Session) -> None:
    """The reliability battery: kill trials, signals, fuzzing, emulator restart, secrets, listeners.

    The harness (tests/reliability/harness) prints the figures (build/reliability/summary.json); the tests
    assert them. `-- --tests-only` (CI) runs only the asserted battery: it measures the same batteries and
    writes its figures to build/reliability/pytest-summary.json, in half the time.
    """
    env = _env(session, node=True)
    args = [a for a in session.posargs if a != "--tests-only"]
    if len(args) == len(session.posargs):
        session.run(env.python, "tests/reliability/harness", *args, env=env.env(), external=True)
    session.run(env.python, "-m", "pytest", "tests/reliability", "-q", env=env.env(), external=True)


@nox.session(python=False)
def fidelity(session: nox.Session) -> None:
    """What each stage (synth, strict emulator, live suite) catches of the public AWS-refusal corpus, alone,
    and its false positives on the clean stacks: `nox -s fidelity -- --stage synth`."""
    env = _env(session)
    session.run(env.python, "tests/fidelity/harness.py", *session.posargs, env=env.env(), external=True)


@nox.session(python=False)
def bench(session: nox.Session) -> None:
    """Benchmarks printing side-by-side ratios: `nox -s bench -- synth` (the code: tests/bench)."""
    env = _env(session, node=True)
    session.run(env.python, "tests/bench", *(session.posargs or ["synth"]), env=env.env(), external=True)
