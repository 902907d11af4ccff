"""The managed LocalStack's life: state file, loopback-only sockets, reuse, stop (SIGTERM, SIGKILL,
already gone, recycled pid), the CLI, secrets never written, find_external, info."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from matrix import procs
from matrix.paths import BUILD_ENV, PROJECT_ROOT
from matrix.targets import localstack_host as lh

LOOPBACK_HEX = "0100007F"  # 127.0.0.1 in /proc/net/tcp (little endian)


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def _sockets(pid: int) -> list[tuple[str, str, int, str]]:
    """(protocol, local address hex, port, state hex) of every socket `pid` holds."""
    mine = _socket_inodes(pid)
    found = []
    for proto in ("tcp", "tcp6", "udp", "udp6"):
        lines = Path(f"/proc/{pid}/net/{proto}").read_text().splitlines()[1:]
        for line in lines:
            parts = line.split()
            addr, port = parts[1].split(":")
            if parts[9] in mine:
                found.append((proto, addr, int(port, 16), parts[3]))
    return found


def _spawn(code: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _record(proc: subprocess.Popen, port: int = 1) -> None:
    lh.state_dir().mkdir(parents=True, exist_ok=True)
    lh.state_file().write_text(json.dumps({
        "pid": proc.pid, "port": port, "url": f"http://127.0.0.1:{port}", "started": "2026-01-01T00:00:00+00:00",
        "log": "x", "proc_start": procs.start_time(proc.pid),
    }))


# -- the session server ----------------------------------------------------------------------------

def test_state_file_records_the_server(localstack: lh.LocalStackProcess) -> None:
    doc = json.loads(lh.state_file().read_text())
    assert doc["pid"] == localstack.pid
    assert doc["port"] == localstack.port
    assert doc["url"] == f"http://127.0.0.1:{localstack.port}"
    assert doc["started"].endswith("+00:00")
    st = lh.status()
    assert st is not None and st["healthy"] is True
    assert set(st["services"]) == set(lh.SERVICES)
    assert all(v in lh.HEALTHY_STATES for v in st["services"].values()), st["services"]
    assert st["rss_mb"] and st["rss_mb"] > 20
    assert Path(doc["log"]).is_file()


def test_listens_on_loopback_only_and_no_dns(localstack: lh.LocalStackProcess) -> None:
    socks = _sockets(localstack.pid)
    listening = [s for s in socks if s[0].startswith("tcp") and s[3] == "0A"]
    assert listening, socks
    assert {(proto, addr) for proto, addr, _, _ in listening} == {("tcp", LOOPBACK_HEX)}, listening
    assert localstack.port in {port for _, _, port, _ in listening}
    assert not [s for s in socks if s[0].startswith("udp")], "a UDP socket (DNS server?) is open"


def test_start_reuses_the_healthy_server(localstack: lh.LocalStackProcess) -> None:
    again = lh.start(log=lambda _m: None)
    assert (again.pid, again.url) == (localstack.pid, localstack.url)
    with pytest.raises(lh.LocalStackError, match="already runs"):
        lh.start(port=lh.free_port(), log=lambda _m: None)


def test_auth_token_is_passed_but_never_written(localstack: lh.LocalStackProcess, ls_build: Path,
                                               ls_fake_token: str) -> None:
    environ = Path(f"/proc/{localstack.pid}/environ").read_bytes().split(b"\0")
    assert f"LOCALSTACK_AUTH_TOKEN={ls_fake_token}".encode() in environ
    assert not [v for v in environ if v.startswith(b"AWS_")]  # ours is not inherited (conftest sets one)
    for path in ls_build.rglob("*"):
        if path.is_file() and path.stat().st_size < 20_000_000:
            assert ls_fake_token.encode() not in path.read_bytes(), path
    assert ls_fake_token not in json.dumps(lh.status())


def test_launcher_redacts_what_the_server_prints(tmp_path: Path) -> None:
    """The launcher's streams mask secrets before LocalStack's output reaches the log file."""
    fake = tmp_path / "localstack" / "runtime"
    fake.mkdir(parents=True)
    (tmp_path / "localstack" / "__init__.py").write_text("")
    (fake / "__init__.py").write_text("")
    (fake / "main.py").write_text(textwrap.dedent("""
        import logging, os, sys
        logging.basicConfig(stream=sys.stderr, level=logging.INFO)
        print("token is", os.environ["LOCALSTACK_AUTH_TOKEN"])
        logging.getLogger("x").info("again %s", os.environ["LOCALSTACK_AUTH_TOKEN"])
    """))
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(tmp_path), "LOCALSTACK_AUTH_TOKEN": "secret-value-42"}
    out = subprocess.run([sys.executable, "-c", lh._LAUNCHER], env=env, capture_output=True, text=True,
                         check=True, timeout=30)
    text = out.stdout + out.stderr
    assert "secret-value-42" not in text
    assert text.count("***") == 2, text


def test_cli_status_start_and_not_running(localstack: lh.LocalStackProcess, tmp_path: Path) -> None:
    script = tmp_path / "cli.py"
    script.write_text(textwrap.dedent(f"""
        import argparse, sys
        sys.path.insert(0, {str(PROJECT_ROOT)!r})
        from matrix.targets.localstack_cli import add_localstack_parser
        parser = argparse.ArgumentParser(prog="python -m matrix")
        add_localstack_parser(parser.add_subparsers(dest="command", required=True))
        args = parser.parse_args()
        sys.exit(args.func(args))
    """))

    def cli(*args: str, build: Path | None = None) -> subprocess.CompletedProcess:
        env = {**os.environ, BUILD_ENV: str(build or lh.build_dir())}
        return subprocess.run([sys.executable, str(script), "localstack", *args], env=env, capture_output=True,
                              text=True, timeout=120, check=False)

    res = cli("status")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["pid"] == localstack.pid
    res = cli("start")
    assert (res.returncode, res.stdout.strip()) == (0, localstack.url), res.stderr
    empty = tmp_path / "empty-build"
    res = cli("status", build=empty)
    assert res.returncode == 3 and json.loads(res.stdout) == {"running": False}
    res = cli("stop", build=empty)
    assert res.returncode == 0 and "was not running" in res.stderr


# -- stopping ---------------------------------------------------------------------------------------

def test_full_lifecycle_on_a_chosen_port(ls_python: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BUILD_ENV, str(tmp_path))
    port = lh.free_port()
    t0 = time.monotonic()
    server = lh.start(port=port, log=lambda _m: None, timeout=90)
    started_in = time.monotonic() - t0
    try:
        assert server.url == f"http://127.0.0.1:{port}"
        assert lh.status()["healthy"] is True
        assert (tmp_path / "localstack" / "localstack.log").read_text().startswith("# stackmatrix:")
    finally:
        t1 = time.monotonic()
        assert lh.stop(timeout=10) is True
        stopped_in = time.monotonic() - t1
    assert not procs.alive(server.pid)
    assert not lh.state_file().exists()
    assert not lh.tmp_dir().exists(), "the server's TMPDIR (its S3 object data) goes with it"
    assert lh.status() is None
    assert lh.stop() is False
    assert started_in < 60 and stopped_in < 5, (started_in, stopped_in)


def test_sigterm_stops_promptly(ls_python: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The launcher's fix: LocalStack 4.13.1 alone hangs after SIGTERM in 1 stop out of 3-10."""
    monkeypatch.setenv(BUILD_ENV, str(tmp_path))
    for _ in range(3):
        server = lh.start(log=lambda _m: None, timeout=90)
        t0 = time.monotonic()
        assert server.stop(timeout=10) is True
        assert time.monotonic() - t0 < 3, "SIGTERM did not stop it: SIGKILL after the timeout"
        assert not lh.state_file().exists()
    assert (tmp_path / "localstack" / "localstack.previous.log").is_file()


def test_stop_when_the_process_is_already_gone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BUILD_ENV, str(tmp_path))
    proc = _spawn("pass")
    proc.wait(timeout=10)
    _record(proc)
    assert lh.status() is None  # and the stale record is dropped
    assert not lh.state_file().exists()
    _record(proc)
    assert lh.stop(timeout=1) is False
    assert not lh.state_file().exists()


def test_stop_kills_a_server_that_ignores_sigterm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BUILD_ENV, str(tmp_path))
    proc = _spawn("import signal, time  # localstack.runtime.main\n"
                  "signal.signal(signal.SIGTERM, signal.SIG_IGN)\ntime.sleep(60)")
    try:
        time.sleep(0.3)  # let it install its handler
        _record(proc)
        t0 = time.monotonic()
        assert lh.stop(timeout=0.5) is True
        assert time.monotonic() - t0 >= 0.5  # SIGTERM was ignored for the whole timeout...
        assert not procs.alive(proc.pid)  # ...and it is gone: SIGKILL (stop() reaped it, so no exit code)
        assert not lh.state_file().exists()
    finally:
        if proc.poll() is None:
            proc.kill()


def test_stop_never_signals_a_recycled_pid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A record whose pid now belongs to another program: the record goes, the program lives."""
    monkeypatch.setenv(BUILD_ENV, str(tmp_path))
    proc = _spawn("import time\ntime.sleep(60)")
    try:
        _record(proc)
        assert lh.stop(timeout=0.5) is False
        assert proc.poll() is None
        assert not lh.state_file().exists()
    finally:
        proc.kill()
        proc.wait(timeout=5)


def test_ensure_venv_is_a_no_op_when_up_to_date(ls_python: Path) -> None:
    stamp = lh.STAMP.read_text()
    t0 = time.monotonic()
    assert lh.ensure_venv(log=lambda m: pytest.fail(f"installed something: {m}")) == ls_python
    assert time.monotonic() - t0 < 2
    assert lh.STAMP.read_text() == stamp == lh.venv_stamp()


# -- external LocalStack ------------------------------------------------------------------------------

def test_find_external(localstack: lh.LocalStackProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    dead = f"http://127.0.0.1:{lh.free_port()}"
    assert lh.find_external(localstack.url + "/") == localstack.url
    assert lh.find_external(dead) is None
    assert lh.find_external() is None
    monkeypatch.setenv("AWS_ENDPOINT_URL", localstack.url)
    assert lh.find_external() == localstack.url
    monkeypatch.setenv("LOCALSTACK_ENDPOINT", dead)  # first set variable wins, no fallback
    assert lh.find_external() is None
    monkeypatch.setenv("LOCALSTACK_ENDPOINT", localstack.url)
    monkeypatch.setenv("AWS_ENDPOINT_URL", dead)
    assert lh.find_external() == localstack.url
    assert lh.find_external(dead) is None  # an explicit URL never falls back to the environment


def test_find_external_rejects_a_moto_server(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://{host}:{port}")
        assert lh.find_external() is None
    finally:
        server.stop()


def test_info_reports_version_and_edition(localstack: lh.LocalStackProcess) -> None:
    doc = lh.info(localstack.url)
    assert doc["version"] == lh.LOCALSTACK_VERSION
    assert "edition" in doc and doc["is_docker"] is False
    assert lh.health(localstack.url)["version"] == lh.LOCALSTACK_VERSION
    with pytest.raises(lh.LocalStackError, match="did not answer"):
        lh.info(f"http://127.0.0.1:{lh.free_port()}", timeout=1)


def test_a_managed_localstack_kept_for_cells_stops_with_its_last_cell(ls_python: Path, tmp_path: Path,
                                                                     synth_root: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A LocalStack a `--keep` run started stays up, marked kept, while its cell is deployed; it stops
    (with its strict front) when the last kept cell goes, whichever command removed it: `destroy`, or a
    later run that re-deployed and destroyed the cell."""
    import shutil

    build = tmp_path / "build"
    shutil.copytree(synth_root / "synth", build / "synth")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("AWS_") and k not in ("LOCALSTACK_ENDPOINT", BUILD_ENV)}
    env[BUILD_ENV] = str(build)
    monkeypatch.setenv(BUILD_ENV, str(build))

    def matrix(*args: str) -> subprocess.CompletedProcess:
        out = subprocess.run([sys.executable, "-m", "matrix", *args], cwd=PROJECT_ROOT, env=env,
                             capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
        return out

    def kept_run() -> dict:
        matrix("run", "--profile", "dev", "--target", "localstack", "--bootstrap-backend", "--keep",
               "--skip-live", "--no-report")
        record = json.loads(lh.state_file().read_text())
        assert record["kept"] is True and procs.running(record["pid"])
        assert (build / "emulators" / "strict-localstack.json").exists()
        return record

    try:
        record = kept_run()
        out = matrix("destroy")
        assert "stopped the managed LocalStack" in out.stdout + out.stderr
        assert not lh.state_file().exists() and not procs.running(record["pid"])
        assert not (build / "emulators" / "strict-localstack.json").exists()

        record = kept_run()
        matrix("run", "--profile", "dev", "--target", "localstack", "--skip-live", "--no-report")
        assert not (build / "deployments" / "us-east-1-dev.json").exists()
        assert not lh.state_file().exists(), "the kept cell's LocalStack outlived its last cell"
        assert not procs.running(record["pid"])
        assert not (build / "emulators" / "strict-localstack.json").exists()
    finally:
        lh.stop(timeout=10)
