"""`bcx-tracker`: records the exchange's ticker into Redis until TERM or INT, then flushes and exits 0."""

from __future__ import annotations

import logging
import sys
import threading
import time
from dataclasses import replace

import redis

from bcx.candles import CandleStore
from bcx.config import Config
from bcx.connection import connect, describe
from bcx.converters import byte_size, positive_int, product_list
from bcx.daemon import EXIT_CONFIG, Stopper, arg_type, base_parser, load_or_exit
from bcx.detach import run_as_service
from bcx.heartbeat import daemon_id
from bcx.store import DEFAULT_CHUNK_ENTRIES, TickStore
from bcx_tracker import rest as rest_api
from bcx_tracker.backfill import TradeBackfiller, backfill_candles, terminal
from bcx_tracker.feed import ADAPTERS, Feed
from bcx_tracker.gaps import candle_hole
from bcx_tracker.recorder import DEFAULT_KEEP, DEFAULT_MAX_BYTES, Recorder
from bcx_tracker.reporter import Reporter
from bcx_tracker.writer import TickWriter

log = logging.getLogger(__name__)

LONGEST_CANDLE_HOLE_MS = 30 * 86_400_000  # a longer stop is filled for its last 30 days only (~145 requests)


class StartError(Exception):
    """The tracker must not start (exit 2): the message says why."""


def main(argv: list[str] | None = None) -> int:
    parser = base_parser("bcx-tracker", "Record the Coinbase Exchange ticker into Redis.")
    parser.add_argument("--record", metavar="FILE", help="also append every raw feed message to FILE (JSON lines)")
    parser.add_argument(
        "--record-max-size",
        metavar="SIZE",
        type=arg_type(byte_size),
        default=DEFAULT_MAX_BYTES,
        help="rotate the recording past this size, uncompressed (default 64mb)",
    )
    parser.add_argument(
        "--record-keep",
        metavar="N",
        type=arg_type(positive_int),
        default=DEFAULT_KEEP,
        help="rotated recordings to keep (default 5)",
    )
    shard = parser.add_argument_group("sharding: several trackers, each with its own products, against one Redis")
    shard.add_argument(
        "--products",
        type=arg_type(product_list),
        metavar="LIST",
        help="record these (BTC-USD, ETH-USD) instead of [tracker] products",
    )
    shard.add_argument("--name", metavar="NAME", help="this tracker's name in `bcx status` (default: host:pid)")
    args = parser.parse_args(argv)
    config = load_or_exit(args)
    if args.products:
        config = replace(config, tracker=replace(config.tracker, products=args.products))
    with run_as_service(args, config) as stopper:  # --daemon, --pidfile, --user
        try:
            recorder = Recorder(args.record, args.record_max_size, args.record_keep) if args.record else None
            run(config, stopper, recorder=recorder, name=args.name)
        except StartError as exc:
            print(f"bcx-tracker: {exc}", file=sys.stderr)
            return EXIT_CONFIG
    return 0


def run(config: Config, stopper: Stopper, recorder: Recorder | None = None, name: str | None = None) -> None:
    """The tracker on `config` until `stopper` says stop; usable in-process (no signal handling here)."""
    tracker = config.tracker
    rest = rest_api.RestClient(tracker.rest_url) if tracker.rest_url else None
    if rest is not None:
        check_products(rest, tracker.products)
    conn = connect(config.redis)
    store = open_store(conn, config)
    latest = newest_ticks(store, tracker.products)
    writer = TickWriter(
        store,
        batch_size=tracker.batch_size,
        flush_interval=tracker.flush_interval,
        queue_size=tracker.queue_size,
        retry_max=tracker.reconnect_max,
        buffer=tracker.buffer,
        on_written=lambda batch: store.announce({tick.product for tick in batch}),
    ).start()
    exchange_feed = tracker.feed == "coinbase-exchange"
    backfiller = TradeBackfiller(rest, writer.put).start() if rest is not None and exchange_feed else None
    if rest is not None:
        start_candle_backfill(rest, CandleStore(conn, config.redis.prefix, tracker.exchange), latest, tracker.backfill)
    feed = Feed(
        tracker.feed_url,
        tracker.products,
        writer.put_many,
        stopper,
        reconnect_max=tracker.reconnect_max,
        recorder=recorder,
        silence_timeout=tracker.stale_after,
        adapter=ADAPTERS[tracker.feed],
        on_gap=backfiller.add if backfiller is not None else None,
        known_trades=known_trades(latest, tracker.backfill) if exchange_feed else None,
        max_skew_ms=int(tracker.max_clock_skew * 1000),
    )
    reporter = Reporter(
        conn,
        config.redis.prefix,
        daemon_id("tracker", name),
        lambda: counters(feed, writer, backfiller, tracker.products),
    )
    reporter.start()
    log.info("bcx-tracker started: %s -> %s (%s)", tracker.feed_url, describe(config.redis), config.path)
    try:
        feed.run()
    finally:
        if stopper.signal_name:
            log.info("stopping on %s: flushing %d buffered ticks", stopper.signal_name, writer.pending)
        if backfiller is not None:
            backfiller.close()
        writer.close()
        reporter.close()
        if recorder is not None:
            recorder.close()
        conn.close()
        stats = feed.stats
        log.info(
            "bcx-tracker stopped: %d messages, %d ticks written, %d malformed, %d stale, %d reconnects, "
            "%d backfilled, %d dropped, %d unwritten",
            stats.messages,
            writer.written,
            stats.malformed,
            stats.stale,
            stats.reconnects,
            backfiller.backfilled if backfiller else 0,
            writer.dropped,
            writer.unwritten,
        )


def counters(
    feed: Feed, writer: TickWriter, backfiller: TradeBackfiller | None, products: tuple[str, ...] = ()
) -> dict[str, int | str]:
    """What `bcx status` shows for a tracker."""
    stats = feed.stats
    return {
        "messages": stats.messages,
        "ticks_written": writer.written,
        "malformed": stats.malformed,
        "unconfigured": stats.unconfigured,
        "stale": stats.stale,
        "reconnects": stats.reconnects,
        "exchange_errors": stats.exchange_errors,
        "gaps": stats.gaps,
        "backfilled": backfiller.backfilled if backfiller else 0,
        "buffered": writer.pending,
        "dropped": writer.dropped,
        "products": ",".join(products),  # which shard this is
    }


def check_products(rest: rest_api.RestClient, products: tuple[str, ...]) -> None:
    """StartError naming any product the exchange does not list; only a warning when REST cannot be reached."""
    try:
        listed = rest.products()
    except rest_api.RestError as exc:
        log.warning("cannot check the products against the REST API (%s): subscribing anyway", exc)
        return
    unknown = rest_api.unknown_products(products, listed)
    if unknown:
        raise StartError(
            f"unknown product{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} (not listed by "
            f"{rest.base_url}/products; one bad id makes the exchange ignore the whole subscribe)"
        )
    for product in rest_api.unavailable_products(products, listed):
        log.warning("%s is listed but not trading now", product)


def newest_ticks(store: TickStore, products: tuple[str, ...]) -> dict[str, tuple[int, int]]:
    """Product -> (time ms, trade id) of its newest stored tick; empty when Redis does not answer."""
    try:
        latest = store.latest_many(products)
    except redis.RedisError as exc:
        log.warning("cannot read the newest stored ticks (%s): no backfill at start", exc)
        return {}
    return {product: (tick.time_ms, tick.trade_id) for product, tick in latest.items() if tick is not None}


def known_trades(latest: dict[str, tuple[int, int]], backfill: float, now: float | None = None) -> dict[str, int]:
    """The last stored trade id of each product stopped recently (within `backfill`): the feed compares its first
    trades with them, so a restart leaves no hole. Longer stops are filled with candles instead."""
    now_ms = int((time.time() if now is None else now) * 1000)
    return {p: trade_id for p, (time_ms, trade_id) in latest.items() if now_ms - time_ms <= backfill * 1000}


def start_candle_backfill(
    rest: rest_api.RestClient, candles: CandleStore, latest: dict[str, tuple[int, int]], backfill: float
) -> None:
    """Fill each product's hole (newest stored tick older than `backfill`) with REST 1-minute candles, on a
    thread of its own: the feed starts at once."""
    now_ms = int(time.time() * 1000)
    holes = {
        p: hole
        for p, (time_ms, _) in latest.items()
        if (hole := candle_hole(time_ms, now_ms, int(backfill * 1000), LONGEST_CANDLE_HOLE_MS))
    }
    if not holes:
        return

    def fill() -> None:
        for product, hole in holes.items():
            try:
                written = backfill_candles(rest, candles, product, hole, terminal())
            except (rest_api.RestError, redis.RedisError) as exc:
                log.warning("candle backfill of %s stopped: %s", product, exc)
                continue
            log.info("backfilled %d 1-minute candles of %s", written, product)

    threading.Thread(target=fill, name="bcx-candle-backfill", daemon=True).start()


def open_store(conn: redis.Redis, config: Config) -> TickStore:
    """The tick store, even when Redis is down at start: the writer buffers and retries until it is back."""
    try:
        return TickStore(conn, config.redis.prefix, config.tracker.exchange)
    except redis.RedisError as exc:
        log.warning(
            "Redis not answering at start (%s): buffering ticks until it does; chunks of %d entries",
            exc,
            DEFAULT_CHUNK_ENTRIES,
        )
        return TickStore(conn, config.redis.prefix, config.tracker.exchange, chunk_entries=DEFAULT_CHUNK_ENTRIES)


if __name__ == "__main__":
    sys.exit(main())
