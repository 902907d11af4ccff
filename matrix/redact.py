"""Secrets never land in a log, report or attachment: every text we write passes through here.

`redact(text)` replaces the values of secret-bearing environment variables (AWS secret key,
session token, LocalStack auth token, ...) and anything shaped like an AWS secret or session token
that follows a secret-ish key name. `redact_obj` does the same through dicts and lists.
"""

from __future__ import annotations

import os
import re
from typing import Any

SECRET_ENV = (
    "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "LOCALSTACK_AUTH_TOKEN",
    "LOCALSTACK_API_KEY", "GITHUB_TOKEN", "ACTIONS_RUNTIME_TOKEN", "CI_JOB_TOKEN",
)
MASK = "***"
KEY_VALUE_RE = re.compile(
    r"(?i)((?:secret[_-]?(?:access[_-]?)?key|session[_-]?token|security[_-]?token|auth[_-]?token|"
    r"api[_-]?key|password)[\"']?\s*[:=]\s*[\"']?)([^\s\"',;&}]{4,})"
)
SECRET_DICT_KEYS = re.compile(r"(?i)(secret|session_?token|security_?token|auth_?token|password|api_?key)")


def _env_secrets() -> list[str]:
    values = [os.environ.get(name, "") for name in SECRET_ENV]
    return sorted({v for v in values if len(v) >= 4}, key=len, reverse=True)


def redact(text: str) -> str:
    if not text:
        return text
    for value in _env_secrets():
        text = text.replace(value, MASK)
    return KEY_VALUE_RE.sub(lambda m: m.group(1) + MASK, text)


def redact_obj(obj: Any) -> Any:
    if isinstance(obj, str):
        return redact(obj)
    if isinstance(obj, dict):
        return {k: (MASK if isinstance(k, str) and SECRET_DICT_KEYS.search(k) and isinstance(v, str)
                    else redact_obj(v)) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [redact_obj(v) for v in obj]
    return obj
