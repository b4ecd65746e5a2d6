"""Series ids through bcx-web against a real redis-server: a Kraken series beside Coinbase's, the URLs and the data
of before series ids (a bare BTC-USD is coinbase:BTC-USD), and what the answers call a series."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import pytest

from bcx import alerts
from bcx.candles import Candle, CandleStore
from bcx.config import load_config
from bcx.keys import alerts_key
from bcx.series import EXCHANGES, SERIES_PATTERN
from bcx.store import TickStore
from bcx_web.app import create_app
from tests.integration.test_web import T0, get, tick

MIN = 60_000
BOTH = "coinbase:BTC-USD,kraken:BTC-USD"


@pytest.fixture
def config(tmp_path, redis_section):
    path = tmp_path / "bcx.conf"
    path.write_text(f"{redis_section}\n[tracker]\nproducts = coinbase:BTC-USD, kraken:BTC-USD\n")
    return load_config(str(path))


def two_exchanges(store: TickStore, minutes: int = 3) -> None:
    """A tick a minute on each: Coinbase from 100.00 up by 1, Kraken from 200.0 up by 4 (2% of its start)."""
    store.add([tick(T0 + i * MIN, 1 + i, f"{100 + i}.00", "coinbase:BTC-USD") for i in range(minutes)])
    store.add([tick(T0 + i * MIN + 1, 500 + i, f"{200 + 4 * i}.0", "kraken:BTC-USD") for i in range(minutes)])


# ---- a Kraken series beside Coinbase's ----


def test_products_name_each_series_its_exchange_and_product(client, store):
    two_exchanges(store)
    products = get(client, "/api/v1.0/products")["products"]
    assert [(p["series"], p["exchange"], p["product"]) for p in products] == [
        ("coinbase:BTC-USD", "coinbase", "BTC-USD"),
        ("kraken:BTC-USD", "kraken", "BTC-USD"),
    ]
    assert [p["last"]["price"] for p in products] == ["102.00", "208.0"]
    assert products[1]["day"]["open"] == "200.0"  # each series its own 24h figures


def test_a_kraken_series_is_served_by_ticks_series_and_candles(client, store):
    two_exchanges(store)
    ticks = get(client, f"/api/v1.0/ticks/kraken:BTC-USD?start={T0}&end={T0 + 3 * MIN}")
    assert (ticks["series"], ticks["exchange"], ticks["product"]) == ("kraken:BTC-USD", "kraken", "BTC-USD")
    assert [(t["trade_id"], t["price"]) for t in ticks["ticks"]] == [(500, "200.0"), (501, "204.0"), (502, "208.0")]
    series = get(client, f"/api/v1.0/series/kraken:BTC-USD?start={T0}&end={T0 + 3 * MIN}")
    assert series["series"] == "kraken:BTC-USD" and [v for _, v in series["points"]] == ["200.0", "204.0", "208.0"]
    candles = get(client, f"/api/v1.0/candles/kraken:BTC-USD?interval=1m&start={T0}&end={T0 + 3 * MIN}")
    assert [row[4] for row in candles["candles"]] == ["200.0", "204.0", "208.0"]


def test_compare_one_asset_across_exchanges(client, store):
    two_exchanges(store)
    answer = get(client, f"/api/v1.0/compare?products={BOTH}&start={T0}&end={T0 + 3 * MIN}")
    assert list(answer["series"]) == ["coinbase:BTC-USD", "kraken:BTC-USD"]
    assert answer["series"]["coinbase:BTC-USD"] == [[T0, 0.0], [T0 + MIN, 1.0], [T0 + 2 * MIN, 2.0]]
    assert answer["series"]["kraken:BTC-USD"] == [[T0 + 1, 0.0], [T0 + MIN + 1, 2.0], [T0 + 2 * MIN + 1, 4.0]]
    assert get(client, f"/api/v1.0/compare?start={T0}&end={T0 + 3 * MIN}") == answer  # default: every series


def test_tick_stream_events_name_the_series(config, store):
    two_exchanges(store, 1)
    short = replace(config, web=replace(config.web, sse_max_duration=0.3))
    body = create_app(short, {"TESTING": True}).test_client().get("/api/v1.0/ticks/stream?products=kraken:BTC-USD")
    events = [json.loads(line[6:]) for line in body.get_data(as_text=True).splitlines() if line.startswith("data: ")]
    assert [(e["series"], e["exchange"], e["product"], e["price"]) for e in events] == [
        ("kraken:BTC-USD", "kraken", "BTC-USD", "200.0")
    ]


def test_metrics_label_each_series(client, store):
    two_exchanges(store, 1)
    text = client.get("/api/v1.0/metrics").get_data(as_text=True)
    assert re.search(r'bcx_tick_age_seconds\{exchange="kraken",product="BTC-USD",series="kraken:BTC-USD"\} \d', text)


@pytest.mark.parametrize(
    "url, parameter",
    [
        ("/api/v1.0/ticks/deribit:BTC-USDT", "product"),
        ("/api/v1.0/series/gemini:BTC-USD", "product"),
        (f"/api/v1.0/compare?products={BOTH},okx:BTC-USDT", "products"),
        ("/api/v1.0/ticks/stream?products=bybit:BTC-USDT", "products"),
    ],
)
def test_an_unknown_exchange_is_400_naming_the_parameter_and_the_known_exchanges(client, url, parameter):
    error = get(client, url, 400)["error"]
    assert error.startswith(f"{parameter}: ") and "unknown exchange" in error
    assert f"(known: {', '.join(EXCHANGES)})" in error


# ---- URLs and data of before series ids ----


def test_bare_product_urls_still_work_and_answer_with_the_series(client, store):
    two_exchanges(store)
    window = f"start={T0}&end={T0 + 3 * MIN}"
    for path in ("ticks", "series", "candles"):
        bare = get(client, f"/api/v1.0/{path}/BTC-USD?{window}")
        assert bare == get(client, f"/api/v1.0/{path}/coinbase:BTC-USD?{window}")
        assert (bare["series"], bare["product"]) == ("coinbase:BTC-USD", "BTC-USD")
    assert get(client, f"/api/v1.0/ticks/coinbase%3ABTC-USD?{window}")["series"] == "coinbase:BTC-USD"  # encoded
    compare = get(client, f"/api/v1.0/compare?products=BTC-USD,kraken:BTC-USD&{window}")
    assert list(compare["series"]) == ["coinbase:BTC-USD", "kraken:BTC-USD"]


def test_data_under_the_old_key_names_reads_back_by_series_id(client, redis_conn):
    # What the code before series ids wrote: a bare product, keys tagged {coinbase:BTC-USD}.
    TickStore(redis_conn, "bcx").add([tick(T0, 1, "19100.10", "BTC-USD"), tick(T0 + MIN, 2, "19100.20", "BTC-USD")])
    CandleStore(redis_conn, "bcx").put("BTC-USD", "1m", [Candle(T0 - MIN, "1.0", "2.0", "0.5", "1.5", "3")])
    assert redis_conn.hget("bcx:{coinbase:BTC-USD}:latest", "time") == str(T0 + MIN)
    assert redis_conn.zcard("bcx:{coinbase:BTC-USD}:chunks") == 1
    assert redis_conn.zcard("bcx:{coinbase:BTC-USD}:candles:1m:chunks") == 1

    ticks = get(client, f"/api/v1.0/ticks/coinbase:BTC-USD?start={T0}")["ticks"]
    assert [(t["trade_id"], t["price"]) for t in ticks] == [(1, "19100.10"), (2, "19100.20")]
    candles = get(client, f"/api/v1.0/candles/coinbase:BTC-USD?interval=1m&start={T0 - MIN}&end={T0 + MIN}")
    assert candles["candles"][0] == [T0 - MIN, "1.0", "2.0", "0.5", "1.5", "3"]
    assert get(client, "/api/v1.0/products")["products"][0]["last"]["price"] == "19100.20"


# ---- alerts ----


def test_alerts_name_the_series_and_an_old_alert_reads_as_coinbase(client, redis_conn):
    alert = alerts.Alert("spread", "kraken:BTC-USD", "spread", "spread", ">", "1", "0.5", T0, "kraken:BTC-USD ...")
    alerts.publish(redis_conn, "bcx", alert, 100)
    old = {"rule": "r", "product": "ETH-USD", "kind": "threshold", "field": "price", "op": ">", "value": "2"}
    old.update({"threshold": "1", "time_ms": T0, "message": "ETH-USD price 2 crossed above 1", "trade_id": 7})
    redis_conn.xadd(alerts_key("bcx"), {alerts.STREAM_FIELD: json.dumps(old)})  # as the watcher wrote it before
    listed = get(client, "/api/v1.0/alerts")["alerts"]
    assert [(a["series"], a["exchange"], a["product"]) for a in listed] == [
        ("kraken:BTC-USD", "kraken", "BTC-USD"),
        ("coinbase:ETH-USD", "coinbase", "ETH-USD"),
    ]


# ---- the OpenAPI document ----


def test_openapi_documents_product_parameters_as_series_ids(client):
    paths = get(client, "/api/v1.0/openapi.json")["paths"]
    for path in ("/api/v1.0/ticks/{product}", "/api/v1.0/series/{product}", "/api/v1.0/candles/{product}"):
        (product,) = [p for p in paths[path]["get"]["parameters"] if p["name"] == "product"]
        assert product["schema"]["pattern"] == f"^{SERIES_PATTERN}$" and "kraken:ETH-USD" in product["description"]
    (products,) = paths["/api/v1.0/compare"]["get"]["parameters"][:1]
    assert products["name"] == "products" and products["schema"]["pattern"] == f"^{SERIES_PATTERN}(,{SERIES_PATTERN})*$"
    accepted = [
        s
        for s in ("kraken:BTC-USD", "BTC-USD", "binance-us:BTC-USD", "deribit:BTC-USDT", "btc-usd", "binance:BTC-USD:X")
        if re.fullmatch(SERIES_PATTERN, s)
    ]
    assert accepted == ["kraken:BTC-USD", "BTC-USD", "binance-us:BTC-USD"]  # the pattern refuses what the API refuses
