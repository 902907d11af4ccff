"""The fault proxy's cost, measured side by side against direct calls (`nox -s bench -- chaos` runs it).

One moto server runs in its own process on 127.0.0.1 (so its CPU does not share our GIL); one
`FaultProxy` with no rules runs in this process, as the runner runs it. The same botocore calls go
to both, interleaved call by call so that drift on a noisy machine hits both sides alike:

* latency: N sequential calls per service (EC2 query DescribeVpcs, DynamoDB JSON ListTables), p50 and
  p99 per call direct and through the proxy, and the difference (added p50 / p99);
* throughput: T client threads calling as fast as they can for S seconds, direct then proxy then
  direct then proxy; ratio = proxy calls/s over direct calls/s.

Targets (issue 4): added p50 <= 1 ms, throughput ratio >= 0.9.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

TARGET_ADDED_P50_MS = 1.0
TARGET_THROUGHPUT_RATIO = 0.9


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_moto(timeout: float = 60.0) -> tuple[subprocess.Popen, str]:
    """A moto server in its own process on 127.0.0.1; returns (process, url) once it answers."""
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"moto server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc, url
        except OSError:
            time.sleep(0.1)
    proc.terminate()
    raise RuntimeError(f"moto server did not listen on {url} within {timeout:.0f} s")


def _client(service: str, url: str):
    import boto3
    import botocore.config

    return boto3.session.Session().client(
        service, endpoint_url=url, region_name="us-east-1", aws_access_key_id="bench",
        aws_secret_access_key="bench",
        config=botocore.config.Config(retries={"mode": "standard", "total_max_attempts": 1}, max_pool_connections=32),
    )


_CALLS: dict[str, Callable[[Any], Any]] = {
    "ec2": lambda c: c.describe_vpcs(),
    "dynamodb": lambda c: c.list_tables(),
}


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def measure_latency(direct_url: str, proxy_url: str, service: str, calls: int) -> dict[str, float]:
    call = _CALLS[service]
    direct, proxied = _client(service, direct_url), _client(service, proxy_url)
    for _ in range(10):  # warm both paths (models, connections, moto's first call)
        call(direct)
        call(proxied)
    d: list[float] = []
    p: list[float] = []
    for i in range(calls):
        order = ((direct, d), (proxied, p)) if i % 2 == 0 else ((proxied, p), (direct, d))
        for client, sink in order:
            t = time.perf_counter()
            call(client)
            sink.append((time.perf_counter() - t) * 1000)
    out = {"direct_p50_ms": _pct(d, 0.5), "direct_p99_ms": _pct(d, 0.99),
           "proxy_p50_ms": _pct(p, 0.5), "proxy_p99_ms": _pct(p, 0.99)}
    out["added_p50_ms"] = out["proxy_p50_ms"] - out["direct_p50_ms"]
    out["added_p99_ms"] = out["proxy_p99_ms"] - out["direct_p99_ms"]
    out["paired_median_added_ms"] = statistics.median(b - a for a, b in zip(d, p, strict=True))
    return out


def measure_throughput(url: str, service: str, threads: int, seconds: float) -> float:
    call = _CALLS[service]
    clients = [_client(service, url) for _ in range(threads)]
    for c in clients:
        call(c)
    stop = time.perf_counter() + seconds
    counts = [0] * threads
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        c = clients[i]
        try:
            while time.perf_counter() < stop:
                call(c)
                counts[i] += 1
        except BaseException as exc:  # surfaced below, never swallowed
            errors.append(exc)

    start = time.perf_counter()
    workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    if errors:
        raise errors[0]
    return sum(counts) / (time.perf_counter() - start)


def compare(direct_url: str, proxy_url: str, *, calls: int = 300, threads: int = 4, seconds: float = 3.0,
            services: tuple[str, ...] = ("ec2", "dynamodb"), rounds: int = 2) -> dict[str, Any]:
    """Side-by-side numbers for any two endpoints serving the same backend."""
    latency = {svc: measure_latency(direct_url, proxy_url, svc, calls) for svc in services}
    direct_rates, proxy_rates = [], []
    for _ in range(rounds):
        direct_rates.append(measure_throughput(direct_url, services[0], threads, seconds))
        proxy_rates.append(measure_throughput(proxy_url, services[0], threads, seconds))
    d, p = statistics.mean(direct_rates), statistics.mean(proxy_rates)
    return {"latency": latency,
            "throughput": {"service": services[0], "threads": threads, "seconds": seconds, "rounds": rounds,
                           "direct_per_s": d, "proxy_per_s": p, "ratio": p / d if d else 0.0}}


def bench_proxy(report: Callable[[str], Any] = print, *, calls: int = 300, threads: int = 4,
                seconds: float = 3.0) -> dict[str, Any]:
    """Direct vs through the proxy (no rules) against one moto server; prints a table, returns the numbers."""
    from matrix.chaos.proxy import FaultProxy

    proc, moto_url = start_moto()
    try:
        with FaultProxy(moto_url) as proxy:
            t0 = time.perf_counter()
            result = compare(moto_url, proxy.url, calls=calls, threads=threads, seconds=seconds)
            result["seconds"] = time.perf_counter() - t0
            result["proxy_stats"] = proxy.stats()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    worst_p50 = max(v["added_p50_ms"] for v in result["latency"].values())
    ratio = result["throughput"]["ratio"]
    result["targets"] = {"added_p50_ms": TARGET_ADDED_P50_MS, "throughput_ratio": TARGET_THROUGHPUT_RATIO}
    result["ok"] = worst_p50 <= TARGET_ADDED_P50_MS and ratio >= TARGET_THROUGHPUT_RATIO
    result["machine"] = {"cpus": os.cpu_count(), "python": sys.version.split()[0]}

    report(f"fault proxy vs direct, moto server on 127.0.0.1 ({calls} calls per side, interleaved; "
           f"{os.cpu_count()} CPUs)")
    report(f"{'service':<10} {'direct p50':>10} {'proxy p50':>10} {'added p50':>10} "
           f"{'direct p99':>10} {'proxy p99':>10} {'added p99':>10}")
    for svc, v in result["latency"].items():
        report(f"{svc:<10} {v['direct_p50_ms']:>8.2f}ms {v['proxy_p50_ms']:>8.2f}ms {v['added_p50_ms']:>+8.2f}ms "
               f"{v['direct_p99_ms']:>8.2f}ms {v['proxy_p99_ms']:>8.2f}ms {v['added_p99_ms']:>+8.2f}ms")
    tp = result["throughput"]
    report(f"throughput ({tp['service']}, {tp['threads']} threads, "
           f"{tp['rounds']} x {tp['seconds']:.0f} s each side): "
           f"direct {tp['direct_per_s']:.0f}/s, proxy {tp['proxy_per_s']:.0f}/s, ratio {ratio:.2f}")
    p50_ok = "met" if worst_p50 <= TARGET_ADDED_P50_MS else "MISSED"
    ratio_ok = "met" if ratio >= TARGET_THROUGHPUT_RATIO else "MISSED"
    report(f"targets: added p50 <= {TARGET_ADDED_P50_MS:.1f} ms ({p50_ok}), "
           f"ratio >= {TARGET_THROUGHPUT_RATIO} ({ratio_ok})")
    return result


if __name__ == "__main__":
    bench_proxy()
