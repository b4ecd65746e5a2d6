"""The Coinbase Advanced Trade market-data feed (wss://advanced-trade-ws.coinbase.com), both ways, pure.

Its own protocol (shared/reference/coinbase-feed.md §6): one channel per subscribe message (`channel`, singular),
frames wrapped in `{"channel", "timestamp", "sequence_num", "events": [...]}`, tickers without `trade_id`,
`time`, `side` or `last_size`, and `heartbeats` (plural) to keep the connection open.

A tick needs a time and a unique id, so for each ticker we derive them deterministically from the frame:
time = the frame's `timestamp` (when the exchange sent it, to the millisecond); id = that time in ms * 1000 +
(sequence_num * 10 + the ticker's position in the frame) mod 1000. The same frame always gives the same ticks
(replaying a recording stores nothing twice), and two ticks of one product collide only if more than about a
hundred frames are sent in one millisecond. Ids stay below 2**53 so JSON clients read them exactly. These ids
are not the exchange's trade ids: the trade-id backfill (heartbeat `last_trade_id`) does not apply to this feed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

from bcx.series import series_id, split
from bcx.tick import Tick, iso_to_ms, iso_us
from bcx_tracker.coinbase import (
    ANY_PRODUCT,
    NAME,
    Coinbase,
    CoinbaseReplay,
    SubscribeRejected,
    _decimal,
    _series,
    parse_message,
)
from bcx_tracker.exchange import (
    Entry,
    ExchangeError,
    Ignored,
    MalformedMessage,
    Message,
    Subscribed,
    TickEvent,
    Unconfigured,
)
from bcx_tracker.literal_json import loads

CHANNELS = ("ticker", "heartbeats")
# Our internal channel names (those of the Exchange feed) for the replay server's bookkeeping.
INTERNAL = {"ticker": "ticker", "heartbeats": "heartbeat"}


class CoinbaseAdvanced(Coinbase):
    """Coinbase's series through the Advanced Trade feed; its trade ids are made up (see the module's text)."""

    real_trade_ids = False

    def subscribe_messages(self) -> list[str]:
        return subscribe_messages(self.products)

    def parse(self, raw: str | bytes) -> list[Message]:
        return parse_messages(raw, self.series)

    @classmethod
    def frame_product(cls, raw: str) -> str | None:
        """None: one frame can carry tickers of several products (events[].tickers[]), so bcx import keeps all of
        this exchange's lines together rather than spreading them by the first product_id."""
        return None


def subscribe_messages(products: Iterable[str]) -> list[str]:
    ids = list(products)
    if not ids:
        raise ValueError("at least one product is needed to subscribe")
    return [json.dumps({"type": "subscribe", "product_ids": ids, "channel": name}) for name in CHANNELS]


def parse_messages(raw: str | bytes, series: Mapping[str, str] = ANY_PRODUCT) -> list[Message]:
    """One frame -> its events; raises MalformedMessage naming what is wrong."""
    data = loads(raw)  # no float ever: a JSON number keeps its literal digits
    if not isinstance(data, dict):
        raise MalformedMessage(f"not a JSON object but {type(data).__name__}")
    if data.get("type") == "error":
        return [ExchangeError(str(data.get("message", "")), str(data.get("reason", "")))]
    channel = data.get("channel")
    if not isinstance(channel, str):
        raise MalformedMessage("no 'channel' field (this parser speaks Advanced Trade, not the Exchange feed)")
    events = data.get("events")
    if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
        raise MalformedMessage(f"{channel}: 'events' is not a list of objects")
    if channel in ("ticker", "ticker_batch"):
        return _tickers(data, events, series)
    if channel == "subscriptions":
        return [_subscriptions(events)]
    return [Ignored(channel)]


def _tickers(data: dict, events: list[dict], series: Mapping[str, str]) -> list[Message]:
    stamp, sequence = data.get("timestamp"), data.get("sequence_num")
    if not isinstance(stamp, str):
        raise MalformedMessage("ticker: 'timestamp' is missing")
    if isinstance(sequence, bool) or not isinstance(sequence, int) or sequence < 0:
        raise MalformedMessage(f"ticker: 'sequence_num' is not a non-negative integer: {sequence!r:.40}")
    try:
        time_ms = iso_to_ms(stamp)
    except ValueError:
        raise MalformedMessage(f"ticker: 'timestamp' is not an ISO 8601 time: {stamp!r:.40}") from None
    ticks: list[Message] = []
    for event in events:
        tickers = event.get("tickers")
        if not isinstance(tickers, list) or not all(isinstance(t, dict) for t in tickers):
            raise MalformedMessage("ticker: 'tickers' is not a list of objects")
        for item in tickers:
            item = {"type": "ticker", **item}
            named = _series(item, "product_id", series)
            if isinstance(named, Unconfigured):
                ticks.append(named)
                continue
            tick = Tick(
                product=named,
                time_ms=time_ms,
                trade_id=derived_id(time_ms, sequence, len(ticks)),
                price=_decimal(item, "price"),
                bid=_decimal(item, "best_bid", required=False),
                ask=_decimal(item, "best_ask", required=False),
            )
            ticks.append(TickEvent(tick))
    return ticks


def derived_id(time_ms: int, sequence_num: int, position: int) -> int:
    return time_ms * 1000 + (sequence_num * 10 + position) % 1000


def _subscriptions(events: list[dict]) -> Subscribed:
    found: dict[str, tuple[str, ...]] = {}
    for event in events:
        subs = event.get("subscriptions")
        if isinstance(subs, dict):
            for name, ids in subs.items():
                ids = ids if isinstance(ids, list) else []
                found[INTERNAL.get(name, name)] = tuple(series_id(NAME, str(i)) for i in ids)
    return Subscribed(found)


# Server side, for the replay server.


def parse_subscribe(data: Mapping, valid_products: Iterable[str]) -> dict[str, set[str]]:
    """An Advanced Trade (un)subscribe -> internal channel name -> product ids; SubscribeRejected when invalid."""
    channel, ids = data.get("channel"), data.get("product_ids")
    if channel not in CHANNELS:
        raise SubscribeRejected(f"{channel} is not a valid channel")
    if not isinstance(ids, list) or not ids:
        raise SubscribeRejected(f"You need to specify at least one product ID for channel {channel}")
    valid = set(valid_products)
    for product in ids:
        if product not in valid:
            raise SubscribeRejected(f"{product} is not a valid product")
    return {INTERNAL[channel]: set(ids)}


def _envelope(channel: str, sequence_num: int, timestamp: str, events: list) -> str:
    data = {"channel": channel, "client_id": "", "timestamp": timestamp, "sequence_num": sequence_num}
    return json.dumps({**data, "events": events}, separators=(",", ":"))


def subscriptions_message(channels: Mapping[str, Iterable[str]], sequence_num: int, timestamp: str) -> str:
    external = {v: k for k, v in INTERNAL.items()}
    subs = {external.get(name, name): sorted(ids) for name, ids in channels.items() if ids}
    return _envelope("subscriptions", sequence_num, timestamp, [{"subscriptions": subs}])


def ticker_message(tick: Tick, sequence_num: int, timestamp: str, event_type: str = "update") -> str:
    item = {"type": "ticker", "product_id": split(tick.product).product, "price": tick.price}
    item |= {"best_bid": tick.bid} if tick.bid is not None else {}
    item |= {"best_ask": tick.ask} if tick.ask is not None else {}
    return _envelope("ticker", sequence_num, timestamp, [{"type": event_type, "tickers": [item]}])


def heartbeats_message(counter: int, sequence_num: int, timestamp: str) -> str:
    return _envelope("heartbeats", sequence_num, timestamp, [{"current_time": timestamp, "heartbeat_counter": counter}])


class CoinbaseAdvancedReplay(CoinbaseReplay):
    """bcx-replay speaking Advanced Trade: the recording's tickers in its envelope (time = the ticker's time), and
    one `heartbeats` message a second for the connection."""

    def __init__(self, products: Iterable[str]):
        super().__init__(products)
        self.sequence_num = 0  # the per-connection message counter
        self.beats = 0
        self.clock_ms = 0

    def parse_subscribe(self, data: Mapping) -> dict[str, set[str]]:
        return parse_subscribe(data, self.products)

    def subscriptions(self, channels: Mapping[str, Iterable[str]]) -> str:
        return subscriptions_message(channels, self._next(), iso_us(self.clock_ms * 1000))

    def frames(self, entry: Entry) -> list[str]:
        self.clock_ms = entry.time_ms
        if entry.channel != "ticker":  # heartbeats are per connection here: see heartbeats()
            return []
        tick = parse_message(entry.raw).tick
        return [ticker_message(tick, self._next(), iso_us(tick.time_ms * 1000))]

    def heartbeats(self, subs: Mapping[str, frozenset[str]], played: Mapping[str, Entry], time_ms: int) -> list[str]:
        if not subs.get("heartbeat"):
            return []
        self.beats += 1
        return [heartbeats_message(self.beats, self._next(), iso_us(time_ms * 1000))]

    def _next(self) -> int:
        self.sequence_num += 1
        return self.sequence_num - 1
