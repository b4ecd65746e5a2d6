from __future__ import annotations

from bcx.heartbeat import beat, daemon_id, forget, read_heartbeats


def test_beats_are_listed_newest_first_with_counters(redis_conn):
    beat(redis_conn, "bcx", "tracker:a", started=100.0, now=110.0, counters={"written": 5})
    beat(redis_conn, "bcx", "watcher:b", started=100.0, now=120.0, counters={})
    first, second = read_heartbeats(redis_conn, "bcx")
    assert (first.daemon_id, second.daemon_id) == ("watcher:b", "tracker:a")
    assert second.fields["written"] == "5" and second.age(now=130.0) == 20.0
    assert 0 < redis_conn.ttl("bcx:daemon:tracker:a") <= 60


def test_forget_removes_a_daemon(redis_conn):
    ident = daemon_id("tracker")
    beat(redis_conn, "bcx", ident, started=1.0, now=2.0, counters={})
    forget(redis_conn, "bcx", ident)
    assert read_heartbeats(redis_conn, "bcx") == []
    assert daemon_id("tracker", "shard-1") == "tracker:shard-1"
