"""The batching writer against stub stores: batching, flushing, a Redis outage, shutdown."""

from __future__ import annotations

import logging
import threading
import time

import pytest
import redis

from bcx.tick import Tick
from bcx_tracker.writer import TickWriter

TIMEOUT = 5.0


def ticks(n: int, start: int = 1) -> list[Tick]:
    return [Tick("BTC-USD", 1_700_000_000_000 + i, i, f"{i}.5", sequence=i) for i in range(start, start + n)]


class ListStore:
    """Stores batches in memory; fails with `errors` (one per call) first."""

    def __init__(self, errors: list[Exception] | None = None):
        self.batches: list[list[Tick]] = []
        self.errors = list(errors or [])
        self.calls = 0
        self.changed = threading.Condition()

    def add(self, batch) -> int:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        with self.changed:
            self.batches.append(list(batch))
            self.changed.notify_all()
        return len(batch)

    @property
    def ticks(self) -> list[Tick]:
        return [tick for batch in self.batches for tick in batch]

    def wait_for(self, count: int) -> None:
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.ticks) >= count, timeout=TIMEOUT), self.ticks


class DownStore:
    def __init__(self):
        self.calls = 0

    def add(self, batch):
        self.calls += 1
        raise redis.ConnectionError("Connection refused")


@pytest.fixture
def running():
    """Writers started by a test, closed (with a bounded wait) even when it fails."""
    writers: list[TickWriter] = []

    def start(store, **options) -> TickWriter:
        writer = TickWriter(store, **options).start()
        writers.append(writer)
        return writer

    yield start
    for writer in writers:
        writer.close(timeout=0.2)


def test_full_batches_are_flushed_without_waiting_for_the_interval(running):
    store = ListStore()
    writer = running(store, batch_size=5, flush_interval=60)
    for tick in ticks(10):
        assert writer.put(tick)
    store.wait_for(10)
    assert [len(batch) for batch in store.batches] == [5, 5]
    assert writer.written == 10


def test_a_lone_tick_is_written_at_once_without_waiting_for_more(running):
    store = ListStore()
    writer = running(store, batch_size=1000, clock=lambda: 0.0)  # time stands still: no interval can pass
    writer.put(ticks(1)[0])
    store.wait_for(1)
    assert store.ticks == ticks(1)


class BlockingStore(ListStore):
    """Holds its first write until released, as a slow Redis would."""

    def __init__(self):
        super().__init__()
        self.entered, self.release = threading.Event(), threading.Event()

    def add(self, batch) -> int:
        self.entered.set()
        assert self.release.wait(TIMEOUT)
        return super().add(batch)


def test_ticks_that_arrive_during_a_write_are_the_next_batch(running):
    store = BlockingStore()
    writer = running(store, batch_size=1000, clock=lambda: 0.0)
    first, *rest = ticks(10)
    writer.put(first)
    assert store.entered.wait(TIMEOUT)  # the first tick is being written alone
    for tick in rest:
        writer.put(tick)
    store.release.set()
    store.wait_for(10)
    assert store.batches == [[first], rest]


def test_a_partial_batch_is_flushed_after_the_interval(running):
    store = ListStore()
    writer = running(store, batch_size=1000, flush_interval=0.05)
    for tick in ticks(3):
        writer.put(tick)
    store.wait_for(3)
    assert store.ticks == ticks(3)


def test_close_flushes_every_buffered_tick(running):
    store = ListStore()
    writer = running(store, batch_size=4, flush_interval=3600)
    for tick in ticks(10):
        writer.put(tick)
    assert writer.close() == 0
    assert store.ticks == ticks(10)
    assert (writer.written, writer.dropped, writer.pending) == (10, 0, 0)


def test_redis_outage_keeps_ticks_and_writes_them_when_it_is_back(running, caplog):
    caplog.set_level(logging.INFO, logger="bcx_tracker")
    store = ListStore(errors=[redis.ConnectionError("Connection refused"), redis.TimeoutError("Timeout")])
    writer = running(store, batch_size=3, flush_interval=0.01, retry_max=0.05)
    for tick in ticks(7):
        writer.put(tick)
    store.wait_for(7)
    assert store.ticks == ticks(7)  # nothing lost, nothing twice, order kept
    assert store.calls >= 3
    assert "Redis write failed (Connection refused): keeping " in caplog.text
    assert "Redis is back" in caplog.text


class SwitchStore(ListStore):
    """Down until `up` is set."""

    def __init__(self):
        super().__init__()
        self.up = threading.Event()

    def add(self, batch) -> int:
        if not self.up.is_set():
            self.calls += 1
            raise redis.ConnectionError("Connection refused")
        return super().add(batch)


def test_outage_past_the_buffer_drops_the_oldest_and_flushes_the_rest_in_order(running, caplog):
    store = SwitchStore()
    writer = running(store, batch_size=2, flush_interval=0.01, queue_size=3, retry_max=0.05, buffer=5)
    sent = ticks(20)
    for tick in sent:
        assert writer.put(tick)  # the reader is never refused: the thread keeps draining the queue
        deadline = time.monotonic() + TIMEOUT
        while writer._queue.qsize() and time.monotonic() < deadline:
            time.sleep(0.001)
    assert writer.pending <= 5
    store.up.set()
    store.wait_for(5)
    assert writer.close() == 0
    assert store.ticks == sent[-5:]
    assert writer.dropped == 15
    assert "oldest ticks (15 in all)" in caplog.text


def test_drops_are_logged_at_most_once_a_minute(caplog):
    now = [0.0]
    writer = TickWriter(ListStore(), buffer=1, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING):
        for second in (0.0, 1.0, 59.0, 61.0):
            now[0] = second
            writer._keep(ticks(1))
            writer._keep(ticks(1))
            writer._report_drops(now[0])
    lines = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
    assert lines == [
        "buffer full (1 ticks, Redis away): dropped the 1 oldest ticks (1 in all)",  # at 0s
        "buffer full (1 ticks, Redis away): dropped the 6 oldest ticks (7 in all)",  # 1s and 59s held back until 61s
    ]


def test_close_with_redis_down_gives_up_and_says_how_many(caplog):
    store = DownStore()
    writer = TickWriter(store, batch_size=2, flush_interval=0.01, retry_max=0.05).start()
    for tick in ticks(5):
        writer.put(tick)
    started = time.monotonic()
    with caplog.at_level(logging.ERROR):
        assert writer.close(timeout=0.3) == 5
    assert time.monotonic() - started < TIMEOUT
    assert "5 ticks could not be written" in caplog.text
    assert store.calls >= 2


def test_a_bug_in_the_store_drops_only_the_refused_tick_instead_of_blocking_forever(running, caplog):
    store = ListStore(errors=[TypeError("bug"), TypeError("bug")])  # the batch, then its first tick alone
    writer = running(store, batch_size=2, flush_interval=0.01)
    for tick in ticks(4):
        writer.put(tick)
    store.wait_for(3)
    assert writer.close() == 0
    assert writer.dropped == 1 and store.ticks == ticks(3, start=2)
    assert "cannot write a tick (#1 dropped)" in caplog.text


def test_put_without_a_running_thread_counts_drops_and_close_reports_them():
    writer = TickWriter(ListStore(), queue_size=2)
    assert [writer.put(tick) for tick in ticks(3)] == [True, True, False]
    assert writer.dropped == 1
    assert writer.close() == 2


def test_each_written_batch_is_announced_and_a_failed_announcement_loses_nothing(running):
    store, announced = ListStore(), []

    def announce(batch) -> None:
        announced.append([tick.trade_id for tick in batch])
        if len(announced) == 1:
            raise redis.ConnectionError("gone")  # the ticks are stored: the writer goes on

    writer = running(store, batch_size=5, flush_interval=60, on_written=announce)
    for tick in ticks(10):
        writer.put(tick)
    store.wait_for(10)
    writer.close()
    assert announced == [[1, 2, 3, 4, 5], [6, 7, 8, 9, 10]]
    assert (writer.written, writer.dropped) == (10, 0)


def test_a_failed_write_is_not_announced(running):
    store, announced = ListStore([redis.ConnectionError("down")]), []
    writer = running(store, batch_size=3, flush_interval=60, retry_max=0.01, on_written=announced.append)
    for tick in ticks(3):
        writer.put(tick)
    store.wait_for(3)
    writer.close()
    assert store.calls == 2 and [len(batch) for batch in announced] == [3]


def test_a_backlog_moves_into_the_buffer_so_the_queue_stays_free_for_the_reader():
    writer = TickWriter(ListStore(), batch_size=5, queue_size=10, buffer=12)
    batches = [ticks(4) for _ in range(4)]
    for batch in batches[:3]:
        assert writer.put_many(batch)
    writer._collect()  # a batch is ready: what is queued comes along, up to the buffer's size
    assert len(writer._pending) == 12 and writer._queue.qsize() == 0
    assert writer.put_many(batches[3])  # the queue has room again
    assert writer.dropped == 0
