"""Watcher figures: bytes per raw tick and per 1-minute candle in Redis, and the time of one compaction pass.

    .venv/bin/python -m bench.watcher [--products 3] [--seconds 86400]

Starts its own embedded redis-server, writes a day of ticks at one per second for each product (by default),
then times the History manager: the first compaction pass over everything (every default candle tier), a second
pass with nothing to do, and a pass after one late tick lands in a minute compacted long ago. Memory is MEMORY
USAGE summed over a series' keys (chunks and index) divided by its entries. Compare figures within one run.
"""

from __future__ import annotations

import argparse
import time

from bcx.candles import CandleStore
from bcx.config import DEFAULTS, RedisConfig
from bcx.connection import connect
from bcx.embedded import EmbeddedRedis
from bcx.keys import ChunkKeys
from bcx.store import TickStore
from bcx.tick import Tick
from bcx_watcher.history import History
from bench.memory import synthetic_ticks

DAY_START = 1_609_459_200_000  # 2021-01-01T00:00:00Z
INTERVALS = DEFAULTS.watcher.candles  # the default tiers: 1m, 5m, 15m, 1h, 6h, 1d


def day_of_ticks(product: str, seconds: int, seed: int) -> list[Tick]:
    """One tick a second (plus one at the next day's start, so the whole day is closed), synthetic prices."""
    made = synthetic_ticks(seconds + 1, seed)
    return [Tick(product, DAY_START + i * 1000, t.trade_id, t.price, t.bid, t.ask, t.size) for i, t in enumerate(made)]


def bytes_per_entry(conn, chain: ChunkKeys) -> tuple[float, int]:
    chunk_ids = conn.zrange(chain.index, 0, -1)
    keys = [chain.index] + [chain.chunk(c) for c in chunk_ids]
    total = sum(conn.memory_usage(key, samples=0) or 0 for key in keys)
    entries = sum(conn.zcard(chain.chunk(c)) for c in chunk_ids)
    return total / entries, entries


def timed(action) -> tuple[float, object]:
    began = time.perf_counter()
    result = action()
    return time.perf_counter() - began, result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--products", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=86_400, help="ticks per product, one a second")
    args = parser.parse_args(argv)
    products = [f"P{i}-USD" for i in range(args.products)]
    with EmbeddedRedis() as server:
        conn = connect(RedisConfig(url=server.url, prefix="bench", timeout=60.0))
        ticks = TickStore(conn, "bench")
        history = History(conn, ticks, CandleStore(conn, "bench"), INTERVALS)
        for n, product in enumerate(products):
            batch = day_of_ticks(product, args.seconds, seed=n)
            for first in range(0, len(batch), 500):
                ticks.add(batch[first : first + 500])
        first, written = timed(lambda: sum(history.compact(p) for p in products))
        second, nothing = timed(lambda: sum(history.compact(p) for p in products))
        ticks.add([Tick(products[0], DAY_START + 3_600_000 + 500, 1, "1", None, None, "0.1")])
        late, rewritten = timed(lambda: sum(history.compact(p) for p in products))
        keys = ticks.keys(products[0])
        tick_bytes, tick_count = bytes_per_entry(conn, keys.ticks)
        candle_bytes, candle_count = bytes_per_entry(conn, keys.candles("1m"))
        server_version = conn.info("server")["redis_version"]
        conn.close()
    print(f"redis-server {server_version}; {args.products} products x {args.seconds:,} ticks (1 a second)")
    print(f"bytes per raw tick:         {tick_bytes:6.1f}  ({tick_count:,} ticks of {products[0]})")
    print(f"bytes per 1-minute candle:  {candle_bytes:6.1f}  ({candle_count:,} candles of {products[0]})")
    print(f"first compaction pass:      {first:6.2f} s  ({written:,} candles written, {'+'.join(INTERVALS)})")
    print(f"second pass, nothing dirty: {second:6.3f} s  ({nothing} candles written)")
    print(f"pass after one late tick:   {late:6.3f} s  ({rewritten} candles rewritten)")


if __name__ == "__main__":
    main()
