"""Reading resources from AWS, and comparing what the configuration wants with what AWS holds.

  read_grouped(...)     one `read_many` per resource type and region (one Describe call for all the
                        ids where the API takes a list): the refresh before a plan and the read-back
                        after an apply both go through it, so a later change can batch further
  differences(...)      argument by argument, with the provider's normalisation (arguments/
                        normalize.py): the plan's diff and the read-back's verdict are the same test
  ReadBackMismatch      what an apply ends with when AWS does not hold what was applied: it names
                        resource, argument, wanted and found

Only arguments the table classifies as applied (in place or forcing replacement) and set (or
defaulted by the provider) are compared, plus `tags_all` on taggable types; `ignore_changes`
removes arguments from the comparison on the update path. An argument a handler did not read
back is a difference too ("could not be read back"), never a silent pass.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

from matrix.engines.embedded.arguments import schema
from matrix.engines.embedded.arguments.normalize import equal, show
from matrix.engines.embedded.resources.base import Ctx, Handler
from matrix.errors import StackmatrixError


@dataclass(frozen=True)
class Difference:
    address: str
    arg: str
    want: Any
    have: Any = None
    unread: bool = False

    def line(self) -> str:
        if self.unread:
            return f"{self.address}: {self.arg}: wanted {show(self.want)}, but the engine could not read it back"
        return f"{self.address}: {self.arg}: wanted {show(self.want)}, found {show(self.have)}"


class ReadBackMismatch(StackmatrixError):
    """After the apply, AWS does not hold what the configuration says (names each argument)."""

    def __init__(self, differences: list[Difference]) -> None:
        self.differences = differences
        lines = "; ".join(d.line() for d in differences)
        super().__init__(f"read-back after apply: AWS does not hold what was applied: {lines}")


def kind_of(rtype: str, arg: str) -> str:
    if arg == "tags_all":
        return "map(string)"
    return schema.RESOURCES.get(rtype, {}).get(arg, ("string", False))[0]


def compared_args(handler: Handler, desired: dict[str, Any], ignore: Callable[[str], bool]) -> list[str]:
    args = [a for a in handler.applied() if desired.get(a) is not None and not ignore(a)]
    if handler.taggable and not ignore("tags_all"):
        args.append("tags_all")
    return args


def differences(address: str, handler: Handler, desired: dict[str, Any], live: dict[str, Any],
                ignore: Callable[[str], bool] = lambda arg: False) -> list[Difference]:
    out = []
    for arg in compared_args(handler, desired, ignore):
        want = desired.get(arg)
        if arg not in live:
            out.append(Difference(address, arg, want, unread=True))
            continue
        spec = handler.args.get(arg)
        compare = "tags" if arg == "tags_all" else (spec.compare if spec else "value")
        if not equal(compare, kind_of(handler.type, arg), want, live[arg]):
            out.append(Difference(address, arg, want, live[arg]))
    return out


@dataclass
class ReadItem:
    address: str
    handler: Handler
    region: str
    attrs: dict[str, Any]
    wanted: frozenset[str]


def read_grouped(items: Iterable[ReadItem], ctx_for: Callable[[str], Ctx],
                 pool: Executor | None = None) -> dict[str, dict[str, Any] | None]:
    """Live attributes per address (None: gone), one read_many per (type, region), groups in parallel."""
    groups: dict[tuple[str, str], list[ReadItem]] = {}
    for item in items:
        groups.setdefault((item.handler.type, item.region), []).append(item)

    def run(group: list[ReadItem]) -> list[dict[str, Any] | None]:
        return group[0].handler.read_many(ctx_for(group[0].region), [(i.attrs, i.wanted) for i in group])

    futures = {key: (pool.submit(run, group) if pool else None) for key, group in groups.items()}
    out: dict[str, dict[str, Any] | None] = {}
    for key, group in groups.items():
        fut = futures[key]
        results = fut.result() if fut is not None else run(group)
        out.update({item.address: live for item, live in zip(group, results, strict=True)})
    return out
