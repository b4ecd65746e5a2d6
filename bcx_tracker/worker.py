"""The tracker's background workers (connections, writer, backfiller, reporter) share this small base:
`start()`, `stop(deadline)`, `join()`. Stopping is a request; `deadline` (time.monotonic) is when the worker must
have finished whatever it was waiting for, so that a TERM ends the daemon in bounded time."""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod

JOIN_GRACE = 2.0  # seconds past the deadline that join() still waits for a worker finishing its last step


class Worker(ABC):
    thread_name = "bcx-worker"

    def __init__(self) -> None:
        self._stopping = threading.Event()
        self.deadline: float | None = None
        self._thread = threading.Thread(target=self.run, name=self.thread_name, daemon=True)

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def start(self):
        self._thread.start()
        return self

    def stop(self, deadline: float) -> None:
        self.deadline = deadline
        self._stopping.set()

    def join(self) -> bool:
        """Waits for the thread (never longer than the deadline and a grace); True when it ended."""
        if not self._thread.is_alive():
            return True
        deadline = self.deadline if self.deadline is not None else time.monotonic()
        self._thread.join(max(0.0, deadline - time.monotonic()) + JOIN_GRACE)
        return not self._thread.is_alive()

    def wait(self, seconds: float) -> bool:
        """Sleep up to `seconds`, waking at once on stop; True when stopping."""
        return self._stopping.wait(seconds)

    @abstractmethod
    def run(self) -> None:
        """The thread's body: loops until `stopping`."""
