"""Alert JSON and the stream/pub-sub helpers on fakeredis (the real server is in tests/integration)."""

from __future__ import annotations

import json
from dataclasses import replace

import fakeredis
import pytest

from bcx import alerts
from bcx.alerts import Alert
from bcx.keys import alerts_key

ALERT = Alert(
    rule="btc-high",
    series="coinbase:BTC-USD",
    kind="threshold",
    field="price",
    op=">",
    value="100012.50",
    threshold="100000",
    time_ms=1_700_000_000_123,
    trade_id=42,
    message="coinbase:BTC-USD price 100012.50 crossed above 100000 (rule btc-high)",
)


@pytest.fixture
def conn():
    return fakeredis.FakeRedis(decode_responses=True)


def test_json_round_trip_keeps_exact_strings():
    published = Alert(**{**ALERT.__dict__, "id": "1700000000123-0"})
    assert Alert.from_json(published.to_json()) == published
    assert Alert.from_json(ALERT.to_json()) == ALERT
    assert '"value":"100012.50"' in ALERT.to_json()


def test_json_names_the_series_exchange_and_product():
    data = json.loads(replace(ALERT, series="kraken:ETH-USD").to_json())
    assert (data["series"], data["exchange"], data["product"]) == ("kraken:ETH-USD", "kraken", "ETH-USD")


def test_an_alert_stored_before_series_ids_reads_back_as_coinbase():
    data = json.loads(ALERT.to_json())
    older = {key: value for key, value in data.items() if key not in ("series", "exchange")}
    older["product"] = "BTC-USD"
    assert Alert.from_json(json.dumps(older)) == ALERT


def test_from_json_ignores_unknown_keys_and_takes_the_given_id():
    text = ALERT.to_json()[:-1] + ',"cooldown":"5m"}'
    assert Alert.from_json(text, id="5-0") == Alert(**{**ALERT.__dict__, "id": "5-0"})


def test_publish_then_read_back_with_the_stream_id(conn):
    first = alerts.publish(conn, "bcx", ALERT, maxlen=100)
    second = alerts.publish(conn, "bcx", ALERT, maxlen=100)
    assert [a.id for a in alerts.read_alerts(conn, "bcx")] == [first, second]
    assert [a.id for a in alerts.read_alerts(conn, "bcx", count=1)] == [second]
    assert [a.id for a in alerts.read_alerts(conn, "bcx", since_id=first)] == [second]
    assert alerts.read_alerts(conn, "bcx", since_id=second) == []
    assert alerts.last_id(conn, "bcx") == second


def test_stream_is_capped(conn):
    for _ in range(300):
        alerts.publish(conn, "bcx", ALERT, maxlen=10)
    assert conn.xlen(alerts_key("bcx")) < 300


def test_last_id_of_an_empty_stream(conn):
    assert alerts.last_id(conn, "bcx") == "0-0"
    assert alerts.wait_for_alerts(conn, "bcx", "0-0", block_ms=1) == []
