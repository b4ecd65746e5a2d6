"""What makes a parsed tick unfit to store, whatever exchange it came from: pure checks on plain values.

A tick passes the parser's shape checks and may still be nonsense that costs good data once stored: a price of
4,301 digits cannot be encoded (and used to take its whole write batch down), a time in year 9999 becomes the
series' newest sample (retention, counted from it, trimmed the real history), a time before any exchange existed
gets a score nothing reads. The feed drops such a tick and counts it as malformed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import NamedTuple

from bcx.config import DEFAULTS
from bcx.tick import Tick

# No market quotes a price or size with more than a few dozen digits (BTC-USD: `97250.05`, sizes to 8 decimals;
# SHIB-like prices to ~10 decimals). 40 characters leaves room for any of them and is far below Python's
# 4,300-digit limit on int(), which the member encoding uses.
MAX_DECIMAL_CHARS = 40
# Trade ids are JSON integers in the API: above 2**53 a JavaScript client would read a different id.
MAX_TRADE_ID = 2**53 - 1
# No crypto exchange traded before Bitcoin's first block (2009-01-03): an older time is not a trade.
EARLIEST_MS = int(datetime(2009, 1, 3, tzinfo=UTC).timestamp() * 1000)


def check_tick(tick: Tick, now_ms: int, max_skew_ms: int, earliest_ms: int = EARLIEST_MS) -> str | None:
    """Why `tick` must not be stored, or None when it may: `now_ms` is the receiving clock (unix ms); a tick more
    than `max_skew_ms` ahead of it, or before `earliest_ms`, is malformed."""
    if (  # every tick goes through here: one expression for the good ones, the reasons only for the bad
        earliest_ms <= tick.time_ms <= now_ms + max_skew_ms
        and tick.trade_id <= MAX_TRADE_ID
        and len(tick.price) <= MAX_DECIMAL_CHARS
        and len(tick.bid or "") <= MAX_DECIMAL_CHARS
        and len(tick.ask or "") <= MAX_DECIMAL_CHARS
        and len(tick.size or "") <= MAX_DECIMAL_CHARS
    ):
        return None
    if tick.time_ms > now_ms + max_skew_ms:
        return f"time {tick.time_ms} ms is more than {max_skew_ms // 1000}s ahead of the clock ({now_ms} ms)"
    if tick.time_ms < earliest_ms:
        return f"time {tick.time_ms} ms is before any exchange existed"
    if tick.trade_id > MAX_TRADE_ID:
        return f"trade id {tick.trade_id} is above {MAX_TRADE_ID}"
    for name in ("price", "bid", "ask", "size"):
        value = getattr(tick, name)
        if value is not None and len(value) > MAX_DECIMAL_CHARS:
            return f"{name} has {len(value)} characters (at most {MAX_DECIMAL_CHARS})"
    return None


DEFAULT_SKEW_MS = DEFAULTS.tracker.max_clock_skew_ms


class TickChecks(NamedTuple):
    """check_tick()'s clock and allowance, for a command that writes ticks it did not receive live (bcx import,
    bcx backfill): its clock when it began."""

    now_ms: int
    max_skew_ms: int = DEFAULT_SKEW_MS

    def why_unfit(self, tick: Tick) -> str | None:
        return check_tick(tick, self.now_ms, self.max_skew_ms)
