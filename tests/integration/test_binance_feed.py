"""Binance end to end over real sockets on 127.0.0.1: bcx-replay speaking Binance's combined streams (subscribed in
the URL, keepalive by ping frames), the feed loop with the Binance adapter, a local HTTP server standing in for
Binance's REST API; an aggregate-id gap filled from REST, pings answered (and a client that does not answer dropped),
the 451 refusal, and the tracker's rotation of a connection at the end of its life losing and duplicating nothing."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
import websocket
from websocket import ABNF, WebSocketConnectionClosedException

from bcx.config import load_config
from bcx.store import TickStore
from bcx.tick import Tick
from bcx_tracker import feed as feed_module
from bcx_tracker.binance import Binance
from bcx_tracker.binance_replay import BinanceReplay
from bcx_tracker.binance_rest import BinanceRest
from bcx_tracker.exchanges import ADAPTERS
from bcx_tracker.feed import CONNECTION, Feed
from bcx_tracker.framed_ws import FramedWebSocket
from bcx_tracker.recorder import recording_line
from bcx_tracker.replay import ReplayServer
from bcx_tracker.tracker import Tracker
from tests.feedstub import RestStub, feed_with_backfill, stop, wait_for

TIMEOUT = 10.0
T0_MS = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp() * 1000)
MISSING = range(11, 16)  # aggregate trades the recording lacks: the feed sees 10, then 16
FEED_IDS = [i for i in range(1, 21) if i not in MISSING]
PRICE, SIZE = "97259.01000000", "0.00420000"  # trailing zeros must survive


def trade_ms(agg_id: int, every_ms: int = 100) -> int:
    return T0_MS + agg_id * every_ms


def book_frame(agg_id: int) -> str:
    """The book before trade `agg_id`: its bid and ask name the trade, so a test sees which book a tick got."""
    data = {"u": agg_id, "s": "BTCUSDT", "b": f"{agg_id}.00000000", "B": "1.0", "a": f"{agg_id}.01000000", "A": "1.0"}
    return json.dumps({"stream": "btcusdt@bookTicker", "data": data}, separators=(",", ":"))


def trade_frame(agg_id: int, every_ms: int = 100) -> str:
    at = trade_ms(agg_id, every_ms)
    data = {"e": "aggTrade", "E": at, "s": "BTCUSDT", "a": agg_id, "p": PRICE, "q": SIZE, "f": agg_id, "l": agg_id}
    data |= {"T": at, "m": False, "M": True}
    return json.dumps({"stream": "btcusdt@aggTrade", "data": data}, separators=(",", ":"))


def write_recording(path: Path, agg_ids, every_ms: int = 100, lead_ms: int = 0) -> Path:
    """Each trade after its book; `lead_ms`: the recording starts that long before the first trade (with a trade of
    a symbol nobody subscribes to)."""
    frames = [frame for i in agg_ids for frame in (book_frame(i), trade_frame(i, every_ms))]
    if lead_ms:
        frames.insert(0, trade_frame(0).replace("BTCUSDT", "ETHUSDT").replace(str(trade_ms(0)), str(T0_MS - lead_ms)))
    path.write_text("".join(recording_line("binance", frame) + "\n" for frame in frames))
    return path


@pytest.fixture
def recording(tmp_path) -> Path:
    return write_recording(tmp_path / "binance.jsonl", FEED_IDS)


@pytest.fixture
def fast_pings(monkeypatch):
    monkeypatch.setattr(BinanceReplay, "ping_every", 0.2)
    monkeypatch.setattr(BinanceReplay, "pong_timeout", 1.0)


class BinanceRestStub(RestStub):
    """Binance's public REST on 127.0.0.1: `/api/v3/aggTrades` from `fromId`, `/api/v3/exchangeInfo`, and a 451 for
    anything else (a websocket upgrade from a restricted location); every request's path kept in `requests`."""

    def __init__(self, agg_ids):
        super().__init__([])
        self.agg_ids = list(agg_ids)

    def answer(self, path: str) -> tuple[int, object, dict]:
        url = urlparse(path)
        query = {key: values[0] for key, values in parse_qs(url.query).items()}
        weight = {"X-MBX-USED-WEIGHT-1m": "4"}
        if url.path == "/api/v3/exchangeInfo":
            info = {"symbol": "BTCUSDT", "baseAsset": "BTC", "quoteAsset": "USDT", "status": "TRADING"}
            return 200, {"symbols": [info]}, weight
        if url.path == "/api/v3/aggTrades":
            start, limit = int(query["fromId"]), int(query["limit"])
            rows = [
                {"a": i, "p": PRICE, "q": SIZE, "f": i, "l": i, "T": trade_ms(i), "m": True, "M": True}
                for i in self.agg_ids
                if i >= start
            ]
            return 200, rows[:limit], weight
        return 451, {"code": 0, "msg": "Service unavailable from a restricted location"}, {}


def test_a_gap_filled_from_rest_and_pings_that_keep_the_connection(recording, fast_pings):
    with ReplayServer(recording, speed=10) as replay, BinanceRestStub(range(1, 21)) as rest:
        binance_feed = Binance(["BTC-USDT", "ETH-USDT"])  # the recording holds no ETH-USDT: a silent stream, as there
        # no message comes after the file's end: only pings keep the connection past the silence timeout
        with feed_with_backfill(
            binance_feed, replay.url_for("binance"), BinanceRest(rest.url), silence_timeout=0.8
        ) as run:
            received, backfilled, feed = run.received, run.backfilled, run.feed
            wait_for(lambda: len(received) == len(FEED_IDS) and len(backfilled) == len(MISSING), "feed and backfill")
            pongs = replay.pongs
            wait_for(lambda: replay.pongs >= pongs + 5, "five more pongs after the file's end")

    assert [t.trade_id for t in received] == FEED_IDS
    assert all((t.bid, t.ask) == (f"{t.trade_id}.00000000", f"{t.trade_id}.01000000") for t in received)
    assert [(t.trade_id, t.time_ms, t.price, t.size, t.bid) for t in backfilled] == [
        (i, trade_ms(i), PRICE, SIZE, None) for i in MISSING
    ]
    assert rest.requests == ["/api/v3/aggTrades?symbol=BTCUSDT&fromId=11&limit=1000"]
    assert (feed.stats.reconnects, feed.stats.malformed, feed.stats.gaps) == (0, 0, 1)
    assert replay.pong_timeouts == 0


def test_a_client_that_does_not_answer_pings_is_dropped(recording, fast_pings):
    class Mute(FramedWebSocket):
        def pong(self, payload) -> None:
            pass  # a client that never answers

    with ReplayServer(recording, speed=10) as replay:
        url = replay.url_for("binance") + "/stream?streams=btcusdt@aggTrade"
        ws = websocket.create_connection(url, timeout=TIMEOUT, class_=Mute)
        closed = None
        try:
            deadline = time.monotonic() + TIMEOUT
            while closed is None and time.monotonic() < deadline:
                closed = next((data for opcode, data in ws.recv_messages() if opcode == ABNF.OPCODE_CLOSE), None)
        except WebSocketConnectionClosedException:
            closed = b""
        finally:
            ws.shutdown()
        wait_for(lambda: replay.pong_timeouts == 1, "the server to count the missing pong")
    assert closed is not None and closed[:2] == (1008).to_bytes(2, "big")


def test_451_is_logged_once_and_retried_only_after_an_hour(caplog, monkeypatch):
    monkeypatch.setattr(feed_module, "_connect_buckets", {})  # this test's clock jumps an hour ahead
    now = [time.monotonic()]
    with BinanceRestStub([]) as stub:
        feed = Feed(Binance(["BTC-USDT"]), stub.url.replace("http", "ws"), lambda ticks: None, clock=lambda: now[0])
        feed.loop_once(now[0])
        for _ in range(3):
            now[0] += 60
            feed.loop_once(now[0])
        now[0] += 3600
        feed.loop_once(now[0])
        feed.close()
    # the first try, then one an hour later
    assert [path.partition("?")[0] for path in stub.requests] == ["/stream", "/stream"]
    assert "binance-us" in feed.stats.refused[CONNECTION]
    assert sum("HTTP 451" in r.getMessage() for r in caplog.records) == 1


def test_the_tracker_rotates_a_connection_at_the_end_of_its_life_losing_and_duplicating_nothing(
    tmp_path, redis_section, redis_conn, monkeypatch, fast_pings
):
    class ShortLived(Binance):
        max_connection_age = 3.0  # Binance's 24 hours, shortened: the successor opens 0.3 s before

    monkeypatch.setitem(ADAPTERS, "binance", ShortLived)
    agg_ids = range(1, 81)  # a trade every 100 ms for 8 s: two rotations
    # The first trade comes 1.5 s after the (live) recording's start, time enough for the tracker to connect.
    path = write_recording(tmp_path / "binance.jsonl", agg_ids, lead_ms=1500)
    with ReplayServer(path, speed=1, live=True) as replay:
        config = [
            redis_section.rstrip("\n"),
            "[tracker]",
            "products = binance:BTC-USDT",
            "flush_interval = 20ms",
            "[exchange:binance]",
            f"feed_url = {replay.url_for('binance')}",
            "rest_url =",  # no REST: only the overlap of the connections can keep every trade
        ]
        (tmp_path / "bcx.conf").write_text("\n".join(config) + "\n")
        tracker = Tracker(load_config(str(tmp_path / "bcx.conf")))
        store = TickStore(redis_conn, "bcx")
        tracker.initialize()
        first = tracker.feeds[0]
        try:
            deadline = time.monotonic() + 30
            while len(store.range("binance:BTC-USDT", 0, 2**53)) < len(agg_ids) and time.monotonic() < deadline:
                tracker.loop_once(time.time())
        finally:
            tracker.shutdown()
    ticks = store.range("binance:BTC-USDT", 0, 2**53)
    assert [t.trade_id for t in ticks] == list(agg_ids)  # every trade, each once
    assert first not in tracker.feeds  # the first connection was replaced (its successor may be in its overlap)
    assert sum(feed.stats.messages for feed in tracker.feeds) > 2 * len(agg_ids)  # overlaps' frames came twice


def test_a_looped_replay_keeps_aggregate_ids_contiguous_across_passes(recording):
    received: list[Tick] = []
    gaps = []
    with ReplayServer(recording, speed=None, loop=True) as replay:
        feed = Feed(Binance(["BTC-USDT"]), replay.url_for("binance"), received.extend, on_gap=gaps.append).start()
        try:
            wait_for(lambda: len(received) >= 4 * len(FEED_IDS), "four passes")
        finally:
            stop(feed)
    assert replay.info.trade_ids == (1, 20)  # a bookTicker's 0 is no trade id
    # Each pass is 20 ids further on: the only gaps are the recording's own hole, pass after pass.
    assert {(gap.after % 20, gap.upto - gap.after) for gap in gaps} == {(10, 5)}
    assert len({tick.trade_id for tick in received}) == len(received)
    assert all(tick.bid == f"{(tick.trade_id - 1) % 20 + 1}.00000000" for tick in received)  # each its own book
