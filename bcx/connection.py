"""The one way BCX opens a Redis connection."""

from __future__ import annotations

from typing import Any

import redis
from redis.cluster import ClusterNode, RedisCluster

from bcx.config import RedisConfig


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
