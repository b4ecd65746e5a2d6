"""Binance's combined market streams as bcx-replay speaks them to a Binance client (the server side of
bcx_tracker.binance).

A client names its streams in the URL (`/binance/stream?streams=btcusdt@aggTrade/btcusdt@bookTicker`), which
subscribes it as soon as it connects (`opened`); `SUBSCRIBE` / `UNSUBSCRIBE` requests on the socket work too. Frames
go out in the combined envelope. The keepalive is Binance's: a ping frame every `ping_every` seconds, and a client
whose pong is not back within `pong_timeout` is disconnected (both class attributes, shortened by tests).

Recordings hold `binance {frame}` lines. An aggTrade plays at its trade time `T`. A bookTicker has no time of its own
(only an update id `u`): it is an Entry with time 0, which the replay server plays right after the line before it,
where it was recorded. Recorded symbols (`BTCUSDT`) are read back to canonical products by the quote assets Binance
lists, longest first (QUOTES): a recording holds no other trace of where BASE ends.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from urllib.parse import parse_qs, unquote, urlsplit

from bcx.series import series_id
from bcx_tracker.binance import CHANNELS, Binance, BinanceUS, native_symbol
from bcx_tracker.exchange import Entry, MalformedMessage, ReplayProtocol, Request
from bcx_tracker.literal_json import dumps, loads, loads_literal

# Binance's quote assets, longest first so that BTCFDUSD is BTC-FDUSD and not BTCFD-USD.
QUOTES = ("FDUSD", "USDT", "USDC", "TUSD", "BUSD", "USD", "BTC", "ETH", "BNB", "EUR", "GBP", "TRY", "BRL", "JPY")
NO_TIME = 0  # a bookTicker's Entry time: played right after the line before it


def product_of_symbol(symbol: object) -> str | None:
    """`BTCUSDT` (or `btcusdt`) -> `BTC-USDT` by the quote assets table; None when no quote asset ends it."""
    if not isinstance(symbol, str):
        return None
    upper = symbol.upper()
    for quote in QUOTES:
        if upper.endswith(quote) and len(upper) > len(quote):
            return f"{upper[: -len(quote)]}-{quote}"
    return None


class BinanceReplay(ReplayProtocol):
    name = Binance.name
    ping_every = 20.0  # "The WebSocket server will send a ping frame every 20 seconds"
    pong_timeout = 60.0  # "... does not receive a pong frame back ... within a minute ... disconnected"

    def _streams(self, names: list[str]) -> dict[str, set[str]] | None:
        """Stream names -> channel -> canonical products the recording holds; None when one is not a stream."""
        found: dict[str, set[str]] = {}
        natives = {native_symbol(p).lower(): p for p in self.products}
        for name in names:
            symbol, at, channel = name.partition("@") if isinstance(name, str) else ("", "", "")
            if not at or channel not in CHANNELS:
                return None
            product = natives.get(symbol)
            if product is not None:  # a symbol the recording lacks: a stream that stays silent, as on Binance
                found.setdefault(channel, set()).add(product)
        return found

    def opened(self, path: str) -> Request | None:
        """The streams of a `/stream?streams=a/b` URL, subscribed from the start; None for a path without any."""
        query = parse_qs(urlsplit(path).query)
        names = [name for value in query.get("streams", []) for name in unquote(value).split("/") if name]
        streams = self._streams(names) if names else None
        return Request([], streams, {}) if streams else None

    def request(self, raw: str | bytes, subs: Mapping[str, frozenset[str]]) -> Request:
        try:
            data = loads(raw)
        except ValueError:
            data = None
        if type(data) is not dict or data.get("method") not in ("SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS"):
            return Request([_error("Invalid request: unknown method or not JSON")], {}, {})
        method, request_id = data["method"], data.get("id")
        if method == "LIST_SUBSCRIPTIONS":
            names = sorted(f"{native_symbol(p).lower()}@{channel}" for channel, ids in subs.items() for p in ids)
            return Request([json.dumps({"result": names, "id": request_id})], {}, {})
        params = data.get("params")
        streams = self._streams(params) if type(params) is list else None
        if streams is None:
            return Request([_error(f"Invalid request: invalid params for {method}", request_id)], {}, {})
        reply = json.dumps({"result": None, "id": request_id})
        if method == "SUBSCRIBE":
            return Request([reply], streams, {})
        return Request([reply], {}, streams)

    @classmethod
    def entry(cls, raw: str) -> Entry | None:  # type: ignore[override]  (a classmethod: Binance.US's series differ)
        """An aggTrade: its series, time `T` and aggregate id `a`. A bookTicker: time NO_TIME. Anything else: None."""
        data = loads(raw) if raw.startswith("{") else None
        if type(data) is not dict:
            raise MalformedMessage("not a JSON object")
        payload = data.get("data") if "stream" in data else data
        if type(payload) is not dict:
            raise MalformedMessage("a combined-stream envelope without a data object")
        channel = payload.get("e", "bookTicker" if "u" in payload else None)
        if channel not in CHANNELS:
            return None
        product = product_of_symbol(payload.get("s"))
        if product is None:
            raise MalformedMessage(f"{channel}: no known quote asset ends the symbol {payload.get('s')!r:.40}")
        series = series_id(cls.name, product)
        if channel == "bookTicker":
            return Entry(raw, channel, series, NO_TIME, 0, None)
        trade_id, stamp = payload.get("a"), payload.get("T")
        if type(trade_id) is not int or type(stamp) is not int:
            raise MalformedMessage("aggTrade: 'a' or 'T' is not an integer")
        return Entry(raw, channel, series, stamp, trade_id, None, trade_id)

    def frames(self, entry: Entry) -> list[str]:
        """The recorded frame, in the combined envelope when it was recorded bare."""
        if entry.raw.startswith('{"stream"'):
            return [entry.raw]
        stream = f"{native_symbol(entry.product.partition(':')[2]).lower()}@{entry.channel}"
        return [f'{{"stream":{json.dumps(stream)},"data":{entry.raw}}}']

    def heartbeats(self, subs: Mapping[str, frozenset[str]], played: Mapping[str, Entry], time_ms: int) -> list[str]:
        return []  # Binance's keepalive is ping frames (ping_every), not messages

    @staticmethod
    def shifted(entry: Entry, time_ms: int, trade_id: int, sequence: int) -> Entry:
        """An aggTrade's times (`E`, `T`) and ids (`a`, `f`, `l`) moved forward, every other number as it was; a
        bookTicker as it was (it has no time, and its update id `u` is not read by clients)."""
        if entry.channel != "aggTrade" or not (time_ms or trade_id):
            return entry
        data = loads_literal(entry.raw)
        payload = data["data"] if "stream" in data else data  # type: ignore[index,operator]
        for key, by in (("E", time_ms), ("T", time_ms), ("a", trade_id), ("f", trade_id), ("l", trade_id)):
            if type(payload.get(key)) is int:
                payload[key] += by
        first = None if entry.first_trade_id is None else entry.first_trade_id + trade_id
        return entry._replace(
            raw=dumps(data), time_ms=entry.time_ms + time_ms, trade_id=entry.trade_id + trade_id, first_trade_id=first
        )


class BinanceUSReplay(BinanceReplay):
    name = BinanceUS.name


def _error(message: str, request_id: object = None) -> str:
    return json.dumps({"code": 2, "msg": message} | ({"id": request_id} if request_id is not None else {}))
