"""`bcx backfill`'s walk: months of a series' trades (or 1-minute candles) from the exchange's REST API, resumable.

The walk goes page by page through `ExchangeRest.trades_since` (the same per-exchange paging as the tracker's gap
backfill, paced by the REST client's token bucket) or window by window through `backfill_candles` (the tracker's
candle backfill). After each page its ticks are written (TickStore.add: one trade, one entry, and the watcher's
"written since" mark, so it rolls the candles up as usual), then the walk's state is saved in the series'
`backfill` hash: a walk stopped by an error, a 429 that outlasts its retries or Ctrl-C continues from its cursor
the next time. A crash between the two rewrites one page, which stores nothing twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import redis

from bcx.candles import CandleStore
from bcx.keys import SeriesKeys
from bcx.store import TickStore
from bcx_tracker.backfill import backfill_candles
from bcx_tracker.exchange import ExchangeRest, TradesNotPaged
from bcx_tracker.gaps import CANDLE_ROWS, MINUTE_MS
from bcx_tracker.tick_checks import TickChecks

TRADES, CANDLES = "trades", "candles"
CANDLE_STEP_MS = (CANDLE_ROWS - 1) * MINUTE_MS  # one REST request's worth (bcx_tracker.gaps.candle_windows)


@dataclass
class Walk:
    """Where a backfill stands: what it fetches, from since_ms up to end_ms (now when it began), its cursor
    ("" before the first page), the span of the trades stored so far, how many, and how many the tracker's tick
    checks refused (bcx_tracker.tick_checks)."""

    what: str
    since_ms: int
    end_ms: int
    cursor: str = ""
    low_ms: int = 0
    high_ms: int = 0
    count: int = 0
    done: bool = False
    refused: int = 0

    @property
    def covered_ms(self) -> int:
        """How much of [since_ms, end_ms] is behind it (the walk's direction is the exchange's)."""
        if self.what == CANDLES:
            return (int(self.cursor) if self.cursor else self.since_ms) - self.since_ms
        return self.high_ms - self.low_ms if self.count else 0

    def took(self, ticks: list, cursor: str | None) -> None:
        if ticks:
            times = [t.time_ms for t in ticks]
            self.low_ms = min(times) if not self.count else min(self.low_ms, *times)
            self.high_ms = max(times) if not self.count else max(self.high_ms, *times)
            self.count += len(ticks)
        self.cursor, self.done = cursor or "", cursor is None


def resume(stored: Walk | None, what: str, since_ms: int, now_ms: int) -> tuple[Walk, bool]:
    """The walk to run: the stored one when it stopped before its end and fetched the same kind, else a new one
    from since_ms to now. Returns (walk, resumed)."""
    if stored is not None and not stored.done and stored.what == what:
        return stored, True
    return Walk(what, since_ms, now_ms), False


def load_walk(conn: redis.Redis, prefix: str, series: str) -> Walk | None:
    data = conn.hgetall(SeriesKeys(prefix, series).backfill)
    if not data:
        return None
    numbers = {name: int(data[name]) for name in ("since_ms", "end_ms", "low_ms", "high_ms", "count")}
    numbers["refused"] = int(data.get("refused", 0))  # walks saved before it was counted
    return Walk(data["what"], cursor=data.get("cursor", ""), done=data.get("done") == "1", **numbers)


def save_walk(conn: redis.Redis, prefix: str, series: str, walk: Walk) -> None:
    fields = {name: int(value) if isinstance(value, bool) else value for name, value in asdict(walk).items()}
    conn.hset(SeriesKeys(prefix, series).backfill, mapping=fields)


def run(
    walk: Walk,
    step: Callable[[Walk], int],
    save: Callable[[Walk], None],
    stopping: Callable[[], bool],
    on_page: Callable[[Walk], None],
) -> None:
    """Take steps (a page each: trades_step, candles_step) until the walk is done or `stopping()`; the walk is
    saved after every step, so an error raised by one (RestError) leaves it where the last one ended."""
    while not walk.done and not stopping():
        step(walk)
        save(walk)
        on_page(walk)


def trades_step(
    rest: ExchangeRest, store: TickStore, series: str, max_skew_ms: int, clock: Callable[[], float] = time.time
) -> Callable[[Walk], int]:
    """One page of the exchange's trades, written but for those the tracker's tick checks refuse (against `clock`
    at the page, with the config's `max_clock_skew`), which are counted (TradesNotPaged from the first page where
    the exchange has none)."""

    def step(walk: Walk) -> int:
        page = rest.trades_since(series, walk.since_ms, walk.cursor or None)
        checks = TickChecks(int(clock() * 1000), max_skew_ms)
        fit = [tick for tick in page.ticks if checks.why_unfit(tick) is None]
        walk.refused += len(page.ticks) - len(fit)
        if fit:
            store.add(fit)
        walk.took(fit, page.cursor)
        return len(fit)

    return step


def candles_step(rest: ExchangeRest, candles: CandleStore, series: str) -> Callable[[Walk], int]:
    """One request's window of 1-minute candles, oldest first, into the 1m tier (where our own ticks made no
    candle: backfill_candles); TradesNotPaged now for an exchange without candles."""
    if type(rest).candles is ExchangeRest.candles:
        raise TradesNotPaged(f"{type(rest).__name__} gives no 1-minute candles for a long span: use --what trades")

    def step(walk: Walk) -> int:
        end = walk.end_ms - walk.end_ms % MINUTE_MS
        lo = int(walk.cursor) if walk.cursor else walk.since_ms - walk.since_ms % MINUTE_MS
        hi = min(lo + CANDLE_STEP_MS, end)
        written = backfill_candles(rest, candles, series, (lo, hi)) if lo < hi else 0
        walk.count += written
        walk.cursor, walk.done = str(hi), hi >= end
        return written

    return step
