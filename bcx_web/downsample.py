"""Downsampling a series to what a chart can draw, and choosing the tier to read it from. Pure functions.

`min_max` keeps each bucket's lowest and highest point (in time order), so a spike that lasted one tick is still
on the chart: a line drawn from the result has the same envelope as one drawn from every point.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from bcx.candles import Candle
from bcx.tick import RAW

Point = tuple[int, str]  # (unix ms, exact value string)
Drawn = tuple[list[Point], int]  # candle_min_max's points of its first buckets, and how many buckets they are


def min_max(points: Sequence[Point], limit: int, values: Sequence[float] | None = None) -> list[Point]:
    """At most `limit` of `points` (time-ordered): per bucket of consecutive points its minimum and maximum.
    `values`: the points' values as floats when the caller has them already (candle_points does)."""
    if len(points) <= limit:
        return list(points)
    if values is None:
        values = [float(value) for _, value in points]  # once per point, not once per comparison
    if limit < 2:
        return [points[values.index(max(values))]] if limit == 1 else []
    kept: list[Point] = []
    for low, high in _extremes(values, values, limit // 2):
        if low == high:
            kept.append(points[low])
        else:
            kept += (points[low], points[high]) if low < high else (points[high], points[low])
    return kept


def _extremes(
    lows: Sequence[float],
    highs: Sequence[float],
    buckets: int,
    part: tuple[int, int, int, int] | None = None,
) -> Iterator[tuple[int, int]]:
    """Per bucket of consecutive indexes (`buckets` about equal ones), the index of the lowest of `lows` there and
    that of the highest of `highs` (the first of equal ones). `part` (count, first, stop, offset): only buckets
    [first, stop) of `count` indexes, `lows` and `highs` holding them from index `offset` on."""
    count, first, stop, offset = (len(lows), 0, buckets, 0) if part is None else part
    for index in range(first, stop):
        start, end = index * count // buckets, (index + 1) * count // buckets
        bucket = lows[start - offset : end - offset]
        low = start + bucket.index(min(bucket))
        bucket = highs[start - offset : end - offset]
        yield low, start + bucket.index(max(bucket))


def choose_tier(span_ms: int, points: int, tiers: Sequence[tuple[str, int]]) -> str:
    """The coarsest tier (name, width ms) that still gives `points` points over `span_ms`, else raw ticks. A candle
    gives two (candle_points: its low and its high), so a month drawn in 1,000 points reads 720 hourly candles, not
    43,200 minute ones: min_max keeps 500 buckets of a low and a high, each about 1.4 hours wide."""
    for name, width in sorted(tiers, key=lambda tier: -tier[1]):
        if 2 * (span_ms // width) >= points:
            return name
    return RAW


def candle_points(
    candles: Sequence[Candle], width_ms: int, first_ms: int | None = None, last_ms: int | None = None
) -> tuple[list[Point], list[float]]:
    """Two points per candle, its extremes in the order the price most likely met them (low first when it
    closed up), the second half a bucket later so that times stay distinct; and their values as floats, for
    min_max (computed once per candle: see Candle.drawing). Times are kept within [first_ms, last_ms] (the
    range asked for and the data there is): a day candle of three hours of ticks must not draw a point twelve
    hours after the newest tick, nor before the range's start."""
    points: list[Point] = []
    values: list[float] = []
    half = width_ms // 2
    for candle in candles:
        low, high, rising = candle.drawing
        time_ms = candle.time_ms
        if rising:
            points += ((time_ms, candle.low), (time_ms + half, candle.high))
            values += (low, high)
        else:
            points += ((time_ms, candle.high), (time_ms + half, candle.low))
            values += (high, low)
    return _clamped(points, first_ms, last_ms), values


def candle_min_max(
    candles: Sequence[Candle],
    width_ms: int,
    limit: int,
    first_ms: int | None = None,
    last_ms: int | None = None,
    drawn: Drawn | None = None,
) -> list[Point]:
    """At most `limit` points drawing `candles`: candle_points when they fit, else per bucket of consecutive
    candles the lowest low and the highest high, each at the time candle_points gives it, in time order. What
    min_max(candle_points(...)) draws, without making two points of every candle first (a day of 1m candles is
    2,880 of them for 1,000 kept). `drawn`: closed_drawing's of the same first candles and as many in all, whose
    buckets are not drawn again."""
    if 2 * len(candles) <= limit or limit < 2:
        points, values = candle_points(candles, width_ms, first_ms, last_ms)
        return min_max(points, limit, values)
    buckets = limit // 2
    kept, first_bucket = ([], 0) if drawn is None else (list(drawn[0]), drawn[1])
    kept += _drawn_buckets(candles, width_ms, buckets, first_bucket, buckets)
    return _clamped(kept, first_ms, last_ms)


def closed_drawing(
    candles: Sequence[Candle], width_ms: int, limit: int, closed: int, drawn: Drawn | None = None
) -> Drawn | None:
    """candle_min_max's points (not yet clamped) of the buckets that lie within the first `closed` candles, for
    the same candles (same count) with other candles after those: the part of a chart that does not change while
    only the open bucket does (bcx_web keeps it). None when the candles fit without buckets. `drawn`: this
    function's answer for as many candles with the same first ones up to fewer closed: its buckets are kept."""
    count = len(candles)
    if 2 * count <= limit or limit < 2:
        return None
    buckets = limit // 2
    whole = sum(1 for index in range(buckets) if (index + 1) * count // buckets <= closed)
    kept, first = ([], 0) if drawn is None else drawn
    return kept + _drawn_buckets(candles, width_ms, buckets, first, whole), whole


def _drawn_buckets(candles: Sequence[Candle], width_ms: int, buckets: int, first: int, stop: int) -> list[Point]:
    """The points of buckets [first, stop) of `buckets` over `candles` (see candle_min_max)."""
    half, count = width_ms // 2, len(candles)
    offset = first * count // buckets
    drawings = [candle.drawing for candle in candles[offset : stop * count // buckets]]
    lows = [drawing[0] for drawing in drawings]
    highs = [drawing[1] for drawing in drawings]
    kept: list[Point] = []
    for low, high in _extremes(lows, highs, buckets, (count, first, stop, offset)):
        if low == high:  # one candle holds both: its two points, as candle_points orders them
            candle = candles[low]
            if drawings[low - offset][2]:
                kept += ((candle.time_ms, candle.low), (candle.time_ms + half, candle.high))
            else:
                kept += ((candle.time_ms, candle.high), (candle.time_ms + half, candle.low))
            continue
        low_candle, high_candle = candles[low], candles[high]
        low_point = (low_candle.time_ms + (0 if drawings[low - offset][2] else half), low_candle.low)
        high_point = (high_candle.time_ms + (half if drawings[high - offset][2] else 0), high_candle.high)
        kept += (low_point, high_point) if low < high else (high_point, low_point)
    return kept


def _clamped(points: list[Point], first_ms: int | None, last_ms: int | None) -> list[Point]:
    """Points with times kept within [first_ms, last_ms]; only the first and the last candle's points can be
    outside (buckets are aligned down to their width, and the last one is drawn half a width on)."""
    if not points:
        return points
    low_bound = points[0][0] if first_ms is None else first_ms
    high_bound = points[-1][0] if last_ms is None else last_ms
    for index in (0, 1, -2, -1)[: len(points)]:
        time_ms, value = points[index]
        points[index] = (min(max(time_ms, low_bound), high_bound), value)
    return points
