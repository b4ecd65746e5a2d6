"""The chart page in headless Chromium against a real bcx-web process and test data in Redis.

Driven over the DevTools protocol (websocket-client): the page must draw the candles the API serves (the count on
window.bcx and coloured pixels on the chart canvas), switch product on a click, and a screenshot is saved to
tests/artifacts/ (git-ignored) for a person to look at.
"""

from __future__ import annotations

import base64
import itertools
import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import requests
import websocket

from bcx.embedded import free_port
from bcx.store import TickStore
from bcx.tick import Tick
from tests.e2e.conftest import wait_for
from tests.e2e.web_server import start_web

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

ARTIFACTS = Path(__file__).parents[1] / "artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
MIN = 60_000
# Counts the chart's up (green) and down (red) candle pixels, light theme colours from style.css.
PIXELS = """(() => {
  let coloured = 0;
  for (const canvas of document.querySelectorAll('#chart canvas')) {
    const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    for (let i = 0; i < data.length; i += 4) {
      const [r, g, b] = [data[i], data[i + 1], data[i + 2]];
      if ((Math.abs(r - 26) < 12 && Math.abs(g - 127) < 12 && Math.abs(b - 55) < 12) ||
          (Math.abs(r - 207) < 12 && Math.abs(g - 34) < 12 && Math.abs(b - 46) < 12)) coloured++;
    }
  }
  return coloured;
})()"""


class DevTools:
    """The smallest DevTools-protocol client: send a command, wait for its answer."""

    def __init__(self, url: str):
        self.ws = websocket.create_connection(url, timeout=30, suppress_origin=True)
        self.ids = itertools.count(1)

    def call(self, method: str, **params) -> dict:
        call_id = next(self.ids)
        self.ws.send(json.dumps({"id": call_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == call_id:
                assert "error" not in message, message
                return message["result"]

    def eval(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    def close(self) -> None:
        self.ws.close()


@pytest.fixture
def chromium(tmp_path):
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed: `sudo apt-get install chromium` (Debian) runs this test")
    port = free_port()
    args = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
        f"--user-data-dir={tmp_path / 'chromium'}", f"--remote-debugging-port={port}",
        "--remote-debugging-address=127.0.0.1", "--window-size=1200,800", "about:blank",
    ]  # fmt: skip
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        pages = wait_for(lambda: _pages(port), what="Chromium's DevTools endpoint")
        tools = DevTools(pages[0]["webSocketDebuggerUrl"])
        yield tools
        tools.close()
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _pages(port: int) -> list | None:
    try:
        targets = requests.get(f"http://127.0.0.1:{port}/json/list", timeout=2).json()
    except (requests.RequestException, ValueError):
        return None
    return [t for t in targets if t.get("type") == "page"] or None


def recent_ticks(product: str, minutes: int, base_price: int) -> list[Tick]:
    """A tick every 10 s up to now, zig-zagging so candles go both up and down."""
    now = time.time_ns() // 1_000_000
    start = now - minutes * MIN
    return [
        Tick(product, start + i * 10_000, 1 + i, f"{base_price + (i % 7) - (i // 6) % 3}.50", None, None, "0.25")
        for i in range(minutes * 6)
    ]


@pytest.mark.single_redis  # the web on a cluster is covered by test_web and test_scaling; Chromium is slow
def test_chart_page_draws_candles_and_switches_product(tmp_path, redis_url, redis_conn, processes, chromium):
    store = TickStore(redis_conn, "bcx")
    store.add(recent_ticks("BTC-USD", 120, 100) + recent_ticks("ETH-USD", 45, 20))
    base = start_web(processes, tmp_path, f"[redis]\nurl = {redis_url}\n")
    newest = store.latest("BTC-USD").time_ms
    candles_url = f"{base}/api/v1.0/candles/BTC-USD?interval=5m&start={newest - 86_400_000}"
    api = requests.get(candles_url, timeout=10).json()["candles"]
    assert 24 <= len(api) <= 26

    chromium.call("Page.enable")
    chromium.call("Page.navigate", url=f"{base}/")
    state = wait_for(
        lambda: (s := _state(chromium)) and s["drawn"] >= 1 and s["candles"] and s, what="the first chart draw"
    )
    assert state["product"] == "BTC-USD" and state["error"] is None
    assert state["candles"] == len(api)  # the default range (1d at 5m) drew every candle the API has
    assert state["staleHidden"]  # ticks up to now: no stale-data banner
    assert chromium.eval(PIXELS) > 100  # candles really painted on the canvas

    chromium.eval("document.querySelector('[data-product=\"ETH-USD\"]').click()")
    state = wait_for(
        lambda: (s := _state(chromium)) and s["product"] == "ETH-USD" and s["drawn"] >= 2 and s["candles"] and s,
        what="ETH-USD to be drawn",
    )
    assert state["candles"] in (9, 10)  # 45 minutes at 5m
    last_price = chromium.eval("document.querySelector('[data-product=\"ETH-USD\"] .last').textContent")
    assert last_price == recent_ticks("ETH-USD", 45, 20)[-1].price  # prices depend on the index only

    ARTIFACTS.mkdir(exist_ok=True)
    shot = chromium.call("Page.captureScreenshot", format="png")
    (ARTIFACTS / "chart.png").write_bytes(base64.b64decode(shot["data"]))


def _state(tools: DevTools) -> dict | None:
    text = tools.eval(
        "window.bcx ? JSON.stringify({drawn: bcx.drawn, product: bcx.product, candles: bcx.candles.length, "
        "error: bcx.error, staleHidden: document.getElementById('stale').hidden}) : null"
    )
    return json.loads(text) if text else None
