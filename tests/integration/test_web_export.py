"""`GET /api/v1.0/export/<series>` through Flask's test client against a real redis-server: streamed CSV and JSON
lines with exact strings, Content-Disposition, the stored span in headers, max_read and bad input as 400."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace

import pytest

from bcx.candles import Candle, CandleStore
from bcx.config import load_config, packaged_default
from bcx.tick import Tick

T0 = 1_700_000_000_000


@pytest.fixture
def config(redis_config):
    base = load_config(str(packaged_default()))
    return replace(base, redis=redis_config, web=replace(base.web, max_read=500))


def ticks(count: int) -> list[Tick]:
    # two ticks share each millisecond, and every other one came from REST (no book)
    return [
        Tick(
            "coinbase:BTC-USD",
            T0 + i // 2,
            i,
            f"{100 + i}.10",
            *(("100.00", "200.00") if i % 2 else (None, None)),
            "0.50",
        )
        for i in range(count)
    ]


def test_ticks_stream_as_csv_with_a_file_name(client, store):
    stored = ticks(300)
    store.add(stored)
    response = client.get(f"/api/v1.0/export/BTC-USD?start={T0}&end={T0 + 1000}")
    assert response.status_code == 200 and response.is_streamed
    assert response.mimetype == "text/csv"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment; filename=") and "coinbase_BTC-USD_ticks" in disposition
    assert response.headers["X-BCX-Rows"] == "300"
    assert (response.headers["X-BCX-Stored-From"], response.headers["X-BCX-Stored-To"]) == (str(T0), str(T0 + 149))
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == ["series", "time", "trade_id", "price", "bid", "ask", "size"]
    assert rows[1:] == [
        [t.product, str(t.time_ms), str(t.trade_id), t.price, t.bid or "", t.ask or "", t.size] for t in stored
    ]


def test_candles_as_json_lines(client, redis_conn):
    candles = [Candle(T0 + 60_000 * i, "1.10", "1.20", "1.00", "1.15", "3.0", None if i % 2 else i) for i in range(10)]
    CandleStore(redis_conn, "bcx", chunk_entries=4).put("coinbase:ETH-USD", "1h", candles)
    response = client.get("/api/v1.0/export/coinbase:ETH-USD?what=candles:1h&format=jsonl")
    assert response.status_code == 200 and response.mimetype == "application/x-ndjson"
    lines = [json.loads(line) for line in response.get_data(as_text=True).splitlines()]
    assert lines == [
        {"series": "coinbase:ETH-USD", "time": c.time_ms, "open": "1.10", "high": "1.20", "low": "1.00",
         "close": "1.15", "volume": "3.0", "count": c.count}
        for c in candles
    ]  # fmt: skip


def test_a_range_beyond_what_is_stored_exports_what_exists(client, store):
    store.add(ticks(10))
    response = client.get(f"/api/v1.0/export/BTC-USD?start={T0 - 86_400_000}&end={T0 + 86_400_000}")
    assert response.status_code == 200 and response.headers["X-BCX-Rows"] == "10"
    assert response.headers["X-BCX-Stored-From"] == str(T0)
    assert len(response.get_data(as_text=True).splitlines()) == 11


def test_more_rows_than_max_read_is_a_400(client, store):
    store.add(ticks(501))
    response = client.get("/api/v1.0/export/BTC-USD")
    assert response.status_code == 400
    assert "more than the maximum of 500" in response.get_json()["error"]
    assert client.get(f"/api/v1.0/export/BTC-USD?end={T0 + 249}").status_code == 200  # 500 rows: within it


@pytest.mark.parametrize(
    "query",
    ["export/kraken:DOGE-USD", "export/nonsense", "export/BTC-USD?what=candles:5m", "export/BTC-USD?format=xml",
     "export/BTC-USD?start=yesterday", f"export/BTC-USD?start={T0 + 5}&end={T0}"],
)  # fmt: skip
def test_bad_input_is_a_400(client, query):
    response = client.get(f"/api/v1.0/{query}")
    assert response.status_code == 400 and "error" in response.get_json()


def test_nothing_stored_is_an_empty_file(client):
    response = client.get("/api/v1.0/export/BTC-USD?format=jsonl")
    assert response.status_code == 200 and response.get_data() == b""
    assert "X-BCX-Stored-From" not in response.headers and response.headers["X-BCX-Rows"] == "0"
