"""Kill trials: SIGKILL a cell's apply at seeded points, then prove nothing was lost or duplicated.

Each trial gets a fresh emulator account and its own state bucket on one shared moto server, and
runs the embedded engine's apply in a child process (`harness.driver`), killed at a
`KillPoint` chosen by `schedule(trials, seed)`:

* `before KIND #n`  the thread creating the n-th resource of KIND has journaled it and not yet sent
                    the call (driver pause on botocore's before-call);
* `during KIND #n`  AWS created it and answered, the state does not name it yet: the crash window
                    the engine's journal (pending.json) and each handler's `find()` are for;
* `after KIND #n`   as soon as the local state file records the n-th resource of KIND (the battery
                    watches the file, the child runs on);
* `count k`         as soon as the local state records k resources (k spread over 0..33, k = 0 with a
                    seeded delay after the apply started: lock, state read, refresh, plan).

The targeted points cover every resource kind in each of the three phases (crash window first);
the count points spread the rest over the resource count. After the kill the trial records what the
child left (state readable? resources recorded, journal entries, live resources, the lock and its
holder), then a new engine in this process re-applies: it must release the stale lock (its holder
is provably dead on this host, matrix/state/stale_lock.py) naming Who and ID, adopt the orphans the
journal names, converge to the configuration (census: exactly the declared count of every kind, the
state naming exactly what exists), plan no changes on a further apply, and destroy to zero
leftovers (matrix.leaks.find_leftovers by the run's tags, plus the census).

`lock_policy_checks()` shows the other half of the stale-lock policy on real locks: a live holder,
another host, another boot, a terraform lock stay held (LockHeld names Who and ID; force-unlock
releases), a recycled pid and a dead pid are released. `cli_trial()` kills `python -m matrix run`
itself and resumes it from its deployment record.
"""

from __future__ import annotations

import json
import random
import signal
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import census as cz
from harness.procs import Child, pid_alive
from harness.workspace import Moto, Workspace, access_json, fresh_access
from matrix.clients import ClientFactory
from matrix.engines.embedded.engine import EmbeddedEngine, EngineOptions
from matrix.leaks import find_leftovers
from matrix.procs import process_stat
from matrix.state.backend import LockHeld, LockInfo
from matrix.state.stale_lock import holder_identity
from matrix.state.tfstate import State, StateError

CELL = "us-east-1-dev"
REGION = "us-east-1"
SUFFIX = "dev"
PROJECT = "stackmatrix"
PHASES = ("during", "after", "before")  # crash window first when trials are few
#: kinds counted a second time by the cell's tags (RunId, EnvironmentSuffix), as the leak check finds them
TAGGED_KINDS = ("aws_vpc", "aws_subnet", "aws_internet_gateway", "aws_eip", "aws_nat_gateway", "aws_route_table",
                "aws_vpc_endpoint", "aws_flow_log", "aws_cloudwatch_log_group", "aws_iam_role")


@dataclass(frozen=True)
class KillPoint:
    mode: str          # before | during | after | count
    kind: str = ""
    nth: int = 1       # instance of the kind (1-based); for count: the resource count
    delay_ms: int = 0  # count 0 only: delay after the apply started

    def label(self) -> str:
        if self.mode == "count":
            return f"count {self.nth}" + (f" (+{self.delay_ms} ms)" if self.delay_ms else "")
        return f"{self.mode} {self.kind} #{self.nth}"

    @property
    def phase(self) -> str:
        return self.mode if self.mode != "count" else ("before" if self.nth == 0 else "count")


def schedule(trials: int, seed: int, expected: Counter) -> list[KillPoint]:
    """Seeded kill points: every kind in every phase first, then kills spread over the count."""
    rng = random.Random(seed)
    kinds = sorted(expected)
    spread = max(2, trials // 8) if trials >= 8 else trials // 2
    combos = []
    for phase in PHASES:
        order = kinds[:]
        rng.shuffle(order)
        combos += [(phase, k) for k in order]
    points = []
    for i in range(trials - spread):
        phase, kind = combos[i % len(combos)]
        points.append(KillPoint(phase, kind, rng.randint(1, expected[kind])))
    total = sum(expected.values())
    for j in range(spread):
        lo = j * (total + 1) // spread
        hi = max(lo, (j + 1) * (total + 1) // spread - 1)
        k = rng.randint(lo, hi)
        points.append(KillPoint("count", "", k, rng.randint(0, 250) if k == 0 else 0))
    rng.shuffle(points)
    return points


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def recorded_kinds(state_file: Path) -> Counter:
    data = _read_json(state_file)
    if not isinstance(data, dict):
        return Counter()
    return Counter(r["type"] for r in data.get("resources", []) if r.get("mode") == "managed" and r.get("instances"))


class StateWatcher:
    """Reads the child's local state file only when it changed (size/mtime), for tight polling."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._sig: tuple[int, int] | None = None
        self.kinds: Counter = Counter()

    def poll(self) -> Counter:
        try:
            st = self.path.stat()
        except OSError:
            return self.kinds
        sig = (st.st_mtime_ns, st.st_size)
        if sig != self._sig:
            self._sig = sig
            self.kinds = recorded_kinds(self.path) or self.kinds
        return self.kinds


class KillBattery:
    def __init__(self, ws: Workspace, moto_url: str, seed: int, log=print) -> None:
        self.ws = ws
        self.url = moto_url
        self.seed = seed
        self.log = log
        self.synth = ws.synth_path(CELL)
        self.expected = cz.expected_counts(self.synth)

    # -- one trial ---------------------------------------------------------------------------
    def trial(self, index: int, point: KillPoint) -> dict[str, Any]:
        started = time.monotonic()
        tag = uuid.uuid4().hex[:6]
        run_id = f"kill-{self.seed}-{index:02d}-{tag}"
        folder = self.ws.root / "trials" / f"{index:02d}"
        state_dir = folder / "state"
        synth = self.ws.cell_copy(CELL, folder / "synth", f"sm-rel-{self.seed}-{index}-{tag}")
        access = fresh_access(self.url, CELL, REGION, run_id)
        clients = ClientFactory(access, max_attempts=4)
        marker = folder / "pause.json"
        record: dict[str, Any] = {"trial": index, "point": point.label(), "phase": point.phase, "run_id": run_id,
                                  "account": access.account_id}
        args = ["-m", "harness.driver", "--synth", str(synth), "--state-dir", str(state_dir),
                "--cell", CELL, "--run-id", run_id, "--marker", str(marker)]
        if point.mode in ("before", "during"):
            args += ["--pause", f"{point.mode}:{point.kind}:{point.nth}"]
        child = Child.python(*args, env=self.ws.env(STACKMATRIX_RELIABILITY_ACCESS=access_json(access)))
        try:
            hit = self._await_point(child, point, state_dir / "terraform.tfstate", marker)
            child.signal(signal.SIGKILL)
            code = child.wait(30)
        finally:
            child.close()
        record.update(killed=code == -signal.SIGKILL, exit=code, point_reached=hit)
        if code not in (-signal.SIGKILL, 0):
            record["child_stderr"] = child.stderr()[-2000:]
        record["at_kill"] = self._inspect(clients, synth, state_dir, child.pid)
        try:
            record.update(self._recover(clients, synth, state_dir, run_id))
        except Exception as exc:  # a failed recovery is the finding: record it whole
            record.update(converged=False, error=f"{type(exc).__name__}: {exc}")
            record["leaks"] = self._cleanup(clients, synth, state_dir, run_id)
        record["seconds"] = round(time.monotonic() - started, 2)
        return record

    def _await_point(self, child: Child, point: KillPoint, state_file: Path, marker: Path) -> bool:
        started = Path(f"{marker}.started")
        if not child.wait_for(started.is_file, 60):
            return False
        if point.mode in ("before", "during"):
            return child.wait_for(marker.is_file, 60)
        watcher = StateWatcher(state_file)
        if point.mode == "after":
            return child.wait_for(lambda: watcher.poll()[point.kind] >= point.nth, 60, poll=0.001)
        if point.nth == 0:
            time.sleep(point.delay_ms / 1000)
            return child.alive()
        return child.wait_for(lambda: sum(watcher.poll().values()) >= point.nth, 60, poll=0.001)

    def _engine(self, clients: ClientFactory, synth: Path, state_dir: Path, run_id: str,
                log: list[str] | None = None) -> EmbeddedEngine:
        sink = log if log is not None else []
        return EmbeddedEngine(CELL, synth, clients, state_dir,
                              EngineOptions(bootstrap_backend=True, variables={"run_id": run_id},
                                            lock_details={"run_id": run_id}),
                              log=sink.append)

    def _inspect(self, clients: ClientFactory, synth: Path, state_dir: Path, child_pid: int) -> dict[str, Any]:
        """What the killed child left: state, journal, live resources, the lock."""
        out: dict[str, Any] = {}
        local = state_dir / "terraform.tfstate"
        state = None
        if local.is_file():
            try:
                state = State.from_json(local.read_text(), str(local))
                out["state_readable"] = True
            except StateError as exc:
                out["state_readable"] = False
                out["state_error"] = str(exc)
        else:
            out["state_readable"] = True  # nothing written yet: nothing to lose
        recorded = cz.state_ids(state) if state is not None else {}
        out["recorded"] = sum(len(v) for v in recorded.values())
        pending = _read_json(state_dir / "pending.json") or {}
        out["pending"] = sorted(pending)
        live = cz.census(clients, REGION, PROJECT)
        out["live"] = cz.total(live)
        out["orphans"] = cz.orphans(live, recorded)  # created, not recorded: the journal must cover them
        pending_kinds = Counter(e.get("type") for e in pending.values())
        out["orphans_uncovered"] = [o for o in out["orphans"] if pending_kinds[o.split()[0]] == 0]
        engine = self._engine(clients, synth, state_dir, "inspect")
        try:
            remote = engine.backend.read_remote()
            out["bucket_state_readable"] = True
            out["bucket_serial"] = remote.serial if remote else None
        except Exception as exc:
            out["bucket_state_readable"] = not isinstance(exc, StateError)
            out["bucket_error"] = f"{type(exc).__name__}: {exc}"
        lock = engine.backend.current_lock() if engine.backend.bucket_exists() else None
        if lock:
            from matrix.state.stale_lock import lock_details

            details = lock_details(lock)
            out["lock"] = {"ID": lock.get("ID"), "Who": lock.get("Who"), "pid": details.get("pid"),
                           "holder_is_child": details.get("pid") == child_pid}
        return out

    def _recover(self, clients: ClientFactory, synth: Path, state_dir: Path, run_id: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        log: list[str] = []
        engine = self._engine(clients, synth, state_dir, run_id, log)
        plan = engine.apply()
        out["reapply"] = plan.counts()
        out["adopted"] = [line.split()[2] for line in log if " adopted " in line]
        out["lock_notes"] = [n for n in engine.notes if "stale state lock" in n]
        again = self._engine(clients, synth, state_dir, run_id)
        second = again.apply()
        out["no_changes_after"] = not second.has_changes()
        live = cz.census(clients, REGION, PROJECT)
        recorded = cz.state_ids(again.state)
        by_tags = find_leftovers(clients, REGION, {"RunId": run_id, "EnvironmentSuffix": SUFFIX}, iam_prefix=PROJECT)
        tagged = Counter(lo.type for lo in by_tags if lo.type in TAGGED_KINDS)
        out["tag_mismatch"] = {k: tagged.get(k, 0) for k in TAGGED_KINDS if tagged.get(k, 0) != self.expected.get(k, 0)}
        out["duplicates"] = cz.duplicates(live, self.expected)
        out["missing"] = cz.missing(live, self.expected)
        out["orphans_after"] = cz.orphans(live, recorded)
        out["phantoms_after"] = cz.phantoms(live, recorded)
        out["converged"] = (not out["duplicates"] and not out["missing"] and out["no_changes_after"]
                            and not out["tag_mismatch"]
                            and not out["orphans_after"] and not out["phantoms_after"]
                            and sum(len(v) for v in recorded.values()) == sum(self.expected.values()))
        out["lock_after"] = again.backend.current_lock()
        out["leaks"] = self._cleanup(clients, synth, state_dir, run_id)
        return out

    def _cleanup(self, clients: ClientFactory, synth: Path, state_dir: Path, run_id: str) -> list[str]:
        """Destroy from state, then everything still there is a leak."""
        engine = self._engine(clients, synth, state_dir, run_id)
        try:
            state = engine.backend.read(bucket_may_be_gone=True)[0]
            before = {a: state.get(a) or {} for a in state.addresses()}
            engine.destroy()
        except Exception as exc:
            return [f"destroy failed: {type(exc).__name__}: {exc}"]
        left = find_leftovers(clients, REGION, {"RunId": run_id, "EnvironmentSuffix": SUFFIX},
                              state_ids=before, iam_prefix=PROJECT)
        found = {lo.line() for lo in left}
        live = cz.census(clients, REGION, PROJECT)
        found |= {f"{k} {i}" for k, ids in live.items() for i in ids if not any(i in f for f in found)}
        return sorted(found)

    # -- the battery -------------------------------------------------------------------------
    def run(self, trials: int) -> dict[str, Any]:
        started = time.monotonic()
        points = schedule(trials, self.seed, self.expected)
        records = []
        for i, point in enumerate(points):
            rec = self.trial(i, point)
            records.append(rec)
            at = rec["at_kill"]
            self.log(f"kill {i + 1:2d}/{len(points)} {point.label():<40} killed={rec['killed']} "
                     f"recorded={at['recorded']:2d} live={at['live']:2d} orphans={len(at['orphans'])} "
                     f"adopted={len(rec.get('adopted', []))} converged={rec.get('converged')} "
                     f"dup={sum(rec.get('duplicates', {}).values())} leaks={len(rec.get('leaks', []))} "
                     f"({rec['seconds']:.1f} s)")
        return self.figures(records, time.monotonic() - started)

    def figures(self, records: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
        phases = Counter(r["phase"] for r in records if r["killed"])
        out = {
            "trials": len(records),
            "kills": sum(r["killed"] for r in records),
            "kills_by_phase": dict(sorted(phases.items())),
            "kinds_killed": len({r["point"].split()[1] for r in records
                                 if r["killed"] and not r["point"].startswith("count")}),
            "kills_in_crash_window": sum(1 for r in records if r["killed"] and r["at_kill"]["orphans"]),
            "kills_holding_lock": sum(1 for r in records if r["at_kill"].get("lock")),
            "converged": sum(1 for r in records if r.get("converged")),
            "adopted": sum(len(r.get("adopted", [])) for r in records),
            "duplicates_found": sum(sum(r.get("duplicates", {}).values()) for r in records),
            "state_lost": sum(len(r.get("orphans_after", [])) + len(r["at_kill"].get("orphans_uncovered", []))
                              + (0 if r["at_kill"]["state_readable"] and r["at_kill"].get("bucket_state_readable",
                                                                                           True) else 1)
                              for r in records),
            "phantoms": sum(len(r.get("phantoms_after", [])) for r in records),
            "leaks_found": sum(len(r.get("leaks", [])) for r in records),
            "stale_locks_reported": sum(1 for r in records if r["at_kill"].get("lock") and _names_holder(r)),
            "stale_locks_cleared": sum(1 for r in records if r["at_kill"].get("lock") and r.get("lock_notes")
                                       and r.get("lock_after") is None),
            "errors": [f"trial {r['trial']} ({r['point']}): {r['error']}" for r in records if r.get("error")],
            "seconds": round(seconds, 1),
            "records": records,
        }
        return out


def _names_holder(record: dict[str, Any]) -> bool:
    lock = record["at_kill"]["lock"]
    return any(lock["ID"] in n and lock["Who"] in n for n in record.get("lock_notes", []))


def problems(section: dict[str, Any]) -> list[str]:
    """The promises a kill section broke (empty when all kept)."""
    out = []
    if section["kills"] < section["trials"]:
        missed = [r["point"] for r in section["records"] if not r["killed"]]
        out.append(f"{section['trials'] - section['kills']} trial(s) ended before the kill: {', '.join(missed)}")
    if section["converged"] != section["trials"]:
        out.append(f"{section['trials'] - section['converged']} trial(s) did not converge")
    for key in ("duplicates_found", "state_lost", "phantoms", "leaks_found"):
        if section[key]:
            out.append(f"{key} = {section[key]}")
    if section["stale_locks_reported"] != section["kills_holding_lock"]:
        out.append(f"{section['kills_holding_lock']} killed run(s) left a lock, "
                   f"{section['stale_locks_reported']} were reported naming holder and ID")
    if section["stale_locks_cleared"] != section["kills_holding_lock"]:
        out.append(f"{section['kills_holding_lock'] - section['stale_locks_cleared']} stale lock(s) not cleared")
    out += section["errors"]
    for name, ok in (section.get("lock_policy") or {}).items():
        if not ok.get("ok"):
            out.append(f"lock policy check {name!r} failed: {ok}")
    for rec in section.get("cli_records", []):
        if not rec.get("ok"):
            out.append(f"CLI kill trial failed: {rec}")
    return out


# -- the stale-lock policy on real locks -------------------------------------------------------

def lock_policy_checks(ws: Workspace, moto_url: str, log=print) -> dict[str, dict[str, Any]]:
    """Plant locks with chosen holders and see which the engine releases on its own."""
    synth_src = ws.synth_path(CELL)
    results: dict[str, dict[str, Any]] = {}
    sleeper = Child.python("-c", "import time; time.sleep(120)", capture=False)
    gone = Child.python("-c", "pass", capture=False)
    gone.wait(30)
    gone_pid = gone.pid
    gone.close()
    try:
        me = holder_identity()
        live_start = process_stat(sleeper.pid)[1]
        cases = {
            # name: (Info details, Who, expect released)
            "live holder on this host": ({**me, "pid": sleeper.pid, "pid_start": live_start}, None, False),
            "recycled pid (live, other start time)": ({**me, "pid": sleeper.pid, "pid_start": live_start - 1},
                                                      None, True),
            "dead holder on this host": ({**me, "pid": gone_pid, "pid_start": 1}, None, True),
            "dead holder on another host": ({**me, "pid": gone_pid, "host": "build-host-7"},
                                            "ci@build-host-7", False),
            "dead holder, other boot": ({**me, "pid": gone_pid, "boot_id": str(uuid.uuid4())}, None, False),
            "terraform's lock": ({"tool": "terraform", "pid": gone_pid, "host": me["host"]}, None, False),
            "lock without identity": ({"pid": gone_pid}, None, False),
        }
        if pid_alive(gone_pid):
            log(f"pid {gone_pid} was reused at once; the 'dead holder' cases prove less this run")
        for i, (name, (details, who, release)) in enumerate(cases.items()):
            results[name] = _lock_case(ws, moto_url, synth_src, i, details, who, release)
            log(f"lock policy: {name}: {'ok' if results[name]['ok'] else 'FAILED'} {results[name]}")
    finally:
        sleeper.close()
    return results


def _lock_case(ws: Workspace, url: str, synth_src: Path, i: int, details: dict[str, Any], who: str | None,
               release: bool) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:6]
    run_id = f"lockpolicy-{i}-{tag}"
    folder = ws.root / "lock-policy" / f"{i}"
    synth = ws.cell_copy(CELL, folder / "synth", f"sm-rel-lock-{i}-{tag}")
    clients = ClientFactory(fresh_access(url, CELL, REGION, run_id), max_attempts=4)
    engine = EmbeddedEngine(CELL, synth, clients, folder / "state",
                            EngineOptions(bootstrap_backend=True, variables={"run_id": run_id}))
    engine.backend_check()
    info = LockInfo.new("OperationTypeApply", engine.config.backend.lock_path, details)
    if who:
        info.Who = who
    assert engine.backend.try_lock(info)
    out: dict[str, Any] = {"expected": "released" if release else "held"}
    try:
        engine.apply()
        out["outcome"] = "released"
        out["note"] = next((n for n in engine.notes if "stale state lock" in n), "")
        out["ok"] = release and info.ID in out["note"] and info.Who in out["note"]
    except LockHeld as exc:
        out["outcome"] = "held"
        out["message"] = str(exc)
        named = info.ID in str(exc) and info.Who in str(exc)
        still = (engine.backend.current_lock() or {}).get("ID") == info.ID
        engine.force_unlock(info.ID)  # --force-unlock: the only way out for a lock we cannot judge
        engine.apply()
        out["ok"] = not release and named and still
        out["force_unlocked"] = True
    engine.destroy()
    return out


# -- the run itself killed, then resumed from its deployment record ------------------------------

def cli_trial(ws: Workspace, index: int, kill_at: int, log=print) -> dict[str, Any]:
    """SIGKILL `python -m matrix run --keep` at `kill_at` resources; re-run; destroy. Owns its moto."""
    from matrix.targets.base import Deployment
    from matrix.targets.moto import MotoServer

    run = ["-m", "matrix", "run", "--profile", "dev", "--bootstrap-backend", "--keep", "--skip-live",
           "--no-report", "--run-id", f"clikill-{index}-{uuid.uuid4().hex[:6]}"]
    out: dict[str, Any] = {"trial": index, "kill_at": kill_at}
    env = ws.env()
    state_file = ws.root / "state" / CELL / "terraform.tfstate"
    try:
        with Child.python(*run, env=env) as child:
            watcher = StateWatcher(state_file)
            out["point_reached"] = child.wait_for(lambda: sum(watcher.poll().values()) >= kill_at, 120, 0.001)
            child.signal(signal.SIGKILL)
            out["killed"] = child.wait(30) == -signal.SIGKILL
        with ws.active():
            record = Deployment.load(CELL)
            out["record_kept"] = record is not None
            clients = ClientFactory(record.access(), max_attempts=4) if record else None
            engine = EmbeddedEngine(CELL, ws.synth_path(CELL), clients, ws.root / "state" / CELL) if clients else None
            lock = engine.backend.current_lock() if engine and engine.backend.bucket_exists() else None
        out["lock"] = {"ID": lock.get("ID"), "Who": lock.get("Who")} if lock else None
        with Child.python(*run, env=env) as again:
            out["rerun_exit"] = again.wait(300)
            text = again.stderr()
        engine_log = (ws.root / "cells" / CELL / "engine.log")
        log_text = engine_log.read_text() if engine_log.is_file() else ""
        out["resumed"] = "resuming deployment" in text
        out["lock_released_naming_holder"] = bool(lock) and lock["ID"] in log_text and "stale state lock" in log_text
        with Child.python(*run, env=env) as third:
            out["third_exit"] = third.wait(300)
            out["no_changes"] = "no changes" in third.stderr()
        with Child.python("-m", "matrix", "destroy", CELL, env=env) as destroy:
            out["destroy_exit"] = destroy.wait(300)
            out["destroy_says"] = [ln for ln in destroy.stderr().splitlines() if "destroyed" in ln][-1:]
        left = cz.census(clients, REGION, PROJECT) if clients else {}
        out["leaks"] = [f"{k} {i}" for k, ids in left.items() for i in ids]
        out["ok"] = bool(out["killed"] and out["record_kept"] and out["rerun_exit"] == 0 and out["resumed"]
                         and (lock is None or out["lock_released_naming_holder"]) and out["third_exit"] == 0
                         and out["no_changes"] and out["destroy_exit"] == 0 and not out["leaks"])
    finally:
        with ws.active():
            server = MotoServer.recorded()
            if server is not None:
                server.stop()
    log(f"CLI kill trial {index} at {kill_at} resources: {'ok' if out.get('ok') else 'FAILED'} "
        f"{ {k: v for k, v in out.items() if k != 'destroy_says'} }")
    return out


def run_battery(ws: Workspace, trials: int, seed: int, cli_trials: int = 2, log=print,
                moto_url: str | None = None, synth_from: Workspace | None = None) -> dict[str, Any]:
    """Everything above: the kill trials, the lock policy checks, the CLI trials."""
    if synth_from is not None:
        ws.copy_synth_from(synth_from, [CELL])
    moto = None
    if moto_url is None:
        moto = Moto().start()
        moto_url = moto.url
    try:
        battery = KillBattery(ws, moto_url, seed, log)
        section = battery.run(trials)
        section["lock_policy"] = lock_policy_checks(ws, moto_url, log)
        section["lock_policy_checks"] = (f"{sum(1 for v in section['lock_policy'].values() if v['ok'])}"
                                         f"/{len(section['lock_policy'])}")
    finally:
        if moto is not None:
            moto.stop()
    rng = random.Random(seed + 1)
    cli_records = []
    for i in range(cli_trials):
        sub = ws.sub(f"cli-{i}")
        sub.copy_synth_from(ws, [CELL])
        cli_records.append(cli_trial(sub, i, rng.randint(1, sum(battery.expected.values()) - 1), log))
    section["cli_records"] = cli_records
    section["cli_trials"] = f"{sum(1 for r in cli_records if r.get('ok'))}/{len(cli_records)}"
    return section
