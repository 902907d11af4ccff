"""The AWS wire protocols, both ways: what a request is, and what an error answer looks like.

Reading a request (`classify`), from the cheapest clue to the dearest:

* region and service: the SigV4 credential scope, `Credential=AKID/20240101/<region>/<service>/aws4_request`,
  in the `Authorization` header or, for presigned URLs, in the `X-Amz-Credential` query parameter;
  without a signature, the `X-Amz-Target` prefix or the query `Version` tells the service;
* operation, per protocol family:
  - `json` (DynamoDB JSON 1.0, CloudWatch Logs JSON 1.1): `X-Amz-Target: DynamoDB_20120810.PutItem`;
  - `query` (IAM, STS) and `ec2`: `Action=` in the form body, or in the query string of a GET;
  - `rest-xml` (S3): method + path + query + a few headers, matched against the routes of botocore's
    S3 model (`catalog.s3_routes`): HEAD /b -> HeadBucket, GET /b?list-type=2 -> ListObjectsV2,
    PUT /b/k -> PutObject (CopyObject with `x-amz-copy-source`), PUT /b?versioning ->
    PutBucketVersioning, ... Path-style (`/bucket/key`) and virtual-host style (`bucket.s3.<region>.
    amazonaws.com`, `bucket.s3.localhost.localstack.cloud`, `bucket.localhost`) both work.
* `is_mutating(service, operation, method)`: S3 -> any method but GET/HEAD; others -> anything that
  is not a read (`Describe*`, `Get*`, `List*`, `Head*`, `Query`, `Scan`, `BatchGet*`, ... see READ_PREFIXES).

Reading a request's parameters (`parse_params`, for the strict emulator: dearer, so only for the
operations it has rules for), into the form botocore's serializers start from (the `**kwargs` of a
boto3 call), guided by the operation's input shape:

* `ec2`: the form body, `TagSpecification.1.Tag.2.Key=...` (lists `Name.N`, names from `queryName`
  or the capitalised `locationName`, as botocore's EC2Serializer writes them);
* `query` (IAM, STS): `Tags.member.1.Key=...`, maps `Name.entry.N.key`/`.value` (QuerySerializer);
* `json`: the JSON body as it is;
* `rest-xml` (S3): URI labels (`Bucket`, `Key`), query-string and header members, and the XML payload.
Scalars come back typed (integer, boolean, float), as a client would have passed them.

Writing an error (`error_response`), exactly as each protocol sends it, so that botocore's parsers
(botocore/parsers.py) and the other SDKs find code and message where they look:

* ec2 (EC2QueryParser): `<Response><Errors><Error><Code/><Message/></Error></Errors><RequestID/></Response>`;
* query (QueryParser): `<ErrorResponse xmlns=".../doc/<version>/"><Error><Type>Sender|Receiver</Type>
  <Code/><Message/></Error><RequestId/></ErrorResponse>`;
* json (BaseJSONParser): `{"__type": "...", "message": "..."}` with `Content-Type:
  application/x-amz-json-1.0|1.1`, `x-amzn-ErrorType` and, for DynamoDB, a correct `x-amz-crc32`;
* rest-xml (RestXMLParser, S3 form): `<Error><Code/><Message/><RequestId/><HostId/></Error>` with
  `x-amz-request-id` / `x-amz-id-2`; a HEAD answer has no body (botocore then reads the code from the
  status: "503", which it retries as a transient error, as with real S3).
In every XML body, characters XML 1.0 cannot carry (control characters a refusal echoes from the
client's value) are replaced by U+FFFD (`xml_text`), so the body always parses.
Every answer carries `x-amzn-RequestId` (S3: `x-amz-request-id`) and `x-stackmatrix-fault: <rule>`
(a strict refusal: `x-stackmatrix-strict: <rule>`).
"""

from __future__ import annotations

import base64
import http
import json
import os
import re
import uuid
import zlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, unquote_plus
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from matrix.chaos import catalog

# Per known service: protocol family, API version (query `Version`), XML namespace, JSON target prefix.
SERVICES: dict[str, dict[str, str | None]] = {
    "ec2": {"protocol": "ec2", "version": "2016-11-15", "xmlns": "http://ec2.amazonaws.com/doc/2016-11-15/"},
    "iam": {"protocol": "query", "version": "2010-05-08", "xmlns": "https://iam.amazonaws.com/doc/2010-05-08/"},
    "sts": {"protocol": "query", "version": "2011-06-15", "xmlns": "https://sts.amazonaws.com/doc/2011-06-15/"},
    "s3": {"protocol": "rest-xml"},
    "dynamodb": {"protocol": "json", "json_version": "1.0", "target": "DynamoDB_20120810"},
    "logs": {"protocol": "json", "json_version": "1.1", "target": "Logs_20140328"},
}
_TARGET_PREFIX = {str(v["target"]): k for k, v in SERVICES.items() if v.get("target")}
_QUERY_VERSION = {str(v["version"]): k for k, v in SERVICES.items() if v.get("version")}
# signing name in the credential scope -> service name, where they differ
_SIGNING_NAMES = {"s3express": "s3", "execute-api": "apigateway"}

READ_PREFIXES = (
    "Describe", "Get", "List", "Head", "Query", "Scan", "Search", "Filter", "Simulate", "Test",
    "Validate", "Decode", "Assume", "Acquire", "Confirm", "Select", "BatchGet", "TransactGet", "Generate",
)
_READ_EXACT = frozenset({"Query", "Scan"})

_CRED_RE = re.compile(r"Credential=([^/,\s]*)/(\d{8})/([^/]+)/([^/]+)/aws4_request")
_ACTION_RE = re.compile(rb"(?:^|&)Action=([^&]*)")
_VERSION_RE = re.compile(rb"(?:^|&)Version=([^&]*)")
_S3_VHOST_RE = re.compile(r"^(?P<bucket>.+?)\.s3(?:[.-]|$)")

# Bodies of query-protocol calls are small; never buffer more than this to find `Action`.
MAX_CLASSIFY_BODY = 1 << 20


@dataclass(slots=True)
class RequestInfo:
    """What one HTTP request is, in AWS terms."""

    service: str          # "" when not an AWS call (emulator internals such as /moto-api/)
    region: str
    operation: str
    protocol: str         # ec2 | query | json | rest-xml | rest-json | unknown
    method: str
    json_version: str = "1.1"

    @property
    def mutating(self) -> bool:
        return is_mutating(self.service, self.operation, self.method)

    def as_dict(self) -> dict[str, str | bool]:
        return {"service": self.service, "region": self.region, "operation": self.operation,
                "protocol": self.protocol, "mutating": self.mutating}


# -- reading ---------------------------------------------------------------------------------------

def credential_scope(headers: dict[str, str], query: str = "") -> tuple[str, str]:
    """(region, service) from the SigV4 credential scope, or ("", "") when the request is unsigned."""
    auth = headers.get("authorization", "")
    m = _CRED_RE.search(auth) if auth else None
    if m is None and "X-Amz-Credential=" in query:
        m = _CRED_RE.search("Credential=" + unquote(query.split("X-Amz-Credential=", 1)[1].split("&", 1)[0]))
    if m is None:
        return "", ""
    service = m.group(4)
    return m.group(3), _SIGNING_NAMES.get(service, service)


def media_type(headers: dict[str, str]) -> str:
    """The Content-Type's media type, lower-case, without parameters (`; charset=utf-8`): HTTP
    media types are case-insensitive (RFC 9110 8.3.1)."""
    return headers.get("content-type", "").split(";", 1)[0].strip().lower()


def needs_body(method: str, headers: dict[str, str]) -> bool:
    """True when the operation is in the body (query protocol POST): the proxy then buffers it."""
    if method != "POST" or "x-amz-target" in headers:
        return False
    if media_type(headers) != "application/x-www-form-urlencoded":
        return False
    try:
        return 0 < int(headers.get("content-length", "0")) <= MAX_CLASSIFY_BODY
    except ValueError:
        return False


def classify(method: str, target: str, headers: dict[str, str], body: bytes | None = None) -> RequestInfo:
    """Identify a request. `headers` keys are lower-case; `target` is the request-target (path?query)."""
    path, _, query = target.partition("?")
    region, service = credential_scope(headers, query)
    amz_target = headers.get("x-amz-target")
    if amz_target:
        prefix, _, op = amz_target.rpartition(".")
        service = service or _TARGET_PREFIX.get(prefix, "")
        version = "1.0" if media_type(headers).endswith("1.0") else "1.1"
        if service in SERVICES and SERVICES[service].get("json_version"):
            version = str(SERVICES[service]["json_version"])
        return RequestInfo(service, region, op, "json", method, version)
    if path.startswith(("/moto-api", "/_localstack", "/_aws/")) and not service:
        return RequestInfo("", region, "", "unknown", method)
    action = version = None
    if body and needs_body(method, headers):
        m = _ACTION_RE.search(body)
        action = unquote_plus(m.group(1).decode("latin-1")) if m else None
        v = _VERSION_RE.search(body)
        version = unquote_plus(v.group(1).decode("latin-1")) if v else None
    if action is None and "Action=" in query:
        qs = parse_qs(query, keep_blank_values=True)
        action = (qs.get("Action") or [None])[0]
        version = (qs.get("Version") or [None])[0]
    if action is not None:
        service = service or _QUERY_VERSION.get(version or "", "")
        proto = "ec2" if service == "ec2" else "query"
        return RequestInfo(service, region, action, proto, method)
    if service == "s3" or (not service and _looks_s3(headers)):
        return RequestInfo("s3", region, s3_operation(method, path, query, headers), "rest-xml", method)
    if service:
        proto = _protocol_guess(service)
        return RequestInfo(service, region, "", proto, method)
    return RequestInfo("", region, "", "unknown", method)


def _looks_s3(headers: dict[str, str]) -> bool:
    return "x-amz-content-sha256" in headers or bool(_S3_VHOST_RE.match(headers.get("host", "")))


def _protocol_guess(service: str) -> str:
    if service in SERVICES:
        return str(SERVICES[service]["protocol"])
    try:
        return catalog.protocol_of(service)
    except Exception:
        return "unknown"


def split_bucket_key(path: str, host: str) -> tuple[str, str]:
    """(bucket, key) of an S3 request, path-style or virtual-host style."""
    hostname = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    m = _S3_VHOST_RE.match(hostname)
    bucket = m.group("bucket") if m else ""
    if not bucket and hostname.endswith(".localhost"):
        bucket = hostname[: -len(".localhost")]
    rest = path.lstrip("/")
    if bucket:
        return bucket, unquote(rest)
    b, _, key = rest.partition("/")
    return unquote(b), unquote(key)


def s3_operation(method: str, path: str, query: str, headers: dict[str, str]) -> str:
    """The S3 operation name of a REST request (botocore's name), e.g. ListObjectsV2."""
    bucket, key = split_bucket_key(path, headers.get("host", ""))
    routes = catalog.s3_routes().get((method, bool(bucket), bool(key)), ())
    qs = parse_qs(query, keep_blank_values=True) if query else {}
    for route in routes:  # sorted most specific first
        if all(k in qs and (v is None or v in qs[k]) for k, v in route.fixed_query) \
                and all(q in qs for q in route.required_query) \
                and all(h in headers for h in route.required_headers):
            return route.operation
    if method == "POST" and bucket and not key:
        return "PostObject"  # browser form upload: not a botocore operation
    return f"{method.title()}{'Object' if key else 'Bucket' if bucket else ''}"


def is_mutating(service: str, operation: str, method: str = "POST") -> bool:
    """Does the call change state? S3 by method, the others by the operation's verb."""
    if service == "s3":
        return method not in ("GET", "HEAD")
    if not operation:
        return method not in ("GET", "HEAD")
    if operation in _READ_EXACT:
        return False
    return not operation.startswith(READ_PREFIXES)


# -- parameters ------------------------------------------------------------------------------------

class BadParams(ValueError):
    """The request's parameters cannot be read (malformed body): the strict emulator passes it on,
    counted as unjudged. `where` names the part ("JSON body", "XML body"), never its content."""

    def __init__(self, where: str, detail: str) -> None:
        super().__init__(f"{where}: {detail}")
        self.where = where


def parse_params(info: RequestInfo, target: str, headers: dict[str, str], body: bytes | None,
                 input_shape: Any) -> dict[str, Any]:
    """The request's parameters as botocore's `**kwargs` for `info.operation` (see the module doc)."""
    if input_shape is None:
        return {}
    if info.protocol in ("ec2", "query"):
        _, _, query = target.partition("?")
        text = (body or b"").decode("utf-8", "replace") if body else query
        flat = {k: v[0] for k, v in parse_qs(text, keep_blank_values=True).items()}
        prefixes = {k.rsplit(".", n)[0] for k in flat for n in range(1, k.count(".") + 1)}
        out = _from_query(input_shape, "", flat, prefixes, info.protocol == "ec2")
        return out if isinstance(out, dict) else {}
    if info.protocol in ("json", "rest-json"):
        try:
            doc = json.loads(body or b"{}")
        except ValueError as exc:
            raise BadParams("JSON body", str(exc)) from None
        return doc if isinstance(doc, dict) else {}
    if info.protocol == "rest-xml":
        return _from_rest_xml(input_shape, target, headers, body)
    return {}


_MISSING = object()


def _query_name(member: Any, name: str, ec2: bool) -> str:
    ser = member.serialization
    if not ec2:
        return ser.get("name", name)
    if "queryName" in ser:
        return ser["queryName"]
    if "name" in ser:
        return ser["name"][0].upper() + ser["name"][1:]
    return name


def _indices(prefix: str, flat: dict[str, str], prefixes: set[str]) -> list[int]:
    found = set()
    cut = len(prefix) + 1
    for key in (*flat, *prefixes):
        if key.startswith(prefix + "."):
            head = key[cut:].split(".", 1)[0]
            if head.isdigit():
                found.add(int(head))
    return sorted(found)


def _scalar(shape: Any, text: str) -> Any:
    kind = shape.type_name
    try:
        if kind in ("integer", "long"):
            return int(text)
        if kind in ("float", "double"):
            return float(text)
    except ValueError:
        return text  # the service answers a malformed number itself
    if kind == "boolean":
        return text.lower() == "true"
    return text


def _from_query(shape: Any, prefix: str, flat: dict[str, str], prefixes: set[str], ec2: bool) -> Any:
    kind = shape.type_name
    if kind == "structure":
        out = {}
        for name, member in shape.members.items():
            key = _query_name(member, name, ec2)
            value = _from_query(member, f"{prefix}.{key}" if prefix else key, flat, prefixes, ec2)
            if value is not _MISSING:
                out[name] = value
        return out if out or not prefix or prefix in prefixes else _MISSING
    if kind == "list":
        base = prefix
        if not ec2 and not shape.serialization.get("flattened"):
            base = f"{prefix}.{shape.member.serialization.get('name', 'member')}"
        if base not in prefixes:
            return [] if flat.get(prefix) == "" else _MISSING  # `Name=` is how query sends an empty list
        return [v for i in _indices(base, flat, prefixes)
                if (v := _from_query(shape.member, f"{base}.{i}", flat, prefixes, ec2)) is not _MISSING]
    if kind == "map":
        base = prefix if shape.serialization.get("flattened") else f"{prefix}.entry"
        if base not in prefixes:
            return _MISSING
        kname = shape.key.serialization.get("name", "key")
        vname = shape.value.serialization.get("name", "value")
        out = {}
        for i in _indices(base, flat, prefixes):
            k = flat.get(f"{base}.{i}.{kname}")
            if k is not None:
                out[k] = _from_query(shape.value, f"{base}.{i}.{vname}", flat, prefixes, ec2)
        return out
    text = flat.get(prefix)
    return _MISSING if text is None else _scalar(shape, text)


def _from_rest_xml(shape: Any, target: str, headers: dict[str, str], body: bytes | None) -> dict[str, Any]:
    path, _, query = target.partition("?")
    bucket, key = split_bucket_key(path, headers.get("host", ""))
    qs = parse_qs(query, keep_blank_values=True) if query else {}
    out: dict[str, Any] = {}
    payload = shape.serialization.get("payload")
    for name, member in shape.members.items():
        ser = member.serialization
        where, wire = ser.get("location"), ser.get("name", name)
        if where == "uri":
            value = bucket if wire == "Bucket" else key if wire.rstrip("+") == "Key" else None
            if value:
                out[name] = value
        elif where == "querystring" and wire in qs:
            out[name] = _scalar(member, qs[wire][0])
        elif where == "header" and wire.lower() in headers:
            out[name] = _scalar(member, headers[wire.lower()])
        elif name == payload and body and member.type_name == "structure":
            try:
                root = ElementTree.fromstring(body)  # noqa: S314 - a client's request to a local emulator
            except ElementTree.ParseError as exc:
                raise BadParams("XML body", str(exc)) from None
            out[name] = _from_xml(member, root)
    return out


def _from_xml(shape: Any, element: Any) -> Any:
    kind = shape.type_name
    children = list(element)
    if kind == "structure":
        out = {}
        for name, member in shape.members.items():
            wire = member.serialization.get("name", name)
            if member.type_name == "list" and member.serialization.get("flattened"):
                items = [c for c in children if _local(c.tag) == wire]
                if items:
                    out[name] = [_from_xml(member.member, c) for c in items]
                continue
            child = next((c for c in children if _local(c.tag) == wire), None)
            if child is not None:
                out[name] = _from_xml(member, child)
        return out
    if kind == "list":
        return [_from_xml(shape.member, c) for c in children]
    return _scalar(shape, (element.text or "").strip())


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


# -- writing ---------------------------------------------------------------------------------------

@dataclass(slots=True)
class ErrorResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def head_bytes(self, keep_alive: bool = True) -> bytes:
        reason = _reason(self.status)
        lines = [f"HTTP/1.1 {self.status} {reason}"]
        lines += [f"{k}: {v}" for k, v in self.headers]
        if not keep_alive:
            lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _reason(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def request_id() -> str:
    return str(uuid.uuid4())


def _http_date() -> str:
    from email.utils import formatdate

    return formatdate(usegmt=True)


def error_response(info: RequestInfo, code: str, status: int, message: str, *, rule: str = "",
                   req_id: str | None = None, marker: str = "x-stackmatrix-fault") -> ErrorResponse:
    """The error answer `info.service` would send for `code`, in its protocol's exact shape; `rule` goes
    in the `marker` header (x-stackmatrix-fault for injected faults, x-stackmatrix-strict for refusals)."""
    rid = req_id or request_id()
    msg = xml_text(message)
    headers: list[tuple[str, str]] = [("Date", _http_date())]
    proto = info.protocol
    if proto == "ec2":
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>{xml_text(code)}</Code>'
                f"<Message>{msg}</Message></Error></Errors><RequestID>{rid}</RequestID></Response>").encode()
        headers += [("Content-Type", "text/xml;charset=UTF-8"), ("x-amzn-RequestId", rid)]
    elif proto == "query":
        xmlns = SERVICES.get(info.service, {}).get("xmlns") or f"https://{info.service}.amazonaws.com/doc/"
        kind = "Sender" if status < 500 else "Receiver"
        body = (f'<ErrorResponse xmlns="{xmlns}">\n  <Error>\n    <Type>{kind}</Type>\n'
                f"    <Code>{xml_text(code)}</Code>\n    <Message>{msg}</Message>\n  </Error>\n"
                f"  <RequestId>{rid}</RequestId>\n</ErrorResponse>\n").encode()
        headers += [("Content-Type", "text/xml"), ("x-amzn-RequestId", rid)]
    elif proto in ("json", "rest-json", "unknown"):
        type_ = code
        if info.service == "dynamodb":
            type_ = f"com.amazonaws.dynamodb.v20120810#{code}"
        body = json.dumps({"__type": type_, "message": message}, separators=(",", ":")).encode()
        ctype = "application/json" if proto == "rest-json" else f"application/x-amz-json-{info.json_version}"
        headers += [("Content-Type", ctype), ("x-amzn-RequestId", rid), ("x-amzn-ErrorType", code)]
        if info.service == "dynamodb":
            headers.append(("x-amz-crc32", str(zlib.crc32(body) & 0xFFFFFFFF)))
    else:  # rest-xml: S3
        host_id = base64.b64encode(os.urandom(48)).decode()
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{xml_text(code)}</Code><Message>{msg}</Message>'
                f"<RequestId>{rid}</RequestId><HostId>{host_id}</HostId></Error>").encode()
        headers += [("Content-Type", "application/xml"), ("x-amz-request-id", rid), ("x-amz-id-2", host_id)]
    if info.method == "HEAD":
        body = b""
    headers.append(("Content-Length", str(len(body))))
    if rule:
        headers.append((marker, _header_safe(rule)))
    return ErrorResponse(status, headers, body)


# What XML 1.0 cannot carry at all, even escaped (its `Char` production): C0 controls but tab, LF and
# CR; lone surrogates (a body decoded with surrogateescape); U+FFFE and U+FFFF.
_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(text: str) -> str:
    """`text` as XML character data: escaped, and each character XML 1.0 cannot carry replaced by
    U+FFFD (a refusal echoes the client's value, which may hold any character: unreplaced, the whole
    error body would be unparseable and the client would see a parser error instead of AWS's error)."""
    return escape(_NOT_XML_CHAR.sub("\ufffd", text))


def _header_safe(text: str) -> str:
    return re.sub(r"[^\x21-\x7e ]", "?", text)[:200]
