"""The deeper API (series, candles, compare, alerts, streams, metrics, CORS, compression, OpenAPI) through Flask's
test client against a real redis-server."""

from __future__ import annotations

import gzip
import json
import re
from dataclasses import replace

import pytest

from bcx import alerts
from bcx.candles import Candle, CandleStore
from bcx.config import load_config, packaged_default
from bcx.tick import iso_to_ms
from bcx_web.app import create_app
from tests.integration.test_web import T0, get, tick

MIN = 60_000


@pytest.fixture
def config(redis_config):
    base = load_config(str(packaged_default()))
    return replace(base, redis=redis_config)


@pytest.fixture
def candle_store(redis_conn):
    return CandleStore(redis_conn, "bcx", chunk_entries=4)


def minute_ticks(store, minutes: int, product: str = "BTC-USD", start: int = T0):
    """One tick every 10 s; price rises by 1 each minute, size 0.5."""
    ticks = [tick(start + i * 10_000, 1000 + i, f"{100 + i // 6}.00", product) for i in range(minutes * 6)]
    store.add([t._replace(size="0.5") for t in ticks])
    return ticks


# ---- /series ----


def test_series_raw_ticks_for_a_short_range(client, store):
    minute_ticks(store, 10)
    answer = get(client, f"/api/v1.0/series/BTC-USD?start={T0}&end={T0 + 10 * MIN}&points=1000")
    assert answer["tier"] == "raw" and answer["field"] == "price" and not answer["truncated"]
    assert len(answer["points"]) == 60 and answer["points"][0] == [T0, "100.00"]


def test_series_downsampled_keeps_extremes(client, store):
    minute_ticks(store, 10)
    answer = get(client, f"/api/v1.0/series/BTC-USD?start={T0}&end={T0 + 10 * MIN}&points=10")
    values = [v for _, v in answer["points"]]
    assert len(values) <= 10 and "100.00" in values and "109.00" in values


def test_series_uses_stored_minutes_for_a_day(client, store, candle_store):
    candle_store.put("BTC-USD", "1m", [Candle(T0 + i * MIN, "1.0", "2.0", "0.5", "1.5", "1") for i in range(1440)])
    store.add([tick(T0 + 1440 * MIN - 1, 1, "1.5")])
    answer = get(client, f"/api/v1.0/series/BTC-USD?start={T0}&end={T0 + 1440 * MIN}&points=1000")
    assert answer["tier"] == "1m" and len(answer["points"]) <= 1000
    assert {v for _, v in answer["points"]} == {"0.5", "2.0"}


def test_a_day_series_shows_a_rewritten_or_trimmed_closed_minute_on_the_next_request(client, store, candle_store):
    """The worker keeps the day's closed candles and their points between requests (bcx_web.cache): a closed minute
    rewritten (the watcher's rollup of a late tick, a backfill) or trimmed shows on the next request all the same."""
    candle_store.put("BTC-USD", "1m", [Candle(T0 + i * MIN, "1.0", "2.0", "0.5", "1.5", "1") for i in range(1440)])
    store.add([tick(T0 + 1440 * MIN - 1, 1, "1.5")])
    url = f"/api/v1.0/series/BTC-USD?start={T0}&end={T0 + 1440 * MIN}&points=1000"
    first = get(client, url)["points"]
    assert get(client, url)["points"] == first and {v for _, v in first} == {"0.5", "2.0"}
    candle_store.put("BTC-USD", "1m", [Candle(T0 + 700 * MIN, "1.0", "9.0", "0.5", "1.5", "1")])
    assert "9.0" in {v for _, v in get(client, url)["points"]}
    candle_store.trim_before("BTC-USD", "1m", T0 + 720 * MIN)
    trimmed = get(client, url)["points"]
    assert trimmed[0][0] >= T0 + 720 * MIN and "9.0" not in {v for _, v in trimmed}


def test_series_mid_and_spread_are_exact(client, store):
    store.add([tick(T0, 1)])  # bid 19100.00, ask 19100.02
    mid = get(client, f"/api/v1.0/series/BTC-USD?field=mid&start={T0}&end={T0}")
    spread = get(client, f"/api/v1.0/series/BTC-USD?field=spread&start={T0}&end={T0}")
    assert mid["points"] == [[T0, "19100.01"]] and spread["points"] == [[T0, "0.02"]]


# ---- /candles ----


def test_candles_from_raw_ticks_with_the_open_interval(client, store):
    minute_ticks(store, 3)
    answer = get(client, f"/api/v1.0/candles/BTC-USD?interval=1m&start={T0}&end={T0 + 2 * MIN + 5}")
    assert answer["interval"] == "1m" and answer["product"] == "BTC-USD"
    assert answer["candles"] == [
        [T0, "100.00", "100.00", "100.00", "100.00", "3.0"],
        [T0 + MIN, "101.00", "101.00", "101.00", "101.00", "3.0"],
        [T0 + 2 * MIN, "102.00", "102.00", "102.00", "102.00", "3.0"],  # open interval, read whole
    ]


def test_candles_combine_stored_and_raw(client, store, candle_store):
    candle_store.put("BTC-USD", "1m", [Candle(T0, "99.5", "120.25", "99.5", "100.00", "7.25")])
    minute_ticks(store, 3)  # the stored minute wins over its ticks; later minutes come from ticks
    answer = get(client, f"/api/v1.0/candles/BTC-USD?interval=5m&start={T0}&end={T0 + 3 * MIN}")
    assert answer["candles"] == [[T0, "99.5", "120.25", "99.5", "102.00", "13.25"]]


def test_candles_offer_weeks_from_monday_and_four_hours_from_stored_tiers(client, candle_store):
    day, saturday = 86_400_000, iso_to_ms("2022-10-22T00:00:00Z")
    days = [Candle(saturday + i * day, f"{100 + i}", f"{110 + i}", f"{90 + i}", f"{101 + i}", "1.5") for i in range(3)]
    candle_store.put("BTC-USD", "1d", days)  # Saturday, Sunday, Monday 24 October
    week = get(client, f"/api/v1.0/candles/BTC-USD?interval=1w&start={saturday}&end={saturday + 3 * day - 1}")
    monday = iso_to_ms("2022-10-17T00:00:00Z")
    assert week["candles"] == [
        [monday, "100", "111", "90", "102", "3.0"],
        [monday + 7 * day, "102", "112", "92", "103", "1.5"],
    ]
    candle_store.put("BTC-USD", "1h", [Candle(T0 + i * 3_600_000, "1", "2", "1", "2", "1") for i in range(5)])
    hours = get(client, f"/api/v1.0/candles/BTC-USD?interval=4h&start={T0}&end={T0 + 4 * 3_600_000}")
    assert [row[0] for row in hours["candles"]] == [
        iso_to_ms("2022-10-19T20:00:00Z"),
        iso_to_ms("2022-10-20T00:00:00Z"),
    ]
    enum = get(client, "/api/v1.0/openapi.json")["paths"]["/api/v1.0/candles/{product}"]["get"]["parameters"]
    assert {"4h", "1w"} <= set(next(p for p in enum if p["name"] == "interval")["schema"]["enum"])


def test_candles_default_range_ends_at_the_newest_tick(client, store):
    minute_ticks(store, 2)
    answer = get(client, "/api/v1.0/candles/BTC-USD")
    assert answer["interval"] == "1m" and len(answer["candles"]) == 2


def test_candles_range_is_capped(client):
    answer = get(client, f"/api/v1.0/candles/BTC-USD?interval=1m&start=0&end={T0}", 400)
    assert "longer than the maximum" in answer["error"]


# ---- /compare ----


def test_compare_percent_from_the_start(client, store):
    minute_ticks(store, 2)
    store.add([tick(T0, 1, "50", "ETH-USD"), tick(T0 + MIN, 2, "55", "ETH-USD")])
    answer = get(client, f"/api/v1.0/compare?products=coinbase:BTC-USD,ETH-USD&start={T0}&end={T0 + 2 * MIN}")
    assert answer["series"]["coinbase:ETH-USD"] == [[T0, 0.0], [T0 + MIN, 10.0]]  # keyed by canonical series id
    assert answer["series"]["coinbase:BTC-USD"][-1] == [T0 + MIN + 50_000, 1.0]


# ---- /alerts ----


def publish(redis_conn, n: int) -> list[str]:
    alert = alerts.Alert("r", "coinbase:BTC-USD", "price", "price", ">", "101", "100", T0, "BTC-USD price 101 > 100", 7)
    return [alerts.publish(redis_conn, "bcx", replace(alert, time_ms=T0 + i), 100) for i in range(n)]


def test_alerts_list_and_since(client, redis_conn):
    ids = publish(redis_conn, 3)
    everything = get(client, "/api/v1.0/alerts")["alerts"]
    assert [a["id"] for a in everything] == ids and everything[0]["message"] == "BTC-USD price 101 > 100"
    assert [a["id"] for a in get(client, f"/api/v1.0/alerts?since={ids[0]}&limit=1")["alerts"]] == [ids[1]]


def test_alert_stream_resumes_after_last_event_id(config, redis_conn):
    ids = publish(redis_conn, 3)
    short = replace(config, web=replace(config.web, sse_max_duration=0.5, sse_heartbeat=0.1))
    app_client = create_app(short, {"TESTING": True}).test_client()
    response = app_client.get("/api/v1.0/alerts/stream", headers={"Last-Event-ID": ids[0]})
    assert response.mimetype == "text/event-stream"
    body = response.get_data(as_text=True)
    assert re.findall(r"^id: (.+)$", body, re.M) == ids[1:]
    assert ": heartbeat" in body and "reconnect" in body


def test_stream_slots_are_capped_and_given_back(config):
    one = replace(config, web=replace(config.web, sse_max_streams=1, sse_max_duration=0.2))
    app_client = create_app(one, {"TESTING": True}).test_client()
    first = app_client.get("/api/v1.0/ticks/stream", buffered=False)
    assert first.status_code == 200
    second = app_client.get("/api/v1.0/ticks/stream")
    assert second.status_code == 503 and second.headers["Retry-After"] == "5"
    first.close()
    third = app_client.get("/api/v1.0/ticks/stream")
    assert third.status_code == 200


def test_tick_stream_sends_latest_then_new_ticks(config, store):
    store.add([tick(T0, 1, "1.00")])
    short = replace(config, web=replace(config.web, sse_max_duration=1.5))
    app_client = create_app(short, {"TESTING": True}).test_client()
    response = app_client.get("/api/v1.0/ticks/stream?products=BTC-USD", buffered=False)
    chunks = iter(response.response)
    received = []
    for chunk in chunks:
        text = chunk.decode() if isinstance(chunk, bytes) else chunk
        received += [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]
        if len(received) == 1:
            store.add([tick(T0 + 1, 2, "2.00"), tick(T0 + 2, 3, "3.00")])
    response.close()
    assert [(t["trade_id"], t["price"]) for t in received] == [(1, "1.00"), (2, "2.00"), (3, "3.00")]


@pytest.mark.parametrize(
    "url, message",
    [
        ("/api/v1.0/series/BTC-USD?field=volume", "field"),
        ("/api/v1.0/series/BTC-USD?points=0", "points"),
        ("/api/v1.0/series/BTC-USD?points=10001", "maximum"),
        ("/api/v1.0/series/NOPE-USD", "not recorded"),
        ("/api/v1.0/candles/BTC-USD?interval=2m", "interval"),
        ("/api/v1.0/compare?products=BTC-USD,BTC-USD", "twice"),
        ("/api/v1.0/compare?products=BTC-USD,x", "products: 'x' is not a series id"),
        ("/api/v1.0/compare?products=BTC-USD,coinbase:BTC-USD", "twice"),
        ("/api/v1.0/compare?products=BTC-USD,bitstamp:BTC-USD", "unknown exchange 'bitstamp' (known: coinbase"),
        ("/api/v1.0/alerts?since=abc", "alert id"),
        ("/api/v1.0/alerts?limit=1001", "maximum"),
        ("/api/v1.0/alerts/stream?since=1-2-3", "alert id"),
        ("/api/v1.0/ticks/stream?products=SOL-USD", "not recorded"),
    ],
)
def test_bad_input_is_400_json(client, url, message):
    assert message in get(client, url, 400)["error"]


# ---- metrics, CORS, compression, OpenAPI ----


def test_metrics_count_requests_and_show_tick_ages(client, store):
    store.add([tick(T0, 1)])
    get(client, "/api/v1.0/products")
    response = client.get("/api/v1.0/metrics")
    text = response.get_data(as_text=True)
    assert response.status_code == 200 and response.mimetype == "text/plain"
    assert re.search(r'bcx_web_requests_total\{endpoint="api.products",method="GET",status="200"\} [1-9]', text)
    assert 'bcx_web_request_seconds_count{endpoint="api.products"}' in text
    labels = 'exchange="coinbase",product="BTC-USD",series="coinbase:BTC-USD"'
    assert re.search(rf"bcx_tick_age_seconds\{{{labels}\}} \d", text)


def test_cors_off_by_default_and_configurable(config, client):
    assert (
        "Access-Control-Allow-Origin"
        not in client.get("/api/v1.0/health", headers={"Origin": "https://a.example"}).headers
    )
    allowed = replace(config, web=replace(config.web, cors_origins=("https://a.example",)))
    app_client = create_app(allowed, {"TESTING": True}).test_client()
    ok = app_client.get("/api/v1.0/health", headers={"Origin": "https://a.example"})
    assert ok.headers["Access-Control-Allow-Origin"] == "https://a.example" and "Origin" in ok.headers["Vary"]
    other = app_client.get("/api/v1.0/health", headers={"Origin": "https://b.example"})
    assert "Access-Control-Allow-Origin" not in other.headers


def test_compressed_when_asked(client, store):
    minute_ticks(store, 30)
    plain = client.get(f"/api/v1.0/ticks/BTC-USD?start={T0}&limit=20")
    packed = client.get(f"/api/v1.0/ticks/BTC-USD?start={T0}&limit=20", headers={"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in plain.headers and packed.headers["Content-Encoding"] == "gzip"
    assert json.loads(gzip.decompress(packed.get_data())) == plain.get_json()


def test_a_body_within_one_packet_is_not_compressed(client, store):
    minute_ticks(store, 1)
    small = client.get("/api/v1.0/health", headers={"Accept-Encoding": "gzip"})
    assert small.status_code == 200 and len(small.get_data()) < 1400
    assert "Content-Encoding" not in small.headers


def test_openapi_describes_exactly_the_routes(client):
    document = get(client, "/api/v1.0/openapi.json")
    assert document["openapi"].startswith("3.1")
    app = client.application
    routes = {
        re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static"
    }
    assert routes == set(document["paths"])
    with client.get("/docs") as page:
        assert page.status_code == 200 and "docs.js" in page.get_data(as_text=True)


def test_products_day_figures_stay_exact_when_the_read_is_capped(client, store, monkeypatch):
    monkeypatch.setattr("bcx_web.series.DAY_READ_CAP", 10)
    minute_ticks(store, 3)  # 18 ticks, 100.00 up to 102.00
    day = get(client, "/api/v1.0/products")["products"][0]["day"]
    assert day == {
        "open": "100.00",
        "high": None,
        "low": None,
        "close": "102.00",
        "change": "2.00",
        "volume": None,
        "complete": False,
    }


# ---- one bogus tick from the far future (issue 14) ----


def test_one_tick_from_the_far_future_does_not_end_the_tick_stream(config, store):
    store.add([tick(T0, 1, "1.00"), tick(253_402_300_799_999, 99, "9.00")])  # and one from 9999-12-31
    short = replace(config, web=replace(config.web, sse_max_duration=1.5))
    response = create_app(short, {"TESTING": True}).test_client().get("/api/v1.0/ticks/stream", buffered=False)
    received = []
    for chunk in iter(response.response):
        text = chunk.decode() if isinstance(chunk, bytes) else chunk
        received += [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]
        if len(received) == 1:
            store.add([tick(T0 + 1, 2, "2.00")])
    response.close()
    assert [(t["trade_id"], t["price"]) for t in received] == [(1, "1.00"), (2, "2.00")]


def test_one_tick_from_the_far_future_is_not_trusted_for_ranges_or_health(client, store):
    minute_ticks(store, 10)
    store.add([tick(253_402_300_799_999, 99, "1.00")])  # 9999-12-31T23:59:59.999Z, stored before the tracker refused it
    health = get(client, "/api/v1.0/health")
    assert (
        health["tick_age_seconds"]["coinbase:BTC-USD"] > 0
    )  # from the real newest tick, not minus 251 million seconds
    answer = get(client, "/api/v1.0/ticks/BTC-USD")
    assert answer["end"] == T0 + 10 * MIN - 10_000 and len(answer["ticks"]) == 60
    assert get(client, f"/api/v1.0/candles/BTC-USD?start={T0}")["candles"]  # not 400 "range too long"


# ---- API answers (issue 14) ----


def test_series_all_draws_the_history_and_no_point_lies_outside_the_data(client, store, candle_store):
    ticks = minute_ticks(store, 180)  # three hours of ticks, and the candles the watcher would have written
    day = T0 - T0 % (1440 * MIN)  # the data's oldest time: a candle counts from its bucket's start
    candle_store.put("BTC-USD", "1d", [Candle(day, "100.00", "129.00", "100.00", "129.00", "9")])
    candle_store.put("BTC-USD", "1h", [Candle(T0 + h * 60 * MIN, "1", "2", "1", "2", "3") for h in range(3)])
    newest = ticks[-1].time_ms
    answer = get(client, "/api/v1.0/series/BTC-USD?start=0&points=10000")
    assert answer["tier"] == "raw" and len(answer["points"]) == len(ticks)
    assert all(T0 <= t <= newest for t, _ in answer["points"])
    for points in (1, 2, 3):
        end = T0 + 90 * MIN
        found = get(client, f"/api/v1.0/series/BTC-USD?start=0&end={end}&points={points}")["points"]
        assert found and all(day <= t <= end for t, _ in found), found


@pytest.mark.parametrize(
    "url, message",
    [
        ("/api/v1.0/ticks/BTC-USD?limit=", "limit: '' is not a positive whole number"),
        ("/api/v1.0/series/BTC-USD?points=", "points: '' is not a positive whole number"),
        ("/api/v1.0/ticks/BTC-USD?start=1793491576", "start: '1793491576' looks like unix seconds"),
        ("/api/v1.0/series/BTC-USD?end=1793491576", "end: '1793491576' looks like unix seconds"),
        ("/api/v1.0/alerts?since=99999999999999999999", "since: '99999999999999999999' is not an alert id"),
        ("/api/v1.0/alerts?since=1-18446744073709551616", "since: "),
        ("/api/v1.0/alerts/stream?since=xyz", "since: 'xyz' is not an alert id"),
    ],
)
def test_input_redis_or_a_client_would_misread_is_a_400_naming_the_parameter(client, url, message):
    assert message in get(client, url, 400)["error"]


def test_a_bad_last_event_id_is_a_400_before_the_stream_opens(client):
    response = client.get("/api/v1.0/alerts/stream", headers={"Last-Event-ID": "99999999999999999999"})
    assert response.status_code == 400 and "Last-Event-ID: " in response.get_json()["error"]


def test_the_last_possible_alert_id_has_nothing_after_it(client, redis_conn):
    publish(redis_conn, 1)
    last = "18446744073709551615-18446744073709551615"
    assert get(client, f"/api/v1.0/alerts?since={last}") == {"alerts": []}
