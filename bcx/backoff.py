"""Reconnect delays: capped exponential backoff with jitter, as a pure function of the failure count."""

from __future__ import annotations

import random


def backoff_delay(failures: int, base: float = 1.0, cap: float = 60.0, rand: float | None = None) -> float:
    """Seconds to wait after `failures` consecutive failures (1 for the first): "full jitter" between half and
    all of min(cap, base * 2**(failures-1)), so many clients restarted together do not reconnect in step.
    `rand` in [0, 1) makes it deterministic for tests."""
    if failures <= 0:
        return 0.0
    ceiling = min(cap, base * 2 ** min(failures - 1, 32))
    r = random.random() if rand is None else rand
    return ceiling * (0.5 + r / 2)
