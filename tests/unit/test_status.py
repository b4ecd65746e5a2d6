from __future__ import annotations

import json

from bcx.config import load_config
from bcx.heartbeat import DaemonHeartbeat
from bcx.pidfile import ABSENT, DEAD, RUNNING, PidState
from bcx.status import build_report, format_seconds, heartbeat_of, judge_daemon, render_json, render_text

NOW = 1_000_000.0
RUNNING_PID = PidState(RUNNING, 42, NOW - 3600)


def beat(role: str, pid: int, age: float, expired: bool = False) -> DaemonHeartbeat:
    return DaemonHeartbeat(f"{role}:host:{pid}", NOW - age, {} if expired else {"pid": str(pid)})


def judge(pid: PidState, heartbeat: DaemonHeartbeat | None):
    return judge_daemon("tracker", pid, heartbeat, NOW, max_silence=60, pidfile="/run/bcx/bcx-tracker.pid")


def test_running_with_a_fresh_heartbeat_or_none_is_up():
    up = judge(RUNNING_PID, beat("tracker", 42, age=2))
    assert up.problem is None and up.uptime == 3600 and up.heartbeat_age == 2
    assert judge(RUNNING_PID, None).problem is None  # a daemon that never beats is judged by its pid


def test_down_when_dead_silent_or_nowhere():
    assert "holds pid 42, which is gone" in judge(PidState(DEAD, 42, NOW - 10), None).problem
    assert judge(RUNNING_PID, beat("tracker", 42, age=61)).problem == "no heartbeat for 1m01s"  # alive but stuck
    assert judge(RUNNING_PID, beat("tracker", 42, age=5, expired=True)).problem.startswith("no heartbeat")
    assert judge(PidState(ABSENT, None, None), None).problem.startswith("not running")
    # no pidfile here, but beating on another host: up
    assert judge(PidState(ABSENT, None, None), beat("tracker", 7, age=1)).problem is None


def test_heartbeat_of_matches_the_pidfile_process():
    beats = [beat("tracker", 7, age=1), beat("tracker", 42, age=2), beat("watcher", 42, age=1)]
    assert heartbeat_of("tracker", 42, beats).fields["pid"] == "42"
    assert heartbeat_of("tracker", None, beats).fields["pid"] == "7"  # newest first
    assert heartbeat_of("tracker", 99, beats) is None
    assert heartbeat_of("web", None, beats) is None


def report(**overrides):
    args = {
        "config": load_config(),
        "roles": ["tracker", "web"],
        "pids": {"tracker": RUNNING_PID, "web": RUNNING_PID},
        "pid_dir": "/run/bcx",
        "heartbeats": [],
        "latest_ms": {"coinbase:BTC-USD": (NOW - 5) * 1000, "kraken:BTC-USD": None},
        "used_memory": 2_000_000,
        "redis_error": None,
        "now": NOW,
        "max_silence": 60.0,
        "max_tick_age": None,
    }
    return build_report(**{**args, **overrides})


def test_report_ok_and_rendered():
    ok = report()
    assert ok.ok and ok.tick_ages == {"coinbase:BTC-USD": 5.0, "kraken:BTC-USD": None}
    text = render_text(ok)
    assert "1.9 MiB used" in text and text.endswith("status    ok")
    assert "ticks     coinbase:BTC-USD 5.0s ago, kraken:BTC-USD none" in text
    assert json.loads(render_json(ok))["ok"] is True


def test_report_down_on_redis_or_old_ticks():
    down = report(redis_error="connection refused", used_memory=None)
    assert not down.ok and down.problems[0] == "redis: connection refused"
    stale = report(max_tick_age=3.0)
    assert stale.problems == ["ticks: coinbase:BTC-USD: newest tick 5.0s old", "ticks: kraken:BTC-USD: no tick yet"]
    assert report(max_tick_age=10.0, latest_ms={"coinbase:BTC-USD": (NOW - 5) * 1000}).ok


def test_format_seconds():
    assert [format_seconds(s) for s in (None, 0.25, 59, 61, 3 * 3600 + 120, 2 * 86400 + 3600)] == [
        "-",
        "0.2s",
        "59.0s",
        "1m01s",
        "3h02m",
        "2d01h",
    ]


def test_each_daemon_shows_its_counters():
    tracker = DaemonHeartbeat(
        "tracker:shard-a",
        NOW - 2,
        {
            "pid": "42",
            "host": "h",
            "started": "1",
            "heartbeat": "2",
            "products": "BTC-USD",
            "malformed": "3",
            "ticks_written": "1200",
        },
    )
    shown = report(heartbeats=[tracker])
    (entry,) = shown.beating
    assert entry["counters"] == {"malformed": "3", "ticks_written": "1200"}
    assert "    malformed 3, ticks_written 1200" in render_text(shown).splitlines()
    assert json.loads(render_json(shown))["beating"][0]["counters"]["malformed"] == "3"
