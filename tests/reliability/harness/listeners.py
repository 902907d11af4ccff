"""Which addresses a process (and its children) listens on, read from the kernel's socket tables.

/proc/net/tcp and /proc/net/tcp6 list every TCP socket of the network namespace, one per line:

    sl  local_address rem_address   st tx_queue:rx_queue tr:tm->when retrnsmt   uid  timeout inode
    0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345

`local_address` is the address in hex, each 32-bit word in the host's byte order (little-endian
here: 0100007F is 127.0.0.1), then the port in hex; `st` 0A is LISTEN. /proc/net/udp{,6} have the
same layout (a bound UDP socket has st 07). The owner of a socket is found through its inode: a
process holding it has a link `socket:[inode]` under /proc/<pid>/fd.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

TCP_LISTEN = "0A"
UDP_BOUND = "07"


@dataclass(frozen=True)
class Listener:
    proto: str   # tcp | tcp6 | udp | udp6
    address: str
    port: int
    inode: int

    @property
    def loopback(self) -> bool:
        return ipaddress.ip_address(self.address).is_loopback

    def line(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{self.proto} {host}:{self.port}"


def decode_address(hex_addr: str) -> str:
    """The text form of /proc/net's hex address (IPv4: 8 digits, IPv6: 32), host byte order words."""
    raw = bytes.fromhex(hex_addr)
    words = [raw[i:i + 4] for i in range(0, len(raw), 4)]
    if sys.byteorder == "little":
        words = [w[::-1] for w in words]
    packed = b"".join(words)
    family = socket.AF_INET if len(packed) == 4 else socket.AF_INET6
    return str(ipaddress.ip_address(socket.inet_ntop(family, packed)))


def socket_table(proc_root: Path = Path("/proc")) -> list[Listener]:
    """Every listening TCP socket and bound UDP socket of this network namespace."""
    out = []
    for proto, state in (("tcp", TCP_LISTEN), ("tcp6", TCP_LISTEN), ("udp", UDP_BOUND), ("udp6", UDP_BOUND)):
        path = proc_root / "net" / proto
        try:
            lines = path.read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10 or fields[3] != state:
                continue
            addr, port = fields[1].split(":")
            out.append(Listener(proto, decode_address(addr), int(port, 16), int(fields[9])))
    return out


def _parents() -> dict[int, int]:
    """pid -> parent pid of every process (field 4 of /proc/<pid>/stat)."""
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            text = Path(f"/proc/{entry}/stat").read_text()
            out[int(entry)] = int(text[text.rindex(")") + 2:].split()[1])
    return out


def children(pid: int) -> list[int]:
    """`pid` and all its descendants."""
    parents = _parents()
    seen, todo = [], [pid]
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.append(p)
        todo.extend(c for c, parent in parents.items() if parent == p)
    return seen


def socket_inodes(pid: int) -> set[int]:
    inodes = set()
    fd_dir = Path(f"/proc/{pid}/fd")
    try:
        names = os.listdir(fd_dir)
    except OSError:
        return inodes
    for name in names:
        with contextlib.suppress(OSError):
            target = os.readlink(fd_dir / name)
            if target.startswith("socket:["):
                inodes.add(int(target[8:-1]))
    return inodes


def listening(pid: int, tree: bool = True) -> list[Listener]:
    """The listening/bound sockets held by `pid` (and its descendants when `tree`)."""
    inodes: set[int] = set()
    for p in children(pid) if tree else [pid]:
        inodes |= socket_inodes(p)
    return [s for s in socket_table() if s.inode in inodes]
