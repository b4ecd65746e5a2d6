"""The tracker's counters in Redis for `bcx status`: a thread that beats every few seconds (bcx.heartbeat).

Its own thread, so a Redis outage (each beat waits at most the connection's timeout) never stalls the socket
reader or the writer; a failed beat is logged at debug level and simply tried again at the next one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping

import redis

from bcx.heartbeat import beat, forget
from bcx_tracker.worker import Worker

log = logging.getLogger(__name__)

BEAT_EVERY = 5.0


class Reporter(Worker):
    thread_name = "bcx-reporter"

    def __init__(
        self,
        conn: redis.Redis,
        prefix: str,
        ident: str,
        counters: Callable[[], Mapping[str, object]],
        every: float = BEAT_EVERY,
    ):
        super().__init__()
        self.conn, self.prefix, self.ident = conn, prefix, ident
        self.counters = counters
        self.every = every
        self.started = time.time()

    def beat_once(self) -> bool:
        try:
            beat(self.conn, self.prefix, self.ident, self.started, time.time(), self.counters())
            return True
        except (redis.RedisError, OSError) as exc:
            log.debug("heartbeat not recorded: %s", exc)
            return False

    def join(self) -> bool:
        """After stop(): the last beat done, remove this tracker's heartbeat (a clean exit)."""
        ended = super().join()
        try:
            forget(self.conn, self.prefix, self.ident)
        except (redis.RedisError, OSError) as exc:
            log.debug("heartbeat not removed: %s", exc)
        return ended

    def run(self) -> None:
        while not self.stopping:
            self.beat_once()
            self.wait(self.every)
