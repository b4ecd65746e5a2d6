"""Market analytics under /api/v1.0/: rankings, daily returns, correlation and cross-exchange spread.

Thin views: parameters through bcx_web.declared, candles through bcx.candle_source (the stored tiers, and raw
ticks only for the open interval), figures from the pure bcx.analytics.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from flask import Blueprint, current_app

from bcx import analytics
from bcx.analytics import MINUTE_MS
from bcx.candle_source import read_candles, sources_for
from bcx.candles import Candle, bucket_start, combine, interval_ms
from bcx.series import split
from bcx_web import declared, params
from bcx_web.api import get_candles, get_config, get_store, now_ms, stored_intervals, trusted_latest
from bcx_web.cache import FreshCache
from bcx_web.rank_source import MinuteSummaries

bp = Blueprint("analytics", __name__, url_prefix="/api/v1.0")

RETURNS_SPAN_MS = 30 * analytics.DAY_MS
SPREAD_SPAN_MS = analytics.DAY_MS
SUMMARIES_KEY = "bcx_minute_summaries"
OLDEST_KEY = "bcx_oldest_cache"
OLDEST_TTL_S = 600.0
CLOSED_KEY = "bcx_closed_buckets"
OPEN_KEY = "bcx_open_buckets"
MATRIX_KEY = "bcx_correlation"  # the last matrix asked for, while no series traded (at most CLOSED_TTL_S)
CLOSED_TTL_S = 60.0  # a backfill into a closed bucket shows within this
MIN_BUCKETS = 3  # two returns: the least a correlation needs


def newest_ticks(series: Sequence[str], end: int | None) -> tuple[int, dict[str, tuple[int, int] | None]]:
    """The end (given, else the newest trusted tick of the series, else now) and each series' newest tick as
    (time, trade id): what tells a cached open bucket is still right."""
    latest = trusted_latest(get_store(), series, now_ms())
    if end is None:
        end = max((t.time_ms for t in latest.values() if t), default=now_ms())
    return end, {one: None if t is None else (t.time_ms, t.trade_id) for one, t in latest.items()}


def candles_of(series: str, width_ms: int, start_ms: int, end_ms: int) -> list[Candle]:
    """Not through bcx_web.series.read_sources on purpose: analytics reads days of many series (50 series' 24 h
    of minutes is 72,000 candles), which would push the charts' candles out of the kept ones (30,000 a worker)."""
    config = get_config()
    read = read_candles(
        get_candles(), get_store(), series, width_ms, start_ms, end_ms, stored_intervals(), config.web.max_read
    )
    return read.candles


def minutes_of(series: str, first_ms: int, last_ms: int) -> list[Candle]:
    return candles_of(series, MINUTE_MS, first_ms, last_ms)


def check_retention(name: str, label: str, span_ms: int, width_ms: int) -> None:
    """400 naming `name` when no tier that can give `width_ms` candles keeps `span_ms` of them."""
    retention = get_config().watcher.retention
    tiers = [tier for tier, _ in sources_for(width_ms, stored_intervals())] or ["raw"]
    kept = [retention.get(tier) for tier in tiers]
    if None in kept:
        return
    longest = max(kept)
    if span_ms > longest * 1000:
        raise params.ParamError(
            f"{name}: {label} is beyond the retention of the {', '.join(tiers)} data ({longest:g}s, [watcher] "
            "retention)"
        )


@bp.get("/rankings")
def rankings() -> dict:
    """Every configured series (or `series=`) ranked over a window by one figure, largest first."""
    config = get_config()
    window, by = declared.RANK_WINDOW.read(config), declared.RANK_BY.read(config)
    series = declared.RANK_SERIES.read(config)
    end = declared.WINDOW_END.read(config)
    window_ms = analytics.WINDOWS[window]
    check_retention("window", window, window_ms, MINUTE_MS)
    end, versions = newest_ticks(series, end)
    start = analytics.window_start(end, window_ms)
    found = summaries().windows(end, window_ms, versions)
    rows = [analytics.summary_ranking(one, found[one], window_ms, covers(one, start, end)) for one in series]
    return {
        "window": window,
        "by": by,
        "start": start,
        "end": end,
        "rankings": [{**split(r.series).as_dict(), **r.as_dict()} for r in analytics.sort_rankings(rows, by)],
    }


def covers(series: str, start: int, end: int) -> bool:
    """Whether the series' stored data reaches back to `start` (its oldest time: retention moves it, so it is
    read again each hour, or after OLDEST_TTL_S)."""
    oldest = current_app.extensions.setdefault(OLDEST_KEY, FreshCache(ttl=OLDEST_TTL_S)).get(
        series,
        bucket_start(end, analytics.HOUR_MS),
        time.monotonic(),
        lambda: get_store().extent(series, stored_intervals())[0],
    )
    return oldest is not None and oldest <= start


@bp.get("/returns/<product>")
def returns(product: str) -> dict:
    """Daily returns from the daily candles (the open day from finer data), in percent."""
    config = get_config()
    series, mode = declared.PRODUCT.read(config), declared.RETURN_MODE.read(config)
    start, end = declared.RETURN_START.read(config), declared.WINDOW_END.read(config)
    end = newest_ticks((series,), end)[0]
    start, end = params.resolve_range(start, end, end, RETURNS_SPAN_MS)
    params.capped_span(start, end, analytics.DAY_MS * config.web.max_points)
    days = candles_of(series, analytics.DAY_MS, start, end)
    closes = {c.time_ms: c.close for c in days}
    return {
        **split(series).as_dict(),
        "mode": mode,
        "start": start,
        "end": end,
        "places": analytics.PCT_PLACES,
        "returns": [[t, closes[t], pct] for t, pct in analytics.daily_returns(days, mode)],
    }


@bp.get("/correlation")
def correlation() -> dict:
    """Pearson correlations of the series' log returns over a window, pair by pair on the buckets both have."""
    config = get_config()
    series = declared.CORR_SERIES.read(config)
    window, interval = declared.CORR_WINDOW.read(config), declared.CORR_INTERVAL.read(config)
    window_ms, width = analytics.WINDOWS[window], interval_ms(interval)
    if window_ms < MIN_BUCKETS * width:
        raise params.ParamError(
            f"interval: {interval} is too coarse for the {window} window (it must fit at least {MIN_BUCKETS} times)"
        )
    check_retention("window", window, window_ms, width)
    end, versions = newest_ticks(series, declared.WINDOW_END.read(config))
    start = analytics.window_start(end, window_ms, width)
    matrix, used = current_app.extensions.setdefault(MATRIX_KEY, FreshCache(ttl=CLOSED_TTL_S)).get(
        "matrix",  # one entry: the last question asked, kept while its answer holds
        (series, window, interval, end, tuple(versions.values())),
        time.monotonic(),
        lambda: matrix_of(bucket_candles(series, width, start, end, versions), width),
    )
    return {
        "series": list(series),
        "window": window,
        "interval": interval,
        "start": start,
        "end": end,
        "matrix": matrix,
        "buckets": used,
    }


def matrix_of(candles: list[list[Candle]], width: int) -> tuple[list[list[float | None]], list[list[int]]]:
    return analytics.correlation([analytics.log_returns(found, width) for found in candles])


def bucket_candles(
    series: Sequence[str], width: int, start: int, end: int, newest: dict[str, tuple[int, int] | None]
) -> list[list[Candle]]:
    """Each series' candles of `width` in [start, end]. The closed buckets are kept until the open one moves (at
    most CLOSED_TTL_S). The open bucket of a series whose newest tick is in the open minute is its closed minutes
    (kept for the minute) and that minute (bcx_web.rank_source: every such series in one read of the ticks after
    the last folded in); any other open bucket is read whole, and kept until the series trades again."""
    extensions, now = current_app.extensions, time.monotonic()
    opened, minute = bucket_start(end, width), bucket_start(end, MINUTE_MS)
    closed_cache = extensions.setdefault(CLOSED_KEY, FreshCache(ttl=CLOSED_TTL_S))
    open_cache = extensions.setdefault(OPEN_KEY, FreshCache(ttl=CLOSED_TTL_S))
    fresh = {one: tick for one, tick in newest.items() if tick is not None and minute <= tick[0] <= end}
    open_minutes = summaries().open_minutes(minute, end, fresh) if fresh else {}
    found = []
    for one in series:
        closed = closed_cache.get(
            f"{one}|{width}|{opened - start}", opened, now, lambda one=one: candles_of(one, width, start, opened - 1)
        )
        if one in fresh:
            minutes = open_cache.get(
                f"{one}|{width}|minutes", minute, now, lambda one=one: minutes_of(one, opened, minute - 1)
            )
            current = combine([*minutes, *filter(None, (open_minutes[one],))], width)
        else:
            current = open_cache.get(
                f"{one}|{width}", (opened, end, newest[one]), now, lambda one=one: candles_of(one, width, opened, end)
            )
        found.append(closed + current)
    return found


def summaries() -> MinuteSummaries:
    """The worker's summaries of minutes (bcx_web.rank_source), shared by rankings and correlation."""
    return current_app.extensions.setdefault(SUMMARIES_KEY, MinuteSummaries(minutes_of, get_store().range_many))


@bp.get("/spread")
def spread() -> dict:
    """The first series' price less the second's over time (bucket closes), and now (the newest ticks)."""
    config = get_config()
    series = declared.SPREAD_SERIES.read(config)
    points = declared.POINTS.read(config)
    start, end = declared.SPREAD_START.read(config), declared.WINDOW_END.read(config)
    end = newest_ticks(series, end)[0]
    start, end = params.resolve_range(start, end, end, SPREAD_SPAN_MS)
    width = spread_width(end - start, points)
    first, second = (candles_of(one, interval_ms(width), start, end) for one in series)
    latest = trusted_latest(get_store(), series, now_ms())
    a, b = latest[series[0]], latest[series[1]]
    current = None
    if a is not None and b is not None:
        difference, percent = analytics.spread(a.price, b.price)
        current = {"time": max(a.time_ms, b.time_ms), "a": a.price, "b": b.price}
        current |= {"difference": difference, "percent": percent}
    return {
        "series": list(series),
        "start": start,
        "end": end,
        "interval": width,
        "current": current,
        "points": analytics.spread_points(first, second)[-points:],
    }


def spread_width(span_ms: int, points: int) -> str:
    """The finest candle interval that draws the span in at most `points` buckets (the coarsest otherwise)."""
    for name in declared.INTERVALS:
        if span_ms // interval_ms(name) + 1 <= points:
            return name
    return declared.INTERVALS[-1]
