"""End to end: bcx-replay -> bcx-tracker -> Redis -> bcx-watcher / bcx-web, all real processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest

from bcx.embedded import free_port
from bcx.pubsub import Subscription
from bcx.tick import iso_to_ms, ms_to_iso
from tests.e2e.conftest import bcx_command, get_json, processes_mentioning, start_bcx_up, start_replay, wait_for
from tests.webhook_stub import WebhookStub

pytestmark = pytest.mark.e2e

START_MS = 1_793_000_000_000
THRESHOLD = Decimal("100000")


def ticker(product: str, index: int, price: str, sequence: int) -> dict:
    return {
        "type": "ticker",
        "sequence": sequence,
        "product_id": product,
        "price": price,
        "best_bid": str(Decimal(price) - Decimal("0.01")),
        "best_ask": str(Decimal(price) + Decimal("0.02")),
        "side": "buy",
        "time": ms_to_iso(START_MS + index * 250).replace("Z", "123Z"),
        "trade_id": 1000 + index,
        "last_size": "0.00100000",
    }


def btc_price(index: int) -> str:
    """Below the threshold, one crossing above at index 120, stays above, with trailing zeros kept."""
    base = Decimal("99900.10") if index < 120 else Decimal("100010.00")
    return f"{base + Decimal(index % 7) * Decimal('0.50'):.2f}"


@pytest.fixture
def feed(tmp_path) -> tuple[Path, dict[str, list[dict]]]:
    messages = {"BTC-USD": [], "ETH-USD": []}
    lines = []
    for index in range(200):
        messages["BTC-USD"].append(ticker("BTC-USD", index, btc_price(index), 5000 + index * 3))
        messages["ETH-USD"].append(ticker("ETH-USD", index, f"{3000 + index / 100:.4f}", 9000 + index * 2))
        lines += [messages["BTC-USD"][-1], messages["ETH-USD"][-1]]
    lines.insert(
        10,
        {
            "type": "heartbeat",
            "sequence": 1,
            "last_trade_id": 1004,
            "product_id": "BTC-USD",
            "time": ms_to_iso(START_MS),
        },
    )
    path = tmp_path / "feed.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path, messages


def write_config(tmp_path: Path, redis_section: str, feed_url: str, web_port: int, webhook: str = "") -> Path:
    path = tmp_path / "bcx.conf"
    path.write_text(
        f"{redis_section}"
        f"[tracker]\nfeed_url = {feed_url}\nrest_url =\nproducts = BTC-USD, ETH-USD\n"
        f"[watcher]\ninterval = 200ms\nwebhook = {webhook}\n"
        f"[web]\nport = {web_port}\nworkers = 1\n"
        "[alert:btc-100k]\nproduct = BTC-USD\nwhen = price > 100000\n"
    )
    return path


def expected_ticks(messages: list[dict]) -> list[dict]:
    return [
        {
            "time": iso_to_ms(m["time"]),
            "trade_id": m["trade_id"],
            "price": m["price"],
            "bid": m["best_bid"],
            "ask": m["best_ask"],
            "size": m["last_size"],
        }
        for m in messages
    ]


def ticks_from(url: str) -> list[dict] | None:
    body = get_json(url)
    return body and body["ticks"]


def test_ticks_flow_from_feed_to_api_and_alert_fires_once(tmp_path, redis_section, redis_conn, processes, feed):
    """Exactly one alert reaches a pub/sub subscriber, the stream, `bcx alerts` and the webhook."""
    with WebhookStub() as webhook:
        run_the_suite(tmp_path, redis_section, redis_conn, processes, feed, webhook)


def run_the_suite(tmp_path, redis_section, conn, processes, feed, webhook: WebhookStub) -> None:
    path, messages = feed
    _, feed_url = start_replay(processes, path)
    web_port = free_port()
    config = write_config(tmp_path, redis_section, feed_url, web_port, webhook.url)
    subscriber = Subscription(conn, "bcx:alerts")

    daemons = {
        name: processes.start(name, [bcx_command(f"bcx-{name}"), "--config", str(config)])
        for name in ("tracker", "watcher", "web")
    }
    api = f"http://127.0.0.1:{web_port}/api/v1.0"
    for product, sent in messages.items():
        url = f"{api}/ticks/{product}?start=0&end={START_MS + 10**6}&limit=1000"
        count = len(sent)
        wait_for(lambda url=url, count=count: len(ticks_from(url) or ()) >= count, what=f"{product} ticks via the API")
        assert ticks_from(url) == expected_ticks(sent)

    wait_for(lambda: conn.xlen("bcx:alerts") >= 1, what="the alert in the stream")
    received = [wait_for(lambda: subscriber.get(timeout=0.2), what="the alert on pub/sub")]
    # The watcher polls every 200 ms: several more passes must not repeat the alert.
    received += [m for m in (subscriber.get(timeout=0.1) for _ in range(10)) if m is not None]
    assert conn.xlen("bcx:alerts") == 1
    assert len(received) == 1
    subscriber.close()
    alert = json.loads(received[0])
    ((stream_id, _),) = conn.xrange("bcx:alerts")
    assert alert["id"] == stream_id
    assert (alert["rule"], alert["product"], alert["value"]) == ("btc-100k", "BTC-USD", btc_price(120))
    wait_for(lambda: webhook.received, what="the alert at the webhook")
    assert webhook.received == [alert]
    listed = subprocess.run(
        [bcx_command("bcx"), "alerts", "--config", str(config), "--json"], capture_output=True, text=True, timeout=30
    )
    assert [json.loads(line) for line in listed.stdout.splitlines()] == [alert]

    latest = get_json(f"{api}/products")
    assert {p["product"]: p["last"]["price"] for p in latest["products"]} == {
        "BTC-USD": messages["BTC-USD"][-1]["price"],
        "ETH-USD": messages["ETH-USD"][-1]["price"],
    }
    for name, process in daemons.items():
        assert processes.terminate(process) == 0, f"{name} exit code; log:\n{processes.log(name)}"


def test_bcx_up_replays_the_sample_and_ctrl_c_leaves_nothing_behind(tmp_path, processes):
    sample = Path(__file__).resolve().parents[2] / "bcx_tracker" / "data" / "sample.jsonl.gz"
    web_port = free_port()
    config = tmp_path / "bcx.conf"
    config.write_text(f"[redis]\nurl = redis://127.0.0.1:{free_port()}/0\n[web]\nport = {web_port}\nworkers = 1\n")
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    try:
        up, lines = start_bcx_up(processes, "--config", str(config), "--replay", str(sample), "--speed", "max", env=env)
        assert f"http://127.0.0.1:{web_port}/" in lines[-1]
        products = wait_for(
            lambda: (
                (b := get_json(f"http://127.0.0.1:{web_port}/api/v1.0/products"))
                and all(p["last"] for p in b["products"])
                and b
            ),
            what="ticks from every product of the sample",
        )
        assert {p["series"] for p in products["products"]} == {  # the bundled sample: four exchanges side by side
            "coinbase:BTC-USD",
            "coinbase:ETH-USD",
            "coinbase:SOL-USD",
            "kraken:BTC-USD",
            "kraken:ETH-USD",
            "binance:BTC-USDT",
            "binance:ETH-USDT",
            "bitfinex:BTC-USD",
            "bitfinex:ETH-USD",
        }
        assert len(processes_mentioning(str(tmp_path))) >= 4  # replay, tracker, watcher, web (+ redis-server)

        assert processes.terminate(up, signal.SIGINT) == 0
        assert processes_mentioning(str(tmp_path)) == []
    finally:  # bcx up's daemons run in sessions of their own: if the test failed early, do not leave them running
        for pid in processes_mentioning(str(tmp_path)):
            os.kill(pid, signal.SIGKILL)
