"""Tracker ingest rate, replay -> Redis, beside its ceilings and the naive design, all in one run.

    .venv/bin/python -m bench.ingest [--hours 72] [--naive 20000] [--no-exchanges] [--only-write-path]

Over one generated recording of three products (about 7,100 ticks per hour, so the default is ~510k ticks):

- end to end: `bcx-replay --speed max` -> one `bcx-tracker` process -> an embedded redis-server, from the
  tracker's start to the moment every tick of the file is in Redis; and the same with the tracker's writer
  waiting up to 100 ms for a fuller batch, as before issue 19 (now it writes at once when nothing else waits);
- (a) redis-py + hiredis alone writing the same ticks (BCX members) with pipelines of 1,000 single-member ZADDs
  to one sorted set per product, no websocket; and TickStore.add alone (our Lua script, batches of 500);
- (b) a websocket-client loop (skip_utf8_validation=True, as the tracker) that only drains the same frames from
  the same replay server, and the same with the tracker's receive path (bcx_tracker.framed_ws);
- (c) the naive design: one ZADD per field (price, bid, ask sets, member = the value) per tick, one round trip
  each, over the first `--naive` ticks (its rate is steady; the whole file would take minutes).

Then the write path (issue 19): TickStore.add alone beside its own Lua script fed the same calls pre-encoded
(recorded as the bytes redis-py sent, then sent again one at a time to a fresh server with no Python work a tick),
as ticks/s and as CPU a tick in this process and in redis-server (which moves far less with the machine's load),
the best of `--rounds` each.

Then per exchange (issue 12), over recordings of the same hours: Coinbase alone (three products), Kraken alone
(two products), Binance alone (two products), Bitfinex alone (two products; bcx-replay sends each trade as te
and tu), each with a book update before each trade, and all four in one tracker process, each end to end with the
tracker's CPU per tick (user + system time from /proc, over the whole run).

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
from typing import NamedTuple

import redis
import websocket

from bcx.config import RedisConfig, load_config, packaged_default
from bcx.connection import connect
from bcx.embedded import EmbeddedRedis
from bcx.series import split
from bcx.store import TickStore
from bcx.tick import COMPILED, MEMBER_CODEC, Tick, encode_member, python_encoder
from bcx_tracker.coinbase import subscribe_message
from bcx_tracker.exchange import TickEvent
from bcx_tracker.exchanges import ADAPTERS, replay_path
from bcx_tracker.framed_ws import FramedWebSocket
from bcx_tracker.recorder import split_line
from bcx_tracker.sample import PRODUCTS, SAMPLE_EXCHANGES, recording_lines, write_sample
from bcx_tracker.tracker import by_exchange

BIN = Path(sys.executable).parent
TIMEOUT = 600.0
# Bitfinex's series for the per-exchange runs, until the bundled sample has its own: symbol and (trades, ticker) ids


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


def write_config(path: Path, redis_url: str, feed_url: str, products: list[str], tracker: str = "") -> None:
    exchanges = "".join(
        # no REST: nothing may leave the machine (an unreachable local port; the tracker only warns)
        f"[exchange:{name}]\nfeed_url = {feed_url}{replay_path(protocol)}\nrest_url = http://127.0.0.1:9\n"
        for name, protocol in (
            ("coinbase", "coinbase-exchange"),
            ("kraken", "kraken"),
            ("binance", "binance"),
            ("bitfinex", "bitfinex"),
        )
    )
    path.write_text(
        f"[redis]\nurl = {redis_url}\n[tracker]\nproducts = {', '.join(products)}\n{tracker}{exchanges}"
        "[log]\nlevel = WARNING\n"
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process so far (/proc/PID/stat, fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def end_to_end(path: Path, ticks: list[Tick], products: list[str], workdir: Path) -> float:
    return end_to_end_cpu(path, ticks, products, workdir)[0]


def end_to_end_cpu(
    path: Path, ticks: list[Tick], products: list[str], workdir: Path, tracker_options: str = ""
) -> tuple[float, float]:
    """Until the newest tick of every product is stored; then every tick is checked to be there. Returns ticks/s
    and the tracker's CPU microseconds per tick. `tracker_options`: lines for the config's [tracker] section."""
    last_trade = {tick.product: tick.trade_id for tick in ticks}
    with EmbeddedRedis() as server, open(workdir / "bench.log", "w") as log:
        conn = connect(RedisConfig(url=server.url, prefix="bcx", timeout=5.0))
        store = TickStore(conn, "bcx")
        replay, url = start_replay(path, log)
        config = workdir / "bcx.conf"
        write_config(config, server.url, url, products, tracker_options)
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
            cpu = cpu_seconds(tracker.pid)
            stored = sum(store.count(p) for p in products)
            if stored != len(ticks):
                raise RuntimeError(f"{stored} ticks stored of {len(ticks)}; see {workdir / 'bench.log'}")
        finally:
            for process in (tracker, replay):
                process.terminate()
                process.wait(timeout=30)
            conn.close()
    return len(ticks) / elapsed, cpu / len(ticks) * 1e6


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
            ws.send(subscribe_message([split(p).product for p in products]))
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


def recorded_ticks(path: Path, products: list[str]) -> list[Tick]:
    """The ticks of a recording, as each exchange's adapter parses its lines."""
    config = load_config(str(packaged_default()))
    parsers = {
        exchange: ADAPTERS[config.exchanges[exchange].protocol](mine)
        for exchange, mine in by_exchange(products).items()
    }
    found = []
    for line in path.open():
        exchange, raw = split_line(line.strip())
        for message in parsers[exchange].parse(raw):
            if isinstance(message, TickEvent):
                found.append(message.tick)
    return found


def per_exchange(hours: float, workdir: Path) -> dict[str, tuple[int, float, float]]:
    """Each exchange of the sample alone, then all at once: (ticks, ticks/s, tracker CPU us per tick) each."""
    runs = {
        name: [model.product if ":" in model.product else f"coinbase:{model.product}" for model in models]
        for name, (models, _) in SAMPLE_EXCHANGES.items()
    }
    runs["all four, one tracker"] = [series for products in runs.values() for series in products]
    # The demo walks of the other exchanges trade more slowly than Coinbase's: each exchange alone gets as many
    # more hours as makes about as many ticks, so that the tracker's start-up weighs alike on every row.
    rates = {name: sum(model.rate for model in models) for name, (models, _) in SAMPLE_EXCHANGES.items()}
    results = {}
    for name, products in runs.items():
        exchanges = {split(series).exchange for series in products}
        scaled = hours * rates["coinbase"] / rates[name] if name in rates else hours
        path = workdir / f"{name.split()[0]}-{len(products)}.jsonl"
        with path.open("w") as out:
            for line in recording_lines(seed=11, hours=scaled, exchanges=exchanges):
                out.write(line + "\n")
        ticks = recorded_ticks(path, products)
        rate, cpu = end_to_end_cpu(path, ticks, products, workdir)
        results[name] = (len(ticks), rate, cpu)
    return results


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


def store_in_python(conn: redis.Redis, ticks: list[Tick]) -> None:
    """store_alone() with every member encoded by bcx.tick's Python encoder, as before bcx/_tick_codec.c."""
    with python_encoder():
        store_alone(conn, ticks)


def recorded_commands(ticks: list[Tick], write: Callable[[redis.Redis, list[Tick]], None]) -> list[bytes]:
    """The script calls (EVALSHA, and SCRIPT LOAD when the script was missing) that `write` sends for these ticks,
    as the bytes on the wire, recorded while it writes them into a throwaway server."""
    sent: list[bytes] = []
    original = redis.connection.AbstractConnection.send_packed_command

    def record(connection, command, check_health=True):
        packed = command if isinstance(command, bytes) else b"".join(command)
        if packed[:40].upper().find(b"EVALSHA") >= 0 or packed[:40].upper().find(b"SCRIPT") >= 0:
            sent.append(packed)
        return original(connection, command, check_health)

    redis.connection.AbstractConnection.send_packed_command = record
    try:
        rate_on_fresh_redis(ticks, write)
    finally:
        redis.connection.AbstractConnection.send_packed_command = original
    return sent


class Costs(NamedTuple):
    """One write of a list of ticks: its rate and the CPU it took a tick, in this process and in redis-server."""

    rate: float
    client_us: float
    server_us: float

    @property
    def cpu_us(self) -> float:
        return self.client_us + self.server_us


def costs_on_fresh_redis(ticks: list[Tick], write: Callable[[redis.Redis, list[Tick]], None]) -> Costs:
    """rate_on_fresh_redis() with the CPU time of both sides: on a machine shared with other work the CPU a tick
    moves far less than the rate does."""
    with EmbeddedRedis() as server:
        conn = connect(RedisConfig(url=server.url, prefix="bcx", timeout=30.0))
        conn.ping()
        server_before, client_before, started = cpu_seconds(server.process.pid), time.process_time(), time.monotonic()
        write(conn, ticks)
        elapsed = time.monotonic() - started
        client, server_cpu = time.process_time() - client_before, cpu_seconds(server.process.pid) - server_before
        conn.close()
    per_tick = 1e6 / len(ticks)
    return Costs(len(ticks) / elapsed, client * per_tick, server_cpu * per_tick)


def replayed(commands: list[bytes]) -> Callable[[redis.Redis, list[Tick]], None]:
    """A write that sends pre-encoded script calls (recorded_commands) one at a time, each reply awaited before the
    next call: the script alone, with no Python work a tick, what the write path could reach if encoding and
    packing cost nothing and the client never ran beside the server."""

    def replay(conn: redis.Redis, _: list[Tick]) -> None:
        connection = redis.Connection(port=conn.connection_pool.connection_kwargs["port"], protocol=2)
        connection.connect()
        for command in commands:
            connection.send_packed_command([command], check_health=False)
            try:
                connection.read_response()
            except redis.ResponseError:  # NOSCRIPT before the first SCRIPT LOAD, as the store met it
                pass
        connection.disconnect()

    return replay


def print_write_path(ticks: list[Tick], rounds: int = 3) -> None:
    """Target 4 of issue 19: TickStore.add beside its own script's ceiling, as rates and as CPU a tick, each the
    best of `rounds` taken in turn (the machine's load moves single runs by up to 2x)."""
    rows = {
        "the script alone, pre-encoded RESP (ceiling)": replayed(recorded_commands(ticks, store_alone)),
        "TickStore.add": store_alone,
    }
    if COMPILED:  # before and after bcx/_tick_codec.c, in one run
        rows["    the same, members encoded in Python"] = store_in_python
    load = os.getloadavg()[0]
    best: dict[str, Costs] = {}
    for _ in range(rounds):
        for name, write in rows.items():
            costs = costs_on_fresh_redis(ticks, write)
            if name not in best or costs.rate > best[name].rate:
                best[name] = costs
    title = f"write path (batches of 500), best of {rounds}"
    print(f"\n{title:<52}{'ticks/s':>10}{'client us':>11}{'server us':>11}")
    for name, costs in best.items():
        print(f"{name:<52}{costs.rate:>10,.0f}{costs.client_us:>11.2f}{costs.server_us:>11.2f}")
    ceiling, store = best["the script alone, pre-encoded RESP (ceiling)"], best["TickStore.add"]
    print(f"TickStore.add / ceiling: {store.rate / ceiling.rate:.2f}x by rate, ", end="")
    print(f"{ceiling.cpu_us / store.cpu_us:.2f}x by CPU a tick (client + server); tick members in {MEMBER_CODEC}")
    print(
        f"load average (1 min) {load:.2f} at the start, {os.getloadavg()[0]:.2f} at the end, on {os.cpu_count()} cores"
    )


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
    parser.add_argument("--exchanges-hours", type=float, default=24.0, help="hours of each per-exchange run")
    parser.add_argument("--only-exchanges", action="store_true", help="run the per-exchange comparison alone")
    parser.add_argument("--no-exchanges", action="store_true", help="leave the per-exchange comparison out")
    parser.add_argument("--only-write-path", action="store_true", help="run the write path comparison alone")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the write path comparison (best of)")
    args = parser.parse_args(argv)
    if args.only_exchanges:
        with tempfile.TemporaryDirectory(prefix="bcx-bench-") as tmp:
            print_exchanges(per_exchange(args.exchanges_hours, Path(tmp)))
        return 0
    products = [f"coinbase:{model.product}" for model in PRODUCTS]
    with tempfile.TemporaryDirectory(prefix="bcx-bench-") as tmp:
        workdir = Path(tmp)
        path = workdir / "feed.jsonl"
        write_sample(path, seed=11, hours=args.hours, exchanges=["coinbase"])
        ticks = recorded_ticks(path, products)
        # Half a million ticks held here would make every full garbage collection of this process walk them,
        # slowing the loops measured in it ((a), (b), (c)) by up to 2x: keep them out of the collector's sight.
        gc.freeze()
        if args.only_write_path:
            print_write_path(ticks, args.rounds)
            return 0
        total, naive_ticks = len(ticks), ticks[: args.naive]
        e2e, e2e_cpu = end_to_end_cpu(path, ticks, products, workdir)
        # the writer before issue 19 waited up to 100 ms for a fuller batch; now it writes at once when idle
        waiting, waiting_cpu = end_to_end_cpu(path, ticks, products, workdir, "flush_interval = 100ms\n")
        rates = {
            "end to end: bcx-replay --speed max -> bcx-tracker -> redis": e2e,
            "    the same, tracker flush_interval = 100ms (the writer before issue 19)": waiting,
            "(a) redis-py + hiredis, pipelined ZADD, no websocket": rate_on_fresh_redis(ticks, pipelined),
            "    TickStore.add alone (Lua, batches of 500)": rate_on_fresh_redis(ticks, store_alone),
            "(b) websocket-client drain of the same replay server": drain(path, total, products, workdir),
            "    the same through the tracker's FramedWebSocket": drain(path, total, products, workdir, framed=True),
            f"(c) naive: ZADD per field per tick, round trip each ({len(naive_ticks):,} ticks)": rate_on_fresh_redis(
                naive_ticks, naive
            ),
        }
    print(f"{total:,} ticks of {len(products)} products")
    print(f"{'path':<74}{'ticks/s':>10}{'end to end / it':>17}")
    for name, rate in rates.items():
        print(f"{name:<74}{rate:>10,.0f}{e2e / rate:>16.2f}x")
    print(f"tracker CPU a tick, end to end: {e2e_cpu:.1f} us (flush_interval 100ms: {waiting_cpu:.1f} us)")
    print_write_path(ticks, args.rounds)
    if not args.no_exchanges:
        with tempfile.TemporaryDirectory(prefix="bcx-bench-") as tmp:
            print_exchanges(per_exchange(args.exchanges_hours, Path(tmp)))
    return 0


def print_exchanges(results: dict[str, tuple[int, float, float]]) -> None:
    print(f"\n{'per exchange, end to end':<40}{'ticks':>10}{'ticks/s':>10}{'CPU us/tick':>13}{'vs coinbase':>13}")
    base = results["coinbase"][2]
    for name, (count, rate, cpu) in results.items():
        print(f"{name:<40}{count:>10,}{rate:>10,.0f}{cpu:>13.1f}{cpu / base:>12.2f}x")


if __name__ == "__main__":
    sys.exit(main())
