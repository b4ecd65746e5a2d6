"""The tracker as one daemon of parts, driven by `bcx.daemon.run_loop` like the watcher.

`initialize` checks each exchange's products over REST, opens the store and starts the workers: one writer for
all, then per exchange its connections (one, or more where the exchange caps subscriptions per connection), each
with its own backoff, watchdog and gap tracker, and its trade backfiller; the reporter beats for `bcx status`.
`loop_once` only watches; `shutdown` stops the connections first (so every tick read reaches the writer), then
the backfillers, then the writer, which flushes every buffered tick of every connection before the deadline.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence

import redis

from bcx.candles import CandleStore
from bcx.config import Config, ExchangeConfig
from bcx.connection import connect, describe
from bcx.heartbeat import daemon_id
from bcx.series import split
from bcx.store import DEFAULT_CHUNK_ENTRIES, TickStore
from bcx.tick import MEMBER_CODEC
from bcx_tracker.backfill import CandleBackfiller, TradeBackfiller
from bcx_tracker.exchange import ExchangeRest
from bcx_tracker.exchanges import ADAPTERS
from bcx_tracker.feed import COUNTS, Feed, rotation_overlap
from bcx_tracker.gaps import candle_hole
from bcx_tracker.recorder import Recorder
from bcx_tracker.reporter import Reporter
from bcx_tracker.rest import RestError
from bcx_tracker.worker import Worker
from bcx_tracker.writer import TickWriter

log = logging.getLogger(__name__)

LONGEST_CANDLE_HOLE_MS = 30 * 86_400_000  # a longer stop is filled for its last 30 days only (~145 requests)
STOP_DEADLINE = 10.0  # seconds a TERM gives the workers to finish (the writer's last flush above all)
_WATCH_EVERY = 0.5


class StartError(Exception):
    """The tracker must not start (exit 2): the message says why."""


def by_exchange(series: Sequence[str]) -> dict[str, list[str]]:
    """Series ids -> exchange -> its canonical products, in the config's order."""
    found: dict[str, list[str]] = {}
    for one in series:
        exchange, product = split(one)
        found.setdefault(exchange, []).append(product)
    return found


def connection_groups(products: Sequence[str], cap: int | None) -> Iterator[list[str]]:
    """The products of one exchange split into connections of at most `cap` each."""
    step = cap or len(products)
    for start in range(0, len(products), step):
        yield list(products[start : start + step])


class Tracker:
    def __init__(self, config: Config, recorder: Recorder | None = None, name: str | None = None):
        self.config = config
        self.recorder = recorder
        self.name = name
        self.feeds: list[Feed] = []
        self.backfillers: dict[str, TradeBackfiller] = {}
        self.workers: list[Worker] = []  # the candle backfills
        self._retiring: dict[Feed, tuple[Feed, float]] = {}  # a connection past its age -> its successor, when
        self.rests: dict[str, ExchangeRest] = {}
        self.conn = None
        self.writer: TickWriter | None = None
        self.reporter: Reporter | None = None

    # The run_loop's three parts.

    def initialize(self) -> None:
        tracker = self.config.tracker
        wanted = by_exchange(tracker.products)
        for exchange, products in wanted.items():
            rest = self._rest(self.config.exchanges[exchange], products)
            if rest is not None:
                self.rests[exchange] = rest
        self.conn = connect(self.config.redis)
        store = open_store(self.conn, self.config)
        latest = newest_ticks(store, tracker.products)
        self.writer = TickWriter(
            store,
            batch_size=tracker.batch_size,
            flush_interval=tracker.flush_interval,
            queue_size=tracker.queue_size,
            retry_max=tracker.reconnect_max,
            buffer=tracker.buffer,
            on_written=lambda batch: store.announce({tick.product for tick in batch}),
        ).start()
        for exchange, products in wanted.items():
            self._start_exchange(self.config.exchanges[exchange], products, latest)
        self.reporter = Reporter(self.conn, self.config.redis.prefix, daemon_id("tracker", self.name), self.counters)
        self.reporter.start()
        urls = ", ".join(f"{feed.exchange} {feed.url}" for feed in self.feeds)
        log.info(
            "bcx-tracker started: %s -> %s (%s); tick members in %s",
            urls,
            describe(self.config.redis),
            self.config.path,
            MEMBER_CODEC,
        )

    def loop_once(self, now: float) -> None:
        self._rotate(time.monotonic())
        for feed in self.feeds:
            if not feed.alive and not feed.stopping:  # a bug, not a network error: say so, and carry on
                log.error("%s: the connection's thread ended; the other connections go on", feed.exchange)
                feed.stop(time.monotonic())
        time.sleep(_WATCH_EVERY)

    def shutdown(self) -> None:
        deadline = time.monotonic() + STOP_DEADLINE
        writer = self.writer
        if writer is not None:
            log.info("stopping: flushing %d buffered ticks", writer.pending)
        for group in (self.feeds, [*self.backfillers.values(), *self.workers]):
            for worker in group:
                worker.stop(deadline)
            for worker in group:
                worker.join()
        if writer is not None:
            writer.stop(deadline)
            writer.join()
        if self.reporter is not None:
            self.reporter.stop(deadline)
            self.reporter.join()
        if self.recorder is not None:
            self.recorder.close()
        if self.conn is not None:
            self.conn.close()
        self._log_summary()

    # Parts.

    def _rest(self, exchange: ExchangeConfig, products: list[str]) -> ExchangeRest | None:
        if not exchange.rest_url:
            return None
        rest = ADAPTERS[exchange.protocol].rest(exchange.rest_url)
        if rest is not None:
            check_products(rest, exchange.name, products)
        return rest

    def _start_exchange(self, exchange: ExchangeConfig, products: list[str], latest: dict) -> None:
        adapter_class = ADAPTERS[exchange.protocol]
        rest = self.rests.get(exchange.name)
        backfiller = None
        if rest is not None and adapter_class.real_trade_ids:
            backfiller = TradeBackfiller(rest, self.writer.put).start()
            self.backfillers[exchange.name] = backfiller
        if rest is not None:
            mine = {s: v for s, v in latest.items() if split(s).exchange == exchange.name}
            holes = candle_holes(mine, self.config.tracker.backfill, int(time.time() * 1000))
            if holes:
                candles = CandleStore(self.conn, self.config.redis.prefix)
                self.workers.append(CandleBackfiller(rest, candles, holes).start())
        recent = known_trades(latest, self.config.tracker.backfill)
        for group in connection_groups(products, adapter_class.max_products_per_connection):
            self.feeds.append(self._feed(exchange, group, recent).start())

    def _feed(self, exchange: ExchangeConfig, products: list[str], recent: dict[str, tuple[int, int]]) -> Feed:
        """One connection of `exchange` recording `products`; `recent`: the newest stored trades to resume from."""
        adapter = ADAPTERS[exchange.protocol](products)
        backfiller = self.backfillers.get(exchange.name)
        mine = {s: newest for s, newest in recent.items() if s in adapter.series.values()}
        return Feed(
            adapter,
            exchange.feed_url,
            self.writer.put_many,
            reconnect_max=self.config.tracker.reconnect_max,
            recorder=self.recorder,
            silence_timeout=self.config.tracker.stale_after,
            on_gap=backfiller.add if backfiller is not None else None,
            known_trades={s: trade for s, (_, trade) in mine.items()},
            known_ms={s: time_ms for s, (time_ms, _) in mine.items()},
            config=exchange,
            max_skew_ms=self.config.tracker.max_clock_skew_ms,
        )

    def _rotate(self, now: float) -> None:
        """A connection near the age its exchange ends it at gets a successor beside it; after the overlap the old
        one stops and its counters carry over. Trades of the overlap reach us twice: one entry each in the store."""
        for feed in list(self.feeds):
            if feed not in self._retiring and feed.rotation_due(now):
                successor = self._feed(feed.config, list(feed.adapter.products), {}).start()
                self.feeds.append(successor)
                self._retiring[feed] = (successor, now + rotation_overlap(feed.adapter.max_connection_age))
                log.info("%s: the connection nears its end of life: opened the next one beside it", feed.exchange)
        for feed, (successor, due) in list(self._retiring.items()):
            if now >= due:
                feed.stop(now + 5.0)
                feed.join()
                successor.stats.absorb(feed.stats)
                self.feeds.remove(feed)
                del self._retiring[feed]

    def counters(self) -> dict[str, int | str]:
        """What `bcx status` shows for a tracker: totals, then each exchange's own counts."""
        writer = self.writer
        totals: dict[str, int | str] = {
            "ticks_written": writer.written if writer else 0,
            "buffered": writer.pending if writer else 0,
            "dropped": writer.dropped if writer else 0,
            "backfilled": sum(b.backfilled for b in self.backfillers.values()),
            "backfill_failed": sum(b.failed_gaps for b in self.backfillers.values()),  # gaps REST could not fill
            "products": ",".join(self.config.tracker.products),  # which shard this is
        }
        for name in COUNTS:
            if name != "ticks":
                totals[name] = sum(getattr(feed.stats, name) for feed in self.feeds)
        for feed in self.feeds:
            stats = feed.stats
            for name in ("messages", "malformed", "reconnects", "gaps", "unconfigured"):
                key = f"{feed.exchange}:{name}"
                totals[key] = int(totals.get(key, 0)) + getattr(stats, name)
        refused = [f"{series} ({text})" for feed in self.feeds for series, text in feed.stats.refused.items()]
        if refused:
            totals["refused"] = "; ".join(refused)
        return totals

    def _log_summary(self) -> None:
        writer = self.writer
        for feed in self.feeds:
            s = feed.stats
            log.info(
                "%s: %d messages, %d ticks, %d malformed, %d stale, %d unconfigured, %d reconnects",
                feed.exchange,
                s.messages,
                s.ticks,
                s.malformed,
                s.stale,
                s.unconfigured,
                s.reconnects,
            )
        log.info(
            "bcx-tracker stopped: %d ticks written, %d backfilled, %d dropped, %d unwritten",
            writer.written if writer else 0,
            sum(b.backfilled for b in self.backfillers.values()),
            writer.dropped if writer else 0,
            writer.unwritten if writer else 0,
        )


def check_products(rest: ExchangeRest, exchange: str, products: list[str]) -> None:
    """StartError naming any product the exchange does not list; only a warning when REST cannot be reached."""
    try:
        unknown, unavailable = rest.check_products(products)
    except RestError as exc:
        log.warning("%s: cannot check the products against the REST API (%s): subscribing anyway", exchange, exc)
        return
    if unknown:
        raise StartError(
            f"{exchange}: unknown product{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} (not listed by "
            f"{rest.base_url}; one bad id can make the exchange ignore the whole subscribe)"
        )
    for product in unavailable:
        log.warning("%s:%s is listed but not trading now", exchange, product)


def newest_ticks(store: TickStore, products: Sequence[str]) -> dict[str, tuple[int, int]]:
    """Series -> (time ms, trade id) of its newest stored tick; empty when Redis does not answer."""
    try:
        latest = store.latest_many(products)
    except redis.RedisError as exc:
        log.warning("cannot read the newest stored ticks (%s): no backfill at start", exc)
        return {}
    return {product: (tick.time_ms, tick.trade_id) for product, tick in latest.items() if tick is not None}


def known_trades(
    latest: dict[str, tuple[int, int]], backfill: float, now: float | None = None
) -> dict[str, tuple[int, int]]:
    """The newest stored (time, trade id) of each series stopped recently (within `backfill`): the feed compares
    its first trades with them, so a restart leaves no hole. Longer stops are filled with candles instead."""
    now_ms = int((time.time() if now is None else now) * 1000)
    return {s: newest for s, newest in latest.items() if now_ms - newest[0] <= backfill * 1000}


def candle_holes(latest: dict[str, tuple[int, int]], backfill: float, now_ms: int) -> dict[str, tuple[int, int]]:
    """Series -> the [start, end) ms to fill with 1-minute candles: those whose newest stored tick is older than
    `backfill` (at most the last 30 days of it)."""
    return {
        p: hole
        for p, (time_ms, _) in latest.items()
        if (hole := candle_hole(time_ms, now_ms, int(backfill * 1000), LONGEST_CANDLE_HOLE_MS))
    }


def open_store(conn: redis.Redis, config: Config) -> TickStore:
    """The tick store, even when Redis is down at start: the writer buffers and retries until it is back."""
    try:
        return TickStore(conn, config.redis.prefix)
    except redis.RedisError as exc:
        log.warning(
            "Redis not answering at start (%s): buffering ticks until it does; chunks of %d entries",
            exc,
            DEFAULT_CHUNK_ENTRIES,
        )
        return TickStore(conn, config.redis.prefix, chunk_entries=DEFAULT_CHUNK_ENTRIES)
