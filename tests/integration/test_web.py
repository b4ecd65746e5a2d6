"""bcx-web against a real redis-server: every route through Flask's test client, then the real `bcx-web` process."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import requests

from bcx.config import load_config, packaged_default
from bcx.embedded import free_port
from bcx.tick import Tick, iso_to_ms
from bcx_web.api import ALERT_BLOCK_MS, TICK_POLL_S, stream_wait_s
from bcx_web.app import create_app
from bcx_web.cli import main

T0 = iso_to_ms("2022-10-19T23:00:00Z")  # old on purpose: ranges follow the newest tick, not the wall clock
HOUR = 3600 * 1000


@pytest.fixture
def config(redis_config):
    base = load_config(str(packaged_default()))
    return replace(base, redis=redis_config, web=replace(base.web, default_limit=5, max_limit=20))


@pytest.fixture
def down_client(config):
    """An app whose Redis is a closed port."""
    config = replace(
        config, redis=replace(config.redis, url=f"redis://127.0.0.1:{free_port()}/0", cluster=(), timeout=1.0)
    )
    return create_app(config, {"TESTING": True}).test_client()


def tick(time_ms: int, trade_id: int, price: str = "19100.01", product: str = "BTC-USD") -> Tick:
    return Tick(product, time_ms, trade_id, price, "19100.00", "19100.02", "0.00100000")


def get(client, url: str, status: int = 200) -> dict:
    response = client.get(url)
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json
    return response.get_json()


# ---- /products ----


def test_products_without_ticks(client):
    assert get(client, "/api/v1.0/products") == {
        "products": [
            {"series": "coinbase:BTC-USD", "exchange": "coinbase", "product": "BTC-USD", "last": None, "day": None},
            {"series": "coinbase:ETH-USD", "exchange": "coinbase", "product": "ETH-USD", "last": None, "day": None},
        ]
    }


def test_products_show_the_newest_tick_exactly(client, store):
    store.add([tick(T0, 1, "19100.10"), tick(T0 + 5, 2, "19100.20"), tick(T0 + 1, 9, "0.00000100", "ETH-USD")])
    products = get(client, "/api/v1.0/products")["products"]
    assert products == [
        {
            "series": "coinbase:BTC-USD",
            "exchange": "coinbase",
            "product": "BTC-USD",
            "last": {
                "time": T0 + 5,
                "trade_id": 2,
                "price": "19100.20",
                "bid": "19100.00",
                "ask": "19100.02",
                "size": "0.00100000",
            },
            "day": {
                "open": "19100.10",
                "high": "19100.20",
                "low": "19100.10",
                "close": "19100.20",
                "change": "0.00",
                "volume": "0.00200000",
                "complete": True,
            },
        },
        {
            "series": "coinbase:ETH-USD",
            "exchange": "coinbase",
            "product": "ETH-USD",
            "last": tick(T0 + 1, 9, "0.00000100", "ETH-USD").as_dict(),
            "day": {
                "open": "0.00000100",
                "high": "0.00000100",
                "low": "0.00000100",
                "close": "0.00000100",
                "change": "0.00",
                "volume": "0.00100000",
                "complete": True,
            },
        },
    ]


def test_products_etag_answers_304_until_a_product_trades(client, store):
    store.add([tick(T0, 1, "19100.10")])
    first = client.get("/api/v1.0/products")
    etag = first.headers["ETag"]
    assert first.status_code == 200 and "no-cache" in first.headers["Cache-Control"]
    again = client.get("/api/v1.0/products", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.get_data() == b""
    store.add([tick(T0 + 5, 2, "19100.20")])
    moved = client.get("/api/v1.0/products", headers={"If-None-Match": etag})
    assert moved.status_code == 200 and moved.headers["ETag"] != etag
    assert moved.get_json()["products"][0]["last"]["price"] == "19100.20"


# ---- /ticks ----


def test_ticks_default_range_is_the_hour_before_the_newest_tick(client, store):
    newest = T0 + 2 * HOUR
    store.add([tick(newest - HOUR - 1, 1), tick(newest - HOUR, 2), tick(newest, 3), tick(T0, 4)])
    body = get(client, "/api/v1.0/ticks/coinbase:BTC-USD")
    assert (body["series"], body["start"], body["end"]) == ("coinbase:BTC-USD", newest - HOUR, newest)
    assert [t["trade_id"] for t in body["ticks"]] == [2, 3]
    assert body["truncated"] is False


def test_ticks_in_time_order_with_exact_strings(client, store):
    prices = ["19100.10", "19100.1", "0.00000001", "19099.99000000", "1e3", "20000"]
    store.add([tick(T0 + (i * 7919) % 600_000, 100 + i, price) for i, price in enumerate(prices)])
    body = get(client, f"/api/v1.0/ticks/BTC-USD?start={T0}&end={T0 + 600_000}&limit=20")
    times = [t["time"] for t in body["ticks"]]
    assert times == sorted(times) and len(times) == len(prices)
    by_id = {t["trade_id"]: t for t in body["ticks"]}
    assert [by_id[100 + i]["price"] for i in range(len(prices))] == prices
    assert all(isinstance(t["price"], str) and t["size"] == "0.00100000" for t in body["ticks"])


def test_ticks_iso_times(client, store):
    store.add([tick(T0 + i * 1000, i) for i in range(10)])
    body = get(client, "/api/v1.0/ticks/BTC-USD?start=2022-10-19T23:00:02Z&end=2022-10-20T01:00:04%2B02:00")
    assert [t["trade_id"] for t in body["ticks"]] == [2, 3, 4]
    assert (body["start"], body["end"]) == (T0 + 2000, T0 + 4000)


def test_ticks_limit_and_truncated(client, store):
    store.add([tick(T0 + i, i) for i in range(10)])
    url = f"/api/v1.0/ticks/BTC-USD?start={T0}&end={T0 + 9}"
    default = get(client, url)  # default_limit = 5
    assert ([t["trade_id"] for t in default["ticks"]], default["truncated"], default["limit"]) == (
        [0, 1, 2, 3, 4],
        True,
        5,
    )
    assert get(client, url + "&limit=3")["truncated"] is True
    exact = get(client, url + "&limit=10")
    assert (len(exact["ticks"]), exact["truncated"]) == (10, False)
    assert get(client, url + "&limit=20")["truncated"] is False


def test_ticks_without_any_tick_end_now(client):
    before = time.time() * 1000
    body = get(client, "/api/v1.0/ticks/ETH-USD")
    assert body["ticks"] == [] and body["truncated"] is False
    assert before - 1000 <= body["end"] <= time.time() * 1000 + 1000
    assert body["end"] - body["start"] == HOUR


def test_ticks_start_after_newest_tick_is_empty(client, store):
    store.add([tick(T0, 1)])
    body = get(client, f"/api/v1.0/ticks/BTC-USD?start={T0 + 1}")
    assert (body["ticks"], body["start"], body["end"]) == ([], T0 + 1, T0 + 1)


@pytest.mark.parametrize(
    "url, message",
    [
        ("/api/v1.0/ticks/SOL-USD", "'coinbase:SOL-USD' is not recorded here"),
        ("/api/v1.0/ticks/kraken:BTC-USD", "'kraken:BTC-USD' is not recorded here"),
        ("/api/v1.0/ticks/btc-usd", "is not a series id"),
        ("/api/v1.0/ticks/BTC_USD", "is not a series id"),
        ("/api/v1.0/ticks/deribit:BTC-USDT", "product: 'deribit:BTC-USDT': unknown exchange 'deribit' (known: "),
        (
            "/api/v1.0/ticks/BTC-USD?start=200000000000&end=100000000000",
            "start (200000000000) is after end (100000000000)",
        ),
        ("/api/v1.0/ticks/BTC-USD?start=soon", "start: 'soon' is neither unix milliseconds nor an ISO 8601 time"),
        ("/api/v1.0/ticks/BTC-USD?end=1.5", "end: '1.5' is neither"),
        ("/api/v1.0/ticks/BTC-USD?end=-1", "end: '-1' is neither"),
        ("/api/v1.0/ticks/BTC-USD?start=2022-10-19T23:00:00 00:00", "start: '2022-10-19T23:00:00 00:00' is neither"),
        ("/api/v1.0/ticks/BTC-USD?end=99999999999999999", "end: '99999999999999999' is out of range"),
        ("/api/v1.0/ticks/BTC-USD?limit=0", "limit: '0' is not a positive whole number"),
        ("/api/v1.0/ticks/BTC-USD?limit=-3", "limit: '-3' is not a positive whole number"),
        ("/api/v1.0/ticks/BTC-USD?limit=many", "limit: 'many' is not a positive whole number"),
        ("/api/v1.0/ticks/BTC-USD?limit=21", "limit: 21 is above the maximum of 20"),
    ],
)
def test_ticks_bad_input(client, url, message):
    body = get(client, url, 400)
    assert list(body) == ["error"]
    assert message in body["error"]


# ---- /health ----


def test_health_ok_with_tick_ages(client, store):
    now_ms = time.time_ns() // 1_000_000
    store.add([tick(now_ms - 2500, 1)])
    body = get(client, "/api/v1.0/health")
    assert (body["status"], body["redis"]) == ("ok", True)
    assert 2.4 <= body["tick_age_seconds"]["coinbase:BTC-USD"] < 60
    assert body["tick_age_seconds"]["coinbase:ETH-USD"] is None


def test_health_503_when_redis_is_down(down_client):
    body = get(down_client, "/api/v1.0/health", 503)
    assert (body["status"], body["redis"]) == ("unavailable", False)
    assert body["tick_age_seconds"] == {"coinbase:BTC-USD": None, "coinbase:ETH-USD": None}
    assert "Connection refused" in body["error"]


@pytest.mark.parametrize("url", ["/api/v1.0/products", "/api/v1.0/ticks/BTC-USD"])
def test_redis_down_is_503_json(down_client, url):
    assert get(down_client, url, 503)["error"].startswith("redis unavailable: ")


def test_bad_input_is_400_even_when_redis_is_down(down_client):
    assert "limit" in get(down_client, "/api/v1.0/ticks/BTC-USD?limit=x", 400)["error"]


# ---- errors ----


@pytest.mark.parametrize("url", ["/api/v1.0/nothing", "/nothing", "/api/v1.0/ticks/BTC-USD/more", "/static/none.js"])
def test_unknown_route_is_404_json(client, url):
    assert "not found" in get(client, url, 404)["error"]


def test_wrong_method_is_405_json(client):
    response = client.post("/api/v1.0/products")
    assert response.status_code == 405 and response.is_json
    assert "not allowed" in response.get_json()["error"]
    assert "GET" in response.headers["Allow"]


def test_a_bug_is_500_json(config):
    app = create_app(config, {"TESTING": True})

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret detail")

    response = app.test_client().get("/boom")
    assert response.status_code == 500 and response.is_json
    assert "secret detail" not in response.get_json()["error"]


# ---- the page ----


def test_index_page_and_its_local_assets(client):
    with client.get("/") as page:  # static files are streamed: close them, or the file handle leaks
        assert page.status_code == 200 and page.mimetype == "text/html"
        html = page.get_data(as_text=True)
    assets = [
        "static/vendor/lightweight-charts.standalone.production.js",
        "static/chart.js",
        "static/style.css",
    ]
    for asset in assets:
        assert asset in html
        with client.get("/" + asset) as response:
            assert response.status_code == 200, asset
    assert "http://" not in html and "https://" not in html  # nothing from a CDN


def test_vendored_chart_library_is_the_pinned_version(client):
    with client.get("/static/vendor/lightweight-charts.standalone.production.js") as response:
        assert "Lightweight Charts™ v5.2.1" in response.get_data(as_text=True)[:300]
    vendor = Path(__file__).parents[2] / "bcx_web" / "static" / "vendor"
    assert "Apache License" in (vendor / "LICENSE").read_text()


# ---- the bcx-web command ----


def test_config_error_exits_2_before_serving(tmp_path, capsys):
    bad = tmp_path / "bcx.conf"
    bad.write_text("[web]\nport = none\n")
    with pytest.raises(SystemExit) as exited:
        main(["--config", str(bad)])
    assert exited.value.code == 2
    assert "[web] port" in capsys.readouterr().err


def test_bcx_web_process_serves_and_stops_on_sigterm(tmp_path, redis_section, store):
    store.add([tick(T0, 42, "19100.10")])
    port = free_port()
    conf = tmp_path / "bcx.conf"
    conf.write_text(f"{redis_section}\n[web]\nport = {port}\nworkers = 1\nthreads = 2\nsse_max_streams = 1\n")
    command = Path(sys.executable).with_name("bcx-web")
    log = (tmp_path / "bcx-web.log").open("w+")
    process = subprocess.Popen([str(command), "--config", str(conf), "--host", "127.0.0.1"], stderr=log)
    try:
        products = wait_for_json(f"http://127.0.0.1:{port}/api/v1.0/products", process, timeout=15)
        assert products["products"][0]["last"]["price"] == "19100.10"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        log.seek(0)
        print(log.read())  # shown by pytest only when the test fails
        log.close()


def wait_for_json(url: str, process: subprocess.Popen, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        assert process.poll() is None, f"bcx-web exited with {process.returncode}"
        try:
            response = requests.get(url, timeout=2)
            response.raise_for_status()
            return response.json()
        except requests.RequestException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.mark.parametrize(("heartbeat", "alerts_s", "ticks_s"), [(15.0, 1.0, 0.5), (0.1, 0.1, 0.1), (0.0, 1.0, 0.5)])
def test_a_stream_poll_never_waits_past_the_next_heartbeat(config, heartbeat, alerts_s, ticks_s):
    app = create_app(replace(config, web=replace(config.web, sse_heartbeat=heartbeat)), {"TESTING": True})
    with app.app_context():
        assert (stream_wait_s(ALERT_BLOCK_MS / 1000), stream_wait_s(TICK_POLL_S)) == (alerts_s, ticks_s)
