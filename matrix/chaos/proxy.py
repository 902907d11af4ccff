"""The fault proxy: an HTTP/1.1 reverse proxy on 127.0.0.1 that speaks just enough AWS to lie well.

    client (boto3, terraform, aws cli) --HTTP/1.1 keep-alive--> FaultProxy --pooled--> moto / LocalStack

In strict mode (`strict=True`, matrix/chaos/strict.py) it also answers every call AWS would refuse
with AWS's error instead of forwarding it; a chaos cell's fault proxy chains in front of the strict
one its target owns (client -> fault proxy -> strict proxy -> emulator).

Parts:

* `FaultProxy`   the public object: `start()`, `stop()`, `.url`, context manager, `set_rules()` /
                 `disarm()` / `arm()` at run time (one reference swap: thread-safe), `stats()` (also
                 served as JSON at `GET /_stackmatrix/stats`). It works on its own copy of the rules
                 (own counters, own seeded draws).
* `_Connection`  one thread per client connection, serving its requests in order (keep-alive).
                 Per request: read the head; when rules are armed, `protocol.classify` it (buffering
                 the small form body of query-protocol calls to find `Action`), `RuleSet.evaluate`,
                 log each fault to the `FaultLog`; then either answer with the protocol's error
                 (`protocol.error_response`), reset the connection, or forward. In strict mode a
                 call the `StrictChecker` wants (its body read only then) is judged first: a
                 `Refusal` is answered like a fault and logged with effect "refuse" (a `reset`
                 fault drawn `when: "after"` waits for the verdict: a refused call is answered
                 with the refusal, never forwarded, and no reset is logged). A call it
                 should judge and cannot (chunked, huge or malformed body; a mutating call to a
                 judged service whose operation is not identified) or whose judging fails is
                 forwarded, counted in `stats()` and named once per operation on stderr (`notice`:
                 the front's log; never a body, header or exception message).
* `_Upstream`    a pool of idle upstream connections (LIFO, stale ones dropped before use; a request
                 whose body was buffered is replayed once on a fresh connection if a pooled one died).

Forwarding keeps the request as the client sent it: same request line, same header lines in the
same order and case (Host included, so SigV4 signatures stay valid), same bytes of body with the same
framing (Content-Length or chunked, relayed raw). Only hop-by-hop headers (Connection, Keep-Alive,
Proxy-Connection, Upgrade) are per hop; `Expect: 100-continue` is answered here (the body is then
streamed). Responses come back the same way, bodies untouched; moto answers `Connection: close`
to every request, the proxy still keeps the client's connection alive.

Why threads: side by side with an asyncio-streams version of the same proxy, threads added less
latency per call at the same throughput (figures: docs/measurements.md, "Fault proxy"). Blocking
sockets with buffered readers do the work in C; TCP_NODELAY on both sides keeps small requests from
waiting on Nagle.
"""

from __future__ import annotations

import contextlib
import html
import ipaddress
import json
import select
import socket
import ssl
import struct
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from matrix.chaos import catalog
from matrix.chaos.faultlog import FaultLog
from matrix.chaos.protocol import (
    MAX_CLASSIFY_BODY,
    RequestInfo,
    classify,
    credential_scope,
    error_response,
    needs_body,
)
from matrix.chaos.rules import Fault, Rule, RuleSet
from matrix.chaos.strict import Refusal, StrictChecker, Unjudged
from matrix.errors import UsageError
from matrix.redact import redact

MAX_LINE = 65536
MAX_HEADERS = 200
CHUNK = 65536
SMALL_BODY = 256 * 1024      # bodies up to this size are read whole and sent with the head
CLIENT_IDLE_TIMEOUT = 300.0
UPSTREAM_TIMEOUT = 600.0
MAX_IDLE_UPSTREAM = 64
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "upgrade"})
STATS_PATH = "/_stackmatrix/stats"


class _BadRequest(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


class _UpstreamClosed(ConnectionError):
    pass


# -- HTTP/1.1 framing helpers ----------------------------------------------------------------------

def _read_head(rfile) -> tuple[bytes, list[tuple[str, bytes]], dict[str, str]] | None:
    """(start line, [(lower name, raw line)], {lower name: value}) or None at a clean EOF."""
    line = rfile.readline(MAX_LINE + 1)
    while line in (b"\r\n", b"\n"):
        line = rfile.readline(MAX_LINE + 1)
    if not line:
        return None
    if len(line) > MAX_LINE or not line.endswith(b"\n"):
        raise _BadRequest(414, "request line too long")
    raw: list[tuple[str, bytes]] = []
    headers: dict[str, str] = {}
    while True:
        h = rfile.readline(MAX_LINE + 1)
        if h in (b"\r\n", b"\n"):
            break
        if not h or len(h) > MAX_LINE or len(raw) >= MAX_HEADERS:
            raise _BadRequest(431, "header section too large or truncated")
        name, sep, value = h.partition(b":")
        if not sep:
            raise _BadRequest(400, "malformed header line")
        lname = name.strip().lower().decode("latin-1")
        v = value.strip().decode("latin-1")
        headers[lname] = f"{headers[lname]}, {v}" if lname in headers else v
        raw.append((lname, h if h.endswith(b"\r\n") else h[:-1] + b"\r\n"))
    if not line.endswith(b"\r\n"):
        line = line[:-1] + b"\r\n"
    return line, raw, headers


def _body_length(headers: Mapping[str, str]) -> int | str:
    """Request framing: 'chunked' or a byte count."""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return "chunked"
    cl = headers.get("content-length")
    if cl is None:
        return 0
    try:
        n = int(cl.split(",")[0])
    except ValueError:
        raise _BadRequest(400, "bad Content-Length") from None
    if n < 0:
        raise _BadRequest(400, "bad Content-Length")
    return n


def _response_length(method: str, status: int, headers: Mapping[str, str]) -> int | str:
    """Response framing: a byte count, 'chunked', or 'close' (read until the server closes)."""
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        return 0
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return "chunked"
    cl = headers.get("content-length")
    if cl is None:
        return "close"
    try:
        return int(cl.split(",")[0])
    except ValueError:
        return "close"


def _read_exact(rfile, n: int) -> bytes:
    data = rfile.read(n) if n else b""
    if len(data) != n:
        raise _UpstreamClosed("connection closed in the middle of a body")
    return data


def _relay_fixed(rfile, sock: socket.socket | None, n: int) -> None:
    """Copy n bytes from rfile to sock (or discard them when sock is None)."""
    while n > 0:
        data = rfile.read1(min(n, CHUNK))
        if not data:
            raise _UpstreamClosed("connection closed in the middle of a body")
        if sock is not None:
            sock.sendall(data)
        n -= len(data)


def _relay_chunked(rfile, sock: socket.socket | None) -> None:
    """Copy a chunked body, framing and trailers included, byte for byte."""
    out = bytearray()

    def flush() -> None:
        if sock is not None and out:
            sock.sendall(out)
        out.clear()

    while True:
        line = rfile.readline(MAX_LINE + 1)
        if not line:
            raise _UpstreamClosed("connection closed in a chunked body")
        out += line
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise _BadRequest(400, "bad chunk size") from None
        if size == 0:
            while True:
                t = rfile.readline(MAX_LINE + 1)
                if not t:
                    raise _UpstreamClosed("connection closed in chunked trailers")
                out += t
                if t in (b"\r\n", b"\n"):
                    flush()
                    return
        remaining = size + 2
        while remaining > 0:
            data = rfile.read1(min(remaining, CHUNK))
            if not data:
                raise _UpstreamClosed("connection closed in a chunk")
            out += data
            remaining -= len(data)
            if len(out) >= CHUNK:
                flush()


def _relay_until_close(rfile, sock: socket.socket | None) -> None:
    while True:
        data = rfile.read1(CHUNK)
        if not data:
            return
        if sock is not None:
            sock.sendall(data)


def _rebuild(start: bytes, raw: Iterable[tuple[str, bytes]], drop: frozenset[str] | set[str],
             extra: bytes = b"") -> bytes:
    parts = [start]
    parts += [line for name, line in raw if name not in drop]
    parts.append(extra + b"\r\n")
    return b"".join(parts)


def _nodelay(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _notice(text: str) -> None:
    print(redact(text), file=sys.stderr, flush=True)


def _where(exc: BaseException) -> str:
    """An exception's type and the place it was raised (file:line), never its message (it may hold a value)."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    place = f" at {tb.tb_frame.f_code.co_filename.rsplit('/', 1)[-1]}:{tb.tb_lineno}" if tb is not None else ""
    return f"{type(exc).__name__}{place}"


def client_family(user_agent: str) -> str:
    """Which client sent a request, from its User-Agent: terraform, aws-cli, `app/<id>` (an SDK client
    given AWS_SDK_UA_APP_ID, e.g. the live suite's), boto3, botocore, or other."""
    if "Terraform/" in user_agent:
        return "terraform"
    if user_agent.startswith("aws-cli/"):
        return "aws-cli"
    for part in user_agent.split():
        if part.startswith("app/"):
            return part
    for marker in ("Boto3/", "Botocore/"):
        if marker in user_agent:
            return marker[:-1].lower()
    return "other"


# -- upstream pool -----------------------------------------------------------------------------------

class _Upstream:
    """Idle upstream connections, LIFO. deque append/pop are atomic: no lock needed."""

    def __init__(self, scheme: str, host: str, port: int) -> None:
        self.scheme, self.host, self.port = scheme, host, port
        self._ctx = ssl.create_default_context() if scheme == "https" else None
        self._idle: deque[tuple[socket.socket, Any]] = deque()

    def get(self) -> tuple[socket.socket, Any, bool]:
        while True:
            try:
                sock, rfile = self._idle.pop()
            except IndexError:
                break
            if self._stale(sock):
                self._close(sock, rfile)
                continue
            return sock, rfile, True
        return (*self.connect(), False)

    def connect(self) -> tuple[socket.socket, Any]:
        sock = socket.create_connection((self.host, self.port), timeout=UPSTREAM_TIMEOUT)
        _nodelay(sock)
        if self._ctx is not None:
            sock = self._ctx.wrap_socket(sock, server_hostname=self.host)
        return sock, sock.makefile("rb", buffering=CHUNK)

    @staticmethod
    def _stale(sock: socket.socket) -> bool:
        try:  # an idle connection with something to read has been closed (or is broken)
            readable, _, _ = select.select([sock], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)

    def put(self, sock: socket.socket, rfile: Any) -> None:
        if len(self._idle) < MAX_IDLE_UPSTREAM:
            self._idle.append((sock, rfile))
        else:
            self._close(sock, rfile)

    @staticmethod
    def _close(sock: socket.socket, rfile: Any) -> None:
        try:
            rfile.close()
        finally:
            sock.close()

    def close_all(self) -> None:
        while self._idle:
            self._close(*self._idle.pop())


# -- the proxy ---------------------------------------------------------------------------------------

class FaultProxy:
    """AWS-aware fault-injecting reverse proxy on a loopback address.

    `FaultProxy(upstream_url, rules, fault_log=None, cell="", host="127.0.0.1", port=0, strict=None)`;
    `rules` is a RuleSet, a list of Rule, a list of rule dicts (any supported format) or None
    (pass-through); `strict` True (or a StrictChecker) refuses what AWS would refuse.
    """

    def __init__(self, upstream_url: str, rules: RuleSet | Iterable[Rule | Mapping[str, Any]] | None = None,
                 fault_log: FaultLog | None = None, cell: str = "", host: str = "127.0.0.1",
                 port: int = 0, strict: StrictChecker | bool | None = None) -> None:
        parts = urlsplit(upstream_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError(f"--upstream {upstream_url!r}: not an http(s) URL; e.g. http://127.0.0.1:5000")
        if parts.path not in ("", "/") or parts.query:
            raise UsageError(f"--upstream {upstream_url!r}: must be scheme://host:port only (no path)")
        try:
            up_port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise UsageError(f"--upstream {upstream_url!r}: bad port") from None
        try:
            addr = ipaddress.ip_address(host)
        except ValueError:
            raise UsageError(f"proxy host {host!r}: must be a loopback IP address (127.0.0.1)") from None
        if not addr.is_loopback:
            raise UsageError(f"proxy host {host!r}: the fault proxy listens on loopback only (127.0.0.1)")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise UsageError(f"--port {port!r}: must be 0..65535 (0 = any free port)")
        self.upstream_url = upstream_url.rstrip("/")
        self.host = host
        self.port = port
        self.cell = cell
        self.fault_log = fault_log if fault_log is not None else FaultLog()
        self._family = socket.AF_INET6 if addr.version == 6 else socket.AF_INET
        self._upstream = _Upstream(parts.scheme, parts.hostname, up_port)
        self._rules = RuleSet.coerce(rules).copy()  # our own counters and draws: one RuleSet may feed many cells
        self._loaded = self._rules
        self._lsock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._closing = threading.Event()
        self._clients: set[socket.socket] = set()
        self._clients_lock = threading.Lock()
        self._stats_lock = threading.Lock()
        self._requests: Counter[str] = Counter()
        self._upstream_errors = 0
        self._internal_errors = 0
        self.strict: StrictChecker | None = StrictChecker() if strict is True else (strict or None)
        self._refused: Counter[str] = Counter()
        self._strict_errors: Counter[str] = Counter()           # "service.Operation" -> judging errors
        self._unjudged: Counter[tuple[str, str]] = Counter()    # ("service.Operation", reason) -> calls
        self._noticed: set[tuple[str, str]] = set()
        self._by_client: Counter[str] = Counter()
        self.notice: Callable[[str], None] = _notice  # the front's log (its stderr): once per operation

    # -- lifecycle

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if self._family == socket.AF_INET6 else self.host
        return f"http://{host}:{self.port}"

    @property
    def address(self) -> tuple[str, int]:
        """The listening socket's own address (what the kernel bound)."""
        if self._lsock is None:
            raise RuntimeError("proxy not started")
        return self._lsock.getsockname()[:2]

    def start(self) -> FaultProxy:
        if self._lsock is not None:
            return self
        ls = socket.socket(self._family, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            ls.bind((self.host, self.port))
        except OSError as exc:
            ls.close()
            raise UsageError(f"--port {self.port}: cannot listen on {self.host}:{self.port}: {exc.strerror}") from None
        ls.listen(512)
        self._lsock = ls
        self.port = ls.getsockname()[1]
        self._closing.clear()
        self._warm(self._rules)
        if self.strict is not None:
            self.strict.warm_async()
        if self._rules.armed_at is None:
            self._rules.arm()
        self._thread = threading.Thread(target=self._accept_loop, name=f"fault-proxy:{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        ls, self._lsock = self._lsock, None
        if ls is None:
            return
        self._closing.set()
        with contextlib.suppress(OSError):
            ls.shutdown(socket.SHUT_RDWR)
        ls.close()
        with self._clients_lock:
            clients = list(self._clients)
        for c in clients:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._upstream.close_all()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- rules at run time

    @property
    def rules(self) -> RuleSet:
        return self._rules

    def set_rules(self, rules: RuleSet | Iterable[Rule | Mapping[str, Any]] | None) -> RuleSet:
        """Arm a copy of `rules` now (windows count from here; counters and seeded draws start afresh).
        `proxy.rules` is the live copy (its `counters()` are this proxy's)."""
        new = RuleSet.coerce(rules).copy()
        self._warm(new)
        new.arm()
        self._loaded = new
        self._rules = new
        return new

    def arm(self) -> RuleSet:
        """Re-arm the loaded rules (after `disarm`, or to restart their windows and counters)."""
        self._loaded.arm()
        self._rules = self._loaded
        return self._loaded

    def disarm(self) -> None:
        """No more faults (the loaded rules are kept for `arm`)."""
        self._rules = RuleSet()

    @staticmethod
    def _warm(rules: RuleSet) -> None:
        if rules and ({"s3", "*"} & rules.services):
            catalog.s3_routes()  # build S3's routing table before the first request needs it

    def stats(self) -> dict[str, Any]:
        """Requests seen per service (by credential scope) and per client (terraform, aws-cli, boto3,
        `app/<id>` of AWS_SDK_UA_APP_ID), faults injected, upstream errors, and internal errors (requests
        forwarded untouched because classifying them failed: a bug of ours). In strict mode also
        `strict`: calls judged, refused (by rule), forwarded unjudged (`unjudged_by_call`:
        "service.Operation" -> reason -> count; reasons: a chunked or huge body, a malformed body, an
        operation that cannot be identified), and judging errors (`errors_by_call`; forwarded: a bug of
        ours). The front's log names each unjudged or failed operation once (`notice`)."""
        with self._stats_lock:
            by_service = dict(self._requests)
            errors, internal = self._upstream_errors, self._internal_errors
            by_client = dict(self._by_client)
            unjudged: dict[str, dict[str, int]] = {}
            for (call, reason), n in sorted(self._unjudged.items()):
                unjudged.setdefault(call, {})[reason] = n
            strict = {"judged": self.strict.judged, "refused": sum(self._refused.values()),
                      "refused_by_rule": dict(self._refused), "unjudged": sum(self._unjudged.values()),
                      "unjudged_by_call": unjudged, "errors": sum(self._strict_errors.values()),
                      "errors_by_call": dict(self._strict_errors)} if self.strict is not None else None
        return {"upstream": self.upstream_url, "requests": sum(by_service.values()), "by_service": by_service,
                "by_client": by_client,
                "faults": self.fault_log.summary(), "rule_counters": self._rules.counters(),
                "upstream_errors": errors, "internal_errors": internal, "strict": strict}

    # -- serving

    def _accept_loop(self) -> None:
        ls = self._lsock
        while ls is not None and not self._closing.is_set():
            try:
                conn, _ = ls.accept()
            except OSError:
                break
            _nodelay(conn)
            conn.settimeout(CLIENT_IDLE_TIMEOUT)
            with self._clients_lock:
                self._clients.add(conn)
            threading.Thread(target=self._serve, args=(conn,), name="fault-proxy-conn", daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        rfile = conn.makefile("rb", buffering=CHUNK)
        try:
            while not self._closing.is_set():
                if not self._handle(conn, rfile):
                    break
        except _BadRequest as exc:
            self._simple(conn, exc.status, str(exc))
        except (OSError, ValueError, _UpstreamClosed):
            pass
        finally:
            with self._clients_lock:
                self._clients.discard(conn)
            try:
                rfile.close()
            finally:
                conn.close()

    def _count(self, service: str, headers: Mapping[str, str]) -> None:
        client = client_family(headers.get("user-agent", ""))
        with self._stats_lock:
            self._requests[service or "-"] += 1
            self._by_client[client] += 1

    def _handle(self, conn: socket.socket, rfile) -> bool:
        """Serve one request; True to keep the client connection for the next one."""
        head = _read_head(rfile)
        if head is None:
            return False
        start, raw, headers = head
        try:
            method_b, target_b, version_b = start.split(None, 2)
        except ValueError:
            raise _BadRequest(400, "malformed request line") from None
        method = method_b.decode("latin-1")
        target = target_b.decode("latin-1")
        version = version_b.strip()
        client_keep = version == b"HTTP/1.1" and "close" not in headers.get("connection", "").lower()
        length = _body_length(headers)
        expect = headers.get("expect", "").lower() == "100-continue"
        if method == "GET" and target == STATS_PATH:
            return self._answer_stats(conn, client_keep)
        body: bytes | None = None
        rules = self._rules
        strict = self.strict
        faults: list[Fault] = []
        info: RequestInfo | None = None
        if rules or strict is not None:
            if not expect and isinstance(length, int) and needs_body(method, headers):
                body = _read_exact(rfile, length)
            try:
                info = classify(method, target, headers, body)
                faults = rules.evaluate(info) if rules else []
            except Exception as exc:  # a bug of ours must not break the client's call: forward it untouched
                info, faults = None, []
                with self._stats_lock:
                    self._internal_errors += 1
                self._notice_once(("internal", _where(exc)), f"fault proxy: could not classify a {method} "
                                  f"request ({_where(exc)}): forwarded untouched"
                                  f"{', unjudged' if strict is not None else ''}, faults not drawn (a bug of ours; "
                                  f"logged once per place)")
            self._count(info.service if info else "-", headers)
        else:
            self._count(credential_scope(headers, target.partition("?")[2])[1], headers)
        terminal: Fault | None = None
        for fault in faults:
            if fault.effect == "latency":
                self.fault_log.record_fault(fault, info, cell=self.cell, source="proxy")
                time.sleep(fault.latency_ms / 1000.0)
            else:
                terminal = fault  # RuleSet.evaluate draws at most one
        if terminal is not None and info is not None:
            if terminal.effect == "reset" and terminal.when == "before":
                self.fault_log.record_fault(terminal, info, cell=self.cell, source="proxy")
                self._reset(conn)
                return False
            if terminal.effect in ("throttle", "error"):
                self.fault_log.record_fault(terminal, info, cell=self.cell, source="proxy")
                return self._answer_error(conn, rfile, info, terminal.code or "ServiceUnavailable",
                                          terminal.status or 503, terminal.message or "", terminal.rule.name,
                                          length, body, expect, client_keep)
        # What is left of a terminal fault is a reset *after* the call took effect: the call is judged
        # first (AWS would refuse it: it takes no effect, the refusal is answered, no reset is logged).
        answered_expect = False
        if strict is not None and info is not None and not info.operation \
                and info.mutating and strict.judges_service(info.service):
            self._skip(info, "operation not identified")
        if strict is not None and info is not None and strict.wants(info):
            if body is None and isinstance(length, int) and length <= MAX_CLASSIFY_BODY:
                if expect:  # the client waits for our go-ahead before it sends the body we must judge
                    conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
                    expect, answered_expect = False, True
                body = _read_exact(rfile, length)
            refusal = self._judge(strict, info, target, headers, body, length)
            if refusal is not None:
                return self._answer_refusal(conn, info, refusal, client_keep)
        if terminal is not None:
            self.fault_log.record_fault(terminal, info, cell=self.cell, source="proxy")
        return self._forward(conn, rfile, method, start, raw, headers, length, body, expect, client_keep,
                             reset_after=terminal is not None, drop_expect=answered_expect)

    # -- strict mode

    def _judge(self, strict: StrictChecker, info: RequestInfo, target: str, headers: Mapping[str, str],
               body: bytes | None, length: int | str) -> Refusal | None:
        if body is None and length not in (0, None):  # the emulator judges it alone
            self._skip(info, "chunked body" if length == "chunked" else f"body over {MAX_CLASSIFY_BODY} bytes")
            return None
        try:
            return strict.judge(info, target, dict(headers), body)
        except Unjudged as exc:
            self._skip(info, str(exc))
            return None
        except Exception as exc:  # a bug of ours must not break the client's call: counted, logged, forwarded
            call = f"{info.service}.{info.operation}"
            with self._stats_lock:
                self._strict_errors[call] += 1
            self._notice_once(("error", call), f"strict: judging {call} failed ({_where(exc)}): forwarded "
                              "unjudged (a bug of ours; logged once per operation, counted in stats errors)")
            return None

    def _skip(self, info: RequestInfo, reason: str) -> None:
        """A call the strict emulator should judge and cannot: counted, named once in the front's log."""
        call = f"{info.service}.{info.operation or '?'}"
        with self._stats_lock:
            self._unjudged[(call, reason)] += 1
        self._notice_once(("unjudged", call), f"strict: {call} ({info.method}) forwarded unjudged: {reason} "
                          "(logged once per operation, counted in stats unjudged)")

    def _notice_once(self, key: tuple[str, str], text: str) -> None:
        with self._stats_lock:
            if key in self._noticed:
                return
            self._noticed.add(key)
        self.notice(text)

    def _answer_refusal(self, conn, info: RequestInfo, refusal: Refusal, keep: bool) -> bool:
        with self._stats_lock:
            self._refused[refusal.rule] += 1
        self.fault_log.record(service=info.service, operation=info.operation, region=info.region, effect="refuse",
                              rule=refusal.rule, cell=self.cell, source="strict", mutating=info.mutating,
                              code=refusal.code, status=refusal.status)
        resp = error_response(info, refusal.code, refusal.status, refusal.answer(), rule=refusal.rule,
                              marker="x-stackmatrix-strict")
        conn.sendall(resp.head_bytes(keep_alive=keep) + resp.body)
        return keep

    def _answer_stats(self, conn, keep: bool) -> bool:
        body = json.dumps(self.stats(), sort_keys=True).encode()
        close = "" if keep else "Connection: close\r\n"
        head = (f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                f"{close}\r\n")
        conn.sendall(head.encode() + body)
        return keep

    # -- faults

    def _answer_error(self, conn, rfile, info: RequestInfo, code: str, status: int, message: str, rule: str,
                      length: int | str, body: bytes | None, expect: bool, keep: bool) -> bool:
        if body is None and not expect:  # consume the body so the connection stays usable
            if length == "chunked":
                _relay_chunked(rfile, None)
            elif length:
                _relay_fixed(rfile, None, int(length))
        elif expect and length:
            keep = False  # the client may or may not send the body now: start afresh
        resp = error_response(info, code, status, message, rule=rule)
        conn.sendall(resp.head_bytes(keep_alive=keep) + resp.body)
        return keep

    @staticmethod
    def _reset(conn: socket.socket) -> None:
        with contextlib.suppress(OSError):  # SO_LINGER 0: close() sends RST instead of FIN
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with contextlib.suppress(OSError):
            conn.shutdown(socket.SHUT_RD)

    def _simple(self, conn: socket.socket, status: int, text: str) -> None:
        # An HTML body, as load balancers send: botocore then reads a generic error from the status
        # ("502", retried as transient) instead of failing to parse it as the protocol's XML/JSON.
        body = f"<html><body>stackmatrix fault proxy: {html.escape(text)}</body></html>\n".encode()
        head = (f"HTTP/1.1 {status} {'Bad Gateway' if status == 502 else 'Bad Request'}\r\n"
                f"Content-Type: text/html\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n")
        with contextlib.suppress(OSError):
            conn.sendall(head.encode() + body)

    # -- forwarding

    def _forward(self, conn, rfile, method: str, start: bytes, raw, headers, length: int | str,
                 body: bytes | None, expect: bool, client_keep: bool, reset_after: bool,
                 drop_expect: bool = False) -> bool:
        drop = HOP_BY_HOP | {"expect"} if expect or drop_expect else HOP_BY_HOP
        fwd_head = _rebuild(start, raw, drop)
        if body is None and isinstance(length, int) and length <= SMALL_BODY and not expect:
            body = _read_exact(rfile, length)
        try:
            if body is not None:
                usock, ufile = self._send_buffered(fwd_head + body)
            else:
                usock, ufile, _ = self._upstream.get()
                try:
                    if expect:
                        conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
                    usock.sendall(fwd_head)
                    if length == "chunked":
                        _relay_chunked(rfile, usock)
                    else:
                        _relay_fixed(rfile, usock, int(length))
                except BaseException:
                    self._upstream._close(usock, ufile)
                    raise
            status, status_line, uraw, uheaders = self._response_head(ufile, conn)
        except (OSError, _UpstreamClosed) as exc:
            with self._stats_lock:
                self._upstream_errors += 1
            self._simple(conn, 502, f"upstream {self.upstream_url} failed: {exc}")
            return False
        try:
            return self._relay_response(conn, method, usock, ufile, status, status_line, uraw, uheaders,
                                        client_keep, reset_after)
        except BaseException:
            self._upstream._close(usock, ufile)
            raise

    def _send_buffered(self, payload: bytes) -> tuple[socket.socket, Any]:
        """Send a whole request; replay it once on a fresh connection if a pooled one turns out dead."""
        usock, ufile, reused = self._upstream.get()
        try:
            usock.sendall(payload)
            if reused and not ufile.peek(1):
                raise _UpstreamClosed("pooled connection closed")
            return usock, ufile
        except (OSError, _UpstreamClosed):
            self._upstream._close(usock, ufile)
            if not reused:
                raise
        usock, ufile = self._upstream.connect()
        try:
            usock.sendall(payload)
        except BaseException:
            self._upstream._close(usock, ufile)
            raise
        return usock, ufile

    def _response_head(self, ufile, conn) -> tuple[int, bytes, list, dict]:
        while True:
            head = _read_head(ufile)
            if head is None:
                raise _UpstreamClosed("upstream closed the connection without answering")
            line, uraw, uheaders = head
            try:
                status = int(line.split(None, 2)[1])
            except (IndexError, ValueError):
                raise _UpstreamClosed(f"bad status line from upstream: {line[:80]!r}") from None
            if 100 <= status < 200 and status != 101:
                if status != 100:  # 103 Early Hints etc.: pass on; 100 Continue was ours to send
                    conn.sendall(_rebuild(line, uraw, HOP_BY_HOP))
                continue
            return status, line, uraw, uheaders

    def _relay_response(self, conn, method: str, usock, ufile, status: int, status_line: bytes, uraw,
                        uheaders, client_keep: bool, reset_after: bool) -> bool:
        length = _response_length(method, status, uheaders)
        upstream_keep = (status_line.startswith(b"HTTP/1.1") and length != "close"
                         and "close" not in uheaders.get("connection", "").lower())
        if reset_after:  # the call took effect upstream; its answer is lost on the way back
            if length == "chunked":
                _relay_chunked(ufile, None)
            elif length == "close":
                _relay_until_close(ufile, None)
            else:
                _relay_fixed(ufile, None, int(length))
            self._release(usock, ufile, upstream_keep)
            self._reset(conn)
            return False
        keep = client_keep and length != "close"
        out_head = _rebuild(status_line, uraw, HOP_BY_HOP, b"" if keep else b"Connection: close\r\n")
        if isinstance(length, int):
            if length <= SMALL_BODY:
                conn.sendall(out_head + _read_exact(ufile, length))
            else:
                conn.sendall(out_head)
                _relay_fixed(ufile, conn, length)
        elif length == "chunked":
            conn.sendall(out_head)
            _relay_chunked(ufile, conn)
        else:
            conn.sendall(out_head)
            _relay_until_close(ufile, conn)
        self._release(usock, ufile, upstream_keep)
        return keep

    def _release(self, usock, ufile, reusable: bool) -> None:
        if reusable and not self._closing.is_set():
            self._upstream.put(usock, ufile)
        else:
            self._upstream._close(usock, ufile)
