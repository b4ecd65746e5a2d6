"""`bcx up`'s pure parts: what it reads from bcx-replay, the config sections it writes, the demo's alert rules."""

from __future__ import annotations

import gzip
import json

from bcx import up_history
from bcx.config import load_config
from bcx.up import Replay, demo_rules, first_prices, read_replay_description, replay_overrides, write_run_config

DESCRIPTION = [
    "series coinbase:BTC-USD coinbase:ETH-USD kraken:BTC-USD",
    "feed coinbase coinbase-exchange ws://127.0.0.1:5000/coinbase",
    "feed kraken kraken ws://127.0.0.1:5000/kraken",
    "ready",
    "a line after ready is not read",
]


def test_the_replay_description_names_series_and_feeds():
    replay = read_replay_description(iter(DESCRIPTION))
    assert replay == Replay(
        ["coinbase:BTC-USD", "coinbase:ETH-USD", "kraken:BTC-USD"],
        {
            "coinbase": ("coinbase-exchange", "ws://127.0.0.1:5000/coinbase"),
            "kraken": ("kraken", "ws://127.0.0.1:5000/kraken"),
        },
    )
    assert read_replay_description(iter([])) == Replay([], {})  # bcx-replay died: nothing to play


def test_the_demo_config_points_each_exchange_at_the_replay_and_loads(tmp_path):
    replay = read_replay_description(iter(DESCRIPTION))
    overrides = replay_overrides(replay) | demo_rules(replay.series, {"coinbase:BTC-USD": "97249.05"})
    source = tmp_path / "user.conf"
    source.write_text("[redis]\nurl = redis://127.0.0.1:1/0\n")
    config = load_config(write_run_config(str(source), overrides, str(tmp_path)))
    assert config.tracker.products == ("coinbase:BTC-USD", "coinbase:ETH-USD", "kraken:BTC-USD")
    rules = {rule.name: (rule.product, rule.when.describe()) for rule in config.alerts}
    assert rules == {  # ETH-USD has no first price here, Kraken's series none: Coinbase's ticker lines only
        "demo-coinbase-btc-usd-above": ("coinbase:BTC-USD", "price > 97249"),
        "demo-coinbase-btc-usd-moves": ("coinbase:BTC-USD", "change >= 0.3% in 900000ms"),
    }


def test_first_prices_reads_coinbase_tickers_of_a_gzipped_recording(tmp_path):
    path = tmp_path / "r.jsonl.gz"
    lines = [
        'kraken {"channel":"trade"}',
        json.dumps({"type": "heartbeat", "product_id": "BTC-USD"}),
        json.dumps({"type": "ticker", "product_id": "ETH-USD", "price": "3480.10"}),
        "not json {",
        json.dumps({"type": "ticker", "product_id": "ETH-USD", "price": "3999.00"}),
    ]
    with gzip.open(path, "wt") as handle:
        handle.write("\n".join(lines) + "\n")
    assert first_prices(str(path)) == {"coinbase:ETH-USD": "3480.10"}


def test_the_demo_history_is_in_when_every_series_is_current_and_its_progress_is_the_slowest_series():
    now = 1_000_000_000.0
    latest = {"coinbase:BTC-USD": now - 1_000, "kraken:BTC-USD": now - 61_000, "binance:BTC-USDT": None}
    assert up_history.current(latest, now) == ["coinbase:BTC-USD"]
    start, end = now - 100_000, now
    assert up_history.progress(latest, start, end) == 0.0  # one series has no tick yet
    latest["binance:BTC-USDT"] = start + 25_000
    assert up_history.progress(latest, start, end) == 0.25
    assert up_history.progress({"a": end + 5_000}, start, end) == 1.0
    line = up_history.progress_line(latest, start, end, now, 12.4)
    assert line == "loading the demo's history: 25%, 1 of 3 series current (12 s)"
