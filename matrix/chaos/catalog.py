"""What botocore's service models say: services, their operations, their protocol, S3's REST routes.

Real data, not a guess: every list here is read from the models botocore ships
(`botocore.session.get_session().get_service_model(name)`), loaded lazily and cached, so that
importing the chaos package costs nothing until a rule names a service.

* `known_services()`           every service name botocore knows (`ec2`, `logs`, `s3`, ...)
* `operation_names(service)`   the operations of one service (`CreateVpc`, `PutItem`, ...)
* `protocol_of(service)`       `ec2` | `query` | `json` | `rest-xml` | `rest-json` | ...
* `s3_routes()`                (method, has bucket, has key) -> candidate operations with the query
                               keys and headers that tell them apart; `protocol.s3_operation` uses it
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass

CORE_SERVICES = ("ec2", "iam", "sts", "s3", "dynamodb", "logs")

_lock = threading.Lock()


@functools.lru_cache(maxsize=1)
def _session():
    import botocore.session

    return botocore.session.get_session()


def service_model(service: str):
    with _lock:  # botocore's loader is not documented as thread-safe; models load once anyway
        return _service_model(service)


@functools.cache
def _service_model(service: str):
    return _session().get_service_model(service)


@functools.lru_cache(maxsize=1)
def known_services() -> frozenset[str]:
    return frozenset(_session().get_available_services())


@functools.cache
def operation_names(service: str) -> frozenset[str]:
    return frozenset(service_model(service).operation_names)


@functools.cache
def protocol_of(service: str) -> str:
    meta = service_model(service).metadata
    protocols = meta.get("protocols") or [meta.get("protocol", "json")]
    return protocols[0]


@dataclass(frozen=True)
class S3Route:
    operation: str
    fixed_query: tuple[tuple[str, str | None], ...]  # from the requestUri: ("list-type", "2"), ("acl", None)
    required_query: tuple[str, ...]                  # required querystring members: uploadId, partNumber, id
    required_headers: tuple[str, ...]                # required header members: x-amz-copy-source
    deprecated: bool

    @property
    def score(self) -> tuple[int, int, int]:
        return (10 * len(self.fixed_query) + len(self.required_query) + len(self.required_headers),
                0 if self.deprecated else 1, 1 if self.operation in _S3_PREFERRED else 0)


# Same request shape, several model operations: the one clients really mean.
_S3_PREFERRED = frozenset({"ListBuckets", "GetObject", "PutObject", "DeleteObject"})


@functools.lru_cache(maxsize=1)
def s3_routes() -> dict[tuple[str, bool, bool], tuple[S3Route, ...]]:
    model = service_model("s3")
    table: dict[tuple[str, bool, bool], list[S3Route]] = {}
    for name in model.operation_names:
        op = model.operation_model(name)
        method = op.http["method"]
        uri = op.http["requestUri"]
        path, _, query = uri.partition("?")
        has_bucket = "{Bucket}" in path
        has_key = "{Key+}" in path
        if not has_bucket and path not in ("", "/"):
            continue  # WriteGetObjectResponse: an Object Lambda call on its own host
        fixed = []
        for part in filter(None, query.split("&")):
            k, eq, v = part.partition("=")
            fixed.append((k, v if eq else None))
        req_q, req_h = [], []
        shape = op.input_shape
        if shape is not None:
            for member in shape.required_members:
                ser = shape.members[member].serialization
                if ser.get("location") == "querystring":
                    req_q.append(ser.get("name", member))
                elif ser.get("location") == "header":
                    req_h.append(ser.get("name", member).lower())
        route = S3Route(name, tuple(fixed), tuple(req_q), tuple(req_h), bool(op.deprecated))
        table.setdefault((method, has_bucket, has_key), []).append(route)
    return {k: tuple(sorted(v, key=lambda r: r.score, reverse=True)) for k, v in table.items()}
