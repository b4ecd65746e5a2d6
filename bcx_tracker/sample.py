"""A synthetic feed recording for demos and tests: `python -m bcx_tracker.sample --out FILE [--seed 42]`.

Seeded random walks for Coinbase's BTC-USD, ETH-USD and SOL-USD written as the exchange's own messages (the 2022
ticker schema of shared/reference/coinbase-feed.md §3.1, numbers as strings, sequence and trade_id as integers),
plus a heartbeat per product about every 10 s; for Kraken's BTC-USD and ETH-USD as Kraken v2 frames (a `ticker`
best-bid-offer update before each `trade`, numbers as JSON numbers with their trailing zeros, contiguous trade
ids); for Binance's BTC-USDT and ETH-USDT as combined-stream frames (a `bookTicker` before each `aggTrade`); for
Bitfinex's BTC-USD and ETH-USD as v2 frames (its `conf` and `subscribed` events first, then a `ticker` update
before each trade's `te`). The other exchanges' lines are recorded as `EXCHANGE <frame>`.

Trades arrive as a Poisson process whose rate switches between
quiet, normal and busy stretches; sizes are log-normal, rounded to the product's base increment; prices sit on
the 0.01 quote increment with a spread of a few increments that widens when the market is quiet. Sequences
increase with gaps (the ticker shares its counter with the full feed) and trade ids with occasional gaps
(batched cascades). The same seed always gives the same bytes. The data is made up, not market history.
"""

from __future__ import annotations

import argparse
import gzip
import heapq
import json
import math
import random
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from importlib import resources
from pathlib import Path

from bcx.tick import iso_to_ms, iso_us

DEFAULT_START = "2026-11-01T00:00:00Z"
HEARTBEAT_EVERY_US = 10_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# (name, rate multiplier, mean length in seconds, spread in increments: (usual most, wide most))
_REGIMES = (("quiet", 0.25, 600, (3, 25)), ("normal", 1.0, 900, (2, 6)), ("busy", 3.5, 180, (1, 3)))


@dataclass(frozen=True)
class ProductModel:
    product: str  # a series id; a bare product is Coinbase's
    price: int  # start price in quote increments (cents)
    base_decimals: int  # base increment 10**-base_decimals
    size_median: float
    rate: float  # trades per second in a normal stretch
    sequence: int
    trade_id: int
    volume_24h: float
    volume_30d: float
    quote_decimals: int = 2


# Base increments as Coinbase lists them (BTC and ETH 0.00000001; SOL 0.001); quote increment 0.01 for all.
PRODUCTS = (
    ProductModel("BTC-USD", 9_725_000, 8, 0.004, 1.0, 112_406_118_554, 912_406_337, 8_231.5, 261_377.9),
    ProductModel("ETH-USD", 348_000, 8, 0.08, 0.6, 71_588_204_117, 703_110_285, 112_094.2, 3_902_551.7),
    ProductModel("SOL-USD", 18_500, 3, 4.0, 0.4, 29_003_561_902, 188_770_414, 1_250_337.1, 38_664_100.3),
)
# Kraken's books: BTC/USD on 0.1, ETH/USD on 0.01; the prices a little off Coinbase's, as two venues are.
KRAKEN_PRODUCTS = (
    ProductModel("kraken:BTC-USD", 972_590, 8, 0.003, 0.7, 0, 84_660_001, 2_112.4, 70_388.1, quote_decimals=1),
    ProductModel("kraken:ETH-USD", 348_120, 8, 0.05, 0.4, 0, 31_200_517, 40_211.9, 1_311_050.2),
)
KRAKEN_SYMBOLS = {"kraken:BTC-USD": "BTC/USD", "kraken:ETH-USD": "ETH/USD"}
# Quieter walks for Binance and Bitfinex: the demo shows four venues without tripling the bundled file.
BINANCE_PRODUCTS = (
    ProductModel("binance:BTC-USDT", 9_723_850, 8, 0.002, 0.3, 0, 3_102_550_001, 19_002.4, 610_388.1),
    ProductModel("binance:ETH-USDT", 347_910, 8, 0.04, 0.2, 0, 2_211_070_001, 301_211.9, 9_311_050.2),
)
BINANCE_SYMBOLS = {"binance:BTC-USDT": "BTCUSDT", "binance:ETH-USDT": "ETHUSDT"}
BITFINEX_PRODUCTS = (
    ProductModel("bitfinex:BTC-USD", 9_726_100, 8, 0.003, 0.3, 0, 1_604_200_001, 1_800.2, 60_311.4),
    ProductModel("bitfinex:ETH-USD", 348_090, 8, 0.05, 0.2, 0, 1_704_200_001, 30_102.7, 1_002_775.9),
)
# series -> (Bitfinex's symbol, (trades chanId, ticker chanId) in the recording)
BITFINEX_CHANNELS = {"bitfinex:BTC-USD": ("tBTCUSD", (101, 102)), "bitfinex:ETH-USD": ("tETHUSD", (103, 104))}
_VOLATILITY = 0.5 / math.sqrt(365 * 86400)  # 50% a year, per sqrt(second)


def fixed(units: int, decimals: int) -> str:
    """An integer count of 10**-decimals as an exact decimal string: fixed(123456, 2) == '1234.56'."""
    whole, frac = divmod(units, 10**decimals)
    return f"{whole}.{frac:0{decimals}d}" if decimals else str(whole)


def trimmed(units: int, decimals: int) -> str:
    """Like fixed() without trailing zeros, as the exchange writes most numbers ('1313.8', '0.04', '95000')."""
    text = fixed(units, decimals)
    return text.rstrip("0").rstrip(".") if "." in text else text


class _Walk:
    """One product's market: regime, mid price, counters and 24h statistics."""

    def __init__(self, model: ProductModel, seed: int, start_us: int):
        self.m = model
        self.rng = random.Random(f"{seed}:{model.product}")
        self.mid = float(model.price)
        self.sequence = model.sequence
        self.trade_id = model.trade_id
        self.open_24h = round(model.price * math.exp(self.rng.gauss(0, 0.02)))
        self.low = min(self.open_24h, model.price) - self.rng.randint(0, model.price // 100)
        self.high = max(self.open_24h, model.price) + self.rng.randint(0, model.price // 100)
        self.volume_24h = round(model.volume_24h * 10**8)
        self.volume_30d = round(model.volume_30d * 10**8)
        self.regime = 1
        self.regime_until = start_us + self._regime_length()

    def _regime_length(self) -> int:
        return int(self.rng.expovariate(1 / _REGIMES[self.regime][2]) * 1e6)

    def _switch(self, now_us: int) -> None:
        while now_us >= self.regime_until:
            self.regime = self.rng.choice([i for i in range(len(_REGIMES)) if i != self.regime])
            self.regime_until += self._regime_length()

    def next_gap_us(self, now_us: int) -> int:
        self._switch(now_us)
        rate = self.m.rate * _REGIMES[self.regime][1]
        return max(1, int(self.rng.expovariate(rate) * 1e6))

    def ticker(self, time_us: int, elapsed_s: float) -> dict:
        rng, m = self.rng, self.m
        busy = _REGIMES[self.regime][1]
        self.mid *= math.exp(rng.gauss(0, _VOLATILITY * math.sqrt(max(elapsed_s, 1e-3)) * math.sqrt(busy)))
        usual, wide = _REGIMES[self.regime][3]
        spread = rng.randint(1, wide if rng.random() < 0.1 else usual)
        bid = max(1, int(self.mid - spread / 2))
        ask = bid + spread
        side = "buy" if rng.random() < 0.5 else "sell"
        price = ask if side == "buy" else bid
        size = max(1, round(rng.lognormvariate(math.log(m.size_median), 1.3) * 10**m.base_decimals))
        self.sequence += 1 + int(rng.expovariate(1 / (20 * busy)))
        self.trade_id += 1 if rng.random() > 0.05 else rng.randint(2, 6)
        self.low, self.high = min(self.low, price), max(self.high, price)
        self.volume_24h += size * 10 ** (8 - m.base_decimals)
        self.volume_30d += size * 10 ** (8 - m.base_decimals)
        book_size = 10 ** (8 - m.base_decimals)
        return {
            "type": "ticker",
            "sequence": self.sequence,
            "product_id": m.product,
            "price": trimmed(price, m.quote_decimals),
            "open_24h": trimmed(self.open_24h, m.quote_decimals),
            "volume_24h": fixed(self.volume_24h, 8),
            "low_24h": trimmed(self.low, m.quote_decimals),
            "high_24h": trimmed(self.high, m.quote_decimals),
            "volume_30d": fixed(self.volume_30d, 8),
            "best_bid": trimmed(bid, m.quote_decimals),
            "best_bid_size": fixed(self._book_size() * book_size, 8),
            "best_ask": trimmed(ask, m.quote_decimals),
            "best_ask_size": fixed(self._book_size() * book_size, 8),
            "side": side,
            "time": iso_us(time_us),
            "trade_id": self.trade_id,
            "last_size": trimmed(size, m.base_decimals),
        }

    def _book_size(self) -> int:
        return max(1, round(self.rng.lognormvariate(math.log(self.m.size_median * 3), 1.5) * 10**self.m.base_decimals))

    def heartbeat(self, time_us: int) -> dict:
        self.sequence += self.rng.randint(0, 30)  # book events since the last trade move the counter too
        return {
            "type": "heartbeat",
            "sequence": self.sequence,
            "last_trade_id": self.trade_id,
            "product_id": self.m.product,
            "time": iso_us(time_us),
        }


def kraken_frames(symbol: str, ticker: dict, trade_id: int, decimals: int) -> list[str]:
    """A Coinbase-shaped ticker of the walk as Kraken v2 frames: the book's update, then the trade. Numbers are
    written as JSON numbers with the digits Kraken would send (trailing zeros kept: `97259.0`)."""
    stamp, side = ticker["time"], ticker["side"]
    price = fixed(int(Decimal(ticker["price"]).scaleb(decimals)), decimals)
    bid = fixed(int(Decimal(ticker["best_bid"]).scaleb(decimals)), decimals)
    ask = fixed(int(Decimal(ticker["best_ask"]).scaleb(decimals)), decimals)
    qty = fixed(int(Decimal(ticker["last_size"]).scaleb(8)), 8)
    book = (
        f'{{"symbol":"{symbol}","bid":{bid},"bid_qty":{ticker["best_bid_size"]},"ask":{ask},'
        f'"ask_qty":{ticker["best_ask_size"]},"last":{price},"volume":{ticker["volume_24h"]},'
        f'"low":{ticker["low_24h"]},"high":{ticker["high_24h"]},"timestamp":"{stamp}"}}'
    )
    trade = (
        f'{{"symbol":"{symbol}","side":"{side}","price":{price},"qty":{qty},"ord_type":"market",'
        f'"trade_id":{trade_id},"timestamp":"{stamp}"}}'
    )
    return [
        f'{{"channel":"ticker","type":"update","data":[{book}]}}',
        f'{{"channel":"trade","type":"update","data":[{trade}]}}',
    ]


def _product_messages(model: ProductModel, index: int, seed: int, start_us: int, end_us: int) -> Iterator:
    walk = _Walk(model, seed, start_us)
    beat = start_us + (index * 3_333_333) % HEARTBEAT_EVERY_US + walk.rng.randint(0, 999_999)
    trade = start_us + walk.next_gap_us(start_us)
    last_trade = start_us
    while min(trade, beat) < end_us:
        if beat <= trade:
            yield beat, index, walk.heartbeat(beat)
            beat += HEARTBEAT_EVERY_US + walk.rng.randint(-20_000, 20_000)
        else:
            yield trade, index, walk.ticker(trade, (trade - last_trade) / 1e6)
            last_trade = trade
            trade += walk.next_gap_us(trade)


def _kraken_lines(model: ProductModel, index: int, seed: int, start_us: int, end_us: int) -> Iterator:
    symbol, trade_id = KRAKEN_SYMBOLS[model.product], model.trade_id
    for time_us, _, message in _product_messages(model, index, seed, start_us, end_us):
        if message["type"] != "ticker":
            continue  # Kraken's heartbeats come from the connection (bcx-replay makes them), not the recording
        trade_id += 1  # contiguous per book, as Kraken's are
        for frame in kraken_frames(symbol, message, trade_id, model.quote_decimals):
            yield time_us, index, f"kraken {frame}"


def _binance_lines(model: ProductModel, index: int, seed: int, start_us: int, end_us: int) -> Iterator:
    symbol, agg_id = BINANCE_SYMBOLS[model.product], model.trade_id
    for time_us, _, message in _product_messages(model, index, seed, start_us, end_us):
        if message["type"] == "ticker":
            agg_id += 1  # contiguous per symbol, as Binance's aggregate ids are
            for frame in binance_frames(symbol, message, agg_id):
                yield time_us, index, f"binance {frame}"


def _bitfinex_lines(model: ProductModel, index: int, seed: int, start_us: int, end_us: int) -> Iterator:
    chan_ids, trade_id = BITFINEX_CHANNELS[model.product][1], model.trade_id
    for time_us, _, message in _product_messages(model, index, seed, start_us, end_us):
        if message["type"] == "ticker":
            trade_id += 1 + (message["trade_id"] % 3)  # ids are global over Bitfinex's pairs: others fall between
            for frame in bitfinex_frames(chan_ids, message, trade_id):
                yield time_us, index, f"bitfinex {frame}"


# exchange -> its demo walks and what makes a walk's recording lines
SAMPLE_EXCHANGES = {
    "coinbase": (PRODUCTS, _product_messages),
    "kraken": (KRAKEN_PRODUCTS, _kraken_lines),
    "binance": (BINANCE_PRODUCTS, _binance_lines),
    "bitfinex": (BITFINEX_PRODUCTS, _bitfinex_lines),
}


def generate(seed: int = 42, hours: float = 3.0, start: str = DEFAULT_START) -> Iterator[dict]:
    """The Coinbase messages of every product in time order."""
    start_us = iso_to_ms(start) * 1000
    end_us = start_us + int(hours * 3600 * 1e6)
    streams = [_product_messages(m, i, seed, start_us, end_us) for i, m in enumerate(PRODUCTS)]
    for _, _, message in heapq.merge(*streams, key=lambda item: (item[0], item[1])):
        yield message


def recording_lines(
    seed: int = 42, hours: float = 3.0, start: str = DEFAULT_START, exchanges: Iterable[str] = tuple(SAMPLE_EXCHANGES)
) -> Iterator[str]:
    """The lines of the recording, in time order: Coinbase's messages and the other exchanges' frames (`kraken
    {...}`), for each of `exchanges`. Bitfinex's `conf` and `subscribed` events come first, as recorded."""
    start_us = iso_to_ms(start) * 1000
    end_us = start_us + int(hours * 3600 * 1e6)
    wanted = set(exchanges)
    if "bitfinex" in wanted:
        yield from (f"bitfinex {event}" for event in bitfinex_subscribed(dict(BITFINEX_CHANNELS.values())))
    streams, index = [], 0
    for exchange, (models, lines) in SAMPLE_EXCHANGES.items():
        for model in models:
            if exchange in wanted:
                streams.append(lines(model, index, seed, start_us, end_us))
            index += 1
    for _, _, message in heapq.merge(*streams, key=lambda item: (item[0], item[1])):
        yield message if isinstance(message, str) else json.dumps(message, separators=(",", ":"))


def write_sample(
    path: str | Path,
    seed: int = 42,
    hours: float = 3.0,
    start: str = DEFAULT_START,
    exchanges: Iterable[str] = tuple(SAMPLE_EXCHANGES),
) -> int:
    """Write the recording's lines (gzip when the name ends in .gz, with a fixed header so the bytes depend on the
    seed only); returns how many lines."""
    lines = 0
    with open(path, "wb") as raw:
        if str(path).endswith(".gz"):
            out = gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9)
        else:
            out = raw
        try:
            for line in recording_lines(seed, hours, start, exchanges):
                out.write(line.encode() + b"\n")
                lines += 1
        finally:
            if out is not raw:
                out.close()
    return lines


def bundled_sample() -> Path:
    """The recording shipped with the package (three hours from 2026-11-01, seed 42): `bcx up --replay`."""
    return Path(str(resources.files("bcx_tracker").joinpath("data", "sample.jsonl.gz")))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bcx_tracker.sample", description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="file to write (.jsonl, or .jsonl.gz compressed)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--hours", type=float, default=3.0)
    parser.add_argument("--start", default=DEFAULT_START, help=f"first time, ISO 8601 (default {DEFAULT_START})")
    args = parser.parse_args(argv)
    count = write_sample(args.out, args.seed, args.hours, args.start)
    print(f"wrote {count} messages to {args.out}")
    return 0


def binance_frames(symbol: str, ticker: dict, agg_id: int) -> list[str]:
    """A Coinbase-shaped ticker of the walk as Binance combined-stream frames: the bookTicker, then the aggTrade
    (aggregate id `agg_id`, one trade of the same id). `symbol` is Binance's (`BTCUSDT`); numbers are strings with
    the 8 decimals Binance writes; `m` (the buyer is the maker) from the maker side Coinbase's ticker names."""
    stream, time_ms = symbol.lower(), iso_to_ms(ticker["time"])

    def eight(value: str) -> str:
        return fixed(int(Decimal(value).scaleb(8)), 8)

    book = {
        "u": agg_id,
        "s": symbol,
        "b": eight(ticker["best_bid"]),
        "B": eight(ticker["best_bid_size"]),
        "a": eight(ticker["best_ask"]),
        "A": eight(ticker["best_ask_size"]),
    }
    trade = {
        "e": "aggTrade",
        "E": time_ms,
        "s": symbol,
        "a": agg_id,
        "p": eight(ticker["price"]),
        "q": eight(ticker["last_size"]),
        "f": agg_id,
        "l": agg_id,
        "T": time_ms,
        "m": ticker["side"] == "buy",
        "M": True,
    }
    compact = (",", ":")
    return [
        json.dumps({"stream": f"{stream}@bookTicker", "data": book}, separators=compact),
        json.dumps({"stream": f"{stream}@aggTrade", "data": trade}, separators=compact),
    ]


def _bitfinex_number(decimal: str) -> str:
    """A decimal string as Bitfinex writes its float: no trailing zeros (`97259.00` -> `97259`, `0.0400` -> `0.04`)."""
    return format(Decimal(decimal).normalize(), "f")


def bitfinex_subscribed(chan_ids: dict[str, tuple[int, int]]) -> list[str]:
    """The events a recording of Bitfinex starts with, as the tracker records them: the `conf` ack (frame times on:
    TIMESTAMP, 32768) and a `subscribed` per channel; `chan_ids` is symbol (`tBTCUSD`) -> (trades, ticker) chanIds.
    bcx-replay learns from them which channel each recorded chanId is."""
    events = ['{"event":"conf","status":"OK","flags":32768}']
    for symbol, (trades, ticker) in chan_ids.items():
        for channel, chan_id in (("trades", trades), ("ticker", ticker)):
            events.append(
                f'{{"event":"subscribed","channel":"{channel}","chanId":{chan_id},"symbol":"{symbol}",'
                f'"pair":"{symbol[1:]}"}}'
            )
    return events


def bitfinex_frames(chan_ids: tuple[int, int], ticker: dict, trade_id: int) -> list[str]:
    """A Coinbase-shaped ticker of the walk as Bitfinex v2 frames, each with its time (conf TIMESTAMP): the `ticker`
    channel's update, then the trade's `te` (`[ID, MTS, AMOUNT, PRICE]`, a taker's sell negative). bcx-replay sends
    the `tu` after each `te` itself. Numbers are JSON numbers written as Bitfinex's floats are (no trailing zeros)."""
    trades, ticker_id = chan_ids
    time_ms = iso_to_ms(ticker["time"])
    price, open_24h = Decimal(ticker["price"]), Decimal(ticker["open_24h"])
    change = price - open_24h
    book = [
        ticker["best_bid"],
        ticker["best_bid_size"],
        ticker["best_ask"],
        ticker["best_ask_size"],
        str(change),
        str(round(change / open_24h, 4)),
        ticker["price"],
        ticker["volume_24h"],
        ticker["high_24h"],
        ticker["low_24h"],
    ]
    amount = _bitfinex_number(ticker["last_size"])
    amount = amount if ticker["side"] == "buy" else f"-{amount}"
    trade = f"[{trade_id},{time_ms},{amount},{_bitfinex_number(ticker['price'])}]"
    return [
        f"[{ticker_id},[{','.join(_bitfinex_number(n) for n in book)}],{time_ms}]",
        f'[{trades},"te",{trade},{time_ms}]',
    ]


if __name__ == "__main__":
    sys.exit(main())
