"""Client-side faults for real AWS (TLS, no proxy in the way): the same rules inside our boto3 clients.

botocore emits `before-send.<service-id>.<Operation>` with the signed `AWSPreparedRequest` just before
it would open a connection, inside its retry loop (botocore/endpoint.py `_do_get_response`). A handler
that returns a response object stops the send; botocore then parses that response with the service's
own parser and hands it to its retry handler exactly as if AWS had answered. So:

* `FaultHooks.install(client)` registers one `before-send` handler on the client's event emitter
  (`install_session(session)` on a boto3 session: clients created *afterwards* inherit it);
* the handler classifies the request with `protocol.classify` (region and service from the SigV4
  scope, operation from the event name: botocore's own name), asks the `RuleSet` and logs each fault
  to the `FaultLog` with `source: "hook"`;
* throttle/error -> an `AWSResponse` built by `protocol.error_response` (same bytes the proxy sends),
  which botocore parses and retries (standard/legacy/adaptive alike);
  latency -> sleep, then the real call; reset -> `botocore.exceptions.ConnectionClosedError`, which
  botocore retries as a connection failure. `when: "after"` cannot be done before sending: a reset
  here is always "before" (logged so).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from matrix.chaos.faultlog import FaultLog
from matrix.chaos.protocol import classify, error_response
from matrix.chaos.rules import Fault, Rule, RuleSet

if TYPE_CHECKING:  # types only: boto3 loads with the clients
    import boto3.session

_ids = itertools.count(1)


class _RawBody:
    """The `raw` of an AWSResponse: what botocore reads the body from."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any):
        yield self._body

    def read(self, amt: int | None = None) -> bytes:
        data, self._body = (self._body, b"") if amt is None else (self._body[:amt], self._body[amt:])
        return data


class FaultHooks:
    """Inject rules into boto3 clients through botocore's `before-send` event."""

    def __init__(self, rules: RuleSet | Iterable[Rule | Mapping[str, Any]] | None,
                 fault_log: FaultLog | None = None, cell: str = "") -> None:
        self._rules = RuleSet.coerce(rules).copy().arm()  # own counters and draws
        self.fault_log = fault_log if fault_log is not None else FaultLog()
        self.cell = cell
        self._unique_id = f"stackmatrix-fault-hooks-{next(_ids)}"

    # -- rules at run time (same contract as FaultProxy)

    @property
    def rules(self) -> RuleSet:
        return self._rules

    def set_rules(self, rules: RuleSet | Iterable[Rule | Mapping[str, Any]] | None) -> RuleSet:
        new = RuleSet.coerce(rules).copy().arm()
        self._rules = new
        return new

    def disarm(self) -> None:
        self._rules = RuleSet()

    # -- wiring

    def install(self, client: Any) -> Any:
        """Register on one boto3/botocore client; returns the client."""
        client.meta.events.register("before-send", self._before_send, unique_id=self._unique_id)
        return client

    def uninstall(self, client: Any) -> None:
        client.meta.events.unregister("before-send", self._before_send, unique_id=self._unique_id)

    def install_session(self, session: boto3.session.Session) -> boto3.session.Session:
        """Register on a boto3 session: every client created from it afterwards."""
        session.events.register("before-send", self._before_send, unique_id=self._unique_id)
        return session

    # -- the handler

    def _before_send(self, request: Any, event_name: str = "", **_: Any) -> Any:
        rules = self._rules
        if not rules:
            return None
        parts = urlsplit(request.url)
        headers = {k.lower(): (v.decode("latin-1") if isinstance(v, bytes) else str(v))
                   for k, v in request.headers.items()}
        headers.setdefault("host", parts.netloc)
        body = request.body
        if isinstance(body, str):
            body = body.encode("utf-8")
        elif not isinstance(body, bytes | bytearray):
            body = None
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        info = classify(request.method, target or "/", headers, bytes(body) if body is not None else None)
        operation = event_name.rsplit(".", 1)[-1] if event_name.count(".") >= 2 else ""
        if operation:
            info.operation = operation
        faults = rules.evaluate(info)
        terminal: Fault | None = None
        for fault in faults:
            if fault.effect == "reset" and fault.when != "before":
                fault = Fault(fault.rule, "reset", when="before")
            self.fault_log.record_fault(fault, info, cell=self.cell, source="hook")
            if fault.effect == "latency":
                time.sleep(fault.latency_ms / 1000.0)
            else:
                terminal = fault
        if terminal is None:
            return None
        if terminal.effect == "reset":
            from botocore.exceptions import ConnectionClosedError

            raise ConnectionClosedError(endpoint_url=request.url)
        from botocore.awsrequest import AWSResponse

        resp = error_response(info, terminal.code or "ServiceUnavailable", terminal.status or 503,
                              terminal.message or "", rule=terminal.rule.name)
        return AWSResponse(request.url, resp.status, dict(resp.headers), _RawBody(resp.body))
