"""Leftovers: what a cell left behind after its destroy, found by tag and by id, and their removal.

`find_leftovers(clients, region, tags, state_ids)` asks every resource handler
(matrix/engines/embedded/resources/) for what of its type in the cell's account and region (plus
IAM, which is global) carries the cell's identifying tags (RunId, EnvironmentSuffix, and Fault when
set): the handler that creates a type is the one that knows how to find it. Then it reads back every
id the state named before the destroy, one `read_many` (one Describe where the API takes ids) per
type. A search or read that fails (throttled past its retries, access denied, a server error) proves
nothing: the check raises `LeakCheckIncomplete` naming the type (and id) and the cause; an id it could
not read is never counted as gone. Each leftover is a (Terraform type, id, attributes) triple, so
`sweep()` deletes it with the same handler the engine uses, in an order AWS accepts (each handler's
`sweep_rank`: flow logs and endpoints first, the VPC last, then log groups and roles).

`destroy_and_check(engine, clients, cell, run_id)` is destroy-then-leak-check for one cell (`matrix
destroy`); a run does the same in two report steps with `state_ids` and `cell_leftovers`.
`python -m matrix sweep --run-id ID | --all-runs [--dry-run]` runs `find_leftovers` and `sweep` over
the accounts that the deployment records and the target know.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from matrix.clients import ClientFactory
from matrix.engines.embedded.resources import HANDLERS
from matrix.engines.embedded.resources.base import Ctx, LeakQuery, Leftover
from matrix.errors import StackmatrixError


class LeakCheckIncomplete(StackmatrixError):
    """A type could not be searched, or an id the state named could not be read back: whether
    something of the cell is left is unknown."""

    def __init__(self, what: str, exc: ClientError) -> None:
        super().__init__(
            f"leak check incomplete: {what} ({type(exc).__name__}: {exc}); it may still exist. Check again "
            "once the account answers: python -m matrix sweep --all-runs --dry-run")
        self.what = what


def find_leftovers(clients: ClientFactory, region: str, tags: dict[str, str], fault: str | None = None,
                   state_ids: dict[str, dict[str, Any]] | None = None,
                   iam_prefix: str | None = None) -> list[Leftover]:
    """Resources of the cell still present: tagged with `tags` (exactly `fault`), or named in state
    (read back with one `read_many` per type); in the order AWS accepts their deletion (each
    handler's `sweep_rank`)."""
    ctx = Ctx(clients, region)
    query = LeakQuery(tags, fault, iam_prefix)
    out: dict[tuple[str, str], Leftover] = {}
    for handler in HANDLERS.values():
        try:
            found = list(handler.leftovers(ctx, query))
        except ClientError as exc:
            raise LeakCheckIncomplete(f"{handler.type} could not be searched by the cell's tags", exc) from exc
        for lo in found:
            if lo is not None:
                out[(lo.type, lo.id)] = lo
    by_type: dict[str, list[dict[str, Any]]] = {}
    for address, attrs in (state_ids or {}).items():
        rtype = address.split(".")[0]
        if rtype in HANDLERS and (rtype, attrs.get("id")) not in out:
            by_type.setdefault(rtype, []).append(attrs)
    for rtype, items in by_type.items():
        for attrs, live in zip(items, _read_back(HANDLERS[rtype], ctx, items), strict=True):
            if live is not None:
                out[(rtype, attrs["id"])] = Leftover(rtype, attrs["id"], live)
    return sorted(out.values(), key=lambda lo: (_rank(lo.type), lo.id))


def _read_back(handler: Any, ctx: Ctx, items: list[dict[str, Any]]) -> list[dict[str, Any] | None]:
    """The live attributes of the ids of one type (None: gone), one `read_many` (one Describe where the
    API takes a list); when that call fails, each id alone, so that one bad id does not hide the others;
    an id whose own read fails raises `LeakCheckIncomplete` (a handler answers None for a gone id)."""
    try:
        return handler.read_many(ctx, [(attrs, frozenset()) for attrs in items])
    except ClientError:
        pass
    out: list[dict[str, Any] | None] = []
    for attrs in items:
        try:
            out.append(handler.read(ctx, attrs))
        except ClientError as exc:
            raise LeakCheckIncomplete(f"{handler.type} {attrs.get('id')}, named in state before the destroy, "
                                      "could not be read back", exc) from exc
    return out


def state_ids(state: Any) -> dict[str, dict[str, Any]]:
    """What the state holds before a destroy (address -> attributes): the ids the leak check reads back."""
    return {a: state.get(a) or {} for a in state.addresses()} if state is not None else {}


def cell_leftovers(clients: ClientFactory, cell: Any, run_id: str,
                   before: dict[str, dict[str, Any]] | None = None) -> list[Leftover]:
    """The leak check of one cell after its destroy: its run's tags, its fault, its stack's IAM prefix,
    and the ids its state held before the destroy (`state_ids`)."""
    return find_leftovers(clients, cell.region, {"RunId": run_id, "EnvironmentSuffix": cell.suffix},
                          fault=cell.fault, state_ids=before, iam_prefix=cell.stack_config().project)


def destroy_and_check(engine: Any, clients: ClientFactory, cell: Any, run_id: str,
                      state: Any = None) -> tuple[int, list[Leftover]]:
    """Destroy a cell from its state, then look for what it left: (resources destroyed, leftovers).
    `state` is the state to take the ids from (the engine's own when it holds one)."""
    before = state_ids(state if state is not None else engine.state)
    count = engine.destroy()
    return count, cell_leftovers(clients, cell, run_id, before)


def _rank(rtype: str) -> int:
    handler = HANDLERS.get(rtype)
    return handler.sweep_rank if handler is not None else 99


def sweep(clients: ClientFactory, region: str, leftovers: list[Leftover],
          log: Callable[[str], None] = print) -> list[str]:
    """Delete leftovers in the order given (find_leftovers sorts them); returns the ones that could not
    be deleted (with why)."""
    ctx = Ctx(clients, region)
    failed = []
    for lo in leftovers:
        handler = HANDLERS.get(lo.type)
        if handler is None:
            failed.append(f"{lo.line()}: no handler")
            continue
        if handler.deleted_with_parent:
            continue
        try:
            handler.delete(ctx, lo.attrs)
            log(f"swept {lo.line()}")
        except Exception as exc:
            failed.append(f"{lo.line()}: {type(exc).__name__}: {exc}")
    return failed
