"""Server-Sent Events: the wire format, and the one loop every stream runs in.

A stream holds a gunicorn worker thread while it is open, so each worker caps its open streams (a
BoundedSemaphore; over the cap the client gets 503 and EventSource retries), writes a comment line every
`heartbeat` seconds (a write to a gone client fails, which ends the stream and frees the thread), and ends after
`max_duration`: the browser reconnects by itself, sending Last-Event-ID, and resumes where it was.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

RETRY_MS = 2000  # how long EventSource waits before reconnecting


def event(data: object, event_id: str | None = None, name: str | None = None) -> str:
    """One event: optional `id:` and `event:` lines, the JSON data on one line, a blank line."""
    lines = []
    if event_id is not None:
        lines.append(f"id: {event_id}")
    if name is not None:
        lines.append(f"event: {name}")
    lines.append("data: " + json.dumps(data, separators=(",", ":")))
    return "\n".join(lines) + "\n\n"


def comment(text: str) -> str:
    return f": {text}\n\n"


@dataclass(frozen=True)
class StreamLimits:
    heartbeat: float
    max_duration: float


class StreamSlots:
    """At most `size` open streams in this process; `try_take` never waits."""

    def __init__(self, size: int):
        self.size = size
        self._semaphore = threading.BoundedSemaphore(size)

    def try_take(self) -> bool:
        return self._semaphore.acquire(blocking=False)

    def give_back(self) -> None:
        self._semaphore.release()


def run_stream(poll: Callable[[], list[str]], limits: StreamLimits, clock=time.monotonic) -> Iterator[str]:
    """Yield what `poll` returns (it waits up to about a second itself), a heartbeat comment when nothing was sent
    for `limits.heartbeat`, until `limits.max_duration`. The caller frees the slot when the response closes
    (Response.call_on_close), which also covers a client gone before the first byte."""
    yield f"retry: {RETRY_MS}\n" + comment("stream open")
    began = last_write = clock()
    while clock() - began < limits.max_duration:
        chunks = poll()
        if chunks:
            yield "".join(chunks)
            last_write = clock()
        elif clock() - last_write >= limits.heartbeat:
            yield comment("heartbeat")
            last_write = clock()
    yield comment("max duration reached; reconnect with Last-Event-ID")
