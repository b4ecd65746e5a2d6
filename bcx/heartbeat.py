"""Daemon heartbeats in Redis: who is running, since when, last seen, and their counters (for `bcx status`).

Each daemon calls `beat` every few seconds with its counters; `read_heartbeats` lists them. A daemon's hash
expires when it stops beating, so a dead daemon disappears on its own; its entry in the registry stays with its
last heartbeat time, so `bcx status` can still say when it was last seen.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass

import redis

from bcx.keys import daemon_key, daemons_key

EXPIRE_AFTER = 60  # seconds without a beat before a daemon's hash goes


@dataclass(frozen=True)
class DaemonHeartbeat:
    """A daemon's last beat as read back (not an exchange's keepalive, which is bcx_tracker.exchange.Heartbeat)."""

    daemon_id: str
    last_beat: float
    fields: dict[str, str]

    def age(self, now: float) -> float:
        return now - self.last_beat


def daemon_id(role: str, name: str | None = None) -> str:
    """`tracker:myhost:1234` unless the daemon has a name of its own (e.g. a shard)."""
    return f"{role}:{name or f'{socket.gethostname()}:{os.getpid()}'}"


def beat(
    conn: redis.Redis, prefix: str, ident: str, started: float, now: float, counters: Mapping[str, object]
) -> None:
    """Record one heartbeat with the daemon's counters (one round trip)."""
    fields = {"pid": os.getpid(), "host": socket.gethostname(), "started": started, "heartbeat": now, **counters}
    pipe = conn.pipeline(transaction=False)
    pipe.hset(daemon_key(prefix, ident), mapping={k: str(v) for k, v in fields.items()})
    pipe.expire(daemon_key(prefix, ident), EXPIRE_AFTER)
    pipe.zadd(daemons_key(prefix), {ident: now})
    pipe.execute()


def forget(conn: redis.Redis, prefix: str, ident: str) -> None:
    """A daemon that stops cleanly removes itself."""
    pipe = conn.pipeline(transaction=False)
    pipe.delete(daemon_key(prefix, ident))
    pipe.zrem(daemons_key(prefix), ident)
    pipe.execute()


def read_heartbeats(conn: redis.Redis, prefix: str) -> list[DaemonHeartbeat]:
    """Every daemon that ever beat and did not stop cleanly, newest first; `fields` is empty once expired."""
    registered = conn.zrevrange(daemons_key(prefix), 0, -1, withscores=True)
    pipe = conn.pipeline(transaction=False)
    for ident, _ in registered:
        pipe.hgetall(daemon_key(prefix, ident))
    hashes = pipe.execute() if registered else []
    return [DaemonHeartbeat(ident, score, fields) for (ident, score), fields in zip(registered, hashes, strict=True)]
