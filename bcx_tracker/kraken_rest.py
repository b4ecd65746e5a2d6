"""Kraken's public REST API as the tracker uses it: trades of a trade-id gap (`/0/public/Trades`), and which
products it lists (`/0/public/AssetPairs`).

Trades are paged by time, not by id: `since` is a unix time in nanoseconds and each answer's `last` is the cursor
of the next page (up to 1000 trades a page, oldest first). A gap is fetched from the time of its first known trade
(`Gap.after_ms`) until a page passes its last id. A trade row is `[price, volume, time, side, type, misc, trade_id]`:
price and volume are strings, the time a JSON float with ~100 ns digits, read exactly from its literal text
(RestClient parses JSON numbers as Decimal). Public REST is throttled per IP at about a request a second.
The trade id (element 7) is taken to be the websocket's `trade_id`, as client libraries assume; not verified against
the live API. Were they numbered apart, a gap would find none of its ids (the backfiller logs what it got).

No candles: OHLC gives only the newest 720 candles of an interval (12 hours of 1-minute candles), so a longer hole is
better left alone (`candles` is ExchangeRest's None: the candle backfill skips Kraken).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from decimal import Decimal

from bcx.series import split
from bcx.tick import Tick
from bcx_tracker.exchange import TradesPage
from bcx_tracker.gaps import Gap
from bcx_tracker.kraken import Kraken, product_of_symbol
from bcx_tracker.rest import PacedRest, RestError, exact

log = logging.getLogger(__name__)

RATE, BURST = 1.0, 1.0  # "approx. 1 req/s sustained" for public endpoints, per IP
TRADES_PER_PAGE = 1000
# `since` starts a millisecond before the gap's first known trade: Gap.after_ms is truncated to the millisecond, and
# whether `since` itself is included is not documented; trades outside the gap's ids are dropped anyway.
SINCE_MARGIN_MS = 1


def rest_pair(product: str) -> str:
    """`BTC-USD` -> `XBTUSD`: REST knows pairs by their altname, in Kraken's own asset codes."""
    base, _, quote = product.partition("-")
    return Kraken.native_asset(base) + Kraken.native_asset(quote)


class KrakenRest(PacedRest):
    rate, burst = RATE, BURST

    def _result(self, path: str, params: dict | None = None) -> dict:
        """The `result` of a Kraken answer; RestError for a non-empty `error` list (Kraken answers errors with 200)."""
        body, _ = self.client.get(path, params)
        if not isinstance(body, dict):
            raise RestError(f"GET {path}: not a JSON object")
        if body.get("error"):
            raise RestError(f"GET {path}: {', '.join(map(str, body['error']))}")
        result = body.get("result")
        if not isinstance(result, dict):
            raise RestError(f"GET {path}: no 'result' object")
        return result

    def check_products(self, products: Sequence[str]) -> tuple[list[str], list[str]]:
        """Pairs are matched by `wsname` (`XBT/USD`, in the older asset codes) through the alias table."""
        listed = {}
        for info in self._result("/0/public/AssetPairs").values():
            product = product_of_symbol(info.get("wsname"), Kraken.aliases) if isinstance(info, dict) else None
            if product:
                listed[product] = info
        unknown = [p for p in products if p not in listed]
        unavailable = [p for p in products if p in listed and listed[p].get("status", "online") != "online"]
        return unknown, unavailable

    def trades_page(self, series: str, since_ns: int) -> tuple[list[Tick], int]:
        """One page of trades since `since_ns`, oldest first, and the cursor of the next page."""
        pair = rest_pair(split(series).product)
        result = self._result("/0/public/Trades", {"pair": pair, "since": since_ns, "count": TRADES_PER_PAGE})
        rows = [value for key, value in result.items() if key != "last"]  # keyed `XXBTZUSD`, not as asked
        if len(rows) != 1 or not isinstance(rows[0], list):
            raise RestError(f"GET /0/public/Trades?pair={pair}: not one list of trades but {list(result)!r:.100}")
        try:
            cursor = int(result["last"])
        except (KeyError, TypeError, ValueError):
            raise RestError(f"GET /0/public/Trades?pair={pair}: no 'last' cursor") from None
        return [trade_tick(series, row) for row in rows[0]], cursor

    def trades_since(self, series: str, since_ms: int, cursor: str | None = None) -> TradesPage:
        """The pages of `trades_page`, oldest first, up from since_ms; the cursor is Kraken's `last` (ns). A page
        shorter than a full one has reached the newest trade."""
        since = int(cursor) if cursor else since_ms * 1_000_000
        page, last = self.trades_page(series, since)
        done = len(page) < TRADES_PER_PAGE or last <= since
        return TradesPage(page, None if done else str(last))

    def fetch_gap(self, gap: Gap, stopping: Callable[[], bool]) -> list[Tick]:
        if gap.after_ms is None:
            log.warning(
                "%s: trades %d..%d missed, not fetched: Kraken pages trades by time, and the time of trade "
                "%d is unknown",
                gap.product,
                gap.after + 1,
                gap.upto,
                gap.after,
            )
            return []
        since = max(0, gap.after_ms - SINCE_MARGIN_MS) * 1_000_000
        found: dict[int, Tick] = {}
        while not stopping():
            page, cursor = self.trades_page(gap.product, since)
            found.update((t.trade_id, t) for t in page if gap.after < t.trade_id <= gap.upto)
            if not page or max(t.trade_id for t in page) >= gap.upto or cursor <= since:
                break
            since = cursor
        return [found[trade_id] for trade_id in sorted(found)]


def trade_tick(series: str, row: object) -> Tick:
    """`[price, volume, time, side, type, misc, trade_id]` -> a tick without bid and ask."""
    try:
        if not isinstance(row, list) or len(row) < 7:
            raise ValueError("not a list of 7")
        price, volume, seconds, trade_id = row[0], row[1], row[2], row[6]
        if type(trade_id) is not int or not isinstance(seconds, Decimal | str):  # a float time would be inexact
            raise ValueError("the trade id is not an integer or the time not a decimal")
        return Tick(series, int(Decimal(seconds) * 1000), trade_id, exact(price), size=exact(volume))
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise RestError(f"a trade of {series} is malformed ({exc}): {row!r:.100}") from None
