"""The fuzz battery: stackmatrix's inputs, right and wrong, must never end in a traceback.

Targets (strategies in tests/reliability/harness/strategies.py), each run for N hypothesis examples with the
battery's seed, most of them in-process through `matrix.__main__.main(argv)` (fast), a sample of
them as real `python -m matrix ...` processes:

* `profiles`  a profile TOML file: `cells --profiles FILE --profile P [--format json]`
* `rules`     a chaos rule file: `matrix.chaos.load_rules(FILE)` in-process (a RuleSet or a UsageError;
              a RuleSet must also survive `to_dict()` -> `parse_rules()` unchanged, as its docstring
              promises); the sample runs `python -m matrix proxy --rules FILE --upstream URL`, which
              must exit 2 before listening for a bad file, and listen on 127.0.0.1 for a good one
* `ids`       cell ids and suffixes: `cells --region/--suffix/--fault/--shard`, `env CELL`,
              `destroy CELL...`, `force-unlock ID --cell CELL`, `sweep --run-id ID`, in a build folder
              holding one real deployment record (on the battery's moto server), a ledger and outputs
* `cli`       any subcommand with any of its options and values, read from the real parser; commands
              that would start real work when the input is good (run, dev, synth, report, proxy,
              localstack) get one "poison" argument last that their validation must refuse, so the
              example runs every check and then stops with exit 2
* `check`     `check FILE` on Terraform JSON documents: a real cdk.tf.json with a part replaced,
              profile-shaped documents with junk, or junk

The verdict on each example (`judge`): exit 0 or 1 with no traceback, or exit 2 whose last stderr
line is the one `error: ...` line (argparse's own usage error counts too). A traceback, "internal
error" (the CLI's catch-all for unexpected exceptions, whose trace it writes to build/logs/crash.txt),
any other exit code or an error message broken over several lines is a problem; problems are
grouped by signature (exception type and innermost frame) with the shortest example that showed it.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hseed
from hypothesis import strategies as st

from harness import strategies as S
from harness.listeners import listening
from harness.procs import Child
from harness.workspace import Moto, Workspace, fresh_access
from matrix.paths import BUILD_ENV

TARGETS = ("profiles", "rules", "ids", "cli", "check")
#: commands that would do real work on good input, and the argument (last) that must stop them
POISON = {
    "run": ["--target", "aws"],          # the real-account guard refuses without --allow-real-aws
    "dev": ["--target", "aws"],          # the dev loop refuses real accounts
    "synth": ["--shard", "0/1"],         # checked after every cell was expanded and validated
    "report": ["--merge", "/nonexistent/fuzz-shard"],
    "proxy": ["--upstream", "fuzz://not-http"],
    "localstack": ["--port", "70000"],   # checked before start, stop or status
}
EXCLUDED_OPTIONS = frozenset({"--allow-real-aws", "--yes", "--watch", "--open"})
EXTRA_EXIT_CODES = {"localstack": (3,)}  # `localstack status`: not running (documented)


@dataclass
class Outcome:
    code: int | None
    out: str
    err: str
    crash: str = ""


def _decode(buf: io.BytesIO) -> str:
    return buf.getvalue().decode("utf-8", "replace")


def invoke(argv: list[str], build: Path) -> Outcome:
    """`python -m matrix *argv` in this process, with stdout/stderr encoded as a real UTF-8 console's."""
    from matrix.__main__ import main

    crash_file = build / "logs" / "crash.txt"
    crash_file.unlink(missing_ok=True)
    out_b, err_b = io.BytesIO(), io.BytesIO()
    out = io.TextIOWrapper(out_b, encoding="utf-8", errors="strict", write_through=True)
    err = io.TextIOWrapper(err_b, encoding="utf-8", errors="backslashreplace", write_through=True)
    crash = ""
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:  # escaped main(): the user would see this traceback
            code, crash = None, traceback.format_exc()
    with contextlib.suppress(ValueError):
        out.flush()
        err.flush()
    if not crash and crash_file.is_file():
        crash = crash_file.read_text()
    return Outcome(code, _decode(out_b), _decode(err_b), crash)


def run_subprocess(argv: list[str], env: dict[str, str], build: Path, timeout: float = 120) -> Outcome:
    crash_file = build / "logs" / "crash.txt"
    crash_file.unlink(missing_ok=True)
    with Child.python("-m", "matrix", *argv, env=env) as child:
        code = child.wait(timeout)
        out, err = child.stdout(), child.stderr()
    crash = crash_file.read_text() if crash_file.is_file() else ""
    return Outcome(code, out, err, crash)


def signature(o: Outcome, fallback: str) -> str:
    """Exception type and innermost frame of a crash ("ValueError at matrix/cells.py:123 in expand")."""
    text = o.crash or o.err
    frames = [ln.strip() for ln in text.splitlines() if ln.strip().startswith("File ")]
    last = [ln for ln in text.strip().splitlines() if ln and not ln.startswith(" ")]
    where = ""
    if frames:
        parts = frames[-1].split('"')
        path = parts[1] if len(parts) > 1 else frames[-1]
        for marker in ("/matrix/", "/reports/", "/suites/", "/stack/", "/site-packages/"):
            if marker in path:
                path = marker.strip("/") + "/" + path.split(marker, 1)[1]
                break
        rest = parts[2] if len(parts) > 2 else ""
        where = f" at {path}{rest.replace(', line ', ':').replace(', in ', ' in ')}"
    head = (last[-1].split(":")[0] if last else fallback)[:80]
    return f"{head}{where}"


def judge(o: Outcome, extra_codes: tuple[int, ...] = ()) -> tuple[str, str] | None:
    """(kind, detail) of what is wrong with an outcome, None when it is a proper one."""
    if o.crash or "Traceback (most recent call last)" in o.err + o.out:
        return "traceback", signature(o, "Traceback")
    if "internal error" in o.err:
        return "traceback", signature(o, "internal error")
    if o.code not in (0, 1, 2, *extra_codes):
        return "exit", f"exit code {o.code}"
    if o.code != 2:
        return None
    lines = [ln for ln in o.err.split("\n") if ln.strip()]  # "\n" only: a terminal breaks lines there
    if not lines:
        return "message", "exit 2 without a message"
    last = lines[-1]
    if last.startswith("error: "):
        return None
    if any(ln.startswith("usage:") for ln in lines) and any(": error: " in ln for ln in lines):
        return None  # argparse's own usage error (it echoes unknown arguments as they are, newlines too)
    if any(ln.startswith("error: ") for ln in lines):
        return "message", "the error message spans several lines"
    return "message", f"exit 2 without an 'error: ...' line (last line {last[:120]!r})"


@dataclass
class TargetStats:
    name: str
    examples: int = 0
    subprocess_examples: int = 0
    codes: Counter = field(default_factory=Counter)
    problems: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)

    def record(self, kind_detail: tuple[str, str] | None, example: Any, outcome: Outcome | None,
               via: str = "in-process") -> None:
        if outcome is not None:
            self.codes[str(outcome.code)] += 1
        if kind_detail is None:
            return
        kind, detail = kind_detail
        key = f"{kind}: {detail}"
        text = json.dumps(example, ensure_ascii=False, default=str)
        entry = self.problems.get(key)
        if entry is None or len(text) < len(entry["example"]):
            self.problems[key] = {"kind": kind, "count": (entry or {}).get("count", 0) + 1, "example": text,
                                  "via": via, "stderr": (outcome.err if outcome else "")[-600:],
                                  "crash": (outcome.crash if outcome else "")[-1500:]}
        else:
            entry["count"] += 1

    def summary(self) -> dict[str, Any]:
        return {"examples": self.examples, "subprocess_examples": self.subprocess_examples,
                "exit_codes": dict(sorted(self.codes.items())),
                "tracebacks": sum(p["count"] for p in self.problems.values() if p["kind"] == "traceback"),
                "other_problems": sum(p["count"] for p in self.problems.values() if p["kind"] != "traceback"),
                "problems": self.problems, **self.notes}


class FuzzBattery:
    def __init__(self, ws: Workspace, moto_url: str, seed: int, log=print) -> None:
        self.ws = ws
        self.build = ws.root / "fuzz-build"
        self.files = ws.root / "fuzz-files"
        self.url = moto_url
        self.seed = seed
        self.log = log
        self._record_bytes = b""

    # -- the build folder the ids/cli targets see ----------------------------------------------
    def prepare(self) -> None:
        import shutil

        from matrix.targets.base import Deployment

        shutil.rmtree(self.build, ignore_errors=True)
        self.files.mkdir(parents=True, exist_ok=True)
        (self.build / "synth").mkdir(parents=True, exist_ok=True)
        shutil.copytree(self.ws.root / "synth" / "us-east-1-dev", self.build / "synth" / "us-east-1-dev")
        access = fresh_access(self.url, "us-east-1-dev", "us-east-1", "fuzz-run")
        with Workspace(self.build).active():
            d = Deployment(cell="us-east-1-dev", run_id="fuzz-run", target="moto", engine="embedded",
                           region="us-east-1", endpoint=self.url, account_id=access.account_id,
                           access_key=access.access_key, secret_key=access.secret_key, suffix="dev",
                           matrix_profile="dev")
            d.save()
            self._record_bytes = d.path.read_bytes()
            from matrix.ops import record_in_ledger

            record_in_ledger("fuzz-run", {"cell": d.cell, "region": d.region, "suffix": d.suffix, "fault": None,
                                          "target": "moto", "endpoint": self.url, "account_id": d.account_id,
                                          "access_key": d.access_key, "secret_key": d.secret_key})
        (self.build / "outputs").mkdir(exist_ok=True)
        (self.build / "outputs" / "us-east-1-dev.json").write_text(json.dumps({"vpc_id": "vpc-123"}))
        (self.build / "cells" / "us-east-1-dev").mkdir(parents=True, exist_ok=True)
        (self.build / "cells" / "us-east-1-dev" / "result.json").write_text(json.dumps({"status": "passed"}))

    def _restore(self) -> None:
        path = self.build / "deployments" / "us-east-1-dev.json"
        if not path.is_file() or path.read_bytes() != self._record_bytes:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(self._record_bytes)

    @contextlib.contextmanager
    def environment(self) -> Iterator[None]:
        """This process points at the fuzz build; no real AWS credentials or profiles are reachable."""
        keys = (BUILD_ENV, "STACKMATRIX_PROFILES", "AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION", "AWS_EC2_METADATA_DISABLED", "AWS_ENDPOINT_URL",
                "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "STACKMATRIX_AWS_ACCOUNTS")
        saved = {k: os.environ.get(k) for k in keys}
        os.environ.update({BUILD_ENV: str(self.build), "AWS_ACCESS_KEY_ID": "fuzz", "AWS_SECRET_ACCESS_KEY": "fuzz",
                           "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
                           "AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent"})
        for k in ("STACKMATRIX_PROFILES", "AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL",
                  "STACKMATRIX_AWS_ACCOUNTS"):
            os.environ.pop(k, None)
        try:
            yield
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    def child_env(self) -> dict[str, str]:
        return Workspace(self.build).env(**{k: os.environ[k] for k in (
            "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "AWS_EC2_METADATA_DISABLED",
            "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE") if k in os.environ})

    # -- the engine ------------------------------------------------------------------------------
    def _hypothesis(self, strategy: st.SearchStrategy, body: Callable[[Any], None], examples: int) -> None:
        @hseed(self.seed)
        @settings(max_examples=examples, deadline=None, database=None, phases=(Phase.explicit, Phase.generate),
                  suppress_health_check=list(HealthCheck), print_blob=False)
        @given(strategy)
        def prop(example: Any) -> None:
            body(example)

        prop()

    def _sample(self, stats: TargetStats, stride: int, wanted: int) -> bool:
        return stats.subprocess_examples < wanted and stats.examples % stride == 1

    def run_target(self, name: str, examples: int, subprocess_examples: int) -> TargetStats:
        stats = TargetStats(name)
        stride = max(1, examples // max(1, subprocess_examples))
        started = time.monotonic()
        with self.environment():
            getattr(self, f"_target_{name}")(stats, examples, stride, subprocess_examples)
        stats.notes["seconds"] = round(time.monotonic() - started, 1)
        s = stats.summary()
        self.log(f"fuzz {name}: {s['examples']} examples in-process, {s['subprocess_examples']} as processes, "
                 f"exit codes {s['exit_codes']}, tracebacks {s['tracebacks']}, other problems {s['other_problems']} "
                 f"({stats.notes['seconds']} s)")
        for key, p in stats.problems.items():
            self.log(f"  ! {key} (x{p['count']}): {p['example'][:300]}")
        return stats

    def _cli_example(self, stats: TargetStats, argv: list[str], stride: int, wanted: int,
                     extra: tuple[int, ...] = (), example: Any = None) -> None:
        stats.examples += 1
        self._restore()
        o = invoke(argv, self.build)
        shown = argv if example is None else {"argv": argv, "file": example}
        stats.record(judge(o, extra), shown, o)
        if self._sample(stats, stride, wanted) and _argv_ok(argv):
            stats.subprocess_examples += 1
            self._restore()
            o = run_subprocess(argv, self.child_env(), self.build)
            stats.record(judge(o, extra), shown, o, via="subprocess")

    # -- targets ---------------------------------------------------------------------------------
    def _target_profiles(self, stats: TargetStats, n: int, stride: int, wanted: int) -> None:
        path = self.files / "profiles.toml"

        def body(example: tuple[tuple[str, str], bool]) -> None:
            (text, name), as_json = example
            path.write_text(text, encoding="utf-8")
            argv = ["cells", "--profiles", str(path), "--profile", name] + (["--format", "json"] if as_json else [])
            self._cli_example(stats, argv, stride, wanted, example=text)

        self._hypothesis(st.tuples(S.profile_documents(), st.booleans()), body, n)

    def _target_rules(self, stats: TargetStats, n: int, stride: int, wanted: int) -> None:
        from matrix.chaos.rules import load_rules, parse_rules
        from matrix.errors import UsageError

        stats.notes.update(valid_files=0, roundtrips=0, proxy_listeners_checked=0, proxy_listeners_off_loopback=0)

        def body(example: tuple[str, str]) -> None:
            suffix, text = example
            path = self.files / f"rules{suffix}"
            path.write_text(text, encoding="utf-8")
            stats.examples += 1
            valid, o = False, Outcome(0, "", "")
            try:
                rs = load_rules(path)
                valid = True
                stats.notes["valid_files"] += 1
                again = parse_rules(rs.to_dict(), source="round trip")
                if [r.to_dict() for r in again] != [r.to_dict() for r in rs] or again.seed != rs.seed:
                    stats.record(("roundtrip", "to_dict() does not load back to the same rules"),
                                 {"file": text, "to_dict": rs.to_dict()}, None)
                else:
                    stats.notes["roundtrips"] += 1
            except UsageError as exc:
                o = Outcome(2, "", f"error: {exc}")
                stats.record(judge(o), text, o)
            except Exception:
                o = Outcome(None, "", "", traceback.format_exc())
                stats.record(judge(o), text, o)
            else:
                stats.codes["0"] += 1
            if self._sample(stats, stride, wanted) and "\x00" not in text:
                stats.subprocess_examples += 1
                self._proxy_process(stats, path, text, valid)

        self._hypothesis(S.rule_documents(), body, n)

    def _proxy_process(self, stats: TargetStats, path: Path, text: str, valid: bool) -> None:
        """The rule file through `python -m matrix proxy`: exit 2 before listening, or listen on loopback."""
        argv = ["proxy", "--rules", str(path), "--upstream", self.url]
        with Child.python("-m", "matrix", *argv, env=self.child_env()) as child:
            listened = child.wait_for(lambda: bool(child.out), 30, poll=0.02)
            if listened:
                socks = listening(child.pid)
                stats.notes["proxy_listeners_checked"] += len(socks)
                off = [s.line() for s in socks if not s.loopback]
                if off:
                    stats.notes["proxy_listeners_off_loopback"] += len(off)
                    stats.record(("listener", f"proxy listens off loopback: {off}"), text, None, "subprocess")
                child.signal(signal.SIGTERM)
            code = child.wait(30)
            o = Outcome(code, child.stdout(), child.stderr())
        stats.record(judge(o), {"file": text, "argv": argv}, o, via="subprocess")
        if listened and code != 0:
            stats.record(("exit", f"proxy stopped by SIGTERM exited {code}"), text, o, "subprocess")
        if listened != valid:
            what = "listened on a file load_rules refused" if listened else "refused a file load_rules accepted"
            stats.record(("disagreement", f"proxy {what}"), text, o, "subprocess")
        if not listened and code == 2 and o.out.strip():
            stats.record(("message", "exit 2 after printing a URL (listened before refusing)"), text, o, "subprocess")

    def _target_ids(self, stats: TargetStats, n: int, stride: int, wanted: int) -> None:
        self._hypothesis(S.id_argvs(), lambda argv: self._cli_example(stats, argv, stride, wanted), n)

    def _target_cli(self, stats: TargetStats, n: int, stride: int, wanted: int) -> None:
        from matrix.__main__ import build_parser

        table = S.option_table(build_parser())

        def body(argv: list[str]) -> None:
            argv = argv + POISON.get(argv[0], [])
            self._cli_example(stats, argv, stride, wanted, EXTRA_EXIT_CODES.get(argv[0], ()))

        self._hypothesis(S.cli_argvs(table, EXCLUDED_OPTIONS), body, n)

    def _target_check(self, stats: TargetStats, n: int, stride: int, wanted: int) -> None:
        path = self.files / "check" / "cdk.tf.json"
        path.parent.mkdir(parents=True, exist_ok=True)

        def body(example: tuple[str, bool]) -> None:
            text, twice = example
            path.write_text(text, encoding="utf-8")
            argv = ["check", str(path)] + ([str(path)] if twice else [])
            self._cli_example(stats, argv, stride, wanted, example=text)

        self._hypothesis(st.tuples(S.synth_documents(), st.booleans()), body, n)


def _argv_ok(argv: list[str]) -> bool:
    """Can this argv be passed to a real process (no NUL, encodable as the OS encodes arguments)?"""
    try:
        for a in argv:
            if "\x00" in a:
                return False
            os.fsencode(a)
    except UnicodeEncodeError:
        return False
    return True


def run_battery(ws: Workspace, examples: int, seed: int, subprocess_examples: int = 20, log=print,
                targets: tuple[str, ...] = TARGETS, moto_url: str | None = None) -> dict[str, Any]:
    started = time.monotonic()
    moto = Moto().start() if moto_url is None else None
    try:
        battery = FuzzBattery(ws, moto_url or moto.url, seed, log)
        battery.prepare()
        stats = {name: battery.run_target(name, examples, subprocess_examples).summary() for name in targets}
    finally:
        if moto is not None:
            moto.stop()
    return {
        "examples": {n: s["examples"] for n, s in stats.items()},
        "subprocess_examples": {n: s["subprocess_examples"] for n, s in stats.items()},
        "tracebacks": sum(s["tracebacks"] for s in stats.values()),
        "other_problems": sum(s["other_problems"] for s in stats.values()),
        "exit_codes": dict(sum((Counter(s["exit_codes"]) for s in stats.values()), Counter())),
        "seconds": round(time.monotonic() - started, 1),
        "targets": stats,
    }


def problems(section: dict[str, Any]) -> list[str]:
    out = []
    for name, s in section["targets"].items():
        for key, p in s["problems"].items():
            out.append(f"{name}: {key} (x{p['count']}, {p['via']}); example: {p['example'][:400]}")
    return out
