"""Two real bcx-watcher processes against one Redis: one lease holder per product, no double alerts, and the
survivor takes over within the lease time when the holder is killed with SIGKILL."""

from __future__ import annotations

import signal
import socket

import pytest

from bcx import alerts
from bcx.candles import CandleStore
from bcx.heartbeat import read_heartbeats
from bcx.keys import SeriesKeys
from bcx.store import TickStore
from bcx.tick import Tick
from tests.e2e.conftest import bcx_command, wait_for

pytestmark = pytest.mark.e2e

T0 = 1_609_459_200_000  # 2021-01-01: replayed data
MIN = 60_000


def ticks(first_id: int, start_ms: int, *prices: str) -> list[Tick]:
    return [
        Tick("BTC-USD", T0 + start_ms + i * 20_000, first_id + i, p, None, None, "0.1") for i, p in enumerate(prices)
    ]


def passes(conn, ident: str) -> int:
    beats = {hb.daemon_id: hb.fields for hb in read_heartbeats(conn, "bcx")}
    return int(beats.get(ident, {}).get("passes", 0))


def test_one_watcher_per_product_and_failover_after_sigkill(tmp_path, redis_section, redis_conn, processes):
    config = tmp_path / "bcx.conf"
    config.write_text(
        f"{redis_section}[tracker]\nproducts = BTC-USD\n"
        "[watcher]\ninterval = 100ms\nlease = 2s\n"
        "[alert:btc-high]\nproduct = BTC-USD\nwhen = price > 100000\ncooldown = 0s\n"
    )
    conn = redis_conn
    store = TickStore(conn, "bcx")
    lease_key = SeriesKeys("bcx", "coinbase:BTC-USD").lease
    store.add(ticks(1, 0, "99000", "100500", "100600", "99500"))

    watchers = [processes.start(f"watcher{i}", [bcx_command("bcx-watcher"), "--config", str(config)]) for i in (1, 2)]
    idents = {w.pid: f"watcher:{socket.gethostname()}:{w.pid}" for w in watchers}
    wait_for(lambda: all(passes(conn, ident) >= 5 for ident in idents.values()), what="both watchers making passes")
    assert [a.value for a in alerts.read_alerts(conn, "bcx")] == ["100500"]  # one alert, not one per watcher
    holder = conn.get(lease_key)
    assert holder in idents.values()
    (victim,) = [w for w in watchers if idents[w.pid] == holder]
    (survivor,) = [w for w in watchers if w is not victim]

    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    store.add(ticks(10, 3 * MIN, "99100", "100001") + ticks(20, 5 * MIN, "100002"))  # across again, minutes on
    wait_for(lambda: len(alerts.read_alerts(conn, "bcx")) >= 2, timeout=30, what="the survivor's alert")
    assert conn.get(lease_key) == idents[survivor.pid]
    assert [a.value for a in alerts.read_alerts(conn, "bcx")] == ["100500", "100001"]
    # the survivor compacts too: minutes 0 and 1 (the victim's), and minute 3, closed only after the kill
    wait_for(lambda: CandleStore(conn, "bcx").count("BTC-USD", "1m") == 3, what="minute 3's candle")

    assert processes.terminate(survivor) == 0
    assert conn.get(lease_key) is None  # released on a clean exit
