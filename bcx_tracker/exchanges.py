"""Every exchange bcx-tracker speaks: the adapters by protocol name, and bcx-replay's server side by the path a
client connects to (`ws://host:port/kraken`; `/` is Coinbase's Exchange feed), by its first segment
(`/binance/stream?streams=...`)."""

from __future__ import annotations

from collections.abc import Callable

from bcx_tracker.binance import Binance, BinanceUS
from bcx_tracker.binance_replay import BinanceReplay, BinanceUSReplay
from bcx_tracker.bitfinex import Bitfinex
from bcx_tracker.bitfinex_replay import BitfinexReplay
from bcx_tracker.coinbase import Coinbase, CoinbaseReplay
from bcx_tracker.coinbase_advanced import CoinbaseAdvanced, CoinbaseAdvancedReplay
from bcx_tracker.exchange import Entry, Exchange, ReplayProtocol
from bcx_tracker.kraken import Kraken
from bcx_tracker.kraken_replay import KrakenReplay

# [exchange:NAME] -> its protocol (ExchangeConfig.protocol) -> the adapter class
ADAPTERS: dict[str, type[Exchange]] = {
    "coinbase-exchange": Coinbase,
    "coinbase-advanced": CoinbaseAdvanced,
    "kraken": Kraken,
    "binance": Binance,
    "binance-us": BinanceUS,
    "bitfinex": Bitfinex,
}
# bcx-replay's path -> the server side
REPLAY_PROTOCOLS: dict[str, type[ReplayProtocol]] = {
    "coinbase": CoinbaseReplay,
    "coinbase-advanced": CoinbaseAdvancedReplay,
    "kraken": KrakenReplay,
    "binance": BinanceReplay,
    "binance-us": BinanceUSReplay,
    "bitfinex": BitfinexReplay,
}
# The exchange whose recorded lines each path plays (Advanced Trade plays Coinbase's recording).
DEFAULT_PATH = "coinbase"


def replay_protocol(path: str) -> type[ReplayProtocol] | None:
    """The server side for a request path (`/kraken`, `/`), None for an unknown one."""
    name = path.split("?", 1)[0].strip("/").split("/", 1)[0] or DEFAULT_PATH  # the first segment: /binance/stream
    return REPLAY_PROTOCOLS.get(name)


def replay_path(protocol: str) -> str:
    """The replay server's path for an adapter protocol (coinbase-exchange -> /coinbase)."""
    return "/" + ("coinbase" if protocol == "coinbase-exchange" else protocol)


def entry_readers() -> dict[str, Callable[[str], Entry | None]]:
    """Exchange name -> what reads its recorded lines (ReplayProtocol.reader), fresh for one pass over a file."""
    return {cls.name: cls.reader() for cls in REPLAY_PROTOCOLS.values()}
