"""`bcx up --replay`'s live demo: wait until the history before now is in Redis before showing the chart's URL.

bcx-replay sends the history at once, but the tracker needs from seconds to a minute or more to store a day of it;
a page opened meanwhile would say the data is stale and draw a partial day. The signal is the one the page itself
checks: every series' newest stored tick is recent. bcx-replay sends each exchange's lines in time order, so a
series whose newest tick is recent has its history before it stored too.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import redis

from bcx.chunks import DEFAULT_CHUNK_ENTRIES
from bcx.config import Config
from bcx.connection import connect
from bcx.store import TickStore

FRESH_MS = 60_000  # the page's stale banner shows past this age (STALE_S in bcx_web/static/js/page.js)
PROGRESS_EVERY_S = 5.0
GIVE_UP_S = 600.0  # a series that never gets a recent tick must not hide the chart's URL forever


def current(latest_ms: Mapping[str, float | None], now_ms: float) -> list[str]:
    """The series whose newest tick is recent enough for the page not to call it stale."""
    return [s for s, t in latest_ms.items() if t is not None and now_ms - t < FRESH_MS]


def progress(latest_ms: Mapping[str, float | None], start_ms: float, end_ms: float) -> float:
    """How far the slowest series has come through the history [start_ms, end_ms], from 0 to 1."""
    span = max(1.0, end_ms - start_ms)
    reached = [0.0 if t is None else (t - start_ms) / span for t in latest_ms.values()]
    return min(1.0, max(0.0, min(reached, default=0.0)))


def progress_line(
    latest_ms: Mapping[str, float | None], start_ms: float, end_ms: float, now_ms: float, elapsed_s: float
) -> str:
    done = len(current(latest_ms, now_ms))
    return (
        f"loading the demo's history: {progress(latest_ms, start_ms, end_ms):.0%}, "
        f"{done} of {len(latest_ms)} series current ({elapsed_s:.0f} s)"
    )


def wait_for_history(
    config: Config,
    series: list[str],
    history_s: float,
    started_ms: float,
    keep_waiting: Callable[[], bool],
    say: Callable[[str], None],
) -> bool:
    """Poll Redis until every series is current (True), or give up after GIVE_UP_S (True, with a word), or stop
    when keep_waiting() turns false (False). `started_ms`: when bcx-replay started (the history ends there)."""
    began = time.monotonic()
    next_report = began + PROGRESS_EVERY_S
    start_ms = started_ms - history_s * 1000
    conn = connect(config.redis)
    store = TickStore(conn, config.redis.prefix, chunk_entries=DEFAULT_CHUNK_ENTRIES)
    try:
        while keep_waiting():
            try:
                latest = store.latest_many(series)
                latest_ms = {s: None if tick is None else tick.time_ms for s, tick in latest.items()}
            except (redis.RedisError, OSError):
                latest_ms = dict.fromkeys(series)
            now, now_ms = time.monotonic(), time.time() * 1000
            if len(current(latest_ms, now_ms)) == len(series):
                say(f"the demo's history is in ({now - began:.0f} s)")
                return True
            if now - began > GIVE_UP_S:
                say(f"the demo's history is still loading after {GIVE_UP_S:.0f} s; the chart may be partial")
                return True
            if now >= next_report:
                say(progress_line(latest_ms, start_ms, started_ms, now_ms, now - began))
                next_report = now + PROGRESS_EVERY_S
            time.sleep(0.25)
        return False
    finally:
        conn.close()
