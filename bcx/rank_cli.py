"""`bcx rank [SERIES ...] [--window 24h] [--by change]`: the rankings table of /api/v1.0/rankings in the terminal.

Reads the store directly (stored 1m candles, raw ticks for the open minute, through bcx.candle_source) and
computes the rows with bcx.analytics, so it needs Redis, not a running bcx-web. The window ends at the newest tick
of the series named.
"""

from __future__ import annotations

import argparse
import sys
import time

import redis

from bcx import analytics, up_state
from bcx.candle_source import read_candles
from bcx.candles import CandleStore
from bcx.connection import connect, describe
from bcx.daemon import load_or_exit
from bcx.store import TickStore
from bcx.tail_cli import add_series_and_config
from bcx.tick import ms_to_iso

DESCRIPTION = "Rank the recorded series over a window by change, volatility, volume, range or activity."
COLUMNS = ("series", "last", "change %", "volatility", "annualized", "volume", "range %", "activity", "full")


def add_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add `rank` to the `bcx` command's subcommands."""
    parser = commands.add_parser("rank", help="print the rankings table", description=DESCRIPTION)
    add_series_and_config(parser)
    parser.add_argument("--window", choices=tuple(analytics.WINDOWS), default="24h")
    parser.add_argument("--by", choices=analytics.RANK_BY, default="change", help="sort by (largest first)")
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    up_state.running_up_config(args)
    config = load_or_exit(args)
    products = tuple(dict.fromkeys(args.products)) or config.tracker.products
    conn = connect(config.redis)
    try:
        ticks, candles = TickStore(conn, config.redis.prefix), CandleStore(conn, config.redis.prefix)
        stored = config.watcher.candles
        newest = [t.time_ms for t in ticks.latest_many(products).values() if t]
        end = max(newest) if newest else int(time.time() * 1000)
        window_ms = analytics.WINDOWS[args.window]
        start = analytics.window_start(end, window_ms)
        rows = []
        for product in products:
            minutes = read_candles(candles, ticks, product, analytics.MINUTE_MS, start, end, stored).candles
            oldest = ticks.extent(product, stored)[0]
            rows.append(analytics.ranking(product, minutes, end, window_ms, oldest is not None and oldest <= start))
    except redis.RedisError as exc:
        print(f"bcx rank: redis at {describe(config.redis)}: {exc}", file=sys.stderr)
        return 1
    finally:
        conn.close()
    print(f"{args.window} from {ms_to_iso(start)} to {ms_to_iso(end)}, by {args.by}")
    print(table(analytics.sort_rankings(rows, args.by)))
    return 0


def table(rows: list[analytics.Ranking]) -> str:
    """Aligned columns, numbers to the right; `-` for a figure the series has no data for."""
    cells = [COLUMNS] + [cells_of(row) for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    return "\n".join(
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(line, widths, strict=True))
        )
        for line in cells
    )


def cells_of(row: analytics.Ranking) -> tuple[str, ...]:
    def shown(value) -> str:
        return "-" if value is None else str(value)

    return (
        row.series,
        shown(row.last),
        shown(row.change_pct),
        shown(row.volatility),
        shown(row.volatility_annualized),
        shown(row.volume),
        shown(row.range_pct),
        shown(row.activity),
        "yes" if row.complete else "no",
    )
