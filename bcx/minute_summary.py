"""What the rankings figures need from a run of 1-minute candles, built candle by candle and merged run by run.

A window's figures (bcx.analytics.ranking) come from one Summary of its minutes. Summaries of disjoint runs merge
exactly (extremes, exact sums, Chan's pairwise update of the returns' mean and squared deviations, plus the return
across the seam when the runs touch), so bcx-web can keep the summaries of closed hours and fold only the minutes
that changed instead of re-reading a day of candles on every request.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from decimal import Decimal

from bcx.candles import Candle

MINUTE_MS = 60_000


@dataclass(frozen=True)
class Summary:
    first_time: int
    first_open: Decimal
    first_close: float | None  # for the return across a seam with an earlier run
    last_time: int
    last_close: str  # exact
    last_close_f: float | None  # None when not a positive number (no return from or to it)
    high: Decimal
    low: Decimal
    volume: Decimal
    trades: int | None  # None once any candle has no count
    hour_volume: Decimal  # of the candles from `since` on (the window's last hour)
    hour_trades: int | None
    returns: int  # how many 1-minute log returns
    mean: float  # of those returns
    m2: float  # sum of squared deviations from the mean


def summarize(candles: list[Candle], since_ms: int, before: Summary | None = None) -> Summary | None:
    """`before` (a run ending earlier) followed by `candles` (time order, after it); None for nothing at all.
    One pass over the candles (Welford's update of the returns' mean and squared deviations), then one merge."""
    if not candles:
        return before
    high = low = None
    volume = hour_volume = Decimal(0)
    trades: int | None = 0
    hour_trades: int | None = 0
    n, mean, m2 = 0, 0.0, 0.0
    previous: tuple[int, float | None] | None = None
    first_close = None
    for candle in candles:
        close = positive_float(candle.close)
        if previous is None:
            first_close = close
        elif candle.time_ms - previous[0] == MINUTE_MS and previous[1] and close:
            value = math.log(close / previous[1])
            n += 1
            delta = value - mean
            mean += delta / n
            m2 += delta * (value - mean)
        previous = (candle.time_ms, close)
        candle_high, candle_low, amount = Decimal(candle.high), Decimal(candle.low), Decimal(candle.volume)
        high = candle_high if high is None or candle_high > high else high
        low = candle_low if low is None or candle_low < low else low
        volume += amount
        count = candle.count
        trades = None if trades is None or count is None else trades + count
        if candle.time_ms >= since_ms:
            hour_volume += amount
        hour_trades = (
            None if hour_trades is None or count is None else hour_trades + (count if candle.time_ms >= since_ms else 0)
        )
    run = Summary(
        first_time=candles[0].time_ms,
        first_open=Decimal(candles[0].open),
        first_close=first_close,
        last_time=candles[-1].time_ms,
        last_close=candles[-1].close,
        last_close_f=previous[1],
        high=high,
        low=low,
        volume=volume,
        trades=trades,
        hour_volume=hour_volume,
        hour_trades=hour_trades,
        returns=n,
        mean=mean,
        m2=m2,
    )
    return merge(before, run)


def of_candle(candle: Candle, since_ms: int) -> Summary:
    volume = Decimal(candle.volume)
    recent = candle.time_ms >= since_ms
    close = positive_float(candle.close)
    return Summary(
        first_time=candle.time_ms,
        first_open=Decimal(candle.open),
        first_close=close,
        last_time=candle.time_ms,
        last_close=candle.close,
        last_close_f=close,
        high=Decimal(candle.high),
        low=Decimal(candle.low),
        volume=volume,
        trades=candle.count,
        hour_volume=volume if recent else Decimal(0),
        hour_trades=(candle.count if recent else 0) if candle.count is not None else None,
        returns=0,
        mean=0.0,
        m2=0.0,
    )


def merge(a: Summary | None, b: Summary | None) -> Summary | None:
    """The summary of run a followed by run b (a ends before b starts)."""
    if a is None or b is None:
        return b if a is None else a
    n, mean, m2 = _moments((a.returns, a.mean, a.m2), (b.returns, b.mean, b.m2))
    if b.first_time - a.last_time == MINUTE_MS and a.last_close_f and b.first_close:
        n, mean, m2 = _moments((n, mean, m2), (1, math.log(b.first_close / a.last_close_f), 0.0))
    return replace(
        a,
        last_time=b.last_time,
        last_close=b.last_close,
        last_close_f=b.last_close_f,
        high=max(a.high, b.high),
        low=min(a.low, b.low),
        volume=a.volume + b.volume,
        trades=None if a.trades is None or b.trades is None else a.trades + b.trades,
        hour_volume=a.hour_volume + b.hour_volume,
        hour_trades=None if a.hour_trades is None or b.hour_trades is None else a.hour_trades + b.hour_trades,
        returns=n,
        mean=mean,
        m2=m2,
    )


def variance(summary: Summary) -> float | None:
    """The sample variance (n - 1) of the returns; None below two."""
    return summary.m2 / (summary.returns - 1) if summary.returns >= 2 else None


def _moments(a: tuple[int, float, float], b: tuple[int, float, float]) -> tuple[int, float, float]:
    """(count, mean, M2) of two samples together (Chan et al.'s pairwise update)."""
    na, ma, m2a = a
    nb, mb, m2b = b
    n = na + nb
    if not n:
        return 0, 0.0, 0.0
    delta = mb - ma
    return n, ma + delta * nb / n, m2a + m2b + delta * delta * na * nb / n


def positive_float(text: str) -> float | None:
    try:
        value = float(text)  # a statistic's input: the exact string stays in the candle
    except ValueError:
        return None
    return value if value > 0 else None
