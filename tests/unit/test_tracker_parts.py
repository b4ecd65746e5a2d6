"""The tracker's pure parts: series grouped by exchange and connection, the holes to fill, the worker base."""

from __future__ import annotations

import threading
import time

from bcx_tracker.tracker import by_exchange, candle_holes, connection_groups, known_trades
from bcx_tracker.worker import Worker

MINUTE = 60_000


def test_series_are_grouped_by_exchange_in_config_order():
    series = ("coinbase:BTC-USD", "kraken:BTC-USD", "coinbase:ETH-USD", "kraken:DOGE-USD")
    assert by_exchange(series) == {"coinbase": ["BTC-USD", "ETH-USD"], "kraken": ["BTC-USD", "DOGE-USD"]}


def test_an_exchange_capping_subscriptions_gets_several_connections():
    products = [f"P{n}-USD" for n in range(5)]
    assert list(connection_groups(products, None)) == [products]
    assert list(connection_groups(products, 2)) == [products[:2], products[2:4], products[4:]]


def test_only_recent_stops_resume_by_trade_id_and_only_long_ones_get_candles():
    now_ms = 1_000 * MINUTE
    latest = {"coinbase:BTC-USD": (now_ms - 5 * MINUTE, 41), "kraken:BTC-USD": (now_ms - 120 * MINUTE, 7)}
    assert known_trades(latest, backfill=3600, now=now_ms / 1000) == {"coinbase:BTC-USD": (now_ms - 5 * MINUTE, 41)}
    holes = candle_holes(latest, backfill=3600, now_ms=now_ms)
    assert list(holes) == ["kraken:BTC-USD"]
    assert holes["kraken:BTC-USD"] == (now_ms - 119 * MINUTE, now_ms)


class Sleeper(Worker):
    def __init__(self) -> None:
        super().__init__()
        self.rounds = 0

    def run(self) -> None:
        while not self.wait(0.01):
            self.rounds += 1


def test_a_worker_stops_on_request_and_is_joined_within_its_deadline():
    worker = Sleeper().start()
    while worker.rounds < 2:
        time.sleep(0.01)
    worker.stop(time.monotonic() + 5)
    assert worker.join() and not worker.alive
    assert "bcx-worker" not in {t.name for t in threading.enumerate()}


def test_joining_a_worker_never_started_returns_at_once():
    worker = Sleeper()
    worker.stop(time.monotonic())
    assert worker.join()
