"""Every file reports/ writes goes through here, and through `matrix.redact` on the way.

`write_text` / `write_json` redact and write atomically (a reader never sees half a file);
`copy_redacted` copies an attachment, redacting it when it is text; `scrub_secrets` is the last
line of defence over a folder we did not write ourselves (the Allure CLI's HTML, allure-pytest's
results): it replaces the values of the secret-bearing environment variables, byte for byte,
without the key=value heuristics that could corrupt minified JavaScript.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from matrix.files import write_atomic
from matrix.redact import MASK, SECRET_ENV, redact, redact_obj


def write_bytes(path: Path, data: bytes) -> Path:
    return write_atomic(path, data, fsync=False, mode=0o644)  # report files: cheap to rebuild, world-readable


def write_text(path: Path, text: str) -> Path:
    return write_bytes(path, redact(text).encode("utf-8"))


def write_json(path: Path, data: Any, indent: int | None = 2) -> Path:
    text = json.dumps(redact_obj(data), indent=indent, sort_keys=False, default=str, ensure_ascii=False)
    return write_bytes(path, text.encode("utf-8"))


def append_text(path: Path, text: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(redact(text))
    return path


def decode_text(data: bytes) -> str | None:
    """The text of `data` when it is UTF-8 without NUL bytes, else None (binary)."""
    if b"\0" in data[:8192]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def copy_redacted(src: Path, dst: Path) -> Path:
    """Copy an attachment; text (anything that decodes as UTF-8) is redacted on the way."""
    data = Path(src).read_bytes()
    text = decode_text(data)
    if text is None:
        return write_bytes(dst, data)
    if Path(src).suffix == ".json":  # keep JSON valid: redact values, not the serialized text
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        if parsed is not None:
            cleaned = redact_obj(parsed)
            if cleaned != parsed:
                return write_bytes(dst, json.dumps(cleaned, ensure_ascii=False, indent=1).encode("utf-8"))
            return write_bytes(dst, data)
    return write_bytes(dst, redact(text).encode("utf-8"))


def env_secret_values() -> list[bytes]:
    values = {os.environ.get(name, "") for name in SECRET_ENV}
    return sorted((v.encode() for v in values if len(v) >= 4), key=len, reverse=True)


def scrub_file(path: Path, secrets: list[bytes] | None = None) -> bool:
    """Replace secret environment values in one file; True when it changed."""
    secrets = env_secret_values() if secrets is None else secrets
    if not secrets or not Path(path).is_file():
        return False
    data = Path(path).read_bytes()
    new = data
    for value in secrets:
        new = new.replace(value, MASK.encode())
    if new == data:
        return False
    write_bytes(Path(path), new)
    return True


def scrub_secrets(root: Path) -> list[Path]:
    """Replace secret environment values in every file under `root`; returns the files changed."""
    secrets = env_secret_values()
    if not secrets or not Path(root).exists():
        return []
    files = [Path(root)] if Path(root).is_file() else sorted(
        p for p in Path(root).rglob("*") if p.is_file() and not p.is_symlink())
    return [p for p in files if scrub_file(p, secrets)]


def redact_json_file(path: Path) -> bool:
    """Redact a JSON file in place (structure kept); True when it changed."""
    raw = Path(path).read_text(encoding="utf-8")
    try:
        data = json.loads(raw)
    except ValueError:
        return redact_text_file(path)
    cleaned = redact_obj(data)
    if cleaned == data:
        return False
    write_bytes(path, json.dumps(cleaned, ensure_ascii=False).encode("utf-8"))
    return True


def redact_text_file(path: Path) -> bool:
    data = Path(path).read_bytes()
    text = decode_text(data)
    if text is None:
        return False
    cleaned = redact(text)
    if cleaned == text:
        return False
    write_bytes(path, cleaned.encode("utf-8"))
    return True
