"""The analytics alert rules in the real watcher on a real redis-server: the spread to another exchange reads that
series' ticks over the batch, activity reads 1-minute candles (compacted, and raw ticks for the rest)."""

from __future__ import annotations

from bcx import alerts
from bcx.tick import Tick
from tests.integration.test_watcher import NOW, T0, make_watcher, store  # noqa: F401 (fixtures)

MIN = 60_000
START = T0 - T0 % MIN
RULES = (
    "[alert:arb]\nproduct = BTC-USD\nwhen = spread kraken:BTC-USD > 0.5%\ncooldown = 0s\n\n"
    "[alert:busy]\nproduct = BTC-USD\nwhen = activity volume 2x 3h\ncooldown = 0s\n"
)


def minute_tick(minute: int, trade_id: int, price: str, size: str, series: str = "BTC-USD") -> Tick:
    return Tick(series, START + minute * MIN + 5_000, trade_id, price, None, None, size)


def test_spread_to_another_exchange_and_activity_fire_through_the_watcher(store, make_watcher, redis_conn):  # noqa: F811
    # Kraken at 100 throughout; Coinbase at 100.2, then 100.8 (0.8% away) from minute 150 on
    store.add([minute_tick(m, 10_000 + m, "100", "1", "kraken:BTC-USD") for m in range(0, 200, 10)])
    # Coinbase trades every minute: 0.01 a minute for two hours, 0.04 in the third: activity 2 over 3h
    volumes = ["0.01"] * 120 + ["0.04"] * 60
    store.add([minute_tick(m, m + 1, "100.8" if m >= 150 else "100.2", v) for m, v in enumerate(volumes)])
    watcher = make_watcher(RULES)
    watcher.run_pass(NOW)  # one batch: the last minute (179) is still open
    first = alerts.read_alerts(redis_conn, "bcx")
    assert [(a.rule, a.kind, a.value, a.time_ms) for a in first] == [
        ("arb", "spread", "0.8", START + 150 * MIN + 5_000)
    ]

    store.add([minute_tick(180, 181, "100.8", "0.01")])  # opens minute 180: minute 179 closes and is judged
    watcher.run_pass(NOW)
    fired = alerts.read_alerts(redis_conn, "bcx")[1:]
    assert [(a.rule, a.kind, a.field, a.value, a.time_ms) for a in fired] == [
        ("busy", "activity", "volume", "2", START + 180 * MIN)
    ]
    assert "average hour (2.4 against 1.2)" in fired[0].message
