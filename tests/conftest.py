"""Shared fixtures: a real redis-server for the whole session on a free loopback port, emptied per test."""

from __future__ import annotations

import pytest
import redis

from bcx.config import RedisConfig
from bcx.connection import connect
from bcx.embedded import EmbeddedRedis


@pytest.fixture(scope="session")
def redis_server():
    with EmbeddedRedis() as server:
        yield server


@pytest.fixture
def redis_url(redis_server) -> str:
    """URL of the session's real Redis, flushed before each test."""
    redis.Redis.from_url(redis_server.url).flushall()
    return redis_server.url


@pytest.fixture
def redis_conn(redis_url):
    conn = connect(RedisConfig(url=redis_url, prefix="bcx", timeout=5.0))
    yield conn
    conn.close()
