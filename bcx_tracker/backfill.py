"""Filling what the feed missed from the REST API, off the socket-reading thread.

`TradeBackfiller` is a thread fed with trade-id Gaps (bcx_tracker.gaps): it walks the trades endpoint down from
the gap's end, page by page within the rate limit, and hands the trades in the gap to the writer as ticks without
bid/ask (the store keeps the ticker's richer copy of a trade it already has: one trade, one entry).
`backfill_candles` fills the hole a long stop left with 1-minute candles, written to the candle tier.
"""

from __future__ import annotations

import logging
import queue
import sys
from collections.abc import Callable
from typing import TextIO

import redis

from bcx.candles import Candle, CandleStore
from bcx.tick import Tick
from bcx_tracker.exchange import ExchangeRest
from bcx_tracker.gaps import Gap, candle_windows, merge_gaps
from bcx_tracker.rest import RestError
from bcx_tracker.worker import Worker

log = logging.getLogger(__name__)

MAX_GAP_TRADES = 100_000  # a longer hole is a stop, not a blip: its oldest part is left to the candle backfill
_POLL = 0.2


class TradeBackfiller(Worker):
    """One exchange's: `add(gap)` from the reader threads (never blocks), `stop`/`join` at shutdown; counter
    `backfilled`."""

    thread_name = "bcx-backfill"

    def __init__(self, rest: ExchangeRest, sink: Callable[[Tick], object], max_gap: int = MAX_GAP_TRADES):
        super().__init__()
        self.rest = rest
        self.sink = sink
        self.max_gap = max_gap
        self.backfilled = 0
        self.failed_gaps = 0
        self._gaps: queue.SimpleQueue[Gap] = queue.SimpleQueue()

    def add(self, gap: Gap) -> None:
        self._gaps.put(gap)

    def run(self) -> None:
        while not self.stopping:
            try:
                gaps = [self._gaps.get(timeout=_POLL)]
            except queue.Empty:
                continue
            while not self._gaps.empty():
                gaps.append(self._gaps.get_nowait())
            for gap in merge_gaps(gaps):
                if self.stopping:
                    return
                self._fill(gap)

    def _fill(self, gap: Gap) -> None:
        if gap.size > self.max_gap and gap.upto_ms is None:  # a time window (upto_ms) bounds itself
            log.warning("%s: %d trades missing, backfilling the newest %d", gap.product, gap.size, self.max_gap)
            # after_ms stays: the time of an older trade, still where an exchange paging by time (Kraken) starts
            gap = Gap(gap.product, gap.upto - self.max_gap, gap.upto, gap.after_ms)
        try:
            ticks = self.rest.fetch_gap(gap, lambda: self.stopping)
        except RestError as exc:
            self.failed_gaps += 1
            log.warning("cannot backfill %s of %s: %s", gap, gap.product, exc)
            return
        for tick in ticks:
            self.sink(tick)
        self.backfilled += len(ticks)
        log.info("backfilled %d trades of %s (%s)", len(ticks), gap.product, gap)


class CandleBackfiller(Worker):
    """At start, each series' hole (its newest stored tick older than the backfill threshold) filled with REST
    1-minute candles, on a thread of its own so the feed starts at once; `holes` is series -> [start, end) ms."""

    thread_name = "bcx-candle-backfill"

    def __init__(self, rest: ExchangeRest, candles: CandleStore, holes: dict[str, tuple[int, int]]):
        super().__init__()
        self.rest, self.candles, self.holes = rest, candles, holes

    def run(self) -> None:
        for product, hole in self.holes.items():
            try:
                written = backfill_candles(self.rest, self.candles, product, hole, terminal(), lambda: self.stopping)
            except (RestError, redis.RedisError) as exc:
                log.warning("candle backfill of %s stopped: %s", product, exc)
                continue
            log.info("backfilled %d 1-minute candles of %s", written, product)


def backfill_candles(
    rest: ExchangeRest,
    candles: CandleStore,
    product: str,
    hole: tuple[int, int],
    progress: TextIO | None = None,
    stopping: Callable[[], bool] = lambda: False,
) -> int:
    """1-minute candles for [start, end) ms from REST into the candle tier ("1m"); returns how many were written.

    Shows progress on `progress` (a terminal) when given; ends early when `stopping()` says so."""
    start, end = hole
    windows = candle_windows(start, end)
    written = 0
    for done, (lo, hi) in enumerate(windows, 1):
        if stopping():
            break
        rows = [c for c in rest.candles(product, lo, hi) or () if start <= c.time_ms < end]
        rows = without_counted(rows, candles.range(product, "1m", lo, hi))
        written += candles.put(product, "1m", rows)
        if progress is not None:
            print(f"\rbackfilling {product}: {done}/{len(windows)} requests, {written} candles", end="", file=progress)
    if progress is not None:
        print(file=progress)
    return written


def without_counted(rows: list[Candle], stored: list[Candle]) -> list[Candle]:
    """REST candles for the buckets that hold no candle compacted from our own ticks (those carry a trade count,
    and raw ticks win: the exchange's rounded floats must not replace them)."""
    counted = {c.time_ms for c in stored if c.count is not None}
    return [row for row in rows if row.time_ms not in counted]


def terminal() -> TextIO | None:
    """Standard error when it is a terminal (progress is for people, not for log files)."""
    return sys.stderr if sys.stderr.isatty() else None
