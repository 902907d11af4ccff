"""`nox -s bench -- clients`: what a cell's client factory costs, a loader of its own against the shared one.

One cell's `ClientFactory` with the clients a cell uses (ec2, iam, logs, s3, sts, dynamodb), built
in this process, alternately the way 23ebc80 did it (every factory parsed the service models again:
here by dropping the process's shared loader before each build) and the way matrix/clients.py does it
now (the models parsed once per process); CPU seconds of this process (time.process_time) per
factory, median of --repeat (default 10) each side. No server is contacted: building clients makes no call.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from bench.cost import option
from bench.measure import save, table
from matrix import clients
from matrix.clients import Access, ClientFactory

SERVICES = ("ec2", "iam", "logs", "s3", "sts", "dynamodb")


def build(n: int) -> float:
    started = time.process_time()
    factory = ClientFactory(Access("us-east-1", "http://127.0.0.1:9", f"AKIDBENCH{n:011d}", "secret"))
    for service in SERVICES:
        factory.client(service)
    return time.process_time() - started


def main(argv: list[str], report: Callable[[str], None] = print) -> dict:
    repeat = int(option(argv, "--repeat", "10"))
    build(0)  # imports, and the shared loader filled once
    own, shared = [], []
    for n in range(repeat):
        clients._loader = None  # the old way: a factory whose loader has parsed nothing yet
        own.append(build(n))
        shared.append(build(n))  # the new way: the loader the previous build filled
    o, s = statistics.median(own), statistics.median(shared)
    table([("client factory + 6 clients, CPU s (median)", "own loader (old)", "shared loader (new)", "new/old"),
           (f"{repeat} builds each side, alternately", f"{o:.3f}", f"{s:.3f}", f"{s / o:.2f}")], report)
    summary = {"services": SERVICES, "own_loader": own, "shared_loader": shared, "median_own": o, "median_shared": s}
    save("clients", summary, report)
    return summary
