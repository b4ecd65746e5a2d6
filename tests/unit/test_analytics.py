"""bcx.analytics: each figure against a hand-computed example."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from bcx import analytics
from bcx.analytics import DAY_MS, HOUR_MS, MINUTE_MS
from bcx.candles import Candle, bucket_start, rollup
from bcx.minute_summary import merge, summarize
from bcx.tick import Tick
from bcx_web.rank_source import MinuteSummaries

T0 = 1_700_000_000_000 - 1_700_000_000_000 % DAY_MS  # midnight UTC


def candle(minute: int, open_: str, high: str, low: str, close: str, volume: str, count: int | None) -> Candle:
    return Candle(T0 + minute * MINUTE_MS, open_, high, low, close, volume, count)


# Minutes 0, 1, 2 and 4 of a day (minute 3 had no trade), and one quiet minute two hours before.
MINUTES = [
    candle(-120, "100", "100", "100", "100", "5", 10),
    candle(0, "100", "101", "99", "100", "1.5", 3),
    candle(1, "100", "111", "100", "110", "2.5", 4),
    candle(2, "110", "112", "98", "99", "0.25", 5),
    candle(4, "99", "105", "104", "104.5", "0.75", 6),
]
END = T0 + 4 * MINUTE_MS + 30_000  # within minute 4


def test_ranking_figures_by_hand():
    row = analytics.ranking("coinbase:BTC-USD", MINUTES, END, DAY_MS, complete=True)
    assert row.last == "104.5"  # the exact string of the last close
    assert row.change_pct == 4.5  # (104.5 - 100) / 100
    assert row.range_pct == 14.2857  # (112 - 98) / 98
    assert row.volume == "10.00"  # 5 + 1.5 + 2.5 + 0.25 + 0.75, exact
    assert row.trades == 28
    # returns only between consecutive minutes: ln(110/100) at 1 and ln(99/110) at 2; not across the hole at 3
    # nor across the two quiet hours: stdev of two values = |a - b| / sqrt(2)
    assert row.returns == 2
    assert row.volatility == pytest.approx((math.log(1.1) - math.log(0.9)) / math.sqrt(2), abs=1e-8)
    assert row.volatility == 0.14189561
    assert row.volatility_annualized == 102.87187042  # x sqrt(365 * 1440)
    # last hour: 5 of 10 volume, 18 of 28 trades; the average hour of 24h: 10 / 24 and 28 / 24
    assert row.activity == 12.0
    assert row.activity_trades == 15.4286
    assert row.complete


def test_window_keeps_only_its_minutes():
    row = analytics.ranking("coinbase:BTC-USD", MINUTES, END, HOUR_MS, complete=False)
    assert row.volume == "5.00"  # the quiet minute two hours back is outside the hour
    assert row.change_pct == 4.5
    assert row.activity == 1.0  # a one-hour window is its own average hour
    assert not row.complete


def test_no_data_gives_null_figures_and_sorts_last():
    empty = analytics.ranking("kraken:BTC-USD", [], END, DAY_MS, complete=False)
    assert empty.as_dict() | {"series": None} == {
        "series": None,
        "last": None,
        "change_pct": None,
        "volatility": None,
        "volatility_annualized": None,
        "volume": None,
        "trades": None,
        "range_pct": None,
        "activity": None,
        "activity_trades": None,
        "returns": 0,
        "complete": False,
    }
    full = analytics.ranking("coinbase:BTC-USD", MINUTES, END, DAY_MS, complete=True)
    small = analytics.ranking("coinbase:ETH-USD", MINUTES[3:], END, DAY_MS, complete=True)
    for by in analytics.RANK_BY:
        ordered = analytics.sort_rankings([small, empty, full], by)
        assert ordered[-1] is empty
    assert [r.series for r in analytics.sort_rankings([small, full], "volume")] == [full.series, small.series]


def test_a_backfilled_candle_without_count_leaves_trades_unknown():
    minutes = [*MINUTES[:-1], candle(4, "99", "105", "104", "104.5", "0.75", None)]
    row = analytics.ranking("coinbase:BTC-USD", minutes, END, DAY_MS, complete=True)
    assert row.trades is None and row.activity_trades is None
    assert row.activity == 12.0


def test_log_returns_skip_missing_buckets():
    returns = analytics.log_returns(MINUTES, MINUTE_MS)
    assert sorted(returns) == [T0 + MINUTE_MS, T0 + 2 * MINUTE_MS]
    assert returns[T0 + MINUTE_MS] == pytest.approx(math.log(1.1))


def test_pearson_on_common_buckets_only():
    # a has buckets 1, 2, 3, 5; b has 1, 2, 3, 4: the pair uses 1, 2, 3 where a = 1, 2, 3 and b = 1, 3, 2:
    # means 2 and 2, sum of products of deviations 1, sums of squares 2 and 2: r = 1 / sqrt(2 * 2) = 0.5
    a = {1: 1.0, 2: 2.0, 3: 3.0, 5: 40.0}
    b = {1: 1.0, 2: 3.0, 3: 2.0, 4: -7.0}
    assert analytics.pearson(a, b) == (0.5, 3)
    assert analytics.pearson(a, {1: 1.0}) == (None, 1)  # one common bucket: no correlation
    assert analytics.pearson(a, {1: 1.0, 2: 1.0}) == (None, 2)  # a flat series does not correlate


def test_correlation_matrix_is_symmetric_with_buckets_per_pair():
    a = {1: 1.0, 2: 2.0, 3: 3.0, 5: 40.0}
    b = {1: 1.0, 2: 3.0, 3: 2.0, 4: -7.0}
    c = {1: 3.0, 2: 2.0, 3: 1.0, 5: 4.0}
    matrix, used = analytics.correlation([a, b, c])
    assert used == [[4, 3, 4], [3, 4, 3], [4, 3, 4]]
    assert matrix[0][0] == 1.0 and matrix[0][1] == matrix[1][0] == 0.5
    assert matrix[1][2] == -0.5  # on 1, 2, 3: b = 1, 3, 2 and c = 3, 2, 1
    # a and c on 1, 2, 3, 5: means 11.5 and 2.5; sxy = -58.5 + 0 + 0 + 42.75 ... computed in full:
    xs, ys = [1, 2, 3, 40], [3, 2, 1, 4]
    mx, my = sum(xs) / 4, sum(ys) / 4
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    expected = sxy / math.sqrt(sum((x - mx) ** 2 for x in xs) * sum((y - my) ** 2 for y in ys))
    assert matrix[0][2] == round(expected, 4)


def day(n: int, open_: str, close: str) -> Candle:
    return Candle(T0 + n * DAY_MS, open_, close, open_, close, "1", 1)


def test_daily_returns_both_modes():
    days = [day(0, "100", "110"), day(1, "110", "99"), day(3, "99", "121")]  # day 2 had no trade
    # day-on-day: 110/100 - 1 = 10%; 99/110 - 1 = -10%; 121/99 - 1 = 22.2222% (against the previous candle)
    assert analytics.daily_returns(days, "day-on-day") == [
        [T0, 10.0],
        [T0 + DAY_MS, -10.0],
        [T0 + 3 * DAY_MS, 22.2222],
    ]
    # day-to-first: against the first open, 100
    assert analytics.daily_returns(days, "day-to-first") == [
        [T0, 10.0],
        [T0 + DAY_MS, -1.0],
        [T0 + 3 * DAY_MS, 21.0],
    ]
    assert analytics.daily_returns([], "day-on-day") == []


def test_spread_points_on_common_buckets_exact_difference():
    a = [day(0, "100", "100.50"), day(1, "100", "101"), day(2, "1", "102")]
    b = [day(0, "100", "100.25"), day(2, "1", "100")]
    # 100.50 - 100.25 = 0.25 exactly, 0.25 / 100.25 = 0.2494%; 102 - 100 = 2, 2%
    assert analytics.spread_points(a, b) == [[T0, "0.25", 0.2494], [T0 + 2 * DAY_MS, "2", 2.0]]
    assert analytics.spread("0.1", "0.3") == ("-0.2", -66.6667)


def test_window_start_counts_the_open_minute():
    assert analytics.window_start(END, HOUR_MS) == T0 + 5 * MINUTE_MS - HOUR_MS


def test_summaries_of_runs_merge_into_the_summary_of_the_whole():
    since = T0 + 2 * MINUTE_MS
    whole = summarize(MINUTES, since)
    for cut in range(1, len(MINUTES)):
        parts = merge(summarize(MINUTES[:cut], since), summarize(MINUTES[cut:], since))
        assert parts.returns == whole.returns == 2  # the seam's return counted once, when the runs touch
        assert parts.mean == pytest.approx(whole.mean) and parts.m2 == pytest.approx(whole.m2)
        assert (parts.volume, parts.high, parts.low, parts.trades) == (whole.volume, whole.high, whole.low, 28)
        assert (parts.hour_volume, parts.hour_trades, parts.last_close) == (Decimal("1.00"), 11, "104.5")


def test_minute_summaries_read_closed_hours_once_and_agree_with_a_full_read():
    # two trades a minute for 30 hours, the price wandering, some minutes empty
    ticks = [
        Tick("s", T0 + m * MINUTE_MS + offset, 2 * m + n, str(100 + (m * (n + 2)) % 7), None, None, size)
        for m in range(30 * 60)
        if m % 11
        for n, (offset, size) in enumerate(((1_000, "0.5"), (2_000, "0.25")))
    ]
    minutes = rollup(ticks, MINUTE_MS)
    reads = []

    def read(series, first, last):
        reads.append((first, last))
        return [c for c in minutes if first <= c.time_ms <= last]

    def read_raw(ranges):
        reads.extend((first, last) for _, first, last in ranges)
        return [[t for t in ticks if first <= t.time_ms <= last] for _, first, last in ranges]

    summaries = MinuteSummaries(read, read_raw)
    ends = [T0 + 25 * HOUR_MS + m * MINUTE_MS + 30_000 for m in (17, 18, 19, 43, 59, 60, 61, 62, 200)]
    for end in ends:  # minute after minute, across hours: prefixes grow, suffixes and blocks are kept
        for window in analytics.WINDOWS.values():
            got = analytics.summary_ranking("s", summaries.windows(end, window, {"s": None})["s"], window, True)
            assert got == analytics.ranking("s", minutes, end, window, True), (end, window)
            newest = max((t.time_ms, t.trade_id) for t in ticks if t.time_ms <= end)
            got = analytics.summary_ranking("s", summaries.windows(end, window, {"s": newest})["s"], window, True)
            assert got == analytics.ranking("s", minutes, end, window, True), (end, window)
    reads.clear()
    summaries.windows(ends[-1] + 5_000, DAY_MS, {"s": None})  # the same minute: only the open one is read
    assert reads == [(bucket_start(ends[-1], MINUTE_MS), ends[-1] + 5_000)]


def test_the_open_minute_is_read_from_raw_ticks_when_it_holds_the_newest_tick_and_only_when_it_changed():
    closed = [Candle(T0 + m * MINUTE_MS, "100", "101", "99", str(100 + m % 3), "0.5", 2) for m in range(179)]
    opened = T0 + 179 * MINUTE_MS
    ticks = [Tick("s", opened + k * 1000, 500 + k, str(101 + k % 4), None, None, "0.25") for k in range(40)]
    reads, raw_reads = [], []

    def read(series, first, last):
        reads.append((first, last))
        return [c for c in closed + rollup(ticks, MINUTE_MS) if first <= c.time_ms <= last]

    def read_raw(ranges):
        raw_reads.extend((first, last) for _, first, last in ranges)
        return [[t for t in ticks if first <= t.time_ms <= last] for _, first, last in ranges]

    def ranked(summaries, end, newest):
        return analytics.summary_ranking("s", summaries.windows(end, DAY_MS, {"s": newest})["s"], DAY_MS, True)

    summaries = MinuteSummaries(read, read_raw)
    end = opened + 20_500
    assert ranked(summaries, end, (opened + 20_000, 520)) == analytics.ranking(
        "s", closed + rollup(ticks[:21], MINUTE_MS), end, DAY_MS, True
    )
    assert raw_reads == [(opened, end)] and all(last < opened for _, last in reads)
    reads.clear()
    raw_reads.clear()
    ranked(summaries, end, (opened + 20_000, 520))  # no new trade: nothing read at all
    assert reads == raw_reads == []
    later = opened + 39_500  # more trades: only those after the newest one folded in are read
    assert ranked(summaries, later, (opened + 39_000, 539)) == analytics.ranking(
        "s", closed + rollup(ticks, MINUTE_MS), later, DAY_MS, True
    )
    assert raw_reads == [(opened + 20_000, later)] and reads == []
    next_minute = opened + MINUTE_MS + 10  # another series traded: this one is quiet since before the open minute
    quiet = ranked(summaries, next_minute, (opened + 39_000, 539))
    assert raw_reads == [(opened + 20_000, later)]
    assert quiet == analytics.ranking("s", closed + rollup(ticks, MINUTE_MS), next_minute, DAY_MS, True)
