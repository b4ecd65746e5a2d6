"""bcx-web under load: requests/s and p99 of `/api/v1.0/products` and of a 1-day `/series` (1,000 points), with
`wrk` against a real `bcx-web` (gunicorn, the configured workers and threads).

    .venv/bin/python -m bench.api_load [--products 3] [--seconds 10] [--connections 16]

Starts an embedded redis-server with bench.history's data (two days of the watcher's candles, the last hour as raw
ticks at 10/s per product), then runs `wrk -t1 -cN --latency` (one wrk thread: the server keeps the most of the 2
cores) with `Accept-Encoding: gzip`, as a browser sends. Without wrk (`apt-get install wrk`) it falls back to a
loop of Python threads, whose own cost caps the figure well below the server's. Compare within one run.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from bcx.config import RedisConfig
from bcx.connection import connect
from bcx.embedded import EmbeddedRedis
from bench.history import DAY, END, PRODUCTS, write_history
from bench.web import configured_workers, cpu_seconds, p50_p99, running_web_process

UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}
SERIES_DAY = "/series 1 day, 1000 points"
HEALTH = "/health (the floor: one Redis round trip)"


def with_wrk(url: str, seconds: int, connections: int) -> tuple[float, float, float]:
    """requests/s, p50 and p99 (ms) as wrk measures them (requests/s: answers over the run's length)."""
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-H", "Accept-Encoding: gzip", url]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    return rate, *(_percentile(out, p) for p in ("50", "99"))


def _percentile(wrk_out: str, percent: str) -> float:
    value, unit = re.search(percent + r"%\s+([\d.]+)(us|ms|s)", wrk_out).groups()
    return float(value) * UNITS_MS[unit]


def with_threads(url: str, seconds: int, connections: int) -> tuple[float, float, float]:
    deadline, samples = time.monotonic() + seconds, []

    def loop() -> None:
        with requests.Session() as session:
            while time.monotonic() < deadline:
                began = time.perf_counter()
                session.get(url, timeout=10).raise_for_status()
                samples.append(time.perf_counter() - began)

    with ThreadPoolExecutor(connections) as pool:
        for _ in range(connections):
            pool.submit(loop)
    return len(samples) / seconds, *p50_p99(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10, help="length of each load run")
    parser.add_argument("--connections", type=int, default=16, help="open connections of the load generator")
    args = parser.parse_args()
    products = PRODUCTS[: args.products]
    load = with_wrk if shutil.which("wrk") else with_threads
    if load is with_threads:
        print("wrk is not installed (apt-get install wrk): measuring with Python threads, a much lower ceiling")
    with EmbeddedRedis() as server, tempfile.TemporaryDirectory() as tmp:
        conn = connect(RedisConfig(server.url, "bcx", 60.0))
        for seed, product in enumerate(products):
            write_history(conn, product, 10, 2, 1, seed)
        targets = {
            "/products": "/api/v1.0/products",
            SERIES_DAY: f"/api/v1.0/series/{products[0]}?start={END - DAY}&end={END}&points=1000",
            HEALTH: "/api/v1.0/health",
        }
        with running_web_process(server.url, products, Path(tmp)) as (base, process):
            rows = [(name, *measured(process.pid, load, base + path, args)) for name, path in targets.items()]
    workers, threads = configured_workers()
    tool = f"wrk -t1 -c{args.connections}" if load is with_wrk else f"{args.connections} Python threads"
    print(f"\nbcx-web, {workers} workers x {threads} threads; {tool}, {args.seconds} s each\n")
    print("| endpoint | requests/s | p50 ms | p99 ms | bcx-web CPU ms per request |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, rate, p50, p99, cpu_ms in rows:
        print(f"| {name} | {rate:,.0f} | {p50:.1f} | {p99:.1f} | {cpu_ms:.2f} |")
    figures = {name: (p50, cpu_ms) for name, _, p50, _, cpu_ms in rows}
    (series_p50, series_cpu), (health_p50, health_cpu) = figures[SERIES_DAY], figures[HEALTH]
    print(
        f"\n1-day /series / /health (issue 19, target 3: p50 <= 2x): p50 {series_p50 / health_p50:.2f}x, "
        f"CPU per request {series_cpu / health_cpu:.2f}x"
    )


def measured(pid: int, load, url: str, args) -> tuple[float, float, float, float]:
    """requests/s, p50 and p99 ms, and the CPU milliseconds bcx-web's processes spent per request meanwhile."""
    before = cpu_seconds(pid)
    rate, p50, p99 = load(url, args.seconds, args.connections)
    return rate, p50, p99, (cpu_seconds(pid) - before) * 1000 / (rate * args.seconds)


if __name__ == "__main__":
    main()
