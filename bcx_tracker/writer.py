"""The batching Redis writer: a thread between the socket reader and the tick store.

The reader hands ticks over a bounded queue and never waits on Redis (a slow consumer gets disconnected by
the exchange). The writer thread flushes a batch when `batch_size` ticks are waiting or every
`flush_interval`. A Redis error never kills it: the batch is kept and retried with capped backoff, and while
Redis is away the queue fills up to its bound, after which new ticks are dropped and counted. Memory stays
bounded by queue_size + batch_size ticks.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from typing import Protocol

import redis

from bcx.backoff import backoff_delay
from bcx.tick import Tick

log = logging.getLogger(__name__)

# The longest the thread blocks on the queue, so close() is noticed quickly even with a long flush_interval.
_POLL = 0.1
_DROP_LOG_EVERY = 10_000


class Store(Protocol):
    def add(self, ticks: Iterable[Tick]) -> int: ...


class TickWriter:
    """`put()` from the reader thread, `close()` at shutdown; counters `written`, `dropped`, `unwritten`."""

    def __init__(
        self,
        store: Store,
        batch_size: int = 500,
        flush_interval: float = 0.1,
        queue_size: int = 100_000,
        retry_max: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.store = store
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.retry_max = retry_max
        self.clock = clock
        self.written = 0
        self.new = 0
        self.unwritten = 0
        self._dropped_full = 0
        self._dropped_failed = 0
        self._failures = 0
        self._queue: queue.Queue[Tick] = queue.Queue(maxsize=queue_size)
        self._batch: list[Tick] = []
        self._closing = threading.Event()
        self._give_up_at: float | None = None
        self._thread = threading.Thread(target=self._run, name="bcx-writer", daemon=True)

    @property
    def dropped(self) -> int:
        return self._dropped_full + self._dropped_failed

    @property
    def pending(self) -> int:
        return self._queue.qsize() + len(self._batch)

    def start(self) -> TickWriter:
        self._thread.start()
        return self

    def put(self, tick: Tick) -> bool:
        """Queue a tick without waiting; False (and counted as dropped) when the queue is full."""
        try:
            self._queue.put_nowait(tick)
            return True
        except queue.Full:
            self._dropped_full += 1
            if self._dropped_full % _DROP_LOG_EVERY == 1:
                log.warning("write queue full (Redis too slow or away): %d ticks dropped so far", self._dropped_full)
            return False

    def close(self, timeout: float = 10.0) -> int:
        """Flush every buffered tick and stop the thread; gives up on Redis after `timeout` seconds.

        Returns how many ticks could not be written."""
        self._give_up_at = self.clock() + timeout
        self._closing.set()
        if self._thread.is_alive():
            self._thread.join()
        else:  # never started: nothing was flushed
            self.unwritten = self.pending
        if self.unwritten:
            log.error("Redis unavailable at shutdown: %d ticks could not be written", self.unwritten)
        return self.unwritten

    def _run(self) -> None:
        while True:
            self._collect()
            if self._batch:
                self._flush()
            if self._closing.is_set():
                if not self.pending:
                    return
                if self._give_up_at is not None and self.clock() >= self._give_up_at:
                    self.unwritten = self.pending
                    return

    def _collect(self) -> None:
        """Move ticks from the queue into the batch until it is full or flush_interval has passed."""
        if self._failures:
            return  # retrying: keep the batch as is, let the queue absorb new ticks up to its bound
        deadline = self.clock() + self.flush_interval
        while len(self._batch) < self.batch_size:
            wait = 0.0 if self._closing.is_set() else min(_POLL, deadline - self.clock())
            try:
                self._batch.append(self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait())
            except queue.Empty:
                if wait <= 0 or self.clock() >= deadline:
                    return

    def _flush(self) -> None:
        try:
            self.new += self.store.add(self._batch)
        except (redis.RedisError, OSError) as exc:
            self._failures += 1
            delay = backoff_delay(self._failures, cap=self.retry_max)
            log.warning(
                "Redis write failed (%s): keeping %d ticks (%d queued), retry %d in %.1fs",
                exc,
                len(self._batch),
                self._queue.qsize(),
                self._failures,
                delay,
            )
            self._wait(delay)
            return
        except Exception:
            # A bug, not an outage: retrying the same batch would fail forever and block every later tick.
            log.exception("cannot write %d ticks: dropping them", len(self._batch))
            self._dropped_failed += len(self._batch)
            self._batch = []
            return
        if self._failures:
            log.info("Redis is back: wrote %d kept ticks after %d failed attempts", len(self._batch), self._failures)
            self._failures = 0
        self.written += len(self._batch)
        self._batch = []

    def _wait(self, delay: float) -> None:
        """Sleep before a retry, but never past the shutdown deadline."""
        until = self.clock() + delay
        while True:
            now = self.clock()
            limit = until if self._give_up_at is None else min(until, self._give_up_at)
            if now >= limit:
                return
            time.sleep(min(_POLL, limit - now))
