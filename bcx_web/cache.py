"""bcx-web's in-process caches: memoized decoding of stored members, and each product's 24h figures.

Decoding a member is a pure function of its text and Tick and Candle are frozen, so a memoized decoder can never
give a wrong answer: it only trades memory (bounded, per worker process) for the time a chart's every request spent
turning the same day of 1-minute candles and the same open minute of ticks back into objects.

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
from functools import lru_cache
from typing import Any

from bcx.candles import decode_candle
from bcx.tick import decode_member

# About 0.5 kB each: ~10 MB and ~8 MB per worker at most. 20,000 candles hold a day of 1m candles and a month of 1h
# ones for several products; 16,384 ticks hold the open minute of every product at any realistic rate.
DECODED_CANDLES = 20_000
DECODED_TICKS = 16_384
DAY_TTL_S = 1.0

cached_decode_candle = lru_cache(maxsize=DECODED_CANDLES)(decode_candle)
cached_decode_member = lru_cache(maxsize=DECODED_TICKS)(decode_member)


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
