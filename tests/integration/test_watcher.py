"""The watcher against a real redis-server: alerts fire once per crossing, survive restarts, and retention trims
relative to the newest tick. Constructed in-process with a fixed clock; one process test for signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from bcx import alerts
from bcx.config import load_config
from bcx.connection import connect
from bcx.daemon import Stopper
from bcx.heartbeat import read_heartbeats
from bcx.keys import alerts_key
from bcx.pubsub import Subscription
from bcx.store import TickStore
from bcx.tick import Cursor, Tick
from bcx_watcher.history import retention_cutoff
from bcx_watcher.watcher import Watcher, load_watch_state, ticks_after
from tests.e2e.conftest import wait_for
from tests.webhook_stub import WebhookStub

NOW = 1_800_000_000.0  # the wall clock the watcher sees: years after the ticks below
T0 = 1_600_000_000_000  # an old, replayed day
HOUR_MS = 3_600_000


def write_config(tmp_path: Path, redis_section: str, alerts_ini: str = "", watcher_ini: str = "") -> Path:
    path = tmp_path / "bcx.conf"
    path.write_text(f"{redis_section}\n[tracker]\nproducts = BTC-USD\n\n[watcher]\n{watcher_ini}\n{alerts_ini}")
    return path


BTC_HIGH = "[alert:btc-high]\nproduct = BTC-USD\nwhen = price > 100000\ncooldown = 0s\n"


@pytest.fixture
def store(redis_conn):
    return TickStore(redis_conn, "bcx")


@pytest.fixture
def make_watcher(tmp_path, redis_section, redis_conn):
    def make(alerts_ini: str = BTC_HIGH, watcher_ini: str = "", **kwargs) -> Watcher:
        config = load_config(str(write_config(tmp_path, redis_section, alerts_ini, watcher_ini)))
        return Watcher(redis_conn, config, Stopper(), clock=lambda: NOW, **kwargs)

    return make


def tick(offset_ms: int, trade_id: int, price: str, product: str = "BTC-USD") -> Tick:
    return Tick(product, T0 + offset_ms, trade_id, price, None, None, "0.01")


def prices(*values: str, start: int = 0, first_id: int = 1) -> list[Tick]:
    return [tick(start + i * 1000, first_id + i, value) for i, value in enumerate(values)]


def test_crossing_fires_one_alert_on_pubsub_and_stream_with_the_same_id(store, make_watcher, redis_conn):
    store.add(prices("99000", "99500", "100012.50", "100100", "100200"))
    # Subscription: SSUBSCRIBE on a Redis 7 cluster, where the watcher SPUBLISHes (a plain SUBSCRIBE hears nothing)
    with Subscription(redis_conn, alerts_key("bcx")) as subscriber:
        subscriber.get(timeout=0.2)  # the subscribe round trip
        make_watcher().run_pass(NOW)
        message = next(filter(None, (subscriber.get(timeout=0.2) for _ in range(10))), None)
        assert message is not None
        live = alerts.Alert.from_json(message)
        stored = alerts.read_alerts(redis_conn, "bcx")
        assert stored == [live]
        assert live.id is not None
        assert (live.rule, live.value, live.time_ms, live.trade_id) == ("btc-high", "100012.50", T0 + 2000, 3)
        assert live.message == "coinbase:BTC-USD price 100012.50 crossed above 100000 (rule btc-high)"
        published = json.loads(message)  # a bare BTC-USD in the config is Coinbase's series
        assert (published["series"], published["exchange"], published["product"]) == (
            "coinbase:BTC-USD",
            "coinbase",
            "BTC-USD",
        )
        assert subscriber.get(timeout=0.2) is None


def test_no_repeat_on_a_second_pass_or_after_a_restart(store, make_watcher, redis_conn):
    store.add(prices("99000", "100500", "100600"))
    watcher = make_watcher()
    watcher.run_pass(NOW)
    watcher.run_pass(NOW + 1)
    assert len(alerts.read_alerts(redis_conn, "bcx")) == 1

    store.add(prices("100700", "100800", start=10_000, first_id=10))  # still beyond: no new crossing
    make_watcher().run_pass(NOW + 2)  # a restarted watcher: new instance, state from Redis
    assert len(alerts.read_alerts(redis_conn, "bcx")) == 1

    store.add(prices("99999", "100001", start=20_000, first_id=20))  # back below, then across again
    make_watcher().run_pass(NOW + 3)
    assert [a.value for a in alerts.read_alerts(redis_conn, "bcx")] == ["100500", "100001"]


def test_one_tick_spike_between_passes_fires(store, make_watcher, redis_conn):
    store.add(prices("99000", "99100"))
    watcher = make_watcher()
    watcher.run_pass(NOW)
    assert alerts.read_alerts(redis_conn, "bcx") == []
    store.add(prices("99200", "150000", "99300", start=5000, first_id=5))
    watcher.run_pass(NOW + 1)
    assert [a.value for a in alerts.read_alerts(redis_conn, "bcx")] == ["150000"]


def test_ticks_of_one_millisecond_go_in_trade_id_order_across_small_batches(store, make_watcher, redis_conn):
    # members of one ms sort as text ("10|" < "9|"), so the store's order is not the trade order
    same_ms = [tick(0, 9, "99000"), tick(0, 10, "100001"), tick(0, 11, "99000"), tick(0, 12, "100002")]
    store.add(same_ms + [tick(1, 13, "99000"), tick(2, 14, "100003")])
    make_watcher(batch_size=2, max_batches=2).run_pass(NOW)  # stops partway through
    make_watcher(batch_size=2).run_pass(NOW + 1)
    make_watcher(batch_size=2).run_pass(NOW + 2)
    fired = alerts.read_alerts(redis_conn, "bcx")
    assert [(a.trade_id, a.value) for a in fired] == [(10, "100001"), (12, "100002"), (14, "100003")]
    cursor, _ = load_watch_state(redis_conn, store.keys("BTC-USD"))
    assert cursor == Cursor(T0 + 2, 14)


def test_ticks_after_makes_progress_when_one_millisecond_outgrows_a_batch(store):
    store.add([tick(0, trade_id, "1") for trade_id in range(1, 8)] + [tick(5, 50, "2")])
    got, more = ticks_after(store, "BTC-USD", None, limit=3)
    assert [t.trade_id for t in got] == list(range(1, 8)) and more
    got, more = ticks_after(store, "BTC-USD", Cursor(T0, 7), limit=3)
    assert [t.trade_id for t in got] == [50] and not more
    assert ticks_after(store, "BTC-USD", Cursor(T0 + 5, 50), limit=3) == ([], False)


def test_rule_already_true_at_first_start_fires_once(store, make_watcher, redis_conn):
    store.add(prices("120000", "121000"))
    make_watcher().run_pass(NOW)
    make_watcher().run_pass(NOW)
    assert [a.value for a in alerts.read_alerts(redis_conn, "bcx")] == ["120000"]


def test_product_named_only_by_an_alert_is_watched(store, make_watcher, redis_conn):
    store.add([tick(0, 1, "10", "ETH-USD"), tick(1, 2, "3000", "ETH-USD")])
    make_watcher("[alert:eth]\nproduct = ETH-USD\nwhen = price >= 3000\n").run_pass(NOW)
    assert [a.series for a in alerts.read_alerts(redis_conn, "bcx")] == ["coinbase:ETH-USD"]


def test_trims_by_retention_from_the_newest_tick_not_the_wall_clock(store, make_watcher):
    store.add([tick(minute * 60_000, minute + 1, "99000") for minute in range(180)])  # three hours, years ago
    make_watcher(watcher_ini="retention = 1h\n").run_pass(NOW)
    kept = store.range("BTC-USD", 0, 2**53)
    newest = T0 + 179 * 60_000
    assert [t.time_ms for t in kept] == [T0 + m * 60_000 for m in range(119, 180)]
    assert kept[0].time_ms >= newest - HOUR_MS


def test_trim_waits_for_its_interval_and_forever_keeps_all(store, make_watcher):
    store.add([tick(0, 1, "1"), tick(61_000, 2, "2")])  # two different minutes
    watcher = make_watcher(watcher_ini="retention = 500ms\ntrim_interval = 60s\n")
    watcher.run_pass(NOW)
    assert store.count("BTC-USD") == 1  # the closed minute was compacted, then trimmed; the open one stays
    store.add([tick(125_000, 3, "3")])
    watcher.run_pass(NOW + 30)
    assert store.count("BTC-USD") == 2
    watcher.run_pass(NOW + 60)
    assert store.count("BTC-USD") == 1

    store.add(prices("4", "5", start=0, first_id=30))
    make_watcher(watcher_ini="retention = forever\n").run_pass(NOW)
    assert store.count("BTC-USD") == 3


def test_retention_cutoff_never_passes_what_is_still_needed():
    assert retention_cutoff(10_000, 5.0) == 5_000
    assert retention_cutoff(10_000, 5.0, 2_000) == 2_000
    assert retention_cutoff(10_000, None) is None


def test_run_loop_survives_a_redis_that_is_down_backing_off_longer_each_pass_and_stops_when_asked(
    tmp_path, monkeypatch
):
    config = load_config(str(write_config(tmp_path, "[redis]\nurl = redis://127.0.0.1:1/0\n", BTC_HIGH)))
    conn = connect(config.redis)
    stopper = Stopper()
    backoffs: list[int] = []  # the failure count each backoff was computed for
    monkeypatch.setattr("bcx_watcher.watcher.backoff_delay", lambda failures, cap: backoffs.append(failures) or 0.01)

    def sleep(seconds: float) -> None:
        if len(backoffs) == 3:
            stopper.stop()

    watcher = Watcher(conn, config, stopper, clock=lambda: NOW, sleep=sleep)
    watcher.run()  # returns instead of raising ConnectionError
    assert backoffs == [1, 2, 3] and watcher.failures == 3  # each failed pass waits longer than the one before
    conn.close()


def test_a_redis_error_backs_off_then_the_next_pass_catches_up(store, make_watcher, redis_conn, monkeypatch):
    store.add(prices("99000", "100500"))
    naps: list[float] = []
    watcher = make_watcher(watcher_ini="interval = 20ms\n", sleep=naps.append)
    monkeypatch.setattr("bcx_watcher.watcher.backoff_delay", lambda failures, cap: 0.02)
    real_range = watcher.store.range
    calls = iter([redis.ConnectionError("gone")])

    def flaky_range(*args, **kwargs):
        for error in calls:
            raise error
        return real_range(*args, **kwargs)

    monkeypatch.setattr(watcher.store, "range", flaky_range)
    watcher.loop_once(NOW)
    assert watcher.failures == 1 and alerts.read_alerts(redis_conn, "bcx") == []
    watcher.loop_once(NOW + 1)
    assert watcher.failures == 0 and len(alerts.read_alerts(redis_conn, "bcx")) == 1
    assert max(naps) <= 0.25  # slept in short steps


def test_run_does_one_pass_then_sleeps_until_stopped(store, make_watcher, redis_conn):
    store.add(prices("99000", "100500"))
    watcher = make_watcher()
    watcher.sleep = lambda seconds: watcher.stopper.stop()
    watcher.run()
    assert len(alerts.read_alerts(redis_conn, "bcx")) == 1


def run_watcher_process(config: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    return subprocess.Popen(
        [sys.executable, "-m", "bcx_watcher.cli", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_process_fires_and_exits_0_on_sigterm(tmp_path, redis_section, store, redis_conn):
    store.add(prices("99000", "100500"))
    proc = run_watcher_process(write_config(tmp_path, redis_section, BTC_HIGH, "interval = 100ms\n"))
    try:
        deadline = time.monotonic() + 10
        while not alerts.read_alerts(redis_conn, "bcx") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(alerts.read_alerts(redis_conn, "bcx")) == 1
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0
    finally:
        proc.kill()
        proc.communicate(timeout=5)


def test_process_exits_2_on_a_config_error(tmp_path):
    path = tmp_path / "bad.conf"
    path.write_text("[watcher]\ninterval = soon\n")
    proc = run_watcher_process(path)
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 2
    assert "[watcher] interval" in err


def test_stale_and_recovery_from_the_loop_and_window_rules_see_ticks_before_the_cursor(store, make_watcher, redis_conn):
    rules = (
        "[alert:quiet]\nproduct = BTC-USD\nwhen = stale 60s\n"
        "[alert:jump]\nproduct = BTC-USD\nwhen = rise >= 5% in 15m\ncooldown = 0s\n"
    )
    store.add(prices("100", "101"))
    watcher = make_watcher(rules)
    watcher.run_pass(NOW)
    watcher.run_pass(NOW + 61)
    store.add(prices("105.5", start=60_000, first_id=10))  # +5.5% over the 100 seen in the pass before
    watcher.run_pass(NOW + 70)
    fired = [(a.rule, a.kind) for a in alerts.read_alerts(redis_conn, "bcx")]
    assert fired == [("quiet", "stale"), ("jump", "change"), ("quiet", "recovery")]


def test_a_second_watcher_leaves_a_leased_product_alone_until_the_lease_expires(store, make_watcher, redis_conn):
    store.add(prices("99000", "100500"))
    first = make_watcher(watcher_ini="lease = 200ms\n", ident="watcher:first")
    second = make_watcher(watcher_ini="lease = 200ms\n", ident="watcher:second")
    first.run_pass(NOW)
    store.add(prices("99000", "100600", start=10_000, first_id=10))
    second.run_pass(NOW)
    assert len(alerts.read_alerts(redis_conn, "bcx")) == 1  # the second one did not look
    deadline = time.monotonic() + 10
    while redis_conn.exists(store.keys("BTC-USD").lease) and time.monotonic() < deadline:
        time.sleep(0.05)
    second.run_pass(NOW + 1)
    assert [a.value for a in alerts.read_alerts(redis_conn, "bcx")] == ["100500", "100600"]
    assert redis_conn.get(store.keys("BTC-USD").lease) == "watcher:second"
    second.shutdown()
    assert not redis_conn.exists(store.keys("BTC-USD").lease)


def test_the_webhooks_counts_reach_bcx_status_through_the_heartbeat(store, make_watcher, redis_conn):
    store.add(prices("99000", "100500"))
    with WebhookStub() as stub:
        watcher = make_watcher(watcher_ini=f"webhook = {stub.url}\n")
        try:
            watcher.loop_once(NOW)  # fires the alert, then beats
            wait_for(lambda: watcher.webhook.delivered == 1, timeout=20, what="the alert posted")
            watcher.next_beat = 0.0
            watcher.loop_once(NOW + 1)
            beat = next(hb for hb in read_heartbeats(redis_conn, "bcx") if hb.daemon_id == watcher.ident)
        finally:
            watcher.shutdown()
    counters = beat.fields  # what `bcx status` lists under the watcher (all but pid, host, started, ...)
    assert (counters["webhook_delivered"], counters["webhook_failed"], counters["alerts_published"]) == ("1", "0", "1")
