"""The tracker's counters in Redis for `bcx status`: a thread that beats every few seconds (bcx.heartbeat).

Its own thread, so a Redis outage (each beat waits at most the connection's timeout) never stalls the socket
reader or the writer; a failed beat is logged at debug level and simply tried again at the next one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping

import redis

from bcx.heartbeat import beat, forget

log = logging.getLogger(__name__)

BEAT_EVERY = 5.0


class Reporter:
    def __init__(
        self,
        conn: redis.Redis,
        prefix: str,
        ident: str,
        counters: Callable[[], Mapping[str, object]],
        every: float = BEAT_EVERY,
    ):
        self.conn, self.prefix, self.ident = conn, prefix, ident
        self.counters = counters
        self.every = every
        self.started = time.time()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bcx-reporter", daemon=True)

    def start(self) -> Reporter:
        self._thread.start()
        return self

    def beat_once(self) -> bool:
        try:
            beat(self.conn, self.prefix, self.ident, self.started, time.time(), self.counters())
            return True
        except (redis.RedisError, OSError) as exc:
            log.debug("heartbeat not recorded: %s", exc)
            return False

    def close(self) -> None:
        """Stop beating and remove this tracker's heartbeat (a clean exit)."""
        self._stop.set()
        self._thread.join(timeout=10)
        try:
            forget(self.conn, self.prefix, self.ident)
        except (redis.RedisError, OSError) as exc:
            log.debug("heartbeat not removed: %s", exc)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.beat_once()
            self._stop.wait(self.every)
