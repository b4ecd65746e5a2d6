"""The watcher loop: evaluate alert rules over every new tick, publish alerts, and trim ticks to their retention.

Per product, a cursor in Redis (SeriesKeys.watch_state) records the last tick processed, as (time_ms, trade_id),
with each rule's state beside it. A pass reads the ticks after the cursor in bounded batches, evaluates the
rules, publishes what fired, then saves cursor and states; so a restarted watcher neither misses nor repeats a
crossing. Alerts are published before the cursor moves: if the watcher dies between the two, the next one
publishes those alerts again (at least once, never lost). A tick stored after the cursor has passed its time
(a late backfill) is not evaluated.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import redis

from bcx import alerts
from bcx.backoff import backoff_delay
from bcx.config import AlertConfig, Config
from bcx.daemon import Stopper, run_loop
from bcx.keys import SeriesKeys
from bcx.store import DEFAULT_CHUNK_ENTRIES, TickStore
from bcx.tick import Tick
from bcx_watcher.rules import RuleState, evaluate_all

log = logging.getLogger(__name__)

END_MS = 2**53  # later than any tick; exact as a Redis score
BATCH_SIZE = 1000
MAX_BATCHES_PER_PASS = 20  # so one product far behind does not starve the others or the trim
STOP_CHECK_S = 0.25  # a stop is noticed within this while sleeping
BACKOFF_CAP_S = 30.0

_CURSOR_MS, _CURSOR_TRADE = "cursor_ms", "cursor_trade_id"
_RULE_FIELD = "rule:"


@dataclass(frozen=True)
class Cursor:
    """The last tick processed; ticks are processed in (time_ms, trade_id) order."""

    time_ms: int
    trade_id: int

    @classmethod
    def of(cls, tick: Tick) -> Cursor:
        return cls(tick.time_ms, tick.trade_id)


def load_watch_state(conn: redis.Redis, keys: SeriesKeys) -> tuple[Cursor | None, dict[str, RuleState]]:
    data = conn.hgetall(keys.watch_state)
    cursor = None
    if _CURSOR_MS in data and _CURSOR_TRADE in data:
        cursor = Cursor(int(data[_CURSOR_MS]), int(data[_CURSOR_TRADE]))
    states = {}
    for field, value in data.items():
        if field.startswith(_RULE_FIELD):
            try:
                states[field[len(_RULE_FIELD) :]] = RuleState.from_json(value)
            except ValueError:
                log.warning("%s: unreadable state for rule %s; starting it over", keys.watch_state, field)
    return cursor, states


def save_watch_state(conn: redis.Redis, keys: SeriesKeys, cursor: Cursor, states: Mapping[str, RuleState]) -> None:
    """One HSET, so cursor and rule states always change together."""
    mapping = {_CURSOR_MS: cursor.time_ms, _CURSOR_TRADE: cursor.trade_id}
    mapping.update({_RULE_FIELD + name: state.to_json() for name, state in states.items()})
    conn.hset(keys.watch_state, mapping=mapping)


def ticks_after(store: TickStore, product: str, cursor: Cursor | None, limit: int) -> tuple[list[Tick], bool]:
    """About `limit` ticks after the cursor in (time_ms, trade_id) order, and whether more may follow.

    The store orders ticks of one millisecond by member text, not trade id, and a batch may end partway through
    a millisecond; so the cursor's millisecond and the batch's last one are each read whole."""
    ticks: list[Tick] = []
    start = 0
    if cursor is not None:
        same_ms = store.range(product, cursor.time_ms, cursor.time_ms)
        ticks = [t for t in same_ms if t.trade_id > cursor.trade_id]
        start = cursor.time_ms + 1
    batch = store.range(product, start, END_MS, limit=limit)
    more = len(batch) >= limit
    if more:
        last_ms = batch[-1].time_ms
        batch = [t for t in batch if t.time_ms < last_ms] + store.range(product, last_ms, last_ms)
    ticks.extend(batch)
    ticks.sort(key=lambda t: (t.time_ms, t.trade_id))
    return ticks, more


def trim_cutoff(newest_ms: int, retention: float | None, cursor: Cursor | None = None) -> int | None:
    """Ticks older than this go: `retention` back from the product's newest tick (not the wall clock, so a
    replayed old file does not vanish), never past the cursor (ticks not yet evaluated stay). None: keep all."""
    if retention is None:
        return None
    cutoff = newest_ms - int(retention * 1000)
    return min(cutoff, cursor.time_ms) if cursor is not None else cutoff


def watched_products(config: Config) -> list[str]:
    """The tracked products, then any other product an alert names."""
    return list(dict.fromkeys([*config.tracker.products, *(alert.product for alert in config.alerts)]))


class Watcher:
    """`run()`: initialize, `while not stopping: loop_once(now)`, finally shutdown."""

    def __init__(
        self,
        conn: redis.Redis,
        config: Config,
        stopper: Stopper,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        batch_size: int = BATCH_SIZE,
        max_batches: int = MAX_BATCHES_PER_PASS,
    ):
        self.conn = conn
        self.config = config
        self.stopper = stopper
        self.clock = clock
        self.sleep = sleep
        self.batch_size = batch_size
        self.max_batches = max_batches
        # the watcher never writes ticks, so the chunk size is unused: skip the CONFIG GET it would cost
        self.store = TickStore(conn, config.redis.prefix, config.tracker.exchange, DEFAULT_CHUNK_ENTRIES)
        self.products = watched_products(config)
        self.rules: dict[str, list[AlertConfig]] = {}
        for alert in config.alerts:
            self.rules.setdefault(alert.product, []).append(alert)
        self.failures = 0
        self.next_trim = 0.0

    def run(self) -> None:
        run_loop(self.initialize, self.loop_once, self.shutdown, self.stopper, self.clock)

    def initialize(self) -> None:
        # nothing to connect: redis-py connects on first use, and a Redis that is down is handled by loop_once
        log.info("watching %s with %d alert rule(s)", ", ".join(self.products), len(self.config.alerts))

    def shutdown(self) -> None:
        log.info("watcher stopped")

    def loop_once(self, now: float) -> None:
        try:
            caught_up = self.run_pass(now)
        except redis.RedisError as exc:
            self.failures += 1
            delay = backoff_delay(self.failures, cap=BACKOFF_CAP_S)
            log.warning("redis error (%s); trying again in %.1fs", exc, delay)
            self.wait(delay)
            return
        if self.failures:
            log.info("redis answers again after %d failed pass(es)", self.failures)
            self.failures = 0
        if caught_up:
            self.wait(self.config.watcher.interval)

    def run_pass(self, now: float) -> bool:
        """Evaluate every product, then trim when due; True when every product is caught up."""
        cursors = {}
        caught_up = True
        for product in self.products:
            if self.stopper.stopping:
                return True
            cursors[product], done = self.watch_product(product, now)
            caught_up = caught_up and done
        if now >= self.next_trim:
            self.trim(cursors)
            self.next_trim = now + self.config.watcher.trim_interval
        return caught_up

    def watch_product(self, product: str, now: float) -> tuple[Cursor | None, bool]:
        """Process up to max_batches batches; returns the cursor and whether the product is caught up."""
        keys = self.store.keys(product)
        rules = self.rules.get(product, [])
        cursor, states = load_watch_state(self.conn, keys)
        for _ in range(self.max_batches):
            ticks, more = ticks_after(self.store, product, cursor, self.batch_size)
            if not ticks:
                return cursor, True
            cursor, states = self.process(keys, rules, states, ticks, now)
            if not more:
                return cursor, True
            if self.stopper.stopping:
                break
        return cursor, False

    def process(
        self,
        keys: SeriesKeys,
        rules: Sequence[AlertConfig],
        states: Mapping[str, RuleState],
        ticks: list[Tick],
        now: float,
    ) -> tuple[Cursor, dict[str, RuleState]]:
        """Evaluate, publish what fired, then move the cursor (in that order: see the module docstring)."""
        fired, new_states = evaluate_all(rules, states, ticks, now)
        for alert in fired:
            alerts.publish(self.conn, self.config.redis.prefix, alert, self.config.watcher.alert_stream_length)
        cursor = Cursor.of(ticks[-1])
        save_watch_state(self.conn, keys, cursor, new_states)
        return cursor, new_states

    def trim(self, cursors: Mapping[str, Cursor | None]) -> None:
        retention = self.config.watcher.retention
        if retention is None:
            return
        for product in self.products:
            newest = self.store.latest(product)
            if newest is None:
                continue
            cutoff = trim_cutoff(newest.time_ms, retention, cursors.get(product))
            removed = self.store.trim_before(product, cutoff)
            if removed:
                log.info("%s: trimmed %d tick(s) older than %d ms", product, removed, cutoff)

    def wait(self, seconds: float) -> None:
        """Sleep in short steps, so a stop is noticed within STOP_CHECK_S."""
        deadline = time.monotonic() + seconds
        while not self.stopper.stopping:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self.sleep(min(left, STOP_CHECK_S))
