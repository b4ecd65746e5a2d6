"""Bitfinex WebSocket v2 as bcx-replay speaks it to a Bitfinex client (the server side of bcx_tracker.bitfinex).

Channel ids. A recorded data frame names its channel only by the recorder's `chanId`, which the recorded
`subscribed` event before it explains (the tracker records every frame, events included). So the lines of a recording
are read in file order by a `RecordingReader` (`BitfinexReplay.reader`) that keeps the chanId -> (channel, series)
map and the `conf` flags the recording was made with, and each Entry carries its channel and series. When played,
the frame gets the chanId this connection's `subscribed` gave that channel and series, and this connection's
sequence number and time when its `conf` asked for them (the recorded ones are dropped). Channel ids are numbered
across all the server's connections, so that a tracker recording two connections of one replay never sees one id
twice. Two recorded connections that were given the same id for different channels would be confused: Bitfinex's
own ids have not been seen to repeat.

Trades. A recorded `te` is played as `te` then `tu`, as Bitfinex sends every trade; recorded `tu` lines are not
played (their `te` brings them), nor recorded heartbeats (the connection makes its own, `[chanId,"hb"]` every
HEARTBEAT_EVERY seconds per channel).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable, Mapping

from bcx.series import series_id, split
from bcx_tracker.bitfinex import CHANNELS, SEQ_ALL, TIMESTAMP, Bitfinex, product_of_symbol
from bcx_tracker.exchange import Entry, MalformedMessage, ReplayProtocol, Request
from bcx_tracker.literal_json import dumps, loads, loads_literal

HEARTBEAT_EVERY = 15.0
_chan_ids = itertools.count(17)  # next() is atomic: connections' handler threads share it
_SCANNER = json.JSONDecoder(parse_float=str)  # positions only: the numbers' text is copied, never converted


class RecordingReader:
    """Reads one recording's Bitfinex lines in file order (ReplayProtocol.reader)."""

    def __init__(self) -> None:
        self.channels: dict[int, tuple[str, str]] = {}  # recorded chanId -> (channel, series id)
        self.flags = 0  # of the recorded connection's conf
        self.last_ms: int | None = None  # for a ticker recorded without a time of its own

    def __call__(self, raw: str) -> Entry | None:
        data = loads(raw)
        if type(data) is dict:
            self._event(data)
            return None
        if type(data) is not list or len(data) < 2 or type(data[0]) is not int:
            raise MalformedMessage("neither an event nor a [chanId, ...] frame")
        channel = self.channels.get(data[0])
        if channel is None:
            raise MalformedMessage(f"chanId {data[0]}: no subscribed event before it in the recording")
        name, series = channel
        if data[1] == "te" and len(data) > 2:
            return self._trades(raw, series, [data[2]], self._frame_ms(data, 3))
        if type(data[1]) is not list or not data[1]:
            return None  # tu (played with its te), hb (made by the connection), an empty snapshot, anything else
        if name == "trades":
            return self._trades(raw, series, data[1], self._frame_ms(data, 2))
        time_ms = self._frame_ms(data, 2) or self.last_ms
        return None if time_ms is None else Entry(raw, name, series, time_ms, 0, None)

    def _event(self, data: dict) -> None:
        if data.get("event") == "conf" and type(data.get("flags")) is int:
            self.flags = data["flags"]
        elif data.get("event") == "subscribed" and type(data.get("chanId")) is int:
            product = product_of_symbol(data.get("symbol"), Bitfinex.aliases)
            if data.get("channel") in CHANNELS and product:
                self.channels[data["chanId"]] = (data["channel"], series_id(Bitfinex.name, product))

    def _frame_ms(self, data: list, after: int) -> int | None:
        """The recorded frame's own time, when its connection asked for one."""
        if not self.flags & TIMESTAMP:
            return None
        index = after + (1 if self.flags & SEQ_ALL else 0)
        return data[index] if len(data) > index and type(data[index]) is int else None

    def _trades(self, raw: str, series: str, items: object, frame_ms: int | None) -> Entry:
        if type(items) is not list or not items or any(type(i) is not list or len(i) < 4 for i in items):
            raise MalformedMessage("trades: not a list of [ID, MTS, AMOUNT, PRICE]")
        ids, times = [i[0] for i in items], [i[1] for i in items]
        if any(type(n) is not int for n in ids + times):
            raise MalformedMessage("trades: an ID or MTS is not an integer")
        self.last_ms = frame_ms or max(times)
        return Entry(raw, "trades", series, self.last_ms, max(ids), None, min(ids))


class BitfinexReplay(ReplayProtocol):
    """One client connection: its conf flags, its chanIds, its sequence."""

    name = "bitfinex"
    heartbeat_every = HEARTBEAT_EVERY

    def __init__(self, products: Iterable[str]):
        super().__init__(products)
        self.flags = 0
        self.chan_ids: dict[tuple[str, str], int] = {}  # (channel, canonical product) -> this connection's chanId
        self.sequence = 0

    @classmethod
    def reader(cls) -> Callable[[str], Entry | None]:
        return RecordingReader()

    @staticmethod
    def entry(raw: str) -> Entry | None:
        """A line read alone: only frames that need no earlier line (none that is played)."""
        return RecordingReader()(raw)

    def greeting(self) -> list[str]:
        info = {"event": "info", "version": 2, "serverId": "bcx-replay", "platform": {"status": 1}}
        return [dumps(info)]

    def request(self, raw: str | bytes, subs: Mapping[str, frozenset[str]]) -> Request:
        try:
            data = loads(raw)
        except ValueError:
            data = None
        event = data.get("event") if type(data) is dict else None
        if event == "conf" and type(data.get("flags")) is int:
            self.flags = data["flags"]
            return Request([dumps({"event": "conf", "status": "OK", "flags": self.flags})], {}, {})
        if event == "ping":
            return Request([dumps({"event": "pong", "cid": data.get("cid")})], {}, {})
        if event == "subscribe":
            return self._subscribe(data, subs)
        if event == "unsubscribe":
            return self._unsubscribe(data)
        return Request([_error("Unknown event", 10000)], {}, {})

    def _subscribe(self, data: dict, subs: Mapping[str, frozenset[str]]) -> Request:
        channel, symbol = data.get("channel"), data.get("symbol")
        product = product_of_symbol(symbol, Bitfinex.aliases)
        echo = {"channel": channel, "symbol": symbol, "pair": str(symbol)[1:]}
        if channel not in CHANNELS:
            return Request([_error("subscribe: invalid channel", 10302, echo)], {}, {})
        if product not in self.products:
            return Request([_error("symbol: invalid", 10300, echo)], {}, {})
        if product in subs.get(channel, frozenset()):
            return Request([_error("subscribe: dup", 10301, echo)], {}, {})
        chan_id = self.chan_ids[(channel, product)] = next(_chan_ids)
        reply = dumps({"event": "subscribed", "channel": channel, "chanId": chan_id, "symbol": symbol} | echo)
        return Request([reply], {channel: {product}}, {})

    def _unsubscribe(self, data: dict) -> Request:
        chan_id = data.get("chanId")
        for (channel, product), number in list(self.chan_ids.items()):
            if number == chan_id:
                del self.chan_ids[(channel, product)]
                reply = dumps({"event": "unsubscribed", "status": "OK", "chanId": chan_id})
                return Request([reply], {}, {channel: {product}})
        return Request([_error("unsubscribe: invalid", 10400)], {}, {})

    def frames(self, entry: Entry) -> list[str]:
        chan_id = self.chan_ids.get((entry.channel, split(entry.product).product))
        if chan_id is None:
            return []  # unsubscribed meanwhile
        kind, payload = _parts(entry.raw)
        if kind == "te":
            return [
                self._frame(chan_id, f'"te",{payload}', entry.time_ms),
                self._frame(chan_id, f'"tu",{payload}', entry.time_ms),
            ]
        return [self._frame(chan_id, payload, entry.time_ms)]

    def _frame(self, chan_id: int, body: str, time_ms: int) -> str:
        """`[chanId, body]`, then the sequence and the time when this connection's conf asked for them."""
        tail = ""
        if self.flags & SEQ_ALL:
            self.sequence += 1
            tail += f",{self.sequence}"
        if self.flags & TIMESTAMP:
            tail += f",{time_ms}"
        return f"[{chan_id},{body}{tail}]"

    def heartbeats(self, subs: Mapping[str, frozenset[str]], played: Mapping[str, Entry], time_ms: int) -> list[str]:
        return [self._frame(chan_id, '"hb"', time_ms) for chan_id in self.chan_ids.values()]

    @staticmethod
    def shifted(entry: Entry, time_ms: int, trade_id: int, sequence: int) -> Entry:
        """Times and trade ids moved forward (the sequence is the connection's own); the numbers keep their digits."""
        if not time_ms and not trade_id:
            return entry
        moved = entry._replace(time_ms=entry.time_ms + time_ms)
        if entry.channel != "trades":
            return moved
        kind, payload = _parts(entry.raw)
        items = loads_literal(payload)
        for item in [items] if kind == "te" else items:  # type: ignore[union-attr]
            item[0] += trade_id
            item[1] += time_ms
        body = f'"te",{dumps(items)}' if kind == "te" else dumps(items)
        first = None if entry.first_trade_id is None else entry.first_trade_id + trade_id
        return moved._replace(raw=f"[0,{body}]", trade_id=entry.trade_id + trade_id, first_trade_id=first)


def _parts(raw: str) -> tuple[str | None, str]:
    """A recorded data frame `[chanId, ("te",) PAYLOAD, ...]` -> (kind or None, PAYLOAD's text as recorded)."""
    at = _skip(raw, raw.index(",") + 1)
    kind = None
    if raw[at] == '"':
        kind, at = _SCANNER.raw_decode(raw, at)
        at = _skip(raw, raw.index(",", at) + 1)
    _, end = _SCANNER.raw_decode(raw, at)
    return kind, raw[at:end]


def _skip(raw: str, at: int) -> int:
    while raw[at] in " \t":
        at += 1
    return at


def _error(message: str, code: int, echo: dict | None = None) -> str:
    return dumps({"event": "error", "msg": message, "code": code} | (echo or {}))
