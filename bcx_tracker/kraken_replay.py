"""Kraken Spot WebSocket v2 as bcx-replay speaks it to a Kraken client (the server side of bcx_tracker.kraken)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping

from bcx.series import series_id
from bcx.tick import iso_us, shift_iso
from bcx_tracker.exchange import Entry, MalformedMessage, ReplayProtocol, Request
from bcx_tracker.kraken import CHANNELS, Kraken, _time, product_of_symbol
from bcx_tracker.literal_json import dumps, loads, loads_literal

_EPOCH_MS = 0


class KrakenReplay(ReplayProtocol):
    """Kraken v2 as bcx-replay speaks it: the `status` greeting, one ack per symbol (refusing a symbol the recording
    does not hold with Kraken's words), `pong`, and a `heartbeat` a second while subscribed. Subscriptions are kept
    as channel ("trade", "ticker") -> canonical products. Unlike Kraken it sends no snapshot on subscribing: the
    recording's own frames (its snapshots among them) are what the client gets."""

    name = "kraken"

    def __init__(self, products: Iterable[str], clock: Callable[[], float] = time.time):
        super().__init__(products)
        self.clock = clock  # only for the acks' time_in and time_out

    def greeting(self) -> list[str]:
        status = {"api_version": "v2", "connection_id": 13834774380200032777, "system": "online", "version": "2.0.0"}
        return [dumps({"channel": "status", "data": [status], "type": "update"})]

    def request(self, raw: str | bytes, subs: Mapping[str, frozenset[str]]) -> Request:
        try:
            data = loads(raw)
        except ValueError:
            data = None
        if type(data) is not dict:
            return Request([self._error(None, None, "Malformed request")], {}, {})
        method, req_id = data.get("method"), data.get("req_id")
        if method == "ping":
            return Request([self._reply({"method": "pong"}, req_id)], {}, {})
        if method not in ("subscribe", "unsubscribe"):
            return Request([self._error(method, req_id, f"Method not found: {method}")], {}, {})
        return self._subscription(method, data.get("params"), req_id, subs)

    def _subscription(self, method: str, params: object, req_id: object, subs: Mapping[str, frozenset[str]]) -> Request:
        params = params if type(params) is dict else {}
        channel, symbols = params.get("channel"), params.get("symbol")
        if channel not in CHANNELS:
            return Request([self._error(method, req_id, f"Channel not supported: {channel}")], {}, {})
        if type(symbols) is not list or not symbols:
            return Request([self._error(method, req_id, "Missing field: symbol")], {}, {})
        replies, changed = [], set()
        for symbol in symbols:
            product = product_of_symbol(symbol, Kraken.aliases)
            subscribed = product in subs.get(channel, frozenset())
            if product not in self.products:
                replies.append(self._error(method, req_id, f"Currency pair not supported {symbol}", symbol))
            elif subscribed == (method == "subscribe"):
                refusal = "Already subscribed" if subscribed else "Subscription Not Found"
                replies.append(self._error(method, req_id, refusal, symbol))
            else:
                changed.add(product)
                result = {"channel": channel, "symbol": symbol} | _echoed(params, method)
                replies.append(self._reply({"method": method, "result": result, "success": True}, req_id))
        change = {channel: changed} if changed else {}
        return Request(replies, change if method == "subscribe" else {}, change if method == "unsubscribe" else {})

    def _reply(self, message: dict, req_id: object) -> str:
        stamp = iso_us(int(self.clock() * 1_000_000))
        return dumps(message | {"time_in": stamp, "time_out": stamp} | ({"req_id": req_id} if req_id else {}))

    def _error(self, method: object, req_id: object, error: str, symbol: object = None) -> str:
        message = {"error": error} | ({"method": method} if method else {}) | {"success": False}
        return self._reply(message | ({"symbol": symbol} if symbol else {}), req_id)

    @staticmethod
    def entry(raw: str) -> Entry | None:
        """A trade frame: its symbol's series, the time of its last trade and its highest trade id. A ticker frame:
        its time, trade id 0. A ticker without a time after the epoch is not played (its time would pass for the
        recording's start); nor is any other message."""
        data = loads(raw)
        channel = data.get("channel") if type(data) is dict else None
        if channel not in CHANNELS:
            return None
        items = data.get("data")
        if type(items) is not list or not items or any(type(item) is not dict for item in items):
            raise MalformedMessage(f"{channel}: 'data' is not a list of objects")
        series = _frame_series(items)
        if channel == "trade":
            trade_ids = [item.get("trade_id") for item in items]
            if any(type(trade_id) is not int for trade_id in trade_ids):
                raise MalformedMessage("trade: a 'trade_id' is not an integer")
            time_ms = max(_time(str(item.get("timestamp"))) for item in items)
            return Entry(raw, channel, series, time_ms, max(trade_ids), None, min(trade_ids))
        stamp = items[0].get("timestamp")
        time_ms = _time(stamp) if isinstance(stamp, str) else _EPOCH_MS
        return Entry(raw, channel, series, time_ms, 0, None) if time_ms > _EPOCH_MS else None

    def heartbeats(self, subs: Mapping[str, frozenset[str]], played: Mapping[str, Entry], time_ms: int) -> list[str]:
        return ['{"channel":"heartbeat"}'] if any(subs.values()) else []

    @staticmethod
    def shifted(entry: Entry, time_ms: int, trade_id: int, sequence: int) -> Entry:
        """Timestamps moved by `time_ms`, trade ids by `trade_id` (Kraken has no sequences); every other number keeps
        its literal digits."""
        if not time_ms and not trade_id:
            return entry
        data = loads_literal(entry.raw)
        trade = entry.channel == "trade"
        for item in data["data"]:  # type: ignore[index]
            if isinstance(item.get("timestamp"), str):
                item["timestamp"] = shift_iso(item["timestamp"], time_ms)
            if trade:
                item["trade_id"] += trade_id
        if not trade:
            return entry._replace(raw=dumps(data), time_ms=entry.time_ms + time_ms)
        first = None if entry.first_trade_id is None else entry.first_trade_id + trade_id
        return entry._replace(
            raw=dumps(data), time_ms=entry.time_ms + time_ms, trade_id=entry.trade_id + trade_id, first_trade_id=first
        )


def _echoed(params: dict, method: str) -> dict:
    """The options Kraken repeats in a subscribe ack's result."""
    if method != "subscribe":
        return {}
    echoed = {"snapshot": params.get("snapshot", True)}
    if params.get("channel") == "ticker":
        echoed["event_trigger"] = params.get("event_trigger", "trades")
    return echoed


def _frame_series(items: list[dict]) -> str:
    """The one series a recorded frame is about (Kraken sends one symbol per frame)."""
    symbol = items[0].get("symbol")
    product = product_of_symbol(symbol, Kraken.aliases)
    if product is None or any(item.get("symbol") != symbol for item in items):
        raise MalformedMessage(f"not one BASE/QUOTE symbol per frame: {symbol!r:.60}")
    return series_id(Kraken.name, product)
