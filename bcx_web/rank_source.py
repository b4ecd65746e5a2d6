"""The minutes of a rankings window, summarized (bcx.minute_summary) with as little reading as each request allows.

A window's minutes split into: whole closed hours before its last hour (their summaries are kept per series and
hour, for BLOCK_TTL_S: a backfill into a closed hour shows within that), the minutes around them (read again once
a minute, when the open minute moves), and the open minute (from raw ticks, read again when the series' newest
tick changed; every such series' in one read). A day's rankings of 50 series thus read at most 50 open minutes
per request, in two round trips, not 72,000 candles.
Per worker, in memory; every piece comes through bcx_web.candle_source.read_candles (stored 1m candles, then raw
ticks).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping

from bcx.analytics import HOUR_MS, MINUTE_MS, window_start
from bcx.candles import Candle, bucket_start, combine, rollup
from bcx.minute_summary import Summary, merge, summarize
from bcx.tick import Tick

BLOCK_TTL_S = 600.0
MAX_BLOCKS = 100_000  # (series, hour) entries: 50 series x 7 days is 8,400
NEVER = 2**62  # a `since` no candle reaches: a closed hour before the last one adds nothing to its volume

ReadMinutes = Callable[[str, int, int], list[Candle]]  # (series, first ms, last ms) -> 1m candles in time order
ReadOpen = Callable[[list[tuple[str, int, int]]], list[list[Tick]]]  # raw ticks of several (series, first, last)


class MinuteSummaries:
    def __init__(self, read: ReadMinutes, read_open: ReadOpen, clock: Callable[[], float] = time.monotonic):
        self.read = read  # stored 1m candles, raw ticks after them
        self.read_open = read_open  # raw ticks only, several series at once: minutes never compacted
        self.clock = clock
        self.blocks: dict[tuple[str, int], tuple[float, Summary | None]] = {}
        self.closed: dict[tuple[str, int], tuple[int, Summary | None]] = {}
        self.whole: dict[tuple[str, int], tuple[tuple, Summary | None]] = {}
        # series -> (its open minute, the newest tick folded in, the minute's candle so far)
        self.open: dict[str, tuple[int, tuple[int, int] | None, Candle | None]] = {}
        self.lock = threading.Lock()

    def windows(
        self, end_ms: int, window_ms: int, newest: Mapping[str, tuple[int, int] | None]
    ) -> dict[str, Summary | None]:
        """Each series' summary of the window of `window_ms` ending at end_ms (its last minute open). `newest`: each
        series' newest tick (time, trade id). While it is the same, the open minute is not read again; before the
        open minute, there is nothing to read; within it, the minute was never compacted: the open minutes of all
        such series come from raw ticks in one read (read_open)."""
        open_minute = bucket_start(end_ms, MINUTE_MS)
        since = window_start(end_ms, HOUR_MS)
        found: dict[str, Summary | None] = {}
        raw: dict[str, Summary | None] = {}
        for series, tick in newest.items():
            key = (series, window_ms)
            whole = self.whole.get(key)
            if whole is not None and whole[0] == (open_minute, end_ms, tick) and tick is not None:
                found[series] = whole[1]
                continue
            closed = self.closed.get(key)
            if closed is None or closed[0] != open_minute:
                closed = (open_minute, self.closed_part(series, end_ms, window_ms))
                self.closed[key] = closed
            if tick is not None and open_minute <= tick[0] <= end_ms:
                raw[series] = closed[1]
            elif tick is None or tick[0] >= open_minute:
                found[series] = summarize(self.read(series, open_minute, end_ms), since, closed[1])
            else:
                found[series] = closed[1]
        if raw:
            opened = self.open_minutes(open_minute, end_ms, {series: newest[series] for series in raw})
            for series, closed_part in raw.items():
                found[series] = summarize([c for c in (opened[series],) if c is not None], since, closed_part)
        for series, tick in newest.items():
            self.whole[(series, window_ms)] = ((open_minute, end_ms, tick), found[series])
        return {series: found[series] for series in newest}

    def open_minutes(self, open_minute: int, end_ms: int, newest: Mapping[str, tuple[int, int]]) -> dict:
        """Each series' open minute as one candle (None without a trade), from raw ticks: only those after the
        ticks already folded in (a busy market's minute is not decoded again on every request), all in one read."""
        known = {}
        for series in newest:
            kept = self.open.get(series)
            known[series] = kept if kept is not None and kept[0] == open_minute else (open_minute, None, None)
        # a series whose newest tick is already folded in is not read at all
        ranges = [
            (one, open_minute if k[1] is None else k[1][0], end_ms) for one, k in known.items() if k[1] != newest[one]
        ]
        for (series, _, _), ticks in zip(ranges, self.read_open(ranges), strict=True):
            _, folded, candle = known[series]
            new = [t for t in ticks if folded is None or (t.time_ms, t.trade_id) > folded]
            merged = combine([*([candle] if candle else []), *rollup(new, MINUTE_MS)], MINUTE_MS)
            # the newest tick actually folded in, not the one asked with: a tick stored between the two reads is
            # folded now and must not be folded again next time
            folded = max([(t.time_ms, t.trade_id) for t in new], default=folded)
            self.open[series] = (open_minute, folded, merged[0] if merged else None)
        return {series: self.open.get(series, known[series])[2] for series in newest}

    def closed_part(self, series: str, end_ms: int, window_ms: int) -> Summary | None:
        """Every minute of the window but the open one."""
        start, since = window_start(end_ms, window_ms), window_start(end_ms, HOUR_MS)
        open_minute = bucket_start(end_ms, MINUTE_MS)
        first_block = -(-start // HOUR_MS) * HOUR_MS
        recent = max(bucket_start(since, HOUR_MS), first_block)
        hours = range(first_block, recent, HOUR_MS)
        summary = summarize(self.read(series, start, min(first_block, open_minute) - 1), since)
        for hour in hours:
            summary = merge(summary, self.block(series, hour, hours))
        if recent < open_minute:
            summary = summarize(self.read(series, recent, open_minute - 1), since, summary)
        return summary

    def block(self, series: str, hour: int, hours: range) -> Summary | None:
        """One closed hour's summary; a missing one is read with every other missing hour of `hours` at once."""
        now = self.clock()
        found = self.blocks.get((series, hour))
        if found is not None and now - found[0] < BLOCK_TTL_S:
            return found[1]
        missing = [h for h in hours if not self._fresh(series, h, now)]
        by_hour: dict[int, list[Candle]] = {h: [] for h in missing}
        for candle in self.read(series, missing[0], missing[-1] + HOUR_MS - 1):
            by_hour.setdefault(bucket_start(candle.time_ms, HOUR_MS), []).append(candle)
        with self.lock:
            if len(self.blocks) > MAX_BLOCKS:
                self.blocks.clear()
            for h in missing:
                self.blocks[(series, h)] = (now, summarize(by_hour[h], NEVER))
        return self.blocks[(series, hour)][1]

    def _fresh(self, series: str, hour: int, now: float) -> bool:
        found = self.blocks.get((series, hour))
        return found is not None and now - found[0] < BLOCK_TTL_S
