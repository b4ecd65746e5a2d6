"""OHLCV candles: the pure rollup of ticks (or finer candles) into buckets, their member codec, and their store.

A candle's prices are the exact strings of the trades it summarises (open = first, close = last by time then
trade id; high and low compared as Decimal); its volume is the exact Decimal sum of the trade sizes. A candle
backfilled from the exchange's REST API has no trade count (None). Member: `t|open|high|low|close|volume|count`:
t is the bucket start in minutes in base 36 (`.` then milliseconds in base 36 for a start that is not a whole
minute): the score holds the time, t only keeps two equal candles of different buckets from being one member.
Open is the exact string, high is `high - open`, low `open - low` and close `close - open` in units of the open's
last digit (bcx.tick.offset: the literal after `=` when the decimals differ), so a 1-minute candle at BTC
~100,000 with an 8-decimal volume stays well under the 64-byte listpack limit.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

import redis

from bcx.chunks import READ_CHUNKS_PER_ROUND, REPLACE, ChunkedSets, _lua, chunk_base
from bcx.keys import ChunkKeys, SeriesKeys
from bcx.tick import Tick, base36, from_offset, offset

# Writes of a series' candles listed with their versions (SeriesKeys.candles_versions): a reader whose version is
# among them reads again only what they wrote; one that has missed more reads all again.
VERSIONS_KEPT = 16
_INTERVAL_RE = re.compile(r"^(\d+)([mhdw])$")
_UNIT_MS = {"m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 7 * 86_400_000}
WEEK_MS = _UNIT_MS["w"]
# Weeks start on Monday 00:00 UTC, as on most charting sites; the epoch was a Thursday, so the first Monday is
# 1970-01-05. Whole days are still whole buckets of a week, so a week is exactly seven 1d candles.
_FIRST_MONDAY_MS = 4 * _UNIT_MS["d"]


@dataclass(frozen=True, slots=True)
class Candle:
    time_ms: int
    open: str
    high: str
    low: str
    close: str
    volume: str
    count: int | None = None
    _drawing: tuple[float, float, bool] | None = field(default=None, init=False, repr=False, compare=False)

    def as_row(self) -> list:
        """The API's row: [time, "open", "high", "low", "close", "volume"]."""
        return [self.time_ms, self.open, self.high, self.low, self.close, self.volume]

    @property
    def drawing(self) -> tuple[float, float, bool]:
        """low and high as floats, and whether it closed at or above its open: approximate numbers for drawing and
        comparing, never for storing. Computed once per object: bcx-web keeps decoded candles (bcx_web.cache) and
        draws the same day of them on every request. (Slots, not a __dict__: a kept candle is half the memory.)"""
        drawing = self._drawing
        if drawing is None:
            drawing = (float(self.low), float(self.high), float(self.close) >= float(self.open))
            object.__setattr__(self, "_drawing", drawing)
        return drawing


def interval_ms(name: str) -> int:
    """`1m`, `5m`, `1h`, `4h`, `6h`, `1d`, `1w` -> milliseconds; ValueError otherwise."""
    match = _INTERVAL_RE.match(name.strip())
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"{name!r} is not a candle interval (like 1m, 5m, 15m, 1h, 6h, 1d)")
    return int(match.group(1)) * _UNIT_MS[match.group(2)]


def bucket_start(time_ms: int, width_ms: int) -> int:
    """The start of the width_ms bucket holding time_ms: buckets align to the epoch, whole weeks to Mondays."""
    if width_ms % WEEK_MS:
        return time_ms - time_ms % width_ms
    return time_ms - (time_ms - _FIRST_MONDAY_MS) % width_ms


def rollup(ticks: Iterable[Tick], width_ms: int) -> list[Candle]:
    """Candles of width_ms from ticks in any order (each trade once), in time order."""
    buckets: dict[int, list[Tick]] = {}
    for tick in ticks:
        buckets.setdefault(bucket_start(tick.time_ms, width_ms), []).append(tick)
    return [_candle_of(start, buckets[start]) for start in sorted(buckets)]


def _candle_of(start: int, ticks: list[Tick]) -> Candle:
    ordered = sorted(ticks, key=lambda t: (t.time_ms, t.trade_id))
    prices = [t.price for t in ordered]
    values = [Decimal(price) for price in prices]  # once per trade, not once per comparison
    volume = sum((Decimal(t.size) for t in ordered if t.size), Decimal(0))
    return Candle(
        time_ms=start,
        open=prices[0],
        high=prices[values.index(max(values))],  # the first trade at the extreme, as max(prices, key=Decimal)
        low=prices[values.index(min(values))],
        close=prices[-1],
        volume=str(volume),
        count=len(ordered),
    )


class RunningCandle:
    """One bucket's candle built a trade at a time, in any order: the same candle `rollup` gives for the same
    trades (open and close by time then trade id, high and low the first trade at the extreme, the exact volume).
    For a bucket that keeps growing (the open minute), so that only its new trades are rolled in."""

    __slots__ = ("start", "count", "volume", "first", "open", "last", "close", "high_at", "high_value", "high")
    __slots__ += ("low_at", "low_value", "low")

    def __init__(self, start: int):
        self.start, self.count, self.volume = start, 0, Decimal(0)

    def copy(self) -> RunningCandle:
        twin = RunningCandle(self.start)
        for name in self.__slots__:
            if hasattr(self, name):
                setattr(twin, name, getattr(self, name))
        return twin

    def add(self, tick: Tick) -> None:
        at, price = (tick.time_ms, tick.trade_id), tick.price
        value = Decimal(price)
        if not self.count:
            self.first = self.last = self.high_at = self.low_at = at
            self.open = self.close = self.high = self.low = price
            self.high_value = self.low_value = value
        else:
            if at < self.first:
                self.first, self.open = at, price
            if at > self.last:
                self.last, self.close = at, price
            if value > self.high_value or (value == self.high_value and at < self.high_at):
                self.high_at, self.high_value, self.high = at, value, price
            if value < self.low_value or (value == self.low_value and at < self.low_at):
                self.low_at, self.low_value, self.low = at, value, price
        if tick.size:
            self.volume += Decimal(tick.size)
        self.count += 1

    def candle(self) -> Candle:
        return Candle(self.start, self.open, self.high, self.low, self.close, str(self.volume), self.count)


def combine(candles: Iterable[Candle], width_ms: int) -> list[Candle]:
    """Coarser candles of width_ms from finer ones (e.g. 1h from 1m), in time order."""
    buckets: dict[int, list[Candle]] = {}
    for candle in candles:
        buckets.setdefault(bucket_start(candle.time_ms, width_ms), []).append(candle)
    merged = []
    for start in sorted(buckets):
        group = buckets[start]
        if len(group) == 1 and group[0].time_ms == start:  # same width: the candle as it is (a read's usual case)
            merged.append(group[0])
            continue
        group.sort(key=lambda c: c.time_ms)
        counts = [c.count for c in group]
        merged.append(
            Candle(
                time_ms=start,
                open=group[0].open,
                high=max((c.high for c in group), key=Decimal),
                low=min((c.low for c in group), key=Decimal),
                close=group[-1].close,
                volume=str(sum((Decimal(c.volume) for c in group), Decimal(0))),
                count=None if None in counts else sum(counts),
            )
        )
    return merged


def _queue_reads(pipe, chain: ChunkKeys, lo: int, hi: int, chunk_ids: Sequence[str], scores: bool) -> int:
    """Queue the reads of [lo, hi] in the given chunks of a chain (scores are stored relative to the chunk's base);
    returns how many."""
    for chunk_id in chunk_ids:
        base = chunk_base(chunk_id)
        pipe.zrangebyscore(chain.chunk(chunk_id), lo - base, hi - base, withscores=scores)
    return len(chunk_ids)


def candle_time(tag: str) -> int:
    """A member's time tag (encode_candle) -> the bucket's start in unix ms."""
    return int(tag[1:], 36) if tag[0] == "." else int(tag, 36) * 60_000


def encode_candle(candle: Candle) -> str:
    count = "" if candle.count is None else str(candle.count)
    open_ = candle.open
    high, low, close = offset(candle.high, open_, 1), offset(candle.low, open_, -1), offset(candle.close, open_, 1)
    minutes, rest = divmod(candle.time_ms, 60_000)
    tag = "." + base36(candle.time_ms) if rest else base36(minutes)
    return "|".join((tag, open_, high, low, close, candle.volume, count))


def decode_candle(member: str | bytes, time_ms: int | None = None) -> Candle:
    """The candle of a stored member; its time is the member's own tag unless given."""
    if isinstance(member, bytes):
        member = member.decode()
    tag, open_, high, low, close, volume, count = member.split("|")
    return Candle(
        candle_time(tag) if time_ms is None else time_ms,
        open_,
        from_offset(high, open_, 1),
        from_offset(low, open_, -1),
        from_offset(close, open_, 1),
        volume,
        int(count) if count else None,
    )


@dataclass(frozen=True)
class TierRead:
    """What CandleStore.read_planned found: candles per tier, the raw ticks after them as (member, time ms), and
    the time the raw part starts at (where the tiers stopped)."""

    candles: list[list[Candle]]
    ticks: list[tuple[str, int]]
    raw_from: int


@dataclass(frozen=True)
class TierPlan:
    """Where a read of a series' tiers and raw ticks finds its entries (lua/tier_read.lua), before it reads them.

    `bounds` (where each tier's read starts, then where the raw ticks start) and `version` tell which candles the
    tiers hold for the read: a tier holds the range from its start to where the next one starts, and a writer of
    candles changes the version after each write (CandleStore.put, mark_changed). `extent`: (oldest, newest) time
    of the series' data (TickStore.extent's), when asked for."""

    product: str
    tiers: tuple[tuple[str, int], ...]
    chunks: list[tuple[int, int, list[str]]]  # per tier: (lo, hi, chunk ids)
    raw: tuple[int, int, list[str]] | None  # (lo, hi, chunk ids) of the raw ticks; None: the tiers cover all
    raw_from: int
    raw_entries: list[tuple[str, int]] | None  # the raw ticks, when the plan read them too
    version: str | None  # None: no writer has set one (a store written before versions): nothing may be kept
    extent: tuple[int | None, int | None]
    # With the caller's kept version still listed and not current: the earliest bucket written since (candles
    # before it are as they were); None otherwise.
    changed_from: int | None = None

    @property
    def bounds(self) -> tuple[int, ...]:
        return (*(lo for lo, _, _ in self.chunks), self.raw_from)


class CandleStore:
    """Candles of any product and interval, chunked like ticks; a bucket holds one candle, the last written."""

    def __init__(
        self,
        conn: redis.Redis,
        prefix: str,
        chunk_entries: int | None = None,
        decode: Callable[[str], Candle] = decode_candle,
    ):
        self.conn = conn
        self.prefix = prefix
        self.chunks = ChunkedSets(conn, chunk_entries)
        self.decode = decode  # decode_candle, or a memoized one: bcx-web reads the same candles again and again
        self._plan_read = conn.register_script(_lua("tier_read.lua"))

    def keys(self, product: str) -> SeriesKeys:
        return SeriesKeys(self.prefix, product)

    def put(self, product: str, interval: str, candles: Sequence[Candle]) -> int:
        """Write candles, replacing any stored for the same buckets; returns how many buckets were new."""
        if not candles:
            return 0
        entries = ((c.time_ms, encode_candle(c)) for c in candles)
        new = self.chunks.add(self.keys(product).candles(interval), entries, REPLACE)
        self.mark_changed(product, min(c.time_ms for c in candles))
        return new

    def range(self, product: str, interval: str, start_ms: int, end_ms: int, limit: int | None = None) -> list[Candle]:
        """Candles whose bucket starts within [start_ms, end_ms], in time order."""
        members = self.chunks.range_members(self.keys(product).candles(interval), start_ms, end_ms, limit)
        decode = self.decode
        return [decode(member) for member in members]

    def plan_tiers(
        self,
        product: str,
        tiers: Sequence[tuple[str, int]],
        start_ms: int,
        end_ms: int,
        raw_end_ms: int,
        raw_chunks: int = 0,
        extent_of: Sequence[str] = (),
        kept_version: str | None = None,
    ) -> TierPlan:
        """Where the candles of `tiers` ((interval, width ms), coarsest first) whose bucket starts within
        [start_ms, end_ms] are, each tier from the end of the newest bucket of the coarser ones on, and the
        product's raw ticks from there to raw_end_ms, when the tiers leave anything of [start_ms, end_ms]: one round
        trip however many tiers (lua/tier_read.lua); read_planned reads them in a second. Also the candles'
        version; with `raw_chunks` the raw ticks themselves when they lie in at most that many chunks (the open
        minute: a few hundred ticks) and the version is `kept_version` (the caller's candles are current); with
        `extent_of` (the stored intervals) the series' extent as TickStore.extent gives it."""
        keys = self.keys(product)
        chains = [keys.candles(interval) for interval, _ in tiers]
        args: list = [start_ms, end_ms, raw_end_ms, keys.ticks.chunk_prefix, raw_chunks, 0, kept_version or ""]
        for chain, (_, width) in zip(chains, tiers, strict=True):
            args += [chain.chunk_prefix, width]
        extent_keys = [keys.ticks.index, *(keys.candles(interval).index for interval in extent_of)] if extent_of else []
        args[5] = len(extent_keys)
        script_keys = [*(chain.index for chain in chains), keys.ticks.index, keys.candles_versions, keys.latest]
        script_keys += extent_keys
        *plans, raw_plan, raw_read, (version, oldest, newest, since) = self._plan_read(keys=script_keys, args=args)
        raw = (int(raw_plan[0]), int(raw_plan[1]), raw_plan[2:]) if len(raw_plan) > 1 else None
        entries = None
        if raw is None or not raw[2]:
            entries = []
        elif raw_read:  # per chunk: member, score relative to the chunk's base, member, ...
            bases = [chunk_base(chunk_id) for chunk_id in raw[2]]
            entries = [
                (member, int(score) + base)
                for base, read in zip(bases, raw_read, strict=True)
                for member, score in zip(read[::2], read[1::2], strict=True)
            ]
        return TierPlan(
            product,
            tuple(tiers),
            [(int(lo), int(hi), chunk_ids) for lo, hi, *chunk_ids in plans],
            raw,
            int(raw_plan[0]),
            entries,
            version or None,
            (int(oldest) if oldest else None, int(float(newest)) if newest else None),
            int(since) if since else None,
        )

    def read_planned(
        self, plan: TierPlan, limit: int | None = None, tiers: bool = True, tiers_from: int | None = None
    ) -> TierRead:
        """What `plan` found, in one pipeline, at most `limit` from each chain; without `tiers` only the raw ticks
        (a caller that kept the candles of this plan's bounds and version); no round trip when the plan read them.
        `tiers_from`: the candles from that time on only (a caller that kept those before it). Reading chain by
        chain would cost two round trips a chain."""
        keys = self.keys(plan.product)
        chains = [keys.candles(interval) for interval, _ in plan.tiers]
        raw = plan.raw
        raw_in_pipeline = plan.raw_entries is None and len(raw[2]) <= READ_CHUNKS_PER_ROUND  # else: in rounds
        pipe = self.conn.pipeline(transaction=False)
        queued = 0
        if tiers:
            for chain, (lo, hi, chunk_ids) in zip(chains, plan.chunks, strict=True):
                queued += _queue_reads(pipe, chain, max(lo, tiers_from or lo), hi, chunk_ids, False)
        if raw_in_pipeline:
            queued += _queue_reads(pipe, keys.ticks, raw[0], raw[1], raw[2], True)
        replies = iter(pipe.execute() if queued else ())
        decode = self.decode
        found = []
        for _, _, chunk_ids in plan.chunks if tiers else ():
            members = [member for _ in chunk_ids for member in next(replies)]
            found.append([decode(member) for member in members[:limit]])
        if plan.raw_entries is not None:
            ticks = plan.raw_entries
        elif raw_in_pipeline:
            bases = [chunk_base(chunk_id) for chunk_id in raw[2]]
            ticks = [(member, int(score) + base) for base in bases for member, score in next(replies)]
        else:
            ticks = self.chunks.range(keys.ticks, raw[0], raw[1], limit)
        return TierRead(found, ticks[:limit], plan.raw_from)

    def mark_changed(self, product: str, earliest_ms: int | None = None) -> None:
        """Give the product's candles a new version (lua/tier_read.lua returns it): after every write (`earliest_ms`:
        the earliest bucket it wrote) or removal (None) of its candles, so that a reader that keeps candles
        (bcx_web) reads them again, from `earliest_ms` on. A random token, not a counter: a store emptied and
        written again must not come back to a version a reader kept. The last VERSIONS_KEPT are listed."""
        key = self.keys(product).candles_versions
        pipe = self.conn.pipeline(transaction=False)
        pipe.lpush(key, f"{os.urandom(8).hex()}:{'-' if earliest_ms is None else earliest_ms}")
        pipe.ltrim(key, 0, VERSIONS_KEPT - 1)
        pipe.execute()

    def trim_before(self, product: str, interval: str, cutoff_ms: int) -> int:
        removed = self.chunks.trim_before(self.keys(product).candles(interval), cutoff_ms)
        if removed:
            self.mark_changed(product)
        return removed

    def count(self, product: str, interval: str) -> int:
        return self.chunks.count(self.keys(product).candles(interval))
