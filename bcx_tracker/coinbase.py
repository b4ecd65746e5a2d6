"""The Coinbase Exchange websocket feed's wire format, both ways, pure (no sockets, no Redis).

Client side: the `Coinbase` adapter (bcx_tracker.exchange), built on `subscribe_message` and `parse_message`,
which turns one raw frame into a small frozen event. Server side, for bcx-replay: `CoinbaseReplay`, on
`parse_subscribe`, `subscriptions_message`, `error_message`.

Prices and sizes stay the exact strings the exchange sent: they are checked to be decimal strings, never
converted through float. Product ids are Coinbase's own (`BTC-USD`), which are canonical: a series id is
`coinbase:` and the product id. See shared/reference/coinbase-feed.md for the protocol and its traps.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping

import orjson

from bcx.series import PRODUCT_PATTERN, series_id
from bcx.tick import Tick, iso_to_ms, iso_us, shift_iso
from bcx_tracker.exchange import (
    DECIMAL_RE,
    Entry,
    Exchange,
    ExchangeError,
    ExchangeRest,
    Heartbeat,
    Ignored,
    MalformedMessage,
    Message,
    ReplayProtocol,
    Request,
    Subscribed,
    TickEvent,
    Unconfigured,
    decimal_text,
)
from bcx_tracker.literal_json import loads
from bcx_tracker.rest import RestClient

NAME = "coinbase"
CHANNELS = ("ticker", "heartbeat")
_PRODUCT_RE = re.compile(rf"{PRODUCT_PATTERN}\Z")


class AnyProduct(dict):
    """Product id -> series id for every well-formed product id (the replay server and tools read recordings of
    any product); a configured connection uses a plain dict of its own products instead."""

    def __missing__(self, product: str) -> str:
        if not isinstance(product, str) or not _PRODUCT_RE.match(product):
            raise KeyError(product)
        if len(self) < 10_000:
            self[product] = series_id(NAME, product)
        return series_id(NAME, product)


ANY_PRODUCT = AnyProduct()


class Coinbase(Exchange):
    """The Exchange feed: `ticker` (one message per trade, with the book's top) and `heartbeat` (last_trade_id)."""

    name = NAME

    def subscribe_messages(self) -> list[str]:
        return [subscribe_message(self.products)]

    def parse(self, raw: str | bytes) -> list[Message]:
        return [parse_message(raw, self.series)]

    @classmethod
    def for_any_product(cls) -> Coinbase:
        """Product ids are canonical and a frame is read alone (no state between frames): every well-formed id
        is a series, as for the replay server (ANY_PRODUCT)."""
        adapter = cls.__new__(cls)  # Exchange.__init__ wants the products to subscribe to: none here
        adapter.products, adapter.series = (), ANY_PRODUCT
        return adapter

    @classmethod
    def frame_product(cls, raw: str) -> str | None:
        start = raw.find('"product_id":"')  # as Coinbase writes it: a find is 10x cheaper than the regex
        if start >= 0:
            end = raw.find('"', start + 14)
            return raw[start + 14 : end] if end > 0 else None
        found = _PRODUCT_FIELD.search(raw)
        return found[1] if found else None

    @classmethod
    def rest(cls, base_url: str) -> ExchangeRest:
        return RestClient(base_url)


_PRODUCT_FIELD = re.compile(r'"product_id"\s*:\s*"([^"\\]*)"')


def subscribe_message(products: Iterable[str]) -> str:
    """Subscribe to ticker and heartbeat, each as a channel object with its own non-empty product ids.

    Root-level `product_ids` combined with channel objects has been reported to fail (gocryptotrader #1421);
    the per-channel form is the one every source agrees on."""
    ids = list(products)
    if not ids:
        raise ValueError("at least one product is needed to subscribe")
    channels = [{"name": name, "product_ids": ids} for name in CHANNELS]
    return json.dumps({"type": "subscribe", "channels": channels})


def parse_message(raw: str | bytes, series: Mapping[str, str] = ANY_PRODUCT) -> Message:
    """One raw frame -> an event; raises MalformedMessage naming what is wrong. `series` maps the product ids
    recorded to their series ids: a ticker of any other product is Unconfigured."""
    try:
        data = orjson.loads(raw)  # about 3x faster than json.loads on a ticker frame
    except ValueError as exc:  # orjson.JSONDecodeError, also for bytes that are not UTF-8
        raise MalformedMessage(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise MalformedMessage(f"not a JSON object but {type(data).__name__}")
    kind = data.get("type")
    if not isinstance(kind, str):
        # Advanced Trade frames have `channel` instead: a sign of the wrong feed URL, worth counting.
        raise MalformedMessage("no 'type' field (this parser speaks the Exchange feed, not Advanced Trade)")
    if kind == "ticker":
        return _ticker(data, series)
    if kind == "heartbeat":
        return _heartbeat(data, series)
    parser = _PARSERS.get(kind)
    return parser(data) if parser else Ignored(kind)


def _ticker(data: dict, series: Mapping[str, str]) -> TickEvent | Unconfigured:
    """The fields are checked in one expression first (tens of thousands of frames a second go through here); only
    a frame that fails it goes through the field-by-field checks, which name what is wrong."""
    get = data.get
    price, bid, ask, size = get("price"), get("best_bid"), get("best_ask"), get("last_size")
    trade_id, sequence, product, time = get("trade_id"), get("sequence"), get("product_id"), get("time")
    if (
        type(price) is str
        and _decimal_match(price)
        and (bid is None or (type(bid) is str and _decimal_match(bid)))
        and (ask is None or (type(ask) is str and _decimal_match(ask)))
        and (size is None or (type(size) is str and _decimal_match(size)))
        and type(trade_id) is int
        and trade_id >= 0
        and (sequence is None or (type(sequence) is int and sequence >= 0))
        and type(product) is str
        and product in series
        and type(time) is str
    ):
        return TickEvent(Tick(series[product], _time(data, "time"), trade_id, price, bid, ask, size, sequence))
    named = _series(data, "product_id", series)
    if isinstance(named, Unconfigured):
        return named
    return TickEvent(
        Tick(
            product=named,
            time_ms=_time(data, "time"),
            trade_id=_integer(data, "trade_id"),
            price=_decimal(data, "price"),
            bid=_decimal(data, "best_bid", required=False),
            ask=_decimal(data, "best_ask", required=False),
            size=_decimal(data, "last_size", required=False),
            sequence=_integer(data, "sequence", required=False),
        )
    )


_decimal_match = DECIMAL_RE.match  # decimal_text's check inline: a call less per field in the fast path


def _is_decimal(value: object) -> bool:
    return decimal_text(value) is not None


def _heartbeat(data: dict, series: Mapping[str, str]) -> Heartbeat | Ignored:
    named = _series(data, "product_id", series)
    if isinstance(named, Unconfigured):
        return Ignored("heartbeat")
    return Heartbeat(
        product=named,
        last_trade_id=_integer(data, "last_trade_id"),
        sequence=_integer(data, "sequence"),
        time_ms=_time(data, "time"),
    )


def _subscriptions(data: dict) -> Subscribed:
    channels = data.get("channels")
    if not isinstance(channels, list):
        raise MalformedMessage("subscriptions: 'channels' is not a list")
    found: dict[str, tuple[str, ...]] = {}
    for channel in channels:
        if isinstance(channel, str):
            found[channel] = ()
        elif isinstance(channel, dict) and isinstance(channel.get("name"), str):
            ids = channel.get("product_ids") or []
            ids = ids if isinstance(ids, list) else []
            found[channel["name"]] = tuple(series_id(NAME, str(i)) for i in ids)
        else:
            raise MalformedMessage("subscriptions: a channel is neither a name nor an object with a name")
    return Subscribed(found)


def _error(data: dict) -> ExchangeError:
    return ExchangeError(message=str(data.get("message", "")), reason=str(data.get("reason", "")))


_PARSERS = {"subscriptions": _subscriptions, "error": _error}


def _field(data: dict, name: str, required: bool):
    value = data.get(name)
    if value is None and required:
        raise MalformedMessage(f"{data['type']}: '{name}' is missing")
    return value


def _decimal(data: dict, name: str, required: bool = True) -> str | None:
    value = _field(data, name, required)
    if value is None:
        return None
    if not _is_decimal(value):
        raise MalformedMessage(f"{data['type']}: '{name}' is not a decimal string: {value!r:.40}")
    return value


def _integer(data: dict, name: str, required: bool = True) -> int | None:
    value = _field(data, name, required)
    if value is None:
        return None
    if type(value) is not int or value < 0:  # bool is an int subclass: JSON true is not an id
        raise MalformedMessage(f"{data['type']}: '{name}' is not a non-negative integer: {value!r:.40}")
    return value


def _time(data: dict, name: str) -> int:
    value = _field(data, name, True)
    if not isinstance(value, str):
        raise MalformedMessage(f"{data['type']}: '{name}' is not a string: {value!r:.40}")
    try:
        return iso_to_ms(value)
    except ValueError:
        raise MalformedMessage(f"{data['type']}: '{name}' is not an ISO 8601 time: {value!r:.40}") from None


def _series(data: dict, name: str, series: Mapping[str, str]) -> str | Unconfigured:
    """The series id of the message's product; Unconfigured for a well-formed product not recorded here. The id
    becomes part of Redis keys: only the exchange's exact shape (BTC-USD) gets through."""
    value = _field(data, name, True)
    try:
        return series[value]
    except (KeyError, TypeError):
        pass
    if isinstance(value, str) and _PRODUCT_RE.match(value):
        return Unconfigured(value)
    raise MalformedMessage(f"{data['type']}: '{name}' is not a product id: {value!r:.40}")


# Server side, for the replay server.


class SubscribeRejected(ValueError):
    """A subscribe the exchange would answer with an error; `reason` is the text it would send."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def parse_subscribe(data: Mapping, valid_products: Iterable[str], valid_channels=CHANNELS) -> dict[str, set[str]]:
    """A subscribe request (flat, per-channel objects, or both mixed) -> channel -> product ids.

    A bare channel name gets the root `product_ids`; a channel object gets its own plus the root ones.
    One unknown product or channel rejects the whole request, as the exchange does."""
    root = data.get("product_ids") or []
    channels = data.get("channels")
    if not channels or not isinstance(channels, list) or not isinstance(root, list):
        raise SubscribeRejected("No channels provided")
    valid = set(valid_products)
    wanted: dict[str, set[str]] = {}
    for channel in channels:
        if isinstance(channel, str):
            name, ids = channel, list(root)
        elif isinstance(channel, Mapping) and isinstance(channel.get("product_ids", []), list):
            name, ids = channel.get("name"), list(channel.get("product_ids") or []) + list(root)
        else:
            raise SubscribeRejected("Malformed channel")
        if name not in valid_channels:
            raise SubscribeRejected(f"{name} is not a valid channel")
        if not ids:
            raise SubscribeRejected(f"You need to specify at least one product ID for channel {name}")
        for product in ids:
            if product not in valid:
                raise SubscribeRejected(f"{product} is not a valid product")
        wanted.setdefault(name, set()).update(ids)
    return wanted


def subscriptions_message(channels: Mapping[str, Iterable[str]]) -> str:
    listed = [{"name": name, "product_ids": sorted(ids)} for name, ids in channels.items() if ids]
    return json.dumps({"type": "subscriptions", "channels": listed})


def error_message(message: str, reason: str) -> str:
    return json.dumps({"type": "error", "message": message, "reason": reason})


class CoinbaseReplay(ReplayProtocol):
    """bcx-replay speaking the Exchange feed: recorded tickers as they are, one heartbeat per subscribed product
    a second carrying the last trade id played."""

    name = NAME

    def request(self, raw: str | bytes, subs: Mapping[str, frozenset[str]]) -> Request:
        try:
            data = loads(raw)
            kind = data.get("type") if isinstance(data, dict) else None
        except ValueError:
            data, kind = None, None
        if kind not in ("subscribe", "unsubscribe"):
            return _refused("Failed to subscribe", "Type has to be either subscribe or unsubscribe")
        try:
            wanted = self.parse_subscribe(data)
        except SubscribeRejected as exc:
            return _refused(f"Failed to {kind}", exc.reason)
        reply = self.subscriptions(_changed(subs, wanted, kind))
        if kind == "subscribe":
            return Request([reply], wanted, {})
        return Request([reply], {}, wanted)

    def parse_subscribe(self, data: Mapping) -> dict[str, set[str]]:
        return parse_subscribe(data, self.products)

    def subscriptions(self, channels: Mapping[str, Iterable[str]]) -> str:
        """The answer to a (un)subscribe: every subscription the connection has now."""
        return subscriptions_message(channels)

    @staticmethod
    def entry(raw: str) -> Entry | None:
        message = parse_message(raw)
        if isinstance(message, TickEvent):
            t = message.tick
            return Entry(raw, "ticker", t.product, t.time_ms, t.trade_id, t.sequence)
        if isinstance(message, Heartbeat):
            return Entry(raw, "heartbeat", message.product, message.time_ms, message.last_trade_id, message.sequence)
        return None

    def heartbeats(self, subs: Mapping[str, frozenset[str]], played: Mapping[str, Entry], time_ms: int) -> list[str]:
        stamp = iso_us(time_ms * 1000)
        beats = []
        for product in sorted(subs.get("heartbeat", ())):
            last = played.get(series_id(NAME, product))
            beat = {
                "type": "heartbeat",
                "sequence": (last and last.sequence) or 0,
                "last_trade_id": last.trade_id if last else 0,
                "product_id": product,
                "time": stamp,
            }
            beats.append(json.dumps(beat, separators=(",", ":")))
        return beats

    @staticmethod
    def shifted(entry: Entry, time_ms: int, trade_id: int, sequence: int) -> Entry:
        data = json.loads(entry.raw)
        data["time"] = shift_iso(data["time"], time_ms)
        data["trade_id" if entry.channel == "ticker" else "last_trade_id"] = entry.trade_id + trade_id
        moved = None if entry.sequence is None else entry.sequence + sequence
        if moved is not None:
            data["sequence"] = moved
        raw = json.dumps(data, separators=(",", ":"))
        return Entry(raw, entry.channel, entry.product, entry.time_ms + time_ms, entry.trade_id + trade_id, moved)


def _refused(message: str, reason: str) -> Request:
    return Request([error_message(message, reason)], {}, {})


def _changed(subs: Mapping[str, frozenset[str]], wanted: Mapping[str, set[str]], kind: str) -> dict[str, set[str]]:
    """The subscriptions after a request (the exchange's answer lists them all)."""
    after = {name: set(ids) for name, ids in subs.items()}
    for name, ids in wanted.items():
        if kind == "subscribe":
            after.setdefault(name, set()).update(ids)
        else:
            after.get(name, set()).difference_update(ids)
    return {name: ids for name, ids in after.items() if ids}
