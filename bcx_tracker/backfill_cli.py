"""`bcx backfill SERIES --since 90d [--what trades|candles]`: fill a series' history from its exchange's REST API.

Trades (exact ticks without bid and ask) where the exchange pages them (Coinbase by id, Kraken by time), 1-minute
candles where it does not or when asked. Resumable: a run stopped by an error, Ctrl-C or a 429 that outlasts its
retries keeps its cursor in Redis, and the same command continues it (bcx_tracker.history_backfill).
Exit status: 0 done, 1 stopped (run it again to continue), 2 bad arguments or not supported by the exchange.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time

import redis

from bcx.candles import CandleStore
from bcx.connection import connect, describe
from bcx.converters import duration, series_id
from bcx.daemon import Stopper, arg_type, load_or_exit
from bcx.progress import bar
from bcx.series import split
from bcx.store import TickStore
from bcx.tick import ms_to_iso
from bcx_tracker import history_backfill as hb
from bcx_tracker.exchange import ExchangeRest, TradesNotPaged
from bcx_tracker.exchanges import ADAPTERS
from bcx_tracker.rest import RestError

DESCRIPTION = "Fill a series' history from its exchange's REST API (trades, or 1-minute candles); resumable."


def add_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add `backfill` to the `bcx` command's subcommands."""
    parser = commands.add_parser("backfill", help="fill history from the exchange's REST API", description=DESCRIPTION)
    parser.add_argument("series", type=arg_type(series_id), metavar="SERIES", help="like kraken:BTC-USD")
    parser.add_argument("--since", type=arg_type(duration), default="1d", help="how far back, like 90d (default 1d)")
    parser.add_argument(
        "--what",
        choices=(hb.TRADES, hb.CANDLES),
        help="trades (default where the exchange pages them) or 1-minute candles",
    )
    parser.add_argument("--config", metavar="PATH", help="config file (default: $BCX_CONFIG, /etc/bcx/bcx.conf)")
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    config = load_or_exit(args)
    exchange = config.exchanges.get(split(args.series).exchange)
    rest = ADAPTERS[exchange.protocol].rest(exchange.rest_url) if exchange and exchange.rest_url else None
    if rest is None:
        print(f"bcx backfill: {args.series}: no REST API configured for its exchange (rest_url)", file=sys.stderr)
        return 2
    # Ctrl-C stops after the page in flight, its ticks and position saved; the handlers go back afterwards (the
    # command may run inside another program, a test session say)
    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    stopper = Stopper().install()
    conn = connect(config.redis)
    try:
        return _backfill(args, rest, conn, config.redis.prefix, config.tracker.max_clock_skew_ms, stopper)
    except redis.RedisError as exc:
        print(f"bcx backfill: redis at {describe(config.redis)}: {exc}", file=sys.stderr)
        return 1
    finally:
        conn.close()
        for signum, handler in handlers.items():
            signal.signal(signum, handler)


def _backfill(args, rest: ExchangeRest, conn: redis.Redis, prefix: str, skew_ms: int, stopper: Stopper) -> int:
    now_ms = time.time_ns() // 1_000_000
    since_ms = now_ms - int(args.since * 1000)
    what = args.what or hb.TRADES
    while True:
        walk, resumed = hb.resume(hb.load_walk(conn, prefix, args.series), what, since_ms, now_ms)
        if resumed:
            print(f"bcx backfill: {args.series}: resuming from {_where(walk)}", file=sys.stderr)
        try:
            _walk(args.series, rest, conn, prefix, skew_ms, walk, stopper)
        except TradesNotPaged as exc:
            if args.what is None and what == hb.TRADES:
                print(f"bcx backfill: {exc}: fetching 1-minute candles instead", file=sys.stderr)
                what = hb.CANDLES
                continue
            print(f"bcx backfill: {exc}", file=sys.stderr)
            return 2
        except RestError as exc:
            print(
                f"bcx backfill: {args.series}: stopped at {_where(walk)}: {exc}\n"
                "the position is kept: run the same command again to continue",
                file=sys.stderr,
            )
            return 1
        break
    if not walk.done:
        print(f"bcx backfill: {args.series}: stopped at {_where(walk)}; run it again to continue", file=sys.stderr)
        return 1
    print(f"bcx backfill: {args.series}: done, {walk.count} {what} since {ms_to_iso(walk.since_ms)}", file=sys.stderr)
    if walk.refused:
        print(
            f"bcx backfill: {args.series}: {walk.refused} trades refused by the tracker's tick checks (a time ahead "
            "of the clock or before 2009, a trade id above 2**53, a field too long to store): not stored",
            file=sys.stderr,
        )
        return 1
    return 0


def _walk(
    series: str, rest: ExchangeRest, conn: redis.Redis, prefix: str, skew_ms: int, walk: hb.Walk, stopper: Stopper
) -> None:
    hours = (walk.end_ms - walk.since_ms) / 3_600_000
    progress = bar(round(hours, 2), "h", f"{series} {walk.what}", bar_format=_FORMAT)
    started, first_count = time.monotonic(), walk.count

    def on_page(walk: hb.Walk) -> None:
        rate = (walk.count - first_count) / max(time.monotonic() - started, 1e-3)
        progress.n = round(min(walk.covered_ms / 3_600_000, hours), 2)
        progress.set_postfix_str(f"{walk.count} {walk.what}, {rate:,.0f}/s", refresh=False)
        progress.refresh()

    def save(walk: hb.Walk) -> None:
        hb.save_walk(conn, prefix, series, walk)

    try:
        if walk.what == hb.TRADES:
            step = hb.trades_step(rest, TickStore(conn, prefix), series, skew_ms)
        else:
            step = hb.candles_step(rest, CandleStore(conn, prefix), series)
        hb.run(walk, step, save, lambda: stopper.stopping, on_page)
    finally:
        progress.close()


_FORMAT = "{desc}: {percentage:3.0f}%|{bar}| {n:.1f}/{total:.1f} h covered [{elapsed}<{remaining}, {postfix}]"


def _where(walk: hb.Walk) -> str:
    if walk.what == hb.CANDLES:
        return ms_to_iso(int(walk.cursor)) if walk.cursor else "the start"
    if not walk.count:
        return "the start"
    return f"{walk.count} trades stored, {ms_to_iso(walk.low_ms)} .. {ms_to_iso(walk.high_ms)}"
