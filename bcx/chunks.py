"""Chains of small sorted sets ("chunks") behind one index: the storage shape of ticks and candles.

Each chunk stays under the server's compact-encoding limit, so it is listpack-encoded at about a third of the
memory of one big skiplist set, and retention drops whole chunks. Writes and trims run as Lua scripts
(`lua/chunk_add.lua`, `lua/chunk_trim.lua`) so that chunk choice, splitting and deduplication are atomic and two
writers of one series cannot corrupt it. Reads find the overlapping chunks in the index and read them in one
pipeline per round.

A chunk's index member is `<id>:<base>` (its key is the chunk prefix followed by it) and the chunk stores every
score as score - base: small integers take 2 to 5 bytes in a listpack, a unix-ms time 9. The base is fixed when
the chunk is made; the index score is the chunk's first score and moves with trims and older entries.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from importlib import resources

import redis

from bcx.keys import ChunkKeys

# Writing into a compact (ziplist/listpack) sorted set scans it, so an insert costs time in proportion to the
# chunk's size: 8.3 us per member at 128 entries, 4.0 at 64, 2.5 at 32 (redis-server 6.2, bench.ingest era),
# for 34.7, 35.1 and 35.7 bytes per member. 64 halved the server's write cost for about one byte per tick. 62:
# with compact members (bcx.tick) a chunk of BTC ticks is ~1,500 bytes, and 64 of them crossed jemalloc's
# 1,536-byte size class once the price had six digits (31.4 bytes a tick on Redis 7 from 97,000.00 against 27.4
# from 65,000.00); 62 keeps 27.3-28.4 from 3,500 to 150,000 on Redis 6.2 and 7 (bench.memory --start-price).
DEFAULT_CHUNK_ENTRIES = 62
READ_CHUNKS_PER_ROUND = 32
TRADE = "trade"  # one entry per (time, id); the member carrying the book wins
REPLACE = "replace"  # one entry per time; the newest write wins


def _lua(name: str) -> str:
    return resources.files("bcx").joinpath("lua", name).read_text(encoding="utf-8")


class ChunkedSets:
    """Chunk-chain operations on one Redis connection (decode_responses=True)."""

    def __init__(self, conn: redis.Redis, chunk_entries: int | None = None):
        self.conn = conn
        self.chunk_entries = chunk_entries or server_chunk_limit(conn)
        self._add = conn.register_script(_lua("chunk_add.lua"))
        self._trim = conn.register_script(_lua("chunk_trim.lua"))

    def add(self, keys: ChunkKeys, entries: Iterable[tuple[int, str]], mode: str, latest=None) -> int:
        """Write (score, member) entries (integer scores, members without spaces or line breaks); returns how many
        were new. `latest`: a hash key to keep the newest entry's time and member in."""
        return self.add_lines(keys, "\n".join([f"{score} {member}" for score, member in entries]), mode, latest)

    def add_lines(self, keys: ChunkKeys, lines: str, mode: str, latest=None) -> int:
        """add() of entries already written as `score member` lines (bcx.tick.encode_entries). One round trip
        (scripts cannot be pipelined on a Redis Cluster)."""
        script_keys, args = self._add_arguments(keys, lines, mode, latest)
        return int(self._add(keys=script_keys, args=args))

    def _add_arguments(self, keys: ChunkKeys, lines: str, mode: str, latest: str | None) -> tuple[list, list]:
        """The chunk script's KEYS and ARGV (lua/chunk_add.lua)."""
        script_keys = [keys.index, keys.counter, keys.written] + ([latest] if latest else [])
        return script_keys, [keys.chunk_prefix, self.chunk_entries, mode, lines]

    def add_each(self, calls: Iterable[tuple[ChunkKeys, str, str, str | None]]) -> int:
        """add_lines() of several chains, (keys, lines, mode, latest) each; returns how many entries were new. On one
        server each call goes out before the next is made and the replies are read at the end, so the client
        builds the next chain's lines (a lazy `calls`) while the server runs the last one's script. On a cluster,
        where the chains live on different nodes, one call after the other."""
        if not isinstance(self.conn, redis.Redis):
            return sum(self.add_lines(*call) for call in calls)
        pool = self.conn.connection_pool
        connection = pool.get_connection()
        sent, added, unknown = [], 0, []
        try:
            for keys, lines, mode, latest in calls:
                script_keys, args = self._add_arguments(keys, lines, mode, latest)
                connection.send_command("EVALSHA", self._add.sha, len(script_keys), *script_keys, *args)
                sent.append((script_keys, args))
            for script_keys, args in sent:
                try:
                    added += int(connection.read_response())
                except redis.exceptions.NoScriptError:  # a restarted or flushed server: loaded below, then again
                    unknown.append((script_keys, args))
        except BaseException:
            connection.disconnect()  # replies may be left unread: never hand this connection out again as it is
            raise
        finally:
            pool.release(connection)
        return added + sum(int(self._add(keys=script_keys, args=args)) for script_keys, args in unknown)

    def range(self, keys: ChunkKeys, start: int, end: int, limit: int | None = None) -> list[tuple[str, float]]:
        """(member, score) with start <= score <= end, in order, at most `limit` of them."""
        return self._range(keys, start, end, limit, True)

    def range_members(self, keys: ChunkKeys, start: int, end: int, limit: int | None = None) -> list[str]:
        """range() without the scores, for members that carry their own time: several times faster to read, as
        redis-py turns every score into a float in Python."""
        return self._range(keys, start, end, limit, False)

    def _range(self, keys: ChunkKeys, start: int, end: int, limit: int | None, scores: bool) -> list:
        chunk_ids = self._chunks_overlapping(keys, start, end)
        found: list[tuple[str, float]] = []
        for first in range(0, len(chunk_ids), READ_CHUNKS_PER_ROUND):
            found.extend(self._read_chunks(keys, chunk_ids[first : first + READ_CHUNKS_PER_ROUND], start, end, scores))
            if limit is not None and len(found) >= limit:
                return found[:limit]
        return found

    def range_many(self, ranges: Sequence[tuple[ChunkKeys, int, int]]) -> list[list[tuple[str, float]]]:
        """range() of several short ranges (each series' open minute, say) in two pipelined round trips whatever
        their number: every index, then every overlapping chunk. No limit: for ranges known to be small."""
        pipe = self.conn.pipeline(transaction=False)
        for keys, start, end in ranges:
            pipe.zrevrangebyscore(keys.index, start, "-inf", start=0, num=1)
            pipe.zrangebyscore(keys.index, f"({start}", end)
        indexes = pipe.execute() if ranges else []
        pipe = self.conn.pipeline(transaction=False)
        plans = []
        for i, (keys, start, end) in enumerate(ranges):
            bases = [chunk_base(chunk_id) for chunk_id in (*indexes[2 * i], *indexes[2 * i + 1])]
            for chunk_id, base in zip((*indexes[2 * i], *indexes[2 * i + 1]), bases, strict=True):
                pipe.zrangebyscore(keys.chunk(chunk_id), start - base, end - base, withscores=True)
            plans.append(bases)
        read = iter(pipe.execute() if any(plans) else [])
        return [[(member, score + base) for base in bases for member, score in next(read)] for bases in plans]

    def iter_range(
        self, keys: ChunkKeys, start: int, end: int, scores: bool = True, chunks_per_round: int = READ_CHUNKS_PER_ROUND
    ) -> Iterator[list]:
        """range() one round of chunks at a time, in order: a range of any length read in bounded memory (exports).
        The index is paged too: a year of ticks is tens of thousands of chunks."""
        pipe = self.conn.pipeline(transaction=False)
        pipe.zrevrangebyscore(keys.index, start, "-inf", start=0, num=1)
        pipe.zrangebyscore(keys.index, f"({start}", end, start=0, num=chunks_per_round, withscores=True)
        covering, page = pipe.execute()
        chunk_ids = list(covering)
        while chunk_ids or page:
            chunk_ids += [chunk_id for chunk_id, _ in page]
            found = self._read_chunks(keys, chunk_ids, start, end, scores)
            if found:
                yield found
            if len(page) < chunks_per_round:
                return
            # chunk starts are distinct (a split never falls between equal scores): page after the last one
            after = f"({int(page[-1][1])}"
            page = self.conn.zrangebyscore(keys.index, after, end, start=0, num=chunks_per_round, withscores=True)
            chunk_ids = []

    def _read_chunks(self, keys: ChunkKeys, chunk_ids: list[str], start: int, end: int, scores: bool) -> list:
        pipe = self.conn.pipeline(transaction=False)
        bases = [chunk_base(chunk_id) for chunk_id in chunk_ids]
        for chunk_id, base in zip(chunk_ids, bases, strict=True):
            pipe.zrangebyscore(keys.chunk(chunk_id), start - base, end - base, withscores=scores)
        found: list = []
        for base, entries in zip(bases, pipe.execute() if chunk_ids else [], strict=True):
            found.extend([(member, score + base) for member, score in entries] if base and scores else entries)
        return found

    def count_range(self, keys: ChunkKeys, start: int, end: int) -> int:
        """How many entries have start <= score <= end (one ZCOUNT per overlapping chunk, pipelined)."""
        chunk_ids = self._chunks_overlapping(keys, start, end)
        pipe = self.conn.pipeline(transaction=False)
        for chunk_id in chunk_ids:
            base = chunk_base(chunk_id)
            pipe.zcount(keys.chunk(chunk_id), start - base, end - base)
        return sum(pipe.execute()) if chunk_ids else 0

    def oldest_score(self, keys: ChunkKeys) -> int | None:
        """The score of the oldest entry (the first chunk's index score), or None when the chain is empty."""
        first = self.conn.zrange(keys.index, 0, 0, withscores=True)
        return int(first[0][1]) if first else None

    def _chunks_overlapping(self, keys: ChunkKeys, start: int, end: int) -> list[str]:
        pipe = self.conn.pipeline(transaction=False)
        pipe.zrevrangebyscore(keys.index, start, "-inf", start=0, num=1)
        pipe.zrangebyscore(keys.index, f"({start}", end)
        covering, later = pipe.execute()
        return list(covering) + list(later)

    def trim_before(self, keys: ChunkKeys, cutoff: int) -> int:
        """Remove every entry with a score below `cutoff`; returns how many went."""
        return int(self._trim(keys=[keys.index], args=[keys.chunk_prefix, cutoff]))

    def newest_score(self, keys: ChunkKeys, at_most: int | None = None) -> int | None:
        """The score of the newest entry (at or below `at_most` when given), or None when there is none."""
        if at_most is None:
            last_chunk = self.conn.zrange(keys.index, -1, -1)
        else:  # the chunk holding at_most, or the last one before it: chunks never overlap
            last_chunk = self.conn.zrevrangebyscore(keys.index, at_most, "-inf", start=0, num=1)
        if not last_chunk:
            return None
        base = chunk_base(last_chunk[0])
        high = "+inf" if at_most is None else at_most - base
        newest = self.conn.zrevrangebyscore(keys.chunk(last_chunk[0]), high, "-inf", start=0, num=1, withscores=True)
        return int(newest[0][1]) + base if newest else None

    def chunk_memory(self, keys: ChunkKeys) -> list[tuple[int, int]]:
        """(first score, bytes by MEMORY USAGE) of each chunk, oldest first."""
        chunks = self.conn.zrange(keys.index, 0, -1, withscores=True)
        pipe = self.conn.pipeline(transaction=False)
        for chunk_id, _ in chunks:
            pipe.memory_usage(keys.chunk(chunk_id), samples=0)
        sizes = pipe.execute() if chunks else []
        return [(int(start), int(size or 0)) for (_, start), size in zip(chunks, sizes, strict=True)]

    def count(self, keys: ChunkKeys) -> int:
        chunk_ids = self.conn.zrange(keys.index, 0, -1)
        pipe = self.conn.pipeline(transaction=False)
        for chunk_id in chunk_ids:
            pipe.zcard(keys.chunk(chunk_id))
        return sum(pipe.execute()) if chunk_ids else 0


def chunk_base(chunk_id: str) -> int:
    """What a chunk's stored scores are relative to: the `<base>` of its index member `<id>:<base>`."""
    head, _, base = chunk_id.rpartition(":")
    return int(base) if head else 0


def server_chunk_limit(conn: redis.Redis) -> int:
    """DEFAULT_CHUNK_ENTRIES, or less when the server's compact-encoding limit for sorted sets (listpack on 7.x,
    ziplist on 6.x) is lower: a chunk above it would be a skiplist at three times the memory."""
    for name in ("zset-max-listpack-entries", "zset-max-ziplist-entries"):
        try:
            value = conn.config_get(name).get(name)
        except redis.ResponseError:  # CONFIG disabled (managed Redis): keep the default
            return DEFAULT_CHUNK_ENTRIES
        if value:
            return max(min(int(value), DEFAULT_CHUNK_ENTRIES), 2)
    return DEFAULT_CHUNK_ENTRIES
