"""The chart page in headless Chromium against a real bcx-web process and test data in Redis.

Driven over the DevTools protocol (websocket-client): the page must draw the candles the API serves (the count on
window.bcx and coloured pixels on the chart canvas), list the series grouped by exchange, switch series on a click,
draw one asset across exchanges in price and in percent (as /compare gives it), and work with Coinbase series only.
A screenshot is saved to tests/artifacts/ (git-ignored) for a person to look at.
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
from bcx.tick import Tick, iso_us
from bcx_tracker.coinbase import Coinbase
from bcx_tracker.exchange import TickEvent
from bcx_tracker.kraken import Kraken
from bcx_tracker.recorder import split_line
from bcx_tracker.sample import write_sample
from tests.e2e.conftest import bcx_command, start_replay, wait_for
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


BOTH = "coinbase:BTC-USD,kraken:BTC-USD"
THREE = "[tracker]\nproducts = coinbase:BTC-USD, coinbase:ETH-USD, kraken:BTC-USD\n"
# The series list as the page shows it: [heading, [series of its items]] per exchange group.
GROUPS = """JSON.stringify([...document.querySelectorAll('#products section')].map((g) =>
  [g.querySelector('h2').textContent, [...g.querySelectorAll('li')].map((li) => li.dataset.series)]))"""


def per_second(points: list) -> list[list]:
    """An API answer's [ms, value] points as the chart draws them: [s, number], one point a second (the last)."""
    drawn: dict[int, float] = {}
    for time_ms, value in points:
        drawn[time_ms // 1000] = float(value)
    return [[t, v] for t, v in drawn.items()]


def drawn(tools: DevTools, what: str, after: int = 0, **expected) -> dict:
    """The page's state once a draw after the `after`th is done and `expected` fields hold."""

    def ready():
        state = _state(tools)
        return state and state["drawn"] > after and all(state[k] == v for k, v in expected.items()) and state

    return wait_for(ready, what=what)


def click_and_draw(tools: DevTools, selector: str, what: str, **expected) -> dict:
    """Click an element, then wait for the draw that the click starts."""
    before = _state(tools)["drawn"]
    tools.eval(f"document.querySelector({json.dumps(selector)}).click()")
    return drawn(tools, what, before, **expected)


@pytest.mark.single_redis  # the web on a cluster is covered by test_web and test_scaling; Chromium is slow
def test_chart_page_draws_candles_groups_by_exchange_and_switches_series(
    tmp_path, redis_url, redis_conn, processes, chromium
):
    store = TickStore(redis_conn, "bcx")
    store.add(recent_ticks("BTC-USD", 120, 100) + recent_ticks("ETH-USD", 45, 20))  # bare: Coinbase's
    store.add(recent_ticks("kraken:BTC-USD", 120, 103))
    base = start_web(processes, tmp_path, f"[redis]\nurl = {redis_url}\n", THREE)
    newest = store.latest("BTC-USD").time_ms
    candles_url = f"{base}/api/v1.0/candles/coinbase:BTC-USD?interval=5m&start={newest - 86_400_000}"
    api = requests.get(candles_url, timeout=10).json()["candles"]
    assert 24 <= len(api) <= 26

    chromium.call("Page.enable")
    chromium.call("Page.navigate", url=f"{base}/")
    state = drawn(chromium, "the first chart draw")
    assert state["series"] == "coinbase:BTC-USD" and state["error"] is None
    assert state["candles"] == len(api)  # the default range (1d at 5m) drew every candle the API has
    assert state["staleHidden"]  # ticks up to now: no stale-data banner
    assert state["title"] == "BTC-USD · coinbase"
    assert chromium.eval(PIXELS) > 100  # candles really painted on the canvas
    assert json.loads(chromium.eval(GROUPS)) == [
        ["coinbase", ["coinbase:BTC-USD", "coinbase:ETH-USD"]],
        ["kraken", ["kraken:BTC-USD"]],
    ]

    state = click_and_draw(chromium, 'li[data-series="coinbase:ETH-USD"]', "ETH-USD", series="coinbase:ETH-USD")
    assert state["candles"] in (9, 10)  # 45 minutes at 5m
    assert state["exchangesDisabled"]  # ETH-USD is on one exchange only
    last_price = chromium.eval("document.querySelector('li[data-series=\"coinbase:ETH-USD\"] .last').textContent")
    assert last_price == recent_ticks("ETH-USD", 45, 20)[-1].price  # prices depend on the index only

    state = click_and_draw(chromium, 'li[data-series="kraken:BTC-USD"]', "kraken:BTC-USD", series="kraken:BTC-USD")
    assert state["title"] == "BTC-USD · kraken" and state["candles"] == len(api) and not state["exchangesDisabled"]

    screenshot(chromium, "chart.png")


@pytest.mark.single_redis
def test_chart_page_compares_one_asset_across_exchanges(tmp_path, redis_url, redis_conn, processes, chromium):
    store = TickStore(redis_conn, "bcx")
    store.add(recent_ticks("coinbase:BTC-USD", 60, 100) + recent_ticks("kraken:BTC-USD", 60, 103))
    store.add(recent_ticks("coinbase:ETH-USD", 60, 20))
    base = start_web(processes, tmp_path, f"[redis]\nurl = {redis_url}\n", THREE)
    chromium.call("Page.enable")
    chromium.call("Page.navigate", url=f"{base}/?product=kraken:BTC-USD")  # ?product= takes a series id
    drawn(chromium, "the first chart draw", series="kraken:BTC-USD")

    state = click_and_draw(chromium, '[data-view="exchanges"]', "the price across exchanges", view="exchanges")
    assert state["title"] == "BTC-USD · coinbase / kraken" and state["error"] is None
    assert list(state["lines"]) == ["coinbase:BTC-USD", "kraken:BTC-USD"]  # ETH-USD is another asset: not beside them
    end = max(store.latest(s).time_ms for s in ("coinbase:BTC-USD", "kraken:BTC-USD"))
    window = f"start={end - 86_400_000}&end={end}&points=1000"
    for series, drawn_points in state["lines"].items():
        api = requests.get(f"{base}/api/v1.0/series/{series}?field=price&{window}", timeout=10).json()["points"]
        assert drawn_points == per_second(api) and len(drawn_points) > 10  # what /series says, for each exchange

    state = click_and_draw(chromium, '[data-unit="percent"]', "the percent change across exchanges", unit="percent")
    api = requests.get(f"{base}/api/v1.0/compare?products={BOTH}&{window}", timeout=10).json()["series"]
    assert state["lines"] == {s: per_second(points) for s, points in api.items()}  # what /compare says
    assert "percent" in state["legend"] and "across coinbase, kraken" in state["legend"]
    screenshot(chromium, "chart-exchanges.png")


@pytest.mark.single_redis
def test_chart_page_with_coinbase_series_only(tmp_path, redis_url, redis_conn, processes, chromium):
    TickStore(redis_conn, "bcx").add(recent_ticks("BTC-USD", 30, 100))
    base = start_web(processes, tmp_path, f"[redis]\nurl = {redis_url}\n")  # the default products: Coinbase's
    chromium.call("Page.enable")
    chromium.call("Page.navigate", url=f"{base}/?product=BTC-USD")  # a link from before series ids
    state = drawn(chromium, "the first chart draw", series="coinbase:BTC-USD")
    assert state["error"] is None and state["candles"] and state["exchangesDisabled"]
    assert json.loads(chromium.eval(GROUPS)) == [["coinbase", ["coinbase:BTC-USD", "coinbase:ETH-USD"]]]


def screenshot(tools: DevTools, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    shot = tools.call("Page.captureScreenshot", format="png")
    (ARTIFACTS / name).write_bytes(base64.b64decode(shot["data"]))


def _state(tools: DevTools) -> dict | None:
    text = tools.eval(
        "window.bcx ? JSON.stringify({drawn: bcx.drawn, series: bcx.series, view: bcx.view, unit: bcx.unit, "
        "candles: bcx.candles.length, error: bcx.error, "
        "lines: Object.fromEntries(Object.entries(bcx.lines).map(([k, v]) => [k, v.map((p) => [p.time, p.value])])), "
        "staleHidden: document.getElementById('stale').hidden, title: document.getElementById('title').textContent, "
        "legend: document.getElementById('legend').textContent, "
        "exchangesDisabled: document.getElementById('exchanges-view').disabled}) : null"
    )
    return json.loads(text) if text else None


@pytest.mark.single_redis
def test_one_tracker_records_coinbase_and_kraken_through_to_the_api_and_the_page(
    tmp_path, redis_url, redis_conn, processes, chromium
):
    """bcx-replay speaking both protocols -> one bcx-tracker process -> Redis -> bcx-web and the chart page."""
    recording = tmp_path / "both.jsonl"
    start = iso_us((time.time_ns() // 1000) - 600_000_000)
    write_sample(recording, seed=8, hours=0.05, start=start, exchanges=["coinbase", "kraken"])
    expected = recorded_ticks(recording)
    series = sorted({tick.product for tick in expected})
    assert series == ["coinbase:BTC-USD", "coinbase:ETH-USD", "coinbase:SOL-USD", "kraken:BTC-USD", "kraken:ETH-USD"]
    _, url = start_replay(processes, recording)
    products = f"[tracker]\nproducts = {', '.join(series)}\n"
    exchanges = "".join(
        f"[exchange:{name}]\nfeed_url = {url}{path}\nrest_url =\n"
        for name, path in (("coinbase", "/"), ("kraken", "/kraken"))
    )
    conf = tmp_path / "tracker.conf"
    conf.write_text(f"[redis]\nurl = {redis_url}\n{products}{exchanges}")
    processes.start("tracker", [bcx_command("bcx-tracker"), "--config", str(conf)])
    base = start_web(processes, tmp_path, f"[redis]\nurl = {redis_url}\n", products)
    end = max(tick.time_ms for tick in expected) + 1

    def served(one: str) -> list[dict]:
        body = requests.get(f"{base}/api/v1.0/ticks/{one}?start=0&end={end}&limit=10000", timeout=10).json()
        return body.get("ticks", [])

    in_order = sorted(expected, key=lambda t: (t.time_ms, t.trade_id))
    for one in series:
        mine = [tick.as_dict() for tick in in_order if tick.product == one]
        wait_for(lambda one=one, mine=mine: len(served(one)) >= len(mine), what=f"{one} through the API")
        assert [{k: t[k] for k in mine[0]} for t in served(one)] == mine  # every tick, every digit

    chromium.call("Page.enable")
    chromium.call("Page.navigate", url=f"{base}/?product=kraken:ETH-USD")
    state = drawn(chromium, "the Kraken chart", series="kraken:ETH-USD")
    assert state["error"] is None and state["candles"]
    assert json.loads(chromium.eval(GROUPS)) == [
        ["coinbase", ["coinbase:BTC-USD", "coinbase:ETH-USD", "coinbase:SOL-USD"]],
        ["kraken", ["kraken:BTC-USD", "kraken:ETH-USD"]],
    ]


def recorded_ticks(path: Path) -> list[Tick]:
    """The ticks of a recording as the adapters parse it, bid and ask included (each exchange's own way)."""
    adapters = {"coinbase": Coinbase(["BTC-USD", "ETH-USD", "SOL-USD"]), "kraken": Kraken(["BTC-USD", "ETH-USD"])}
    ticks = []
    for line in path.read_text().splitlines():
        exchange, raw = split_line(line)
        ticks += [event.tick for event in adapters[exchange].parse(raw) if isinstance(event, TickEvent)]
    return ticks
