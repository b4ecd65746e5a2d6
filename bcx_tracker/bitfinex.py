"""Bitfinex WebSocket v2 (public `trades` and `ticker`), the client side, as pure logic.

Server side: `bcx_tracker.bitfinex_replay.BitfinexReplay`; REST backfill: `bcx_tracker.bitfinex_rest`. Facts and
sources: shared/reference/exchanges.md, section 2.

Channels. Data frames are arrays keyed only by a `chanId` that the `subscribed` event of this connection explains;
the map is forgotten on every new connection (`connected`). Frames of a channel not in the map are ignored.

Config flags. `conf` goes first with SEQ_ALL (a sequence number after each frame's payload, one counter per
connection over every channel: the reference's ticker frames of three channels carry 1, 2, 3) and TIMESTAMP (the
frame's time after it). A jump in the sequence means frames were lost, on any channel: every trades series of the
connection gets a `Missed` gap, a time window from its last trade (or the last frame) to the frame after the jump;
Bitfinex's trade ids are global over all pairs, so only the window and the ids above the last one say what to fetch.

Trades. `[ID, MTS, AMOUNT, PRICE]`: the size is the amount without its sign (removed from the text), the sign the
taker's side (not stored). Each trade comes twice, `te` (executed) then `tu` (updated): the tick is made from `te`
only, as tardis does, and a `tu` parses into nothing (its sequence number still counts). `te` comes first, so it gets
the book closest to the trade, and its fields are the ones stored whatever `tu` says later. The snapshot sent on
subscribing (newest first) is stored oldest first, without a book.

Numbers are JSON floats, some already with binary artefacts (`19203.444049780002`): read with their literal text
(`bcx_tracker.literal_json`) and stored as sent. Arrays may grow trailing fields: only leading positions are read.

Info codes. 20051 (server restarting) asks for a new connection now; 20060 (maintenance starts) is logged and the
connection waits; 20061 (maintenance over, "unsubscribe/subscribe again all channels") reconnects, which
resubscribes everything with fresh chanIds and sequence.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from bcx.series import series_id
from bcx.tick import Tick
from bcx_tracker.exchange import (
    Exchange,
    ExchangeError,
    ExchangeRest,
    Heartbeat,
    Ignored,
    MalformedMessage,
    Message,
    Missed,
    Reconnect,
    Subscribed,
    SubscribeFailed,
    TickEvent,
)
from bcx_tracker.gaps import Gap
from bcx_tracker.literal_json import loads, plain_decimal

TIMESTAMP, SEQ_ALL = 32768, 65536  # conf flags: the frame's time, and a sequence number, after every payload
FLAGS = TIMESTAMP | SEQ_ALL
CHANNELS = ("trades", "ticker")
UNBOUNDED = 2**63 - 1  # Gap.upto of a sequence gap: any id above the last one may be missing
MAINTENANCE_START, MAINTENANCE_END, RESTARTING = 20060, 20061, 20051
ALREADY_SUBSCRIBED = 10301


# Symbols.


def product_of_symbol(symbol: object, aliases: dict[str, str]) -> str | None:
    """`tBTCUSD` -> `BTC-USD`, `tAVAX:USD` -> `AVAX-USD`, `tBTCUST` -> `BTC-USDT`; None for anything else (a funding
    symbol `fUSD`, a pair of neither six letters nor a colon)."""
    if not isinstance(symbol, str) or not symbol.startswith("t"):
        return None
    pair = symbol[1:]
    base, colon, quote = pair.partition(":")
    if not colon:
        if len(pair) != 6:
            return None
        base, quote = pair[:3], pair[3:]
    if not base.isalnum() or not quote.isalnum():
        return None
    return f"{aliases.get(base, base)}-{aliases.get(quote, quote)}"


def pair_of(base: str, quote: str) -> str:
    """Native assets -> Bitfinex's pair: a colon when a side is longer than three letters (`AVAX:USD`)."""
    return f"{base}:{quote}" if len(base) > 3 or len(quote) > 3 else base + quote


class Bitfinex(Exchange):
    """The client side of Bitfinex's public v2 feed for one connection."""

    name = "bitfinex"
    contiguous_trade_ids = False  # ids are global over every pair: a jump says nothing
    max_products_per_connection = 12  # 25 channels a connection, two per series
    connects_per_minute = 20
    # Explicit, never guessed: Bitfinex's UST is Tether's USDT, its BCHN Bitcoin Cash (BCH elsewhere).
    aliases = {"UST": "USDT", "BCHN": "BCH"}

    def __init__(self, products: Iterable[str]):
        super().__init__(tuple(products))
        self._series_of_symbol = {self.symbol(p): series for p, series in self.series.items()}
        self._channels: dict[int, tuple[str, str]] = {}  # chanId -> (channel, series id), of this connection
        self._sequence: int | None = None
        self._frame_ms: int | None = None  # the time of the last frame of this connection
        self._book: dict[str, tuple[str | None, str | None]] = {}
        # series -> (id, ms) of its newest trade seen, kept over reconnects: where a later gap's window starts
        self._last_trade: dict[str, tuple[int, int]] = {}

    @classmethod
    def symbol(cls, product: str) -> str:
        """`BTC-USDT` -> `tBTCUST`."""
        base, _, quote = product.partition("-")
        return "t" + pair_of(cls.native_asset(base), cls.native_asset(quote))

    def connected(self) -> None:
        """chanIds and the sequence are the old connection's; so is its book."""
        self._channels.clear()
        self._sequence = self._frame_ms = None
        self._book.clear()

    def subscribe_messages(self) -> list[str]:
        """`conf` first (flags apply to what follows), then trades before ticker for each symbol: a trade missed is
        a tick lost, a ticker missed only leaves the next trades without a book until the next one."""
        messages = [{"event": "conf", "flags": FLAGS}]
        for product in self.products:
            messages += [{"event": "subscribe", "channel": c, "symbol": self.symbol(product)} for c in CHANNELS]
        return [json.dumps(m, separators=(",", ":")) for m in messages]

    @classmethod
    def rest(cls, base_url: str) -> ExchangeRest:
        from bcx_tracker.bitfinex_rest import BitfinexRest  # it reads the symbols from here

        return BitfinexRest(base_url)

    def parse(self, raw: str | bytes) -> list[Message]:
        """One frame -> its events. The hot path (a tu, a ticker, a te in sequence) allocates little: three frames
        a trade arrive."""
        data = loads(raw)
        if type(data) is not list:
            if type(data) is dict:
                return [self._event(data)]
            raise MalformedMessage(f"neither an event object nor a [chanId, ...] array but {type(data).__name__}")
        if len(data) < 2 or type(data[0]) is not int:
            raise MalformedMessage("an array that does not start with a chanId and a payload")
        kind = data[1]  # "te", "tu", "hb" (a string) or the payload itself (ticker, trades snapshot)
        after = 3 if type(kind) is str and kind != "hb" else 2  # where the sequence and the time sit
        sequence = data[after] if len(data) > after and type(data[after]) is int else None
        frame_ms = data[after + 1] if len(data) > after + 1 and type(data[after + 1]) is int else None
        last = self._sequence
        if sequence is not None and last is not None and sequence == last + 1:
            self._sequence, events = sequence, []
        else:
            events = self._sequence_gaps(sequence, frame_ms, data)
        if frame_ms is not None:
            self._frame_ms = frame_ms
        channel = self._channels.get(data[0])
        if channel is None:
            return [*events, Ignored("unsubscribed channel")]
        if kind == "tu":
            return events  # the trade its te brought
        name, series = channel
        if kind == "te":
            events.append(self._trade(series, data[2] if len(data) > 2 else None, book=True))
        elif kind == "hb":
            events.append(Heartbeat(series, sequence=sequence, time_ms=frame_ms))
        elif type(kind) is str:
            events.append(Ignored(kind))
        elif name == "ticker":
            self._book[series] = _book(kind)
        else:
            events += self._snapshot(series, kind)
        return events

    # Sequences.

    def _sequence_gaps(self, sequence: int | None, frame_ms: int | None, data: list) -> list[Message]:
        """Missed gaps when frames were lost before this one: one per trades series of the connection. A repeated
        or late frame (a sequence not above the last) neither moves the counter back nor raises an alarm."""
        last = self._sequence
        if sequence is None or (last is not None and sequence <= last):
            return []
        self._sequence = sequence
        if last is None or sequence == last + 1:
            return []
        upto_ms = frame_ms if frame_ms is not None else _trade_ms(data)
        return [self._missed(series, upto_ms) for name, series in self._channels.values() if name == "trades"]

    def _missed(self, series: str, upto_ms: int | None) -> Missed:
        trade_id, trade_ms = self._last_trade.get(series, (0, None))
        after_ms = trade_ms if trade_ms is not None else self._frame_ms
        return Missed(Gap(series, trade_id, UNBOUNDED, after_ms, upto_ms))

    # Trades and the book.

    def _trade(self, series: str, item: object, book: bool) -> TickEvent:
        if type(item) is not list or len(item) < 4:
            raise MalformedMessage(f"a trade is not [ID, MTS, AMOUNT, PRICE, ...]: {item!r:.60}")
        trade_id, time_ms, amount, price = item[0], item[1], _size(item[2]), plain_decimal(item[3])
        if type(trade_id) is not int or type(time_ms) is not int or amount is None or price is None:
            raise MalformedMessage(f"a trade's ID, MTS, AMOUNT or PRICE is not a number: {item!r:.80}")
        bid, ask = self._book.get(series, (None, None)) if book else (None, None)
        if trade_id > self._last_trade.get(series, (-1, 0))[0]:
            self._last_trade[series] = (trade_id, time_ms)
        return TickEvent(Tick(series, time_ms, trade_id, price, bid, ask, amount))

    def _snapshot(self, series: str, items: object) -> list[Message]:
        """The trades sent on subscribing, oldest first; a malformed one costs only itself."""
        if type(items) is not list:
            raise MalformedMessage(f"a trades snapshot is not a list: {items!r:.60}")
        events: list[Message] = []
        bad: list[str] = []
        for item in sorted(items, key=lambda i: i[0] if type(i) is list and i and type(i[0]) is int else 0):
            try:
                events.append(self._trade(series, item, book=False))
            except MalformedMessage as exc:
                bad.append(exc.reason)
        if bad:
            raise MalformedMessage(f"trades snapshot: {len(bad)} of {len(items)} malformed: {bad[0]}", events)
        return events

    # Events.

    def _event(self, data: dict) -> Message:
        event = data.get("event")
        if event == "subscribed":
            return self._subscribed(data)
        if event == "unsubscribed":
            chan_id = data.get("chanId")
            if type(chan_id) is int:
                self._channels.pop(chan_id, None)
            return Ignored("unsubscribed")
        if event == "error":
            return self._error(data)
        if event == "info":
            return _info(data)
        if event == "conf" and data.get("status") not in (None, "OK"):
            return ExchangeError(f"flags {data.get('flags')} refused: no sequence numbers", reason="conf")
        return Ignored(str(event))  # conf OK, pong, anything new

    def _subscribed(self, data: dict) -> Message:
        channel, chan_id = data.get("channel"), data.get("chanId")
        series = self._series_of_symbol.get(data.get("symbol"))  # type: ignore[arg-type]
        if channel not in CHANNELS or type(chan_id) is not int or series is None:
            return Ignored("subscribed")  # nothing we asked for
        self._channels[chan_id] = (channel, series)
        return Subscribed({channel: (series,)})

    def _error(self, data: dict) -> Message:
        message = f"{data.get('msg') or 'refused without a reason'} (code {data.get('code')})"
        if data.get("code") == ALREADY_SUBSCRIBED:
            return Ignored("already subscribed")
        if "symbol" in data or data.get("channel") in CHANNELS:
            product = product_of_symbol(data.get("symbol"), self.aliases)
            return SubscribeFailed(series_id(self.name, product) if product else None, message)
        return ExchangeError(message, reason="error")


def _info(data: dict) -> Message:
    code, text = data.get("code"), str(data.get("msg") or "")
    if code in (RESTARTING, MAINTENANCE_END):
        return Reconnect(f"info {code} {text}".rstrip())
    if code == MAINTENANCE_START:
        return ExchangeError(f"maintenance starts: {text}".rstrip(": "), reason=str(code))
    platform = data.get("platform")
    if isinstance(platform, dict) and platform.get("status") == 0:
        return ExchangeError("the platform is in maintenance", reason="info")
    return Ignored("info")


def _trade_ms(data: list) -> int | None:
    """A te/tu frame's trade time, for a frame without its own."""
    item = data[2] if len(data) > 2 and data[1] in ("te", "tu") else None
    return item[1] if type(item) is list and len(item) > 1 and type(item[1]) is int else None


def _size(amount: object) -> str | None:
    """The amount without its sign, from its literal text (`-0.005` -> `0.005`)."""
    if type(amount) is int:
        return str(abs(amount))
    if isinstance(amount, str) and amount.startswith("-"):
        amount = amount[1:]
    return plain_decimal(amount)


def _book(item: object) -> tuple[str | None, str | None]:
    """A ticker's [BID, BID_SIZE, ASK, ...] -> (bid, ask); None for an absent or zero side."""
    if type(item) is not list or len(item) < 3:
        raise MalformedMessage(f"a ticker is not [BID, BID_SIZE, ASK, ...]: {item!r:.60}")
    sides = []
    for value in (item[0], item[2]):
        price = None if value is None else plain_decimal(value)
        if value is not None and price is None:
            raise MalformedMessage(f"ticker: a bid or ask is not a non-negative number: {value!r:.40}")
        sides.append(None if price is None or not price.strip("0.") else price)
    return sides[0], sides[1]
