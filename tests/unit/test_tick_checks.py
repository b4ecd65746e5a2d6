"""Bad input never costs good data: the tick checks, and the feed and writer that apply them (issue 14)."""

from __future__ import annotations

import json
import logging

import pytest

from bcx.tick import Tick, encode_member, iso_to_ms
from bcx_tracker.coinbase import Coinbase, MalformedMessage, parse_message
from bcx_tracker.feed import Feed
from bcx_tracker.tick_checks import EARLIEST_MS, MAX_DECIMAL_CHARS, MAX_TRADE_ID, check_tick
from bcx_tracker.writer import TickWriter

NOW = iso_to_ms("2026-11-30T12:00:00Z")
SKEW = 5 * 60_000


def tick(**fields) -> Tick:
    values = {"product": "BTC-USD", "time_ms": NOW, "trade_id": 1, "price": "97250.05", "bid": "97250", "size": "0.5"}
    return Tick(**(values | fields))


def test_a_real_tick_passes():
    assert check_tick(tick(), NOW, SKEW) is None
    assert check_tick(tick(time_ms=NOW + SKEW, bid=None, ask=None, size=None), NOW, SKEW) is None


@pytest.mark.parametrize(
    "fields, reason",
    [
        ({"price": "9" * 4301}, "price has 4301 characters"),
        ({"size": "0." + "1" * MAX_DECIMAL_CHARS}, "size has"),
        ({"bid": "1" * (MAX_DECIMAL_CHARS + 1)}, "bid has"),
        ({"ask": "1" * (MAX_DECIMAL_CHARS + 1)}, "ask has"),
        ({"trade_id": MAX_TRADE_ID + 1}, "trade id"),
        ({"time_ms": NOW + SKEW + 1}, "ahead of the clock"),
        ({"time_ms": iso_to_ms("9999-12-31T23:59:59.999Z")}, "ahead of the clock"),
        ({"time_ms": iso_to_ms("0001-01-01T00:00:00Z")}, "before any exchange existed"),
        ({"time_ms": EARLIEST_MS - 1}, "before any exchange existed"),
    ],
)
def test_what_cannot_be_a_real_trade_is_refused_with_its_reason(fields, reason):
    assert reason in check_tick(tick(**fields), NOW, SKEW)


@pytest.mark.parametrize("stamp", ["2026-W44-1T00:00:00Z", "2026-W44-1", "2026-305", "20261030T000000Z"])
def test_the_parser_refuses_week_ordinal_and_compact_dates(stamp):
    frame = {"type": "ticker", "product_id": "BTC-USD", "price": "1.5", "trade_id": 1, "time": stamp}
    with pytest.raises(MalformedMessage, match="time"):
        parse_message(json.dumps(frame))


def frame(price: str = "97250.05", time: str = "2026-11-30T11:59:00.000000Z", product: str = "BTC-USD", trade=1):
    data = {"type": "ticker", "product_id": product, "price": price, "trade_id": trade, "time": time}
    return json.dumps(data | {"best_bid": "97250.04", "best_ask": "97250.05", "last_size": "0.1"})


def feed(received: list) -> Feed:
    return Feed(Coinbase(["BTC-USD"]), "ws://feed.test", received.extend, wall_clock=lambda: NOW / 1000)


def test_oversized_far_future_ancient_and_unconfigured_ticks_are_dropped_and_counted(caplog):
    received: list[Tick] = []
    tracker = feed(received)
    frames = [frame(trade=1), frame(price="9" * 4301, trade=2), frame(time="9999-12-31T23:59:59.999Z", trade=3)]
    frames += [frame(time="0001-01-01T00:00:00Z", trade=4), frame(product="XRP-USD", trade=5), frame(trade=6)]
    for raw in frames:
        tracker.handle(raw, 0.0)
    tracker._hand_over()
    assert [t.trade_id for t in received] == [1, 6]
    assert (tracker.stats.malformed, tracker.stats.unconfigured, tracker.stats.ticks) == (3, 1, 2)
    assert "malformed feed message #2 (time" in caplog.text
    assert "unconfigured series (XRP-USD)" in caplog.text


def test_malformed_and_exchange_error_logs_are_bounded(caplog):
    tracker = feed([])
    with caplog.at_level(logging.WARNING):
        for _ in range(50):
            tracker.handle(frame(price="9" * 100), 0.0)
            tracker.handle('{"type":"error","message":"boom","reason":"x"}', 0.0)
    assert tracker.stats.malformed == 50 and tracker.stats.exchange_errors == 50
    assert caplog.text.count("malformed feed message") == 10
    assert caplog.text.count("exchange error") == 10


class EncodingStore:
    """Encodes every tick as TickStore does, keeping the members: a tick that cannot be encoded fails its call."""

    def __init__(self):
        self.members: list[str] = []

    def add(self, ticks) -> int:
        members = [encode_member(t) for t in ticks]  # raises before anything is kept, as the Lua call would
        self.members.extend(members)
        return len(members)


def test_a_tick_that_cannot_be_encoded_costs_only_itself(caplog):
    store = EncodingStore()
    good = [tick(trade_id=i) for i in range(1, 11)]
    bad = tick(trade_id=99, price="9" * 4301)  # past the feed's checks only through a bug: the writer still copes
    writer = TickWriter(store, batch_size=100, flush_interval=60).start()
    writer.put_many(good[:5] + [bad] + good[5:])
    assert writer.close() == 0
    assert len(store.members) == 10 and writer.written == 10
    assert writer.dropped == 1
    assert "cannot write a tick (#1 dropped)" in caplog.text
