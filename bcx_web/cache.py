"""bcx-web's in-process caches: memoized decoding of stored members, the open minute's candle of each product
(bcx.candle_source.OpenBuckets), the closed candles a read found in the tiers (ClosedCandles) and the chart points
drawn from them, and each product's 24h figures.

The closed candles and their points are kept with the candles' version, which every writer of candles changes
after writing or removing any (bcx.candles.CandleStore.mark_changed) and which each read gets in its first round
trip: a read with another version reads the tiers again, so a late tick rolled into a closed minute, a re-rollup,
a trim or retention shows on the next request.

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

import math
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from bcx.candle_source import ClosedCandles, OpenBuckets
from bcx.candles import decode_candle
from bcx.tick import decode_member

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
# Per worker: candles kept by closed_candles (references to the decode memo's objects while it holds them, so
# ~20 MB more at most when it no longer does: ~20 products' days of 1m candles), and charts' closed points by
# closed_drawings, of at most DRAWN_POINTS points each (~100 bytes a point: ~13 MB at most).
CLOSED_CANDLES = 30_000
DRAWINGS = 64
DRAWN_POINTS = 2_000


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
    """Per name: the value computed for a version of the data, reused for that version until `ttl` seconds old.
    With `max_names`, at most that many names are kept (the one set longest ago goes first)."""

    def __init__(self, ttl: float = DAY_TTL_S, max_names: int | None = None):
        self.ttl = ttl
        self.max_names = max_names
        self._entries: dict[Hashable, _Entry] = {}
        self._lock = threading.Lock()

    def get(self, name: Hashable, version: Hashable, now: float, compute: Callable[[], Any]) -> Any:
        """The cached value for (name, version), else `compute()`'s, kept; `now` is a monotonic clock's time."""
        entry = self._fresh(name, version, now)
        if entry is None:
            with self._lock:  # computing is CPU-bound Python: one thread at a time loses nothing
                entry = self._fresh(name, version, now)
                if entry is None:
                    entry = _Entry(version, now, compute())
                    self._entries.pop(name, None)
                    self._entries[name] = entry
                    if self.max_names is not None and len(self._entries) > self.max_names:
                        del self._entries[next(iter(self._entries))]
        return entry.value

    def _fresh(self, name: Hashable, version: Hashable, now: float) -> _Entry | None:
        entry = self._entries.get(name)
        if entry is None or entry.version != version or not 0 <= now - entry.computed_at < self.ttl:
            return None
        return entry


# Each product's closed candles as the last read of its tiers found them, while their version holds.
closed_candles = ClosedCandles(CLOSED_CANDLES)
# Per product, width and number of points: the chart's points of its closed buckets (bcx_web.series).
closed_drawings = FreshCache(math.inf, DRAWINGS)
