"""The analytics endpoints (rankings, returns, correlation, spread) on a real redis-server, from candles the
history manager compacted."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bcx import cli
from bcx.candles import CandleStore
from bcx.config import load_config, packaged_default
from bcx.store import TickStore
from bcx.tick import Tick, iso_to_ms
from bcx_watcher.history import History
from bcx_web.app import create_app
from tests.integration.test_web import get

MIN = 60_000
T0 = iso_to_ms("2022-10-20T00:00:00Z")  # a midnight: three whole days of data
DAYS = 3
SERIES = ("coinbase:BTC-USD", "kraken:BTC-USD", "coinbase:ETH-USD")  # ETH: configured, never traded
LAST = T0 + (DAYS * 1440 - 1) * MIN + 5_000


@pytest.fixture
def config(redis_config):
    base = load_config(str(packaged_default()))
    return replace(base, redis=redis_config, tracker=replace(base.tracker, products=SERIES))


@pytest.fixture
def client(config):
    return create_app(config, {"TESTING": True}).test_client()


def minute_ticks(product: str, first_price: int, skip: range = range(0)) -> list[Tick]:
    """One trade 5 s into every minute for three days, the price 1 higher each minute, size 0.5."""
    return [
        Tick(product, T0 + i * MIN + 5_000, i + 1, str(first_price + i), None, None, "0.5")
        for i in range(DAYS * 1440)
        if i not in skip
    ]


@pytest.fixture
def stored(redis_conn):
    """Coinbase from 1000, Kraken from 1001 with no trade in the sixth hour; compacted into 1m, 1h, 1d."""
    ticks, candles = TickStore(redis_conn, "bcx"), CandleStore(redis_conn, "bcx")
    ticks.add(minute_ticks("coinbase:BTC-USD", 1000))
    ticks.add(minute_ticks("kraken:BTC-USD", 1001, skip=range(300, 360)))
    history = History(redis_conn, ticks, candles, ("1m", "1h", "1d"))
    for series in SERIES[:2]:
        while history.compact(series):
            pass
        assert candles.count(series, "1d") == DAYS - 1  # the last day is open: from finer tiers and ticks
    return candles


def test_rankings_returns_correlation_and_spread_from_compacted_candles(client, stored):
    ranked = get(client, "/api/v1.0/rankings?window=24h&by=change")
    assert ranked["end"] == LAST and ranked["start"] == LAST - LAST % MIN - 1439 * MIN
    first, second, empty = ranked["rankings"]
    # the last 1440 minutes: Coinbase 3880 -> 5319, Kraken 3881 -> 5320; 0.5 traded each minute
    assert first["series"] == "coinbase:BTC-USD" and first["last"] == "5319"
    assert first["change_pct"] == 37.0876 and second["change_pct"] == 37.0781
    assert first["volume"] == "720.0" and first["trades"] == 1440 and first["returns"] == 1439
    assert first["range_pct"] == 37.0876 and first["activity"] == 1.0 and first["complete"]
    assert first["volatility"] > 0 and first["volatility_annualized"] > first["volatility"]
    assert empty["series"] == "coinbase:ETH-USD" and empty["last"] is None and empty["volume"] is None
    assert not empty["complete"]
    by_volume = get(client, "/api/v1.0/rankings?window=1h&by=volume&series=kraken:BTC-USD")
    assert [r["series"] for r in by_volume["rankings"]] == ["kraken:BTC-USD"]
    assert by_volume["rankings"][0]["volume"] == "30.0"

    days = get(client, "/api/v1.0/returns/coinbase:BTC-USD?mode=day-on-day")
    # day 0: 1000 -> 2439; day 1 closes 3879, day 2 (open) 5319: each against the previous close
    assert days["returns"] == [
        [T0, "2439", 143.9],
        [T0 + 1440 * MIN, "3879", 59.0406],
        [T0 + 2880 * MIN, "5319", 37.123],
    ]
    to_first = get(client, "/api/v1.0/returns/coinbase:BTC-USD?mode=day-to-first")
    assert [r[2] for r in to_first["returns"]] == [143.9, 287.9, 431.9]
    assert days["places"] == 4

    matrix = get(client, "/api/v1.0/correlation?series=coinbase:BTC-USD,kraken:BTC-USD&window=7d&interval=1h")
    # 72 hours give 71 hourly returns; Kraken has no hour 5, so no return at hours 5 and 6: 69, all shared
    assert matrix["buckets"] == [[71, 69], [69, 69]]
    assert matrix["matrix"][0][0] == 1.0 and matrix["matrix"][0][1] == matrix["matrix"][1][0]
    assert matrix["matrix"][0][1] > 0.9  # both climb one a minute

    spread = get(client, "/api/v1.0/spread?series=coinbase:BTC-USD,kraken:BTC-USD&points=300")
    assert spread["interval"] == "5m" and spread["end"] == LAST and spread["start"] == LAST - 1440 * MIN
    assert len(spread["points"]) == 289 and {p[1] for p in spread["points"]} == {"-1"}
    assert spread["current"] == {"time": LAST, "a": "5319", "b": "5320", "difference": "-1", "percent": -0.0188}


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("/api/v1.0/rankings?series=coinbase:DOGE-USD", "series: 'coinbase:DOGE-USD' is not recorded"),
        ("/api/v1.0/rankings?window=30d", "window: '30d' is not one of"),
        ("/api/v1.0/rankings?by=price", "by: 'price' is not one of"),
        ("/api/v1.0/correlation?series=coinbase:BTC-USD", "series: 'coinbase:BTC-USD' names 1; name at least 2"),
        ("/api/v1.0/correlation", "series: name at least 2"),
        ("/api/v1.0/correlation?series=BTC-USD,kraken:BTC-USD&window=24h&interval=1d", "interval: 1d is too coarse"),
        ("/api/v1.0/spread?series=BTC-USD,kraken:BTC-USD,coinbase:ETH-USD", "series: names 3; name exactly 2"),
        ("/api/v1.0/returns/coinbase:DOGE-USD", "product: 'coinbase:DOGE-USD' is not recorded"),
        ("/api/v1.0/returns/BTC-USD?mode=weekly", "mode: 'weekly' is not one of"),
    ],
)
def test_bad_input_is_a_400_naming_the_parameter(client, url, message):
    assert message in get(client, url, 400)["error"]


def test_a_window_beyond_retention_is_a_400(config):
    day = {tier: 86400.0 for tier in ("raw", *config.watcher.candles) if tier not in ("6h", "1d")}  # up to 1h
    short = replace(config.watcher, retention={**config.watcher.retention, **day})
    client = create_app(replace(config, watcher=short), {"TESTING": True}).test_client()
    assert (
        "window: 7d is beyond the retention of the 1m data" in get(client, "/api/v1.0/rankings?window=7d", 400)["error"]
    )
    assert get(client, "/api/v1.0/rankings?window=24h")["rankings"][0]["last"] is None  # no data: null figures
    error = get(client, "/api/v1.0/correlation?series=BTC-USD,kraken:BTC-USD&window=7d&interval=1h", 400)["error"]
    tiers = [t for t in ("1h", "15m", "5m", "1m") if t in config.watcher.candles]  # every tier dividing 1h
    assert error.startswith(f"window: 7d is beyond the retention of the {', '.join(tiers)} data")


def test_bcx_rank_prints_the_rankings_table(stored, redis_section, tmp_path, quiet_logging, capsys):
    conf = tmp_path / "bcx.conf"
    conf.write_text(f"{redis_section}[tracker]\nproducts = {', '.join(SERIES)}\n")
    assert cli.main(["rank", "--config", str(conf), "--by", "volume", "--window", "1h"]) == 0
    header, columns, *rows = capsys.readouterr().out.splitlines()
    assert header == "1h from 2022-10-22T23:00:00.000Z to 2022-10-22T23:59:05.000Z, by volume"
    assert columns.split() == ["series", "last", "change", "%", "volatility", "annualized", "volume", "range", "%"] + [
        "activity",
        "full",
    ]
    # Coinbase traded every minute of the last hour, Kraken too (from 1001): equal volume, the order given; ETH none
    assert [row.split()[0] for row in rows] == ["coinbase:BTC-USD", "kraken:BTC-USD", "coinbase:ETH-USD"]
    assert rows[0].split()[1:2] + rows[0].split()[5:6] + rows[0].split()[-1:] == ["5319", "30.0", "yes"]
    assert rows[2].split()[1:] == ["-"] * 7 + ["no"]


def test_range_many_reads_what_range_reads_for_each_series(redis_conn):
    store = TickStore(redis_conn, "bcx", chunk_entries=4)  # small chunks: a range spans several
    store.add(minute_ticks("coinbase:BTC-USD", 1000)[:30] + minute_ticks("kraken:BTC-USD", 2000)[:30])
    ranges = [
        ("coinbase:BTC-USD", T0 + 3 * MIN, T0 + 17 * MIN),
        ("kraken:BTC-USD", T0, T0 + 5 * MIN + 5_000),
        ("coinbase:ETH-USD", T0, T0 + 30 * MIN),  # nothing stored
        ("coinbase:BTC-USD", T0 + 40 * MIN, T0 + 50 * MIN),  # after the data
    ]
    found = store.range_many(ranges)
    assert found == [store.range(*one) for one in ranges]
    assert [len(ticks) for ticks in found] == [14, 6, 0, 0]


def test_cached_answers_follow_new_trades_as_a_cold_worker_computes_them(config, client, stored, redis_conn):
    urls = [
        "/api/v1.0/rankings?window=24h&by=volatility",
        "/api/v1.0/rankings?window=1h&by=activity",
        "/api/v1.0/correlation?series=coinbase:BTC-USD,kraken:BTC-USD&window=24h&interval=5m",
        "/api/v1.0/correlation?series=coinbase:BTC-USD,kraken:BTC-USD&window=7d&interval=1h",
    ]
    for url in urls:
        get(client, url)  # warm: everything this worker keeps
    store = TickStore(redis_conn, "bcx")
    for n, (price, size) in enumerate([("5400", "3"), ("5100", "0.25"), ("5500", "1")]):  # in the open minute
        store.add([Tick(series, LAST + 10_000 + n, 90_000 + n, price, None, None, size) for series in SERIES[:2]])
        cold = create_app(config, {"TESTING": True}).test_client()
        for url in urls:
            assert get(client, url) == get(cold, url), url
        rows = get(client, urls[0])["rankings"]
        assert {r["last"] for r in rows if r["series"] in SERIES[:2]} == {price}  # the new trade shows at once
