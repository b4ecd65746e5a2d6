"""Faults injected against the real `bcx-tracker` process: a scripted websocket feed and a REST stub on
127.0.0.1, a real redis-server (killed and restarted in one test). Each wait has a timeout."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest
import redis

from bcx.candles import CandleStore
from bcx.embedded import EmbeddedRedis, free_port
from bcx.heartbeat import read_heartbeats
from bcx.store import TickStore
from bcx.tick import Tick
from tests.feedstub import CLOSE, SILENT, RestStub, ScriptedFeed, heartbeat, rest_trade, ticker
from tests.integration.test_tracker import DaemonProcess

TRACKER = str(Path(sys.executable).parent / "bcx-tracker")
TIMEOUT = 30.0


def wait_for(condition, what: str, timeout: float = TIMEOUT):
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    return result


def ids(store: TickStore) -> list[int]:
    return [t.trade_id for t in store.range("BTC-USD", 0, 2**53)]


class Tracker(DaemonProcess):
    def __init__(self, tmp: Path, redis_section: str, feed_url: str, rest_url: str = "", **tracker: str):
        self.log = tmp / "tracker.log"
        options = {"products": "BTC-USD", "feed_url": feed_url, "rest_url": rest_url, "stale_after": "2s"}
        options |= {"reconnect_max": "1s", "flush_interval": "20ms", **tracker}
        lines = [redis_section.rstrip("\n"), "timeout = 1s", "[tracker]"]
        lines += [f"{key} = {value}" for key, value in options.items()] + ["[log]", f"file = {self.log}"]
        (tmp / "bcx.conf").write_text("\n".join(lines) + "\n")
        self.process = subprocess.Popen([TRACKER, "--config", str(tmp / "bcx.conf")])

    def text(self) -> str:
        return self.log.read_text() if self.log.exists() else ""


@pytest.fixture
def tracker(tmp_path):
    started: list[Tracker] = []

    def start(*args, **kwargs) -> Tracker:
        started.append(Tracker(tmp_path, *args, **kwargs))
        return started[-1]

    yield start
    for one in started:
        one.kill()


def test_server_closing_mid_stream_twice_loses_and_duplicates_nothing(redis_conn, redis_section, tracker):
    frames = [ticker(i) for i in range(1, 31)]
    # The second and third connections start by repeating trades already sent, as the exchange does.
    scripts = [frames[:10] + [CLOSE], frames[7:20] + [CLOSE], frames[17:] + [SILENT]]
    store = TickStore(redis_conn, "bcx")
    with ScriptedFeed(scripts) as feed:
        run = tracker(redis_section, feed.url)
        wait_for(lambda: ids(store) == list(range(1, 31)), "every tick stored")
        assert feed.connections == 3
        assert run.terminate() == 0
    stored = store.range("BTC-USD", 0, 2**53)
    assert all(t.bid and t.ask for t in stored) and len(stored) == 30
    assert "feed closed by the server" in run.text() and "30 ticks written" in run.text()


def test_silent_feed_is_reconnected_by_the_watchdog(redis_conn, redis_section, tracker):
    scripts = [[ticker(1), ticker(2), SILENT], [ticker(3), SILENT]]
    store = TickStore(redis_conn, "bcx")
    with ScriptedFeed(scripts) as feed:
        run = tracker(redis_section, feed.url, stale_after="1s", reconnect_max="1s")
        wait_for(lambda: ids(store) == [1, 2, 3], "the tick of the second connection")
        silent_for = feed.connected_at[1] - feed.last_sent_on[0] if feed.connections == 2 else None
        assert run.terminate() == 0
    # The bound, with room for a loaded machine: stale_after 1s + backoff at most 1s (+ the 1s receive poll).
    assert silent_for is not None and 1.0 <= silent_for < 1.0 + 1.0 + 1.0 + 5.0
    assert "no message from the feed for 1s; reconnecting" in run.text()


def test_trades_skipped_by_the_feed_are_backfilled_from_rest(redis_conn, redis_section, tracker):
    # The feed skips trades 6..12, and its heartbeat says the last trade is 12.
    scripts = [[*(ticker(i) for i in range(1, 6)), heartbeat(12), *(ticker(i) for i in range(13, 16)), SILENT]]
    store = TickStore(redis_conn, "bcx")
    with (
        ScriptedFeed(scripts) as feed,
        RestStub(["BTC-USD"], {"BTC-USD": [rest_trade(i) for i in range(1, 16)]}) as api,
    ):
        run = tracker(redis_section, feed.url, api.url)
        wait_for(lambda: ids(store) == list(range(1, 16)), "the skipped trades backfilled")
        assert run.terminate() == 0
    by_id = {t.trade_id: t for t in store.range("BTC-USD", 0, 2**53)}
    assert all(by_id[i].bid is None and by_id[i].ask is None for i in range(6, 13))  # from REST: no book
    assert all(by_id[i].bid for i in [*range(1, 6), *range(13, 16)])  # from the ticker
    assert by_id[6] == Tick("BTC-USD", by_id[6].time_ms, 6, "106.25", None, None, "0.5")
    assert any("after=13" in path for path in api.requests)
    assert "backfilled 7 trades of coinbase:BTC-USD" in run.text()


def test_an_unknown_product_stops_the_tracker_with_exit_2(redis_section, tracker):
    with RestStub(["BTC-USD"]) as api:
        run = tracker(redis_section, "ws://127.0.0.1:9", api.url, products="BTC-USD, NOPE-USD")
        assert run.process.wait(timeout=TIMEOUT) == 2


def test_a_long_stop_is_filled_with_rest_candles(redis_conn, redis_section, tracker):
    now_ms = int(time.time() * 1000)
    old_ms = now_ms - 3 * 3_600_000
    TickStore(redis_conn, "bcx").add([Tick("BTC-USD", old_ms, 1, "100.00", "99.99", "100.01", "1")])

    def candles(product, start, end):  # newest first, JSON numbers, [time, low, high, open, close, volume]
        return [[t, 99.5, 101.25, 100.0, 100.5, 0.00012] for t in range(end, start - 1, -60)]

    store = CandleStore(redis_conn, "bcx")
    with ScriptedFeed([[SILENT]]) as feed, RestStub(["BTC-USD"], candles=candles) as api:
        run = tracker(redis_section, feed.url, api.url, backfill="1h")
        wait_for(lambda: store.count("BTC-USD", "1m") >= 178, "the candles of the hole")
        assert run.terminate() == 0
    count = store.count("BTC-USD", "1m")
    got = store.range("BTC-USD", "1m", 0, 2**53)
    assert 178 <= count <= 180 and len(got) == count
    first_minute = old_ms - old_ms % 60_000 + 60_000
    assert got[0].time_ms == first_minute and got[-1].time_ms < now_ms - now_ms % 60_000 + 60_000
    assert (got[0].open, got[0].high, got[0].low, got[0].close, got[0].volume) == (
        "100.0",
        "101.25",
        "99.5",
        "100.5",
        str(Decimal("0.00012")),
    )
    assert got[0].count is None
    assert sum("candles" in path for path in api.requests) == 1


@pytest.mark.single_redis  # restarts one server on its port
def test_redis_killed_and_restarted_5s_later_loses_nothing(tmp_path, tracker):
    go = threading.Event()
    frames = [ticker(i) for i in range(1, 41)]
    port = free_port()
    persistent = ("--appendonly", "yes", "--dir", str(tmp_path))  # the restarted server finds the data again
    server = EmbeddedRedis(port=port, extra_args=persistent).start()
    try:
        # The client is closed with the block: it reconnects to the restarted server, and that socket is not to be
        # left to the garbage collector (a ResourceWarning at some later collection).
        with (
            redis.Redis.from_url(server.url, decode_responses=True) as conn,
            ScriptedFeed([[*frames[:20], go, *frames[20:], SILENT]]) as feed,
        ):
            store = TickStore(conn, "bcx")
            run = tracker(f"[redis]\nurl = {server.url}\n", feed.url)
            wait_for(lambda: ids(store) == list(range(1, 21)), "the first half stored")
            server.stop()
            go.set()
            wait_for(lambda: "Redis write failed" in run.text(), "the writes failing")
            time.sleep(5)  # the fault under test: Redis away for 5 s while the feed goes on
            assert run.process.poll() is None
            server = EmbeddedRedis(port=port, extra_args=persistent).start()
            wait_for(lambda: ids(store) == list(range(1, 41)), "the buffered half flushed")
            assert run.terminate() == 0
        assert "Redis is back" in run.text()
    finally:
        server.stop()


def test_garbage_is_counted_and_skipped(redis_conn, redis_section, tracker):
    garbage = [
        "not json at all",
        ticker(50)[:40],  # truncated JSON
        ticker(51).replace('"151.25"', "151.25"),  # a number where the exchange sends a string
        ticker(52).replace('"trade_id": 52', '"trade_id": "52"'),
        '["' + "x" * 2_000_000 + '"]',  # a 2 MB message
        b"\xff\xfe\x00garbage",
    ]
    scripts = [[ticker(1), *garbage, ticker(2), SILENT]]
    store = TickStore(redis_conn, "bcx")
    with ScriptedFeed(scripts) as feed:
        run = tracker(redis_section, feed.url)
        wait_for(lambda: ids(store) == [1, 2], "the good ticks stored")

        def counters():
            beats = [b for b in read_heartbeats(redis_conn, "bcx") if b.daemon_id.startswith("tracker:")]
            return beats and beats[0].fields.get("malformed") == "6" and beats[0].fields

        fields = wait_for(counters, "the counters in the heartbeat", timeout=15)
        assert run.process.poll() is None
        assert run.terminate() == 0
    assert (fields["ticks_written"], fields["dropped"], fields["buffered"]) == ("2", "0", "0")
    assert (fields["backfilled"], fields["backfill_failed"]) == ("0", "0")  # reported, for bcx status
    assert int(fields["messages"]) >= 9
    assert "malformed feed message #6" in run.text()
    assert read_heartbeats(redis_conn, "bcx") == []  # a clean exit removes its heartbeat


def test_sigterm_while_redis_is_down_logs_what_could_not_be_written_and_exits_0(tmp_path, tracker):
    down = f"redis://127.0.0.1:{free_port()}/0"
    with ScriptedFeed([[*(ticker(i) for i in range(1, 11)), SILENT]]) as feed:
        run = tracker(f"[redis]\nurl = {down}\n", feed.url)
        wait_for(lambda: feed.last_sent_at and "Redis write failed" in run.text(), "ticks buffered")
        wait_for(lambda: "keeping 10 ticks" in run.text(), "all ten buffered")
        assert run.terminate() == 0
    assert "10 ticks could not be written" in run.text()
