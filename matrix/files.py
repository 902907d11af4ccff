"""Writing a file so that a reader never sees half of it: the package's one atomic write.

`write_atomic(path, data)` writes into a temporary file beside `path` (same folder, so the rename
cannot cross file systems; named `.<name>.XXXX`, so globs for `*.json` never pick it up), flushes
it to disk (`fsync`, unless the caller says the file is cheap to lose) and renames it over `path`.
A process killed at any moment leaves either the old file or the new one, never a truncated one;
the temporary file is removed when the write fails. New files are private (0600, as `mkstemp`
makes them) unless a `mode` is given: the report's files are 0644, for a web server.

`read_record(path)` is the reading side for the small JSON records written that way (an emulator's,
a strict front's, the kept suite worker's): the object, or None when the file is missing, is not
JSON or holds something else than an object.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def write_atomic(path: Path | str, data: str | bytes, *, fsync: bool = True, mode: int | None = None) -> Path:
    """Replace `path` with `data` (text is written as UTF-8) in one rename; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode("utf-8") if isinstance(data, str) else data)
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_record(path: Path | str) -> dict[str, Any] | None:
    """The JSON object in `path`, or None (missing, unreadable, not JSON, not an object)."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
