"""A token bucket for the REST API's public rate limit (10 requests/s, bursts of 15, per IP), as pure state."""

from __future__ import annotations


class TokenBucket:
    """`rate` tokens a second up to `burst`; `take(now)` spends one and says how long to wait first (0: none)."""

    def __init__(self, rate: float, burst: float, now: float = 0.0):
        if rate <= 0 or burst < 1:
            raise ValueError("a token bucket needs rate > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.updated = now

    def take(self, now: float) -> float:
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        self.tokens -= 1
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate
