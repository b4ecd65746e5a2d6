"""What the tracker missed, as pure functions: trade-id gaps from heartbeats and reconnects, the 1-minute candle
hole left by a long stop, and the REST request windows that cover it.

The Exchange's heartbeat carries the product's `last_trade_id`. When it is ahead of the last trade we know of,
the trades in between never reached us; after a reconnect, the first trade id seen is compared with the last one
before it. Either way the result is a `Gap` of trade ids to fetch from REST `/products/<id>/trades`. Ticker trade
ids also skip between two heartbeats (cascades are batched into one ticker): those are not gaps, since the
heartbeat then agrees with the last ticker.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bcx.tick import Tick

MINUTE_MS = 60_000
CANDLE_ROWS = 300  # the REST candles endpoint's most rows per request


@dataclass(frozen=True)
class Gap:
    """Trades of `product` (a series id) with after < trade_id <= upto are missing; `after_ms` is the time of
    trade `after` when known (exchanges whose REST pages trades by time start there)."""

    product: str
    after: int
    upto: int
    after_ms: int | None = None
    upto_ms: int | None = None  # where the exchange's ids tell nothing (a sequence gap): the window's end in time

    @property
    def size(self) -> int:
        return self.upto - self.after

    def __str__(self) -> str:
        """For the log: the ids, or the time window where the ids only bound it from below (Bitfinex)."""
        if self.upto_ms is None:
            return f"trades {self.after + 1}..{self.upto}"
        return f"trades after {self.after} from {self.after_ms} to {self.upto_ms} ms"


class TradeGaps:
    """The last trade id known per series; reports a Gap when a heartbeat or a post-reconnect trade skips ahead,
    and, where the exchange's trade ids are `contiguous` (Kraken), when any trade skips ahead."""

    def __init__(
        self, known: dict[str, int] | None = None, contiguous: bool = False, known_ms: dict[str, int] | None = None
    ):
        self.last: dict[str, int] = dict(known or {})
        self.contiguous = contiguous
        self.last_ms: dict[str, int] = dict(known_ms or {})  # the time of each series' last known trade
        self._resumed: set[str] = set(self.last)  # a start is a reconnect too: compare with what Redis holds

    def reconnected(self) -> None:
        self._resumed = set(self.last)

    def on_trade(self, product: str, trade_id: int, time_ms: int | None = None) -> Gap | None:
        last = self.last.get(product)
        gap = None
        if product in self._resumed or self.contiguous:
            self._resumed.discard(product)
            if last is not None and trade_id > last + 1:
                gap = Gap(product, last, trade_id - 1, self.last_ms.get(product))
        if last is None or trade_id > last:
            self.last[product] = trade_id
            if time_ms is not None:
                self.last_ms[product] = time_ms
        return gap

    def on_heartbeat(self, product: str, last_trade_id: int) -> Gap | None:
        last = self.last.get(product)
        self._resumed.discard(product)
        if last is None or last_trade_id <= last:
            if last is None:
                self.last[product] = last_trade_id
            return None
        self.last[product] = last_trade_id  # reported once; the trades themselves come from REST
        return Gap(product, last, last_trade_id, self.last_ms.get(product))


class SequenceFilter:
    """Drops stale ticks: a sequence at or below the last one seen for the series (a repeat or late arrival).

    Gaps are normal on Coinbase's ticker channel (it shares the counter with the full feed), so they are never an
    alarm. A tick without a sequence cannot be judged and passes."""

    def __init__(self) -> None:
        self.last: dict[str, int] = {}

    def is_stale(self, tick: Tick) -> bool:
        """True when the tick is older than one already seen; otherwise remembers its sequence."""
        if tick.sequence is None:
            return False
        last = self.last.get(tick.product)
        if last is not None and tick.sequence <= last:
            return True
        self.last[tick.product] = tick.sequence
        return False


def merge_gaps(gaps: Iterable[Gap]) -> list[Gap]:
    """Overlapping or touching gaps of one product become one, so no trade is fetched twice."""
    merged: list[Gap] = []
    for gap in sorted(gaps, key=lambda g: (g.product, g.after)):
        last = merged[-1] if merged else None
        if last and last.product == gap.product and gap.after <= last.upto:
            # the times stay: exchanges that page trades by time (Kraken, Bitfinex) need the window
            after_ms = min((t for t in (last.after_ms, gap.after_ms) if t is not None), default=None)
            upto_ms = max((t for t in (last.upto_ms, gap.upto_ms) if t is not None), default=None)
            merged[-1] = Gap(gap.product, last.after, max(last.upto, gap.upto), after_ms, upto_ms)
        else:
            merged.append(gap)
    return merged


def trades_page_done(page_ids: Iterable[int], gap: Gap) -> bool:
    """Pages of trades come newest first; the walk down ends with a page that reaches the gap's start (or an
    empty page: the exchange has nothing older)."""
    ids = list(page_ids)
    return not ids or min(ids) <= gap.after + 1


def candle_hole(newest_ms: int | None, now_ms: int, threshold_ms: int, longest_ms: int) -> tuple[int, int] | None:
    """The [start, end) span of whole minutes to fill with 1-minute candles, or None when there is no hole.

    Only when the newest stored tick is older than `threshold_ms`; the minute of that tick and the current
    minute are left out (both have ticks of their own, which the candle tier rolls up). At most `longest_ms`
    back from now. No stored tick at all: nothing was recorded, so there is no hole."""
    if newest_ms is None or now_ms - newest_ms <= threshold_ms:
        return None
    start = newest_ms - newest_ms % MINUTE_MS + MINUTE_MS
    end = now_ms - now_ms % MINUTE_MS
    start = max(start, end - longest_ms)
    return (start, end) if start < end else None


def candle_windows(start_ms: int, end_ms: int, width_ms: int = MINUTE_MS, rows: int = CANDLE_ROWS) -> list[tuple]:
    """REST requests (start, end) in unix seconds covering [start_ms, end_ms), each under `rows` buckets.

    One bucket fewer than the limit per request: an inclusive window of exactly 300 buckets has been seen to
    return 301 rows, and more than 300 is an error (shared/reference/coinbase-feed.md §5.4)."""
    step = (rows - 1) * width_ms
    windows = []
    for lo in range(start_ms, end_ms, step):
        hi = min(lo + step, end_ms) - width_ms  # `end` is inclusive at the exchange: the last bucket's start
        windows.append((lo // 1000, hi // 1000))
    return windows
