"""Downsampling and tier choice: pure functions."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from bcx.candle_source import DEFAULT_STORED, sources_for
from bcx.candles import Candle, interval_ms
from bcx_web.downsample import RAW, candle_min_max, candle_points, choose_tier, closed_drawing, min_max

MIN, HOUR, DAY = 60_000, 3_600_000, 86_400_000
TIERS = [("1m", MIN), ("1h", HOUR), ("1d", DAY)]

series = st.lists(st.integers(-(10**6), 10**6), min_size=0, max_size=400).map(
    lambda values: [(index * 1000, str(value)) for index, value in enumerate(values)]
)


@given(series, st.integers(2, 100))
def test_min_max_keeps_extremes_in_order_within_the_limit(points, limit):
    kept = min_max(points, limit)
    assert len(kept) <= limit
    assert all(point in points for point in kept)
    assert [t for t, _ in kept] == sorted({t for t, _ in kept})  # time order, no duplicates
    if points:
        values = [int(v) for _, v in points]
        assert min(values) in [int(v) for _, v in kept] and max(values) in [int(v) for _, v in kept]


def test_min_max_keeps_a_one_tick_spike():
    points = [(t, "100") for t in range(10_000)]
    points[4321] = (4321, "250")
    assert (4321, "250") in min_max(points, 100)


def test_short_series_is_returned_whole():
    points = [(1, "1"), (2, "2")]
    assert min_max(points, 1000) == points


def test_choose_the_coarsest_tier_that_still_gives_the_points():
    assert choose_tier(DAY, 1000, TIERS) == "1m"  # 1440 minutes; 24 hours would be too few
    assert choose_tier(2000 * HOUR, 1000, TIERS) == "1h"
    assert choose_tier(5000 * DAY, 1000, TIERS) == "1d"
    assert choose_tier(HOUR, 1000, TIERS) == RAW  # 60 minutes: only raw ticks give 1000 points
    assert choose_tier(DAY, 1000, []) == RAW
    assert choose_tier(30 * DAY, 1000, TIERS) == "1h"  # 720 hourly candles give 1,440 points (a low and a high each)
    assert choose_tier(7 * DAY, 1000, TIERS) == "1m"  # 168 hourly candles would give only 336


def test_candle_points_follow_the_candle_direction():
    up = Candle(0, "10", "12", "9", "11", "1")
    down = Candle(MIN, "11", "13", "8", "9", "1")
    points, values = candle_points([up, down], MIN)
    assert points == [(0, "9"), (30_000, "12"), (MIN, "13"), (90_000, "8")]
    assert values == [9.0, 12.0, 13.0, 8.0]


def test_min_max_with_the_callers_floats_keeps_the_same_points():
    candles = [Candle(i * MIN, "10", str(10 + i % 7), str(9 - i % 5), str(10 + (-1) ** i), "1") for i in range(300)]
    points, values = candle_points(candles, MIN)
    assert min_max(points, 100, values) == min_max(points, 100)
    assert min_max(points, 1, values) == min_max(points, 1)


def test_sources_are_the_stored_intervals_dividing_the_width_coarsest_first():
    assert sources_for(6 * HOUR, ("1m", "1h", "1d")) == [("1h", HOUR), ("1m", MIN)]
    assert sources_for(5 * MIN, ("1m", "1h", "1d")) == [("1m", MIN)]
    assert sources_for(MIN, ()) == []


def test_with_the_default_tiers_a_1000_point_chart_of_any_span_reads_at_most_3000_candles():
    tiers = [(name, interval_ms(name)) for name in DEFAULT_STORED]
    assert [choose_tier(span, 1000, tiers) for span in (DAY, 3 * DAY, 7 * DAY, 30 * DAY, 365 * DAY)] == [
        "1m",
        "5m",
        "15m",
        "1h",
        "6h",
    ]
    widths = dict(tiers)
    for span in range(HOUR, 4 * 365 * DAY, 37 * MIN):  # every span from an hour to four years, 37 minutes apart
        tier = choose_tier(span, 1000, tiers)
        # The widest step between tiers is 6 (1h to 6h): a span just short of the coarser tier reads 3,000.
        assert tier == RAW or span // widths[tier] <= 3000


def candle_lists(min_size: int = 0):
    rows = st.tuples(st.integers(1, 1000), st.integers(0, 50), st.integers(0, 50), st.booleans())
    return st.lists(rows, min_size=min_size).map(
        lambda rows: [
            Candle(i * MIN, str(base), str(base + up), str(base - down), str(base + (up if rising else -down)), "1")
            for i, (base, up, down, rising) in enumerate(rows)
        ]
    )


@given(candle_lists(), st.integers(1, 120))
def test_candle_min_max_draws_what_min_max_of_the_candle_points_draws(candles, limit):
    kept = candle_min_max(candles, MIN, limit)
    points, values = candle_points(candles, MIN)
    assert len(kept) <= limit
    assert all(point in points for point in kept)
    assert [t for t, _ in kept] == sorted(t for t, _ in kept)
    if 2 * len(candles) <= limit:
        assert kept == points
    elif limit >= 2:  # every bucket keeps its extremes, so the whole range's are kept
        drawn = [float(v) for _, v in kept]
        assert min(values) in drawn and max(values) in drawn


@given(candle_lists(min_size=11), candle_lists(), st.integers(2, 20), st.integers(0, 200))
def test_a_kept_drawing_of_the_closed_candles_draws_what_drawing_all_of_them_draws(candles, others, limit, closed):
    """closed_drawing's points of the first `closed` candles, drawn once, serve any candles after them (the open
    bucket that changes) as long as the count is the same. More candles than the limit's points (11 or more for
    at most 20): there are buckets to keep."""
    closed = min(closed, len(candles))
    changed = [replace(c, time_ms=(closed + i) * MIN) for i, c in enumerate(others[: len(candles) - closed])]
    later = candles[:closed] + changed + candles[closed + len(changed) :]
    drawn = closed_drawing(candles, MIN, limit, closed)
    assert drawn is not None and drawn[1] <= limit // 2
    first, last = (candles[0].time_ms + 1, candles[-1].time_ms) if candles else (None, None)
    assert candle_min_max(later, MIN, limit, first, last, drawn) == candle_min_max(later, MIN, limit, first, last)
    fewer = closed_drawing(later, MIN, limit, closed // 2)  # drawn when fewer were closed, then continued
    assert closed_drawing(candles, MIN, limit, closed, fewer) == drawn
