"""`bcx-tracker`: records the exchange's ticker into Redis until TERM or INT, then flushes and exits 0."""

from __future__ import annotations

import logging
import sys

import redis

from bcx.config import Config
from bcx.connection import connect
from bcx.daemon import Stopper, base_parser, load_or_exit
from bcx.detach import run_as_service
from bcx.store import DEFAULT_CHUNK_ENTRIES, TickStore
from bcx_tracker.feed import Feed
from bcx_tracker.recorder import Recorder
from bcx_tracker.writer import TickWriter

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> int:
    parser = base_parser("bcx-tracker", "Record the Coinbase Exchange ticker into Redis.")
    parser.add_argument("--record", metavar="FILE", help="also append every raw feed message to FILE (JSON lines)")
    args = parser.parse_args(argv)
    config = load_or_exit(args)
    with run_as_service(args, config) as stopper:  # --daemon, --pidfile, --user
        run(config, stopper, record=args.record)
    return 0


def run(config: Config, stopper: Stopper, record: str | None = None) -> None:
    """The tracker on `config` until `stopper` says stop; usable in-process (no signal handling here)."""
    conn = connect(config.redis)
    writer = TickWriter(
        open_store(conn, config),
        batch_size=config.tracker.batch_size,
        flush_interval=config.tracker.flush_interval,
        queue_size=config.tracker.queue_size,
        retry_max=config.tracker.reconnect_max,
    ).start()
    recorder = Recorder(record) if record else None
    feed = Feed(
        config.tracker.feed_url,
        config.tracker.products,
        writer.put,
        stopper,
        reconnect_max=config.tracker.reconnect_max,
        recorder=recorder,
    )
    log.info("bcx-tracker started: %s -> %s (%s)", config.tracker.feed_url, _safe_url(config.redis.url), config.path)
    try:
        feed.run()
    finally:
        if stopper.signal_name:
            log.info("stopping on %s: flushing %d buffered ticks", stopper.signal_name, writer.pending)
        writer.close()
        if recorder is not None:
            recorder.close()
        conn.close()
        stats = feed.stats
        log.info(
            "bcx-tracker stopped: %d messages, %d ticks written, %d malformed, %d stale, %d reconnects, "
            "%d dropped, %d unwritten",
            stats.messages,
            writer.written,
            stats.malformed,
            stats.stale,
            stats.reconnects,
            writer.dropped,
            writer.unwritten,
        )


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


def _safe_url(url: str) -> str:
    """The Redis URL without a password, for the log."""
    if "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"


if __name__ == "__main__":
    sys.exit(main())
