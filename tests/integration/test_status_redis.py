"""`bcx status`'s look at a real Redis: the newest tick of each configured series, by series id."""

from __future__ import annotations

from bcx.config import load_config
from bcx.status import collect, render_text
from bcx.store import TickStore
from bcx.tick import Tick

NOW = 1_700_000_100.0


def test_status_shows_tick_ages_by_series_id(redis_conn, redis_section, tmp_path):
    path = tmp_path / "bcx.conf"
    path.write_text(f"{redis_section}\n[tracker]\nproducts = BTC-USD, kraken:BTC-USD, kraken:ETH-USD\n")
    store = TickStore(redis_conn, "bcx")
    store.add([Tick("BTC-USD", 1_700_000_090_000, 1, "1.00"), Tick("kraken:BTC-USD", 1_700_000_040_000, 2, "2.0")])
    report = collect(load_config(str(path)), ["web"], str(tmp_path), NOW, max_silence=60.0, max_tick_age=30.0)
    assert report.tick_ages == {"coinbase:BTC-USD": 10.0, "kraken:BTC-USD": 60.0, "kraken:ETH-USD": None}
    assert "ticks: kraken:BTC-USD: newest tick 1m00s old" in report.problems
    assert "ticks     coinbase:BTC-USD 10.0s ago, kraken:BTC-USD 1m00s ago, kraken:ETH-USD none" in render_text(report)
