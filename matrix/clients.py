"""One client factory for every AWS call a cell makes: engine, backend, live suite, leak check.

`ClientFactory(access)` builds boto3 clients for a cell's `Access` (endpoint, region, credentials)
with botocore's `standard` retry mode (attempts: the `max_attempts` argument, which `run
--max-attempts` sets) and counts, per service, through botocore's event system:

* `calls`      logical API calls (before-call), and `mutating` ones (not Describe/Get/List/Head);
* `retries`    retry attempts botocore made (ResponseMetadata.RetryAttempts, after-call);
* `throttles`  attempts answered with a throttling code (needs-retry, every attempt);
* `errors`     calls that finally failed, by service and code;
* `call_log`   every logical call in order (seconds since the factory was made, service, region,
               operation, HTTP status, error code, retries) plus `note()` markers such as the
               embedded engine's "read-back": names and outcomes only, never parameters, so it
               can be attached to a report as it is (`call_lines(since)`).

The counters feed the reports and the chaos expectations. Extra event handlers (client-side fault
injection for real accounts) are registered with `add_hook`.

What is expensive to build is built once per process: every factory's botocore session uses one
shared botocore loader (`shared_loader()`), so the service models, endpoint rule sets, endpoints and
partitions are read and parsed from botocore's data files once, not once per cell (a new session
with its clients costs about 5x the CPU of one on the shared loader; `nox -s bench -- matrix` measures
the run). What is a cell's own stays per factory: its botocore session (credentials, region, event
handlers, hence the counters and hooks above) and its clients (endpoint, config, connection pool).
The loader is thread-safe for this use: its cache is a dict filled under the GIL (two threads
missing the same model at once both parse it, the last one stays cached), and botocore treats the
loaded models as read-only.
"""

from __future__ import annotations

import functools
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
import botocore.session
from botocore.config import Config
from botocore.loaders import Loader

from matrix.chaos.codes import BOTOCORE_THROTTLE_CODES

THROTTLE_CODES = BOTOCORE_THROTTLE_CODES  # the codes botocore's standard mode retries as throttles
CALL_LOG_LIMIT = 20000  # the newest calls kept (a cell makes a few hundred)
READ_PREFIXES = ("Describe", "Get", "List", "Head", "Lookup", "Search", "Scan", "Query", "Filter")
SERVICE_ALIASES = {"cloudwatch-logs": "logs"}


_loader: Loader | None = None
_loader_lock = threading.Lock()


def shared_loader() -> Loader:
    """The process's one botocore loader (made as botocore makes it: AWS_DATA_PATH is honoured)."""
    global _loader
    with _loader_lock:
        if _loader is None:
            _loader = botocore.session.get_session().get_component("data_loader")
        return _loader


def service_key(service_id: str) -> str:
    return SERVICE_ALIASES.get(service_id, service_id)


def is_mutating(operation: str) -> bool:
    return not operation.startswith(READ_PREFIXES)


@dataclass(frozen=True)
class Access:
    """How a cell reaches its account: an emulator endpoint with test keys, or a real profile."""

    region: str
    endpoint: str | None = None
    access_key: str | None = None
    secret_key: str | None = None
    session_token: str | None = None
    profile: str | None = None
    account_id: str = ""

    def for_region(self, region: str) -> Access:
        return Access(region, self.endpoint, self.access_key, self.secret_key, self.session_token,
                      self.profile, self.account_id)


@dataclass
class Counters:
    calls: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    mutating: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    retries: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    throttles: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    operations: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    call_log: deque = field(default_factory=lambda: deque(maxlen=CALL_LOG_LIMIT), repr=False)
    logged: int = 0  # entries ever appended (call_log drops the oldest beyond its limit)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, entry: dict[str, Any]) -> None:
        with self.lock:
            self.call_log.append(entry)
            self.logged += 1

    def bump(self, table: str, key: str, n: int = 1) -> None:
        with self.lock:
            getattr(self, table)[key] += n

    def as_dict(self) -> dict[str, dict[str, int]]:
        with self.lock:
            return {name: dict(getattr(self, name)) for name in
                    ("calls", "mutating", "retries", "throttles", "errors", "operations")}

    def total(self, table: str) -> int:
        with self.lock:
            return sum(getattr(self, table).values())

    def mark(self) -> dict[str, int]:
        """Totals now, to measure what one step did (`since(mark)`)."""
        return {t: self.total(t) for t in ("calls", "mutating", "retries", "throttles", "errors")}

    def since(self, mark: dict[str, int]) -> dict[str, int]:
        return {t: self.total(t) - mark.get(t, 0) for t in mark}


class ClientFactory:
    def __init__(self, access: Access, max_attempts: int = 8, counters: Counters | None = None,
                 connect_timeout: float = 10, read_timeout: float = 60) -> None:
        self.access = access
        self.counters = counters or Counters()
        self.max_attempts = max_attempts
        self._config = Config(
            retries={"mode": "standard", "total_max_attempts": max_attempts},  # attempts, first one included
            connect_timeout=connect_timeout, read_timeout=read_timeout, max_pool_connections=32,
            s3={"addressing_style": "path"} if access.endpoint else None,
        )
        core = botocore.session.get_session()  # this cell's own: credentials, region, event handlers
        self._session = boto3.session.Session(
            aws_access_key_id=access.access_key, aws_secret_access_key=access.secret_key,
            aws_session_token=access.session_token, profile_name=access.profile,
            region_name=access.region, botocore_session=core,
        )
        # after boto3's set-up (it adds its resource-model folder to the loader it finds, which stays
        # this session's own, for boto3 resources) and before any client: clients load from the shared one
        core.register_component("data_loader", shared_loader())
        self._core = core
        self._clients: dict[tuple[str, str], Any] = {}
        self._started = time.monotonic()
        self._lock = threading.Lock()
        self._hooks: list[tuple[str, Callable[..., Any]]] = []
        self._register(self._session.events)

    # -- counting ----------------------------------------------------------------------------
    def _register(self, events: Any) -> None:
        events.register("before-call", self._before_call)
        events.register("needs-retry", self._needs_retry)
        events.register("after-call", self._after_call)

    def _before_call(self, model: Any = None, **_: Any) -> None:
        svc = service_key(model.service_model.service_id.hyphenize())
        self.counters.bump("calls", svc)
        self.counters.bump("operations", f"{svc}:{model.name}")
        if is_mutating(model.name):
            self.counters.bump("mutating", svc)

    def _needs_retry(self, response: Any = None, operation: Any = None, **_: Any) -> None:
        if response is None or operation is None:
            return None
        parsed = response[1] if isinstance(response, tuple) and len(response) > 1 else {}
        code = (parsed or {}).get("Error", {}).get("Code")
        if code in THROTTLE_CODES:
            self.counters.bump("throttles", service_key(operation.service_model.service_id.hyphenize()))
        return None

    def _after_call(self, http_response: Any = None, parsed: Any = None, model: Any = None, **_: Any) -> None:
        svc = service_key(model.service_model.service_id.hyphenize())
        meta = (parsed or {}).get("ResponseMetadata", {})
        if meta.get("RetryAttempts"):
            self.counters.bump("retries", svc, int(meta["RetryAttempts"]))
        if http_response is not None and http_response.status_code >= 300:
            code = (parsed or {}).get("Error", {}).get("Code", str(http_response.status_code))
            self.counters.bump("errors", f"{svc}:{code}")

    def _log_call(self, region: str, http_response: Any = None, parsed: Any = None, model: Any = None,
                  **_: Any) -> None:
        meta = (parsed or {}).get("ResponseMetadata", {})
        self.counters.record({
            "t": round(time.monotonic() - self._started, 3),
            "service": service_key(model.service_model.service_id.hyphenize()), "region": region,
            "operation": model.name, "status": getattr(http_response, "status_code", 0),
            "error": (parsed or {}).get("Error", {}).get("Code", ""), "retries": int(meta.get("RetryAttempts") or 0)})

    def _log_failed_call(self, region: str, exception: Any = None, event_name: str = "", **_: Any) -> None:
        """A call that got no response at all (connection refused, timeout): after-call never fires."""
        _event, service, operation = [*event_name.split("."), "", "", ""][:3]
        self.counters.record({
            "t": round(time.monotonic() - self._started, 3), "service": service_key(service), "region": region,
            "operation": operation, "status": 0, "error": type(exception).__name__, "retries": 0})

    def note(self, text: str) -> None:
        """A marker in the call log (e.g. "read-back: 33 resources")."""
        self.counters.record({"t": round(time.monotonic() - self._started, 3), "note": text})

    def log_position(self) -> int:
        return self.counters.logged

    def call_lines(self, since: int = 0) -> list[str]:
        """The call log from position `since` (log_position()) as text lines."""
        with self.counters.lock:
            entries = list(self.counters.call_log)
            first = self.counters.logged - len(entries)
        out = []
        for entry in entries[max(0, since - first):]:
            if "note" in entry:
                out.append(f"{entry['t']:9.3f}  -- {entry['note']}")
                continue
            outcome = f"{entry['status']} {entry['error']}".strip()
            retries = f" ({entry['retries']} retries)" if entry["retries"] else ""
            out.append(f"{entry['t']:9.3f}  {entry['service']:<8} {entry['region']:<15} {entry['operation']:<32} "
                       f"{outcome}{retries}")
        return out

    @property
    def botocore_session(self) -> botocore.session.Session:
        """This cell's botocore session (its data_loader is the process's `shared_loader()`)."""
        return self._core

    @property
    def session(self) -> boto3.session.Session:
        """The boto3 session every client comes from (fault hooks register on it before any client)."""
        return self._session

    # -- clients -----------------------------------------------------------------------------
    def add_hook(self, event: str, handler: Callable[..., Any]) -> None:
        """Register an event handler on every client (existing and future)."""
        with self._lock:
            self._hooks.append((event, handler))
            self._session.events.register(event, handler)
            for client in self._clients.values():  # clients copy the emitter when created
                client.meta.events.register(event, handler)

    def client(self, service: str, region: str | None = None) -> Any:
        key = (service, region or self.access.region)
        with self._lock:
            if key not in self._clients:
                client = self._session.client(
                    service, region_name=key[1], endpoint_url=self.access.endpoint, config=self._config,
                )
                client.meta.events.register("after-call", functools.partial(self._log_call, key[1]))
                client.meta.events.register("after-call-error", functools.partial(self._log_failed_call, key[1]))
                self._clients[key] = client
            return self._clients[key]
