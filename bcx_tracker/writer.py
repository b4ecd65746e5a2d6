"""The batching Redis writer: a thread between the socket reader and the tick store.

The reader hands ticks over in batches through a bounded queue and never waits on Redis (a slow consumer gets
disconnected by the exchange). The writer thread moves them into its in-memory buffer and writes at once when
nothing else is waiting: a lone tick goes out without delay, and under load the ticks that arrived during one write
make the next batch (up to `batch_size`), so batches grow with the load by themselves. A `flush_interval` above 0
makes it wait that long for a fuller batch instead (fewer, larger writes at a low rate). A Redis error never kills
it: the buffer is kept, in order, and the flush retried with capped backoff while the thread goes on draining the
queue, so the reader is never blocked. The buffer holds at most `buffer` ticks; past that the oldest are dropped,
and how many is logged at most once a minute. Memory stays bounded by queue_size + buffer ticks (plus one batch).
"""

from __future__ import annotations

import itertools
import logging
import queue
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Protocol

import redis

from bcx.backoff import backoff_delay
from bcx.config import DEFAULTS
from bcx.ratelog import worth_logging
from bcx.tick import Tick
from bcx_tracker.worker import Worker

log = logging.getLogger(__name__)

# The longest the thread blocks on the queue, so close() is noticed quickly even with a long flush_interval.
_POLL = 0.1
_DROP_LOG_EVERY = 10_000
DROP_LOG_INTERVAL = 60.0  # seconds between two log lines about ticks dropped from a full buffer


class Store(Protocol):
    def add(self, ticks: Iterable[Tick]) -> int: ...


class TickQueue(queue.Queue):
    """A queue of tick batches whose size, and so its `maxsize`, counts ticks rather than batches (a batch is
    taken while fewer than `maxsize` ticks wait). One lock round per batch instead of per tick: at tens of
    thousands of ticks a second the per-tick put and get cost as much as parsing a frame."""

    def _init(self, maxsize: int) -> None:
        self.queue: deque[list[Tick]] = deque()
        self.ticks = 0

    def _qsize(self) -> int:
        return self.ticks

    def _put(self, batch: list[Tick]) -> None:
        self.queue.append(batch)
        self.ticks += len(batch)

    def _get(self) -> list[Tick]:
        batch = self.queue.popleft()
        self.ticks -= len(batch)
        return batch


class TickWriter(Worker):
    """`put_many()` (or `put()`) from other threads, `stop(deadline)` and `join()` (or `close()`) at shutdown;
    counters `written`, `dropped`, `unwritten`, and `pending` (ticks buffered now). The deadline is in the
    writer's clock (time.monotonic unless a test gives another)."""

    thread_name = "bcx-writer"

    def __init__(
        self,
        store: Store,
        batch_size: int = DEFAULTS.tracker.batch_size,
        flush_interval: float = DEFAULTS.tracker.flush_interval,
        queue_size: int = DEFAULTS.tracker.queue_size,
        retry_max: float = DEFAULTS.tracker.reconnect_max,
        buffer: int = DEFAULTS.tracker.buffer,
        clock: Callable[[], float] = time.monotonic,
        on_written: Callable[[list[Tick]], None] | None = None,
    ):
        super().__init__()
        self.store = store
        self.on_written = on_written  # after each written batch: the tracker announces it (TickStore.announce)
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.retry_max = retry_max
        self.buffer = buffer
        self.clock = clock
        self.written = 0
        self.new = 0
        self.unwritten = 0
        self._dropped_full = 0
        self._dropped_oldest = 0
        self._dropped_failed = 0
        self._drops_unlogged = 0
        self._drops_logged_at: float | None = None
        self._failures = 0
        self._retry_at = 0.0
        self._queue = TickQueue(maxsize=queue_size)
        self._pending: deque[Tick] = deque()

    @property
    def dropped(self) -> int:
        return self._dropped_full + self._dropped_oldest + self._dropped_failed

    @property
    def pending(self) -> int:
        return self._queue.qsize() + len(self._pending)

    def put(self, tick: Tick) -> bool:
        return self.put_many([tick])

    def put_many(self, ticks: list[Tick]) -> bool:
        """Queue ticks without waiting; False (and counted as dropped) when the queue is full."""
        if not ticks:  # an empty batch would count as no ticks and leave get() waiting
            return True
        try:
            self._queue.put_nowait(ticks)
            return True
        except queue.Full:
            before, self._dropped_full = self._dropped_full, self._dropped_full + len(ticks)
            if before // _DROP_LOG_EVERY != self._dropped_full // _DROP_LOG_EVERY or not before:
                log.warning("write queue full (the writer cannot keep up): %d ticks dropped so far", self._dropped_full)
            return False

    def close(self, timeout: float = 10.0) -> int:
        """Flush every buffered tick and stop the thread; gives up on Redis after `timeout` seconds.

        Returns how many ticks could not be written."""
        self.stop(self.clock() + timeout)
        self.join()
        return self.unwritten

    def join(self) -> bool:
        """After stop(): wait for the last flush (bounded by the deadline), then say what was not written; True
        when every tick was written."""
        if self.alive:
            self._thread.join()  # the thread itself gives up at the deadline
        else:  # never started: nothing was flushed
            self.unwritten = self.pending
        self._report_drops(self.clock(), force=True)
        if self.unwritten:
            log.error("Redis unavailable at shutdown: %d ticks could not be written", self.unwritten)
        return not self.unwritten

    def run(self) -> None:
        while True:
            self._collect()
            now = self.clock()
            if self._pending and now >= self._retry_at:
                self._flush()
            self._report_drops(now)
            if self.stopping:
                if not self.pending:
                    return
                if self.deadline is not None and self.clock() >= self.deadline:
                    self.unwritten = self.pending
                    return

    def _collect(self) -> None:
        """Move ticks from the queue into the buffer: wait (a bounded poll) while nothing is buffered, then take what
        is queued until a batch is ready, `flush_interval` has passed since the first tick came, or (while Redis is
        failing) the next retry is due. With no flush_interval, what is queued now is a batch."""
        if not self._pending and not self._wait_for_first():
            return
        now = self.clock()
        deadline = max(self._retry_at, now) if self._failures else now + self.flush_interval
        if self.stopping and self.deadline is not None:
            deadline = min(deadline, self.deadline)
        while self._failures or len(self._pending) < self.batch_size:
            wait = 0.0 if self.stopping and not self._failures else min(_POLL, deadline - self.clock())
            try:
                self._keep(self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait())
            except queue.Empty:
                if wait <= 0 or self.clock() >= deadline:
                    break
        self._take_backlog()

    def _wait_for_first(self) -> bool:
        """Up to _POLL seconds (none when stopping) for the first ticks of the next batch; True when some came."""
        try:
            self._keep(self._queue.get_nowait() if self.stopping else self._queue.get(timeout=_POLL))
        except queue.Empty:
            return False
        return True

    def _take_backlog(self) -> None:
        """Move what is queued now into the buffer, while it has room: when the feed outpaces Redis for a while
        (a burst, a replay at full speed), the backlog waits in the buffer and the queue stays free for the
        reader, instead of filling and dropping the newest ticks."""
        while len(self._pending) < self.buffer:
            try:
                self._keep(self._queue.get_nowait())
            except queue.Empty:
                return

    def _keep(self, ticks: list[Tick]) -> None:
        self._pending.extend(ticks)
        excess = len(self._pending) - self.buffer
        if excess > 0:
            self._drop_front(excess)
            self._dropped_oldest += excess
            self._drops_unlogged += excess

    def _report_drops(self, now: float, force: bool = False) -> None:
        if not self._drops_unlogged:
            return
        if force or self._drops_logged_at is None or now - self._drops_logged_at >= DROP_LOG_INTERVAL:
            log.warning(
                "buffer full (%d ticks, Redis away): dropped the %d oldest ticks (%d in all)",
                self.buffer,
                self._drops_unlogged,
                self._dropped_oldest,
            )
            self._drops_unlogged = 0
            self._drops_logged_at = now

    def _flush(self) -> None:
        batch = list(itertools.islice(self._pending, self.batch_size))
        try:
            self.new += self.store.add(batch)
        except (redis.RedisError, OSError) as exc:
            self._failed(exc)
            return
        except Exception:
            # Not an outage but a tick the store cannot take (one that cannot be encoded) or a bug: retrying the
            # batch would fail forever, and dropping it would lose its good ticks. Find the bad ones.
            self._write_one_by_one(batch)
            return
        self._written(batch)

    def _write_one_by_one(self, batch: list[Tick]) -> None:
        """Write a refused batch tick by tick (a rare path), dropping and counting only the ticks refused."""
        for tick in batch:
            try:
                self.new += self.store.add([tick])
            except (redis.RedisError, OSError) as exc:
                self._failed(exc)  # the rest stays buffered, in order, for the retry
                return
            except Exception:
                self._dropped_failed += 1
                self._drop_front(1)
                if worth_logging(self._dropped_failed):
                    log.exception("cannot write a tick (#%d dropped): %.200s", self._dropped_failed, tick)
                continue
            self._written([tick])

    def _failed(self, exc: Exception) -> None:
        self._failures += 1
        delay = backoff_delay(self._failures, cap=self.retry_max)
        self._retry_at = self.clock() + delay
        log.warning(
            "Redis write failed (%s): keeping %d ticks, retry %d in %.1fs", exc, self.pending, self._failures, delay
        )

    def _written(self, batch: list[Tick]) -> None:
        if self._failures:
            log.info("Redis is back after %d failed attempts: writing %d kept ticks", self._failures, self.pending)
            self._failures = 0
            self._retry_at = 0.0
        self.written += len(batch)
        self._drop_front(len(batch))
        self._announce(batch)

    def _announce(self, batch: list[Tick]) -> None:
        """The ticks are stored whatever happens here: a failed announcement only makes live readers poll."""
        if self.on_written is None:
            return
        try:
            self.on_written(batch)
        except (redis.RedisError, OSError) as exc:
            log.debug("announcing %d written ticks failed: %s", len(batch), exc)

    def _drop_front(self, count: int) -> None:
        for _ in range(count):
            self._pending.popleft()
