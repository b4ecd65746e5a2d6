"""Every Redis key BCX uses, in one place. Nothing outside `bcx/` spells a key.

A series' keys share the hash tag `{exchange:PRODUCT}`, so they land in one Redis Cluster slot and multi-key
scripts and pipelines on one product stay legal on a cluster. The alerts and ticks channels and the alerts stream
are global.
"""

from __future__ import annotations

from dataclasses import dataclass

from bcx.series import DEFAULT_EXCHANGE


@dataclass(frozen=True)
class ChunkKeys:
    """The keys of one chain of chunks: an index sorted set of chunk ids (score = the chunk's first timestamp),
    the chunks themselves (sorted sets, score = unix ms), and the counter that hands out chunk ids."""

    base: str

    @property
    def index(self) -> str:
        return f"{self.base}:chunks"

    @property
    def chunk_prefix(self) -> str:
        return f"{self.base}:c:"

    def chunk(self, chunk_id: str | int) -> str:
        return f"{self.chunk_prefix}{chunk_id}"

    @property
    def counter(self) -> str:
        return f"{self.base}:chunkseq"

    @property
    def written(self) -> str:
        """String: the lowest score written (added or replaced) since the watcher last took it: what its
        compaction must look at again, late and backfilled entries included."""
        return f"{self.base}:written"


@dataclass(frozen=True)
class SeriesKeys:
    """The keys of one series (`kraken:BTC-USD`; a bare product is Coinbase's, as in keys written before there were
    several exchanges)."""

    prefix: str
    series: str

    @property
    def tag(self) -> str:
        series = self.series if ":" in self.series else f"{DEFAULT_EXCHANGE}:{self.series}"
        return f"{self.prefix}:{{{series}}}"

    @property
    def ticks(self) -> ChunkKeys:
        """Ticks: member = encoded tick (bcx.tick)."""
        return ChunkKeys(self.tag)

    def candles(self, interval: str) -> ChunkKeys:
        """Candles of one interval (`1m`, `1h`, ...): score = bucket start, member = encoded candle (bcx.candles)."""
        return ChunkKeys(f"{self.tag}:candles:{interval}")

    @property
    def candles_versions(self) -> str:
        """List, newest first: `<token>:<time>` for each of the last writes or removals of the series' candles
        (CandleStore.mark_changed): a random token, and the earliest bucket the write touched (`-` for a removal,
        which may touch any). The first token is the candles' version: a reader may keep candles it read while it
        is the same, and after the writes listed since, it needs to read again only from their earliest time."""
        return f"{self.tag}:candles:versions"

    @property
    def latest(self) -> str:
        """Hash: `time` (unix ms) and `member` of the newest tick."""
        return f"{self.tag}:latest"

    @property
    def watch_state(self) -> str:
        """Hash: the watcher's cursor, the state of each alert rule, and its compaction and trim marks."""
        return f"{self.tag}:watch"

    @property
    def backfill(self) -> str:
        """Hash: `bcx backfill`'s walk through the exchange's trades or candles (since, cursor, covered span,
        counts), so that an interrupted backfill continues where it stopped."""
        return f"{self.tag}:backfill"

    @property
    def lease(self) -> str:
        """String with an expiry: the id of the watcher that looks after this product."""
        return f"{self.tag}:lease"


def alerts_key(prefix: str) -> str:
    """Both the pub/sub channel and the capped stream of alerts."""
    return f"{prefix}:alerts"


def ticks_channel(prefix: str) -> str:
    """Pub/sub channel: after each write the tracker publishes the products it wrote (comma separated), so live
    readers (bcx-web's tick streams) wake at once instead of polling."""
    return f"{prefix}:ticks"


def daemons_key(prefix: str) -> str:
    """Sorted set of the running daemons' ids (`role:name`), score = their last heartbeat (unix seconds)."""
    return f"{prefix}:daemons"


def daemon_key(prefix: str, daemon_id: str) -> str:
    """Hash of one daemon's heartbeat: pid, host, started, heartbeat, and its counters."""
    return f"{prefix}:daemon:{daemon_id}"
