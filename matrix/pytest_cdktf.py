"""A pytest plugin (entry point `stackmatrix_cdktf`) that catches a classic CDKTF unit-test mistake.

`Testing.synth(stack)` returns the synthesized Terraform JSON as a *string*. Tests written as if it
were a dict (`Testing.synth(stack)["resource"]`, `.get("resource")`, `.items()`) fail with Python's
"string indices must be integers", which does not say why. With stackmatrix installed, pytest loads
this plugin: once cdktf (or cdktn) has been imported by a test module, `Testing.synth` returns a
`SynthJson`, a `str` in every respect except that dict-style use raises a TypeError naming the
cause and the fix. It never imports a CDK itself and changes nothing else.
"""

from __future__ import annotations

import sys
from typing import Any

import pytest

MESSAGE = ("Testing.synth() returns a JSON string, not a dict: parse it first, "
           "e.g. doc = json.loads(Testing.synth(stack)); then doc['resource'][...] "
           "(or use Testing.to_have_resource_with_properties(synth, ...)) [stackmatrix]")


class SynthJson(str):
    """The synthesized JSON text; dict-style access explains itself."""

    __slots__ = ()

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            raise TypeError(MESSAGE)
        return str.__getitem__(self, key)

    def _dict_method(self, *_: Any, **__: Any) -> Any:
        raise TypeError(MESSAGE)

    get = keys = items = values = _dict_method


def _patch(module_name: str) -> None:
    module = sys.modules.get(module_name)
    testing = getattr(module, "Testing", None)
    if testing is None or getattr(testing.synth, "_stackmatrix", False):
        return
    original = testing.synth

    def synth(*args: Any, **kwargs: Any) -> Any:
        out = original(*args, **kwargs)
        return SynthJson(out) if isinstance(out, str) else out

    synth._stackmatrix = True  # type: ignore[attr-defined]
    testing.synth = staticmethod(synth)


def _patch_loaded() -> None:
    for name in ("cdktf", "cdktn"):
        if name in sys.modules:
            _patch(name)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    _patch_loaded()


def pytest_collection_finish(session: pytest.Session) -> None:
    _patch_loaded()
