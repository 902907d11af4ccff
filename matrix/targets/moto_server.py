"""The moto server process stackmatrix starts: moto's own server (`moto.server.main`: the same Flask
app, backends, routing and arguments), with three per-request costs of moto 5.2.5's server removed
(`remove_per_request_costs()`).

* `moto.backends.list_of_moto_modules()` lists moto's package folder (a listdir, then an isdir per
  entry until the service is found) on every request, inside the dispatcher's one global lock, so
  it also serialises the requests of parallel cells. The folder does not change while the server
  runs: `cache_module_list()` lists it once. The dispatcher asks only `host in list_of_moto_modules()`,
  which the cached tuple answers the same way.
* `BaseResponse.call_action` asks `method_names_from_class(self.__class__)` on every request: an
  `inspect.getmembers` walk over the service's whole response class (about 700 functions for EC2):
  on a steady mix of a cell's calls the server's CPU per request fell from 2.25 to 1.47 ms without
  it (docs/performance.md). A class's functions do not
  change while the server runs: `cache_method_names()` keeps the answer per class, as a frozenset
  (the one caller only asks `action in method_names`).
* werkzeug logs one line per request (formatted, coloured, written under a lock); warnings and
  errors still reach the server's log (build/emulators/moto.log). Each cell's own calls are in its
  `api-calls.txt`.

The server also starts with `MOTO_EC2_LOAD_DEFAULT_AMIS=false` unless the environment sets it: moto
otherwise builds its catalogue of default AMIs (each with an EBS snapshot) in every account and
region on the first EC2 call there, and every cell has an account of its own: 40-230 ms of CPU and
about 4-5 MB of the server's memory per cell, for images the stack never uses. A stack that looks
up AMIs (the terraform engine with a `data "aws_ami"`) sets MOTO_EC2_LOAD_DEFAULT_AMIS=true.

A py-spy profile of the moto server over a nightly run (12 cells) put 48% of its samples in the
dispatcher's `get_application` (the lock and the folder listing) and 4.5% in request logging; the
figures after the change are in docs/performance.md. The in-process mode (`ThreadedMotoServer`,
matrix/targets/moto.py and the tests' fixtures) calls `remove_per_request_costs()` too.

    python -m matrix.targets.moto_server -H 127.0.0.1 -p PORT
"""

from __future__ import annotations

import logging
import os
import sys


def cache_module_list() -> None:
    from moto import backends

    if getattr(backends.list_of_moto_modules, "stackmatrix_cached", False):
        return
    modules = tuple(backends.list_of_moto_modules())

    def list_of_moto_modules() -> tuple[str, ...]:
        return modules

    list_of_moto_modules.stackmatrix_cached = True  # type: ignore[attr-defined]
    backends.list_of_moto_modules = list_of_moto_modules


def cache_method_names() -> None:
    from moto.core import responses, utils

    if getattr(responses.method_names_from_class, "stackmatrix_cached", False):
        return
    walk = utils.method_names_from_class
    cache: dict[object, frozenset[str]] = {}

    def method_names_from_class(clazz: object) -> frozenset[str]:
        names = cache.get(clazz)
        if names is None:  # two threads may both walk a class once: the same answer, no lock needed
            names = cache[clazz] = frozenset(walk(clazz))
        return names

    method_names_from_class.stackmatrix_cached = True  # type: ignore[attr-defined]
    responses.method_names_from_class = method_names_from_class  # type: ignore[assignment]


def remove_per_request_costs() -> None:
    """Both caches (idempotent); the request log is the server process's own (`main`)."""
    cache_module_list()
    cache_method_names()


def main(argv: list[str]) -> None:
    os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")  # read by moto when an account's EC2 starts
    remove_per_request_costs()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    from moto.server import main as moto_main

    moto_main(argv)


if __name__ == "__main__":
    main(sys.argv[1:])
