"""Series ids: `EXCHANGE:BASE-QUOTE`, the one name of a recorded market in the config, the Redis keys' hash tag,
the API, the CLI and the chart page.

`BASE-QUOTE` is canonical and upper case (`BTC-USD`), whatever the exchange itself calls the market (Kraken's
`BTC/USD`, Binance's `BTCUSDT`): each adapter maps its own symbols. A bare `BTC-USD` means `coinbase:BTC-USD`, so
configs, stored keys and URLs from before there were several exchanges keep working.
"""

from __future__ import annotations

import re
from typing import NamedTuple

# The exchanges bcx-tracker has an adapter for (bcx_tracker.exchanges.ADAPTERS; a test keeps the two equal).
EXCHANGES = ("coinbase", "kraken", "binance", "binance-us", "bitfinex")
DEFAULT_EXCHANGE = "coinbase"
PRODUCT_PATTERN = r"[A-Z0-9]{2,10}-[A-Z0-9]{2,10}"
SERIES_PATTERN = rf"(?:(?:{'|'.join(EXCHANGES)}):)?{PRODUCT_PATTERN}"
_PRODUCT_RE = re.compile(rf"{PRODUCT_PATTERN}\Z")
_SERIES_RE = re.compile(r"(?:([a-z][a-z0-9-]{0,30}):)?([^:]*)\Z")


class Series(NamedTuple):
    exchange: str
    product: str

    def __str__(self) -> str:
        return f"{self.exchange}:{self.product}"

    def as_dict(self) -> dict[str, str]:
        """The three names the API, alerts and metrics give a series: `series`, `exchange`, `product`."""
        return {"series": str(self), "exchange": self.exchange, "product": self.product}


def series_id(exchange: str, product: str) -> str:
    return f"{exchange}:{product}"


def parse_series(text: str) -> Series:
    """`kraken:BTC-USD` or bare `BTC-USD` (Coinbase) -> Series; ValueError saying what is wrong."""
    value = text.strip()
    match = _SERIES_RE.match(value)
    if match is None or not _PRODUCT_RE.match(match.group(2)):
        raise ValueError(
            f"{value!r} is not a series id (like coinbase:BTC-USD or kraken:ETH-USD: an exchange, a colon, then "
            "the base and quote currency in capitals and digits joined by one dash; a bare BTC-USD is Coinbase's)"
        )
    exchange = match.group(1) or DEFAULT_EXCHANGE
    if exchange not in EXCHANGES:
        raise ValueError(f"{value!r}: unknown exchange {exchange!r} (known: {', '.join(EXCHANGES)})")
    return Series(exchange, match.group(2))


def canonical(text: str) -> str:
    """The series id in its one spelling: `BTC-USD` -> `coinbase:BTC-USD`."""
    return str(parse_series(text))


def split(series: str) -> Series:
    """A canonical series id's parts (no checks: for ids that were checked on the way in)."""
    exchange, _, product = series.partition(":")
    return Series(exchange, product)
