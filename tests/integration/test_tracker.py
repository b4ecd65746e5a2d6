"""The tracker against the replay server and a real Redis: in-process, then as the `bcx-tracker` command."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from bcx.embedded import EmbeddedRedis, free_port
from bcx.keys import ticks_channel
from bcx.pubsub import Subscription
from bcx.series import split
from bcx.store import TickStore
from bcx.tick import Tick
from bcx_tracker.coinbase import Coinbase, parse_message
from bcx_tracker.feed import Feed
from bcx_tracker.recorder import read_entries
from bcx_tracker.replay import ReplayServer
from bcx_tracker.sample import write_sample
from bcx_tracker.writer import TickWriter

PRODUCTS = ("coinbase:BTC-USD", "coinbase:ETH-USD", "coinbase:SOL-USD")
TIMEOUT = 10.0
TRACKER = str(Path(sys.executable).parent / "bcx-tracker")


def wait_for(condition: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def fields(tick: Tick) -> tuple:
    return (tick.product, tick.time_ms, tick.trade_id, tick.price, tick.bid, tick.ask, tick.size)


def ticks_in(path: Path) -> list[tuple]:
    coinbase = (e for e in read_entries(path) if e.channel == "ticker" and split(e.product).exchange == "coinbase")
    return sorted(fields(parse_message(e.raw).tick) for e in coinbase)


def stored(store: TickStore) -> list[tuple]:
    return sorted(fields(tick) for product in PRODUCTS for tick in store.range(product, 0, 2**53))


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("feed") / "sample.jsonl.gz"
    write_sample(path, seed=3, hours=0.1)
    return path


@pytest.fixture
def replay(sample):
    with ReplayServer(sample, speed=None) as server:
        yield server


class InProcessTracker:
    """Feed and writer on threads, as bcx_tracker.cli wires them, stopped at the end of the test."""

    def __init__(self, url: str, store: TickStore):
        self.writer = TickWriter(store, batch_size=50, flush_interval=0.02, retry_max=1).start()
        self.feed = Feed(
            Coinbase([split(p).product for p in PRODUCTS]), url, self.writer.put_many, reconnect_max=1
        ).start()

    def stop(self) -> None:
        self.feed.stop(time.monotonic() + TIMEOUT)
        assert self.feed.join()
        assert self.writer.close(timeout=TIMEOUT) == 0


def test_stores_exactly_the_ticks_of_the_file(redis_conn, replay, sample):
    expected = ticks_in(sample)
    store = TickStore(redis_conn, "bcx")
    tracker = InProcessTracker(replay.url, store)
    try:
        wait_for(lambda: tracker.writer.written == len(expected), "every tick written")
    finally:
        tracker.stop()
    assert stored(store) == expected  # exact strings, no duplicates, none missing
    stats = tracker.feed.stats
    assert (stats.ticks, stats.stale, stats.malformed, stats.reconnects) == (len(expected), 0, 0, 0)


def test_reconnects_to_a_restarted_server_and_drops_the_replayed_ticks(redis_conn, sample):
    expected = ticks_in(sample)
    store = TickStore(redis_conn, "bcx")
    first = ReplayServer(sample, speed=None).start()
    tracker = InProcessTracker(first.url, store)
    try:
        wait_for(lambda: tracker.writer.written == len(expected), "the first pass written")
        first.stop()
        with ReplayServer(sample, port=first.port, speed=None):
            wait_for(lambda: tracker.feed.stats.stale == len(expected), "the second pass seen")
            assert tracker.feed.failures == 0  # reset by the new server's subscriptions reply
    finally:
        tracker.stop()
    assert tracker.feed.stats.reconnects >= 1
    assert stored(store) == expected


def test_writer_on_real_redis_stores_each_trade_once(redis_conn):
    store = TickStore(redis_conn, "bcx")
    writer = TickWriter(store, batch_size=3, flush_interval=0.01).start()
    ticks = [Tick("BTC-USD", 1_000 + i, i, f"{i}.10", "1.00", "2.00", "0.5") for i in range(10)]
    for tick in ticks + ticks[:4]:
        writer.put(tick)
    assert writer.close() == 0
    assert (writer.written, writer.new) == (14, 10)
    assert [fields(t) for t in store.range("BTC-USD", 0, 10**6)] == [fields(t) for t in ticks]


def write_config(path: Path, redis_section: str, feed_url: str, log: Path, **tracker: str) -> Path:
    options = {"products": ", ".join(PRODUCTS), "feed_url": feed_url, "rest_url": "", **tracker}
    lines = [redis_section.rstrip("\n"), "timeout = 1s", "[tracker]"]
    lines += [f"{key} = {value}" for key, value in options.items()]
    lines += ["[log]", "level = INFO", f"file = {log}"]
    path.write_text("\n".join(lines) + "\n")
    return path


class DaemonProcess:
    """A daemon run as a real process: `terminate` as init would (TERM, then its exit code), `kill` to clean up."""

    process: subprocess.Popen

    def terminate(self, timeout: float = 30.0) -> int:
        """Generous: a tracker whose Redis is down waits 10 s for it before giving up its buffer."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


class TrackerProcess(DaemonProcess):
    def __init__(self, config: Path, record: Path):
        self.record = record
        self.process = subprocess.Popen([TRACKER, "--config", str(config), "--record", str(record)])

    def recorded_tickers(self) -> int:
        if not self.record.exists():
            return 0
        return sum('"type":"ticker"' in line for line in self.record.read_text().splitlines())


def test_sigterm_flushes_every_buffered_tick_and_the_recording_replays_the_same(
    redis_conn, redis_section, replay, sample, tmp_path
):
    expected = ticks_in(sample)
    log = tmp_path / "tracker.log"
    # Nothing is flushed before shutdown: a batch larger than the file, an interval longer than the test.
    config = write_config(
        tmp_path / "bcx.conf", redis_section, replay.url, log, batch_size="100000", flush_interval="1h"
    )
    announcements = Subscription(redis_conn, ticks_channel("bcx"))  # sharded on a Redis 7 cluster, as published
    tracker = TrackerProcess(config, tmp_path / "feed.jsonl")
    try:
        wait_for(lambda: tracker.recorded_tickers() == len(expected), "the whole file received")
        store = TickStore(redis_conn, "bcx")
        assert stored(store) == []
        assert tracker.terminate() == 0
    finally:
        tracker.kill()
    assert stored(store) == expected
    # Each written batch was announced, naming its products, for bcx-web's live streams.
    heard: set[str] = set()
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        message = announcements.get(timeout=1)
        if message is None and heard:
            break
        if message is not None:
            heard.update(message.split(","))
    announcements.close()
    assert heard == {tick[0] for tick in expected}
    text = log.read_text()
    assert "stopping on SIGTERM" in text and "stopping: flushing" in text
    assert f" messages, {len(expected)} ticks, 0 malformed, 0 stale, 0 unconfigured, 0 reconnects" in text
    assert f"bcx-tracker stopped: {len(expected)} ticks written" in text

    redis_conn.flushall()
    with ReplayServer(tmp_path / "feed.jsonl", speed=None) as again:
        other = InProcessTracker(again.url, store)
        try:
            wait_for(lambda: other.writer.written == len(expected), "the recording replayed")
        finally:
            other.stop()
    assert stored(store) == expected


def test_starts_with_redis_down_and_writes_when_it_comes_up(replay, sample, tmp_path):
    expected = ticks_in(sample)
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    log = tmp_path / "tracker.log"
    config = write_config(
        tmp_path / "bcx.conf", f"[redis]\nurl = {url}\n", replay.url, log, reconnect_max="1s", flush_interval="20ms"
    )
    tracker = TrackerProcess(config, tmp_path / "feed.jsonl")
    try:
        wait_for(lambda: tracker.recorded_tickers() == len(expected), "the whole file received")
        assert tracker.process.poll() is None
        with EmbeddedRedis(port=port) as server:
            import redis

            with redis.Redis.from_url(server.url, decode_responses=True) as conn:  # closed on failure too
                store = TickStore(conn, "bcx")
                wait_for(lambda: len(stored(store)) == len(expected), "the buffered ticks written")
                assert tracker.terminate() == 0
                assert stored(store) == expected
    finally:
        tracker.kill()
    text = log.read_text()
    assert "Redis not answering at start" in text
    assert "Redis write failed" in text and "Redis is back" in text


def test_config_error_exits_2_before_touching_redis(tmp_path):
    config = tmp_path / "bad.conf"
    config.write_text("[tracker]\nbatch_sise = 10\n")
    result = subprocess.run([TRACKER, "--config", str(config)], capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 2
    assert "[tracker] batch_sise" in result.stderr


def test_advanced_trade_feed_through_the_replay_server(redis_conn, replay, sample):
    from bcx_tracker.coinbase_advanced import CoinbaseAdvanced

    expected = sorted((p, t, price, bid, ask) for p, t, _, price, bid, ask, _ in ticks_in(sample))
    store = TickStore(redis_conn, "bcx")
    writer = TickWriter(store, batch_size=50, flush_interval=0.02).start()
    adapter = CoinbaseAdvanced([split(p).product for p in PRODUCTS])
    feed = Feed(adapter, replay.url_for("coinbase-advanced"), writer.put_many, reconnect_max=1).start()
    try:
        wait_for(lambda: writer.written == len(expected), "every tick written")
    finally:
        feed.stop(time.monotonic() + TIMEOUT)
        assert feed.join()
        assert writer.close(timeout=TIMEOUT) == 0
    got = sorted((t.product, t.time_ms, t.price, t.bid, t.ask) for p in PRODUCTS for t in store.range(p, 0, 2**53))
    assert got == expected  # same prices, books and times; ids derived (Advanced Trade has no trade ids)
    assert (feed.stats.malformed, feed.stats.reconnects) == (0, 0)
