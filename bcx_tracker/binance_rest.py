"""Binance's public REST API as the tracker uses it (Binance.US serves the same paths): the aggregate trades of a gap
(`/api/v3/aggTrades`, paged forward by id), which products it lists (`/api/v3/exchangeInfo`) and 1-minute candles
(`/api/v3/klines`).

Limits. Requests are weighed (aggTrades 4, klines 2, exchangeInfo 20) against a per-IP budget of weight per minute:
6000 on binance.com, 1200 on Binance.US. The token bucket keeps aggTrades pages at half the smaller budget, and each
answer's `X-MBX-USED-WEIGHT-1m` (the weight the IP has used this minute, other programs' included) makes the client
wait for the next minute when it nears the budget. A 429 waits its `Retry-After` (RestClient). A 418 means the IP is
banned for ignoring 429s: REST stops for this exchange (for the ban's `Retry-After`, else until a restart) and says
so at ERROR level; the feed goes on.

Rows. An aggTrades row is `{"a": id, "p": price, "q": qty, "f": first, "l": last, "T": time, "m", "M"}`, prices and
sizes as strings; a klines row `[open_time, open, high, low, close, volume, close_time, ...]`. Both kept exact.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence

from urllib3.exceptions import InvalidHeader
from urllib3.util.retry import Retry

from bcx.candles import Candle
from bcx.series import split
from bcx.tick import Tick
from bcx_tracker.binance import native_symbol
from bcx_tracker.exchange import decimal_text
from bcx_tracker.gaps import Gap
from bcx_tracker.rest import PacedRest, RestError

log = logging.getLogger(__name__)

WEIGHT_LIMIT = 1200  # per minute per IP: Binance.US's budget, the smaller one (binance.com: 6000)
WEIGHT_HIGH = WEIGHT_LIMIT * 8 // 10  # past this much used this minute, wait for the next minute
RATE, BURST = 2.5, 5.0  # aggTrades pages (weight 4) a second: 600 of the 1200 a minute
TRADES_PER_PAGE = 1000
CANDLES_PER_PAGE = 1000
BANNED = 418


def weight_wait(headers: Mapping[str, str], now_s: float) -> float:
    """Seconds to wait before the next request: to the next minute when this minute's used weight nears the limit."""
    try:
        used = int(headers.get("X-MBX-USED-WEIGHT-1m", ""))
    except ValueError:
        return 0.0
    return 60.0 - now_s % 60 if used >= WEIGHT_HIGH else 0.0


def ban_length(headers: Mapping[str, str]) -> float | None:
    """The seconds a 418's `Retry-After` gives (delta seconds or an HTTP date, read by urllib3), None without one."""
    value = headers.get("Retry-After")
    if not value:
        return None
    try:
        return Retry().parse_retry_after(value)
    except InvalidHeader:
        return None


class BinanceRest(PacedRest):
    rate, burst = RATE, BURST

    def __init__(
        self, base_url: str, exchange: str = "binance", wall: Callable[[], float] = time.time, **client_options
    ):
        """`client_options`: RestClient's (session, bucket, clock, sleep); `wall` the clock of the weight minute."""
        super().__init__(base_url, **client_options)
        self.exchange = exchange
        self.clock, self.sleep, self.wall = self.client.clock, self.client.sleep, wall
        self.banned_until: float | None = None  # monotonic; inf: until a restart

    def _get(self, path: str, params: dict | None = None) -> object:
        if self.banned_until is not None and self.clock() < self.banned_until:
            raise RestError(f"GET {path}: not sent: {self.exchange} banned this address (HTTP 418)", BANNED)
        try:
            body, headers = self.client.get(path, params)
        except RestError as exc:
            if exc.status == BANNED:
                self._banned(exc)
            raise
        wait = weight_wait(headers, self.wall())
        if wait:
            log.info("%s: REST weight used this minute nears the limit: waiting %.0fs", self.exchange, wait)
            self.sleep(wait)
        return body

    def _banned(self, exc: RestError) -> None:
        seconds = ban_length(exc.headers)
        self.banned_until = self.clock() + (math.inf if seconds is None else seconds)
        log.error(
            "%s: REST banned this address (HTTP 418: too many requests after a 429); no more REST requests %s: %s",
            self.exchange,
            "until a restart" if seconds is None else f"for {seconds:.0f}s",
            exc,
        )

    def check_products(self, products: Sequence[str]) -> tuple[list[str], list[str]]:
        """Matched by each symbol's `baseAsset` and `quoteAsset`, as listed (no guessing where BTCUSDT splits)."""
        body = self._get("/api/v3/exchangeInfo")
        symbols = body.get("symbols") if isinstance(body, dict) else None
        if not isinstance(symbols, list):
            raise RestError("GET /api/v3/exchangeInfo: no 'symbols' list")
        listed = {
            f"{info.get('baseAsset')}-{info.get('quoteAsset')}": info for info in symbols if isinstance(info, dict)
        }
        unknown = [p for p in products if p not in listed]
        unavailable = [p for p in products if p in listed and listed[p].get("status", "TRADING") != "TRADING"]
        return unknown, unavailable

    def agg_trades(self, series: str, from_id: int) -> list[Tick]:
        """One page of aggregate trades from id `from_id` on, oldest first."""
        symbol = native_symbol(split(series).product)
        rows = self._get("/api/v3/aggTrades", {"symbol": symbol, "fromId": from_id, "limit": TRADES_PER_PAGE})
        if not isinstance(rows, list):
            raise RestError(f"GET /api/v3/aggTrades?symbol={symbol}: not a list")
        return [trade_tick(series, row) for row in rows]

    def fetch_gap(self, gap: Gap, stopping: Callable[[], bool]) -> list[Tick]:
        found: dict[int, Tick] = {}
        from_id = gap.after + 1
        while from_id <= gap.upto and not stopping():
            page = self.agg_trades(gap.product, from_id)
            found.update((t.trade_id, t) for t in page if gap.after < t.trade_id <= gap.upto)
            newest = max((t.trade_id for t in page), default=from_id - 1)
            if len(page) < TRADES_PER_PAGE or newest < from_id:  # the end of the trades so far, or a stuck cursor
                break
            from_id = newest + 1
        return [found[trade_id] for trade_id in sorted(found)]

    def candles(self, product: str, start_s: int, end_s: int) -> list[Candle]:
        """1-minute klines with start_s <= open time <= end_s, oldest first (pages of up to 1000)."""
        symbol = native_symbol(split(product).product)
        found: list[Candle] = []
        start_ms, end_ms = start_s * 1000, end_s * 1000
        while start_ms <= end_ms:
            params = {"symbol": symbol, "interval": "1m", "startTime": start_ms, "endTime": end_ms}
            rows = self._get("/api/v3/klines", params | {"limit": CANDLES_PER_PAGE})
            if not isinstance(rows, list):
                raise RestError(f"GET /api/v3/klines?symbol={symbol}: not a list")
            page = [candle_of_row(row) for row in rows]
            found.extend(c for c in page if start_ms <= c.time_ms <= end_ms)
            if len(page) < CANDLES_PER_PAGE:
                break
            start_ms = page[-1].time_ms + 60_000
        return found


def trade_tick(series: str, row: object) -> Tick:
    """An aggTrades row -> a tick without bid and ask (a REST answer has no book)."""
    if not isinstance(row, dict):
        raise RestError(f"an aggregate trade of {series} is not an object: {row!r:.100}")
    price, size, trade_id, stamp = decimal_text(row.get("p")), decimal_text(row.get("q")), row.get("a"), row.get("T")
    if price is None or size is None or type(trade_id) is not int or type(stamp) is not int:
        raise RestError(f"an aggregate trade of {series} is malformed: {row!r:.100}")
    return Tick(series, stamp, trade_id, price, size=size)


def candle_of_row(row: object) -> Candle:
    """`[open_time, open, high, low, close, volume, ...]` -> a Candle with no trade count (not from our ticks)."""
    if not isinstance(row, list) or len(row) < 6 or type(row[0]) is not int:
        raise RestError(f"a kline row is malformed: {row!r:.100}")
    prices = [decimal_text(value) for value in row[1:6]]
    if any(value is None for value in prices):
        raise RestError(f"a kline row's prices are not decimal strings: {row!r:.100}")
    return Candle(row[0], *prices)  # type: ignore[arg-type]
