"""`bcx tail [SERIES ...]`: print ticks as they are stored, one line each, until Ctrl-C or TERM.

Series are named by their ids (`kraken:BTC-USD`; a bare `BTC-USD` is `coinbase:BTC-USD`), and each line shows the
series' id. It polls each series' ticks newer than the last one printed (`Printed`: that time and the trades already
printed at that time), so every tick the tracker writes in order is printed once. Ticks backfilled into the past (REST
trades older than that) are not printed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass, field

import redis

from bcx import up_state
from bcx.connection import connect, describe
from bcx.converters import series_id
from bcx.daemon import Stopper, arg_type, load_or_exit
from bcx.store import TickStore
from bcx.tick import Tick, ms_to_iso

POLL = 0.25
DESCRIPTION = "Print ticks as they are stored, one line each (Ctrl-C stops)."


def add_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add `tail` to the `bcx` command's subcommands."""
    parser = commands.add_parser("tail", help="print ticks as they are stored", description=DESCRIPTION)
    add_series_and_config(parser)
    parser.set_defaults(run=run)
    return parser


def add_series_and_config(parser: argparse.ArgumentParser) -> None:
    """`SERIES ...` (into args.products; none: the configured ones) and `--config`, as `tail` and `rank` take them."""
    parser.add_argument(
        "products",
        nargs="*",
        type=arg_type(series_id),
        metavar="SERIES",
        help="series ids like kraken:BTC-USD (a bare BTC-USD is Coinbase's); default: [tracker] products",
    )
    parser.add_argument("--config", metavar="PATH", help=up_state.CONFIG_HELP)


@dataclass
class Printed:
    """What `bcx tail` printed of a series: the newest time, and the ticks already printed at that time."""

    time_ms: int = 0
    seen: set[int] = field(default_factory=set)

    def fresh(self, ticks: list[Tick]) -> list[Tick]:
        """The ticks (in time order, none older than `time_ms`) not printed yet; records them as printed."""
        new = [t for t in ticks if t.time_ms > self.time_ms or t.trade_id not in self.seen]
        for tick in new:
            if tick.time_ms > self.time_ms:
                self.time_ms, self.seen = tick.time_ms, set()
            self.seen.add(tick.trade_id)
        return new


def format_tick(tick: Tick) -> str:
    book = f"  bid {tick.bid}  ask {tick.ask}" if tick.bid or tick.ask else "  (no book: backfilled)"
    size = f"  size {tick.size}" if tick.size else ""
    return f"{ms_to_iso(tick.time_ms)}  {tick.product}  {tick.price}{book}{size}  #{tick.trade_id}"


def run(args: argparse.Namespace) -> int:
    up_state.running_up_config(args)  # no --config: a running `bcx up` is what to look at
    config = load_or_exit(args)
    products = tuple(args.products) or config.tracker.products
    stopper = Stopper().install()
    conn = connect(config.redis)
    try:
        store = TickStore(conn, config.redis.prefix)  # asks Redis (CONFIG GET)
        printed = {p: Printed(t.time_ms if t else 0, {t.trade_id} if t else set()) for p, t in latest(store, products)}
        while not stopper.stopping:
            for product, done in printed.items():
                for tick in done.fresh(store.range(product, done.time_ms, 2**53)):
                    print(format_tick(tick), flush=True)
            time.sleep(POLL)
    except redis.RedisError as exc:
        print(f"bcx tail: redis at {describe(config.redis)}: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `bcx tail | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    finally:
        conn.close()
    return 0


def latest(store: TickStore, products: tuple[str, ...]) -> list[tuple[str, Tick | None]]:
    """Start after the newest stored tick: tail shows what comes from now on."""
    return list(store.latest_many(products).items())
