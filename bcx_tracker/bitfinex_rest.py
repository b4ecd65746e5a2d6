"""Bitfinex's public REST API v2 as the tracker uses it: the trades of a gap (`/v2/trades/{symbol}/hist`), 1-minute
candles (`/v2/candles/trade:1m:{symbol}/hist`) and the pairs it lists (`/v2/conf/pub:list:pair:exchange`).

Trades are paged by time window, oldest first (`sort=1`): the next page starts at the last page's newest time, so a
page boundary inside one millisecond repeats trades, which are kept once by ID. A gap is a window from its last known
trade (`Gap.after_ms`) to `Gap.upto_ms` (a sequence gap) or until a trade passes `Gap.upto` (a reconnect's trade-id
gap: ids are global over every pair, but they do grow with time). Rows are `[ID, MTS, AMOUNT, PRICE]` with JSON
floats read as Decimal from their literal text (`RestClient`): the size is the amount without its sign.

The trades endpoint allows 15 requests a minute per IP, and a violation blocks the IP for a minute: every request
goes through a token bucket of 12 a minute with a burst of 2 (at most 14 in any minute), shared by every request of
this client.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from decimal import Decimal

from bcx.candles import Candle
from bcx.series import split
from bcx.tick import Tick
from bcx_tracker.bitfinex import Bitfinex, product_of_symbol
from bcx_tracker.gaps import Gap
from bcx_tracker.rest import PacedRest, RestError, exact

log = logging.getLogger(__name__)

RATE, BURST = 12 / 60, 2.0
TRADES_PER_PAGE = 10_000  # the documented most
MAX_PAGES = 10  # a gap wider than 100,000 trades is a stop, not a blip: the candle backfill covers the rest
CANDLES_PER_PAGE = 10_000


class BitfinexRest(PacedRest):
    rate, burst = RATE, BURST

    def _list(self, path: str, params: dict | None = None) -> list:
        body, _ = self.client.get(path, params)
        if not isinstance(body, list) or body[:1] == ["error"]:  # ["error", 10020, "limit: invalid"]
            raise RestError(f"GET {path}: not a list: {body!r:.100}")
        return body

    def check_products(self, products: Sequence[str]) -> tuple[list[str], list[str]]:
        body = self._list("/v2/conf/pub:list:pair:exchange")
        pairs = body[0] if body and isinstance(body[0], list) else []
        listed = {product_of_symbol(f"t{pair}", Bitfinex.aliases) for pair in pairs if isinstance(pair, str)}
        return [p for p in products if p not in listed], []

    def trades_page(self, series: str, start_ms: int, end_ms: int | None) -> list[Tick]:
        """Up to TRADES_PER_PAGE trades with start_ms <= MTS (<= end_ms), oldest first."""
        params = {"start": start_ms} | ({"end": end_ms} if end_ms is not None else {})
        params |= {"limit": TRADES_PER_PAGE, "sort": 1}
        symbol = Bitfinex.symbol(split(series).product)
        return [trade_tick(series, row) for row in self._list(f"/v2/trades/{symbol}/hist", params)]

    def fetch_gap(self, gap: Gap, stopping: Callable[[], bool]) -> list[Tick]:
        if gap.after_ms is None:
            log.warning("%s: trades after %d missed, not fetched: no time to start from", gap.product, gap.after)
            return []
        found: dict[int, Tick] = {}
        start = gap.after_ms
        for _ in range(MAX_PAGES):
            if stopping():
                break
            page = self.trades_page(gap.product, start, gap.upto_ms)
            found.update((t.trade_id, t) for t in page if gap.after < t.trade_id <= gap.upto)
            newest = page[-1].time_ms if page else start
            if len(page) < TRADES_PER_PAGE or newest <= start or page[-1].trade_id >= gap.upto:
                break
            start = newest
        else:
            log.warning("%s: over %d pages of trades missed: the newest not fetched", gap.product, MAX_PAGES)
        return [found[trade_id] for trade_id in sorted(found)]

    def candles(self, product: str, start_s: int, end_s: int) -> list[Candle]:
        """`[MTS, OPEN, CLOSE, HIGH, LOW, VOLUME]` rows (close before high!), oldest first."""
        symbol = Bitfinex.symbol(split(product).product)
        params = {"start": start_s * 1000, "end": end_s * 1000, "limit": CANDLES_PER_PAGE, "sort": 1}
        rows = self._list(f"/v2/candles/trade:1m:{symbol}/hist", params)
        return sorted((candle_of_row(row) for row in rows), key=lambda c: c.time_ms)


def trade_tick(series: str, row: object) -> Tick:
    """`[ID, MTS, AMOUNT, PRICE, ...]` -> a tick without bid and ask; the size is the amount's absolute value."""
    try:
        if not isinstance(row, list) or len(row) < 4:
            raise ValueError("not [ID, MTS, AMOUNT, PRICE]")
        trade_id, time_ms, amount, price = row[:4]
        if type(trade_id) is not int or type(time_ms) is not int or not isinstance(amount, int | Decimal):
            raise ValueError("ID and MTS must be integers, AMOUNT a number")
        return Tick(series, time_ms, trade_id, exact(price), size=exact(abs(amount)))
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise RestError(f"a trade of {series} is malformed ({exc}): {row!r:.100}") from None


def candle_of_row(row: object) -> Candle:
    try:
        if not isinstance(row, list) or len(row) < 6 or type(row[0]) is not int:
            raise ValueError("not [MTS, OPEN, CLOSE, HIGH, LOW, VOLUME]")
        time_ms, open_, close, high, low, volume = row[:6]
        return Candle(time_ms, exact(open_), exact(high), exact(low), exact(close), exact(volume), None)
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise RestError(f"a candle row is malformed ({exc}): {row!r:.100}") from None
