"""Candles of any interval (the API, the analytics, the watcher's rules): stored candles where the watcher wrote
them, the rest from raw ticks.

The watcher stores closed buckets of a few intervals (`[watcher] candles`, 1m, 5m, 15m, 1h, 6h and 1d by
default). A request for interval W reads, coarsest first, every stored interval that divides W: the coarse tier
covers the range up to its newest stored bucket, the next finer tier continues from there, and raw ticks fill
the rest (the open interval, or everything when nothing is stored yet), all in one Lua call. All of it is then
combined into W-wide candles, exactly: prices stay the trades' strings and volumes are Decimal sums (bcx.candles).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bcx.candles import Candle, CandleStore, bucket_start, combine, interval_ms, rollup
from bcx.config import DEFAULTS
from bcx.store import TickStore

DEFAULT_STORED = DEFAULTS.watcher.candles  # what the watcher stores by default


@dataclass(frozen=True)
class CandleRead:
    candles: list[Candle]
    truncated: bool  # a part hit the read cap: candles after it may be missing or missing trades


def sources_for(width_ms: int, stored: Sequence[str]) -> list[tuple[str, int]]:
    """The stored intervals usable for `width_ms` candles (those dividing it), coarsest first."""
    usable = [(name, interval_ms(name)) for name in stored]
    return sorted(((n, w) for n, w in usable if w <= width_ms and width_ms % w == 0), key=lambda nw: -nw[1])


def read_candles(
    candles: CandleStore,
    ticks: TickStore,
    product: str,
    width_ms: int,
    start_ms: int,
    end_ms: int,
    stored: Sequence[str] = DEFAULT_STORED,
    max_read: int | None = None,
) -> CandleRead:
    """Candles of width_ms whose bucket starts in [start_ms, end_ms] (start is aligned down to a bucket). One round
    trip, however many tiers are stored; a tier the store does not have yet (5m and 15m in a store written before
    them) reads as empty, and the finer tiers answer for it."""
    sources = sources_for(width_ms, stored)
    limit = None if max_read is None else max_read + 1
    start, raw_end = bucket_start(start_ms, width_ms), _bucket_end(end_ms, width_ms)
    read = candles.range_tiers(product, sources, start, end_ms, raw_end, limit)
    parts: list[Candle] = []
    widths = set()
    truncated = False
    for (_, source_ms), found in zip(sources, read.candles, strict=True):
        if found:
            truncated = truncated or (max_read is not None and len(found) > max_read)
            parts.extend(found[:max_read])
            widths.add(source_ms)
    if read.raw_from <= end_ms:
        finest = sources[-1][1] if sources else width_ms
        raw = [ticks.decode(product, member, time_ms) for member, time_ms in read.ticks]
        truncated = truncated or (max_read is not None and len(raw) > max_read)
        parts.extend(rollup(raw[:max_read], finest))
        widths.add(finest)
    # Parts that all have the asked width (1m candles for 1m) are already the answer: in order, one per bucket.
    return CandleRead(parts if widths <= {width_ms} else combine(parts, width_ms), truncated)


def _bucket_end(time_ms: int, width_ms: int) -> int:
    """The last millisecond of the bucket holding time_ms: the open bucket is read whole, up to now."""
    return bucket_start(time_ms, width_ms) + width_ms - 1
