"""The one way BCX opens a Redis connection."""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any

import redis
from redis.backoff import EqualJitterBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.exceptions import RedisClusterException
from redis.retry import Retry

from bcx.config import RedisConfig
from bcx.converters import mask_url

# One retry policy for both topologies, inside redis-py: a command that meets a dropped connection or a timeout is
# sent once more, on a fresh connection, after 0.05-0.1s (redis-py's equal jitter, its failure count starting at
# 1): a connection the server or the network dropped costs nothing more. An outage reaches the caller, at once:
# the tracker's writer keeps its ticks and retries with its own capped backoff (the one retry loop of ours), the
# watcher waits out its failed pass. (Before: no retry on a single server, three on a cluster.)
RETRIES = 1
RETRY_BASE_S, RETRY_CAP_S = 0.05, 1.0


def retry_policy() -> Retry:
    """A new Retry each time (redis-py copies it into every connection's kwargs; it holds no state worth sharing)."""
    return Retry(EqualJitterBackoff(cap=RETRY_CAP_S, base=RETRY_BASE_S), RETRIES)


def client_options(config: RedisConfig) -> dict[str, Any]:
    """Keyword arguments for `redis.Redis.from_url`: strings in and out, RESP2 (redis-py 8's RESP3 parses scores
    far more slowly: see shared/reference/baselines.md), health-checked so a restarted server is noticed before
    use, and retried by `retry_policy`."""
    return {
        "decode_responses": True,
        "protocol": 2,
        "socket_timeout": config.timeout,
        "socket_connect_timeout": config.timeout,
        "health_check_interval": 30,
        "retry": retry_policy(),
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
    redis.ConnectionError, as a single server's client does, and the next use tries again.

    It is also bcx-web's flask-redis provider class: `FlaskRedis.from_custom_provider(LazyClient, redis_config=...)`
    makes flask-redis call `from_url(app.config["REDIS_URL"], redis_config=...)` in `init_app`."""

    def __init__(self, config: RedisConfig):
        self.config = config
        self._client: redis.Redis | RedisCluster | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str, redis_config: RedisConfig) -> LazyClient:
        """The client of the `[redis]` section `redis_config`, at `url` (flask-redis's REDIS_URL) unless a cluster."""
        return cls(replace(redis_config, url=url))

    def built_client(self) -> redis.Redis | RedisCluster:
        """The client itself, built now if need be: for a caller that must know which kind it is (bcx.pubsub). A
        name no redis-py client has, so a wrapper that forwards attributes (flask-redis's) forwards it here."""
        return self.client

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
