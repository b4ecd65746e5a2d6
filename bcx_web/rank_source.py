"""The minutes of a rankings window, summarized (bcx.minute_summary) with as little reading as each request allows.

A window's minutes split into: whole closed hours before its last hour (their summaries are kept per series and
hour, for BLOCK_TTL_S: a backfill into a closed hour shows within that), the minutes around them (read again once
a minute, when the open minute moves), and the open minute (from raw ticks, read again when the series' newest
tick changed; every such series' in one read). A day's rankings of 50 series thus read at most 50 open minutes
per request, in two round trips, not 72,000 candles.
Per worker, in memory; every piece comes through bcx.candle_source.read_candles (stored 1m candles, then raw
ticks).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from decimal import Decimal

from bcx.analytics import HOUR_MS, MINUTE_MS, window_start
from bcx.candles import Candle, bucket_start, combine, rollup
from bcx.minute_summary import Summary, merge, of_candle, summarize
from bcx.tick import Tick

BLOCK_TTL_S = 600.0
MAX_BLOCKS = 100_000  # (series, hour) entries: 50 series x 7 days is 8,400
NEVER = 2**62  # a `since` no candle reaches: a closed hour before the last one adds nothing to its volume

ReadMinutes = Callable[[str, int, int], list[Candle]]  # (series, first ms, last ms) -> 1m candles in time order
Closed = tuple[Summary | None, Decimal, int | None]  # the closed minutes; their volume and trades in the last hour
ReadOpen = Callable[[list[tuple[str, int, int]]], list[list[Tick]]]  # raw ticks of several (series, first, last)


class MinuteSummaries:
    def __init__(self, read: ReadMinutes, read_open: ReadOpen, clock: Callable[[], float] = time.monotonic):
        self.read = read  # stored 1m candles, raw ticks after them
        self.read_open = read_open  # raw ticks only, several series at once: minutes never compacted
        self.clock = clock
        self.blocks: dict[tuple[str, int], tuple[float, Summary | None]] = {}
        self.closed: dict[tuple[str, int], tuple[int, Closed]] = {}
        self.whole: dict[tuple[str, int], tuple[tuple, Summary | None]] = {}
        self.prefixes: dict[str, tuple[int, int, Summary | None]] = {}  # series -> (hour, open minute, summary)
        self.tails: dict[tuple[str, int], tuple[float, list[Summary | None]]] = {}
        # series -> (its open minute, the newest tick folded in, the minute's candle so far)
        self.open: dict[str, tuple[int, tuple[int, int] | None, Candle | None]] = {}
        self.lock = threading.Lock()

    def windows(
        self, end_ms: int, window_ms: int, newest: Mapping[str, tuple[int, int] | None]
    ) -> dict[str, Summary | None]:
        """Each series' summary of the window of `window_ms` ending at end_ms (its last minute open). `newest`: each
        series' newest tick (time, trade id). While it is the same, the open minute is not read again; before the
        open minute, there is nothing to read; within it, the minute was never compacted: the open minutes of all
        such series come from raw ticks in one read (read_open), as do the minutes that closed since the last
        request."""
        open_minute = bucket_start(end_ms, MINUTE_MS)
        found: dict[str, Summary | None] = {}
        pending: dict[str, Closed] = {}
        stale = [s for s in newest if self._stale(s, window_ms, open_minute, end_ms, newest[s])]
        self.extend_prefixes(stale, open_minute)
        for series, tick in newest.items():
            key = (series, window_ms)
            if series not in stale:
                found[series] = self.whole[key][1]
                continue
            closed = self.closed.get(key)
            if closed is None or closed[0] != open_minute:
                closed = (open_minute, self.closed_part(series, end_ms, window_ms))
                self.closed[key] = closed
            if tick is not None and open_minute <= tick[0] <= end_ms:
                pending[series] = closed[1]
            elif tick is None or tick[0] >= open_minute:
                found[series] = with_open(closed[1], self.read(series, open_minute, end_ms))
            else:
                found[series] = with_open(closed[1], [])
        if pending:
            opened = self.open_minutes(open_minute, end_ms, {series: newest[series] for series in pending})
            for series, closed_part in pending.items():
                found[series] = with_open(closed_part, [c for c in (opened[series],) if c is not None])
        for series in stale:
            self.whole[(series, window_ms)] = ((open_minute, end_ms, newest[series]), found[series])
        return {series: found[series] for series in newest}

    def _stale(self, series: str, window_ms: int, open_minute: int, end_ms: int, tick) -> bool:
        whole = self.whole.get((series, window_ms))
        return tick is None or whole is None or whole[0] != (open_minute, end_ms, tick)

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

    def closed_part(self, series: str, end_ms: int, window_ms: int) -> Closed:
        """Every minute of the window but the open one: the tail of its first hour (a suffix kept per hour), whole
        closed hours (kept), the closed minutes of the current hour (a prefix grown minute by minute); and what of
        that lies in the window's last hour (the tail of the previous hour and the prefix)."""
        open_minute = bucket_start(end_ms, MINUTE_MS)
        hour_now = bucket_start(open_minute, HOUR_MS)
        start, since = window_start(end_ms, window_ms), window_start(end_ms, HOUR_MS)
        prefix = self.prefix(series, hour_now, open_minute)
        head_hour = bucket_start(start, HOUR_MS)
        summary = prefix  # a window starting with the current hour (start is never after it)
        if head_hour < hour_now:
            summary = self.suffixes(series, head_hour)[(start - head_hour) // MINUTE_MS]
            hours = range(head_hour + HOUR_MS, hour_now, HOUR_MS)
            for hour in hours:
                summary = merge(summary, self.block(series, hour, hours))
            summary = merge(summary, prefix)
        volume, trades = _amounts(prefix)
        if since < hour_now:
            previous = hour_now - HOUR_MS
            more_volume, more_trades = _amounts(self.suffixes(series, previous)[(since - previous) // MINUTE_MS])
            volume += more_volume
            trades = None if trades is None or more_trades is None else trades + more_trades
        return summary, volume, trades

    def prefix(self, series: str, hour: int, open_minute: int) -> Summary | None:
        """The closed minutes of `hour` before open_minute: kept and grown (extend_prefixes), else read."""
        kept = self.prefixes.get(series)
        if kept is not None and kept[0] == hour and kept[1] == open_minute:
            return kept[2]
        summary = summarize(self.read(series, hour, open_minute - 1), NEVER) if hour < open_minute else None
        self.prefixes[series] = (hour, open_minute, summary)
        return summary

    def extend_prefixes(self, series: list[str], open_minute: int) -> None:
        """Grow the kept prefixes of the current hour by the minutes that closed since, from raw ticks (they were
        the open minute a moment ago: never compacted yet, maybe), every series in one read."""
        hour = bucket_start(open_minute, HOUR_MS)
        grow = [s for s in series if (kept := self.prefixes.get(s)) and kept[0] == hour and kept[1] < open_minute]
        ranges = [(one, self.prefixes[one][1], open_minute - 1) for one in grow]
        for (one, _, _), ticks in zip(ranges, self.read_open(ranges) if ranges else [], strict=True):
            summary = summarize(rollup(ticks, MINUTE_MS), NEVER, self.prefixes[one][2])
            self.prefixes[one] = (hour, open_minute, summary)

    def suffixes(self, series: str, hour: int) -> list[Summary | None]:
        """For each minute of a closed hour, the summary from that minute to the hour's end (61 entries: the last
        None); kept for BLOCK_TTL_S."""
        now = self.clock()
        found = self.tails.get((series, hour))
        if found is not None and now - found[0] < BLOCK_TTL_S:
            return found[1]
        by_minute = {c.time_ms: c for c in self.read(series, hour, hour + HOUR_MS - 1)}
        tails: list[Summary | None] = [None] * 61
        for k in range(59, -1, -1):
            candle = by_minute.get(hour + k * MINUTE_MS)
            tails[k] = merge(of_candle(candle, NEVER), tails[k + 1]) if candle else tails[k + 1]
        with self.lock:
            if len(self.tails) > MAX_BLOCKS // 10:
                self.tails.clear()
            self.tails[(series, hour)] = (now, tails)
        return tails

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


def with_open(closed: Closed, open_minute: list[Candle]) -> Summary | None:
    """The window's summary: its closed minutes, then the open one (at most one candle), with the last hour's
    volume and trades counted apart (they are not the summaries' own: those are kept for any `since`)."""
    summary, volume, trades = closed
    for candle in open_minute:
        summary = merge(summary, of_candle(candle, NEVER))
        volume += Decimal(candle.volume)
        trades = None if trades is None or candle.count is None else trades + candle.count
    return None if summary is None else replace(summary, hour_volume=volume, hour_trades=trades)


def _amounts(summary: Summary | None) -> tuple[Decimal, int | None]:
    """Volume and trades of a summary (nothing: none)."""
    return (Decimal(0), 0) if summary is None else (summary.volume, summary.trades)
