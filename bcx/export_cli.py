"""`bcx export SERIES`: a stored range of ticks or candles out to CSV, JSON lines or Parquet (bcx.export).

Data goes to --output (default `-`, standard output) and nothing else does: the progress bar and any note go to
standard error, the bar only on a terminal. A range beyond what is stored exports what exists and says so.
Exit status: 0 done, 1 Redis or file error, 2 bad arguments or nothing stored for the series.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from contextlib import nullcontext

import redis

from bcx import export, export_parquet
from bcx.connection import connect, describe
from bcx.converters import series_id
from bcx.daemon import arg_type, load_or_exit
from bcx.progress import bar
from bcx.store import TickStore

DESCRIPTION = "Write a stored range of ticks or candles as CSV, JSON lines or Parquet."


def add_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add `export` to the `bcx` command's subcommands."""
    parser = commands.add_parser("export", help="write stored ticks or candles to a file", description=DESCRIPTION)
    parser.add_argument("series", type=arg_type(series_id), metavar="SERIES", help="like kraken:BTC-USD")
    when = "unix ms, ISO 8601 (UTC unless zoned) or a duration ago like 7d"
    parser.add_argument("--start", help=f"range start: {when} (default: the oldest stored)")
    parser.add_argument("--end", help=f"range end, inclusive: {when} (default: the newest stored)")
    parser.add_argument("--what", choices=export.WHATS, default="ticks", help="ticks (default) or a candle tier")
    parser.add_argument("--format", choices=(*export.FORMATS, "parquet"), default="csv", help="default csv")
    parser.add_argument("--output", "-o", default="-", metavar="FILE", help="file to write (default -: stdout)")
    parser.add_argument("--config", metavar="PATH", help="config file (default: $BCX_CONFIG, /etc/bcx/bcx.conf)")
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    if args.format == "parquet" and not export_parquet.available():
        print("bcx export: --format parquet needs pyarrow: pip install 'bcx[parquet]'", file=sys.stderr)
        return 2
    config = load_or_exit(args)
    conn = connect(config.redis)
    try:
        exporter = export.Exporter(TickStore(conn, config.redis.prefix).chunks, config.redis.prefix)
        return _export(args, exporter)
    except redis.RedisError as exc:
        print(f"bcx export: redis at {describe(config.redis)}: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"bcx export: {exc}", file=sys.stderr)
        return 1
    finally:
        conn.close()


def _export(args: argparse.Namespace, exporter: export.Exporter) -> int:
    extent = exporter.extent(args.series, args.what)
    if extent is None:
        print(f"bcx export: no {args.what} of {args.series} are stored", file=sys.stderr)
        return 2
    try:
        now_ms = time.time_ns() // 1_000_000
        start = export.parse_when(args.start, now_ms) if args.start else extent[0]
        end = export.parse_when(args.end, now_ms) if args.end else extent[1]
    except ValueError as exc:
        print(f"bcx export: {exc}", file=sys.stderr)
        return 2
    if start > end:
        print(f"bcx export: --start ({start}) is after --end ({end})", file=sys.stderr)
        return 2
    note = export.coverage_note(args.series, args.what, start, end, extent)
    if note:
        print(f"bcx export: {note}", file=sys.stderr)
    total = exporter.count(args.series, args.what, start, end)
    batches = exporter.batches(args.series, args.what, start, end)
    to_stdout = args.output == "-"
    with nullcontext(sys.stdout.buffer) if to_stdout else open(args.output, "wb") as out:
        # no bar over data written to the same terminal
        progress = bar(total, "rows", args.series, hidden=to_stdout and sys.stdout.isatty())
        try:
            written = _write(args, batches, out, progress.update)
        except BrokenPipeError:  # `bcx export ... | head`
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
        finally:
            progress.close()
    if not to_stdout:
        print(f"bcx export: {written} rows of {args.series} to {args.output}", file=sys.stderr)
    return 0


def _write(args: argparse.Namespace, batches, out, on_rows) -> int:
    if args.format == "parquet":
        return export_parquet.write(args.what, batches, out, on_rows)
    out.write(export.header(args.what, args.format))
    written = 0
    for rows in batches:
        out.write(export.encode(args.what, args.format, rows))
        written += len(rows)
        on_rows(len(rows))
    out.flush()
    return written
