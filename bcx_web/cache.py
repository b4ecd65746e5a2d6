"""bcx-web's in-process caches: memoized decoding of stored members, the open minute's candle of each product
(bcx.candle_source.OpenBuckets), the closed candles a read found in the tiers (ClosedCandles) and the chart points
drawn from them, and each product's 24h figures.

The closed candles are kept with the candles' version, which every writer of candles changes after writing or
removing any (bcx.candles.CandleStore.mark_changed) and which each read gets in its first round trip: a read with
another version reads the tiers again, so a late tick rolled into a closed minute, a re-rollup, a trim or retention
shows on the next request. The points drawn from them are kept with the candles they were drawn from and reused
only for equal candles (KeptDrawings).

Decoding a member is a pure function of its text and Tick and Candle are frozen, so a memoized decoder can never
give a wrong answer: it only trades memory (bounded by bytes, per worker process) for the time a chart's every
request spent turning the same day of 1-minute candles and the same open minute of ticks back into objects.
The bound is in bytes, not entries, and the memo keeps two generations (BoundedMemo): what was asked for in the
current generation or the one before stays, however many products' charts take turns, up to half the bound.

The 24h figures of /products (polled by every page) depend on the store and on the product's newest tick. They are
kept per product while that tick is the same, for at most `ttl` seconds: a trade written since (a backfill into
the last 24 hours, a late tick) shows within `ttl`; a new tick shows at once. /products' whole encoded answer is
kept the same way, for the newest ticks of all products. One thread computes, the others that asked meanwhile wait
for its answer instead of computing it again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from bcx.candle_source import ClosedCandles, OpenBuckets
from bcx.candles import Candle, decode_candle
from bcx.tick import decode_member
from bcx_web.downsample import Drawn, closed_drawing

# Bytes a kept entry costs beyond twice its member's length (measured with tracemalloc on Python 3.11, members
# as redis-py returns them: the key's string and tuple, the dict slot, the object and its strings): a candle once
# drawn (Candle.drawing) 640 in all for a 50-character member, a tick with a book 470 for 29 characters.
CANDLE_ENTRY_BYTES = 540
TICK_ENTRY_BYTES = 410
# Per worker at most. Half of it always holds what the worker served since the last turn: ~40,000 candles (a
# 1000-point chart of any span reads at most ~3,000 of them per product, a day of 1m candles 1,440; a store
# without the 15m tier reads a week as 10,080 minutes) and ~17,000 ticks (the open minute of every product).
DECODED_CANDLE_BYTES = 48 * 2**20
DECODED_TICK_BYTES = 16 * 2**20
DAY_TTL_S = 1.0
# Per worker: candles kept by closed_candles and by closed_drawings (references to the decode memo's objects while
# it holds them, so ~20 MB more each at most when it no longer does: ~20 products' days of 1m candles); a kept
# drawing holds at most two points a candle (~100 bytes a point: ~6 MB).
CLOSED_CANDLES = 30_000


class BoundedMemo:
    """`function` memoized, bounded by an estimate of the bytes kept (`entry_bytes` of each key's arguments).

    Two generations of plain dicts: a new value and a value found in the older generation go into the current
    one; when the current one holds half the bound it becomes the older, and the older is dropped. So whatever
    was asked for since the last turn stays (a working set up to half the bound never misses), a lookup that hits
    costs one dict get, and at most the whole bound is kept. Under threads a count can be lost on a race: the
    bound is approximate by that much, never unbounded."""

    def __init__(self, function: Callable[..., Any], max_bytes: int, entry_bytes: Callable[..., int]):
        self.function = function
        self.half = max_bytes // 2
        self.entry_bytes = entry_bytes
        self.current: dict[Hashable, Any] = {}
        self.older: dict[Hashable, Any] = {}
        self.current_bytes = self.older_bytes = 0

    def __call__(self, *args: Hashable) -> Any:
        value = self.current.get(args)
        if value is None:
            value = self.older.get(args)
            if value is None:
                value = self.function(*args)
            self._keep(args, value)
        return value

    def _keep(self, args: tuple, value: Any) -> None:
        size = self.entry_bytes(*args)
        if self.current_bytes + size > self.half:
            self.older, self.older_bytes = self.current, self.current_bytes
            self.current, self.current_bytes = {}, 0
        self.current[args] = value
        self.current_bytes += size

    @property
    def kept_bytes(self) -> int:
        """The estimate of what both generations hold."""
        return self.current_bytes + self.older_bytes


def _candle_bytes(member: str, time_ms: int | None = None) -> int:
    return CANDLE_ENTRY_BYTES + 2 * len(member)


def _tick_bytes(product: str, member: str, score: float) -> int:
    return TICK_ENTRY_BYTES + 2 * len(member)


cached_decode_candle = BoundedMemo(decode_candle, DECODED_CANDLE_BYTES, _candle_bytes)
cached_decode_member = BoundedMemo(decode_member, DECODED_TICK_BYTES, _tick_bytes)
# Each product's open minute as the last read rolled it up: the next read rolls in only the trades since.
open_buckets = OpenBuckets()


@dataclass(frozen=True)
class _Entry:
    version: Hashable  # what the value was computed for, such as (time ms, trade id) of the newest tick
    computed_at: float
    value: Any


class FreshCache:
    """Per name: the value computed for a version of the data, reused for that version until `ttl` seconds old."""

    def __init__(self, ttl: float = DAY_TTL_S):
        self.ttl = ttl
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()

    def get(self, name: str, version: Hashable, now: float, compute: Callable[[], Any]) -> Any:
        """The cached value for (name, version), else `compute()`'s, kept; `now` is a monotonic clock's time."""
        entry = self._fresh(name, version, now)
        if entry is None:
            with self._lock:  # computing is CPU-bound Python: one thread at a time loses nothing
                entry = self._fresh(name, version, now)
                if entry is None:
                    entry = _Entry(version, now, compute())
                    self._entries[name] = entry
        return entry.value

    def _fresh(self, name: str, version: Hashable, now: float) -> _Entry | None:
        entry = self._entries.get(name)
        if entry is None or entry.version != version or not 0 <= now - entry.computed_at < self.ttl:
            return None
        return entry


@dataclass(frozen=True)
class _Drawing:
    count: int  # the chart's candles
    closed: list[Candle]  # its first candles, which the points were drawn from
    drawn: Drawn


class KeptDrawings:
    """Per chart (product, width, points): the points of its closed buckets (closed_drawing) and the candles they
    were drawn from. A later chart of as many candles whose first ones equal those reuses the points and draws
    only the buckets after them: while only the open minute changes, and after the watcher writes the minute that
    closed. Equal candles draw equal points, so this needs no version, and the comparison runs at C speed (the
    decode memo and the kept closed candles hand out the same objects). At most `max_candles` referenced in all
    (past it the charts kept longest ago go: a chart is kept again whenever its points are drawn anew)."""

    def __init__(self, max_candles: int) -> None:
        self.max_candles = max_candles
        self._kept: dict[Hashable, _Drawing] = {}
        self._count = 0
        self._lock = threading.Lock()

    def drawn(self, name: Hashable, candles: list[Candle], closed: int, width_ms: int, limit: int) -> Drawn | None:
        """closed_drawing(candles, width_ms, limit, closed), from what was kept for `name` where it still holds."""
        kept = self._kept.get(name)
        same = kept is not None and kept.count == len(candles) and len(kept.closed) <= closed
        if same and candles[: len(kept.closed)] == kept.closed:
            if len(kept.closed) == closed:
                return kept.drawn
            drawn = closed_drawing(candles, width_ms, limit, closed, kept.drawn)
        else:
            drawn = closed_drawing(candles, width_ms, limit, closed)
        if drawn is not None and closed <= self.max_candles:
            self._keep(name, _Drawing(len(candles), candles[:closed], drawn))
        return drawn

    def _keep(self, name: Hashable, drawing: _Drawing) -> None:
        with self._lock:
            old = self._kept.pop(name, None)
            self._count += len(drawing.closed) - (len(old.closed) if old else 0)
            while self._kept and self._count > self.max_candles:
                self._count -= len(self._kept.pop(next(iter(self._kept))).closed)
            self._kept[name] = drawing

    @property
    def kept_candles(self) -> int:
        return self._count


# Each product's closed candles as the last read of its tiers found them, while their version holds.
closed_candles = ClosedCandles(CLOSED_CANDLES)
# Per product, width and number of points: the chart's points of its closed buckets (bcx_web.series).
closed_drawings = KeptDrawings(CLOSED_CANDLES)
