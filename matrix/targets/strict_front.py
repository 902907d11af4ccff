"""The strict emulator in front of an emulator, living exactly as long as the emulator it fronts.

    every client path (embedded engine, terraform, backend, live suite, `matrix env`, AWS CLI)
        -> StrictFront (`python -m matrix proxy --upstream EMULATOR --strict`, 127.0.0.1)
        -> moto server / LocalStack

A target (matrix/targets/moto.py, localstack.py) that starts or finds its emulator calls
`StrictFront.ensure(name, emulator_url)` and hands every cell the front's URL, so every client
meets AWS's refusals (matrix/chaos/strict.py). The front is a process of its own session, like the
moto server, because kept cells need it after the run ends (`python -m matrix env CELL` prints its
URL). It is recorded in build/emulators/strict-<name>.json (url, pid, upstream, started) so that a
later command finds it; its refusals go to build/emulators/strict-<name>.jsonl.

* `recorded(name, upstream)`  the recorded front when its process lives, it answers
  `GET /_stackmatrix/stats` in strict mode and fronts that upstream; else None (stale record dropped).
* `ensure(name, upstream, port)`  the recorded front, else a new one (on `port`, or the recorded one,
  so that endpoints written into deployment records stay good after the front was restarted).
* `stop()`  SIGTERM (the proxy prints its summary and exits), SIGKILL after a timeout, record removed.
  A front whose emulator died without it (killed, or a test's in-process server) exits by itself after
  `ORPHAN_GRACE` seconds of refused connections (`proxy --exit-with-upstream`); an emulator restarted
  within that time keeps its front.
* `stop_named(name)`  stop the recorded front of an emulator that is being stopped.
* `judging_gaps(before, after)`  what the front forwarded unjudged between two `stats()` (a run takes
  one when its target started and one before it stops): the run summary warns about each such call.
* `stop_user_emulator_fronts()`  when no kept cell is left (`matrix destroy`): stop the fronts of
  emulators the user runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matrix.errors import StackmatrixError
from matrix.files import read_record, write_atomic
from matrix.paths import PROJECT_ROOT, build_dir
from matrix.procs import alive as _alive  # the one liveness check: reaps exited children, sees zombies

STATS = "/_stackmatrix/stats"
MANAGED = ("moto", "localstack")  # fronts of the emulators stackmatrix starts and records itself
ORPHAN_GRACE = 120  # a front whose emulator refused connections this long (it was killed) exits by itself


def stats(url: str, timeout: float = 2.0) -> dict[str, Any] | None:
    """The proxy's own statistics (requests by service and client, strict refusals), or None."""
    try:
        with urllib.request.urlopen(url.rstrip("/") + STATS, timeout=timeout) as resp:  # noqa: S310 - loopback
            return json.loads(resp.read())
    except (OSError, ValueError):
        return None


@dataclass
class JudgingGaps:
    """What the front forwarded without judging during one run (the difference of two `stats()`): calls
    it should have judged and could not (`unjudged`: "service.Operation" -> reason -> count), calls whose
    judging failed (`errors`: a bug of ours), requests it could not even classify (`internal`). AWS's
    constraints were not checked on any of them: only the emulator judged them."""
    judged: int = 0
    unjudged: dict[str, dict[str, int]] | None = None
    errors: dict[str, int] | None = None
    internal: int = 0
    log: str = ""  # the front's log, which names each such operation once

    @property
    def empty(self) -> bool:
        return not (self.unjudged or self.errors or self.internal)

    def _entries(self) -> list[tuple[str, str, str]]:
        """(SARIF id, level, text) of each kind of gap there is."""
        out = []
        report = f"a stackmatrix bug: please report it with {self.log or 'the front log'}"
        if self.unjudged:
            calls = "; ".join(f"{call} ({', '.join(f'{why}: {n}' for why, n in reasons.items())})"
                              for call, reasons in sorted(self.unjudged.items()))
            n = sum(sum(r.values()) for r in self.unjudged.values())
            out.append(("strict-unjudged", "warning", f"strict: {n} call(s) forwarded unjudged: {calls}: AWS's "
                        "constraints were not checked on them, only the emulator judged them"))
        if self.errors:
            calls = "; ".join(f"{call}: {n}" for call, n in sorted(self.errors.items()))
            out.append(("strict-judging-error", "error", f"strict: judging failed on {sum(self.errors.values())} "
                        f"call(s), forwarded unjudged: {calls} ({report})"))
        if self.internal:
            out.append(("proxy-internal-error", "error", f"strict: {self.internal} request(s) could not be "
                        f"classified and were forwarded untouched ({report})"))
        return out

    def lines(self) -> list[str]:
        """The run summary's warnings ([] when every call the front should judge was judged)."""
        return [f"WARNING {text}" for _id, _level, text in self._entries()]

    def notifications(self) -> list[dict[str, str]]:
        """The same, as SARIF tool execution notifications (build/findings.sarif): id, level, text."""
        return [{"id": rid, "level": level, "text": text} for rid, level, text in self._entries()]

    def to_dict(self) -> dict[str, Any]:
        return {"judged": self.judged, "unjudged": self.unjudged or {}, "errors": self.errors or {},
                "internal_errors": self.internal}


def judging_gaps(before: dict[str, Any] | None, after: dict[str, Any] | None, log: str = "") -> JudgingGaps | None:
    """What the front left unjudged between two of its `stats()` (None when either is unknown: no front,
    or it did not answer). The front is shared by the runs on its emulator: counts are differences."""
    if not before or not after or before.get("strict") is None or after.get("strict") is None:
        return None
    was, now = before["strict"], after["strict"]
    unjudged: dict[str, dict[str, int]] = {}
    for call, reasons in (now.get("unjudged_by_call") or {}).items():
        old = (was.get("unjudged_by_call") or {}).get(call, {})
        grown = {why: n - old.get(why, 0) for why, n in reasons.items() if n > old.get(why, 0)}
        if grown:
            unjudged[call] = grown
    errors = {call: n - (was.get("errors_by_call") or {}).get(call, 0)
              for call, n in (now.get("errors_by_call") or {}).items()
              if n > (was.get("errors_by_call") or {}).get(call, 0)}
    internal = max(0, int(after.get("internal_errors", 0)) - int(before.get("internal_errors", 0)))
    return JudgingGaps(max(0, int(now.get("judged", 0)) - int(was.get("judged", 0))), unjudged, errors,
                       internal, log)


@dataclass
class StrictFront:
    name: str
    url: str
    upstream: str
    pid: int | None = None

    @staticmethod
    def record_path(name: str) -> Path:
        return build_dir() / "emulators" / f"strict-{name}.json"

    @staticmethod
    def log_path(name: str) -> Path:
        return build_dir() / "emulators" / f"strict-{name}.jsonl"

    @classmethod
    def _record(cls, name: str) -> dict[str, Any] | None:
        return read_record(cls.record_path(name))

    @classmethod
    def recorded(cls, name: str, upstream: str | None = None) -> StrictFront | None:
        data = cls._record(name)
        if data is None:
            return None
        pid = data.get("pid")
        if not (pid and _alive(int(pid))):
            cls.record_path(name).unlink(missing_ok=True)
            return None
        same = upstream is None or data.get("upstream", "").rstrip("/") == upstream.rstrip("/")
        facts = stats(data.get("url", "")) if same else None
        if facts is not None and facts.get("strict") is not None:
            return cls(name, data["url"], data["upstream"], int(pid))
        return None  # alive, but in front of another emulator or not answering: `ensure` replaces it

    @classmethod
    def ensure(cls, name: str, upstream: str, port: int | None = None) -> StrictFront:
        found = cls.recorded(name, upstream)
        if found is not None:
            return found
        old = cls._record(name)
        if old is not None and old.get("pid") and _alive(int(old["pid"])):
            cls(name, old.get("url", ""), old.get("upstream", ""), int(old["pid"])).stop()
        wanted = port if port is not None else port_of(old.get("url", "")) if old else 0
        try:
            return cls.start(name, upstream, wanted)
        except StackmatrixError:
            if not wanted:
                raise
            return cls.start(name, upstream, 0)  # the old port is taken now: any free one

    @classmethod
    def start(cls, name: str, upstream: str, port: int = 0, timeout: float = 60) -> StrictFront:
        log = cls.stderr_path(name)
        log.parent.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "matrix", "proxy", "--upstream", upstream, "--strict", "--port", str(port),
               "--log", str(cls.log_path(name)), "--cell", f"strict-{name}",
               "--exit-with-upstream", str(ORPHAN_GRACE)]
        with open(log, "ab") as err:
            proc = subprocess.Popen(cmd, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=err,
                                    stdin=subprocess.DEVNULL, start_new_session=True)  # outlives the run
        url = _first_line(proc, timeout)
        if url is None:
            code = proc.poll()
            if code is None:
                proc.kill()
            raise StackmatrixError(f"the strict emulator in front of {upstream} did not start "
                                   f"({'exit ' + str(code) if code is not None else 'no answer in time'}); see {log}")
        front = cls(name, url, upstream.rstrip("/"), proc.pid)
        write_atomic(cls.record_path(name), json.dumps({"url": url, "pid": proc.pid, "upstream": front.upstream,
                                                        "started": time.time()}))
        return front

    def stats(self) -> dict[str, Any] | None:
        return stats(self.url)

    @staticmethod
    def stderr_path(name: str) -> Path:
        """The front's own log (stderr): it names each operation it forwarded unjudged, once."""
        return build_dir() / "emulators" / f"strict-{name}.log"

    def stop(self, timeout: float = 10) -> None:
        if self.pid and _alive(self.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while _alive(self.pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if _alive(self.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGKILL)
        data = self._record(self.name)
        if data is not None and data.get("pid") == self.pid:
            self.record_path(self.name).unlink(missing_ok=True)

    @classmethod
    def stop_named(cls, name: str) -> bool:
        data = cls._record(name)
        if data is None or not data.get("pid"):
            cls.record_path(name).unlink(missing_ok=True)
            return False
        cls(name, data.get("url", ""), data.get("upstream", ""), int(data["pid"])).stop()
        return True


def stop_user_emulator_fronts() -> list[str]:
    """Stop the fronts runs put in front of emulators the user runs (`--endpoint`, an external LocalStack):
    kept cells were their only reason to outlive their run. The fronts of the emulators stackmatrix
    manages ("moto", "localstack") live and die with those."""
    stopped = []
    for path in sorted((build_dir() / "emulators").glob("strict-*.json")):
        name = path.stem.removeprefix("strict-")
        if name not in MANAGED and StrictFront.stop_named(name):
            stopped.append(name)
    return stopped


def port_of(url: str) -> int:
    try:
        return int(url.rsplit(":", 1)[1])
    except (IndexError, ValueError):
        return 0


def _first_line(proc: subprocess.Popen, timeout: float) -> str | None:
    """The URL the proxy prints first (it prints nothing else on stdout)."""
    deadline = time.monotonic() + timeout
    buf = b""
    fd = proc.stdout.fileno()
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            chunk = os.read(fd, 4096)
            if not chunk:
                return None
            buf += chunk
            if b"\n" in buf:
                line = buf.split(b"\n", 1)[0].decode().strip()
                return line if line.startswith("http://127.0.0.1:") else None
        elif proc.poll() is not None:
            return None
    return None


def strict_fact(front: StrictFront | None, emulator: str | None) -> str:
    """The report environment's line about the strict emulator."""
    if front is None:
        return "off (--no-strict): calls reach the emulator unjudged"
    return f"on: {front.url} in front of {emulator} (python -m matrix proxy --strict)"
