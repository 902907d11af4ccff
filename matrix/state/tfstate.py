"""Terraform state, format version 4, as the embedded engine reads and writes it.

The layout is terraform's own (`version`, `terraform_version`, `serial`, `lineage`, `outputs`,
`resources[].instances[].attributes/dependencies`), so `terraform state list`, `state pull` and
`output -json` work on state this engine wrote, and this engine resumes from state terraform wrote.
Every change bumps `serial`; `lineage` never changes for the life of a state. A resource replaced
with `create_before_destroy` keeps its old object as a *deposed* instance (terraform's `deposed`
key) until it is destroyed, so a crash in between never loses track of it.

`State` is an in-memory document guarded by a lock (resources finish on worker threads);
`snapshot()` returns the JSON text of one consistent moment, which the backend persists. It is one
line from json's C encoder: `indent` would select the pure-Python encoder, ~10x the CPU, and the engine
writes a snapshot on every state change (~107 per cell; docs/performance.md). Every reader parses
the text (terraform, State.from_json, the reliability harness), and the DynamoDB digest is the md5 of
the very bytes written, so only the layout differs from terraform's indented files, never the content.
"""

from __future__ import annotations

import json
import threading
import uuid
from copy import deepcopy
from typing import Any

TERRAFORM_VERSION = "1.11.4"
PROVIDER = 'provider["registry.terraform.io/hashicorp/aws"]'


def output_type(value: Any) -> Any:
    """Terraform's type expression for a JSON value (as `terraform output -json` prints it)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return ["tuple", [output_type(v) for v in value]]
    if isinstance(value, dict):
        return ["object", {k: output_type(v) for k, v in value.items()}]
    return "dynamic"


class StateError(Exception):
    """A state document that is not terraform state v4."""


class State:
    def __init__(self, data: dict[str, Any] | None = None) -> None:
        self._lock = threading.RLock()
        self.data = data or {
            "version": 4, "terraform_version": TERRAFORM_VERSION, "serial": 0,
            "lineage": str(uuid.uuid4()), "outputs": {}, "resources": [], "check_results": None,
        }

    # -- (de)serialization -------------------------------------------------------------------
    @classmethod
    def from_json(cls, text: str | bytes, source: str = "state") -> State:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise StateError(f"{source} is not JSON ({exc})") from exc
        if not isinstance(data, dict) or data.get("version") != 4:
            raise StateError(f"{source} is not terraform state version 4 "
                             f"(version={data.get('version') if isinstance(data, dict) else '?'})")
        data.setdefault("resources", [])
        data.setdefault("outputs", {})
        return cls(data)

    def snapshot(self) -> str:
        with self._lock:
            return json.dumps(self.data)  # no indent: the C encoder (see the module docstring)

    @property
    def serial(self) -> int:
        return int(self.data.get("serial", 0))

    @property
    def lineage(self) -> str:
        return str(self.data.get("lineage", ""))

    # -- resources ---------------------------------------------------------------------------
    @staticmethod
    def _split(address: str) -> tuple[str, str, str]:
        parts = address.split(".")
        if parts[0] == "data":
            return "data", parts[1], parts[2]
        return "managed", parts[0], parts[1]

    def _find(self, address: str) -> dict[str, Any] | None:
        mode, rtype, name = self._split(address)
        for r in self.data["resources"]:
            if r.get("mode") == mode and r.get("type") == rtype and r.get("name") == name:
                return r
        return None

    @staticmethod
    def _current(r: dict[str, Any] | None) -> dict[str, Any] | None:
        """The resource's current (not deposed) instance."""
        return next((i for i in (r or {}).get("instances") or [] if not i.get("deposed")), None)

    def get(self, address: str) -> dict[str, Any] | None:
        """The attributes of the resource's (single) current instance, or None."""
        with self._lock:
            inst = self._current(self._find(address))
            return None if inst is None else deepcopy(inst.get("attributes") or {})

    def addresses(self, mode: str = "managed") -> list[str]:
        """Resources with a current instance."""
        with self._lock:
            out = []
            for r in self.data["resources"]:
                if r.get("mode") == mode and self._current(r) is not None:
                    prefix = "data." if mode == "data" else ""
                    out.append(f"{prefix}{r['type']}.{r['name']}")
            return out

    def dependencies(self, address: str) -> list[str]:
        with self._lock:
            inst = self._current(self._find(address))
            return [] if inst is None else list(inst.get("dependencies") or [])

    def set(self, address: str, attributes: dict[str, Any], dependencies: list[str] | None = None) -> None:
        mode, rtype, name = self._split(address)
        instance = {
            "schema_version": 0, "attributes": deepcopy(attributes), "sensitive_attributes": [],
            "dependencies": sorted(dependencies or []),
        }
        with self._lock:
            r = self._find(address)
            if r is None:
                r = {"mode": mode, "type": rtype, "name": name, "provider": PROVIDER, "instances": []}
                self.data["resources"].append(r)
            r["instances"] = [instance] + [i for i in r["instances"] if i.get("deposed")]
            self.data["serial"] = self.serial + 1

    def remove(self, address: str) -> None:
        """Forget the current instance (deposed ones stay until they are destroyed)."""
        with self._lock:
            r = self._find(address)
            if r is not None:
                r["instances"] = [i for i in r.get("instances") or [] if i.get("deposed")]
                if not r["instances"]:
                    self.data["resources"].remove(r)
                self.data["serial"] = self.serial + 1

    # -- create_before_destroy: the replaced object stays in state, deposed, until it is destroyed --
    def depose(self, address: str) -> str | None:
        """Mark the current instance deposed (terraform's 8-hex key); returns the key."""
        with self._lock:
            inst = self._current(self._find(address))
            if inst is None:
                return None
            inst["deposed"] = uuid.uuid4().hex[:8]
            self.data["serial"] = self.serial + 1
            return inst["deposed"]

    def deposed(self) -> list[tuple[str, str, dict[str, Any], list[str]]]:
        """(address, key, attributes, dependencies) of every deposed instance."""
        with self._lock:
            return [(f"{r['type']}.{r['name']}", i["deposed"], deepcopy(i.get("attributes") or {}),
                     list(i.get("dependencies") or []))
                    for r in self.data["resources"] if r.get("mode") == "managed"
                    for i in r.get("instances") or [] if i.get("deposed")]

    def remove_deposed(self, address: str, key: str) -> None:
        with self._lock:
            r = self._find(address)
            if r is None:
                return
            r["instances"] = [i for i in r.get("instances") or [] if i.get("deposed") != key]
            if not r["instances"]:
                self.data["resources"].remove(r)
            self.data["serial"] = self.serial + 1

    def set_outputs(self, outputs: dict[str, Any], sensitive: frozenset[str] | set[str] = frozenset()) -> None:
        with self._lock:
            new = {k: {"value": v, "type": output_type(v), **({"sensitive": True} if k in sensitive else {})}
                   for k, v in outputs.items()}
            if new != self.data.get("outputs"):
                self.data["outputs"] = new
                self.data["serial"] = self.serial + 1

    def outputs(self) -> dict[str, Any]:
        with self._lock:
            return {k: deepcopy(v.get("value")) for k, v in (self.data.get("outputs") or {}).items()}

    def is_empty(self) -> bool:
        return not self.addresses("managed") and not self.deposed()
