"""Fake secrets in the environment never reach a file under build/, and every server of ours
listens on 127.0.0.1 only; plus the two detectors proven on planted positives."""

from __future__ import annotations

import base64
import sys
import urllib.parse

from harness import secretscan
from harness.listeners import decode_address, listening
from harness.procs import Child


def test_scanner_finds_a_secret_raw_percent_encoded_and_in_base64(tmp_path):
    values = secretscan.fake_secrets()
    secret = values["AWS_SECRET_ACCESS_KEY"]
    (tmp_path / "a.log").write_text(f"key={secret}\n")
    (tmp_path / "b.bin").write_bytes(b"\x00\xff" + urllib.parse.quote(secret, safe="").encode())
    for k in range(3):
        (tmp_path / f"c{k}.txt").write_bytes(base64.b64encode(b"x" * k + secret.encode() + b"tail"))
    files, hits = secretscan.scan(tmp_path, values)
    assert files == 5
    assert {h.split(":")[0] for h in hits} == {"a.log", "b.bin", "c0.txt", "c1.txt", "c2.txt"}, hits


def test_listener_reader_sees_loopback_and_wildcard_binds():
    assert decode_address("0100007F") == "127.0.0.1"
    assert decode_address("00000000000000000000000001000000") == "::1"
    code = ("import socket, sys, time\n"
            "a = socket.socket(); a.bind(('127.0.0.1', 0)); a.listen()\n"
            "b = socket.socket(); b.bind(('0.0.0.0', 0)); b.listen()\n"
            "print(a.getsockname()[1], b.getsockname()[1], flush=True); time.sleep(60)\n")
    with Child([sys.executable, "-c", code]) as child:
        assert child.wait_for(lambda: bool(child.out), 20, 0.02)
        ports = [int(p) for p in child.out[0][1].split()]
        found = {(s.address, s.port): s.loopback for s in listening(child.pid)}
    wildcard = "0.0.0.0"  # noqa: S104 - the planted positive the reader must flag
    assert found == {("127.0.0.1", ports[0]): True, (wildcard, ports[1]): False}


def test_no_secret_in_build_and_every_listener_on_loopback(rel_ws, figures):
    section = secretscan.SecretsBattery(rel_ws).run()
    figures["secrets"] = section
    assert section["files_scanned"] > 100
    assert section["secrets_found"] == 0, section["hits"]
    assert section["listeners_checked"] >= len(secretscan.EXPECTED_SERVERS)
    assert section["listeners_off_loopback"] == 0, section["listeners"]
    assert secretscan.problems(section) == []

