"""The tick store: chunked sorted sets per product, written and read through thin functions.

Writes go through one Lua script per product and batch (`lua/add_ticks.lua`), so chunk choice, splitting,
deduplication and the latest-tick hash change atomically, and two writers of one product cannot corrupt it.
Range reads find the overlapping chunks in the index and read them in one pipeline.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from importlib import resources

import redis

from bcx.keys import SeriesKeys
from bcx.tick import Tick, decode_member, encode_member

log = logging.getLogger(__name__)

DEFAULT_CHUNK_ENTRIES = 128
READ_CHUNKS_PER_ROUND = 32


def _lua(name: str) -> str:
    return resources.files("bcx").joinpath("lua", name).read_text(encoding="utf-8")


class TickStore:
    """Ticks of any product on one Redis connection (redis.Redis or RedisCluster, decode_responses=True)."""

    def __init__(self, conn: redis.Redis, prefix: str, exchange: str, chunk_entries: int | None = None):
        self.conn = conn
        self.prefix = prefix
        self.exchange = exchange
        self.chunk_entries = chunk_entries or server_chunk_limit(conn)
        self._add = conn.register_script(_lua("add_ticks.lua"))
        self._trim = conn.register_script(_lua("trim_ticks.lua"))

    def keys(self, product: str) -> SeriesKeys:
        return SeriesKeys(self.prefix, self.exchange, product)

    def add(self, ticks: Iterable[Tick]) -> int:
        """Store ticks (any order, any products, duplicates allowed); returns how many were new."""
        by_product: dict[str, list[Tick]] = {}
        for tick in ticks:
            by_product.setdefault(tick.product, []).append(tick)
        if not by_product:
            return 0
        pipe = self.conn.pipeline(transaction=False)
        for product, batch in by_product.items():
            keys = self.keys(product)
            args: list = [keys.chunk_prefix, self.chunk_entries]
            for tick in batch:
                args += (tick.time_ms, tick.trade_id, encode_member(tick))
            self._add(keys=[keys.index, keys.chunk_counter, keys.latest], args=args, client=pipe)
        return sum(pipe.execute())

    def latest(self, product: str) -> Tick | None:
        data = self.conn.hgetall(self.keys(product).latest)
        if not data:
            return None
        return decode_member(product, data["member"], float(data["time"]))

    def latest_many(self, products: Sequence[str]) -> dict[str, Tick | None]:
        pipe = self.conn.pipeline(transaction=False)
        for product in products:
            pipe.hgetall(self.keys(product).latest)
        return {
            product: decode_member(product, data["member"], float(data["time"])) if data else None
            for product, data in zip(products, pipe.execute(), strict=False)
        }

    def range(self, product: str, start_ms: int, end_ms: int, limit: int | None = None) -> list[Tick]:
        """Ticks with start_ms <= time <= end_ms in time order (ties by member), at most `limit` of them."""
        keys = self.keys(product)
        chunk_ids = self._chunks_overlapping(keys, start_ms, end_ms)
        ticks: list[Tick] = []
        for first in range(0, len(chunk_ids), READ_CHUNKS_PER_ROUND):
            pipe = self.conn.pipeline(transaction=False)
            for chunk_id in chunk_ids[first : first + READ_CHUNKS_PER_ROUND]:
                pipe.zrangebyscore(keys.chunk(chunk_id), start_ms, end_ms, withscores=True)
            for entries in pipe.execute():
                ticks.extend(decode_member(product, member, score) for member, score in entries)
            if limit is not None and len(ticks) >= limit:
                return ticks[:limit]
        return ticks

    def _chunks_overlapping(self, keys: SeriesKeys, start_ms: int, end_ms: int) -> list[str]:
        pipe = self.conn.pipeline(transaction=False)
        pipe.zrevrangebyscore(keys.index, start_ms, "-inf", start=0, num=1)
        pipe.zrangebyscore(keys.index, f"({start_ms}", end_ms)
        covering, later = pipe.execute()
        return list(covering) + list(later)

    def trim_before(self, product: str, cutoff_ms: int) -> int:
        """Remove every tick older than cutoff_ms; returns how many went."""
        keys = self.keys(product)
        return int(self._trim(keys=[keys.index], args=[keys.chunk_prefix, cutoff_ms]))

    def count(self, product: str) -> int:
        keys = self.keys(product)
        chunk_ids = self.conn.zrange(keys.index, 0, -1)
        pipe = self.conn.pipeline(transaction=False)
        for chunk_id in chunk_ids:
            pipe.zcard(keys.chunk(chunk_id))
        return sum(pipe.execute()) if chunk_ids else 0


def server_chunk_limit(conn: redis.Redis) -> int:
    """The server's compact-encoding limit for sorted sets (listpack on 7.x, ziplist on 6.x), else 128."""
    for name in ("zset-max-listpack-entries", "zset-max-ziplist-entries"):
        try:
            value = conn.config_get(name).get(name)
        except redis.ResponseError:  # CONFIG disabled (managed Redis): keep the default
            return DEFAULT_CHUNK_ENTRIES
        if value:
            return max(int(value), 2)
    return DEFAULT_CHUNK_ENTRIES
