"""`bcx import FILE`: load a `--record` recording (any exchange; `.gz` too) into Redis (bcx_tracker.importer).

Exit status: 0 every line imported, 1 some lines skipped as malformed or the file unreadable past a line (every
whole line before it is stored; the message names the line), or Redis failing; 2 bad arguments.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys

import redis

from bcx.connection import connect, describe
from bcx.daemon import load_or_exit
from bcx.progress import bar
from bcx_tracker.import_writer import ProcessWriter
from bcx_tracker.importer import Parsers, import_lines, open_recording, recorded_products

DESCRIPTION = "Load a recording made by bcx-tracker --record into Redis, without a websocket."


def add_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add `import` to the `bcx` command's subcommands."""
    parser = commands.add_parser("import", help="load a recording into Redis", description=DESCRIPTION)
    parser.add_argument("file", metavar="FILE", help="a recording (JSON lines, .gz for gzip)")
    parser.add_argument("--config", metavar="PATH", help="config file (default: $BCX_CONFIG, /etc/bcx/bcx.conf)")
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    if not os.path.isfile(args.file):
        print(f"bcx import: {args.file}: no such file", file=sys.stderr)
        return 2
    config = load_or_exit(args)
    protocols = {name: exchange.protocol for name, exchange in config.exchanges.items()}
    conn = connect(config.redis)
    progress = None
    try:
        conn.ping()  # a Redis that is away is said before the file is read
        writer = ProcessWriter(config.redis, config.redis.prefix)  # forked: before the bar's thread starts
        progress = bar(os.path.getsize(args.file), "B", os.path.basename(args.file), unit_scale=True)
        with open_recording(args.file) as (lines, position):

            def read_to() -> None:
                progress.update(position() - progress.n)

            parsers = Parsers(protocols, functools.partial(recorded_products, args.file))
            result = import_lines(lines, parsers, writer.put, read_to)
            read_to()
        result.new = writer.close()
    except redis.RedisError as exc:
        print(f"bcx import: redis at {describe(config.redis)}: {exc}", file=sys.stderr)
        return 1
    finally:
        if progress is not None:
            progress.close()
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
