"""The one way BCX opens a Redis connection."""

from __future__ import annotations

import threading
from typing import Any

import redis
from redis.cluster import ClusterNode, RedisCluster
from redis.exceptions import RedisClusterException

from bcx.config import RedisConfig
from bcx.converters import mask_url


def client_options(config: RedisConfig) -> dict[str, Any]:
    """Keyword arguments for `redis.Redis.from_url`: strings in and out, RESP2 (redis-py 8's RESP3 parses scores
    far more slowly: see shared/reference/baselines.md), health-checked so a restarted server is noticed before
    use. Shared by `connect` and by clients built elsewhere (bcx-web's flask-redis)."""
    return {
        "decode_responses": True,
        "protocol": 2,
        "socket_timeout": config.timeout,
        "socket_connect_timeout": config.timeout,
        "health_check_interval": 30,
    }


def connect(config: RedisConfig) -> redis.Redis | RedisCluster:
    """A client for `config.cluster` (a RedisCluster) when set, else for `config.url`, with `client_options`."""
    if config.cluster:
        nodes = [ClusterNode(host, port) for host, port in config.cluster]
        options = client_options(config)
        options.pop("health_check_interval")  # cluster nodes are checked by the cluster client itself
        return RedisCluster(startup_nodes=nodes, **options)
    return redis.Redis.from_url(config.url, **client_options(config))


def describe(config: RedisConfig) -> str:
    """Where the config points, for logs and messages: the URL without its password, or the cluster's nodes."""
    if config.cluster:
        return "cluster " + ", ".join(f"{host}:{port}" for host, port in config.cluster)
    return mask_url(config.url)


class LazyClient:
    """The client `connect` builds, built on first use: creating it never touches Redis (a RedisCluster asks its
    nodes for the slot map as soon as it is made). While no cluster node answers, every use raises
    redis.ConnectionError, as a single server's client does, and the next use tries again."""

    def __init__(self, config: RedisConfig):
        self.config = config
        self._client: redis.Redis | RedisCluster | None = None
        self._lock = threading.Lock()

    @property
    def client(self) -> redis.Redis | RedisCluster:
        with self._lock:
            if self._client is None:
                try:
                    self._client = connect(self.config)
                except RedisClusterException as exc:
                    raise redis.ConnectionError(str(exc)) from exc
            return self._client

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)
