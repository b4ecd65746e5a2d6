"""A product's series (price, bid, ask, mid or spread) over a range, downsampled, from the cheapest tier that
draws it faithfully; percent-change series for /compare; the rolling 24h figures of /products.

Only the trade price has candles, so bid, ask, mid and spread always come from raw ticks (bounded by max_read).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from bcx.candle_source import CandleRead, ClosedCandles, OpenBuckets, read_candles
from bcx.candles import Candle, CandleStore, interval_ms
from bcx.store import TickStore
from bcx.tick import Tick
from bcx_web.cache import KeptDrawings
from bcx_web.downsample import RAW, Drawn, Point, candle_min_max, choose_tier, min_max

FIELDS = ("price", "bid", "ask", "mid", "spread")
DAY_MS = 86_400_000
# /products is polled by every page and dashboard, so its 24h figures read at most this many raw ticks. With the
# watcher's candles stored, the raw part is the open minute and never comes near it.
DAY_READ_CAP = 20_000


@dataclass(frozen=True)
class Series:
    tier: str
    points: list[Point]
    truncated: bool
    base: str | None = None  # the first trade price of the range (the open of its first candle)


@dataclass(frozen=True)
class Sources:
    ticks: TickStore
    candles: CandleStore
    stored: Sequence[str]  # the intervals the watcher stores
    max_read: int
    open_buckets: OpenBuckets | None = None  # the open minute's candle kept between reads (bcx_web.cache)
    closed: ClosedCandles | None = None  # the closed candles kept between reads (bcx_web.cache)
    drawings: KeptDrawings | None = None  # the points drawn from them (bcx_web.cache)


def read_sources(
    src: Sources, product: str, width: int, start: int, end: int, cap: int | None = None, extent: bool = False
) -> CandleRead:
    """read_candles() through the web's stores and kept candles (at most `cap`, else max_read)."""
    return read_candles(
        src.candles,
        src.ticks,
        product,
        width,
        start,
        end,
        src.stored,
        cap or src.max_read,
        src.open_buckets,
        src.closed,
        extent=extent,
    )


def tick_value(tick: Tick, field: str) -> str | None:
    """The field's exact value; mid and spread are computed in Decimal; None when the tick lacks the book."""
    if field == "price":
        return tick.price
    if field in ("bid", "ask"):
        return getattr(tick, field)
    if tick.bid is None or tick.ask is None:
        return None
    bid, ask = Decimal(tick.bid), Decimal(tick.ask)
    return format((bid + ask) / 2 if field == "mid" else ask - bid, "f")  # str() may write 1E+2 for a mid of 100


def read_series(src: Sources, product: str, field: str, start: int, end: int, points: int) -> Series:
    """The tier is chosen for the part of the range that holds data: `start=0` (the page's "all") over a few hours
    of ticks reads ticks, not one daily candle drawn as two points. The data's extent comes with the candle read:
    the tier the whole range asks for is read first, and another only when the extent narrows the range to a
    finer one (a narrower range never asks for a coarser tier, and raw ticks need no extent)."""
    tiers = [(name, interval_ms(name)) for name in src.stored] if field == "price" else []
    tier = choose_tier(max(end - start, 0), points, tiers)
    while tier != RAW:
        width = interval_ms(tier)
        read = read_sources(src, product, width, start, end, extent=True)
        oldest, newest = read.extent
        first = start if oldest is None else max(start, oldest)
        last = end if newest is None else min(end, max(newest, first))
        narrowed = choose_tier(max(last - first, 0), points, tiers)
        if narrowed == tier:
            base = read.candles[0].open if read.candles else None
            drawn = _closed_drawing(src, product, read, width, points)
            return Series(tier, candle_min_max(read.candles, width, points, first, last, drawn), read.truncated, base)
        tier = narrowed
    limit = src.max_read + 1
    ticks = src.ticks.range(product, start, end, limit)
    truncated = len(ticks) > src.max_read
    ticks = ticks[: src.max_read]
    raw = [(t.time_ms, v) for t in ticks if (v := tick_value(t, field)) is not None]
    base = ticks[0].price if ticks else None
    return Series(RAW, min_max(raw, points), truncated, base)


def _closed_drawing(src: Sources, product: str, read: CandleRead, width: int, points: int) -> Drawn | None:
    """The points of the read's closed buckets, from those drawn for the product's last chart alike."""
    if src.drawings is None:
        return None
    return src.drawings.drawn((product, width, points), read.candles, read.closed, width, points)


def percent_points(series: Series) -> list[list]:
    """[time, percent change from the range's first trade] with 4 decimals, as numbers for a chart."""
    if series.base is None or Decimal(series.base) == 0:
        return []
    base = Decimal(series.base)
    return [[t, float(round((Decimal(v) / base - 1) * 100, 4))] for t, v in series.points]


def day_stats(candles: Sequence[Candle], close: str | None = None) -> dict | None:
    """open, high, low, close, change (percent, 2 decimals, as a string) and volume over the given candles.

    With `close` (the newest price) the candles are incomplete (a capped read): open, close and change are still
    exact, high, low and volume are unknown (None), and `complete` says so."""
    if not candles:
        return None
    open_ = candles[0].open
    last = close or candles[-1].close
    change = (Decimal(last) / Decimal(open_) - 1) * 100 if Decimal(open_) else Decimal(0)
    whole = close is None
    return {
        "open": open_,
        "high": max((c.high for c in candles), key=Decimal) if whole else None,
        "low": min((c.low for c in candles), key=Decimal) if whole else None,
        "close": last,
        "change": f"{change:.2f}",
        "volume": str(sum((Decimal(c.volume) for c in candles), Decimal(0))) if whole else None,
        "complete": whole,
    }


def read_day(src: Sources, product: str, newest: Tick) -> dict | None:
    """The 24 hours up to the newest tick, from hourly candles (the first hour counted whole)."""
    hour, end = interval_ms("1h"), newest.time_ms
    cap = min(src.max_read, DAY_READ_CAP)
    read = read_sources(src, product, hour, end - DAY_MS, end, cap)
    return day_stats(read.candles, newest.price if read.truncated else None)
