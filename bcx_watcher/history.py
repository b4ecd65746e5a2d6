"""The history manager: compaction of closed intervals into candles, tiered retention and the memory ceiling.

Compaction. Every chunk chain keeps a "written since" marker (ChunkKeys.written): the lowest score added or
replaced since the watcher last took it, kept by the write script itself, so a late or backfilled tick that lands
in an interval already compacted is noticed however old it is. Each candle tier is built from the tier before it
(1m from raw ticks, 1h from 1m candles, 1d from 1h candles): a pass moves the source's marker into the product's
watch hash (`dirty:<tier>`, atomically, keeping the lower of the two), then recomputes every closed bucket from
that bucket on and writes the candles with replace semantics. So compaction is idempotent, and a rewritten
candle marks the next tier dirty in turn. A bucket is closed once the product has a tick in a later bucket
(exchange time, not the wall clock, so a replay compacts like the live feed). The open bucket stays dirty.

A tier added to an existing store (5m and 15m between 1m and 1h, say) is built from its source's oldest entry: the
first pass of a watcher that finds a tier with nothing stored over a source that has data marks it dirty from
there, and the build goes on oldest first, a few spans per pass, as any long recompute does (bcx-web reads the
coarse tier up to its newest bucket and the finer ones after it, so a half-built tier still answers). Where the
source was trimmed (its floor) the new tier starts at its first whole bucket, and that start becomes the new
tier's own floor, so the tiers above it never rebuild a bucket from part of its span. Until the new tiers are
built, a coarser tier whose source they now are (1h from 15m) is rebuilt only where they have candles.

Raw ticks win: a 1-minute bucket that has raw ticks is written from them, replacing a candle backfilled from the
REST API for that minute; a minute without raw ticks keeps the backfilled candle (which has no trade count).
A backfilled 1m candle marks the 1m chain written, so the 1h and 1d candles above it are recomputed.

Retention. Each tier keeps `[watcher] retention` back from the newest sample of its own series (not the wall
clock: a replayed 2021 file does not vanish) that is not in the future of the wall clock by more than
`[tracker] max_clock_skew` (one bogus sample from year 9999 must not trim the real history). Trimming drops whole
chunks where it can (ChunkedSets.trim_before) and never removes what is not compacted yet. A bucket whose source
was partly trimmed is never recomputed (the source's trim cutoff is kept as `floor:<tier>`), so a late tick older
than the raw retention cannot replace a full candle with one made of that tick alone.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import redis

from bcx.candles import Candle, CandleStore, bucket_start, combine, interval_ms, rollup
from bcx.keys import ChunkKeys
from bcx.store import TickStore
from bcx.tick import RAW

log = logging.getLogger(__name__)

READ_SPAN_MS = 6 * 3_600_000  # raw ticks are read for compaction six hours at a time
SPANS_PER_PASS = 4  # at most this many reads per tier and pass: a long recompute goes on over several passes
_DIRTY, _FLOOR = "dirty:", "floor:"

# Move the source's "written since" marker into the watch hash, keeping the lower; return what is pending there.
_TAKE_WRITTEN = """
local written = redis.call('GET', KEYS[1])
if written then
  local pending = redis.call('HGET', KEYS[2], ARGV[1])
  if not pending or tonumber(written) < tonumber(pending) then redis.call('HSET', KEYS[2], ARGV[1], written) end
  redis.call('DEL', KEYS[1])
end
return redis.call('HGET', KEYS[2], ARGV[1])
"""


@dataclass(frozen=True)
class Tier:
    """One candle interval and the series it is built from (RAW, or the finer interval before it)."""

    name: str
    width_ms: int
    source: str


def tiers_of(intervals: Sequence[str]) -> list[Tier]:
    return [Tier(name, interval_ms(name), intervals[i - 1] if i else RAW) for i, name in enumerate(intervals)]


def compaction_range(since: int, floor: int | None, newest_ms: int, width_ms: int) -> tuple[int, int]:
    """[lo, hi): the closed buckets to recompute when everything from `since` on is dirty, skipping buckets the
    source no longer holds whole (below `floor`) and the open bucket (the one holding the newest tick)."""
    lo = bucket_start(since, width_ms)
    if floor is not None and lo < floor:
        lo = -(-floor // width_ms) * width_ms  # the first bucket that starts at or after the floor
    return lo, bucket_start(newest_ms, width_ms)


def retention_cutoff(newest_ms: int, retention_s: float | None, keep_from: int | None = None) -> int | None:
    """Entries older than this go: `retention_s` back from the series' newest sample, never at or past
    `keep_from` (what is still needed: uncompacted ticks, ticks the rules have not seen). None: keep all."""
    if retention_s is None:
        return None
    cutoff = newest_ms - int(retention_s * 1000)
    return cutoff if keep_from is None else min(cutoff, keep_from)


def memory_cutoff(chunks: Sequence[tuple[int, int]], max_bytes: int) -> tuple[int | None, int]:
    """Given (first score, bytes) of each chunk oldest first: the cutoff that drops the fewest oldest chunks to
    get under max_bytes (never the newest chunk), and the bytes it frees. (None, 0) when already under."""
    total = sum(size for _, size in chunks)
    freed = 0
    for i in range(len(chunks) - 1):
        if total - freed <= max_bytes:
            break
        freed += chunks[i][1]
        if total - freed <= max_bytes or i == len(chunks) - 2:
            return chunks[i + 1][0], freed
    return None, 0


class History:
    """Compaction and trimming for one watcher; every method works on one product at a time."""

    def __init__(self, conn: redis.Redis, ticks: TickStore, candles: CandleStore, intervals: Sequence[str]):
        self.conn = conn
        self.ticks = ticks
        self.candles = candles
        self.tiers = tiers_of(intervals)
        self._take = conn.register_script(_TAKE_WRITTEN)
        self._looked: set[tuple[str, str]] = set()  # (product, tier) checked for being new (see _from_oldest)

    def chain(self, product: str, series: str) -> ChunkKeys:
        keys = self.ticks.keys(product)
        return keys.ticks if series == RAW else keys.candles(series)

    def compact(self, product: str) -> int:
        """Recompute every dirty closed bucket of every tier, finest first; returns how many candles were written."""
        newest = self.ticks.latest(product)
        if newest is None:
            return 0
        keys = self.ticks.keys(product)
        written = 0
        for tier in self.tiers:
            since = self._take(
                keys=[self.chain(product, tier.source).written, keys.watch_state], args=[_DIRTY + tier.name]
            )
            if (product, tier.name) not in self._looked:
                self._looked.add((product, tier.name))
                since = self._from_oldest(product, tier, since)
            if since is None:
                continue
            floor = self.conn.hget(keys.watch_state, _FLOOR + tier.source)
            lo, hi = compaction_range(int(since), None if floor is None else int(floor), newest.time_ms, tier.width_ms)
            if lo > bucket_start(int(since), tier.width_ms) and self._empty(product, tier.name):
                self._raise_floor(product, tier.name, lo)  # a new tier over a trimmed source starts cut there
            if lo >= hi:
                continue
            span = self._span(tier)
            hi = min(hi, lo + SPANS_PER_PASS * span)  # the rest waits for the next pass, so the loop stays lively
            written += self._rebuild(product, tier, lo, hi, span)
            self.conn.hset(keys.watch_state, _DIRTY + tier.name, hi)  # from here on may still change
        return written

    def _from_oldest(self, product: str, tier: Tier, since: bytes | int | None) -> int | None:
        """Where a tier's compaction starts: `since`, or the source's oldest entry when the tier has nothing stored
        (a tier added to an existing store is built from all of its source's history)."""
        if not self._empty(product, tier.name):
            return None if since is None else int(since)
        oldest = self.ticks.chunks.oldest_score(self.chain(product, tier.source))
        if oldest is None or since is None:
            return oldest if since is None else int(since)
        return min(int(since), oldest)

    def _empty(self, product: str, series: str) -> bool:
        return self.ticks.chunks.oldest_score(self.chain(product, series)) is None

    @staticmethod
    def _span(tier: Tier) -> int:
        """How much of the source one read covers: whole buckets, about six hours of raw ticks or 100 buckets."""
        return max(READ_SPAN_MS // tier.width_ms, 1) * tier.width_ms if tier.source == RAW else 100 * tier.width_ms

    def _rebuild(self, product: str, tier: Tier, lo: int, hi: int, span: int) -> int:
        written = 0
        for start in range(lo, hi, span):
            end = min(start + span, hi) - 1
            candles = self._build(product, tier, start, end)
            self.candles.put(product, tier.name, candles)
            written += len(candles)
        return written

    def _build(self, product: str, tier: Tier, start: int, end: int) -> list[Candle]:
        if tier.source == RAW:
            return rollup(self.ticks.range(product, start, end), tier.width_ms)
        return combine(self.candles.range(product, tier.source, start, end), tier.width_ms)

    def pending(self, product: str, tier: str) -> int | None:
        """Where the next compaction of `tier` starts, if anything of it is waiting."""
        value = self.conn.hget(self.ticks.keys(product).watch_state, _DIRTY + tier)
        return None if value is None else int(value)

    def trim(
        self,
        product: str,
        retention: dict[str, float | None],
        keep_raw_from: int | None,
        newest_at_most: int | None = None,
    ) -> dict[str, int]:
        """Apply each tier's retention; returns entries removed by series. `keep_raw_from`: raw ticks the rules
        still need. Nothing that the next tier has not compacted yet is removed. `newest_at_most` (the wall clock
        plus the allowed skew): retention counts from the newest sample at or before it, so that one sample from
        the far future cannot make the whole real history look old."""
        removed = {}
        series = [RAW, *(tier.name for tier in self.tiers)]
        for i, name in enumerate(series):
            chain = self.chain(product, name)
            newest = self.ticks.chunks.newest_score(chain, newest_at_most)
            if newest is None:
                continue
            keep = [keep_raw_from] if name == RAW and keep_raw_from is not None else []
            if i + 1 < len(series):
                self._take_pending(product, series[i + 1], name)
                pending = self.pending(product, series[i + 1])
                keep += [pending] if pending is not None else []
            cutoff = retention_cutoff(newest, retention.get(name), min(keep) if keep else None)
            if cutoff is None:
                continue
            removed[name] = self.ticks.chunks.trim_before(chain, cutoff)
            self._raise_floor(product, name, cutoff)
        if any(count for name, count in removed.items() if name != RAW):
            self.candles.mark_changed(product)  # once for every tier trimmed: readers that keep candles read again
        return removed

    def _take_pending(self, product: str, tier: str, source: str) -> None:
        """Fold a late write that arrived since the last compaction into the pending mark, so it is kept."""
        keys = self.ticks.keys(product)
        self._take(keys=[self.chain(product, source).written, keys.watch_state], args=[_DIRTY + tier])

    def _raise_floor(self, product: str, series: str, cutoff: int) -> None:
        state = self.ticks.keys(product).watch_state
        floor = self.conn.hget(state, _FLOOR + series)
        if floor is None or cutoff > int(floor):
            self.conn.hset(state, _FLOOR + series, cutoff)

    def enforce_memory(self, product: str, max_bytes: int) -> int:
        """Drop the oldest raw chunks while the product's raw ticks use more than max_bytes; returns ticks dropped."""
        chain = self.chain(product, RAW)
        cutoff, freed = memory_cutoff(self.ticks.chunks.chunk_memory(chain), max_bytes)
        if cutoff is None:
            return 0
        dropped = self.ticks.chunks.trim_before(chain, cutoff)
        self._raise_floor(product, RAW, cutoff)
        log.warning(
            "%s: raw ticks above max_memory %d bytes: dropped the oldest %d tick(s) before %d ms (about %d bytes)",
            product,
            max_bytes,
            dropped,
            cutoff,
            freed,
        )
        return dropped
