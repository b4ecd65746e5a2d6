"""bcx-web query figures: p50/p99 latency of a 1-day /series (1,000 points) and /candles, and /products requests/s.

    .venv/bin/python -m bench.query [--products 3] [--rate 10] [--hours 24] [--requests 50] [--seconds 10]

Starts its own embedded redis-server, writes `hours` of history at `rate` ticks/s per product with TickStore.add
and the watcher's candles (1m, 1h, 1d) with CandleStore.put, then measures through Flask's test client and through
a real `bcx-web` (gunicorn) over HTTP; /products under load with `wrk` when it is installed, else a thread loop.
Figures vary with the machine: compare within one run.
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import requests

from bcx.candles import CandleStore, combine, rollup
from bcx.config import RedisConfig, load_config, packaged_default
from bcx.connection import connect
from bcx.embedded import EmbeddedRedis, free_port
from bcx.store import TickStore
from bcx.tick import Tick
from bcx_web.app import create_app

PRODUCTS = ("BTC-USD", "ETH-USD", "SOL-USD")
HOUR, DAY = 3_600_000, 86_400_000
END = 1_762_000_000_000 - 1_762_000_000_000 % DAY + 13 * HOUR  # mid-afternoon: the open day is partly filled


def write_history(conn, product: str, rate: int, hours: int, seed: int) -> int:
    """Ticks hour by hour (bounded memory), and the closed 1m/1h/1d candles the watcher would have stored."""
    ticks, candles = TickStore(conn, "bcx", "coinbase"), CandleStore(conn, "bcx", "coinbase")
    rng, price, step = random.Random(seed), Decimal("1000.00"), 1000 // rate
    hourly = []
    start = END - hours * HOUR
    for hour in range(hours):
        batch = []
        for i in range(rate * 3600):
            price += Decimal(rng.randint(-50, 50)) / 100
            t = start + hour * HOUR + i * step
            batch.append(Tick(product, t, (hour * 3600 + i) * rate + 1, str(price), None, None, "0.0100"))
        for first in range(0, len(batch), 5000):
            ticks.add(batch[first : first + 5000])
        closed = [t for t in batch if t.time_ms < END - END % 60_000]
        candles.put(product, "1m", rollup(closed, 60_000))
        if hour < hours - 1:
            hourly += rollup(batch, HOUR)
    candles.put(product, "1h", hourly)
    candles.put(product, "1d", [c for c in combine(hourly, DAY) if c.time_ms + DAY <= END])
    return hours * 3600 * rate


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {statistics.median(ordered) * 1000:7.1f} ms   p99 {p99 * 1000:7.1f} ms"


def urls(products) -> dict[str, list[str]]:
    day = f"start={END - DAY}&end={END}"
    return {
        "series 1d, 1000 points": [f"/api/v1.0/series/{p}?{day}&points=1000" for p in products],
        "candles 1d at 1m (1440)": [f"/api/v1.0/candles/{p}?interval=1m&{day}" for p in products],
        "candles 1d at 5m (288)": [f"/api/v1.0/candles/{p}?interval=5m&{day}" for p in products],
    }


def time_calls(get, paths: list[str], count: int) -> list[float]:
    samples = []
    for index in range(count):
        began = time.perf_counter()
        get(paths[index % len(paths)])
        samples.append(time.perf_counter() - began)
    return samples


def start_web(redis_url: str, products, workers: int, threads: int, tmp: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    conf = tmp / "bench.conf"
    conf.write_text(
        f"[redis]\nurl = {redis_url}\n[tracker]\nproducts = {', '.join(products)}\n"
        f"[web]\nport = {port}\nworkers = {workers}\nthreads = {threads}\n[log]\nlevel = WARNING\n"
    )
    process = subprocess.Popen([str(Path(sys.executable).with_name("bcx-web")), "--config", str(conf)])
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(base + "/api/v1.0/health", timeout=2).ok:
                return process, base
        except requests.RequestException:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("bcx-web did not start")


def products_rate(base: str, seconds: int) -> str:
    url = base + "/api/v1.0/products"
    if shutil.which("wrk"):
        out = subprocess.run(
            ["wrk", "-t2", "-c16", f"-d{seconds}s", url], capture_output=True, text=True, check=True
        ).stdout
        rate = re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)
        latency = re.search(r"Latency\s+(\S+)", out).group(1)
        return f"{float(rate):8.0f} req/s (wrk -t2 -c16, mean latency {latency})"
    deadline, done = time.monotonic() + seconds, []

    def loop() -> None:
        with requests.Session() as session:
            while time.monotonic() < deadline:
                session.get(url, timeout=10).raise_for_status()
                done.append(1)

    with ThreadPoolExecutor(8) as pool:
        for _ in range(8):
            pool.submit(loop)
    return f"{len(done) / seconds:8.0f} req/s (8 Python threads; install wrk for a proper figure)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=3)
    parser.add_argument("--rate", type=int, default=10, help="ticks per second per product")
    parser.add_argument("--hours", type=int, default=24)
    parser.add_argument("--requests", type=int, default=60, help="timed requests per query kind")
    parser.add_argument("--seconds", type=int, default=10, help="length of the /products load run")
    args = parser.parse_args()
    products = PRODUCTS[: args.products]
    with EmbeddedRedis() as server, tempfile.TemporaryDirectory() as tmp:
        conn = connect(RedisConfig(server.url, "bcx", 30.0))
        began = time.perf_counter()
        total = sum(write_history(conn, p, args.rate, args.hours, seed) for seed, p in enumerate(products))
        print(f"history: {total:,} ticks over {len(products)} products in {time.perf_counter() - began:.0f} s")

        base_config = load_config(str(packaged_default()))
        config = replace(
            base_config,
            redis=replace(base_config.redis, url=server.url),
            tracker=replace(base_config.tracker, products=products),
        )
        client = create_app(config).test_client()
        print("\nFlask test client (one thread, no HTTP):")
        for name, paths in urls(products).items():
            print(f"  {name:26} {percentiles(time_calls(lambda u: client.get(u).get_data(), paths, args.requests))}")

        process, base = start_web(server.url, products, 2, 8, Path(tmp))
        try:
            print("\nbcx-web (gunicorn, 2 workers x 8 threads) over HTTP, one client:")
            with requests.Session() as session:
                for name, paths in urls(products).items():
                    samples = time_calls(lambda u: session.get(base + u).raise_for_status(), paths, args.requests)
                    print(f"  {name:26} {percentiles(samples)}")
            print(f"\n/products under load: {products_rate(base, args.seconds)}")
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)


if __name__ == "__main__":
    main()
