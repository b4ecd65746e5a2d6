"""Reconnect delays: capped exponential backoff with equal jitter, as a pure function of the failure count.

The same formula as redis-py's `EqualJitterBackoff` (which bcx.connection gives the Redis clients), kept as a function
here for the daemons' own loops (feed reconnects, the writer's flush retries, the watcher's failed passes) because
they pass a failure count and, in tests, the random draw."""

from __future__ import annotations

import random


def backoff_delay(failures: int, base: float = 1.0, cap: float = 60.0, rand: float | None = None) -> float:
    """Seconds to wait after `failures` consecutive failures (1 for the first): "equal jitter", half of
    min(cap, base * 2**(failures-1)) plus a random part of the other half, so that many clients restarted together
    do not reconnect in step yet each waits at least half the ceiling ("full jitter" would draw from 0 to all).
    `rand` in [0, 1) makes it deterministic for tests."""
    if failures <= 0:
        return 0.0
    ceiling = min(cap, base * 2 ** min(failures - 1, 32))
    r = random.random() if rand is None else rand
    return ceiling * (0.5 + r / 2)
