"""Pure planning: trade-id gaps, candle holes and request windows, the token bucket, REST rows, reconnect delay."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from bcx_tracker import coinbase_advanced
from bcx_tracker.coinbase import MalformedMessage, TickEvent
from bcx_tracker.feed import reconnect_delay
from bcx_tracker.gaps import Gap, TradeGaps, candle_hole, candle_windows, merge_gaps, trades_page_done
from bcx_tracker.ratelimit import TokenBucket
from bcx_tracker.rest import RestError, candle_of_row, exact, unknown_products

EXAMPLES = (Path(__file__).parent.parent / "fixtures" / "coinbase-examples.jsonl").read_text().splitlines()


def test_a_heartbeat_ahead_of_the_last_trade_is_a_gap_reported_once():
    gaps = TradeGaps()
    assert gaps.on_trade("BTC-USD", 10) is None
    assert gaps.on_heartbeat("BTC-USD", 10) is None
    assert gaps.on_trade("BTC-USD", 14) is None  # ticker ids skip between heartbeats: batched cascades
    assert gaps.on_heartbeat("BTC-USD", 20) == Gap("BTC-USD", 14, 20)
    assert gaps.on_heartbeat("BTC-USD", 20) is None
    assert gaps.on_trade("BTC-USD", 20) is None  # the ticker of trade 20, late: no new gap


def test_after_a_reconnect_the_first_trade_is_compared_with_the_last_one_before():
    gaps = TradeGaps({"BTC-USD": 100})  # from Redis at start
    assert gaps.on_trade("BTC-USD", 130) == Gap("BTC-USD", 100, 129)
    assert gaps.on_trade("BTC-USD", 140) is None
    gaps.reconnected()
    assert gaps.on_trade("BTC-USD", 140) is None  # the first ticker repeats the last trade
    gaps.reconnected()
    assert gaps.on_heartbeat("BTC-USD", 150) == Gap("BTC-USD", 140, 150)


def test_gaps_merge_and_pages_stop_at_the_gap_start():
    merged = merge_gaps([Gap("A-B", 5, 9), Gap("A-B", 1, 5), Gap("C-D", 1, 2), Gap("A-B", 20, 30)])
    assert merged == [Gap("A-B", 1, 9), Gap("A-B", 20, 30), Gap("C-D", 1, 2)]
    assert not trades_page_done([30, 29, 25], Gap("A-B", 20, 30))
    assert trades_page_done([24, 21], Gap("A-B", 20, 30)) and trades_page_done([], Gap("A-B", 20, 30))


def test_candle_hole_and_windows():
    minute, hour = 60_000, 3_600_000
    now = 10 * hour + 30_000
    assert candle_hole(None, now, hour, 30 * 24 * hour) is None
    assert candle_hole(now - hour + 1, now, hour, 30 * 24 * hour) is None
    assert candle_hole(7 * hour + 5_000, now, hour, 30 * 24 * hour) == (7 * hour + minute, 10 * hour)
    assert candle_hole(0, now, hour, 2 * hour) == (8 * hour, 10 * hour)
    windows = candle_windows(0, 600 * minute)
    assert windows == [(0, 298 * 60), (299 * 60, 597 * 60), (598 * 60, 599 * 60)]
    assert all((hi - lo) // 60 + 1 < 300 for lo, hi in windows)


def test_token_bucket_allows_a_burst_then_the_rate():
    bucket = TokenBucket(rate=5, burst=2, now=0.0)
    assert [bucket.take(0.0), bucket.take(0.0)] == [0.0, 0.0]
    assert bucket.take(0.0) == pytest.approx(0.2)
    assert bucket.take(10.0) == 0.0


def test_rest_rows_keep_exact_decimals():
    row = json.loads("[1415398768, 0.32, 4.2, 0.35, 4.2, 1e-7]", parse_float=Decimal)
    candle = candle_of_row(row)
    assert (candle.time_ms, candle.low, candle.high, candle.open, candle.close) == (
        1415398768000,
        "0.32",
        "4.2",
        "0.35",
        "4.2",
    )
    assert candle.volume == "0.0000001" and candle.count is None
    assert exact("6225.32000000") == "6225.32000000"
    with pytest.raises(RestError):
        candle_of_row([1, 2, 3])
    assert unknown_products(("BTC-USD", "NOPE-USD"), [{"id": "BTC-USD"}]) == ["NOPE-USD"]


def test_a_throttled_upgrade_backs_off_harder():
    assert reconnect_delay(1, cap=60, rand=0.999) < reconnect_delay(1, cap=60, throttled=True, rand=0.0)
    assert reconnect_delay(10, cap=60, throttled=True, rand=0.999) <= 60


def test_advanced_trade_ticker_gets_a_deterministic_id_and_time():
    events = coinbase_advanced.parse_messages(EXAMPLES[6])
    assert len(events) == 1 and isinstance(events[0], TickEvent)
    tick = events[0].tick
    assert (tick.product, tick.price, tick.bid, tick.ask) == ("coinbase:BTC-USD", "21932.98", "21931.98", "21933.98")
    assert tick.time_ms == 1675974637167 and tick.trade_id == 1675974637167 * 1000
    assert coinbase_advanced.parse_messages(EXAMPLES[6]) == events  # the same frame, the same tick
    assert tick.trade_id < 2**53
    assert [type(e).__name__ for e in coinbase_advanced.parse_messages(EXAMPLES[7])] == ["Ignored"]
    with pytest.raises(MalformedMessage):
        coinbase_advanced.parse_messages(EXAMPLES[1])  # an Exchange ticker on the Advanced Trade feed


def test_advanced_trade_round_trip_through_the_server_side_format():
    tick = coinbase_advanced.parse_messages(EXAMPLES[6])[0].tick
    raw = coinbase_advanced.ticker_message(tick, 7, "2023-02-09T20:30:37.167359Z")
    again = coinbase_advanced.parse_messages(raw)[0].tick
    assert (again.price, again.bid, again.ask, again.time_ms) == (tick.price, tick.bid, tick.ask, tick.time_ms)
    subscribes = [json.loads(m) for m in coinbase_advanced.subscribe_messages(["BTC-USD"])]
    assert [m["channel"] for m in subscribes] == ["ticker", "heartbeats"]
    assert coinbase_advanced.parse_subscribe(subscribes[1], ["BTC-USD"]) == {"heartbeat": {"BTC-USD"}}


def test_rest_candles_never_replace_candles_compacted_from_ticks():
    from bcx.candles import Candle
    from bcx_tracker.backfill import without_counted

    rest = [Candle(0, "1", "2", "1", "2", "5"), Candle(60_000, "2", "3", "2", "3", "5")]
    stored = [Candle(0, "1.00", "2.00", "1.00", "2.00", "4.5", 12), Candle(60_000, "9", "9", "9", "9", "1")]
    assert without_counted(rest, stored) == rest[1:]  # minute 0 came from raw ticks; minute 1 was REST already
