"""Binance Spot market streams (`<symbol>@aggTrade` and `<symbol>@bookTicker`, combined), client side, as pure logic.

Client side: `Binance` and `BinanceUS` (the same protocol at Binance.US's own endpoints). Server side, for
bcx-replay: `bcx_tracker.binance_replay`. REST backfill: `bcx_tracker.binance_rest`. Facts and sources:
shared/reference/exchanges.md, section 3.

Subscribing. The streams are named in the URL (`/stream?streams=btcusdt@aggTrade/btcusdt@bookTicker`): nothing is
sent on the socket, which keeps well under Binance's 5 incoming messages a second, and there is no ack. Every frame
comes in the combined envelope `{"stream": NAME, "data": PAYLOAD}`; a bare payload (the `/ws/` endpoints) is read
too. Binance's keepalive is a ping frame every 20 s, answered by the websocket layer (bcx_tracker.framed_ws).

Ticks. One aggTrade is one tick: the aggregate trade id `a` (contiguous per symbol, so a jump in it is a gap), time
`T`, price `p`, size `q`, and the best bid and ask of the last bookTicker of its symbol before it. Numbers are
strings, kept exactly as sent. Note that `a` is the aggregate id in an aggTrade and the best ask in a bookTicker.

Symbols. Binance writes `BTCUSDT` (streams in lower case) with no separator, so a native symbol cannot be split
safely: the way back to the canonical `BTC-USDT` is the table of the products this connection subscribed to.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import quote

from bcx.tick import Tick
from bcx_tracker.exchange import (
    Exchange,
    ExchangeError,
    ExchangeRest,
    Ignored,
    MalformedMessage,
    Message,
    Reconnect,
    Subscribed,
    TickEvent,
    TradeFields,
    decimal_text,
    is_zero,
    unconfigured,
    why_bad_trade,
)
from bcx_tracker.literal_json import loads

CHANNELS = ("aggTrade", "bookTicker")
_AGG_TRADE = TradeFields("aggTrade", "p", "q", "a", "T", "an integer")
RESTRICTED = 451  # "Service unavailable from a restricted location" (US addresses on binance.com)
# Binance refuses a websocket URL longer than 8004 characters (measured by unicorn-binance-websocket-api, its issues
# 17 and 19; not in Binance's docs): well below the 1024 streams a connection may carry once the streams are named in
# the URL. A product of the longest canonical form (10 + 10 characters) takes 62 characters of streams.
MAX_URL = 8004


def native_symbol(product: str) -> str:
    """`BTC-USDT` -> `BTCUSDT` (REST and payloads; streams use it in lower case)."""
    return product.replace("-", "")


def stream_names(product: str) -> list[str]:
    """The streams one product takes: its trades, and its best bid and ask for the trades that follow."""
    symbol = native_symbol(product).lower()
    return [f"{symbol}@{channel}" for channel in CHANNELS]


class Binance(Exchange):
    """The client side of Binance's public market streams for one connection; the book's top is kept per symbol."""

    name = "binance"
    contiguous_trade_ids = True  # aggregate trade ids `a` increase by one per symbol
    # "Max 1024 streams per connection" (512 products) would need a URL of ~18,000 characters: 100 products keep the
    # longest URL near 6,300, with room for a long feed_url.
    max_products_per_connection = 100
    max_connection_age = 24 * 3600.0  # "A single connection ... is only valid for 24 hours"
    send_interval = 0.25  # 5 incoming messages a second per connection (nothing is sent today: streams in the URL)
    connects_per_minute = 60.0  # 300 connection attempts per 5 minutes per IP
    venue = "Binance"

    def __init__(self, products: Iterable[str]):
        super().__init__(tuple(products))
        # BTCUSDT -> binance:BTC-USDT: from the products subscribed, never from the symbol's shape
        self._series_of_symbol = {native_symbol(p): series for p, series in self.series.items()}
        self._book: dict[str, tuple[str | None, str | None]] = {}  # series -> (bid, ask); None: empty side
        self._confirmed = False  # a frame came on this connection: the streams of the URL are subscribed

    def connect_url(self, feed_url: str) -> str:
        """`wss://stream.binance.com:9443` -> `.../stream?streams=btcusdt@aggTrade/btcusdt@bookTicker/...`."""
        base = feed_url.rstrip("/")
        if not base.endswith("/stream"):
            base += "/stream"
        streams = "/".join(name for product in self.products for name in stream_names(product))
        return f"{base}?streams={quote(streams, safe='@/')}"

    def subscribe_messages(self) -> list[str]:
        return []  # the streams are in the URL

    def connected(self) -> None:
        """The book of an earlier connection is stale by now."""
        self._book.clear()
        self._confirmed = False

    def refused(self, status: int) -> str | None:
        if status != RESTRICTED:
            return None
        return (
            f"{self.venue} refuses this address (HTTP 451: service unavailable from a restricted location); "
            "from the United States record Binance.US instead: series binance-us:BASE-QUOTE"
        )

    @classmethod
    def rest(cls, base_url: str) -> ExchangeRest:
        from bcx_tracker.binance_rest import BinanceRest  # it imports this module

        return BinanceRest(base_url, cls.name)

    def parse(self, raw: str | bytes) -> list[Message]:
        """One frame -> its events. The first frame of a connection also says it is subscribed (Binance sends no ack
        for streams named in the URL), which tells the feed loop that the connection works."""
        events = self._parse(raw)
        if self._confirmed:
            return events
        self._confirmed = True
        return [Subscribed({channel: tuple(self.series.values()) for channel in CHANNELS}), *events]

    def _parse(self, raw: str | bytes) -> list[Message]:
        data = loads(raw)  # no float ever: a JSON number keeps its literal digits
        if type(data) is not dict:
            raise MalformedMessage(f"not a JSON object but {type(data).__name__}")
        stream = data.get("stream")
        if stream is not None:
            payload = data.get("data")
            if type(stream) is not str or type(payload) is not dict:
                raise MalformedMessage("a combined-stream envelope without a stream name and a data object")
            return self._payload(stream.rpartition("@")[2], payload)
        if "code" in data and "msg" in data:  # {"code": 2, "msg": "Invalid request: ..."}
            return [ExchangeError(str(data["msg"]), reason=f"code {data['code']}")]
        if "result" in data and "id" in data:  # the answer to a request on the socket
            return [Ignored("result")]
        if "method" in data:  # a request (a recording of both directions)
            return [Ignored(str(data["method"]))]
        # A bare payload (/ws/ endpoints): a bookTicker is the one without an event type.
        return self._payload(data.get("e", "bookTicker" if "u" in data else None), data)

    def _payload(self, kind: object, payload: dict) -> list[Message]:
        if kind == "aggTrade" or payload.get("e") == "aggTrade":
            return [self._trade(payload)]
        if kind == "bookTicker":
            return self._ticker(payload)
        if kind == "serverShutdown" or payload.get("e") == "serverShutdown":
            return [Reconnect("serverShutdown: the server is going away for maintenance")]
        # a stream we did not ask for (@trade, @depth...), or an event type added since
        return [Ignored(str(payload.get("e", kind) or "unknown"))]

    def _trade(self, payload: dict) -> Message:
        get = payload.get
        series = self._series_of_symbol.get(get("s"))  # type: ignore[arg-type]
        if series is None:
            return unconfigured(payload.get("s"), "s")
        price, size, trade_id, stamp = decimal_text(get("p")), decimal_text(get("q")), get("a"), get("T")
        if price is None or size is None or type(trade_id) is not int or trade_id < 0 or type(stamp) is not int:
            raise MalformedMessage(why_bad_trade(payload, _AGG_TRADE, decimal_text))
        bid, ask = self._book.get(series, (None, None))
        return TickEvent(Tick(series, stamp, trade_id, price, bid, ask, size))

    def _ticker(self, payload: dict) -> list[Message]:
        series = self._series_of_symbol.get(payload.get("s"))  # type: ignore[arg-type]
        if series is None:
            return [unconfigured(payload.get("s"), "s")]
        self._book[series] = (_book_side(payload, "b"), _book_side(payload, "a"))
        return []


class BinanceUS(Binance):
    """Binance.US: the same streams and REST API at stream.binance.us and api.binance.us, for US addresses."""

    name = "binance-us"
    venue = "Binance.US"

    def refused(self, status: int) -> str | None:
        return None  # Binance.US's own refusals (none known) are worth the usual retries


def _book_side(payload: dict, name: str) -> str | None:
    """A bookTicker's best bid (`b`) or ask (`a`); None when zero (an empty side)."""
    price = decimal_text(payload.get(name))
    if price is None:
        raise MalformedMessage(f"bookTicker: '{name}' is not a plain decimal string: {payload.get(name)!r:.40}")
    return None if is_zero(price) else price
