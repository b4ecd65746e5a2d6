"""Tracker ingest rate, replay -> Redis: `bcx-replay --speed max` over a generated recording, one `bcx-tracker`
process pinned to one core, an embedded redis-server; prints ticks per second.

    .venv/bin/python -m bench.ingest [--hours 20] [--keep FILE]

About 10,000 ticks per generated hour (three products), so the default is ~200k ticks. The rate counts from the
tracker's start to the moment every tick of the file is in Redis. Figures vary with the machine: compare within
one run, and quote ratios.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bcx.config import RedisConfig
from bcx.connection import connect
from bcx.embedded import EmbeddedRedis
from bcx.store import TickStore
from bcx_tracker.sample import PRODUCTS, write_sample

BIN = Path(sys.executable).parent
TIMEOUT = 600.0


def pinned(core: int):
    """preexec_fn pinning a child to one core (when the machine has more than one)."""
    cores = os.sched_getaffinity(0)

    def pin() -> None:
        if len(cores) > 1:
            os.sched_setaffinity(0, {sorted(cores)[core % len(cores)]})

    return pin


def start_replay(path: Path, log) -> tuple[subprocess.Popen, str]:
    args = [str(BIN / "bcx-replay"), str(path), "--speed", "max", "-q"]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log, preexec_fn=pinned(1))
    line = process.stdout.readline().decode()
    match = re.search(r"listening on (ws://\S+)", line)
    if not match:
        raise RuntimeError(f"bcx-replay printed {line!r}")
    return process, match.group(1)


def write_config(path: Path, redis_url: str, feed_url: str, products: list[str]) -> None:
    path.write_text(
        f"[redis]\nurl = {redis_url}\n[tracker]\nfeed_url = {feed_url}\nproducts = {', '.join(products)}\n"
        # no REST: nothing may leave the machine (an unreachable local port; the tracker only warns)
        "rest_url = http://127.0.0.1:9\n[log]\nlevel = WARNING\n"
    )


def measure(path: Path, total: int, products: list[str], workdir: Path) -> float:
    with EmbeddedRedis() as server, open(workdir / "bench.log", "w") as log:
        conn = connect(RedisConfig(url=server.url, prefix="bcx", timeout=5.0))
        store = TickStore(conn, "bcx", "coinbase")
        replay, url = start_replay(path, log)
        config = workdir / "bcx.conf"
        write_config(config, server.url, url, products)
        started = time.monotonic()
        tracker = subprocess.Popen(
            [str(BIN / "bcx-tracker"), "--config", str(config)], stderr=log, preexec_fn=pinned(0)
        )
        try:
            while sum(store.count(p) for p in products) < total:
                if tracker.poll() is not None or time.monotonic() - started > TIMEOUT:
                    raise RuntimeError(f"tracker stopped or timed out; see {workdir / 'bench.log'}")
                time.sleep(0.05)
            elapsed = time.monotonic() - started
        finally:
            for process in (tracker, replay):
                process.terminate()
                process.wait(timeout=30)
            conn.close()
    return total / elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__.split("\n")[0])
    parser.add_argument("--hours", type=float, default=20.0, help="hours of generated feed (~10k ticks each)")
    args = parser.parse_args(argv)
    products = [model.product for model in PRODUCTS]
    with tempfile.TemporaryDirectory(prefix="bcx-bench-") as tmp:
        workdir = Path(tmp)
        path = workdir / "feed.jsonl"
        write_sample(path, seed=11, hours=args.hours)
        total = sum('"type":"ticker"' in line for line in path.open())
        rate = measure(path, total, products, workdir)
    print(f"{total} ticks, replay -> bcx-tracker (one core) -> redis: {rate:,.0f} ticks/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
