"""`bcx status`: is BCX up? Each daemon's pid and uptime (its pidfile), its last heartbeat in Redis, the age of
the newest tick per series (by series id, `kraken:BTC-USD`), Redis's memory. Exits 1 when something is down, so
it works as a health check.

A daemon is down when its pidfile names a process that is gone, when it has beaten before but has been silent
longer than --max-silence (alive but stuck), or when it has neither a live pidfile nor a fresh heartbeat (it
may run on another host: then its heartbeat is what counts). A daemon that never beats is judged by its pid.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import redis
from redis.cluster import RedisCluster

from bcx import up_state
from bcx.config import Config
from bcx.connection import connect, describe
from bcx.converters import duration
from bcx.daemon import load_or_exit
from bcx.heartbeat import EXPIRE_AFTER, DaemonHeartbeat, read_heartbeats
from bcx.pidfile import ABSENT, DEAD, PidState, pid_state
from bcx.store import DEFAULT_CHUNK_ENTRIES, TickStore

ROLES = ("tracker", "watcher", "web")
DEFAULT_PID_DIR = "/run/bcx"
EXIT_DOWN = 1
HEARTBEAT_FIELDS = ("pid", "host", "started", "heartbeat", "products")  # the rest of a heartbeat are counters


@dataclass(frozen=True)
class DaemonReport:
    name: str
    state: str  # running, absent (no pidfile), dead (pidfile of a gone process)
    pid: int | None
    uptime: float | None
    heartbeat_age: float | None  # None: never beat (or not with this pid)
    problem: str | None


@dataclass(frozen=True)
class Report:
    redis_url: str
    redis_error: str | None
    used_memory: int | None
    daemons: list[DaemonReport]
    tick_ages: dict[str, float | None]  # series id -> seconds since its newest tick (None: no tick yet)
    problems: list[str]
    beating: list[dict] = field(default_factory=list)  # every daemon with a live heartbeat: id, age, products

    @property
    def ok(self) -> bool:
        return not self.problems


def judge_daemon(
    name: str, pid: PidState, heartbeat: DaemonHeartbeat | None, now: float, max_silence: float, pidfile: str
) -> DaemonReport:
    age = heartbeat.age(now) if heartbeat else None
    fresh = heartbeat is not None and bool(heartbeat.fields) and age is not None and age <= max_silence
    problem = None
    if pid.state == DEAD:
        problem = f"dead: {pidfile} holds pid {pid.pid}, which is gone"
    elif heartbeat is not None and not fresh:
        problem = f"no heartbeat for {format_seconds(age)}"
    elif pid.state == ABSENT and not fresh:
        problem = f"not running (no {pidfile}, no heartbeat)"
    return DaemonReport(name, pid.state, pid.pid, pid.uptime(now), age, problem)


def heartbeat_of(role: str, pid: int | None, heartbeats: list[DaemonHeartbeat]) -> DaemonHeartbeat | None:
    """The heartbeat of the process in the pidfile if it beats, else the role's newest (another host's)."""
    mine = [hb for hb in heartbeats if hb.daemon_id.startswith(f"{role}:")]
    if pid is not None:
        same = [hb for hb in mine if hb.fields.get("pid") == str(pid)]
        return same[0] if same else None
    return mine[0] if mine else None


def build_report(
    config: Config,
    roles: list[str],
    pids: dict[str, PidState],
    pid_dir: str,
    heartbeats: list[DaemonHeartbeat],
    latest_ms: dict[str, float | None],
    used_memory: int | None,
    redis_error: str | None,
    now: float,
    max_silence: float,
    max_tick_age: float | None,
) -> Report:
    """Pure: what the collected facts mean."""
    daemons = []
    for role in roles:
        pidfile = str(Path(pid_dir) / f"bcx-{role}.pid")
        heartbeat = heartbeat_of(role, pids[role].pid, heartbeats)
        daemons.append(judge_daemon(role, pids[role], heartbeat, now, max_silence, pidfile))
    problems = [f"{d.name}: {d.problem}" for d in daemons if d.problem]
    if redis_error:
        problems.insert(0, f"redis: {redis_error}")
    tick_ages = {p: None if ms is None else max(0.0, now - ms / 1000) for p, ms in latest_ms.items()}
    if max_tick_age is not None and not redis_error:
        for product, age in tick_ages.items():
            if age is None or age > max_tick_age:
                seen = "no tick yet" if age is None else f"newest tick {format_seconds(age)} old"
                problems.append(f"ticks: {product}: {seen}")
    beating = [
        {
            "id": hb.daemon_id,
            "heartbeat_age": hb.age(now),
            "products": hb.fields.get("products", ""),
            "counters": {k: v for k, v in hb.fields.items() if k not in HEARTBEAT_FIELDS},
        }
        for hb in heartbeats
        if hb.fields
    ]
    return Report(describe(config.redis), redis_error, used_memory, daemons, tick_ages, problems, beating)


def collect(config: Config, roles: list[str], pid_dir: str, now: float, **limits) -> Report:
    """The I/O: pidfiles, then one short look at Redis (heartbeats, newest ticks, memory)."""
    pids = {role: pid_state(Path(pid_dir) / f"bcx-{role}.pid") for role in roles}
    heartbeats: list[DaemonHeartbeat] = []
    latest_ms: dict[str, float | None] = {p: None for p in config.tracker.products}
    used_memory = redis_error = None
    conn = connect(config.redis)
    try:
        heartbeats = read_heartbeats(conn, config.redis.prefix)
        store = TickStore(conn, config.redis.prefix, chunk_entries=DEFAULT_CHUNK_ENTRIES)
        latest = store.latest_many(list(config.tracker.products))
        latest_ms = {p: None if tick is None else tick.time_ms for p, tick in latest.items()}
        used_memory = memory_used(conn)
    except (redis.RedisError, OSError) as exc:
        redis_error = f"{describe(config.redis)}: {exc}"
    finally:
        conn.close()
    return build_report(config, roles, pids, pid_dir, heartbeats, latest_ms, used_memory, redis_error, now, **limits)


def memory_used(conn: redis.Redis | RedisCluster) -> int:
    """used_memory of the server, or the sum over a cluster's primaries."""
    if isinstance(conn, RedisCluster):
        per_node = conn.info("memory", target_nodes=RedisCluster.PRIMARIES)
        return sum(int(info["used_memory"]) for info in per_node.values())
    return int(conn.info("memory")["used_memory"])


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}d{hours:02d}h"
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def format_bytes(size: int | None) -> str:
    if size is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def render_text(report: Report) -> str:
    redis_line = f"down: {report.redis_error}" if report.redis_error else f"up, {format_bytes(report.used_memory)} used"
    lines = [f"redis     {redis_line}"]
    for d in report.daemons:
        beat = "never beat" if d.heartbeat_age is None else f"heartbeat {format_seconds(d.heartbeat_age)} ago"
        if d.problem:
            lines.append(f"{d.name:<9} DOWN     {d.problem}; {beat}")
        elif d.state == "running":
            lines.append(f"{d.name:<9} running  pid {d.pid}, up {format_seconds(d.uptime)}; {beat}")
        else:
            lines.append(f"{d.name:<9} elsewhere  no pidfile here; {beat}")
    ticks = ", ".join(
        f"{p} {format_seconds(a)} ago" if a is not None else f"{p} none" for p, a in report.tick_ages.items()
    )
    for hb in report.beating:  # every instance, e.g. tracker shards on several hosts
        shard = f"; products {hb['products']}" if hb["products"] else ""
        lines.append(f"  {hb['id']}  heartbeat {format_seconds(hb['heartbeat_age'])} ago{shard}")
        if hb["counters"]:  # the tracker's messages, ticks written, malformed, ...; the watcher's passes, alerts, ...
            lines.append("    " + ", ".join(f"{name} {value}" for name, value in sorted(hb["counters"].items())))
    lines.append(f"ticks     {ticks or '-'}")
    lines.append("status    ok" if report.ok else "status    DOWN: " + "; ".join(report.problems))
    return "\n".join(lines)


def render_json(report: Report) -> str:
    return json.dumps({**asdict(report), "ok": report.ok}, sort_keys=True)


def role(text: str) -> str:
    if text not in ROLES:
        raise argparse.ArgumentTypeError(f"{text!r} is not one of {', '.join(ROLES)}")
    return text


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("status", help="is BCX up? daemons, heartbeats, tick ages, Redis memory")
    parser.add_argument("daemons", nargs="*", type=role, metavar="DAEMON", help="only these: tracker, watcher, web")
    parser.add_argument("--config", metavar="PATH", help=up_state.CONFIG_HELP)
    parser.add_argument(
        "--pid-dir", help=f"where the pidfiles are (default: a running bcx up's, else {DEFAULT_PID_DIR})"
    )
    parser.add_argument(
        "--max-silence",
        type=duration,
        default=float(EXPIRE_AFTER),
        metavar="DURATION",
        help=f"a daemon that beat before but not for this long is down (default {EXPIRE_AFTER}s)",
    )
    parser.add_argument(
        "--max-tick-age",
        type=duration,
        metavar="DURATION",
        help="also down when a configured series' newest tick is older than this (e.g. 2m); default: not checked",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    running = up_state.running_up_config(args)  # no --config: a running `bcx up` is what to look at
    if args.pid_dir is None:
        args.pid_dir = running.pid_dir if running is not None else DEFAULT_PID_DIR
    config = load_or_exit(args)
    roles = list(dict.fromkeys(args.daemons)) or list(ROLES)
    report = collect(
        config, roles, args.pid_dir, time.time(), max_silence=args.max_silence, max_tick_age=args.max_tick_age
    )
    print(render_json(report) if args.json else render_text(report), flush=True)
    return 0 if report.ok else EXIT_DOWN


if __name__ == "__main__":
    from bcx.cli import main

    sys.exit(main(["status", *sys.argv[1:]]))
