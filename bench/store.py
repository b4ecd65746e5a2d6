"""Tick store figures: write rate and bytes per tick, chunked layout beside one big sorted set.

    .venv/bin/python -m bench.store [--ticks 200000]

Starts its own embedded redis-server; prints a table. Figures vary with the machine: compare within one run.
"""

from __future__ import annotations

import argparse
import random
import time
from decimal import Decimal

from bcx.config import RedisConfig
from bcx.connection import connect
from bcx.embedded import EmbeddedRedis
from bcx.store import TickStore
from bcx.tick import Tick, encode_member

PRODUCT = "BTC-USD"


def synthetic_ticks(count: int, seed: int = 7) -> list[Tick]:
    rng = random.Random(seed)
    price, ticks, now = Decimal("65000.00"), [], 1_762_000_000_000
    for index in range(count):
        price += Decimal(rng.randint(-300, 300)) / 100
        now += rng.randint(1, 400)
        bid, ask = price - Decimal(rng.randint(0, 5)) / 100, price + Decimal(rng.randint(1, 5)) / 100
        ticks.append(
            Tick(PRODUCT, now, 500_000_000 + index, str(price), str(bid), str(ask), f"0.{rng.randint(1, 99999999):08d}")
        )
    return ticks


def memory_of(conn, pattern: str) -> int:
    return sum(conn.memory_usage(key, samples=0) or 0 for key in conn.scan_iter(match=pattern, count=1000))


def bench_chunked(conn, ticks: list[Tick], batch: int) -> tuple[float, float]:
    store = TickStore(conn, "bench", "coinbase")
    began = time.perf_counter()
    for first in range(0, len(ticks), batch):
        store.add(ticks[first : first + batch])
    elapsed = time.perf_counter() - began
    return len(ticks) / elapsed, memory_of(conn, "bench:*") / len(ticks)


def bench_one_set(conn, ticks: list[Tick], batch: int) -> tuple[float, float]:
    began = time.perf_counter()
    for first in range(0, len(ticks), batch):
        conn.zadd("one:set", {encode_member(t): t.time_ms for t in ticks[first : first + batch]})
    elapsed = time.perf_counter() - began
    return len(ticks) / elapsed, memory_of(conn, "one:*") / len(ticks)


def bench_read(conn, ticks: list[Tick]) -> float:
    store = TickStore(conn, "bench", "coinbase")
    began = time.perf_counter()
    got = store.range(PRODUCT, ticks[0].time_ms, ticks[-1].time_ms)
    elapsed = time.perf_counter() - began
    assert len(got) == len(ticks)
    return len(ticks) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ticks", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    ticks = synthetic_ticks(args.ticks)
    with EmbeddedRedis() as server:
        conn = connect(RedisConfig(url=server.url, prefix="bench", timeout=30))
        version = conn.info("server")["redis_version"]
        chunked_rate, chunked_bytes = bench_chunked(conn, ticks, args.batch)
        read_rate = bench_read(conn, ticks)
        one_rate, one_bytes = bench_one_set(conn, ticks, args.batch)
    print(f"redis-server {version}, {args.ticks} ticks of one product, batches of {args.batch}")
    print(f"{'layout':<34}{'write ticks/s':>15}{'bytes/tick':>12}")
    print(f"{'chunked (BCX, Lua per batch)':<34}{chunked_rate:>15,.0f}{chunked_bytes:>12.1f}")
    print(f"{'one big sorted set (plain ZADD)':<34}{one_rate:>15,.0f}{one_bytes:>12.1f}")
    print(f"chunked range read of all ticks: {read_rate:,.0f} ticks/s")
    print(f"ratios: bytes {chunked_bytes / one_bytes:.2f}x of one set, write rate {chunked_rate / one_rate:.2f}x")


if __name__ == "__main__":
    main()
