"""The Coinbase Exchange websocket feed's wire format, both ways, as pure functions (no sockets, no Redis).

Client side: `subscribe_message` and `parse_message`, which turns one raw frame into a small frozen event.
Server side (used by the replay server): `parse_subscribe`, `subscriptions_message`, `error_message`.

Prices and sizes stay the exact strings the exchange sent: they are checked to be decimal strings, never
converted through float. See shared/reference/coinbase-feed.md for the protocol and its traps.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

import orjson

from bcx.converters import product_id as checked_product_id
from bcx.tick import Tick, iso_to_ms

CHANNELS = ("ticker", "heartbeat")
_VALID_PRODUCTS: set[str] = set()
_DECIMAL_RE = re.compile(r"[0-9]+(?:\.[0-9]+)?\Z", re.ASCII)  # (match() anchors the start)


class MalformedMessage(ValueError):
    """A frame that is not a valid Exchange feed message; `reason` says why (for the log)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class TickEvent(NamedTuple):  # a NamedTuple: one per feed message, built fast
    tick: Tick


@dataclass(frozen=True)
class Heartbeat:
    product: str
    last_trade_id: int
    sequence: int
    time_ms: int


@dataclass(frozen=True)
class Subscriptions:
    """The exchange's (cumulative, unordered) list of what this connection is subscribed to."""

    channels: dict[str, tuple[str, ...]]


@dataclass(frozen=True)
class ExchangeError:
    message: str
    reason: str


@dataclass(frozen=True)
class Ignored:
    """Any other message type: the exchange may add types at any time and clients must ignore them."""

    type: str


Message = TickEvent | Heartbeat | Subscriptions | ExchangeError | Ignored


def subscribe_message(products: Iterable[str]) -> str:
    """Subscribe to ticker and heartbeat, each as a channel object with its own non-empty product ids.

    Root-level `product_ids` combined with channel objects has been reported to fail (gocryptotrader #1421);
    the per-channel form is the one every source agrees on."""
    ids = list(products)
    if not ids:
        raise ValueError("at least one product is needed to subscribe")
    channels = [{"name": name, "product_ids": ids} for name in CHANNELS]
    return json.dumps({"type": "subscribe", "channels": channels})


def subscribe_messages(products: Iterable[str]) -> list[str]:
    """What a client sends after connecting (the adapter interface shared with coinbase_advanced)."""
    return [subscribe_message(products)]


def parse_messages(raw: str | bytes) -> list[Message]:
    """One frame -> its events (the adapter interface shared with coinbase_advanced)."""
    return [parse_message(raw)]


def parse_message(raw: str | bytes) -> Message:
    """One raw frame -> an event; raises MalformedMessage naming what is wrong."""
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
    parser = _PARSERS.get(kind)
    return parser(data) if parser else Ignored(kind)


def _ticker(data: dict) -> TickEvent:
    """The fields are checked in one expression first (tens of thousands of frames a second go through here); only
    a frame that fails it goes through the field-by-field checks, which name what is wrong."""
    get = data.get
    price, bid, ask, size = get("price"), get("best_bid"), get("best_ask"), get("last_size")
    trade_id, sequence, product, time = get("trade_id"), get("sequence"), get("product_id"), get("time")
    if (
        _is_decimal(price)
        and (bid is None or _is_decimal(bid))
        and (ask is None or _is_decimal(ask))
        and (size is None or _is_decimal(size))
        and type(trade_id) is int
        and trade_id >= 0
        and (sequence is None or (type(sequence) is int and sequence >= 0))
        and type(product) is str
        and product in _VALID_PRODUCTS
        and type(time) is str
    ):
        return TickEvent(Tick(product, _time(data, "time"), trade_id, price, bid, ask, size, sequence))
    return TickEvent(
        Tick(
            product=_product(data, "product_id"),
            time_ms=_time(data, "time"),
            trade_id=_integer(data, "trade_id"),
            price=_decimal(data, "price"),
            bid=_decimal(data, "best_bid", required=False),
            ask=_decimal(data, "best_ask", required=False),
            size=_decimal(data, "last_size", required=False),
            sequence=_integer(data, "sequence", required=False),
        )
    )


def _is_decimal(value: object) -> bool:
    return type(value) is str and _DECIMAL_RE.match(value) is not None


def _heartbeat(data: dict) -> Heartbeat:
    return Heartbeat(
        product=_product(data, "product_id"),
        last_trade_id=_integer(data, "last_trade_id"),
        sequence=_integer(data, "sequence"),
        time_ms=_time(data, "time"),
    )


def _subscriptions(data: dict) -> Subscriptions:
    channels = data.get("channels")
    if not isinstance(channels, list):
        raise MalformedMessage("subscriptions: 'channels' is not a list")
    found: dict[str, tuple[str, ...]] = {}
    for channel in channels:
        if isinstance(channel, str):
            found[channel] = ()
        elif isinstance(channel, dict) and isinstance(channel.get("name"), str):
            ids = channel.get("product_ids") or []
            found[channel["name"]] = tuple(str(i) for i in ids) if isinstance(ids, list) else ()
        else:
            raise MalformedMessage("subscriptions: a channel is neither a name nor an object with a name")
    return Subscriptions(found)


def _error(data: dict) -> ExchangeError:
    return ExchangeError(message=str(data.get("message", "")), reason=str(data.get("reason", "")))


_PARSERS = {"ticker": _ticker, "heartbeat": _heartbeat, "subscriptions": _subscriptions, "error": _error}


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


def _product(data: dict, name: str) -> str:
    value = _field(data, name, True)
    if isinstance(value, str) and value in _VALID_PRODUCTS:  # a feed names a handful of products: check each one once
        return value
    try:
        # The id becomes part of Redis keys: only the exchange's exact shape (BTC-USD) gets through.
        if isinstance(value, str) and checked_product_id(value) == value:
            if len(_VALID_PRODUCTS) < 10_000:
                _VALID_PRODUCTS.add(value)
            return value
    except ValueError:
        pass
    raise MalformedMessage(f"{data['type']}: '{name}' is not a product id: {value!r:.40}")


class SequenceFilter:
    """Drops stale ticks: a sequence at or below the last one seen for the product (a repeat or late arrival).

    Gaps are normal on the ticker channel (it shares the counter with the full feed), so they are never an
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
