"""Bitfinex end to end over real sockets: bcx-replay speaking Bitfinex v2 from a recording, the feed loop with the
Bitfinex adapter, and a local HTTP server standing in for Bitfinex's REST API (all on 127.0.0.1). Each trade comes as
te then tu and is stored once; a sequence jump (a replay that loses frames) is filled from REST by time window; a
dropped connection subscribes again and gets new chanIds."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from bcx.store import TickStore
from bcx.tick import Tick
from bcx_tracker.bitfinex import Bitfinex
from bcx_tracker.bitfinex_replay import BitfinexReplay
from bcx_tracker.bitfinex_rest import BitfinexRest
from bcx_tracker.exchanges import REPLAY_PROTOCOLS
from bcx_tracker.feed import Feed
from bcx_tracker.recorder import Recorder, recording_line
from bcx_tracker.replay import ReplayServer
from tests.feedstub import RestStub, book, feed_with_backfill, replayed_twice_across_a_drop, stop, wait_for

TIMEOUT = 10.0
TRACKER = str(Path(sys.executable).parent / "bcx-tracker")
T0_MS = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp() * 1000)
# Bitfinex's ids are global over every pair: this pair's trades are 7 apart, and no jump of them is a gap.
IDS = [1000 + 7 * n for n in range(20)]
MISSING = IDS[10:15]  # trades the recording lacks: the lossy replay's sequence jumps there
FEED_IDS = [i for i in IDS if i not in MISSING]
PRICE = "19203.444049780002"  # a float artefact, kept as sent
AMOUNT = "-1.7023900800000002"
SIZE = AMOUNT[1:]


def trade_ms(trade_id: int) -> int:
    return T0_MS + 1000 + (trade_id - IDS[0]) * 20


def row(trade_id: int) -> str:
    return f"[{trade_id},{trade_ms(trade_id)},{AMOUNT},{PRICE}]"


def recording_frames() -> list[str]:
    """What the tracker records of one connection (conf flags on: a sequence and a time after each payload)."""
    frames = [
        '{"event":"info","version":2,"serverId":"rec","platform":{"status":1}}',
        '{"event":"conf","status":"OK","flags":98304}',
        '{"event":"subscribed","channel":"trades","chanId":501,"symbol":"tBTCUSD","pair":"BTCUSD"}',
        '{"event":"subscribed","channel":"ticker","chanId":502,"symbol":"tBTCUSD","pair":"BTCUSD"}',
    ]
    sequence = iter(range(1, 1000))
    snapshot = ",".join(row(i) for i in reversed(IDS[:3]))  # newest first, as Bitfinex sends it
    frames.append(f"[501,[{snapshot}],{next(sequence)},{trade_ms(IDS[2]) + 5}]")
    frames.append(f"[502,[19203.1,1.5,19203.9,2.5,0,0,0,0,0,0,null],{next(sequence)},{trade_ms(IDS[3]) - 5}]")
    for trade_id in FEED_IDS[3:]:
        if trade_id == FEED_IDS[8]:
            frames.append(f"[502,[19203.2,1.5,19203.8,2.5,0,0,0,0,0,0],{next(sequence)},{trade_ms(trade_id) - 5}]")
        frames.append(f'[501,"te",{row(trade_id)},{next(sequence)},{trade_ms(trade_id) + 5}]')
        frames.append(f'[501,"tu",{row(trade_id)},{next(sequence)},{trade_ms(trade_id) + 9}]')
        frames.append(f'[501,"hb",{next(sequence)},{trade_ms(trade_id) + 10}]')
    return frames


class LossyReplay(BitfinexReplay):
    """bcx-replay's Bitfinex side losing three frames just before the trade after the recording's hole, as a
    connection that dropped them would: its sequence jumps."""

    def frames(self, entry):
        if entry.trade_id == MISSING[-1] + 7 and self.flags:
            self.sequence += 3
        return super().frames(entry)


@pytest.fixture
def recording(tmp_path) -> Path:
    path = tmp_path / "bitfinex.jsonl"
    path.write_text("".join(recording_line("bitfinex", frame) + "\n" for frame in recording_frames()))
    return path


@pytest.fixture
def lossy(monkeypatch):
    monkeypatch.setitem(REPLAY_PROTOCOLS, "bitfinex", LossyReplay)


class BitfinexRestStub(RestStub):
    """Bitfinex's public REST on 127.0.0.1: trades/hist by time window (start and end inclusive, sort=1) and the
    pairs list. The rows' floats are doubles whose shortest form is the literal text Bitfinex sends."""

    def __init__(self, trade_ids):
        super().__init__([])
        self.trade_ids = sorted(trade_ids)

    def answer(self, path: str) -> tuple[int, object, dict]:
        url = urlparse(path)
        query = {key: values[0] for key, values in parse_qs(url.query).items()}
        if url.path == "/v2/conf/pub:list:pair:exchange":
            return 200, [["BTCUSD", "ETHUSD", "AVAX:USD"]], {}
        if url.path == "/v2/trades/tBTCUSD/hist":
            start, end = int(query["start"]), int(query.get("end", 2**62))
            rows = [json.loads(row(i)) for i in self.trade_ids if start <= trade_ms(i) <= end]
            return 200, rows[: int(query["limit"])], {}
        return 500, ["error", 10020, "unknown"], {}

    def asked(self) -> list[tuple[str, dict]]:
        return [(urlparse(p).path, {k: v[0] for k, v in parse_qs(urlparse(p).query).items()}) for p in self.requests]


def test_te_tu_once_heartbeats_and_a_sequence_gap_filled_from_rest(recording, lossy, tmp_path, monkeypatch):
    monkeypatch.setattr(BitfinexReplay, "heartbeat_every", 0.5)
    recorder = Recorder(tmp_path / "recorded.jsonl")
    with ReplayServer(recording, speed=10) as replay, BitfinexRestStub(IDS) as rest:
        bitfinex_feed = Bitfinex(["BTC-USD", "ETH-USD"])  # the recording holds no ETH-USD: refused, BTC-USD goes on
        with feed_with_backfill(
            bitfinex_feed, replay.url_for("bitfinex"), BitfinexRest(rest.url), recorder=recorder, silence_timeout=2.0
        ) as run:
            received, backfilled, feed = run.received, run.backfilled, run.feed
            wait_for(lambda: len(received) == len(FEED_IDS) and backfilled, "feed and backfill")
            time.sleep(3.0)  # longer than the silence timeout: heartbeats must keep the connection
        recorder.close()

    assert [t.trade_id for t in received] == FEED_IDS  # te once, tu never; the snapshot oldest first
    assert {(t.product, t.price, t.size) for t in received + backfilled} == {("bitfinex:BTC-USD", PRICE, SIZE)}
    assert [t.time_ms for t in received] == [trade_ms(i) for i in FEED_IDS]
    assert book(received, IDS[1]) == (None, None)  # the snapshot came before any book
    assert book(received, IDS[3]) == ("19203.1", "19203.9")
    assert book(received, FEED_IDS[8]) == ("19203.2", "19203.8")
    # The window runs from the last trade seen to the frame after the jump; ids above the last seen are kept.
    assert [t.trade_id for t in backfilled] == [*MISSING, MISSING[-1] + 7]
    after, first_after = MISSING[0] - 7, MISSING[-1] + 7
    assert rest.asked() == [
        (
            "/v2/trades/tBTCUSD/hist",
            {"start": str(trade_ms(after)), "end": str(trade_ms(first_after) + 5), "limit": "10000", "sort": "1"},
        )
    ]
    assert feed.stats.refused == {"bitfinex:ETH-USD": "symbol: invalid (code 10300)"}
    assert (feed.stats.reconnects, feed.stats.malformed, feed.stats.gaps) == (0, 0, 1)
    frames = [json.loads(line.partition(" ")[2]) for line in (tmp_path / "recorded.jsonl").read_text().splitlines()]
    assert frames[0]["event"] == "info" and frames[1] == {"event": "conf", "status": "OK", "flags": 98304}
    assert sum(1 for f in frames if isinstance(f, list) and f[1] == "tu") == len(FEED_IDS) - 3
    assert any(isinstance(f, list) and f[1] == "hb" for f in frames)


def test_a_dropped_connection_subscribes_again_with_new_chan_ids(recording, tmp_path):
    recorder = Recorder(tmp_path / "recorded.jsonl")
    try:
        feed, received, gaps = replayed_twice_across_a_drop(
            recording, Bitfinex(["BTC-USD"]), len(FEED_IDS), recorder=recorder
        )
    finally:
        recorder.close()
    assert feed.stats.reconnects >= 1
    assert [t.trade_id for t in received] == FEED_IDS + FEED_IDS  # the store keeps each trade once
    assert gaps == []  # the second pass is not newer, and its sequence starts again: no gap
    lines = (tmp_path / "recorded.jsonl").read_text().splitlines()
    subscribed = [json.loads(line.partition(" ")[2]) for line in lines if '"subscribed"' in line]
    ids = [(event["channel"], event["chanId"]) for event in subscribed]
    assert [channel for channel, _ in ids] == ["trades", "ticker", "trades", "ticker"]
    assert len({chan_id for _, chan_id in ids}) == 4  # new ids on the new connection
    assert book(received[len(FEED_IDS) :], FEED_IDS[8]) == ("19203.2", "19203.8")


def test_the_tracker_process_stores_each_trade_once_with_the_gap_filled(
    recording, lossy, tmp_path, redis_section, redis_conn
):
    with ReplayServer(recording, speed=10) as replay, BitfinexRestStub(IDS) as rest:
        log = tmp_path / "tracker.log"
        config = [
            redis_section.rstrip("\n"),
            "[tracker]",
            "products = bitfinex:BTC-USD",
            "flush_interval = 20ms",
            "[exchange:bitfinex]",
            f"feed_url = {replay.url_for('bitfinex')}",
            f"rest_url = {rest.url}",
            "[log]",
            f"file = {log}",
        ]
        (tmp_path / "bcx.conf").write_text("\n".join(config) + "\n")
        process = subprocess.Popen([TRACKER, "--config", str(tmp_path / "bcx.conf")])
        store = TickStore(redis_conn, "bcx")
        try:
            wait_for(lambda: len(store.range("bitfinex:BTC-USD", 0, 2**53)) == len(IDS), "every trade", timeout=30)
            time.sleep(0.5)  # a tu stored twice would show by now
        finally:
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == 0
    ticks = store.range("bitfinex:BTC-USD", 0, 2**53)
    assert [t.trade_id for t in ticks] == IDS
    assert {(t.price, t.size) for t in ticks} == {(PRICE, SIZE)}
    assert [t.trade_id for t in ticks if t.bid is None] == [*IDS[:3], *MISSING]  # the snapshot, and REST's
    assert [path for path, _ in rest.asked()] == ["/v2/conf/pub:list:pair:exchange", "/v2/trades/tBTCUSD/hist"]
    assert "backfilled 6 trades of bitfinex:BTC-USD" in log.read_text()


def test_a_recording_made_by_the_tracker_plays_back_the_same_ticks(recording, tmp_path):
    """The recorder keeps every frame, the replay's own `subscribed` events among them: played again, the new
    recording's chanIds (the first replay's) are mapped by them, and the same trades come out with the same book."""
    first_pass: list[Tick] = []
    recorded = tmp_path / "recorded.jsonl"
    recorder = Recorder(recorded)
    with ReplayServer(recording, speed=None) as replay:
        feed = Feed(Bitfinex(["BTC-USD"]), replay.url_for("bitfinex"), first_pass.extend, recorder=recorder).start()
        try:
            wait_for(lambda: len(first_pass) == len(FEED_IDS), "the recording")
        finally:
            stop(feed)
        recorder.close()
    again: list[Tick] = []
    with ReplayServer(recorded, speed=None) as replay:
        feed = Feed(Bitfinex(["BTC-USD"]), replay.url_for("bitfinex"), again.extend).start()
        try:
            wait_for(lambda: len(again) == len(FEED_IDS), "the recording of the recording")
        finally:
            stop(feed)
    assert again == first_pass
    assert feed.stats.malformed == 0
