"""The chart page in headless Chromium, driven over the DevTools protocol (websocket-client), against the demo:
`bcx up --replay` (a small generated recording, shifted to end now and looping) with its own Redis, so that the
last test can stop that Redis. The tests share one demo and one browser and run in file order, each leaving the
page where the next one starts. Screenshots (desktop and phone, light and dark) go to tests/artifacts/.

What they check, on the demo data: the header (series, exchange, interval, last price, 24h figures) and the OHLCV
legend, volume on its own pane, each series at its own precision, alert markers and threshold lines, the trades
tape, the URL state restored on reload, the keyboard, compare across exchanges with the spread, `?series=` without
regard to case, the layout (no blank band under the chart, no horizontal scroll at 390 px, the alerts panel
scrolling by itself), the docs page on a phone, the Redis-down state and its recovery; and throughout, no console
error and no request answered 404.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import requests
import websocket

from bcx.embedded import EmbeddedRedis, free_port
from bcx.tick import Tick, iso_us
from bcx_tracker.coinbase import Coinbase
from bcx_tracker.exchange import TickEvent
from bcx_tracker.kraken import Kraken
from bcx_tracker.recorder import split_line
from bcx_tracker.sample import write_sample
from tests.e2e.conftest import Processes, bcx_command, get_json, start_bcx_up, start_replay, wait_for
from tests.e2e.web_server import start_web

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

ARTIFACTS = Path(__file__).parents[1] / "artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DESKTOP, PHONE = (1400, 900), (390, 844)
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
STATE = """JSON.stringify({drawn: bcx.drawn, series: bcx.series, view: bcx.view, unit: bcx.unit, range: bcx.range,
  interval: bcx.interval, chosenInterval: bcx.chosenInterval, scale: bcx.scale, indicators: bcx.indicators,
  candles: bcx.candles.length, error: bcx.error, down: bcx.down, markers: bcx.markers, priceLines: bcx.priceLines,
  precision: bcx.precision, firstDrawMs: bcx.firstDrawMs, lines: Object.keys(bcx.lines),
  status: document.getElementById('status').textContent, title: document.getElementById('title').textContent,
  legend: document.getElementById('legend').textContent, staleHidden: document.getElementById('stale').hidden,
  downHidden: document.getElementById('down').hidden, downText: document.getElementById('down').textContent,
  tape: [...document.querySelectorAll('#tape tbody tr')].map((tr) => [...tr.cells].map((c) => c.textContent)),
  exchangesDisabled: document.getElementById('exchanges-view').disabled, url: location.search})"""
LEGEND_AND_LAST = "JSON.stringify([document.getElementById('legend').textContent, bcx.candles[bcx.candles.length - 1]])"
# the legend and the candle under the crosshair, once the crosshair is on one
HOVERED = """JSON.stringify(bcx.hover && [document.getElementById('legend').textContent,
  bcx.candles.find((r) => Math.floor(r[0] / 1000) * 1000 === bcx.hover)])"""
GROUPS = """JSON.stringify([...document.querySelectorAll('#products section')].map((g) =>
  [g.querySelector('h2').textContent, [...g.querySelectorAll('li')].map((li) => li.dataset.series)]))"""


class DevTools:
    """The smallest DevTools-protocol client: send a command, wait for its answer; events are kept in `events`."""

    def __init__(self, url: str):
        self.ws = websocket.create_connection(url, timeout=30, suppress_origin=True)
        self.ids = itertools.count(1)
        self.events: list[dict] = []

    def call(self, method: str, **params) -> dict:
        call_id = next(self.ids)
        self.ws.send(json.dumps({"id": call_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == call_id:
                assert "error" not in message, message
                return message["result"]
            if "method" in message:
                self.events.append(message)

    def eval(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        return result["result"].get("value")

    def state(self) -> dict | None:
        text = self.eval(f"window.bcx && bcx.drawn ? {STATE} : null")
        return json.loads(text) if text else None

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and failed loads seen so far (and forgets them)."""
        self.call("Runtime.evaluate", expression="0")  # collect the events that arrived meanwhile
        found = []
        for event in self.events:
            method, params = event["method"], event["params"]
            if method == "Runtime.exceptionThrown":
                found.append(params["exceptionDetails"].get("text", "exception"))
            elif method == "Runtime.consoleAPICalled" and params["type"] == "error":
                found.append(" ".join(str(a.get("value", a.get("description"))) for a in params["args"]))
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                found.append(f"{params['entry']['text']} {params['entry'].get('url', '')}")
            elif method == "Network.responseReceived" and params["response"]["status"] == 404:
                found.append(f"404 {params['response']['url']}")
        self.events = [e for e in self.events if e["method"] == "Network.responseReceived"]
        return found

    def not_found(self) -> list[str]:
        self.call("Runtime.evaluate", expression="0")
        return [
            e["params"]["response"]["url"]
            for e in self.events
            if e["method"] == "Network.responseReceived" and e["params"]["response"]["status"] == 404
        ]

    def close(self) -> None:
        self.ws.close()


@pytest.fixture(scope="module")
def chromium(tmp_path_factory):
    if CHROMIUM is None:
        # CI installs Chromium and sets BCX_REQUIRE_CHROMIUM (.ci/run): there the page's tests must run. A
        # developer's machine without it (installing needs root) says so in the summary, not a failed `make test`.
        missing = "Chromium is not installed: `sudo apt-get install chromium` (Debian) runs the page's tests"
        if os.environ.get("BCX_REQUIRE_CHROMIUM"):
            pytest.fail(missing)
        pytest.skip(missing)
    port = free_port()
    args = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium')}", f"--remote-debugging-port={port}",
        "--remote-debugging-address=127.0.0.1", f"--window-size={DESKTOP[0]},{DESKTOP[1]}", "about:blank",
    ]  # fmt: skip
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        pages = wait_for(lambda: _pages(port), what="Chromium's DevTools endpoint")
        tools = DevTools(pages[0]["webSocketDebuggerUrl"])
        for domain in ("Page", "Runtime", "Log", "Network"):
            tools.call(f"{domain}.enable")
        viewport(tools, DESKTOP, dark=False)
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


class Demo:
    def __init__(self, base: str, redis: EmbeddedRedis):
        self.base, self.redis = base, redis

    def api(self, path: str):
        return requests.get(f"{self.base}/api/v1.0/{path}", timeout=10).json()


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """`bcx up --replay` on 20 minutes of Coinbase, Kraken and Binance, half an hour of it before now."""
    folder = tmp_path_factory.mktemp("demo")
    recording = folder / "demo.jsonl"
    write_sample(recording, seed=5, hours=1 / 3, exchanges=["coinbase", "kraken", "binance"])
    demo = Demo("", EmbeddedRedis().start())  # the Redis-down test replaces demo.redis: stop the one it holds
    conf = folder / "demo.conf"
    # a stream whose page went away is noticed at its next heartbeat: soon, so bcx-web stops at once at the end
    conf.write_text(f"[redis]\nurl = {demo.redis.url}\n[web]\nport = {free_port()}\nsse_heartbeat = 1s\n")
    processes = Processes(folder)
    env = {"XDG_RUNTIME_DIR": str(folder), "PATH": str(Path(bcx_command("bcx")).parent)}
    try:
        up, lines = start_bcx_up(
            processes, "--config", str(conf), "--replay", str(recording), "--history", "30m", env=env, timeout=120
        )
        base = demo.base = re.search(r"(http://\S+?)/ ", lines[-1]).group(1)
        # the URL comes once the history before now is in: every series' newest tick is recent at once, so the
        # first page shows no stale banner and no partial range
        assert any(line.startswith("loading the demo's 30 min of history") for line in lines), lines
        answer, now = get_json(f"{base}/api/v1.0/products"), time.time() * 1000
        assert answer["products"] and all(now - p["last"]["time"] < 60_000 for p in answer["products"]), answer
        wait_for(lambda: demo.api("alerts?limit=1")["alerts"], what="the demo's alerts")
        yield demo
        up.terminate()
        up.wait(timeout=60)
    finally:
        processes.cleanup()
        demo.redis.stop()


def viewport(tools: DevTools, size: tuple[int, int], dark: bool) -> None:
    width, height = size
    tools.call(
        "Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=width < 500
    )
    scheme = "dark" if dark else "light"
    tools.call("Emulation.setEmulatedMedia", features=[{"name": "prefers-color-scheme", "value": scheme}])


def open_page(tools: DevTools, url: str, what: str, **expected) -> dict:
    tools.call("Page.navigate", url=url)
    return drawn(tools, what, 0, **expected)


def drawn(tools: DevTools, what: str, after: int = 0, **expected) -> dict:
    """The page's state once a draw after the `after`th is done and `expected` fields hold."""

    def ready():
        state = tools.state()
        return state and state["drawn"] > after and all(state[k] == v for k, v in expected.items()) and state

    return wait_for(ready, what=what)


def click_and_draw(tools: DevTools, selector: str, what: str, **expected) -> dict:
    before = tools.state()["drawn"]
    tools.eval(f"document.querySelector({json.dumps(selector)}).click()")
    return drawn(tools, what, before, **expected)


def key(tools: DevTools, name: str) -> None:
    codes = {"ArrowLeft": 37, "ArrowRight": 39, "Escape": 27, "+": 187, "-": 189}
    for kind in ("rawKeyDown", "keyUp"):
        tools.call("Input.dispatchKeyEvent", type=kind, key=name, windowsVirtualKeyCode=codes[name])


def visible(tools: DevTools) -> dict:
    """The chart's visible range: logical (from, to: bar indexes) and in time (fromTime, toTime: seconds)."""
    return json.loads(tools.eval("JSON.stringify(bcx.debug.range())"))


def set_control(tools: DevTools, selector: str, value) -> None:
    """Set a select, number or checkbox as a person would, with the change event that follows."""
    field = "checked" if isinstance(value, bool) else "value"
    tools.eval(
        f"(() => {{ const el = document.querySelector({json.dumps(selector)}); el.{field} = {json.dumps(value)};"
        " el.dispatchEvent(new Event('change', {bubbles: true})); })()"
    )


def screenshot(tools: DevTools, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    shot = tools.call("Page.captureScreenshot", format="png")
    (ARTIFACTS / name).write_bytes(base64.b64decode(shot["data"]))


def pad(price: str, places: int) -> str:
    whole, _, frac = price.partition(".")
    return f"{whole}.{frac[:places].ljust(places, '0')}" if places else whole


def test_demo_header_legend_volume_alerts_tape_and_precision(demo, chromium):
    chromium.errors()
    state = open_page(chromium, f"{demo.base}/", "the first chart draw")
    print(f"\nfirst chart drawn {state['firstDrawMs']:.0f} ms after navigation start (Performance API)")
    assert state["series"] == "coinbase:BTC-USD" and state["error"] is None and state["status"] == ""
    assert state["staleHidden"]  # the demo ends now: no stale banner
    assert json.loads(chromium.eval(GROUPS)) == [
        ["coinbase", ["coinbase:BTC-USD", "coinbase:ETH-USD", "coinbase:SOL-USD"]],
        ["kraken", ["kraken:BTC-USD", "kraken:ETH-USD"]],
        ["binance", ["binance:BTC-USDT", "binance:ETH-USDT"]],
    ]
    # the default range, 1d, at the auto interval: every candle the API has for the half hour before now
    assert state["range"] == "1d" and state["title"] == f"BTC-USD · coinbase · {state['interval']}"
    newest = chromium.eval("bcx.products['coinbase:BTC-USD'].last.time")
    api = demo.api(f"candles/coinbase:BTC-USD?interval={state['interval']}&start={newest - 86_400_000}&end={newest}")
    assert abs(state["candles"] - len(api["candles"])) <= 1 and state["candles"] >= 6  # one may open meanwhile
    assert chromium.eval(PIXELS) > 100  # candles really painted

    # the header: last price and the 24h figures of /products, at the series' precision (2 for Coinbase)
    quote = "['last', 'change', 'high', 'low', 'volume'].map((k) => document.getElementById('q-' + k).textContent)"
    info, header = json.loads(chromium.eval(f"JSON.stringify([bcx.products['coinbase:BTC-USD'], {quote}])"))
    assert header[0] == pad(info["last"]["price"], 2) and header[2] == pad(info["day"]["high"], 2)
    assert header[3] == pad(info["day"]["low"], 2) and re.fullmatch(r"[+-]\d+\.\d\d%", header[1]) and header[4] != "–"

    # the legend: the newest candle's O H L C V, then the candle under the crosshair when it moves
    legend, last = json.loads(chromium.eval(LEGEND_AND_LAST))  # read together: a live tick may move the candle
    _, o, h, low, c, _ = last
    assert legend.startswith(f"O {pad(o, 2)}  H {pad(h, 2)}  L {pad(low, 2)}  C {pad(c, 2)}  V ")
    box = json.loads(chromium.eval("JSON.stringify(document.getElementById('chart').getBoundingClientRect())"))
    chromium.call("Input.dispatchMouseEvent", type="mouseMoved", x=box["x"] + box["width"] * 0.3, y=box["y"] + 100)
    hovered = wait_for(lambda: json.loads(chromium.eval(HOVERED)), what="the crosshair on a candle")
    legend, row = hovered
    assert row != last and legend.startswith(f"O {pad(row[1], 2)}  H {pad(row[2], 2)}  L {pad(row[3], 2)}  ")
    has_analytics = "/analytics" in demo.api("openapi.json")["paths"]  # another page, linked once it is served
    assert chromium.eval("document.getElementById('analytics-link').hidden") is not has_analytics
    assert chromium.eval("bcx.debug.panes()") == 2  # volume on its own pane and scale, below the price

    # alerts: markers at their times and the threshold rule as a price line; the panel lists them, newest first
    rules = [r for r in demo.api("rules")["rules"] if r["series"] == "coinbase:BTC-USD" and r["kind"] == "threshold"]
    assert rules and wait_for(lambda: chromium.state()["priceLines"], what="price lines") == [
        r["threshold"] for r in rules
    ]
    assert wait_for(lambda: chromium.state()["markers"], what="alert markers") > 0
    assert chromium.eval("document.querySelectorAll('#alerts li a').length") > 0

    # the tape: recent trades, newest first, exact prices at the series' precision, then fed by the tick stream
    tape = wait_for(lambda: chromium.state()["tape"], what="the trades tape")
    ticks = demo.api(f"ticks/coinbase:BTC-USD?start={newest - 900_000}&limit=10000")["ticks"]
    assert {row[1] for row in tape} <= {pad(t["price"], 2) for t in ticks} and len(tape) >= 10
    first_row = tape[0]
    wait_for(lambda: chromium.state()["tape"][0] != first_row, timeout=60, what="a live trade on the tape")

    # each series at the precision of its ticks: Kraken's BTC-USD one decimal, Binance's two (not eight zeros)
    precision = chromium.state()["precision"]
    assert precision["coinbase:BTC-USD"] == 2 and precision["kraken:BTC-USD"] == 1
    assert precision["binance:BTC-USDT"] == 2
    binance_last = chromium.eval("document.querySelector('li[data-series=\"binance:BTC-USDT\"] .last').textContent")
    assert re.fullmatch(r"\d+\.\d\d", binance_last)
    assert chromium.errors() == []


def test_layout_light_and_dark_on_desktop_and_phone_and_the_docs(demo, chromium):
    for dark in (False, True):
        viewport(chromium, DESKTOP, dark)
        open_page(chromium, f"{demo.base}/", "the desktop page")
        bottom = chromium.eval("document.querySelector('.chart-box').getBoundingClientRect().bottom")
        assert DESKTOP[1] - bottom < 220  # the chart takes the height (the status and the tape below it)
        aside = json.loads(chromium.eval("JSON.stringify(document.querySelector('aside').getBoundingClientRect())"))
        assert aside["bottom"] <= DESKTOP[1] + 1  # the alerts panel scrolls by itself: the page does not grow
        assert aside["right"] <= DESKTOP[0], aside  # and it is not cut at the window's edge
        assert chromium.eval("document.documentElement.scrollHeight") <= DESKTOP[1] + 1
        screenshot(chromium, f"chart-desktop-{'dark' if dark else 'light'}.png")
        viewport(chromium, PHONE, dark)
        open_page(chromium, f"{demo.base}/", "the phone page")
        assert chromium.eval("document.documentElement.scrollWidth") <= PHONE[0]  # no horizontal scroll
        screenshot(chromium, f"chart-phone-{'dark' if dark else 'light'}.png")
    icon = requests.get(f"{demo.base}/favicon.ico", timeout=10)  # where browsers look by themselves
    assert icon.status_code == 200 and icon.headers["Content-Type"].startswith("image/svg+xml")
    chromium.call("Page.navigate", url=f"{demo.base}/docs")
    wait_for(lambda: chromium.eval("document.querySelectorAll('pre.schema').length") > 5, what="the docs' schemas")
    assert chromium.eval("document.documentElement.scrollWidth") <= PHONE[0]
    assert '"candles": [' in chromium.eval("document.getElementById('/api/v1.0/candles/{product}').textContent")
    screenshot(chromium, "docs-phone.png")
    viewport(chromium, DESKTOP, dark=False)
    assert chromium.errors() == []


def test_url_state_survives_a_reload_and_the_keyboard_moves_the_chart(demo, chromium):
    open_page(chromium, f"{demo.base}/?series=coinbase:ETH-USD", "ETH-USD", series="coinbase:ETH-USD")
    click_and_draw(chromium, '[data-range="1h"]', "the 1h range", range="1h")
    set_control(chromium, "#interval", "1m")
    drawn(chromium, "1m candles", interval="1m")
    set_control(chromium, "#scale", "log")
    set_control(chromium, "#sma-period", "5")
    set_control(chromium, '[data-ind="sma"]', True)
    set_control(chromium, '[data-ind="vwap"]', True)
    state = wait_for(lambda: (s := chromium.state())["indicators"] == {"sma": 5, "vwap": True} and s, what="indicators")
    legend, rows = json.loads(
        chromium.eval("JSON.stringify([document.getElementById('legend').textContent, bcx.candles])")
    )
    closes = [float(r[4]) for r in rows]
    sma5 = float(re.search(r"SMA 5 (\S+)", legend).group(1))
    vwap = float(re.search(r"VWAP (\S+)", legend).group(1))
    assert abs(sma5 - sum(closes[-5:]) / 5) < 0.006  # the newest candle's, at the series' two decimals
    typical = [(float(r[2]) + float(r[3]) + float(r[4])) / 3 for r in rows]
    volume = [float(r[5]) for r in rows]
    assert abs(vwap - sum(t * v for t, v in zip(typical, volume, strict=True)) / sum(volume)) < 0.006
    url = state["url"]
    for part in (
        "series=coinbase%3AETH-USD",
        "view=candles",
        "range=1h",
        "interval=1m",
        "scale=log",
        "ind=sma5%2Cvwap",
    ):
        assert part in url
    chromium.call("Page.reload")
    state = drawn(chromium, "the reloaded page", series="coinbase:ETH-USD")
    assert (state["range"], state["chosenInterval"], state["scale"], state["indicators"]) == (
        "1h",
        "1m",
        "log",
        {"sma": 5, "vwap": True},
    )
    assert chromium.eval("bcx.debug.scaleMode()") == 1  # logarithmic
    assert state["url"] == url

    # the time axis ends at the first and the newest bar (chartview.js): zoom in, so there is room to scroll back
    before = visible(chromium)
    key(chromium, "+")
    span = before["to"] - before["from"]
    zoomed = wait_for(lambda: (r := visible(chromium))["to"] - r["from"] < span and r, what="+ to zoom in")
    key(chromium, "ArrowLeft")
    wait_for(lambda: visible(chromium)["to"] < zoomed["to"], what="the arrow to scroll back")
    key(chromium, "Escape")
    wait_for(lambda: visible(chromium)["to"] >= before["to"] - 1, what="Esc to show everything again")
    assert chromium.errors() == []


# The page's pure modules, imported by the page itself: exact string work and the indicators' arithmetic.
MODULES = """Promise.all(['format', 'indicators', 'url', 'page'].map((m) => import(`./static/js/${m}.js`))).then(
  ([f, i, u, p]) =>
  JSON.stringify({
    pad: [f.padTo('3486.7', 2), f.padTo('97250.10000000', 2), f.padTo('5', 1)],
    precision: [f.precisionOf(['97259.01000000', '97259.10000000']), f.precisionOf(['3486.7', '3486.75']),
      f.precisionOf(['185'])],
    sma: i.sma([[1, 0, 0, 0, '1'], [2, 0, 0, 0, '2'], [3, 0, 0, 0, '3'], [4, 0, 0, 0, '6']], 2).map((p) => p.value),
    ema: i.ema([1, 2, 3, 4, 5].map((c, n) => [n, 0, 0, 0, String(c)]), 3).map((p) => p.value),
    vwap: i.vwap([[1, 0, '3', '1', '2', '1'], [2, 0, '6', '3', '3', '3']]).map((p) => p.value),
    spread: i.spread([['a', [[1000, '10'], [3000, '12']]], ['b', [[2000, '11'], [3000, '11.5']]]]),
    series: [u.findSeries('ETH-usd', ['coinbase:ETH-USD']), u.findSeries('KRAKEN:btc-usd', ['kraken:BTC-USD']),
      u.findSeries('x', ['coinbase:ETH-USD'])],
    indicators: u.parseIndicators('SMA20,ema,vwap,bogus,sma1'),
    intervals: p.servedIntervals(['1w', '1m', '4h', '2h', '1d', '15m', '1h', '5m', '6h']),
  }))"""


def test_the_page_modules_format_exactly_and_compute_the_indicators(demo, chromium):
    chromium.call("Page.navigate", url=f"{demo.base}/")
    wait_for(lambda: chromium.eval("Boolean(window.bcx && bcx.drawn)"), what="the page")
    found = json.loads(chromium.eval(MODULES))
    assert found["pad"] == ["3486.70", "97250.10", "5.0"]
    assert found["precision"] == [2, 2, 0]
    assert found["sma"] == [1.5, 2.5, 4.5]
    assert found["ema"] == [2, 3, 4]  # seeded with the first three closes' mean, then halfway (2 / (3 + 1))
    assert found["vwap"] == [2, 3.5]  # typical prices 2 (volume 1) and 4 (volume 3)
    assert found["spread"] == [[2000, 1], [3000, 0.5]]  # from the second both have a price
    assert found["series"] == ["coinbase:ETH-USD", "kraken:BTC-USD", None]
    assert found["indicators"] == {"sma": 2, "ema": 50, "vwap": True}  # bounded periods, a bare one its default
    # what /candles offers, finest first; an interval the page cannot draw live (2h) is left out
    assert found["intervals"] == ["1m", "5m", "15m", "1h", "4h", "6h", "1d", "1w"]
    assert chromium.errors() == []


def test_compare_across_exchanges_line_view_and_an_alert_link(demo, chromium):
    state = open_page(
        chromium, f"{demo.base}/?series=KRAKEN:btc-usd&view=exchanges", "kraken, across", series="kraken:BTC-USD"
    )
    assert state["view"] == "exchanges" and state["title"] == "BTC-USD · coinbase / kraken" and state["status"] == ""
    assert state["lines"] == ["coinbase:BTC-USD", "kraken:BTC-USD", "spread"]
    assert "spread now" in state["legend"]
    screenshot(chromium, "chart-exchanges.png")
    state = click_and_draw(chromium, '[data-unit="percent"]', "percent across", unit="percent")
    assert state["lines"] == ["coinbase:BTC-USD", "kraken:BTC-USD"] and state["status"] == ""  # no stuck "Loading…"
    labels = json.loads(chromium.eval("JSON.stringify(bcx.debug.format('kraken:BTC-USD', [0.11, 0.12, 0.13, 0.14]))"))
    assert len(set(labels)) == 4  # neighbouring percent labels differ (no 0.1%, 0.1%, 0.1%)
    state = open_page(chromium, f"{demo.base}/?product=eth-usd&view=line", "the line view", series="coinbase:ETH-USD")
    assert state["lines"] == ["ask", "bid", "price"] and state["precision"]["coinbase:ETH-USD"] == 2
    axis = json.loads(chromium.eval("JSON.stringify(bcx.debug.format('price', [3486.7, 3500]))"))
    assert axis == ["3486.70", "3500.00"]  # the series' two decimals, not six, trailing zeros kept
    screenshot(chromium, "chart-line.png")
    # "all" draws the whole history, not a diagonal through two points, and no point after the newest tick
    open_page(chromium, f"{demo.base}/?series=coinbase:ETH-USD&view=line&range=all", "all", range="all")
    price = json.loads(chromium.eval("JSON.stringify(bcx.lines.price)"))
    newest = next(p for p in demo.api("products")["products"] if p["series"] == "coinbase:ETH-USD")["last"]["time"]
    assert len(price) > 100 and price[-1]["time"] * 1000 <= newest

    open_page(chromium, f"{demo.base}/", "the candles again", series="coinbase:BTC-USD")
    wait_for(lambda: chromium.eval("document.querySelectorAll('#alerts li a').length"), what="the alerts panel")
    alert_time = int(chromium.eval("document.querySelector('#alerts li').dataset.time"))
    before = chromium.state()["drawn"]
    chromium.eval("document.querySelector('#alerts li a').click()")
    state = drawn(chromium, "the alert's moment", before)
    shown = visible(chromium)
    assert shown["fromTime"] * 1000 <= alert_time <= shown["toTime"] * 1000 + 60_000
    assert chromium.errors() == []


def test_redis_down_keeps_the_chart_says_so_and_recovers(demo, chromium):
    state = open_page(chromium, f"{demo.base}/", "the page before Redis stops")
    candles = state["candles"]
    demo.redis.stop()
    try:
        down = wait_for(lambda: (s := chromium.state()) and not s["downHidden"] and s, timeout=40, what="the banner")
        assert down["downText"].startswith("Redis unavailable") and down["candles"] == candles
        assert chromium.eval(PIXELS) > 100  # the last data stays on screen
        screenshot(chromium, "chart-redis-down.png")
        chromium.call("Page.navigate", url=f"{demo.base}/")  # a first load while Redis is down
        banner = "document.getElementById('down').hidden ? null : document.getElementById('down').textContent"
        assert wait_for(lambda: chromium.eval(banner), what="the banner on a fresh load").startswith(
            "Redis unavailable"
        )
        assert chromium.eval("document.getElementById('status').textContent") == ""  # no "'null' is not a product"
        assert chromium.eval("bcx.series") is None  # nothing drawn yet, nothing asked for a null series
    finally:
        demo.redis = EmbeddedRedis(port=demo.redis.port).start()
    back = wait_for(lambda: (s := chromium.state()) and s["downHidden"] and s, timeout=60, what="Redis back")
    assert back["series"] == "coinbase:BTC-USD" and back["error"] is None
    assert chromium.not_found() == []  # no request answered 404 in this whole file
    chromium.errors()  # the 503s while Redis was down are expected errors


# ---- the tracker's path into the page, on its own data (every tick checked) ----
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
