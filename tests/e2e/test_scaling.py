"""Running every daemon more than once, on one server and on the cluster (each test runs on both topologies).

Tracker shards overlap on purpose: two real bcx-tracker processes both record ETH-USD from the same replayed feed
into one Redis; idempotent members and the atomic chunk script must leave exactly the ticks that were sent. Two
bcx-web processes on one Redis answer the same (the web keeps no state of its own).
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from bcx.config import load_config, packaged_default
from bcx.embedded import free_port
from bcx.store import TickStore
from bcx_tracker.sample import write_sample
from bcx_web.app import create_app
from tests.e2e.conftest import bcx_command, get_json, start_replay, wait_for
from tests.e2e.web_server import start_web
from tests.integration.test_store import check_chunks
from tests.integration.test_tracker import PRODUCTS, fields, ticks_in
from tests.integration.test_web import T0, tick

pytestmark = pytest.mark.e2e

SHARDS = {"a": "BTC-USD, ETH-USD", "b": "ETH-USD, SOL-USD"}  # ETH-USD recorded by both


def status(config: Path, pid_dir: Path) -> dict:
    done = subprocess.run(
        [bcx_command("bcx"), "status", "tracker", "--json", "--config", str(config), "--pid-dir", str(pid_dir)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    return json.loads(done.stdout)


def test_two_tracker_shards_overlapping_on_a_product_store_each_tick_once(
    tmp_path, redis_section, redis_conn, processes
):
    feed = tmp_path / "feed.jsonl.gz"
    write_sample(feed, seed=5, hours=0.1)
    expected = ticks_in(feed)
    _, feed_url = start_replay(processes, feed)
    config = tmp_path / "bcx.conf"
    config.write_text(f"{redis_section}[tracker]\nfeed_url = {feed_url}\nrest_url =\nproducts = BTC-USD\n")
    trackers = {
        name: processes.start(
            f"tracker-{name}",
            [bcx_command("bcx-tracker"), "--config", str(config), "--products", products, "--name", name],
        )
        for name, products in SHARDS.items()
    }
    store = TickStore(redis_conn, "bcx")

    def stored() -> list[tuple]:
        return sorted(fields(t) for product in PRODUCTS for t in store.range(product, 0, 2**53))

    wait_for(lambda: len(stored()) >= len(expected), what="every tick stored")
    beating = wait_for(
        lambda: {b["id"]: b["products"] for b in status(config, tmp_path)["beating"]} or None,
        what="both shards in bcx status",
    )
    assert beating == {
        "tracker:a": "coinbase:BTC-USD,coinbase:ETH-USD",
        "tracker:b": "coinbase:ETH-USD,coinbase:SOL-USD",
    }
    for name, process in trackers.items():
        assert processes.terminate(process) == 0, processes.log(f"tracker-{name}")
    eth = sum(1 for t in expected if t[0] == "coinbase:ETH-USD")
    btc, sol = (sum(1 for t in expected if t[0] == f"coinbase:{p}") for p in ("BTC-USD", "SOL-USD"))
    assert f"{eth + btc} ticks written" in processes.log("tracker-a")
    assert f"{eth + sol} ticks written" in processes.log("tracker-b")
    assert stored() == expected  # both wrote ETH-USD: stored once, nothing lost, nothing extra
    for product in PRODUCTS:
        check_chunks(store, product)


def test_two_web_processes_on_one_redis_answer_the_same(tmp_path, redis_section, redis_conn, processes):
    TickStore(redis_conn, "bcx").add([tick(T0 + i * 1000, i, f"19100.{i:02d}") for i in range(1, 40)])
    bases = [start_web(processes, tmp_path, redis_section, name=f"web{i}") for i in (1, 2)]
    for path in ("/api/v1.0/products", f"/api/v1.0/ticks/BTC-USD?start={T0}&end={T0 + 60_000}&limit=100"):
        answers = [get_json(base + path) for base in bases]
        assert answers[0] is not None and answers[0] == answers[1]
    assert len(answers[0]["ticks"]) == 39


def test_tracker_rejects_bad_products_option(tmp_path):
    done = subprocess.run(
        [bcx_command("bcx-tracker"), "--products", "BTC-USD, nope", "--config", str(tmp_path / "none.conf")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert "--products" in done.stderr and "'nope' is not a series id" in done.stderr


def test_web_answers_503_while_no_cluster_node_answers(tmp_path):
    base = load_config(str(packaged_default()))
    down = replace(base.redis, cluster=(("127.0.0.1", free_port()),), timeout=0.5)
    client = create_app(replace(base, redis=down)).test_client()  # created without touching Redis
    response = client.get("/api/v1.0/products")
    assert response.status_code == 503 and "redis unavailable" in response.get_json()["error"]
