"""Publishing the HTML report to S3, with the trend kept in the bucket between CI machines.

`publish("s3://BUCKET/PREFIX", client_factory=..., run_id=..., history_path=..., generate=...)`:
1. downloads `PREFIX/history.jsonl` into the local history file (if the bucket has one),
2. calls `generate()` (which builds the report with that history and appends this run to it),
3. uploads the report under `PREFIX/<run-id>/` and `PREFIX/latest/` (stale files of the previous
   latest are deleted),
4. uploads the history file back to `PREFIX/history.jsonl`.

The S3 client comes from `client_factory()`; this module never reads or logs credentials. For
real AWS the caller passes the guarded client factory (the same rules as the aws target); for an
emulator `emulator_client_factory(endpoint)` builds a plain boto3 client, refusing any endpoint
that is not on this machine (loopback), so that an --endpoint cannot be used to reach real AWS
around the guard.
"""

from __future__ import annotations

import ipaddress
import mimetypes
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from matrix.errors import StackmatrixError, UsageError
from reports.files import write_bytes

S3_URL_RE = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:/(?P<prefix>.*))?$")
HISTORY_KEY = "history.jsonl"
LATEST = "latest"
RUN_ID_RE = re.compile(r"[^A-Za-z0-9._-]+")
ClientFactory = Callable[[], Any]


@dataclass(frozen=True)
class S3Target:
    bucket: str
    prefix: str  # without leading/trailing slash; may be ""

    def key(self, *parts: str) -> str:
        return "/".join(p.strip("/") for p in (self.prefix, *parts) if p and p.strip("/"))

    def url(self, *parts: str) -> str:
        return f"s3://{self.bucket}/{self.key(*parts)}"


@dataclass
class PublishResult:
    target: S3Target
    run_id: str
    run_url: str
    latest_url: str
    uploaded: int = 0
    deleted: int = 0
    history_restored: bool = False
    messages: list[str] = field(default_factory=list)


def parse_s3_url(url: str) -> S3Target:
    m = S3_URL_RE.match(url or "")
    if not m or ".." in m.group("bucket"):
        raise UsageError(f"--publish {url!r}: use s3://BUCKET/PREFIX (a valid S3 bucket name: lowercase "
                         "letters, digits, dots and hyphens, 3 to 63 characters), e.g. s3://my-reports/stackmatrix")
    prefix = (m.group("prefix") or "").strip("/")
    if any(part in ("", ".", "..") for part in prefix.split("/")) and prefix:
        raise UsageError(f"--publish {url!r}: the prefix has an empty, '.' or '..' segment")
    return S3Target(m.group("bucket"), prefix)


def safe_run_id(run_id: str) -> str:
    cleaned = RUN_ID_RE.sub("-", run_id or "").strip("-.")
    if not cleaned or cleaned == LATEST:
        raise UsageError(f"run id {run_id!r} cannot name a report folder (use letters, digits, . _ -)")
    return cleaned


def check_emulator_endpoint(endpoint: str) -> str:
    """Only an endpoint on this machine is an emulator; real AWS goes through the guarded client."""
    parsed = urlparse(endpoint or "")
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise UsageError(f"--endpoint {endpoint!r}: use an http(s) URL such as http://127.0.0.1:5000")
    host = parsed.hostname
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        raise UsageError(f"--endpoint {endpoint!r}: only an emulator on this machine (127.0.0.1, localhost, ::1) "
                         "may be given as an endpoint; to publish to real AWS omit --endpoint, which uses the "
                         "guarded AWS client")
    return endpoint


def emulator_client_factory(endpoint: str, region: str = "us-east-1") -> ClientFactory:
    """A plain boto3 S3 client for an emulator endpoint (credentials from boto3's usual chain,
    or placeholder ones when there are none: an emulator accepts any)."""
    check_emulator_endpoint(endpoint)

    def factory() -> Any:
        import boto3
        from botocore.config import Config

        session = boto3.session.Session(region_name=region)
        kwargs: dict[str, Any] = {}
        if session.get_credentials() is None:
            kwargs = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
        return session.client("s3", endpoint_url=endpoint, config=Config(s3={"addressing_style": "path"}), **kwargs)

    return factory


def _error_code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", "")) if hasattr(exc, "response") else ""


def fetch_history(client: Any, target: S3Target, history_path: Path) -> bool:
    """Download PREFIX/history.jsonl over the local history file; False when the bucket has none."""
    try:
        obj = client.get_object(Bucket=target.bucket, Key=target.key(HISTORY_KEY))
    except Exception as exc:
        code = _error_code(exc)
        if code in ("NoSuchKey", "404", "NotFound"):
            return False
        if code == "NoSuchBucket":
            raise StackmatrixError(f"publish: bucket {target.bucket} does not exist (NoSuchBucket); "
                                   "create it first or pass another s3:// URL") from exc
        raise StackmatrixError(f"publish: cannot read {target.url(HISTORY_KEY)}: {code or type(exc).__name__}") from exc
    data = obj["Body"].read()
    history_path = Path(history_path)
    history_path.parent.mkdir(parents=True, exist_ok=True)

    write_bytes(history_path, data)
    return True


def _content_type(path: Path) -> str:
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if mime.startswith("text/") or mime in ("application/json", "application/javascript"):
        mime += "; charset=utf-8"
    return mime


def _list_keys(client: Any, bucket: str, prefix: str) -> list[str]:
    keys: list[str] = []
    token = None
    while True:
        kwargs = {"Bucket": bucket, "Prefix": prefix}
        if token:
            kwargs["ContinuationToken"] = token
        page = client.list_objects_v2(**kwargs)
        keys += [o["Key"] for o in page.get("Contents", [])]
        if not page.get("IsTruncated"):
            return keys
        token = page.get("NextContinuationToken")


def upload_folder(client: Any, target: S3Target, folder: Path, *parts: str, prune: bool = False) -> tuple[int, int]:
    """Upload every file of `folder` under PREFIX/<parts>/; with `prune`, delete the keys there
    that the folder no longer has. Returns (uploaded, deleted)."""
    base = target.key(*parts)
    files = sorted(p for p in Path(folder).rglob("*") if p.is_file())
    wanted = set()
    for f in files:
        key = f"{base}/{f.relative_to(folder).as_posix()}"
        wanted.add(key)
        with open(f, "rb") as body:
            client.put_object(Bucket=target.bucket, Key=key, Body=body, ContentType=_content_type(f))
    deleted = 0
    if prune:
        stale = [k for k in _list_keys(client, target.bucket, base + "/") if k not in wanted]
        for i in range(0, len(stale), 1000):
            chunk = stale[i:i + 1000]
            client.delete_objects(Bucket=target.bucket, Delete={"Objects": [{"Key": k} for k in chunk]})
            deleted += len(chunk)
    return len(files), deleted


def push_history(client: Any, target: S3Target, history_path: Path) -> bool:
    if not Path(history_path).is_file():
        return False
    client.put_object(Bucket=target.bucket, Key=target.key(HISTORY_KEY), Body=Path(history_path).read_bytes(),
                      ContentType="application/x-ndjson")
    return True


def publish(s3_url: str, *, client_factory: ClientFactory, run_id: str, history_path: Path,
            generate: Callable[[], Path]) -> PublishResult:
    """Fetch the history, generate (via `generate()`, returning the report folder), upload, push back."""
    target = parse_s3_url(s3_url)
    rid = safe_run_id(run_id)
    client = client_factory()
    restored = fetch_history(client, target, history_path)
    report_dir = Path(generate())
    if not (report_dir / "index.html").is_file():
        raise StackmatrixError(f"publish: no report to upload ({report_dir / 'index.html'} is missing)")
    uploaded, _ = upload_folder(client, target, report_dir, rid, prune=True)
    up_latest, deleted = upload_folder(client, target, report_dir, LATEST, prune=True)
    push_history(client, target, history_path)
    result = PublishResult(target, rid, target.url(rid, "index.html"), target.url(LATEST, "index.html"),
                           uploaded + up_latest, deleted, restored)
    result.messages.append(f"published {uploaded} file(s) to {target.url(rid)}/ and {target.url(LATEST)}/"
                           f" (history {'restored from' if restored else 'started in'} {target.url(HISTORY_KEY)})")
    return result
