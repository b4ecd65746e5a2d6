"""Tracker ingest rate, replay -> Redis, beside its ceilings and the naive design, all in one run.

    .venv/bin/python -m bench.ingest [--hours 72] [--naive 20000]

Over one generated recording of three products (about 7,100 ticks per hour, so the default is ~510k ticks):

- end to end: `bcx-replay --speed max` -> one `bcx-tracker` process -> an embedded redis-server, from the
  tracker's start to the moment every tick of the file is in Redis;
- (a) redis-py + hiredis alone writing the same ticks (BCX members) with pipelines of 1,000 single-member ZADDs
  to one sorted set per product, no websocket; and TickStore.add alone (our Lua script, batches of 500);
- (b) a websocket-client loop (skip_utf8_validation=True, as the tracker) that only drains the same frames from
  the same replay server, and the same with the tracker's receive path (bcx_tracker.framed_ws);
- (c) the naive design: one ZADD per field (price, bid, ask sets, member = the value) per tick, one round trip
  each, over the first `--naive` ticks (its rate is steady; the whole file would take minutes).

Prints ticks/s for each and the ratios. Figures vary with the machine: compare within one run.
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import redis
import websocket

from bcx.config import RedisConfig
from bcx.connection import connect
from bcx.embedded import EmbeddedRedis
from bcx.store import TickStore
from bcx.tick import Tick, encode_member
from bcx_tracker.coinbase import TickEvent, parse_message, subscribe_message
from bcx_tracker.framed_ws import FramedWebSocket
from bcx_tracker.sample import PRODUCTS, write_sample

BIN = Path(sys.executable).parent
TIMEOUT = 600.0


def pinned(core: int):
    """preexec_fn pinning a child to one core (when the machine has more than one)."""
    cores = os.sched_getaffinity(0)

    def pin() -> None:
        if len(cores) > 1:
            os.sched_setaffinity(0, {sorted(cores)[core % len(cores)]})

    return pin


def start_replay(path: Path, log) -> tuple[subprocess.Popen, str]:
    args = [str(BIN / "bcx-replay"), str(path), "--speed", "max", "-q"]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log, preexec_fn=pinned(1))
    line = process.stdout.readline().decode()
    match = re.search(r"listening on (ws://\S+)", line)
    if not match:
        raise RuntimeError(f"bcx-replay printed {line!r}")
    return process, match.group(1)


def write_config(path: Path, redis_url: str, feed_url: str, products: list[str]) -> None:
    path.write_text(
        f"[redis]\nurl = {redis_url}\n[tracker]\nfeed_url = {feed_url}\nproducts = {', '.join(products)}\n"
        # no REST: nothing may leave the machine (an unreachable local port; the tracker only warns)
        "rest_url = http://127.0.0.1:9\n[log]\nlevel = WARNING\n"
    )


def end_to_end(path: Path, ticks: list[Tick], products: list[str], workdir: Path) -> float:
    """Until the newest tick of every product is stored; then every tick is checked to be there."""
    last_trade = {tick.product: tick.trade_id for tick in ticks}
    with EmbeddedRedis() as server, open(workdir / "bench.log", "w") as log:
        conn = connect(RedisConfig(url=server.url, prefix="bcx", timeout=5.0))
        store = TickStore(conn, "bcx")
        replay, url = start_replay(path, log)
        config = workdir / "bcx.conf"
        write_config(config, server.url, url, products)
        started = time.monotonic()
        tracker = subprocess.Popen(
            [str(BIN / "bcx-tracker"), "--config", str(config)], stderr=log, preexec_fn=pinned(0)
        )
        try:
            # The latest-tick hash is one HGETALL a product: polling it costs the server and this process
            # nothing next to counting every chunk, which took a visible share of the two cores.
            while not newest_stored(store, last_trade):
                if tracker.poll() is not None or time.monotonic() - started > TIMEOUT:
                    raise RuntimeError(f"tracker stopped or timed out; see {workdir / 'bench.log'}")
                time.sleep(0.02)
            elapsed = time.monotonic() - started
            stored = sum(store.count(p) for p in products)
            if stored != len(ticks):
                raise RuntimeError(f"{stored} ticks stored of {len(ticks)}; see {workdir / 'bench.log'}")
        finally:
            for process in (tracker, replay):
                process.terminate()
                process.wait(timeout=30)
            conn.close()
    return len(ticks) / elapsed


def newest_stored(store: TickStore, last_trade: dict[str, int]) -> bool:
    latest = store.latest_many(list(last_trade))
    return all(tick is not None and tick.trade_id == last_trade[product] for product, tick in latest.items())


def drain(path: Path, total: int, products: list[str], workdir: Path, framed: bool = False) -> float:
    """(b): the frames of the same replay server, received and counted, nothing else; `framed`: through the
    tracker's own receive path (FramedWebSocket.recv_messages) instead of websocket-client's recv_data."""
    with open(workdir / "drain.log", "w") as log:
        replay, url = start_replay(path, log)
        try:
            kind = FramedWebSocket if framed else websocket.WebSocket
            ws = websocket.create_connection(url, timeout=30, skip_utf8_validation=True, class_=kind)
            ws.send(subscribe_message(products))
            receive = ws.recv_messages if framed else lambda: [ws.recv_data()]
            started, seen = time.monotonic(), 0
            while seen < total:
                seen += sum(b'"type":"ticker"' in data for _, data in receive())
            elapsed = time.monotonic() - started
            ws.close()
        finally:
            replay.terminate()
            replay.wait(timeout=30)
    return total / elapsed


def recorded_ticks(path: Path) -> list[Tick]:
    found = []
    for line in path.open():
        message = parse_message(line)
        if isinstance(message, TickEvent):
            found.append(message.tick)
    return found


def rate_on_fresh_redis(ticks: list[Tick], write: Callable[[redis.Redis, list[Tick]], None]) -> float:
    """Ticks/s of `write(conn, ticks)` into a new embedded redis-server, timed from the first write to the last."""
    with EmbeddedRedis() as server:
        conn = connect(RedisConfig(url=server.url, prefix="bcx", timeout=30.0))
        started = time.monotonic()
        write(conn, ticks)
        elapsed = time.monotonic() - started
        conn.close()
    return len(ticks) / elapsed


def pipelined(conn: redis.Redis, ticks: list[Tick]) -> None:
    """(a): redis-py + hiredis, pipelines of 1,000 single-member ZADDs, no websocket and no Lua."""
    for first in range(0, len(ticks), 1000):
        pipe = conn.pipeline(transaction=False)
        for tick in ticks[first : first + 1000]:
            pipe.zadd(f"pipelined:{tick.product}", {encode_member(tick): tick.time_ms})
        pipe.execute()


def store_alone(conn: redis.Redis, ticks: list[Tick]) -> None:
    """TickStore.add as the tracker's writer calls it (batches of 500), without the feed."""
    store = TickStore(conn, "bcx")
    for first in range(0, len(ticks), 500):
        store.add(ticks[first : first + 500])


def naive(conn: redis.Redis, ticks: list[Tick]) -> None:
    """(c): what users write first: one ZADD per field per tick, member = the value, one round trip each."""
    for tick in ticks:
        for field in ("price", "bid", "ask"):
            value = getattr(tick, field)
            if value is not None:
                conn.zadd(f"naive:{tick.product}:{field}", {value: tick.time_ms})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__.split("\n")[0])
    parser.add_argument("--hours", type=float, default=72.0, help="hours of generated feed (~7,100 ticks each)")
    parser.add_argument("--naive", type=int, default=20_000, help="ticks written the naive way (c)")
    args = parser.parse_args(argv)
    products = [model.product for model in PRODUCTS]
    with tempfile.TemporaryDirectory(prefix="bcx-bench-") as tmp:
        workdir = Path(tmp)
        path = workdir / "feed.jsonl"
        write_sample(path, seed=11, hours=args.hours)
        ticks = recorded_ticks(path)
        # Half a million ticks held here would make every full garbage collection of this process walk them,
        # slowing the loops measured in it ((a), (b), (c)) by up to 2x: keep them out of the collector's sight.
        gc.freeze()
        total, naive_ticks = len(ticks), ticks[: args.naive]
        rates = {
            "end to end: bcx-replay --speed max -> bcx-tracker -> redis": end_to_end(path, ticks, products, workdir),
            "(a) redis-py + hiredis, pipelined ZADD, no websocket": rate_on_fresh_redis(ticks, pipelined),
            "    TickStore.add alone (Lua, batches of 500)": rate_on_fresh_redis(ticks, store_alone),
            "(b) websocket-client drain of the same replay server": drain(path, total, products, workdir),
            "    the same through the tracker's FramedWebSocket": drain(path, total, products, workdir, framed=True),
            f"(c) naive: ZADD per field per tick, round trip each ({len(naive_ticks):,} ticks)": rate_on_fresh_redis(
                naive_ticks, naive
            ),
        }
    e2e = next(iter(rates.values()))
    print(f"{total:,} ticks of {len(products)} products")
    print(f"{'path':<74}{'ticks/s':>10}{'end to end / it':>17}")
    for name, rate in rates.items():
        print(f"{name:<74}{rate:>10,.0f}{e2e / rate:>16.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
