"""Candles: exact OHLCV from ticks, coarser from finer, the member codec."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bcx.candles import Candle, RunningCandle, bucket_start, combine, decode_candle, encode_candle, interval_ms, rollup
from bcx.tick import Tick, iso_to_ms

MINUTE = 60_000


def tick(time_ms: int, trade_id: int, price: str, size: str | None = "0.10") -> Tick:
    return Tick("BTC-USD", time_ms, trade_id, price, size=size)


def test_rollup_keeps_exact_strings_and_orders_by_time_then_trade():
    ticks = [
        tick(61_000, 5, "100.50"),
        tick(60_000, 3, "100.10", "0.00000001"),
        tick(60_000, 2, "100.00"),
        tick(119_999, 9, "99.90"),
        tick(120_000, 10, "101"),
    ]
    first, second = rollup(ticks, MINUTE)
    assert first == Candle(60_000, "100.00", "100.50", "99.90", "99.90", "0.30000001", 4)
    assert second == Candle(120_000, "101", "101", "101", "101", "0.10", 1)


def test_rollup_compares_prices_as_numbers_not_text():
    (candle,) = rollup([tick(0, 1, "9.5"), tick(1, 2, "10.25"), tick(2, 3, "100")], MINUTE)
    assert (candle.high, candle.low) == ("100", "9.5")


def test_equal_extremes_keep_the_first_trades_text():
    (candle,) = rollup([tick(0, 1, "2.0"), tick(1, 2, "2.00"), tick(2, 3, "1.50"), tick(3, 4, "1.5")], MINUTE)
    assert (candle.high, candle.low) == ("2.0", "1.50")


def test_missing_size_counts_no_volume():
    (candle,) = rollup([tick(0, 1, "1", size=None), tick(1, 2, "2", size="0.5")], MINUTE)
    assert (candle.volume, candle.count) == ("0.5", 2)


prices = st.decimals(min_value=1, max_value=10**6, places=2).map(str)


@given(st.lists(st.tuples(st.integers(0, 3 * 3_600_000), prices), min_size=1, max_size=200, unique_by=lambda x: x[0]))
def test_hour_from_minutes_equals_hour_from_ticks(rows):
    ticks = [tick(t, i, p) for i, (t, p) in enumerate(sorted(rows))]
    assert combine(rollup(ticks, MINUTE), 3_600_000) == rollup(ticks, 3_600_000)


def test_combine_without_counts_has_no_count():
    merged = combine([Candle(0, "1", "2", "1", "2", "1.5"), Candle(MINUTE, "2", "3", "2", "3", "1", 4)], 3_600_000)
    assert merged == [Candle(0, "1", "3", "1", "3", "2.5", None)]


def test_member_round_trip():
    for candle in (Candle(60_000, "1.10", "2", "1", "1.5", "0.30000001", 7), Candle(0, "1", "1", "1", "1", "0")):
        assert decode_candle(encode_candle(candle), candle.time_ms) == candle
    assert encode_candle(Candle(0, "1", "1", "1", "1", "0")) == "0|1|0|0|0|0|"
    assert encode_candle(Candle(120_000, "1.10", "2", "1", "1.50", "0.3", 7)) == "2|1.10|=2|=1|40|0.3|7"
    # equal candles of two buckets stay two members; a start off the minute is told apart from a minute
    assert encode_candle(Candle(36 * 60_000, "1", "1", "1", "1", "0")) == "10|1|0|0|0|0|"
    assert encode_candle(Candle(36, "1", "1", "1", "1", "0")) == ".10|1|0|0|0|0|"


def test_a_member_carries_its_own_time():
    for time_ms in (0, 60_000, 36 * 60_000, 36, 1_793_491_260_000, 1_793_491_201_133):
        candle = Candle(time_ms, "1.10", "2", "1", "1.5", "0.3", 7)
        assert decode_candle(encode_candle(candle)) == candle


def test_member_at_100k_fits_the_listpack_value_limit():
    # The bucket time is the score, highs and lows are offsets: a busy BTC minute stays far under 64 bytes.
    candle = Candle(1_762_020_000_000, "100000.00", "100250.37", "99801.02", "100010.55", "1234.56789012", 4321)
    member = encode_candle(candle)
    assert member == "hhfq0|100000.00|25037|19898|1055|1234.56789012|4321"
    assert len(member) <= 64
    assert decode_candle(member, candle.time_ms) == candle


prices = st.decimals(min_value=0, max_value=10**6, places=2, allow_nan=False).map(str)


@given(open_=prices, high=prices, low=prices, close=prices, volume=prices, count=st.none() | st.integers(0, 10**6))
def test_member_round_trip_is_exact(open_, high, low, close, volume, count):
    candle = Candle(60_000, open_, high, low, close, volume, count)
    assert decode_candle(encode_candle(candle), 60_000) == candle


@pytest.mark.parametrize("name, ms", [("1m", MINUTE), ("15m", 15 * MINUTE), ("6h", 6 * 3_600_000), ("1d", 86_400_000)])
def test_interval_ms(name, ms):
    assert interval_ms(name) == ms


@pytest.mark.parametrize("name", ["", "0m", "1x", "m", "1.5h", "60"])
def test_interval_ms_rejects(name):
    with pytest.raises(ValueError):
        interval_ms(name)


def test_combine_to_the_same_width_keeps_each_candle_as_it_is():
    minutes = [Candle(0, "1.0", "2", "0.5", "1.5", "3.10", 2), Candle(MINUTE, "1.5", "1.5", "1.5", "1.5", "0", 1)]
    merged = combine(minutes, MINUTE)
    assert merged == minutes and all(a is b for a, b in zip(merged, minutes, strict=True))
    assert combine([Candle(30_000, "1", "1", "1", "1", "1.0", 1)], MINUTE) == [Candle(0, "1", "1", "1", "1", "1.0", 1)]


# Times within one minute, few of them and few prices, so that equal times (ordered by trade id) and equal extremes
# written differently ("5" and "5.00": the first trade's text is kept) are common.
same_minute_trades = st.lists(
    st.tuples(st.integers(0, 5), st.sampled_from(["5", "5.00", "4.5", "6.10", "6.1"]), st.sampled_from(["0.1", None])),
    min_size=1,
    max_size=40,
)


@given(same_minute_trades, st.randoms())
def test_a_running_candle_in_any_order_is_the_rollup_of_its_trades(rows, order):
    ticks = [tick(MINUTE + t, i, price, size) for i, (t, price, size) in enumerate(rows)]
    order.shuffle(ticks)
    running = RunningCandle(MINUTE)
    for one in ticks[: len(ticks) // 2]:
        running.add(one)
    extended = running.copy()  # what a kept bucket does: the copy takes the rest, the kept one stays as it was
    for one in ticks[len(ticks) // 2 :]:
        extended.add(one)
    assert extended.candle() == rollup(ticks, MINUTE)[0]
    if len(ticks) > 1:
        assert running.candle() == rollup(ticks[: len(ticks) // 2], MINUTE)[0]


@pytest.mark.parametrize(
    ("moment", "monday"),
    [
        ("2026-11-30T00:00:00Z", "2026-11-30T00:00:00Z"),  # a Monday, at its first millisecond
        ("2026-11-29T23:59:59.999Z", "2026-11-23T00:00:00Z"),  # the Sunday before: the week before
        ("1970-01-01T00:00:00Z", "1969-12-29T00:00:00Z"),  # the epoch was a Thursday
    ],
)
def test_weeks_start_on_monday_utc(moment, monday):
    assert bucket_start(iso_to_ms(moment), interval_ms("1w")) == iso_to_ms(monday)
    assert bucket_start(iso_to_ms(moment), interval_ms("1d")) % interval_ms("1d") == 0
