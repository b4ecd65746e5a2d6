"""`bcx import FILE`: load a `--record` recording (any exchange; `.gz` too) into Redis (bcx_tracker.importer).

Exit status: 0 every line imported, 1 some lines skipped as malformed or the file unreadable past a line (every
whole line before it is stored; the message names the line), or Redis failing; 2 bad arguments.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import sys
import time
from collections.abc import Iterator, Mapping

import redis

from bcx.config import RedisConfig
from bcx.connection import connect, describe
from bcx.daemon import load_or_exit
from bcx.progress import bar
from bcx_tracker.import_workers import ImportWorkers, WorkerFailed
from bcx_tracker.importer import ImportResult, NumberedLines, open_recording
from bcx_tracker.tick_checks import TickChecks

DESCRIPTION = "Load a recording made by bcx-tracker --record into Redis, without a websocket."


def add_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add `import` to the `bcx` command's subcommands."""
    parser = commands.add_parser("import", help="load a recording into Redis", description=DESCRIPTION)
    parser.add_argument("file", metavar="FILE", help="a recording (JSON lines, .gz for gzip)")
    parser.add_argument("--config", metavar="PATH", help="config file (default: $BCX_CONFIG, /etc/bcx/bcx.conf)")
    parser.set_defaults(run=run)
    return parser


@contextlib.contextmanager
def settled_collector() -> Iterator[None]:
    """What is loaded by now stays out of every collection (gc.freeze), and collections come far less often: each line
    makes a dozen objects and no cycles, while a collection of the older generations walks the batches of ticks waiting
    to be written (measured: 10-15% less CPU per tick; the workers inherit this when forked). Restored after, for a
    caller that goes on (the tests run `bcx` in process)."""
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def import_file(path: str, config: RedisConfig, protocols: Mapping[str, str], checks: TickChecks) -> ImportResult:
    """Every line of the recording dealt out to the workers, which parse and write it, with a progress bar on a
    terminal; redis.RedisError when writing failed, WorkerFailed when a worker died."""
    with open_recording(path) as (lines, position):

        def read_to() -> None:
            progress.update(position() - progress.n)

        # forked: before the bar's thread starts
        workers = ImportWorkers(config, path, protocols, checks, on_batch=read_to)
        progress = bar(os.path.getsize(path), "B", os.path.basename(path), unit_scale=True)
        try:
            numbered = NumberedLines(lines)
            workers.take(numbered)
            result = workers.close()
            read_to()
        finally:
            progress.close()
            workers.stop()
    result.lines, result.stopped = numbered.count, numbered.stopped
    return result


def run(args: argparse.Namespace) -> int:
    if not os.path.isfile(args.file):
        print(f"bcx import: {args.file}: no such file", file=sys.stderr)
        return 2
    config = load_or_exit(args)
    protocols = {name: exchange.protocol for name, exchange in config.exchanges.items()}
    conn = connect(config.redis)
    try:
        conn.ping()  # a Redis that is away is said before the file is read
        with settled_collector():
            checks = TickChecks(int(time.time() * 1000), config.tracker.max_clock_skew_ms)
            result = import_file(args.file, config.redis, protocols, checks)
    except redis.RedisError as exc:
        print(f"bcx import: redis at {describe(config.redis)}: {exc}", file=sys.stderr)
        return 1
    except WorkerFailed as exc:
        print(f"bcx import: {args.file}: {exc}", file=sys.stderr)
        return 1
    finally:
        conn.close()
    print(
        f"bcx import: {args.file}: {result.lines} lines, {result.ticks} ticks, {result.new} new "
        f"({result.ticks - result.new} already stored), {result.stale} stale dropped",
        file=sys.stderr,
    )
    if result.bad:
        shown = ", ".join(map(str, result.bad_lines))
        print(f"bcx import: {result.bad} malformed lines skipped (line {shown})", file=sys.stderr)
    if result.stopped:
        line, why = result.stopped
        print(f"bcx import: {args.file}: unreadable at line {line} ({why}): stopped there", file=sys.stderr)
    return 1 if result.bad or result.stopped else 0
