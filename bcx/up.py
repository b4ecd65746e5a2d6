"""`bcx up`: the whole suite in one terminal for a first look.

Uses the configured Redis, or starts an embedded redis-server when none answers (a configured `[redis] cluster` is
always used as it is: never replaced by an embedded server); with `--replay FILE` the
tracker is fed by `bcx-replay` instead of the live exchange. Every daemon runs in its own session so that
Ctrl-C reaches only `bcx up`, which then stops them in order (tracker first, so it flushes; Redis last)
with one TERM each, and kills whatever has not exited after a grace period. Closing the terminal (HUP) stops
everything the same way; if `bcx up` itself is killed (KILL, a crash), the kernel sends each child TERM (a
parent-death signal), so nothing is left holding the ports.

While it runs, a state file (bcx.up_state) points `bcx status`, `tail` and `alerts` at its run config, and its
daemons write pidfiles into its temp folder, so `bcx status` sees them running.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

from bcx import up_state
from bcx.config import Config, RedisConfig, find_config, new_parser
from bcx.connection import LazyClient, describe
from bcx.daemon import Stopper, load_or_exit
from bcx.embedded import EmbeddedRedis, answers, die_with_parent, free_port, port_is_free

log = logging.getLogger(__name__)

GRACE_SECONDS = 15.0
LISTENING = re.compile(r"listening on (ws://\S+)")


def add_parser(commands) -> None:
    parser = commands.add_parser("up", help="run Redis (if needed), tracker, watcher and web in one terminal")
    parser.add_argument(
        "--config",
        metavar="PATH",
        help="config file (default: $BCX_CONFIG, /etc/bcx/bcx.conf, else the packaged default)",
    )
    parser.add_argument(
        "--replay",
        metavar="FILE",
        help="feed the tracker from a recorded JSON-lines file "
        "(bcx-replay) instead of the live exchange; records the products the file holds",
    )
    parser.add_argument(
        "--speed", default="10", type=replay_speed, help="replay speed: N times real time, or max (default 10)"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    parser.add_argument("-q", "--quiet", action="store_true", help="log warnings and errors only")
    parser.set_defaults(run=run)


def replay_speed(text: str) -> str:
    """bcx-replay's own --speed check, here, so a bad speed is a usage error before anything starts."""
    from bcx_tracker.replay import parse_speed  # raises argparse.ArgumentTypeError with bcx-replay's message

    parse_speed(text)
    return text.strip()


def command(name: str) -> list[str]:
    """A console script of this installation: beside the running interpreter, else on the PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return [str(beside)]
    found = shutil.which(name)
    if not found:
        raise SystemExit(f"bcx up: cannot find the {name} command; is BCX installed?")
    return [found]


def products_in_file(path: str) -> list[str]:
    """Series ids of the playable lines of a recording (trades, books, heartbeats), exchange by exchange in the
    order bcx.series lists them (so the page lists Coinbase first), each exchange's in order of first appearance."""
    from bcx.series import EXCHANGES, split
    from bcx_tracker.recorder import read_entries

    seen = list(dict.fromkeys(entry.product for entry in read_entries(path)))
    return sorted(seen, key=lambda series: EXCHANGES.index(split(series).exchange))


def replay_overrides(url: str, products: list[str]) -> dict[str, dict[str, str]]:
    """The config sections that point each exchange of a recording at the replay server, REST off (a recording
    has no REST API to check products against or backfill from)."""
    from bcx.series import split
    from bcx_tracker.exchanges import replay_path

    overrides = {"tracker": {"products": ", ".join(products)}}
    for exchange in dict.fromkeys(split(p).exchange for p in products):
        protocol = "coinbase-exchange" if exchange == "coinbase" else exchange
        overrides[f"exchange:{exchange}"] = {"feed_url": url + replay_path(protocol), "rest_url": ""}
        if exchange == "coinbase":
            overrides[f"exchange:{exchange}"]["feed"] = protocol
    return overrides


def write_run_config(source: str, overrides: dict[str, dict[str, str]], directory: str) -> str:
    """A copy of the user's config with the values `bcx up` decided (Redis URL, feed URL, web port)."""
    parser = new_parser()
    parser.read(source, encoding="utf-8")
    for section, values in overrides.items():
        if not parser.has_section(section):
            parser.add_section(section)
        for key, value in values.items():
            parser.set(section, key, value)
    path = os.path.join(directory, "bcx-up.conf")
    with open(path, "w", encoding="utf-8") as handle:
        parser.write(handle)
    return path


class Suite:
    """The child processes of one `bcx up`, started in order and stopped in reverse."""

    def __init__(self) -> None:
        self.children: list[tuple[str, subprocess.Popen]] = []
        self.redis: EmbeddedRedis | None = None

    def start(self, name: str, args: list[str], **popen) -> subprocess.Popen:
        process = subprocess.Popen(args, start_new_session=True, preexec_fn=die_with_parent, **popen)
        self.children.append((name, process))
        log.info("started %s (pid %s)", name, process.pid)
        return process

    def exited(self) -> list[tuple[str, int]]:
        return [(name, p.returncode) for name, p in self.children if p.poll() is not None]

    def stop(self) -> int:
        """TERM each child, newest first except the tracker, which goes first to flush into a live Redis."""
        order = sorted(reversed(self.children), key=lambda item: item[0] != "tracker")
        worst = 0
        for name, process in order:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            try:
                code = process.wait(timeout=GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop within %ss; killing it", name, GRACE_SECONDS)
                process.kill()
                code = process.wait()
            log.info("%s exited with %s", name, code)
            worst = worst or (code if code not in (0, -signal.SIGTERM) else 0)
        if self.redis:
            self.redis.stop()
            log.info("stopped the embedded redis-server")
        return worst


def run(args: argparse.Namespace) -> int:
    config = load_or_exit(args)
    if args.replay and not os.path.isfile(args.replay):  # before starting anything
        print(f"bcx up: {args.replay}: no such file", file=sys.stderr)
        return 2
    # a second Ctrl-C must not orphan the daemons; closing the terminal (HUP) stops everything too
    stopper = Stopper(exit_on_second=False).install(stop_on_hup=True)
    suite = Suite()
    result = 1
    state = None
    with tempfile.TemporaryDirectory(prefix="bcx-up-") as workdir:
        try:
            overrides = prepare(args, config, suite)
            if overrides is not None and not stopper.stopping:
                run_config = write_run_config(str(find_config(args.config)), overrides, workdir)
                state = up_state.announce(run_config, workdir)
                for name in ("tracker", "watcher", "web"):
                    pidfile = os.path.join(workdir, f"bcx-{name}.pid")  # where `bcx status` looks (up_state)
                    suite.start(name, [*command(f"bcx-{name}"), "--config", run_config, "--pidfile", pidfile])
                web = overrides["web"]
                print(f"BCX is up: chart at http://{web['host']}:{web['port']}/  (Ctrl-C stops everything)", flush=True)
                result = supervise(suite, stopper)
        finally:
            if state is not None:
                up_state.withdraw(state)
            stopped = suite.stop()
            print("BCX stopped", flush=True)
    return result or stopped


def prepare(args: argparse.Namespace, config: Config, suite: Suite) -> dict[str, dict[str, str]] | None:
    overrides: dict[str, dict[str, str]] = {"redis": {}, "tracker": {}, "web": {}}
    if config.redis.cluster:
        if not cluster_answers(config.redis):
            print(f"bcx up: no node of the Redis Cluster answered ({describe(config.redis)})", file=sys.stderr)
            return None
        log.info("using the Redis Cluster at %s", describe(config.redis))
    elif answers(config.redis.url):
        log.info("using the Redis at %s", describe(config.redis))
    else:
        suite.redis = EmbeddedRedis(die_with_parent=True).start()
        overrides["redis"]["url"] = suite.redis.url
        print(
            f"no Redis answered at {describe(config.redis)}; started an embedded one at {suite.redis.url}", flush=True
        )
    if args.replay:
        products = products_in_file(args.replay)
        if not products:
            print(f"bcx up: {args.replay} holds no ticker messages", file=sys.stderr)
            return None
        for section, values in replay_overrides(start_replay(suite, args.replay, args.speed), products).items():
            overrides.setdefault(section, {}).update(values)
    port = config.web.port
    if not port_is_free(config.web.host, port):
        port = free_port(config.web.host)
        print(f"port {config.web.port} is busy; serving the web on {port}", flush=True)
    overrides["web"].update(host=config.web.host, port=str(port))
    return overrides


def cluster_answers(config: RedisConfig) -> bool:
    client = LazyClient(config)
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        if client._client is not None:
            client.close()


def start_replay(suite: Suite, path: str, speed: str) -> str:
    process = suite.start(
        "replay",
        [*command("bcx-replay"), path, "--port", "0", "--speed", speed],
        stdout=subprocess.PIPE,
        text=True,
    )
    line = process.stdout.readline()
    match = LISTENING.search(line)
    if not match:
        raise SystemExit(f"bcx up: bcx-replay did not start ({line.strip() or 'no output'})")
    return match.group(1)


def supervise(suite: Suite, stopper: Stopper) -> int:
    """Wait for Ctrl-C or TERM; if a daemon dies on its own, say so and stop the rest."""
    while not stopper.stopping:
        dead = suite.exited()
        if dead:
            for name, code in dead:
                print(f"bcx up: {name} exited with {code}; stopping the others", file=sys.stderr, flush=True)
            return 1
        time.sleep(0.2)
    return 0
