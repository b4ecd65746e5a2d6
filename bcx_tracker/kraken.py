"""Kraken Spot WebSocket v2 (`trade`, and `ticker` with `event_trigger: bbo`), both ways, as pure logic.

Client side: `Kraken`, the adapter. Server side: `bcx_tracker.kraken_replay.KrakenReplay`, the protocol bcx-replay
speaks to a Kraken client. REST backfill: `bcx_tracker.kraken_rest`. Facts and sources:
shared/reference/exchanges.md, section 1.

Numbers. Kraken sends prices and sizes as JSON numbers carrying the engine's precision (`105944.20`): frames are
decoded with each number's literal text kept (`bcx_tracker.literal_json`) and stored as sent, never through a float.
An exponent form (legal JSON, not seen from Kraken) becomes plain text exactly (`1e-05` -> `0.00001`). A decimal JSON
string is accepted too: v1 sent strings, and it costs nothing.

Ticks. Each trade of a `trade` frame is one tick, with the best bid and ask last seen on the `ticker` (bbo) channel
for its symbol before the frame, or none yet. Trades of the snapshot sent on subscribing (the last 50) happened
before this connection saw any book: they are stored without bid and ask, like trades backfilled from REST. A
ticker's zero bid or ask means no price on that side (a tokenized asset's empty book, with an epoch time).

Symbols. WS v2 names markets `BTC/USD` with the canonical asset codes; Kraken's older codes (`XBT`, `XDG`) are
mapped through the explicit alias table where they appear (REST pairs, AssetPairs' `wsname`, and incoming v2
symbols if Kraken ever sends them).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping

from bcx.series import series_id
from bcx.tick import Tick, iso_to_ms
from bcx_tracker.exchange import (
    Exchange,
    ExchangeError,
    ExchangeRest,
    Ignored,
    MalformedMessage,
    Message,
    Subscribed,
    SubscribeFailed,
    TickEvent,
    TradeFields,
    is_zero,
    unconfigured,
    why_bad_trade,
)
from bcx_tracker.literal_json import loads, plain_decimal

# Kraken sends a heartbeat a second while subscribed; a ping now and then also keeps idle NATs and proxies from
# dropping the connection, and costs one small frame.
PING_EVERY = 30.0
CHANNELS = ("ticker", "trade")
_TRADE = TradeFields("trade", "price", "qty", "trade_id", "timestamp", "a string")


# Symbols.


def product_of_symbol(symbol: object, aliases: Mapping[str, str]) -> str | None:
    """`BTC/USD` (or Kraken's older `XBT/USD`) -> `BTC-USD`; None when it is not BASE/QUOTE."""
    if not isinstance(symbol, str):
        return None
    base, slash, quote = symbol.partition("/")
    if not slash or not base or not quote or "/" in quote:
        return None
    return f"{aliases.get(base, base)}-{aliases.get(quote, quote)}"


def symbol_of_product(product: str) -> str:
    """`BTC-USD` -> `BTC/USD`: WS v2 uses the canonical asset codes."""
    base, _, quote = product.partition("-")
    return f"{base}/{quote}"


class Kraken(Exchange):
    """The client side of Kraken's public v2 feed for one connection: bid and ask kept per series between frames."""

    name = "kraken"
    contiguous_trade_ids = True  # "Trade identifier is a sequence number, unique per book"
    aliases = {"XBT": "BTC", "XDG": "DOGE"}

    def __init__(self, products: Iterable[str]):
        super().__init__(tuple(products))
        self._series_of_symbol = {symbol_of_product(p): series for p, series in self.series.items()}
        self._book: dict[str, tuple[str | None, str | None]] = {}  # series -> (bid, ask); None: no price
        self._req_id = 0
        self._pinged_at: float | None = None

    def _series_of(self, symbol: object) -> str | None:
        if type(symbol) is not str:
            return None
        series = self._series_of_symbol.get(symbol)
        if series is None:  # an older spelling (`XBT/USD`) of a configured market
            series = self.series.get(product_of_symbol(symbol, self.aliases) or "")
        return series

    def _request(self, method: str, params: dict | None = None) -> str:
        self._req_id += 1
        message = {"method": method} | ({"params": params} if params else {}) | {"req_id": self._req_id}
        return json.dumps(message, separators=(",", ":"))

    def connected(self) -> None:
        """The book seen on an earlier connection is stale by now, and the ping timer starts again."""
        self._book.clear()
        self._pinged_at = None

    def subscribe_messages(self) -> list[str]:
        """Trades first: a server may start sending on the first subscribe, and a trade missed is a tick lost where
        a ticker missed only leaves the next trades without a book until the next one. Trade `snapshot` is set
        explicitly: the docs disagree on its default."""
        symbols = [symbol_of_product(product) for product in self.products]
        ticker = {"channel": "ticker", "symbol": symbols, "event_trigger": "bbo", "snapshot": True}
        trade = {"channel": "trade", "symbol": symbols, "snapshot": True}
        return [self._request("subscribe", trade), self._request("subscribe", ticker)]

    @classmethod
    def rest(cls, base_url: str) -> ExchangeRest:
        from bcx_tracker.kraken_rest import KrakenRest  # it reads the alias table from here

        return KrakenRest(base_url)

    def keepalive(self, now: float) -> str | None:
        """A `ping` every PING_EVERY seconds, counted from the first call (the connection's start)."""
        if self._pinged_at is None:
            self._pinged_at = now
        if now - self._pinged_at < PING_EVERY:
            return None
        self._pinged_at = now
        return self._request("ping")

    def parse(self, raw: str | bytes) -> list[Message]:
        """One frame -> its events. A trade or ticker item that is malformed costs only itself: the frame raises
        MalformedMessage carrying the events of its good items (`events`)."""
        data = loads(raw)
        if type(data) is not dict:
            if isinstance(data, list):
                raise MalformedMessage("an array: a v1 frame (this adapter speaks v2, wss://ws.kraken.com/v2)")
            raise MalformedMessage(f"not a JSON object but {type(data).__name__}")
        channel = data.get("channel")
        if type(channel) is str:
            handler = self._CHANNEL_HANDLERS.get(channel)
            return handler(self, data) if handler else [Ignored(str(channel))]
        if "method" in data:
            return [self._reply(data)]
        error = data.get("Error") or data.get("error")  # {"Error": "Exceeded msg rate"}
        if error:
            return [ExchangeError(str(error))]
        if "event" in data:
            raise MalformedMessage("an 'event' message: a v1 frame (this adapter speaks v2, wss://ws.kraken.com/v2)")
        raise MalformedMessage("neither 'channel' nor 'method' nor 'error'")

    def _items(self, data: dict, parse_item: Callable[[object, bool], Message | None]) -> list[Message]:
        items = data.get("data")
        if type(items) is not list:
            raise MalformedMessage(f"{data['channel']}: 'data' is not a list")
        snapshot = data.get("type") == "snapshot"
        events: list[Message] = []
        bad: list[str] = []
        for item in items:
            try:
                event = parse_item(item, snapshot)
            except MalformedMessage as exc:
                bad.append(exc.reason)
                continue
            if event is not None:
                events.append(event)
        if bad:
            reason = f"{data['channel']}: {len(bad)} of {len(items)} items malformed, the first: {bad[0]}"
            raise MalformedMessage(reason, events)
        return events

    def _trades(self, data: dict) -> list[Message]:
        return self._items(data, self._trade)

    def _trade(self, item: object, snapshot: bool) -> Message:
        if type(item) is not dict:
            raise MalformedMessage(f"a trade is not an object: {item!r:.40}")
        get = item.get
        series = self._series_of(get("symbol"))
        if series is None:
            return unconfigured(item.get("symbol"), "symbol")
        price, size = plain_decimal(get("price")), plain_decimal(get("qty"))
        trade_id, stamp = get("trade_id"), get("timestamp")
        if price is None or size is None or type(trade_id) is not int or trade_id < 0 or type(stamp) is not str:
            raise MalformedMessage(why_bad_trade(item, _TRADE, plain_decimal))
        bid, ask = (None, None) if snapshot else self._book.get(series, (None, None))
        return TickEvent(Tick(series, _time(stamp), trade_id, price, bid, ask, size))

    def _tickers(self, data: dict) -> list[Message]:
        return self._items(data, self._ticker)

    def _ticker(self, item: object, snapshot: bool) -> Message | None:
        if type(item) is not dict:
            raise MalformedMessage(f"a ticker is not an object: {item!r:.40}")
        series = self._series_of(item.get("symbol"))
        if series is None:
            return unconfigured(item.get("symbol"), "symbol")
        self._book[series] = (_book_side(item, "bid"), _book_side(item, "ask"))
        return None

    def _status(self, data: dict) -> list[Message]:
        items = data.get("data")
        system = items[0].get("system") if type(items) is list and items and type(items[0]) is dict else None
        if system in (None, "online"):
            return [Ignored("status")]
        # maintenance, cancel_only, post_only: no trades for a while, which the log should explain
        return [ExchangeError(f"Kraken's system status is {system}", reason="status")]

    def _reply(self, data: dict) -> Message:
        """A reply to one of our requests: subscribe acks (one per symbol), pong, errors."""
        method, success = data["method"], data.get("success")
        result = data.get("result") if type(data.get("result")) is dict else {}
        if method == "subscribe" and success is True:
            series = self._series_or_none(result.get("symbol"))
            return Subscribed({str(result.get("channel")): (series,) if series else ()})
        if method == "subscribe" and success is False:
            series = self._series_or_none(result.get("symbol", data.get("symbol")))
            return SubscribeFailed(series, str(data.get("error") or "refused without a reason"))
        if success is False:
            return ExchangeError(str(data.get("error") or "refused without a reason"), reason=str(method))
        return Ignored(str(method))  # pong, unsubscribe acks, requests echoed

    def _series_or_none(self, symbol: object) -> str | None:
        product = product_of_symbol(symbol, self.aliases)
        return series_id(self.name, product) if product else None

    _CHANNEL_HANDLERS = {
        "trade": _trades,
        "ticker": _tickers,
        "status": _status,
        "heartbeat": lambda self, data: [Ignored("heartbeat")],  # any frame is liveness to the feed loop
    }


def _time(stamp: str) -> int:
    try:
        return iso_to_ms(stamp)
    except ValueError:
        raise MalformedMessage(f"'timestamp' is not an RFC 3339 time: {stamp!r:.40}") from None


def _book_side(item: dict, name: str) -> str | None:
    """A ticker's bid or ask; None when absent or zero (an empty side)."""
    value = item.get(name)
    if value is None:
        return None
    price = plain_decimal(value)
    if price is None:
        raise MalformedMessage(f"ticker: '{name}' is not a non-negative decimal: {value!r:.40}")
    return None if is_zero(price) else price


# The server side, for bcx-replay.
