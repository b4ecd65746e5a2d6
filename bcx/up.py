"""`bcx up`: the whole suite in one terminal for a first look.

Uses the configured Redis, or starts an embedded redis-server when none answers (a configured `[redis] cluster` is
always used as it is: never replaced by an embedded server); with `--replay FILE` the
tracker is fed by `bcx-replay` instead of the live exchange: by default as a live demo (the file shifted to end now,
the `--history` before now sent at once, then looping in real time, plus a few demo alert rules so the chart shows
alerts at once; the chart's URL is printed once that history is stored: bcx.up_history), or with `--speed N`
played from its own times N times faster. bcx-replay runs as a process and
says on its standard output which series it plays and where each exchange's feed is: this core package imports no
daemon's package. Every daemon runs in its own session so that
Ctrl-C reaches only `bcx up`, which then stops them in order (tracker first, so it flushes; Redis last)
with one TERM each, and kills whatever has not exited after a grace period. Closing the terminal (HUP) stops
everything the same way; if `bcx up` itself is killed (KILL, a crash), the kernel sends each child TERM (a
parent-death signal), so nothing is left holding the ports.

While it runs, a state file (bcx.up_state) points `bcx status`, `tail` and `alerts` at its run config, and its
daemons write pidfiles into its temp folder, so `bcx status` sees them running.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import redis

from bcx import up_history, up_state
from bcx.config import Config, RedisConfig, find_config, load_config, new_parser
from bcx.connection import connect, describe
from bcx.converters import positive_duration, replay_speed
from bcx.daemon import Stopper, arg_type, load_or_exit
from bcx.embedded import EmbeddedRedis, NoRedisBinary, answers, die_with_parent, free_port, port_is_free

log = logging.getLogger(__name__)

GRACE_SECONDS = 15.0
DEMO_STREAMS = 24  # event streams per bcx-web worker
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
        help="feed the tracker from a recorded JSON-lines file (bcx-replay) instead of the live exchange, "
        "played as live: shifted to end now, the --history before now recorded first, then looping in real time",
    )
    parser.add_argument(
        "--speed",
        type=arg_type(speed_text),
        help="play the file from its own times, N times real time (or max), instead of the live demo",
    )
    parser.add_argument(
        "--history",
        default="1d",
        type=arg_type(positive_duration),
        help="the live demo: how much of the replay lies before now, sent at once (default 1d)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    parser.add_argument("-q", "--quiet", action="store_true", help="log warnings and errors only")
    parser.set_defaults(run=run)


def speed_text(text: str) -> str:
    """bcx-replay's --speed check (the same converter), here, so a bad speed is a usage error before anything
    starts; the text goes on to bcx-replay."""
    replay_speed(text)
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


@dataclass(frozen=True)
class Replay:
    """What a started bcx-replay said about itself (bcx_tracker.replay.describe)."""

    series: list[str]  # exchange by exchange, Coinbase first, as the page lists them
    feeds: dict[str, tuple[str, str]]  # exchange -> (protocol, feed URL)


def read_replay_description(lines) -> Replay:
    """The lines bcx-replay prints after `listening on`: `series ...`, `feed EXCHANGE PROTOCOL URL`, `ready`."""
    series: list[str] = []
    feeds: dict[str, tuple[str, str]] = {}
    for line in lines:
        words = line.split()
        if not words or words[0] == "ready":
            break
        if words[0] == "series":
            series = words[1:]
        elif words[0] == "feed" and len(words) == 4:
            feeds[words[1]] = (words[2], words[3])
    return Replay(series, feeds)


def replay_overrides(replay: Replay) -> dict[str, dict[str, str]]:
    """The config sections that point each exchange of a recording at the replay server, REST off (a recording
    has no REST API to check products against or backfill from)."""
    overrides = {"tracker": {"products": ", ".join(replay.series)}}
    for exchange, (protocol, url) in replay.feeds.items():
        overrides[f"exchange:{exchange}"] = {"feed_url": url, "rest_url": ""}
        if exchange == "coinbase":
            overrides[f"exchange:{exchange}"]["feed"] = protocol
    return overrides


def first_prices(path: str, limit: int = 5000) -> dict[str, str]:
    """The first trade price of each Coinbase series in a recording (its plain JSON ticker lines), for the demo's
    threshold rules; other exchanges' lines start with their name and are skipped."""
    found: dict[str, str] = {}
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as lines:
        for line in itertools.islice(lines, limit):
            if not line.startswith("{"):
                continue
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if message.get("type") == "ticker" and "price" in message:
                found.setdefault(f"coinbase:{message.get('product_id')}", str(message["price"]))
    return found


def demo_rules(series: list[str], prices: dict[str, str]) -> dict[str, dict[str, str]]:
    """A few alert rules that fire on a replayed recording: a price line at each Coinbase series' first price (the
    price crosses it as the file plays, and at each loop), and a move of 0.3% within 15 minutes."""
    rules: dict[str, dict[str, str]] = {}
    for one in series:
        price = prices.get(one)
        if price is None:
            continue
        name = one.replace(":", "-").lower()
        level = str(round(float(price)))  # a round number people can read; a rule threshold, not a tick price
        rules[f"alert:demo-{name}-above"] = {"product": one, "when": f"price > {level}", "cooldown": "0s"}
        rules[f"alert:demo-{name}-moves"] = {"product": one, "when": "change >= 0.3% in 15m", "cooldown": "10m"}
    return rules


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
        self.replay_started_ms = 0.0  # wall clock: a live demo's history ends about then

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
                if args.replay and args.speed is None and not history_loaded(args, run_config, suite, stopper):
                    result = 1 if suite.exited() else 0
                else:
                    web = overrides["web"]
                    url = f"http://{web['host']}:{web['port']}/"
                    print(f"BCX is up: chart at {url}  (Ctrl-C stops everything)", flush=True)
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
        try:
            suite.redis = EmbeddedRedis(die_with_parent=True).start()
        except NoRedisBinary as missing:
            print(f"bcx up: no Redis answered at {describe(config.redis)}; {missing}", file=sys.stderr)
            return None
        overrides["redis"]["url"] = suite.redis.url
        print(
            f"no Redis answered at {describe(config.redis)}; started an embedded one at {suite.redis.url}", flush=True
        )
    if args.replay:
        replay = start_replay(suite, args.replay, args.speed, args.history)
        if not replay.series:
            print(f"bcx up: {args.replay} holds no ticker messages", file=sys.stderr)
            return None
        for section, values in replay_overrides(replay).items():
            overrides.setdefault(section, {}).update(values)
        if args.speed is None and not config.alerts:  # the live demo, and the user has no rules of their own
            overrides.update(demo_rules(replay.series, first_prices(args.replay)))
    port = config.web.port
    if not port_is_free(config.web.host, port):
        port = free_port(config.web.host)
        print(f"port {config.web.port} is busy; serving the web on {port}", flush=True)
    overrides["web"].update(host=config.web.host, port=str(port))
    # Each chart tab holds two event streams, and a closed tab's are freed only at the next heartbeat: a first look
    # opens and reloads tabs, so it gets room for a dozen of them rather than 503s.
    streams = max(config.web.sse_max_streams, DEMO_STREAMS)
    overrides["web"].update(sse_max_streams=str(streams), threads=str(max(config.web.threads, streams + 8)))
    return overrides


def cluster_answers(config: RedisConfig) -> bool:
    try:
        client = connect(config)
    except (redis.RedisError, OSError):
        return False
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


def start_replay(suite: Suite, path: str, speed: str | None, history_s: float) -> Replay:
    """bcx-replay as a process: with a speed, the file from its own times; without, the live demo (--end-now)."""
    suite.replay_started_ms = time.time() * 1000
    pace = ["--speed", speed] if speed is not None else ["--end-now", "--history", f"{int(history_s)}s"]
    process = suite.start(
        "replay", [*command("bcx-replay"), path, "--port", "0", *pace], stdout=subprocess.PIPE, text=True
    )
    line = process.stdout.readline()
    if not LISTENING.search(line):
        raise SystemExit(f"bcx up: bcx-replay did not start ({line.strip() or 'no output'})")
    return read_replay_description(iter(process.stdout.readline, ""))


def history_loaded(args: argparse.Namespace, run_config: str, suite: Suite, stopper: Stopper) -> bool:
    """The live demo: the chart's URL is shown once the history before now is stored (bcx.up_history), so the
    first page a user opens is complete; False when stopped, or a daemon died, meanwhile."""
    config = load_config(run_config)
    hours = f"{args.history / 3600:g} h" if args.history >= 3600 else f"{args.history / 60:g} min"
    print(f"loading the demo's {hours} of history before now; the chart's URL follows once it is in", flush=True)
    loaded = up_history.wait_for_history(
        config,
        list(config.tracker.products),
        args.history,
        suite.replay_started_ms,
        keep_waiting=lambda: not stopper.stopping and not suite.exited(),
        say=lambda line: print(line, flush=True),
    )
    for name, code in suite.exited():
        print(f"bcx up: {name} exited with {code}; stopping the others", file=sys.stderr, flush=True)
    return loaded


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
