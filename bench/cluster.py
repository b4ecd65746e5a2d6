"""Ingest into a Redis Cluster: one tracker with all three products vs three tracker shards with one each.

    .venv/bin/python -m bench.cluster [--hours 6]

Self-contained: a local 3-master EmbeddedCluster, a generated recording of three products (~10k ticks per hour),
`bcx-replay --speed max`, and `bcx-tracker` processes (`--products`). The rate counts from the trackers' start to
the moment every tick of the file is in the cluster; the cluster is flushed between the two runs. No process is
pinned: on a machine with fewer cores than processes (replay, trackers, three redis-servers) the shards share them,
which is what the ratio shows. Compare within one run and quote the ratio.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

from bcx.config import RedisConfig
from bcx.connection import connect
from bcx.embedded import EmbeddedCluster
from bcx.store import TickStore
from bcx_tracker.sample import PRODUCTS, write_sample
from bench.ingest import BIN, TIMEOUT, start_replay

PREFIX = "bcx"


def write_config(path: Path, cluster: str, feed_url: str) -> None:
    path.write_text(
        f"[redis]\ncluster = {cluster}\n[exchange:coinbase]\nfeed_url = {feed_url}\n"
        "rest_url = http://127.0.0.1:9\n"  # no REST: nothing leaves the machine
        "[tracker]\nproducts = BTC-USD\n[log]\nlevel = WARNING\n"
    )


def measure(cluster: EmbeddedCluster, path: Path, total: int, shards: list[list[str]], workdir: Path) -> float:
    for host, port in cluster.addresses:
        with redis.Redis(host=host, port=port) as node:
            node.flushall()
    conn = connect(RedisConfig(url="", prefix=PREFIX, timeout=5.0, cluster=tuple(cluster.addresses)))
    store = TickStore(conn, PREFIX)
    products = [p for shard in shards for p in shard]
    with open(workdir / "bench.log", "a") as log:
        replay, url = start_replay(path, log)
        config = workdir / "bcx.conf"
        write_config(config, cluster.spec, url)
        started = time.monotonic()
        trackers = [
            subprocess.Popen(
                [str(BIN / "bcx-tracker"), "--config", str(config), "--products", ", ".join(shard)], stderr=log
            )
            for shard in shards
        ]
        try:
            while sum(store.count(p) for p in products) < total:
                if any(t.poll() is not None for t in trackers) or time.monotonic() - started > TIMEOUT:
                    raise RuntimeError(f"a tracker stopped or timed out; see {workdir / 'bench.log'}")
                time.sleep(0.05)
            elapsed = time.monotonic() - started
        finally:
            for process in (*trackers, replay):
                process.terminate()
                process.wait(timeout=30)
            conn.close()
    return total / elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cluster", description=__doc__.split("\n")[0])
    parser.add_argument("--hours", type=float, default=6.0, help="hours of generated feed (~10k ticks each)")
    args = parser.parse_args(argv)
    products = [model.product for model in PRODUCTS]
    with tempfile.TemporaryDirectory(prefix="bcx-bench-") as tmp, EmbeddedCluster(masters=3) as cluster:
        workdir = Path(tmp)
        path = workdir / "feed.jsonl"
        write_sample(path, seed=11, hours=args.hours)
        total = sum('"type":"ticker"' in line for line in path.open())
        one = measure(cluster, path, total, [products], workdir)
        three = measure(cluster, path, total, [[p] for p in products], workdir)
    print(f"{total} ticks of {len(products)} products, replay -> bcx-tracker -> 3-master Redis Cluster")
    print(f"1 tracker, all products:      {one:>9,.0f} ticks/s")
    print(f"3 trackers, one product each: {three:>9,.0f} ticks/s")
    print(f"ratio 3/1: {three / one:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
