"""The analytics page in headless Chromium against a real bcx-web and compacted candles in Redis: the rankings
table and the correlation heat map show what the API answers, a header click sorts, a row click opens the chart."""

from __future__ import annotations

import json
import time

import pytest
import requests

from bcx.candles import CandleStore
from bcx.store import TickStore
from bcx.tick import Tick
from bcx_watcher.history import History
from tests.e2e.conftest import wait_for
from tests.e2e.test_browser import chromium, screenshot  # noqa: F401 (chromium: a fixture)
from tests.e2e.web_server import start_web

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

SERIES = ("coinbase:BTC-USD", "coinbase:ETH-USD", "kraken:BTC-USD")
THREE = f"[tracker]\nproducts = {', '.join(SERIES)}\n"
MIN = 60_000
STATE = "window.bcxAnalytics ? JSON.stringify(window.bcxAnalytics) : null"
HEATMAP = """JSON.stringify([...document.querySelectorAll('#heatmap tr')].slice(1).map((tr) =>
  [...tr.querySelectorAll('td')].map((td) => td.textContent)))"""


def recent_ticks(series: str, minutes: int, base_price: int) -> list[Tick]:
    """A tick every 10 s up to now, zig-zagging so that returns move both ways."""
    start = time.time_ns() // 1_000_000 - minutes * MIN
    return [
        Tick(series, start + i * 10_000, 1 + i, f"{base_price + (i % 7) - (i // 6) % 3}.50", None, None, "0.25")
        for i in range(minutes * 6)
    ]


def page_state(tools) -> dict | None:
    text = tools.eval(STATE)
    return json.loads(text) if text else None


@pytest.mark.single_redis  # Chromium is slow; the endpoints on a cluster are covered by the integration tests
def test_analytics_page_shows_rankings_and_the_heat_map(tmp_path, redis_url, redis_conn, processes, chromium):  # noqa: F811
    ticks, candles = TickStore(redis_conn, "bcx"), CandleStore(redis_conn, "bcx")
    ticks.add(recent_ticks("coinbase:BTC-USD", 300, 100) + recent_ticks("kraken:BTC-USD", 300, 103))
    ticks.add(recent_ticks("coinbase:ETH-USD", 200, 20))
    history = History(redis_conn, ticks, candles, ("1m", "1h", "1d"))
    for series in SERIES:
        while history.compact(series):
            pass
    base = start_web(processes, tmp_path, f"[redis]\nurl = {redis_url}\n", THREE)
    api = requests.get(f"{base}/api/v1.0/rankings?window=24h&by=change", timeout=10).json()["rankings"]
    matrix = requests.get(
        f"{base}/api/v1.0/correlation?series={','.join(SERIES)}&window=7d&interval=1h", timeout=10
    ).json()["matrix"]

    chromium.call("Page.navigate", url=f"{base}/analytics")
    state = wait_for(lambda: (s := page_state(chromium)) and s["rankings"] and s["heatmap"] and s, what="the page")
    assert state["error"] is None
    assert state["rankings"] == [row["series"] for row in api]  # sorted by change, as the API sorts
    last_prices = chromium.eval(
        "JSON.stringify([...document.querySelectorAll('#rankings tbody tr')].map((tr) => tr.cells[1].textContent))"
    )
    assert json.loads(last_prices) == [row["last"] for row in api]  # exact strings
    assert state["heatmap"]["series"] == list(SERIES)
    assert json.loads(chromium.eval(HEATMAP)) == [["–" if v is None else f"{v:.2f}" for v in row] for row in matrix]
    assert sum(v is not None for row in matrix for v in row) >= 6  # the diagonal and more: real numbers drawn

    chromium.eval("document.querySelector('[data-sort=\"volume\"]').click()")
    by_volume = sorted(api, key=lambda row: float(row["volume"]), reverse=True)
    wait_for(lambda: page_state(chromium)["rankings"] == [row["series"] for row in by_volume], what="sorted by volume")
    screenshot(chromium, "analytics.png")

    chromium.eval("document.querySelector('#rankings tbody tr[data-series=\"kraken:BTC-USD\"]').click()")
    wait_for(lambda: "series=kraken%3ABTC-USD" in chromium.eval("location.href"), what="the chart of the clicked row")
