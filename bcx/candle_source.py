"""Candles of any interval (the API, the analytics, the watcher's rules): stored candles where the watcher wrote
them, the rest from raw ticks.

The watcher stores closed buckets of a few intervals (`[watcher] candles`, 1m, 5m, 15m, 1h, 6h and 1d by
default). A request for interval W reads, coarsest first, every stored interval that divides W: the coarse tier
covers the range up to its newest stored bucket, the next finer tier continues from there, and raw ticks fill
the rest (the open interval, or everything when nothing is stored yet), all in one Lua call. All of it is then
combined into W-wide candles, exactly: prices stay the trades' strings and volumes are Decimal sums (bcx.candles).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bcx.candles import Candle, CandleStore, RunningCandle, bucket_start, combine, interval_ms, rollup
from bcx.config import DEFAULTS
from bcx.store import TickStore
from bcx.tick import Tick

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
    open_buckets: OpenBuckets | None = None,
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
        truncated = truncated or (max_read is not None and len(read.ticks) > max_read)
        entries = read.ticks[:max_read]
        if open_buckets is None:
            parts.extend(rollup([ticks.decode(product, member, time_ms) for member, time_ms in entries], finest))
        else:
            parts.extend(open_buckets.rollup(product, entries, finest, ticks.decode))
        widths.add(finest)
    # Parts that all have the asked width (1m candles for 1m) are already the answer: in order, one per bucket.
    return CandleRead(parts if widths <= {width_ms} else combine(parts, width_ms), truncated)


def _bucket_end(time_ms: int, width_ms: int) -> int:
    """The last millisecond of the bucket holding time_ms: the open bucket is read whole, up to now."""
    return bucket_start(time_ms, width_ms) + width_ms - 1


@dataclass(frozen=True)
class _Rolled:
    start: int
    members: list[str]  # in the store's order (time, then member)
    running: RunningCandle  # never changed once kept: a later read extends a copy


class OpenBuckets:
    """Per process: each product's last raw bucket as a read rolled it up, with the members it held. A later read
    of the same bucket whose members start with those (new trades come after them in the store's order) rolls in
    only the new ones: the open minute's few hundred trades are otherwise decoded and summed in Decimal on every
    request. Anything else (a late trade that sorts between them, a trimmed one, another bucket, several buckets)
    is rolled up afresh, so the answer is always `rollup` of exactly the members read. A candle is a function of
    its members alone, so this holds whichever store they came from."""

    def __init__(self) -> None:
        self._kept: dict[tuple[str, int], _Rolled] = {}  # at most one per product and width

    def rollup(
        self, product: str, entries: Sequence[tuple[str, int]], width_ms: int, decode: Callable[[str, str, int], Tick]
    ) -> list[Candle]:
        """`rollup` of the ticks of (member, time ms) `entries`, in the store's order."""
        if not entries:
            return []
        start = bucket_start(entries[0][1], width_ms)
        if bucket_start(entries[-1][1], width_ms) != start:
            return rollup([decode(product, member, time_ms) for member, time_ms in entries], width_ms)
        members = [member for member, _ in entries]
        kept = self._kept.get((product, width_ms))
        if kept is not None and kept.start == start and members[: len(kept.members)] == kept.members:
            running, new = kept.running.copy(), entries[len(kept.members) :]
        else:
            running, new = RunningCandle(start), entries
        for member, time_ms in new:
            running.add(decode(product, member, time_ms))
        self._kept[(product, width_ms)] = _Rolled(start, members, running)
        return [running.candle()]
