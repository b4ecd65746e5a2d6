"""bcx-web query latency: p50/p99 of /series (1,000 points) and /candles over 1 hour, 1 day, 1 week and 1 month,
through Flask's test client and through a real `bcx-web` (gunicorn) over HTTP, beside reading the same range as raw
ticks (TickStore.range).

    .venv/bin/python -m bench.query [--products 3] [--rate 10] [--days 30] [--tick-hours 24] [--requests 60]
    .venv/bin/python -m bench.query --only-cpu --tick-hours 1   # CPU of a 1-day /series: the kept open minute, gzip
    .venv/bin/python -m bench.query --only-day --tick-hours 1 --days 2   # target 3: static, live, a minute rewritten

Starts its own embedded redis-server and writes the history of bench.history: `days` of the watcher's candles
(the packaged tiers, or `--stored`), the last `tick-hours` of them as raw ticks at `rate` per second per product
(a month of raw ticks would be 26M per product: too many to write here, and no query below a day reads them).
Requests go one at a time, in turn over the products, as a browser asks (HTTP with Accept-Encoding: gzip), and
the queries in turns (one request of each, then the next round), so that the machine's load falls on all alike.
Compare within one run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import requests

from bcx.candles import CandleStore, interval_ms
from bcx.config import RedisConfig, load_config, packaged_default
from bcx.connection import connect
from bcx.converters import series_list
from bcx.embedded import EmbeddedRedis
from bcx.store import TickStore
from bcx_web import api
from bcx_web.app import create_app
from bench.history import DAY, END, HOUR, MINUTE, PRODUCTS, stored_intervals, write_history
from bench.web import configured_workers, p50_p99, running_web

SPANS = (("1 hour", HOUR, "1m"), ("1 day", DAY, "1m"), ("1 week", 7 * DAY, "15m"), ("1 month", 30 * DAY, "1h"))


HEALTH = "/health (one Redis round trip)"


def series_name(label: str) -> str:
    return f"/series {label}, 1000 points"


def queries(products, tick_hours: int) -> list[tuple[str, list[str], int | None]]:
    """(name, one URL per product, span to read as raw ticks or None when the history has no ticks that old)."""
    found = []
    for label, span, interval in SPANS:
        window = f"start={END - span}&end={END}"
        raw = span if span <= tick_hours * HOUR else None
        count = span // interval_ms(interval)
        series = [f"/api/v1.0/series/{p}?{window}&points=1000" for p in products]
        found.append((series_name(label), series, raw))
        found.append(
            (
                f"/candles {label} at {interval} ({count})",
                [f"/api/v1.0/candles/{p}?interval={interval}&{window}" for p in products],
                raw,
            )
        )
    found.append((HEALTH, ["/api/v1.0/health"], None))
    return found


def time_calls(get: Callable[[str], object], paths: list[str], count: int) -> list[float]:
    samples = []
    for index in range(count):
        began = time.perf_counter()
        get(paths[index % len(paths)])
        samples.append(time.perf_counter() - began)
    return samples


def time_in_turns(get: Callable[[str], object], queries: list[list[str]], count: int) -> list[list[float]]:
    """Times of `count` requests of each query, taken in turns (one of each query, then the next round): the
    machine's load falls on every query alike, so the ratios between them hold within a run."""
    samples: list[list[float]] = [[] for _ in queries]
    for index in range(count):
        for times, paths in zip(samples, queries, strict=True):
            began = time.perf_counter()
            get(paths[index % len(paths)])
            times.append(time.perf_counter() - began)
    return samples


def raw_read(store: TickStore, products, span: int, count: int) -> tuple[list[float], int]:
    """Times of reading the span as raw ticks, and how many ticks one read returned."""
    sizes = []

    def read(product: str) -> None:
        sizes.append(len(store.range(product, END - span, END)))

    return time_calls(read, list(products), count), sizes[0]


def cell(samples: list[float]) -> str:
    p50, p99 = p50_p99(samples)
    return f"{p50:7.1f} / {p99:7.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=3)
    parser.add_argument("--rate", type=int, default=10, help="ticks per second per product")
    parser.add_argument("--days", type=int, default=30, help="days of candles")
    parser.add_argument("--tick-hours", type=int, default=24, help="hours of raw ticks at the end")
    parser.add_argument("--requests", type=int, default=60, help="timed requests per query and path")
    parser.add_argument("--raw-requests", type=int, default=6, help="timed raw-tick reads per range")
    parser.add_argument("--cliff-rounds", type=int, default=4, help="alternations of the cache-cliff blocks")
    parser.add_argument("--cliff-block", type=int, default=20, help="requests per cache-cliff block")
    parser.add_argument("--only-cliff", action="store_true", help="measure the cache cliff alone")
    parser.add_argument(
        "--only-day", action="store_true", help="target 3 alone: a 1-day /series, static and live, beside /health"
    )
    parser.add_argument(
        "--only-cpu", action="store_true", help="CPU per 1-day /series in process: kept open minute, gzip"
    )
    parser.add_argument(
        "--stored",
        type=lambda text: tuple(i.strip() for i in text.split(",")),
        default=stored_intervals(),
        help="the candle tiers the history holds (default: the packaged [watcher] candles; 1m,1h,1d: a store "
        "written before 5m and 15m, which bcx-web then reads from the finer tiers)",
    )
    args = parser.parse_args()
    products = PRODUCTS[: args.products]
    with EmbeddedRedis() as server, tempfile.TemporaryDirectory() as tmp:
        conn = connect(RedisConfig(server.url, "bcx", 60.0))
        began = time.perf_counter()
        total = sum(
            write_history(conn, p, args.rate, args.days, args.tick_hours, s, args.stored)
            for s, p in enumerate(products)
        )
        print(
            f"history: {len(products)} products, {args.days} days of {'/'.join(args.stored)} candles, the last "
            f"{args.tick_hours} h as {total:,} raw ticks ({args.rate}/s each), written in "
            f"{time.perf_counter() - began:.0f} s; bcx-web configured for {'/'.join(stored_intervals())}"
        )
        base_config = load_config(str(packaged_default()))
        config = replace(
            base_config,
            redis=replace(base_config.redis, url=server.url),
            tracker=replace(base_config.tracker, products=series_list(", ".join(products))),
        )
        client = create_app(config).test_client()
        if args.only_cpu:
            print_cpu_alternations(client, TickStore(conn, "bcx"), products[0], args.requests)
            return
        with running_web(server.url, products, Path(tmp)) as base, requests.Session() as session:

            def get(url: str) -> None:
                session.get(base + url).raise_for_status()

            if args.only_day:
                print_day_variants(day_variants(get, conn, products[0], args.requests))
                return
            rows = [] if args.only_cliff else timed_queries(args, products, client, get, TickStore(conn, "bcx"))
            many, one = cache_cliff(get, products, args.cliff_rounds, args.cliff_block)
        if rows:
            print_table(rows)
        print(f"\ngunicorn p50 ratios (issue 19), load average {load_average()}:")
        if rows:
            print_ratios({name: p50_p99(over_http)[0] for name, _, over_http, _, _ in rows})
        print(
            f"  1 week /series, 3 products in turn / one product: {p50_p99(many)[0] / p50_p99(one)[0]:5.2f}x "
            f"(target 2: <= 1.5x; p50 {p50_p99(many)[0]:.1f} and {p50_p99(one)[0]:.1f} ms, blocks of "
            f"{args.cliff_block} alternating {args.cliff_rounds} times)"
        )


def timed_queries(args, products, client, get, store: TickStore) -> list:
    """(name, test client samples, gunicorn samples, raw read or None, tier) of every query, taken in turns."""
    asked = queries(products, args.tick_hours)
    urls = [paths for _, paths, _ in asked]
    in_process = time_in_turns(lambda u: client.get(u).get_data(), urls, args.requests)
    over_http = time_in_turns(get, urls, args.requests)
    rows = []
    for (name, paths, raw_span), mine, http in zip(asked, in_process, over_http, strict=True):
        raw = raw_read(store, products, raw_span, args.raw_requests) if raw_span else None
        rows.append((name, mine, http, raw, tier_of(client, paths[0])))
    return rows


def print_cpu_alternations(client, store: TickStore, product: str, count: int) -> None:
    """CPU (the process's, so not Redis's) per 1-day /series through the test client, with a new trade written into
    the open minute before each request as the live feed does: the open minute kept per worker or rolled up whole
    (bcx_web.cache.open_buckets), and gzip or none; alternated in blocks of 30, `count` of each."""
    url = f"/api/v1.0/series/{product}?start={END - DAY}&end={END}&points=1000"
    gzip = {"Accept-Encoding": "gzip"}
    newest = store.range(product, END - 60_000, END)[-1]
    trade_id = newest.trade_id
    variants = {
        "open minute kept, gzip": (api.open_buckets, gzip),
        "open minute rolled whole, gzip": (None, gzip),
        "open minute kept, no compression": (api.open_buckets, {}),
    }
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(max(count // 30, 1)):
        for name, (kept, headers) in variants.items():
            api.open_buckets = kept
            for _ in range(30):
                trade_id += 1
                store.add([newest._replace(trade_id=trade_id, time_ms=END, size="0.001")])
                began = time.process_time()
                client.get(url, headers=headers).get_data()
                samples[name].append(time.process_time() - began)
    api.open_buckets = variants["open minute kept, gzip"][0]
    medians = {name: statistics.median(times) * 1000 for name, times in samples.items()}
    first = next(iter(medians.values()))
    print(f"\nCPU ms per 1-day /series (1000 points), median of {len(samples[next(iter(samples))])} each, in process:")
    for name, median in medians.items():
        print(f"  {name:34} {median:5.2f} ({median / first:4.2f}x)")


def day_variants(get: Callable[[str], object], conn, product: str, count: int) -> dict[str, list[float]]:
    """Target 3 as a chart meets it, through gunicorn, in turns: /health; a 1-day /series of a store that does not
    change; the same with a new trade written into the open minute before each request (a live feed: every
    request rolls it in); and with the newest closed minute's candle written again before each (what the watcher
    does as each minute closes: a worker then reads the day's candles again, once a minute). Writes untimed."""
    store, candles = TickStore(conn, "bcx"), CandleStore(conn, "bcx")
    url = f"/api/v1.0/series/{product}?start={END - DAY}&end={END}&points=1000"
    newest = store.range(product, END - MINUTE, END)[-1]
    minute = candles.range(product, "1m", END - 2 * MINUTE, END)[-1]
    trade_ids = iter(range(newest.trade_id + 1, newest.trade_id + count + 1))

    def new_trade() -> None:
        store.add([newest._replace(trade_id=next(trade_ids), size="0.001")])

    variants = {
        HEALTH: (None, "/api/v1.0/health"),
        "/series 1 day, a static store": (None, url),
        "/series 1 day, a new trade before each": (new_trade, url),
        "/series 1 day, a closed minute rewritten before each": (lambda: candles.put(product, "1m", [minute]), url),
    }
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(count):
        for name, (write, path) in variants.items():
            if write is not None:
                write()
            began = time.perf_counter()
            get(path)
            samples[name].append(time.perf_counter() - began)
    return samples


def print_day_variants(samples: dict[str, list[float]]) -> None:
    health = p50_p99(samples[HEALTH])[0]
    print(f"\ngunicorn, one client, {len(samples[HEALTH])} requests each in turns, load average {load_average()}")
    print(f"| {'query':52} | {'p50 / p99 ms':>17} | {'p50 / /health':>13} |")
    print(f"| {'-' * 52} | {'-' * 16}: | {'-' * 12}: |")
    for name, times in samples.items():
        print(f"| {name:52} | {cell(times):>17} | {p50_p99(times)[0] / health:12.2f}x |")


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def cache_cliff(get: Callable[[str], object], products, rounds: int, block: int) -> tuple[list[float], list[float]]:
    """A 1-week /series as one worker serves it to the charts of all products in turn, and to one product's:
    blocks of `block` requests of each, alternating. (One keep-alive connection: one worker answers them all.)
    Its decode memo holds what the pattern asks for, so the two differ by whether it holds every product's week."""
    window = f"start={END - 7 * DAY}&end={END}"
    urls = [f"/api/v1.0/series/{p}?{window}&points=1000" for p in products]
    many: list[float] = []
    one: list[float] = []
    time_calls(get, urls, len(urls))  # each product's week read once: the steady state is measured, not the start
    for _ in range(rounds):
        many += time_calls(get, urls, block)
        one += time_calls(get, urls[:1], block)
    return many, one


def print_table(rows: list) -> None:
    workers, threads = configured_workers()
    print(f"\nms, p50 / p99; gunicorn: bcx-web with {workers} workers x {threads} threads, one client\n")
    print(f"| {'query':32} | {'test client':>17} | {'gunicorn (HTTP)':>17} | {'raw ticks (TickStore.range)':>34} |")
    print(f"| {'-' * 32} | {'-' * 16}: | {'-' * 16}: | {'-' * 33}: |")
    for name, in_process, over_http, raw, tier in rows:
        if raw:
            ratio = p50_p99(raw[0])[0] / p50_p99(over_http)[0]
            raw_text = f"{cell(raw[0])} ({raw[1]:,} ticks, {ratio:4.0f}x)"
        else:
            raw_text = "not generated"
        name = f"{name} [{tier}]" if tier else name
        print(f"| {name:40} | {cell(in_process):>17} | {cell(over_http):>17} | {raw_text:>34} |")


def tier_of(client, path: str) -> str | None:
    """The tier a /series answer was read from (a /candles answer has none); an error answer stops the bench."""
    answer = client.get(path)
    if answer.status_code != 200:
        raise SystemExit(f"{path}: HTTP {answer.status_code} {answer.get_data(as_text=True)}")
    return answer.get_json().get("tier")


def print_ratios(p50: dict[str, float]) -> None:
    """Issue 19's targets 1 and 3, as ratios of gunicorn p50s of this run (target 2: cache_cliff)."""
    day = p50[series_name("1 day")]
    if series_name("1 week") in p50:
        week, month = (p50[series_name(label)] for label in ("1 week", "1 month"))
        print(f"  1 week / 1 day /series:                          {week / day:5.2f}x (target 1: about 1x)")
        print(f"  1 month / 1 day /series:                         {month / day:5.2f}x")
    print(f"  1 day /series / /health:                          {day / p50[HEALTH]:5.2f}x (target 3: <= 2x)")


if __name__ == "__main__":
    main()
