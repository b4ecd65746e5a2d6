"""Kraken end to end over real sockets: bcx-replay speaking Kraken v2 from a recording, the feed loop with the Kraken
adapter, and a local HTTP server standing in for Kraken's REST API (all on 127.0.0.1). Acks (and a refusal),
heartbeats and pings that keep the connection open, a dropped connection, and a trade-id gap filled from REST."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from bcx.store import TickStore
from bcx.tick import Tick, iso_us
from bcx_tracker import kraken
from bcx_tracker.feed import Feed
from bcx_tracker.kraken import Kraken
from bcx_tracker.kraken_rest import KrakenRest
from bcx_tracker.recorder import Recorder, recording_line
from bcx_tracker.replay import ReplayServer
from tests.feedstub import book, feed_with_backfill, replayed_twice_across_a_drop, stop, wait_for

TIMEOUT = 10.0
TRACKER = str(Path(sys.executable).parent / "bcx-tracker")
T0_MS = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp() * 1000)
MISSING = range(11, 16)  # trades the recording lacks: the feed sees 10, then 16
PRICE = "100.20"  # the trailing zero must survive
SIZE = "0.1234567890123456789012345678"


def trade_ms(trade_id: int) -> int:
    """Trades 1-3 (the snapshot) at T0+2 s, 4-5 at T0+3 s, then one every 100 ms from T0+4 s."""
    return T0_MS + (2000 if trade_id <= 3 else 3000 if trade_id <= 5 else 4000 + (trade_id - 6) * 100)


def trade_frame(trade_ids, kind: str = "update") -> str:
    items = [
        f'{{"symbol":"BTC/USD","side":"buy","price":{PRICE},"qty":{SIZE},"ord_type":"limit",'
        f'"trade_id":{i},"timestamp":"{iso_us(trade_ms(i) * 1000)}"}}'
        for i in trade_ids
    ]
    return f'{{"channel":"trade","type":"{kind}","data":[{",".join(items)}]}}'


def ticker_frame(bid: str, ask: str, at_ms: int, kind: str = "update") -> str:
    return (
        f'{{"channel":"ticker","type":"{kind}","data":[{{"symbol":"BTC/USD","bid":{bid},"bid_qty":1.5,"ask":{ask},'
        f'"ask_qty":2.0,"last":100.2,"volume":10.0,"timestamp":"{iso_us(at_ms * 1000)}"}}]}}'
    )


FRAMES = [
    '{"channel":"status","data":[{"api_version":"v2","connection_id":1,"system":"online","version":"2.0.0"}],'
    '"type":"update"}',
    # In the order a recording of Kraken holds them: the trade channel is subscribed first.
    trade_frame([1, 2, 3], "snapshot"),
    ticker_frame("100.10", "100.30", T0_MS + 2900, "snapshot"),
    trade_frame([4, 5]),
    ticker_frame("100.15", "100.25", T0_MS + 3500),
    trade_frame(range(6, 11)),
    trade_frame(range(16, 21)),
]
FEED_IDS = [i for i in range(1, 21) if i not in MISSING]


@pytest.fixture
def recording(tmp_path) -> Path:
    path = tmp_path / "kraken.jsonl"
    path.write_text("".join(recording_line("kraken", frame) + "\n" for frame in FRAMES))
    return path


class KrakenRestStub:
    """Kraken's public REST on 127.0.0.1: `/0/public/Trades` paged by `since` (ns) as Kraken does, the time written
    as a JSON float with 7 decimals; every request's path and query kept in `requests`."""

    def __init__(self, trade_ids):
        self.rows = [(trade_ms(i) * 1_000_000, i) for i in trade_ids]
        self.requests: list[tuple[str, dict]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                url = urlparse(self.path)
                query = {key: values[0] for key, values in parse_qs(url.query).items()}
                stub.requests.append((url.path, query))
                body = stub.answer(url.path, query).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def answer(self, path: str, query: dict) -> str:
        if path == "/0/public/AssetPairs":
            pair = {"altname": "XBTUSD", "wsname": "XBT/USD", "status": "online"}
            return json.dumps({"error": [], "result": {"XXBTZUSD": pair}})
        if path == "/0/public/Trades":
            return self.trades(query)
        return '{"error":["EGeneral:Unknown method"]}'

    def trades(self, query: dict) -> str:
        since, count = int(query["since"]), int(query["count"])
        page = [(ns, i) for ns, i in self.rows if ns > since][:count]
        rows = [f'["{PRICE}","{SIZE}",{ns // 10**9}.{ns % 10**9 // 100:07d},"b","l","",{i}]' for ns, i in page]
        last = page[-1][0] if page else since
        return f'{{"error":[],"result":{{"XXBTZUSD":[{",".join(rows)}],"last":"{last}"}}}}'

    def __enter__(self) -> KrakenRestStub:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(TIMEOUT)


def test_acks_heartbeats_pings_and_a_gap_filled_from_rest(recording, tmp_path, monkeypatch):
    monkeypatch.setattr(kraken, "PING_EVERY", 0.5)
    recorder = Recorder(tmp_path / "recorded.jsonl")
    with ReplayServer(recording, speed=10) as replay, KrakenRestStub(range(6, 21)) as rest:
        kraken_feed = Kraken(["BTC-USD", "ETH-USD"])  # the recording holds no ETH-USD: refused, BTC-USD goes on
        with feed_with_backfill(
            kraken_feed, replay.url_for("kraken"), KrakenRest(rest.url), recorder=recorder, silence_timeout=2.0
        ) as run:
            received, backfilled, feed = run.received, run.backfilled, run.feed
            wait_for(lambda: len(received) == len(FEED_IDS) and len(backfilled) == len(MISSING), "feed and backfill")
            time.sleep(3.0)  # longer than the silence timeout: heartbeats must keep the connection
            messages = feed.stats.messages
            time.sleep(1.5)
            assert feed.stats.messages > messages  # heartbeats (and pongs) after the recording's end
        recorder.close()

    assert [t.trade_id for t in received] == FEED_IDS
    assert {(t.product, t.price, t.size) for t in received + backfilled} == {("kraken:BTC-USD", PRICE, SIZE)}
    assert book(received, 2) == (None, None)  # the snapshot's trades happened before any book we saw
    assert book(received, 4) == ("100.10", "100.30")
    assert book(received, 16) == ("100.15", "100.25")
    assert [t.time_ms for t in received] == [trade_ms(i) for i in FEED_IDS]

    assert [(t.trade_id, t.time_ms, t.bid, t.ask) for t in backfilled] == [
        (i, trade_ms(i), None, None) for i in MISSING
    ]
    assert rest.requests == [
        ("/0/public/Trades", {"pair": "XBTUSD", "since": str((trade_ms(10) - 1) * 1_000_000), "count": "1000"})
    ]

    assert feed.stats.refused == {"kraken:ETH-USD": "Currency pair not supported ETH/USD"}
    assert (feed.stats.reconnects, feed.stats.malformed, feed.stats.exchange_errors, feed.stats.gaps) == (0, 0, 0, 1)
    recorded = (tmp_path / "recorded.jsonl").read_text().splitlines()
    assert all(line.startswith("kraken {") for line in recorded)
    frames = [json.loads(line.partition(" ")[2]) for line in recorded]
    assert frames[0]["channel"] == "status"
    acks = [(f["result"]["channel"], f["result"]["symbol"]) for f in frames if f.get("success") is True]
    assert sorted(acks) == [("ticker", "BTC/USD"), ("trade", "BTC/USD")]
    assert {"channel": "heartbeat"} in frames
    assert any(f.get("method") == "pong" for f in frames)


def test_a_dropped_connection_reconnects_and_the_feed_goes_on(recording):
    feed, received, gaps = replayed_twice_across_a_drop(recording, Kraken(["BTC-USD"]), len(FEED_IDS))
    assert feed.stats.reconnects >= 1
    assert [t.trade_id for t in received] == FEED_IDS + FEED_IDS  # the store keeps each trade once
    assert [(gap.after, gap.upto) for gap in gaps] == [(10, 15)]  # the second pass is not newer: no new gap
    assert book(received[len(FEED_IDS) :], 16) == ("100.15", "100.25")


def test_a_looped_replay_keeps_krakens_trade_ids_contiguous_across_passes(recording):
    received: list[Tick] = []
    gaps = []
    with ReplayServer(recording, speed=None, loop=True) as replay:
        feed = Feed(Kraken(["BTC-USD"]), replay.url_for("kraken"), received.extend, on_gap=gaps.append).start()
        try:
            wait_for(lambda: len(received) >= 4 * len(FEED_IDS), "four passes")
        finally:
            stop(feed)
    assert replay.info.trade_ids[1] == 20  # the tickers' 0 is no trade id
    assert replay.info.trade_ids[0] == 1  # the lowest id of the first frame (the snapshot of 1, 2, 3)
    # Each pass is 20 ids further on: the only gaps are the recording's own hole, pass after pass.
    assert {(gap.after % 20, gap.upto - gap.after) for gap in gaps} == {(10, 5)}
    assert len({tick.trade_id for tick in received}) == len(received)


def test_the_tracker_process_records_kraken_into_redis_with_the_gap_filled(
    recording, tmp_path, redis_section, redis_conn
):
    with ReplayServer(recording, speed=10) as replay, KrakenRestStub(range(6, 21)) as rest:
        log = tmp_path / "tracker.log"
        config = [
            redis_section.rstrip("\n"),
            "[tracker]",
            "products = kraken:BTC-USD",
            "flush_interval = 20ms",
            "[exchange:kraken]",
            f"feed_url = {replay.url_for('kraken')}",
            f"rest_url = {rest.url}",
            "[log]",
            f"file = {log}",
        ]
        (tmp_path / "bcx.conf").write_text("\n".join(config) + "\n")
        process = subprocess.Popen([TRACKER, "--config", str(tmp_path / "bcx.conf")])
        store = TickStore(redis_conn, "bcx")
        try:
            wait_for(lambda: len(store.range("kraken:BTC-USD", 0, 2**53)) == 20, "20 trades in Redis", timeout=30)
        finally:
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == 0
    ticks = store.range("kraken:BTC-USD", 0, 2**53)
    assert [t.trade_id for t in ticks] == list(range(1, 21))
    assert {(t.price, t.size) for t in ticks} == {(PRICE, SIZE)}
    assert [t.trade_id for t in ticks if t.bid is None] == [1, 2, 3, *MISSING]  # the snapshot, and REST's
    assert [path for path, _ in rest.requests] == ["/0/public/AssetPairs", "/0/public/Trades"]
    assert "backfilled 5 trades of kraken:BTC-USD" in log.read_text()
