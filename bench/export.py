"""History in and out: `bcx export` of 1,000,000 ticks to CSV, and `bcx import` beside the websocket path.

    .venv/bin/python -m bench.export [--ticks 1000000] [--hours 24] [--rounds 3] [--only-import]

- export: one series of `--ticks` raw ticks (bench.history's generator) in an embedded redis-server; `bcx export`
  to CSV as a process, over the first tenth of them and over all: ticks/s and the process's peak RSS (flat as the
  range grows: rows are read a round of chunks at a time), plus the in-process rate of Exporter + encode alone;
- import: one generated recording (bcx_tracker.sample.write_sample, Coinbase's three products, ~7,100 ticks an
  hour) loaded by `bcx import` as a process, beside bench.ingest's end to end (bcx-replay --speed max ->
  bcx-tracker -> Redis) over the same file in the same run, the two alternating `--rounds` times: ticks/s, the
  ratio of each round and their median, and the CPU per tick of the tracker, of the import (parser and writer)
  and of the import's redis-server (user + system over the whole run, start included).

Figures vary with the machine: compare within one run.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple

from bcx import export
from bcx.config import RedisConfig
from bcx.connection import connect
from bcx.embedded import EmbeddedRedis
from bcx.store import TickStore
from bcx_tracker.sample import PRODUCTS, write_sample
from bench.history import END, HOUR, hour_of_ticks
from bench.ingest import cpu_seconds, end_to_end_cpu, recorded_ticks

SERIES = "coinbase:BTC-USD"
RATE = 100  # ticks a second: 360,000 an hour
# hour_of_ticks stops at bench.history's END: start three hours before its hour (1,083,750 ticks there)
START_MS = END - END % HOUR - 3 * HOUR


def fill(conn, count: int) -> list[int]:
    """`count` ticks of SERIES from START_MS; returns their times at each tenth (the export ranges' ends)."""
    store, rng, price = TickStore(conn, "bcx"), random.Random(3), Decimal("1000.00")
    written, trade_id, hour_ms, times = 0, 1, START_MS, []
    while written < count:
        batch, price = hour_of_ticks(SERIES, hour_ms, RATE, trade_id, rng, price)
        if not batch:
            raise ValueError(f"at most {written} ticks before bench.history's END")
        batch = batch[: count - written]
        for first in range(0, len(batch), 5000):
            store.add(batch[first : first + 5000])
        times += [t.time_ms for t in batch[:: max(1, count // 1000)]]
        written, trade_id, hour_ms = written + len(batch), trade_id + len(batch), hour_ms + HOUR
    return [*times, batch[-1].time_ms]


def config_file(workdir: Path, url: str) -> Path:
    path = workdir / "bcx.conf"
    path.write_text(f"[redis]\nurl = {url}\n\n[tracker]\nproducts = {SERIES}\n")
    return path


# The command run in a child that prints its own peak RSS (VmHWM: per address space, so new at exec, unlike
# ru_maxrss, which keeps the forking parent's size across exec).
_MEASURED = (
    "import re, sys; from bcx.cli import main; code = main(sys.argv[1:]); "
    "peak = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1); "
    "print('peak_kb', peak, file=sys.stderr); sys.exit(code)"
)


def run_measured(args: list[str]) -> tuple[float, int, float]:
    """Run `bcx ARGS` in a child; returns its wall seconds, its peak RSS in kB and the CPU seconds (user + system)
    of it and the children it waited for (the import's writer)."""
    before = children_cpu()
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", _MEASURED, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.monotonic() - started
    err = done.stderr.decode()
    if done.returncode != 0:
        raise RuntimeError(f"bcx {args[0]} failed: {err[-500:]}")
    return elapsed, int(err.rsplit("peak_kb ", 1)[1].split()[0]), children_cpu() - before


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def export_figures(count: int, workdir: Path) -> list[tuple[str, int, float, int]]:
    with EmbeddedRedis() as server:
        conn = connect(RedisConfig(url=server.url, prefix="bcx", timeout=30.0))
        print(f"writing {count:,} ticks ...", file=sys.stderr)
        times = fill(conn, count)
        config = config_file(workdir, server.url)
        rows = []
        for share, end in (("a tenth", times[len(times) // 10]), ("all", times[-1])):
            ticks = TickStore(conn, "bcx").chunks.count_range(TickStore(conn, "bcx").keys(SERIES).ticks, 0, end)
            command = ["export", SERIES, "--end", str(end), "--output", str(workdir / "out.csv")]
            elapsed, rss, _ = run_measured([*command, "--config", str(config)])
            rows.append((f"bcx export to CSV, {share}", ticks, ticks / elapsed, rss))
        exporter = export.Exporter(TickStore(conn, "bcx").chunks, "bcx")
        started, seen = time.monotonic(), 0
        with open(os.devnull, "wb") as out:
            for batch in exporter.batches(SERIES, "ticks", 0, times[-1]):
                out.write(export.encode("ticks", "csv", batch))
                seen += len(batch)
        rows.append(("Exporter + encode alone, in process", seen, seen / (time.monotonic() - started), 0))
        conn.close()
    return rows


class ImportRound(NamedTuple):
    websocket: float  # ticks/s end to end
    imported: float  # ticks/s of bcx import
    rss_kb: int
    tracker_cpu: float  # us per tick, user + system over the whole run, start included
    import_cpu: float  # the import's parser and writer
    redis_cpu: float  # the import's redis-server


def import_rounds(hours: float, rounds: int, workdir: Path) -> tuple[int, list[ImportRound]]:
    """The end to end path and `bcx import` over one recording, one after the other, `rounds` times: on a shared
    machine the load moves between two runs a minute apart, and alternating shows by how much."""
    products = [f"coinbase:{model.product}" for model in PRODUCTS]
    path = workdir / "feed.jsonl"
    write_sample(path, seed=11, hours=hours, exchanges=["coinbase"])
    ticks = recorded_ticks(path, products)
    per_tick = 1e6 / len(ticks)
    results = []
    for _ in range(rounds):
        websocket, tracker_cpu = end_to_end_cpu(path, ticks, products, workdir)
        with EmbeddedRedis() as server:
            config = config_file(workdir, server.url)
            redis_before = cpu_seconds(server.process.pid)
            elapsed, rss, cpu = run_measured(["import", str(path), "--config", str(config)])
            redis_cpu = cpu_seconds(server.process.pid) - redis_before
            conn = connect(RedisConfig(url=server.url, prefix="bcx", timeout=30.0))
            stored = sum(TickStore(conn, "bcx").count(p) for p in products)
            conn.close()
        if stored != len(ticks):
            raise RuntimeError(f"bcx import stored {stored} ticks of {len(ticks)}")
        results.append(
            ImportRound(websocket, len(ticks) / elapsed, rss, tracker_cpu, cpu * per_tick, redis_cpu * per_tick)
        )
    return len(ticks), results


def print_import(count: int, results: list[ImportRound]) -> None:
    print(f"\nbcx import beside the end to end path (bcx-replay --speed max -> bcx-tracker -> redis), {count:,} ticks")
    print(
        f"{'round':<7}{'end to end/s':>14}{'import/s':>11}{'ratio':>8}{'peak RSS':>10}"
        f"{'CPU us/tick: tracker':>22}{'import':>8}{'its redis':>11}"
    )
    for number, r in enumerate(results, 1):
        print(
            f"{number:<7}{r.websocket:>14,.0f}{r.imported:>11,.0f}{r.imported / r.websocket:>7.2f}x"
            f"{r.rss_kb / 1024:>7.0f} MB{r.tracker_cpu:>22.1f}{r.import_cpu:>8.1f}{r.redis_cpu:>11.1f}"
        )
    ratios = sorted(r.imported / r.websocket for r in results)
    print(
        f"import / websocket path: median {statistics.median(ratios):.2f}x (of {', '.join(f'{x:.2f}' for x in ratios)})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.export", description=__doc__.split("\n")[0])
    parser.add_argument("--ticks", type=int, default=1_000_000, help="ticks stored for the export")
    parser.add_argument("--hours", type=float, default=24.0, help="hours of generated feed for the import")
    parser.add_argument("--rounds", type=int, default=3, help="end to end and import, alternating, this many times")
    parser.add_argument("--only-import", action="store_true", help="the import figures alone")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bcx-bench-") as tmp:
        rows = [] if args.only_import else export_figures(args.ticks, Path(tmp))
        count, rounds = import_rounds(args.hours, args.rounds, Path(tmp))
    if rows:
        print(f"{'path':<62}{'ticks':>11}{'ticks/s':>11}{'peak RSS':>11}")
        for name, ticks, rate, rss in rows:
            print(f"{name:<62}{ticks:>11,}{rate:>11,.0f}{f'{rss / 1024:.0f} MB' if rss else '':>11}")
    print_import(count, rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
