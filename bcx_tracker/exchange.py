"""The exchange layer: what every exchange adapter provides, and what one feed frame parses into.

One class per exchange (`bcx_tracker.coinbase.Coinbase`, `bcx_tracker.kraken.Kraken`, ...), listed in
`bcx_tracker.exchanges.ADAPTERS`. An adapter is made once per connection with the canonical products recorded on
it (`BTC-USD`, whatever the exchange calls it) and is pure: no socket, no Redis, no clock of its own (the feed
loop passes `now`). It may keep state between frames of its connection (the best bid and ask last seen, to
attach to the next trade). Ticks it returns carry the series id (`kraken:BTC-USD`) as their `product`.

The feed loop (`bcx_tracker.feed`), the writer, the recorder and the replay server know no exchange by name:
they speak to adapters through this interface. The server side of each protocol, for bcx-replay, is a
`ReplayProtocol` of the same module as the adapter.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, NamedTuple

from bcx.series import series_id
from bcx.tick import Tick

if TYPE_CHECKING:
    from bcx.candles import Candle
    from bcx_tracker.gaps import Gap


class MalformedMessage(ValueError):
    """A frame that is not a valid message of the exchange's feed; `reason` says why (for the log).

    `events` are what the frame's good items parsed into when only some of its items are bad (a batch of trades
    with one broken): the feed loop counts the frame as malformed and still acts on them."""

    def __init__(self, reason: str, events: Sequence[Message] = ()):
        super().__init__(reason)
        self.reason = reason
        self.events = list(events)


# A price or size as exchanges write it (a JSON string, or a JSON number's literal text): a plain non-negative
# decimal. How long it may be is checked once, for every exchange, by bcx_tracker.tick_checks.
DECIMAL_RE = re.compile(r"[0-9]+(?:\.[0-9]+)?\Z", re.ASCII)


def decimal_text(value: object) -> str | None:
    """The value itself when it is a plain decimal string (kept exactly as sent); None otherwise."""
    return value if type(value) is str and DECIMAL_RE.match(value) else None


def is_zero(decimal: str) -> bool:
    """`0`, `0.0`, `0.00000000`: a book side with nothing on it."""
    return not decimal.strip("0.")


class TradeFields(NamedTuple):
    """Where a feed's trade item keeps its fields, for why_bad_trade()."""

    event: str  # the feed's name for the message, as the log says it
    price: str
    size: str
    trade_id: str
    time: str
    time_kind: str  # what the time should be: "an integer", "a string"


def why_bad_trade(item: Mapping, fields: TradeFields, decimal: Callable[[object], str | None]) -> str:
    """Why a trade item failed its parser's one-expression check: the first of its price and size (as `decimal`
    reads them), trade id and time that is wrong. Called for bad items only: good ones never pay for the words."""
    for name in (fields.price, fields.size):
        if decimal(item.get(name)) is None:
            return f"{fields.event}: '{name}' is not a plain non-negative decimal: {item.get(name)!r:.40}"
    trade_id = item.get(fields.trade_id)
    if type(trade_id) is not int or trade_id < 0:
        return f"{fields.event}: '{fields.trade_id}' (the trade id) is not a non-negative integer: {trade_id!r:.40}"
    return f"{fields.event}: '{fields.time}' (the trade time) is not {fields.time_kind}: {item.get(fields.time)!r:.40}"


def unconfigured(symbol: object, field: str) -> Unconfigured:
    """The event for an item of a symbol this connection does not record; MalformedMessage when the symbol itself
    is not even a string (`field` names where it was read)."""
    if type(symbol) is not str:
        raise MalformedMessage(f"'{field}' (the symbol) is not a string: {symbol!r:.40}")
    return Unconfigured(symbol)


# What one frame parses into.


class TickEvent(NamedTuple):  # a NamedTuple: one per trade, built fast
    tick: Tick


@dataclass(frozen=True)
class Heartbeat:
    """The feed is alive; `last_trade_id` (when the exchange says it) is the series' newest trade id, which lets
    the gap tracker notice trades that never reached us."""

    product: str  # series id
    last_trade_id: int | None = None
    sequence: int | None = None
    time_ms: int | None = None


@dataclass(frozen=True)
class Subscribed:
    """The exchange confirmed a subscription: channel -> series ids (cumulative where the exchange says so)."""

    channels: dict[str, tuple[str, ...]]


@dataclass(frozen=True)
class SubscribeFailed:
    """The exchange refused one subscription (an unknown symbol): logged with its words, shown in `bcx status`,
    never a reason to reconnect."""

    product: str | None  # the series id refused, when the exchange names it
    message: str


@dataclass(frozen=True)
class ExchangeError:
    message: str
    reason: str = ""


@dataclass(frozen=True)
class Reconnect:
    """The exchange asks for a new connection now (maintenance, a server going away)."""

    reason: str


@dataclass(frozen=True)
class Unconfigured:
    """A trade or quote of a symbol this connection does not record: dropped and counted, never stored."""

    symbol: str


@dataclass(frozen=True)
class Missed:
    """The adapter noticed trades that never reached us (a jump in a connection-wide sequence, say): the gap goes
    to the backfiller as it is, for the exchange's REST client to fill in its own way."""

    gap: Gap


@dataclass(frozen=True)
class Ignored:
    """Any other message: exchanges add message types at any time and clients must ignore them."""

    type: str


Message = (
    TickEvent | Heartbeat | Subscribed | SubscribeFailed | ExchangeError | Reconnect | Unconfigured | Missed | Ignored
)


class Exchange(ABC):
    """The client side of one exchange's public feed."""

    name: ClassVar[str]  # the EXCHANGE of its series ids (the endpoints are config: bcx.config.EXCHANGE_SECTIONS)
    # True: trade ids are contiguous per series, so a jump in them is a gap (Kraken). False: ids skip by design,
    # and only heartbeats' last_trade_id and the first trade after a reconnect reveal a gap (Coinbase).
    contiguous_trade_ids: ClassVar[bool] = False
    # False: the ids are made up by the adapter, not the exchange's: no gap tracking, no REST backfill.
    real_trade_ids: ClassVar[bool] = True
    max_products_per_connection: ClassVar[int | None] = None
    # The exchange ends a connection at this age (Binance: 24 h): the tracker opens the next one before, with an
    # overlap, so that no trade falls between them (the overlap's duplicates are one entry each in the store).
    max_connection_age: ClassVar[float | None] = None
    send_interval: ClassVar[float] = 0.0  # seconds between two messages sent (an incoming-message rate limit)
    connects_per_minute: ClassVar[float | None] = None  # connection attempts per IP, shared by all its connections
    # native asset code -> canonical (Kraken's XBT -> BTC); explicit, never guessed from the string's shape
    aliases: ClassVar[Mapping[str, str]] = {}

    def __init__(self, products: Sequence[str]):
        if not products:
            raise ValueError("at least one product is needed to subscribe")
        self.products = tuple(products)
        self.series = {product: series_id(self.name, product) for product in self.products}

    @classmethod
    def for_any_product(cls) -> Exchange | None:
        """An adapter that parses the frames of every product its exchange names, for reading a recording whose
        products are not known before its lines are (bcx import); None (the default) for an adapter that must be
        told them first: it maps native symbols or channel numbers through them, or keeps state keyed by them."""
        return None

    @classmethod
    def frame_product(cls, raw: str) -> str | None:
        """The product a raw frame of an adapter made by for_any_product() is about, found without parsing the
        frame (bcx import spreads a recording's products over processes by it; the parser still checks it); None
        when it cannot tell, or for an adapter that keeps state between frames: all its frames go together."""
        return None

    # Symbols.

    @classmethod
    def canonical_asset(cls, native: str) -> str:
        return cls.aliases.get(native, native)

    @classmethod
    def native_asset(cls, canonical: str) -> str:
        for native, name in cls.aliases.items():
            if name == canonical:
                return native
        return canonical

    # Client side.

    @abstractmethod
    def subscribe_messages(self) -> list[str]:
        """What to send right after connecting, in order."""

    @abstractmethod
    def parse(self, raw: str | bytes) -> list[Message]:
        """One frame -> its events; raises MalformedMessage naming what is wrong. A bad item inside a frame that
        also carries good ones costs only itself where the format allows telling them apart."""

    def connect_url(self, feed_url: str) -> str:
        """The address to open (an exchange that subscribes in the URL adds its streams here)."""
        return feed_url

    def connected(self) -> None:  # noqa: B027 (a hook: most exchanges keep nothing per connection)
        """A new connection starts: forget what belonged to the last one (channel ids, sequences, books)."""

    def refused(self, status: int) -> str | None:
        """An HTTP status on the upgrade that retrying soon will not fix (Binance's 451: a restricted location),
        as the message to log once; None for a status worth the usual retries."""
        return None

    @classmethod
    def rest(cls, base_url: str) -> ExchangeRest | None:
        """The exchange's REST client (gap backfill, product check), None when it has none we use."""
        return None

    def keepalive(self, now: float) -> str | None:
        """A message to send now to keep the connection open (an application-level ping), or None. Called after
        every receive and every idle second; the adapter decides when one is due."""
        return None


class TradesPage(NamedTuple):
    """One page of a walk through a series' trades back to a time (ExchangeRest.trades_since)."""

    ticks: list[Tick]  # in the exchange's order; ticks without bid and ask
    cursor: str | None  # where the next page starts, opaque (kept in Redis between runs); None: the walk is done


class TradesNotPaged(Exception):
    """The exchange's REST API cannot walk trades back in time (only candles can fill a long span)."""


class ExchangeRest(ABC):
    """One exchange's public REST API, as far as the tracker uses it; every request paced under its limit."""

    base_url: str

    def check_products(self, products: Sequence[str]) -> tuple[list[str], list[str]]:
        """(canonical products the exchange does not list, listed ones not trading now). Raises RestError when
        the exchange cannot be asked. The default knows nothing and finds nothing wrong."""
        return [], []

    @abstractmethod
    def fetch_gap(self, gap: Gap, stopping: Callable[[], bool]) -> list[Tick]:
        """The trades with gap.after < trade_id <= gap.upto, oldest first, as ticks without bid and ask."""

    def trades_since(self, series: str, since_ms: int, cursor: str | None = None) -> TradesPage:
        """One page of every trade of a series from since_ms until now (`bcx backfill`): start with cursor None,
        go on with each page's cursor until it is None. The walk's direction is the exchange's (down by trade id,
        or up by time); the same pages as the gap backfill's. The default: TradesNotPaged."""
        raise TradesNotPaged(
            f"{type(self).__name__} cannot page trades back in time: not supported, use --what candles"
        )

    def candles(self, product: str, start_s: int, end_s: int) -> list[Candle] | None:
        """1-minute candles of a series id with start_s <= time <= end_s, oldest first; None when the exchange
        cannot give them for that span (the candle backfill then skips)."""
        return None


# The server side, for bcx-replay.


class Entry(NamedTuple):  # NamedTuple: bcx-replay --speed max makes tens of thousands a second
    """One playable line of a recording, with what the replay server needs to know of it."""

    raw: str  # the frame as recorded (without the recording line's exchange name)
    channel: str  # the channel that carries it, in the protocol's own names ("ticker", "heartbeat", "trade")
    product: str  # series id
    time_ms: int  # 0: a frame without a time of its own (Binance's bookTicker), played right after the one before
    trade_id: int  # the trade's id (of several: the highest), or the newest trade id a heartbeat names (0: none)
    sequence: int | None
    first_trade_id: int | None = None  # a frame of several trades: the lowest id (a looping replay's id span)


@dataclass
class Request:
    """What a replay server makes of one client request: frames to answer, and subscription changes as
    channel -> canonical products."""

    replies: list[str]
    subscribe: dict[str, set[str]]
    unsubscribe: dict[str, set[str]]


class ReplayProtocol(ABC):
    """The server side of one exchange's feed, for one replay connection.

    The recording's lines become Entries (`entry`); the server sends each entry's frames (`frames`) to a client
    subscribed to the entry's channel and product, and when it is due `heartbeats`. `shifted` rewrites an entry
    for a later pass of a looping replay (times and ids moved forward)."""

    name: ClassVar[str]
    heartbeat_every: ClassVar[float] = 1.0
    # A protocol whose keepalive is websocket pings (Binance): one every `ping_every` seconds, and the client is
    # disconnected when its pong is not back within `pong_timeout`.
    ping_every: ClassVar[float | None] = None
    pong_timeout: ClassVar[float] = 60.0

    def __init__(self, products: Iterable[str]):
        self.products = frozenset(products)  # canonical products the recording holds for this exchange

    def greeting(self) -> list[str]:
        """Frames sent as soon as a client connects."""
        return []

    def opened(self, path: str) -> Request | None:
        """What the request path (`/binance/stream?streams=...`) subscribes to, for a protocol that subscribes in
        the URL; None: the client subscribes with messages."""
        return None

    @abstractmethod
    def request(self, raw: str | bytes, subs: Mapping[str, frozenset[str]]) -> Request:
        """One client frame (subscribe, unsubscribe, ping, garbage) -> the answer."""

    @staticmethod
    @abstractmethod
    def entry(raw: str) -> Entry | None:
        """A recording line of this exchange as an Entry, None when it is not played; raises MalformedMessage."""

    @classmethod
    def reader(cls) -> Callable[[str], Entry | None]:
        """What reads this exchange's lines of one recording, in file order, for one pass over the file: `entry`,
        unless a frame cannot be read alone (Bitfinex names a channel by a number that an earlier `subscribed` line
        explains): then a reader that keeps what the earlier lines said."""
        return cls.entry

    def frames(self, entry: Entry) -> list[str]:
        """The frames that play an entry (the recorded line itself, unless the protocol rewraps it)."""
        return [entry.raw]

    @abstractmethod
    def heartbeats(self, subs: Mapping[str, frozenset[str]], played: Mapping[str, Entry], time_ms: int) -> list[str]:
        """The keepalive frames due now (about once a second); `played` is the last entry played per series id,
        `time_ms` the recording's time now."""

    @staticmethod
    @abstractmethod
    def shifted(entry: Entry, time_ms: int, trade_id: int, sequence: int) -> Entry:
        """The entry as played on a later pass: its times, trade ids and sequences moved forward."""
