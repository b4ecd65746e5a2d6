"""The one way BCX opens a Redis connection."""

from __future__ import annotations

import redis

from bcx.config import RedisConfig


def connect(config: RedisConfig) -> redis.Redis:
    """A client for `config.url`: strings in and out, RESP2 (redis-py 8's RESP3 parses scores far more slowly:
    see shared/reference/baselines.md), health-checked so a restarted server is noticed before use."""
    return redis.Redis.from_url(
        config.url,
        decode_responses=True,
        protocol=2,
        socket_timeout=config.timeout,
        socket_connect_timeout=config.timeout,
        health_check_interval=30,
    )
