"""`bcx import`'s workers: child processes that each parse and write their share of a recording's lines.

Parsing a line costs about what encoding and writing its tick does, and both are Python work that a thread would do
under the parent's GIL. So the parent only reads the file and deals its lines out, a stream at a time
(importer.stream_key: one product of Coinbase, whose frames are read alone, or every exchange whose adapter keeps state
between frames and must be told its products, together: one first pass over the file for them), and each child runs the
tracker's parsing and writing path (importer.LineImporter into TickStore.add) on the streams it was dealt, in the file's
order. A stream goes to the child that was dealt the fewest lines so far when it first appears. Ticks never cross a
process boundary: only lines (strings pickle at memory speed) go down, and each child's counts come back at the end.

The children are forked, not spawned: a spawned child starts a new interpreter that imports the `bcx` command again
(~1 s here); a forked one has everything loaded and starts in milliseconds. Fork before any thread of the command
starts (the progress bar's monitor, a queue's feeder): a forked child keeps only the forking thread, and a lock
another thread held would stay locked in it. The children import nothing and log nothing.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import queue
import signal
from collections.abc import Callable, Iterable, Mapping
from typing import NamedTuple

import redis

from bcx.config import RedisConfig
from bcx.connection import connect
from bcx.store import TickStore
from bcx_tracker.importer import (
    ImportResult,
    LineImporter,
    Parsers,
    read_alone,
    recorded_products,
    stream_key,
)
from bcx_tracker.tick_checks import TickChecks

LINES_PER_BATCH = 2000  # lines dealt to a child at a time
AHEAD = 2  # batches queued for each child: memory stays at a few batches
MAX_WORKERS = 8


class WorkerFailed(Exception):
    """A worker process ended without saying why (killed, or an error other than Redis's: its traceback is above)."""


def worker_count() -> int:
    """Two children a core, at most MAX_WORKERS: streams are uneven (BTC trades more than SOL), and with more
    workers than cores the scheduler evens the cores' load out (2 cores, a recording of 3 products: 36-44k ticks/s
    with 1 worker, 44-55k with 2, 50-74k with 3)."""
    return max(2, min(2 * (os.cpu_count() or 1), MAX_WORKERS))


class ImportWorkers:
    """Deals numbered lines out to forked children (see the module's text); close() gives their counts added up."""

    def __init__(
        self,
        config: RedisConfig,
        path: str,
        protocols: Mapping[str, str],
        checks: TickChecks,
        count: int | None = None,
        on_batch: Callable[[], object] = lambda: None,
    ):
        context = multiprocessing.get_context("fork")  # see the module's text: before any thread
        reports = _Reports(context.Queue())
        work = _Work(config, path, dict(protocols), checks)
        self._children = [_Child(context, work, reports) for _ in range(count or worker_count())]
        self._read_alone = read_alone(protocols)
        self._child_of: dict[str, _Child] = {}
        self._on_batch = on_batch

    def take(self, numbered: Iterable[tuple[int, str]]) -> None:
        """Deal every line out; redis.RedisError when a child stopped on one, WorkerFailed when one died."""
        child_of, key_of, kinds = self._child_of, stream_key, self._read_alone  # runs per line
        for number, line in numbered:
            line = line.strip()
            if not line:
                continue
            key = key_of(line, kinds)
            child = child_of.get(key) or self._deal(key)
            child.numbers.append(number)
            child.lines.append(line)
            if len(child.lines) >= LINES_PER_BATCH:
                child.send()
                self._on_batch()

    def close(self) -> ImportResult:
        """Wait for every line to be written; the children's counts added up, or redis.RedisError or WorkerFailed."""
        for child in self._children:
            child.send()
            child.finish()
        return ImportResult.merged([child.result() for child in self._children])

    def stop(self) -> None:
        """End the children that still run (the parent stopped on an error before close): they would wait for
        lines for ever."""
        for child in self._children:
            child.stop()

    def _deal(self, key: str) -> _Child:
        child = self._child_of[key] = min(self._children, key=lambda c: c.dealt + len(c.lines))
        return child


class _Reports:
    """What each child said at its end, by process id: ("done", ImportResult), ("error", why) for a Redis or file
    error, or ("died", why) for a child that ended without a word."""

    def __init__(self, reports):
        self.queue = reports
        self._got: dict[int, tuple[str, object]] = {}

    def of(self, process) -> tuple[str, object]:
        while process.pid not in self._got:
            try:
                sender, kind, value = self.queue.get(timeout=0.5)
            except queue.Empty:
                if not process.is_alive() and self.queue.empty():
                    return "died", f"the import's worker process ended (exit code {process.exitcode})"
                continue
            self._got[sender] = (kind, value)
        return self._got[process.pid]


class _Child:
    """One worker process, and the lines waiting to be sent to it."""

    def __init__(self, context, work: _Work, reports: _Reports):
        self.numbers: list[int] = []
        self.lines: list[str] = []
        self.dealt = 0  # lines sent so far
        self._tasks = context.Queue(maxsize=AHEAD)
        self._reports = reports
        self.process = context.Process(
            target=_import_lines,
            args=(work, self._tasks, reports.queue),
            name="bcx-import-worker",
            daemon=True,  # a parent ending on an error must not wait for a child waiting for lines
        )
        self.process.start()

    def send(self) -> None:
        if self.lines:
            self._put((self.numbers, self.lines))
            self.dealt += len(self.lines)
            self.numbers, self.lines = [], []

    def finish(self) -> None:
        self._put(None)

    def stop(self) -> None:
        if self.process.is_alive():
            self.process.terminate()
            self.process.join()
        self._tasks.cancel_join_thread()  # lines left for a child that is gone must not hold the parent's exit
        self._tasks.close()

    def result(self) -> ImportResult:
        """The child's counts once it has written everything; redis.RedisError when it stopped on one, WorkerFailed
        when it died."""
        kind, value = self._reports.of(self.process)
        self.process.join()
        if kind == "error":
            raise redis.RedisError(value)
        if kind == "died":
            raise WorkerFailed(value)
        return value

    def _put(self, batch) -> None:
        while True:
            try:
                self._tasks.put(batch, timeout=0.5)
                return
            except queue.Full:
                if not self.process.is_alive():
                    self.result()  # raises what stopped it
                    raise WorkerFailed("the import's worker process ended before the file did") from None


class _Work(NamedTuple):
    config: RedisConfig
    path: str
    protocols: dict[str, str]
    checks: TickChecks


def _import_lines(work: _Work, tasks, reports) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent stops the children
    pid = os.getpid()
    try:
        conn = connect(work.config)
        store = TickStore(conn, work.config.prefix)
        parsers = Parsers(work.protocols, functools.partial(recorded_products, work.path))
        importer = LineImporter(parsers, store.add, work.checks)
        while (batch := tasks.get()) is not None:
            importer.take(zip(*batch, strict=True))
        result = importer.finish()
        conn.close()
    except (redis.RedisError, OSError) as exc:
        reports.put((pid, "error", str(exc)))
        return
    reports.put((pid, "done", result))
