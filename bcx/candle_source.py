"""Candles of any interval (the API, the analytics, the watcher's rules): stored candles where the watcher wrote
them, the rest from raw ticks.

The watcher stores closed buckets of a few intervals (`[watcher] candles`, 1m, 5m, 15m, 1h, 6h and 1d by
default). A request for interval W reads, coarsest first, every stored interval that divides W: the coarse tier
covers the range up to its newest stored bucket, the next finer tier continues from there, and raw ticks fill
the rest (the open interval, or everything when nothing is stored yet), all in one Lua call. All of it is then
combined into W-wide candles, exactly: prices stay the trades' strings and volumes are Decimal sums (bcx.candles).
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import attrgetter

from bcx.candles import Candle, CandleStore, RunningCandle, TierPlan, bucket_start, combine, interval_ms, rollup
from bcx.config import DEFAULTS
from bcx.store import TickStore
from bcx.tick import Tick

DEFAULT_STORED = DEFAULTS.watcher.candles  # what the watcher stores by default
# With kept closed candles that are current, the raw ticks are read in the plan's round trip when they lie in at
# most this many chunks (62 ticks each): the open minute of a busy product, at ~1 us of the server's time a tick
# copied (a plain read in a second round trip costs ~0.5 us a tick).
RAW_CHUNKS_IN_PLAN = 16
_TIME = attrgetter("time_ms")


@dataclass(frozen=True)
class CandleRead:
    candles: list[Candle]
    truncated: bool  # a part hit the read cap: candles after it may be missing or missing trades
    extent: tuple[int | None, int | None] = (None, None)  # the series' (oldest, newest), when asked for
    closed: int = 0  # how many of the first candles are made of the tiers' candles alone (not of raw ticks)


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
    closed: ClosedCandles | None = None,
    extent: bool = False,
) -> CandleRead:
    """Candles of width_ms whose bucket starts in [start_ms, end_ms] (start is aligned down to a bucket). Two round
    trips, however many tiers are stored; one when `closed` keeps what the tiers hold. A tier the store does not
    have yet (5m and 15m in a store written before them) reads as empty, and the finer tiers answer for it.
    `extent`: the read also tells the series' extent (TickStore.extent's, over `stored`), in the same round trip."""
    sources = sources_for(width_ms, stored)
    limit = None if max_read is None else max_read + 1
    start, raw_end = bucket_start(start_ms, width_ms), _bucket_end(end_ms, width_ms)
    kept_version = None if closed is None else closed.version(product, sources)
    extent_of = stored if extent else ()
    plan = candles.plan_tiers(product, sources, start, end_ms, raw_end, RAW_CHUNKS_IN_PLAN, extent_of, kept_version)
    kept = None if closed is None else closed.get(plan, max_read)
    earlier, since = (None, None) if closed is None or kept else closed.before_changes(plan, kept_version)
    read = candles.read_planned(plan, limit, tiers=kept is None, tiers_from=since)
    found_tiers = kept or read.candles
    if earlier is not None:  # the one tier: what was kept before the writes since, then what was read from there
        found_tiers = [earlier + read.candles[0]]
    parts: list[Candle] = []
    widths = set()
    truncated = False
    for (_, source_ms), found in zip(sources, found_tiers, strict=True):
        if found:
            truncated = truncated or (max_read is not None and len(found) > max_read)
            parts.extend(found[:max_read])
            widths.add(source_ms)
    if closed is not None and kept is None and not truncated:
        closed.keep(plan, found_tiers)
    raw: list[Candle] = []
    if read.raw_from <= end_ms:
        finest = sources[-1][1] if sources else width_ms
        truncated = truncated or (max_read is not None and len(read.ticks) > max_read)
        entries = read.ticks[:max_read]
        if open_buckets is None:
            raw = rollup([ticks.decode(product, member, time_ms) for member, time_ms in entries], finest)
        else:
            raw = open_buckets.rollup(product, entries, finest, ticks.decode)
        widths.add(finest)
    # Parts that all have the asked width (1m candles for 1m) are already the answer: in order, one per bucket.
    if widths <= {width_ms}:
        return CandleRead(parts + raw, truncated, plan.extent, len(parts))
    answer = combine(parts + raw, width_ms)
    # The combined candles before the first raw one's bucket are made of the tiers' candles alone.
    made_of_tiers = bisect_left(answer, bucket_start(raw[0].time_ms, width_ms), key=_TIME) if raw else len(answer)
    return CandleRead(answer, truncated, plan.extent, made_of_tiers)


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


@dataclass(frozen=True)
class _Closed:
    bounds: tuple[int, ...]
    end: int  # the end of the tiers' read
    version: str
    candles: list[list[Candle]]  # per tier, as the plan's read found them
    count: int


class ClosedCandles:
    """Per process: what the candle tiers held for the last read of each product and tier list, with the read's
    bounds (where each tier starts) and the candles' version (CandleStore.mark_changed). A read with the same
    version and the same bounds, or the same ones but a later start, finds the same candles: it takes them from
    here and reads only the raw ticks after them, in the plan's one round trip. A read of one tier from the same
    start after writes listed since (bcx.keys.SeriesKeys.candles_versions) takes the kept candles before the
    earliest bucket they wrote and reads the tier from there on. Every writer of the product's
    candles (the watcher's rollups of late ticks, its trims and retention, a backfill) changes the version after
    it writes, and a read takes the version before it reads any candle, so candles kept with a version are never
    older than what that version stands for; a store without a version keeps nothing.

    Bounded by `max_candles` in all (the lists hold the decode memo's objects, so mostly references): past it the
    oldest entries go."""

    def __init__(self, max_candles: int) -> None:
        self.max_candles = max_candles
        self._kept: dict[tuple[str, tuple], _Closed] = {}
        self._count = 0
        self._lock = threading.Lock()

    def get(self, plan: TierPlan, max_read: int | None = None) -> list[list[Candle]] | None:
        """The tiers' candles for `plan`, if kept (None otherwise)."""
        kept = self._kept.get((plan.product, plan.tiers))
        bounds = plan.bounds
        if kept is None or plan.version != kept.version or kept.bounds[1:] != bounds[1:] or bounds[0] < kept.bounds[0]:
            return None
        found = kept.candles
        if bounds[0] != kept.bounds[0] and found:  # a later start: the coarsest tier from there
            found = [found[0][bisect_left(found[0], bounds[0], key=_TIME) :], *found[1:]]
        if max_read is not None and any(len(candles) > max_read for candles in found):
            return None
        return found

    def before_changes(self, plan: TierPlan, kept_version: str | None) -> tuple[list[Candle] | None, int | None]:
        """For a read of one tier whose kept candles (of `kept_version`, from the same start) were changed since
        by writes listed with the version (plan.changed_from): the kept candles before the earliest of them (and
        within both reads' ends), which no write since touched, and the time to read the tier from."""
        kept = self._kept.get((plan.product, plan.tiers))
        if kept is None or kept.version != kept_version or plan.changed_from is None or len(plan.tiers) != 1:
            return None, None
        if plan.bounds[0] != kept.bounds[0]:
            return None, None
        since = min(plan.changed_from, kept.end + 1, plan.chunks[0][1] + 1)
        return kept.candles[0][: bisect_left(kept.candles[0], since, key=_TIME)], since

    def version(self, product: str, tiers: Sequence[tuple[str, int]]) -> str | None:
        """The version of the candles kept for the product and tiers, if any."""
        kept = self._kept.get((product, tuple(tiers)))
        return None if kept is None else kept.version

    def keep(self, plan: TierPlan, candles: list[list[Candle]]) -> None:
        count = sum(len(found) for found in candles)
        with self._lock:
            old = self._kept.pop((plan.product, plan.tiers), None)  # read again: what was kept is out of date
            self._count -= old.count if old else 0
            if plan.version is None or count > self.max_candles:
                return
            while self._kept and self._count + count > self.max_candles:
                self._count -= self._kept.pop(next(iter(self._kept))).count
            end = plan.chunks[0][1] if plan.chunks else plan.raw_from
            self._kept[(plan.product, plan.tiers)] = _Closed(plan.bounds, end, plan.version, candles, count)
            self._count += count

    @property
    def kept_candles(self) -> int:
        return self._count
