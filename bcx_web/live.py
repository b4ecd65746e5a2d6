"""How a live stream learns of new ticks.

`new_ticks` reads each product's latest-tick hash (one pipelined HGETALL for all products) and the range after its
cursor only for a product whose latest tick moved, so an idle check costs one round trip. A stream checks when the
tracker announces a write (TickStore.announce: a publish through bcx.pubsub after each flush, sharded on a Redis 7
cluster like the alerts, which `TickWaiter` waits for), and at
least every poll interval anyway, so ticks written without an announcement (an older tracker, a lost pub/sub
connection) still arrive, only later.
"""

from __future__ import annotations

import logging
import time

import redis

from bcx.keys import ticks_channel
from bcx.pubsub import Subscription
from bcx.store import TickStore
from bcx.tick import Cursor, Tick

log = logging.getLogger(__name__)

MAX_PER_POLL = 1000  # per product; a stream that fell this far behind skips to the newest ticks


def new_ticks(store: TickStore, cursors: dict[str, Cursor | None], newest_at_most: int | None = None) -> list[Tick]:
    """Ticks newer than each product's cursor (just the latest one for a cursor of None); moves the cursors.
    `newest_at_most` (the clock plus the allowed skew): a latest tick past it is not trusted, the newest stored one
    before it stands in (else one tick from year 9999 would end the stream for good)."""
    found: list[Tick] = []
    for product, latest in store.latest_many(list(cursors)).items():
        if latest is not None and newest_at_most is not None and latest.time_ms > newest_at_most:
            latest = store.latest_at_most(product, newest_at_most)
        cursor = cursors[product]
        if latest is None or (cursor is not None and Cursor.of(latest) <= cursor):
            continue
        if cursor is None:
            fresh = [latest]
        else:
            fresh = [t for t in store.range(product, cursor.time_ms, latest.time_ms) if Cursor.of(t) > cursor]
            fresh = fresh[-MAX_PER_POLL:]
        if fresh:
            cursors[product] = Cursor.of(fresh[-1])
            found.extend(fresh)
    return found


class TickWaiter:
    """A subscription to the tracker's announcements; `wait` returns early when one comes. Falls back to sleeping
    (plain polling) if the subscription fails. `close` when the stream ends."""

    def __init__(self, conn: redis.Redis, prefix: str):
        self._pubsub: Subscription | None = None
        try:
            self._pubsub = Subscription(conn, ticks_channel(prefix))
        except redis.RedisError as exc:
            log.warning("cannot subscribe to tick announcements (%s): polling", exc)

    def wait(self, timeout: float) -> bool:
        """Up to `timeout` seconds for an announcement; True when one came (all pending ones are taken)."""
        if self._pubsub is None:
            time.sleep(timeout)
            return False
        try:
            if self._pubsub.get(timeout=timeout) is None:
                return False
            while self._pubsub.get(timeout=0) is not None:  # a burst of writes wakes the stream once
                pass
            return True
        except redis.RedisError as exc:
            log.warning("tick announcements lost (%s): polling", exc)
            self.close()
            return False

    def close(self) -> None:
        if self._pubsub is not None:
            pubsub, self._pubsub = self._pubsub, None
            try:
                pubsub.close()
            except redis.RedisError:
                pass
