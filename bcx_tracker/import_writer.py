"""`bcx import`'s writer: TickStore.add in a child process, so that writing runs beside the parsing.

A thread would not do: encoding members and packing the Lua call are Python work as costly as the server's, and
would wait for the parser's GIL (measured: no faster than writing after parsing). The parent sends each batch as
plain tuples (they pickle several times faster than the NamedTuples), at most two batches ahead, and learns at the
end how many ticks were new, or the Redis error that stopped the child.

The child is forked, not spawned: a spawned child starts a new interpreter that imports the `bcx` command again
(~1 s here, while the parser waits for it after two batches); a forked one has everything loaded and starts in
milliseconds. Fork before any thread of the command starts (the progress bar's monitor, the queue's feeder): a
forked child keeps only the forking thread, and a lock another thread held would stay locked in it. The child
imports nothing and logs nothing.
"""

from __future__ import annotations

import multiprocessing
import queue

import redis

from bcx.config import RedisConfig
from bcx.connection import connect
from bcx.store import TickStore
from bcx.tick import Tick

AHEAD = 2  # batches queued for the child: memory stays at a few batches


class ProcessWriter:
    def __init__(self, config: RedisConfig, prefix: str):
        context = multiprocessing.get_context("fork")  # see the module's text: before any thread
        self._tasks = context.Queue(maxsize=AHEAD)
        self._results = context.Queue()
        self._process = context.Process(
            target=_write_batches,
            args=(config, prefix, self._tasks, self._results),
            name="bcx-import-writer",
            daemon=True,  # a parent ending on an error must not wait for a child waiting for batches
        )
        self._process.start()

    def put(self, ticks: list[Tick]) -> None:
        """Queue a batch; waits while AHEAD batches wait; redis.RedisError when the child stopped on one."""
        rows = [tuple(tick) for tick in ticks]
        while True:
            try:
                self._tasks.put(rows, timeout=0.5)
                return
            except queue.Full:
                if not self._process.is_alive():
                    self.close()

    def close(self) -> int:
        """Wait for every batch to be written; how many ticks were new, or redis.RedisError."""
        if self._process.is_alive():
            self._tasks.put(None)
        while True:
            try:
                kind, value = self._results.get(timeout=0.5)
                break
            except queue.Empty:
                if not self._process.is_alive() and self._results.empty():
                    kind, value = "error", f"the import's writer process ended (exit code {self._process.exitcode})"
                    break
        self._process.join()
        if kind == "error":
            raise redis.RedisError(value)
        return value

    def stop(self) -> None:
        """End the child if it still runs (the parent stopped on an error before close): it would wait for
        batches for ever."""
        if self._process.is_alive():
            self._process.terminate()
            self._process.join()


def _write_batches(config: RedisConfig, prefix: str, tasks, results) -> None:
    new = 0
    try:
        conn = connect(config)
        store = TickStore(conn, prefix)
        while (rows := tasks.get()) is not None:
            new += store.add(Tick._make(row) for row in rows)
        conn.close()
    except (redis.RedisError, OSError) as exc:
        results.put(("error", str(exc)))
        return
    results.put(("done", new))
