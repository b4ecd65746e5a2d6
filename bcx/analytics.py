"""Market analytics from candles: rankings rows, daily returns, correlation of returns, cross-exchange spread.

Pure functions: candles (bcx.candles.Candle, exact strings) and times in, figures out; no Redis. Prices and volumes
shown back stay exact strings (Decimal arithmetic); statistics (returns, volatility, correlation) are floats, rounded
on the way out:

- percentages (change, range, returns, spread): PCT_PLACES decimals of a percent;
- volatility: VOL_PLACES decimals of a log return; correlation and activity: RATIO_PLACES decimals.

Plain Python, not numpy: the work per request is a few thousand floats per series, and the cost is turning the
candles' strings into numbers, which numpy does not speed up (bench/analytics.py prints both timings).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from operator import mul

from bcx.candles import Candle, bucket_start
from bcx.minute_summary import Summary, positive_float, summarize, variance

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
YEAR_MS = 365 * DAY_MS  # crypto trades every day: annualized over 365 days of 1-minute returns
WINDOWS = {"1h": HOUR_MS, "24h": DAY_MS, "7d": 7 * DAY_MS}
RANK_BY = ("change", "volatility", "volume", "range", "activity")
RETURN_MODES = ("day-on-day", "day-to-first")
PCT_PLACES = 4
VOL_PLACES = 8
RATIO_PLACES = 4
HUNDRED = Decimal(100)


@dataclass(frozen=True)
class Ranking:
    """One series' figures over a window; every figure None when the series has no candle in it."""

    series: str
    last: str | None  # the last trade's price in the window, exact
    change_pct: float | None  # last against the window's first open
    volatility: float | None  # sample standard deviation of 1-minute log returns
    volatility_annualized: float | None  # volatility * sqrt(minutes in a year)
    volume: str | None  # exact sum
    trades: int | None  # None when a candle in the window has no count (backfilled from REST)
    range_pct: float | None  # (high - low) / low
    activity: float | None  # the last hour's volume over the window's average hour
    activity_trades: float | None  # the same with trade counts
    returns: int  # how many 1-minute returns the volatility used
    complete: bool  # the stored data reaches back to the window's start

    def as_dict(self) -> dict:
        return {
            "series": self.series,
            "last": self.last,
            "change_pct": self.change_pct,
            "volatility": self.volatility,
            "volatility_annualized": self.volatility_annualized,
            "volume": self.volume,
            "trades": self.trades,
            "range_pct": self.range_pct,
            "activity": self.activity,
            "activity_trades": self.activity_trades,
            "returns": self.returns,
            "complete": self.complete,
        }


SORT_KEYS = {
    "change": lambda r: r.change_pct,
    "volatility": lambda r: r.volatility,
    "volume": lambda r: None if r.volume is None else Decimal(r.volume),
    "range": lambda r: r.range_pct,
    "activity": lambda r: r.activity,
}


def ranking(series: str, minutes: Sequence[Candle], end_ms: int, window_ms: int, complete: bool) -> Ranking:
    """The figures of one series from its 1-minute candles (time order) in the window of `window_ms` ending at
    end_ms (whole minutes: the open one is the last)."""
    start_ms = window_start(end_ms, window_ms)
    candles = [c for c in minutes if start_ms <= c.time_ms <= end_ms]
    return summary_ranking(series, summarize(candles, window_start(end_ms, HOUR_MS)), window_ms, complete)


def summary_ranking(series: str, summary: Summary | None, window_ms: int, complete: bool) -> Ranking:
    """The figures of a window from the Summary of its minutes (bcx.minute_summary)."""
    if summary is None:
        return Ranking(series, None, None, None, None, None, None, None, None, None, 0, complete)
    var = variance(summary)
    volatility = None if var is None else math.sqrt(var)
    hours = Decimal(window_ms) / HOUR_MS
    return Ranking(
        series=series,
        last=summary.last_close,
        change_pct=pct(Decimal(summary.last_close) - summary.first_open, summary.first_open),
        volatility=None if volatility is None else round(volatility, VOL_PLACES),
        volatility_annualized=None if volatility is None else round(annualized(volatility, MINUTE_MS), VOL_PLACES),
        volume=plain(summary.volume),
        trades=summary.trades,
        range_pct=pct(summary.high - summary.low, summary.low),
        activity=ratio(summary.hour_volume * hours, summary.volume),
        activity_trades=None if summary.trades is None else ratio(summary.hour_trades * hours, summary.trades),
        returns=summary.returns,
        complete=complete,
    )


def sort_rankings(rows: Sequence[Ranking], by: str) -> list[Ranking]:
    """Largest first; rows without the figure (no data) last, in the order given."""
    key = SORT_KEYS[by]
    with_figure = [r for r in rows if key(r) is not None]
    return sorted(with_figure, key=key, reverse=True) + [r for r in rows if key(r) is None]


def ratio(part: Decimal, whole: Decimal | int) -> float | None:
    """part / whole rounded to RATIO_PLACES; None for nothing in the whole."""
    return round(float(part / whole), RATIO_PLACES) if whole > 0 else None


def log_returns(candles: Sequence[Candle], width_ms: int) -> dict[int, float]:
    """ln(close / previous close) keyed by bucket start, only where the previous bucket has a candle too: a bucket
    without trades leaves a hole, and the return across the hole is not a `width_ms` return."""
    out: dict[int, float] = {}
    previous: tuple[int, float] | None = None
    for candle in candles:
        close = positive_float(candle.close)
        if close is None:
            previous = None
            continue
        if previous is not None and candle.time_ms - previous[0] == width_ms:
            out[candle.time_ms] = math.log(close / previous[1])
        previous = (candle.time_ms, close)
    return out


def stdev(values: Sequence[float]) -> float | None:
    """Sample standard deviation (n - 1); None below two values."""
    n = len(values)
    if n < 2:
        return None
    mean = sum(values) / n
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))


def annualized(volatility: float, width_ms: int) -> float:
    return volatility * math.sqrt(YEAR_MS / width_ms)


def pearson(a: Mapping[int, float], b: Mapping[int, float]) -> tuple[float | None, int]:
    """Pearson correlation over the buckets both have, and how many that is; None below two buckets or when one
    side does not move. Deviations from the means are taken first (no cancellation between large sums); the sums
    of products run in C (map, operator.mul): a 10x10 matrix over a week of hours is 45 of these."""
    common = a.keys() & b.keys()
    n = len(common)
    if n < 2:
        return None, n
    keys = sorted(common)
    xs, ys = [a[k] for k in keys], [b[k] for k in keys]
    mx, my = sum(xs) / n, sum(ys) / n
    dx, dy = [x - mx for x in xs], [y - my for y in ys]
    sxx, syy = sum(map(mul, dx, dx)), sum(map(mul, dy, dy))
    if sxx == 0 or syy == 0:
        return None, n
    r = sum(map(mul, dx, dy)) / math.sqrt(sxx * syy)
    return round(max(-1.0, min(1.0, r)), RATIO_PLACES), n


def correlation(returns: Sequence[Mapping[int, float]]) -> tuple[list[list[float | None]], list[list[int]]]:
    """The matrix of pairwise correlations and the matrix of buckets each pair used."""
    size = len(returns)
    matrix: list[list[float | None]] = [[None] * size for _ in range(size)]
    used = [[0] * size for _ in range(size)]
    for i in range(size):
        for j in range(i, size):
            matrix[i][j], used[i][j] = pearson(returns[i], returns[j])
            matrix[j][i], used[j][i] = matrix[i][j], used[i][j]
    return matrix, used


def daily_returns(days: Sequence[Candle], mode: str) -> list[list]:
    """[day start, percent] per daily candle, exact Decimal arithmetic rounded to PCT_PLACES. day-on-day: the close
    against the previous candle's close (the first day: against its own open); day-to-first: the close against the
    first day's open."""
    if not days:
        return []
    first_open = Decimal(days[0].open)
    previous = first_open
    out: list[list] = []
    for candle in days:
        close = Decimal(candle.close)
        base = previous if mode == "day-on-day" else first_open
        out.append([candle.time_ms, pct(close - base, base)])
        previous = close
    return out


def spread_points(a: Sequence[Candle], b: Sequence[Candle]) -> list[list]:
    """[bucket, a - b (exact), (a - b) / b percent] on the buckets both have, from the candles' closes."""
    closes_b = {c.time_ms: c.close for c in b}
    out = []
    for candle in a:
        other = closes_b.get(candle.time_ms)
        if other is not None:
            out.append([candle.time_ms, *spread(candle.close, other)])
    return out


def spread(a: str, b: str) -> tuple[str, float | None]:
    """a - b exactly and as a percent of b."""
    x, y = Decimal(a), Decimal(b)
    return plain(x - y), pct(x - y, y)


def pct(part: Decimal, whole: Decimal) -> float | None:
    """part / whole in percent, rounded to PCT_PLACES; None for a zero whole."""
    if whole == 0:
        return None
    return float(round(part * HUNDRED / whole, PCT_PLACES))


def plain(value: Decimal) -> str:
    """An exact decimal written without exponent (1E+1 -> 10), trailing zeros kept as the data wrote them."""
    return format(value, "f")


def window_start(end_ms: int, window_ms: int, width_ms: int = MINUTE_MS) -> int:
    """The first bucket of a window ending at end_ms: `window_ms` back, whole buckets (the open one counts)."""
    return bucket_start(end_ms, width_ms) - window_ms + width_ms
