"""Analytics through gunicorn: p50/p99 of `/rankings` over 50 series for 24h and of a 10x10 `/correlation` over
7 days of hourly candles, how the cost grows with the number of series, and the pure computation in plain Python
beside numpy (when numpy is installed) to show why bcx.analytics uses plain Python.

    .venv/bin/python -m bench.analytics [--requests 200] [--series 50]

Starts an embedded redis-server with bench.history's data (the watcher's 1m/1h/1d candles, the last hour as raw
ticks at 1/s) for each series, then a real `bcx-web` (the configured workers and threads) and times sequential
requests. Targets (issue 16): p50 <= 25 ms, p99 <= 60 ms for both.
"""

from __future__ import annotations

import argparse
import itertools
import math
import tempfile
import time
from functools import partial
from pathlib import Path

import requests

from bcx import analytics
from bcx.candles import CandleStore
from bcx.config import RedisConfig
from bcx.connection import connect
from bcx.embedded import EmbeddedRedis
from bcx.store import TickStore
from bcx.tick import Tick
from bench.history import DAY, END, write_history
from bench.web import configured_workers, p50_p99, running_web

CORRELATED = 10
TRADE_IDS = itertools.count(10_000_000)


def series_names(count: int) -> list[str]:
    return [f"coinbase:S{n:02d}-USD" for n in range(count)]


def timed(url: str, count: int, before=None) -> tuple[float, float, float]:
    """p50 and p99 in ms of `count` sequential GETs, calling `before(i)` untimed before each, after a first one
    (its ms returned too: with a cold worker, what a minute's or a start's first request pays)."""
    session = requests.Session()
    began = time.perf_counter()
    session.get(url, timeout=60).raise_for_status()
    first_ms = (time.perf_counter() - began) * 1000
    samples = []
    for i in range(count):
        if before is not None:
            before(i)
        began = time.perf_counter()
        response = session.get(url, timeout=60)
        samples.append(time.perf_counter() - began)
        response.raise_for_status()
    return (*p50_p99(samples), first_ms)


def trade_everywhere(store: TickStore, names: list[str], i: int) -> None:
    """One more trade in every series, within END's minute: every open minute must be read again."""
    trade_id = next(TRADE_IDS)  # never one stored before: a repeated trade is no new tick
    store.add([Tick(name, END + 1 + i * 50, trade_id, "1000.00", None, None, "0.01") for name in names])


def trade_next_minute(store: TickStore, names: list[str], i: int) -> None:
    """One trade in every series in the minute after the previous request's: the closed part of every window is
    summarized again, what each worker pays once a minute."""
    trade_id = next(TRADE_IDS)
    minute = END - END % 60_000 + (i + 1) * 60_000
    store.add([Tick(name, minute + 1_000, trade_id, "1000.00", None, None, "0.01") for name in names])


def pure_figures(conn, names: list[str]) -> list[tuple[str, float]]:
    """Milliseconds of the rankings' computation alone (candles already in memory): plain Python, then the
    numpy equivalent of its float part (log returns and their standard deviation) when numpy is importable."""
    store = CandleStore(conn, "bcx")
    minutes = {name: store.range(name, "1m", END - DAY, END) for name in names}
    began = time.perf_counter()
    for name, candles in minutes.items():
        analytics.ranking(name, candles, END, DAY, True)
    plain_ms = (time.perf_counter() - began) * 1000
    began = time.perf_counter()
    for candles in minutes.values():
        analytics.stdev(list(analytics.log_returns(candles, analytics.MINUTE_MS).values()))
    float_part_ms = (time.perf_counter() - began) * 1000
    rows = [
        ("rankings, all figures, plain Python", plain_ms),
        ("its float part (returns, stdev), plain", float_part_ms),
    ]
    try:
        import numpy as np
    except ImportError:
        return [*rows, ("its float part with numpy", math.nan)]
    began = time.perf_counter()
    for candles in minutes.values():
        times = np.array([c.time_ms for c in candles])
        closes = np.array([float(c.close) for c in candles])
        consecutive = np.diff(times) == analytics.MINUTE_MS
        np.std(np.diff(np.log(closes))[consecutive], ddof=1)
    return [*rows, ("its float part with numpy", (time.perf_counter() - began) * 1000)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--series", type=int, default=50)
    args = parser.parse_args()
    names = series_names(args.series)
    with EmbeddedRedis() as server, tempfile.TemporaryDirectory() as tmp:
        conn = connect(RedisConfig(server.url, "bcx", 60.0))
        for seed, name in enumerate(names):
            write_history(conn, name, 1, 8 if seed < CORRELATED else 2, 1, seed)
        pure = pure_figures(conn, names)
        rows = []
        with running_web(server.url, names, Path(tmp)) as base:
            for count in sorted({10, 25, args.series}):
                url = f"{base}/api/v1.0/rankings?window=24h&by=volatility&series={','.join(names[:count])}"
                rows.append((f"/rankings 24h, {count} series, no new trade", *timed(url, args.requests)))
                traded = partial(trade_everywhere, TickStore(conn, "bcx"), names[:count])
                rows.append((f"/rankings 24h, {count} series, each traded since", *timed(url, args.requests, traded)))
            url = f"{base}/api/v1.0/rankings?window=24h&by=volatility&series={','.join(names)}"
            rollover = partial(trade_next_minute, TickStore(conn, "bcx"), names)
            each_minute = timed(url, min(args.requests, 100), rollover)  # 100 minutes: hours roll over too
            rows.append((f"/rankings 24h, {len(names)} series, a new minute each", *each_minute))
            for count in (2, 5, CORRELATED):
                series = ",".join(names[:count])
                url = f"{base}/api/v1.0/correlation?series={series}&window=7d&interval=1h"
                rows.append((f"/correlation 7d of 1h, {count}x{count}, no new trade", *timed(url, args.requests)))
                traded = partial(trade_everywhere, TickStore(conn, "bcx"), names[:count])
                rows.append(
                    (f"/correlation 7d of 1h, {count}x{count}, each traded since", *timed(url, args.requests, traded))
                )
    workers, threads = configured_workers()
    print(f"\nbcx-web, {workers} workers x {threads} threads; {args.requests} sequential requests each\n")
    print("| request | p50 ms | p99 ms | first ms |\n| --- | ---: | ---: | ---: |")
    for name, p50, p99, first in rows:
        print(f"| {name} | {p50:.1f} | {p99:.1f} | {first:.1f} |")
    print(f"\n| computation alone, {len(names)} series x 24h of 1m candles | ms |\n| --- | ---: |")
    for name, ms in pure:
        print(f"| {name} | {ms:.1f} |")


if __name__ == "__main__":
    main()
