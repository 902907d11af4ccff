"""One classification per argument: what the embedded engine does with it.

`Arg` is one entry of a handler's `args` table (resources/*.py) or of the provider, backend and
meta-argument tables (blocks.py). Its `kind` is one of:

* `inplace`   applied on create, read back after apply, and changed in place by a real API call;
* `replace`   applied on create and read back; a change destroys and re-creates the resource
              (`inplace_when` names the changes the API makes in place, as the provider does);
* `local`     terraform-only, no API behind it: honoured the way the AWS provider honours it
              (`timeouts` as wait deadlines, `skip_destroy` at destroy, ...) or recorded as local-only;
              the note says which;
* `filter`    a data source argument that selects what is read;
* `refused`   refused before the first API call, naming address, argument and the way out. A refusal
              because an emulator does not store the argument names its `probe` (tests/engine_probes.py)
              and the emulators it fails on, so the table stays evidence-based: the probe test turns red
              the day an emulator starts to round-trip it. `allowed` values (the provider's default,
              e.g. `use_fips_endpoint = false`) are accepted.

`compare` says how the read-back compares wanted and found (normalize.py): value (by the
argument's schema kind), set, policy (IAM JSON, as the provider's policy equivalence), cidr, tags.
A block entry with `children=True` classifies all its nested arguments alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

INPLACE, REPLACE, LOCAL, FILTER, REFUSED = "inplace", "replace", "local", "filter", "refused"
KINDS = (INPLACE, REPLACE, LOCAL, FILTER, REFUSED)
EMULATORS = ("moto", "localstack")
WAY_OUT = "remove the argument, or deploy this stack with --engine terraform"


@dataclass(frozen=True)
class Arg:
    kind: str
    note: str = ""
    compare: str = "value"
    probe: str = ""
    fails_on: tuple[str, ...] = ()
    allowed: tuple[Any, ...] = ()
    children: bool = False
    inplace_when: Callable[[Any, Any], bool] | None = None

    @property
    def applied(self) -> bool:
        """Sent to AWS and read back after apply."""
        return self.kind in (INPLACE, REPLACE)

    def accepts(self, value: Any) -> bool:
        """A refused argument is still accepted with one of its `allowed` values (or null)."""
        return self.kind != REFUSED or value is None or value in self.allowed


def inplace(note: str = "", compare: str = "value") -> Arg:
    return Arg(INPLACE, note, compare)


def replace(note: str = "", compare: str = "value", inplace_when: Callable[[Any, Any], bool] | None = None) -> Arg:
    return Arg(REPLACE, note, compare, inplace_when=inplace_when)


def local(note: str, children: bool = False) -> Arg:
    return Arg(LOCAL, note, children=children)


def selector(note: str = "") -> Arg:
    return Arg(FILTER, note)


def refused(note: str, probe: str = "", fails_on: tuple[str, ...] = EMULATORS, allowed: tuple[Any, ...] = (),
            children: bool = False) -> Arg:
    """Refused by name. With `probe`: because `fails_on` emulators do not round-trip it."""
    return Arg(REFUSED, note, probe=probe, fails_on=fails_on if probe else (), allowed=allowed,
               children=children)


def computed(what: str = "AWS") -> Arg:
    return refused(f"computed by {what}, never set")


# Entries every taggable / regional resource shares.
ID = computed("AWS (the resource's id)")
TAGS = inplace("tags; with the provider's default_tags they make tags_all, read back and changed by the "
               "service's tag calls", compare="tags")
TAGS_ALL = computed("the engine from tags and the provider's default_tags")
REGION = replace("per-resource region (provider 6): created, read and deleted in that region")
TIMEOUTS = local("honoured as the deadline of the operation's waits and retries (Go duration, e.g. 10m)",
                 children=True)


def timeouts_for(*ops: str) -> dict[str, Arg]:
    """`timeouts` and its nested operation names, one entry each."""
    return {"timeouts": TIMEOUTS, **{f"timeouts.{op}": TIMEOUTS for op in ops}}
