"""What a process tree costs: CPU seconds and peak memory of a command and EVERY process it starts.

This is the bench's only reader of /proc and /sys/fs/cgroup (the shipped package's single /proc
reader is matrix/procs.py once issue 13 lands; this file is kept apart so it can switch to it).

`Tree.spawn(cmd)` starts a command and accounts for its whole tree until `Tree.finish()`:

* **cgroup v2** (preferred, used when a cgroup can be created under the v2 mount; here that is
  /sys/fs/cgroup/unified in a hybrid v1/v2 layout, where CPU accounting of a v2 group works without
  any controller enabled). The command is started by `sh -c 'echo $$ > cgroup.procs; exec cmd'`, so
  it is inside the group before its first instruction and every descendant is born inside it: the
  moto server, strict fronts, the synth worker and its node, pytest processes, daemons that fork
  twice and are reparented to init, processes that exit before the end. CPU is the group's
  `cpu.stat` usage_usec: exact, kernel-accounted, including the CPU of processes that ended. Only
  this group's membership changes: the v1 hierarchies (and whatever accounts memory there) are
  untouched.
* **process-tree polling** (fallback, where no cgroup can be made). Every `interval` the whole of
  /proc is scanned; a process belongs to the tree when its parent does (seen while both lived) or
  when its environment carries the tree's tag variable (so a daemon reparented to init is still
  found, unless it cleared its environment). CPU = the root's own rusage once reaped (it includes
  every descendant reaped inside the tree, through the kernel's children-CPU fields) plus, for a
  process whose parent is outside the tree when it vanished (reparented, daemonized), its last
  sampled utime+stime+cutime+cstime. Limits: a process that lives and dies between two scans
  under a parent that is not the tree's is missed; CPU a reparented process used after its last
  sample is missed; so this figure is a lower bound.

Memory, either way, is sampled (every `mem_interval`): the sum of RSS and the sum of PSS
(/proc/PID/smaps_rollup: shared pages divided among their users, so the sum does not count a
forked child's shared pages twice) over the tree's processes at that moment; the peaks are kept.
A peak shorter than the sample interval can be missed; v1 memory.max_usage would need moving the
tree into another memory cgroup, which this does not do.

Per process kind (`breakdown()`), own CPU (utime+stime) as last sampled, by a short name made from
the command line (python module or script, node, ...); CPU of processes too short-lived to be
sampled shows as `(unsampled)`: the total minus the kinds.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

CGROUP_V2_MOUNTS = (Path("/sys/fs/cgroup/unified"), Path("/sys/fs/cgroup"))
TAG_VAR = "STACKMATRIX_BENCH_TREE"
TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass
class ProcStat:
    pid: int
    state: str  # R, S, D, Z (zombie: ended, not yet reaped) ...
    ppid: int
    start: int  # clock ticks after boot: with pid, the identity of a process (pids are recycled)
    own: float  # utime + stime, seconds
    children: float  # cutime + cstime: CPU of its children it has reaped, seconds
    rss: int  # bytes


def read_stat(pid: int) -> ProcStat | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return None
    rest = text[text.rfind(")") + 2:].split()
    return ProcStat(pid, rest[0], int(rest[1]), int(rest[19]), (int(rest[11]) + int(rest[12])) / TICK,
                    (int(rest[13]) + int(rest[14])) / TICK, int(rest[21]) * PAGE)


def read_pss(pid: int) -> int:
    """Proportional set size in bytes (0 when the process is gone or unreadable)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        return 0
    return 0


def kind(pid: int) -> str:
    """A short name for what a process is: `python -m moto.server`, `python -m pytest suites/live`, `node cli.js`."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "?"
    argv = [a.decode(errors="replace") for a in argv if a]
    if not argv:
        return "?"

    def short(path: str) -> str:  # the last two parts of a path: suites/live, allure/cli.js
        return "/".join(Path(path).parts[-2:]) if "/" in path else path

    exe = os.path.basename(argv[0])
    if exe.startswith("python"):
        if "-m" in argv[1:]:
            i = argv.index("-m")
            mod = argv[i + 1] if i + 1 < len(argv) else ""
            sub = argv[i + 2] if i + 2 < len(argv) and not argv[i + 2].startswith("-") else ""
            return f"python -m {mod} {short(sub)}".strip()
        if len(argv) > 1 and argv[1] == "-c":
            return "python -c"
        return f"python {short(argv[1])}" if len(argv) > 1 else "python"
    script = next((a for a in argv[1:] if not a.startswith("-")), "")
    return f"{exe} {short(script)}".strip() if exe == "node" else exe


def children(pid: int) -> list[int]:
    """A process's children now (from every one of its threads)."""
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            out.extend(int(c) for c in task.read_text().split())
        except OSError:
            continue
    return out


def all_pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def has_tag(pid: int, tag: str) -> bool:
    try:
        return f"{TAG_VAR}={tag}".encode() in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return False


def make_cgroup(name: str) -> Path | None:
    """A fresh v2 cgroup for one measurement, or None where none can be made (then: polling)."""
    for mount in CGROUP_V2_MOUNTS:
        if not (mount / "cgroup.procs").is_file() or not (mount / "cpu.stat").exists():
            continue
        group = mount / name
        try:
            group.mkdir()
        except OSError:
            continue
        if (group / "cpu.stat").is_file():
            return group
        with contextlib.suppress(OSError):
            group.rmdir()
    return None


def cgroup_cpu(group: Path) -> float:
    for line in (group / "cpu.stat").read_text().splitlines():
        if line.startswith("usage_usec"):
            return int(line.split()[1]) / 1e6
    return 0.0


def cgroup_pids(group: Path) -> list[int]:
    try:
        return [int(p) for p in (group / "cgroup.procs").read_text().split()]
    except OSError:
        return []


@dataclass
class Sample:
    t: float  # time.time()
    cpu: float  # tree CPU seconds so far


@dataclass
class Tree:
    """Accounts one command's process tree. `spawn`, then `finish` (after the command ended)."""

    interval: float = 0.1
    mem_interval: float = 0.25
    use_cgroup: bool = True
    method: str = ""
    samples: list[Sample] = field(default_factory=list)
    peak_rss: int = 0
    peak_pss: int = 0
    max_processes: int = 0
    leftovers: list[str] = field(default_factory=list)  # processes still in the tree when the root ended
    root_rusage_cpu: float = 0.0

    def __post_init__(self) -> None:
        self.tag = uuid.uuid4().hex
        self.group = make_cgroup(f"stackmatrix-bench-{self.tag[:12]}") if self.use_cgroup else None
        self.method = "cgroup v2" if self.group else "process-tree polling"
        self._seen: dict[tuple[int, int], ProcStat] = {}  # (pid, start) -> last stat
        self._members: set[tuple[int, int]] = set()
        self._kinds: dict[tuple[int, int], str] = {}
        self._orphan_cpu = 0.0  # polling: CPU of members that vanished with a parent outside the tree
        self._stop = threading.Event()
        self.proc: subprocess.Popen | None = None

    # -- running -------------------------------------------------------------------------------
    def spawn(self, cmd: Sequence[str], *, env: dict[str, str], cwd: str | os.PathLike, **popen) -> subprocess.Popen:
        env = {**env, TAG_VAR: self.tag}
        if self.group is not None:
            cmd = ["sh", "-c", f'echo $$ > "{self.group}/cgroup.procs" && exec "$@"', "sh", *cmd]
        self.proc = subprocess.Popen(list(cmd), env=env, cwd=cwd, **popen)
        self._sampler = threading.Thread(target=self._sample_loop, daemon=True)
        self._sampler.start()
        return self.proc

    def cpu_now(self) -> float:
        if self.group is not None:
            return cgroup_cpu(self.group)
        return self._poll_cpu()

    def _sample_loop(self) -> None:
        next_mem = 0.0
        while not self._stop.is_set():
            now = time.time()
            if self.group is None:
                self._scan()
            self.samples.append(Sample(now, self.cpu_now()))
            if now >= next_mem:
                self._sample_memory()
                next_mem = now + self.mem_interval
            self._stop.wait(self.interval)

    def _pids(self) -> list[int]:
        if self.group is not None:
            return cgroup_pids(self.group)
        return [pid for pid, _ in self._members]

    def _alive(self) -> list[int]:
        """The tree's processes that still run (zombies wait for a reaper outside the tree: not ours)."""
        return [pid for pid in self._pids() if (st := read_stat(pid)) is not None and st.state != "Z"]

    def _sample_memory(self) -> None:
        pids = self._pids()
        rss = pss = 0
        for pid in pids:
            st = read_stat(pid)
            if st is None:
                continue
            key = (pid, st.start)
            self._seen[key] = st
            if self._kinds.get(key, "sh") == "sh":  # the root is `sh` until it execs the command
                self._kinds[key] = kind(pid)
            rss += st.rss
            pss += read_pss(pid)
        self.peak_rss = max(self.peak_rss, rss)
        self.peak_pss = max(self.peak_pss, pss)
        self.max_processes = max(self.max_processes, len(pids))

    # -- polling fallback ----------------------------------------------------------------------
    def _scan(self) -> None:
        if self.proc is None:
            return
        stats = {pid: st for pid in all_pids() if (st := read_stat(pid)) is not None}
        live = {(st.pid, st.start) for st in stats.values()}
        for key in list(self._members):
            if key not in live:  # vanished: who reaped it?
                last = self._seen[key]
                parent = stats.get(last.ppid)
                if parent is None or (last.ppid, parent.start) not in self._members:
                    self._orphan_cpu += last.own + last.children
                self._members.discard(key)
        member_pids = {pid for pid, _ in self._members} | {self.proc.pid}
        changed = True
        while changed:  # parents before children, whatever order /proc lists them in
            changed = False
            for st in stats.values():
                key = (st.pid, st.start)
                if key in self._members:
                    continue
                if st.pid == self.proc.pid or st.ppid in member_pids or has_tag(st.pid, self.tag):
                    self._members.add(key)
                    member_pids.add(st.pid)
                    changed = True
        for key in list(self._members):  # wait() may replace the set from the main thread meanwhile
            st = stats.get(key[0])
            if st is not None and st.start == key[1]:
                self._seen[key] = st
            if self._kinds.get(key, "sh") == "sh":
                self._kinds[key] = kind(key[0])

    def _poll_cpu(self) -> float:
        live = sum(self._seen[k].own + self._seen[k].children for k in self._members if k in self._seen)
        return live + self._orphan_cpu + self.root_rusage_cpu

    # -- the end -------------------------------------------------------------------------------
    def wait(self) -> int:
        """Wait for the root, reaping it with its rusage (the polling account needs it)."""
        assert self.proc is not None
        _, status, usage = os.wait4(self.proc.pid, 0)
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        if self.group is None:
            self._members = {k for k in self._members if k[0] != self.proc.pid}
            self.root_rusage_cpu = usage.ru_utime + usage.ru_stime
        return self.proc.returncode

    def finish(self, grace: float = 5.0) -> float:
        """After the root ended: name and stop what is left of the tree, stop sampling; total CPU."""
        if self.group is None:
            self._scan()
        self.leftovers = sorted(kind(p) for p in self._alive())
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in self._alive():
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, sig)
            deadline = time.monotonic() + grace
            while self._alive() and time.monotonic() < deadline:
                time.sleep(0.1)
                if self.group is None:
                    self._scan()
        self._stop.set()
        self._sampler.join()
        total = self.cpu_now()
        self.samples.append(Sample(time.time(), total))
        if self.group is not None:
            with contextlib.suppress(OSError):
                self.group.rmdir()
        return total

    def breakdown(self) -> dict[str, float]:
        """Own CPU seconds per process kind, as last sampled; the rest of the total is `(unsampled)`."""
        out: dict[str, float] = {}
        for key, st in self._seen.items():
            name = self._kinds.get(key, "?")
            out[name] = out.get(name, 0.0) + st.own
        total = self.samples[-1].cpu if self.samples else 0.0
        out["(unsampled)"] = max(0.0, total - sum(out.values()))
        return dict(sorted(out.items(), key=lambda kv: -kv[1]))

    def cpu_between(self, start: float, stop: float) -> float:
        """Tree CPU used between two time.time() instants (interpolated between samples)."""
        return self.cpu_at(stop) - self.cpu_at(start)

    def cpu_at(self, t: float) -> float:
        s = self.samples
        if not s or t <= s[0].t:
            return s[0].cpu if s else 0.0
        if t >= s[-1].t:
            return s[-1].cpu
        lo, hi = 0, len(s) - 1
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if s[mid].t <= t:
                lo = mid
            else:
                hi = mid
        a, b = s[lo], s[hi]
        return a.cpu + (b.cpu - a.cpu) * ((t - a.t) / (b.t - a.t) if b.t > a.t else 0.0)


def loadavg() -> str:
    """The machine's load averages (1, 5, 15 min), runnable/all tasks, last pid: /proc/loadavg as it is."""
    return Path("/proc/loadavg").read_text().strip()


def machine_cpu() -> float:
    """CPU seconds the whole machine has been busy since boot (every process, every core)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / TICK
