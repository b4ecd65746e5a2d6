"""Synthetic history for the web benchmarks: a month of the watcher's candles and the last hours of raw ticks.

A month at 10 ticks/s is 26M ticks per product, more than a 2-core bench machine writes in reasonable time, so
only the last `tick_hours` are raw ticks (what a query of the last day reads); the minutes before them are
generated as 1-minute candles directly (a random walk, 600 trades of 0.0100 each, like the ticks). The coarser
tiers (the packaged `[watcher] candles`, or the intervals given) are combined from the 1m ones, closed buckets
only, as the watcher stores them. The newest tick is 37.5 s into a minute, so the open minute and the open hour
are filled from raw ticks and 1m candles by the API.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from decimal import Decimal

from bcx.candles import Candle, CandleStore, combine, interval_ms, rollup
from bcx.config import load_config, packaged_default
from bcx.store import TickStore
from bcx.tick import Tick

PRODUCTS = ("BTC-USD", "ETH-USD", "SOL-USD")
MINUTE, HOUR, DAY = 60_000, 3_600_000, 86_400_000
END = 1_762_000_000_000 - 1_762_000_000_000 % DAY + 13 * HOUR + 37_500  # the newest tick, mid-afternoon
SIZE = "0.0100"
CENT = Decimal("0.01")


def stored_intervals() -> tuple[str, ...]:
    """The candle intervals a fresh install's watcher stores (the packaged `[watcher] candles`)."""
    return load_config(str(packaged_default())).watcher.candles


def synthetic_minutes(first_ms: int, count: int, rate: int, rng: random.Random, price: Decimal):
    """`count` 1m candles from first_ms, each as if `rate` trades a second moved the price; and the last close."""
    trades = rate * 60
    volume = str(Decimal(SIZE) * trades)
    candles = []
    for index in range(count):
        steps = [Decimal(rng.randint(-50, 50)) * CENT for _ in range(4)]
        open_ = price
        path = [open_ + sum(steps[: i + 1]) for i in range(4)]
        price = path[-1]
        high, low = max(open_, *path), min(open_, *path)
        candles.append(Candle(first_ms + index * MINUTE, str(open_), str(high), str(low), str(price), volume, trades))
    return candles, price


def hour_of_ticks(product: str, first_ms: int, rate: int, first_id: int, rng: random.Random, price: Decimal):
    """An hour of ticks (or up to END) at `rate` per second with a book around the price; and the last price."""
    step, ticks = 1000 // rate, []
    for index in range(rate * 3600):
        time_ms = first_ms + index * step
        if time_ms > END:
            break
        price += Decimal(rng.randint(-5, 5)) * CENT
        bid, ask = str(price - CENT), str(price + CENT)
        ticks.append(Tick(product, time_ms, first_id + index, str(price), bid, ask, SIZE))
    return ticks, price


def write_history(
    conn, product: str, rate: int, days: int, tick_hours: int, seed: int, intervals: Sequence[str] | None = None
) -> int:
    """Write `days` of candles ending at END (the `intervals`, by default the packaged `[watcher] candles`), the
    last `tick_hours` of them as raw ticks; returns the number of ticks written. Memory stays bounded: ticks are
    made and written an hour at a time."""
    ticks, candles = TickStore(conn, "bcx"), CandleStore(conn, "bcx")
    rng, price = random.Random(seed), Decimal("1000.00")
    first_tick_ms = END - END % HOUR - (tick_hours - 1) * HOUR
    start = END - END % DAY - (days - 1) * DAY
    minutes, price = synthetic_minutes(start, (first_tick_ms - start) // MINUTE, rate, rng, price)
    written, trade_id = 0, 1
    for hour_ms in range(first_tick_ms, END + 1, HOUR):
        batch, price = hour_of_ticks(product, hour_ms, rate, trade_id, rng, price)
        trade_id += len(batch)
        for first in range(0, len(batch), 5000):
            ticks.add(batch[first : first + 5000])
        written += len(batch)
        minutes += [c for c in rollup(batch, MINUTE) if c.time_ms + MINUTE <= END]
    for interval in stored_intervals() if intervals is None else intervals:
        width = interval_ms(interval)
        closed = minutes if width == MINUTE else [c for c in combine(minutes, width) if c.time_ms + width <= END]
        for first in range(0, len(closed), 5000):
            candles.put(product, interval, closed[first : first + 5000])
    return written
