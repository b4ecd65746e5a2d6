"""The tick store: a product's ticks in a chain of chunks (bcx.chunks), plus its latest-tick hash.

One Lua call per product and batch writes the ticks, deduplicates them (one trade, one entry) and moves the
latest-tick hash, atomically. Members are deterministic (bcx.tick), so writing a tick twice stores it once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence

import redis

from bcx import pubsub
from bcx.chunks import DEFAULT_CHUNK_ENTRIES, TRADE, ChunkedSets
from bcx.keys import SeriesKeys, ticks_channel
from bcx.tick import Tick, decode_member, encode_entries

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_CHUNK_ENTRIES", "TickStore"]


class TickStore:
    """Ticks of any product on one Redis connection (redis.Redis or RedisCluster, decode_responses=True)."""

    def __init__(
        self,
        conn: redis.Redis,
        prefix: str,
        chunk_entries: int | None = None,
        decode: Callable[[str, str, float], Tick] = decode_member,
    ):
        self.conn = conn
        self.prefix = prefix
        self.chunks = ChunkedSets(conn, chunk_entries)
        self.decode = decode  # decode_member, or a memoized one (bcx-web re-reads the open minute on every request)

    @property
    def chunk_entries(self) -> int:
        return self.chunks.chunk_entries

    def keys(self, product: str) -> SeriesKeys:
        return SeriesKeys(self.prefix, product)

    def add(self, ticks: Iterable[Tick]) -> int:
        """Store ticks (any order, any products, duplicates allowed); returns how many were new."""
        by_product: dict[str, list[Tick]] = {}
        for tick in ticks:
            by_product.setdefault(tick.product, []).append(tick)
        calls = (  # lazy: each product's lines are built while the server writes the previous product's
            (keys.ticks, encode_entries(batch), TRADE, keys.latest)
            for keys, batch in ((self.keys(product), batch) for product, batch in by_product.items())
        )
        return self.chunks.add_each(calls)

    def announce(self, products: Iterable[str]) -> None:
        """Tell live readers that these products have new ticks (on ticks_channel, through bcx.pubsub: sharded on a
        Redis 7 cluster); nobody listening is fine."""
        pubsub.publish(self.conn, ticks_channel(self.prefix), ",".join(sorted(set(products))))

    def latest(self, product: str) -> Tick | None:
        return self.latest_many([product])[product]

    def latest_many(self, products: Sequence[str]) -> dict[str, Tick | None]:
        pipe = self.conn.pipeline(transaction=False)
        for product in products:
            pipe.hgetall(self.keys(product).latest)
        return {
            product: decode_member(product, data["member"], float(data["time"])) if data else None
            for product, data in zip(products, pipe.execute(), strict=True)
        }

    def latest_at_most(self, product: str, at_most_ms: int) -> Tick | None:
        """The newest stored tick dated at or before `at_most_ms`: what to trust when the latest-tick hash holds a
        tick from the future (stored before the tracker refused those, or by a skewed clock)."""
        score = self.chunks.newest_score(self.keys(product).ticks, at_most_ms)
        if score is None:
            return None
        found = self.range(product, score, score)
        return found[-1] if found else None

    def extent(self, product: str, intervals: Sequence[str]) -> tuple[int | None, int | None]:
        """(oldest, newest) time of the product's data, in raw ticks and the given candle tiers (a candle counts
        from its bucket's start); None for an end nothing tells. One round trip."""
        keys = self.keys(product)
        pipe = self.conn.pipeline(transaction=False)
        for chain in (keys.ticks, *(keys.candles(interval) for interval in intervals)):
            pipe.zrange(chain.index, 0, 0, withscores=True)  # an index's score is its chunk's first time
        pipe.hget(keys.latest, "time")
        *firsts, newest = pipe.execute()
        oldest = [int(first[0][1]) for first in firsts if first]
        return (min(oldest) if oldest else None), (None if newest is None else int(float(newest)))

    def range(self, product: str, start_ms: int, end_ms: int, limit: int | None = None) -> list[Tick]:
        """Ticks with start_ms <= time <= end_ms in time order (ties by member), at most `limit` of them."""
        entries = self.chunks.range(self.keys(product).ticks, start_ms, end_ms, limit)
        decode = self.decode
        return [decode(product, member, score) for member, score in entries]

    def range_many(self, ranges: Sequence[tuple[str, int, int]]) -> list[list[Tick]]:
        """range() of several (product, start, end) at once, in two round trips: for short ranges (no limit)."""
        found = self.chunks.range_many([(self.keys(product).ticks, start, end) for product, start, end in ranges])
        decode = self.decode
        return [[decode(p, m, score) for m, score in entries] for (p, _, _), entries in zip(ranges, found, strict=True)]

    def trim_before(self, product: str, cutoff_ms: int) -> int:
        """Remove every tick older than cutoff_ms; returns how many went."""
        return self.chunks.trim_before(self.keys(product).ticks, cutoff_ms)

    def count(self, product: str) -> int:
        return self.chunks.count(self.keys(product).ticks)
