"""The watcher loop: evaluate alert rules over every new tick, publish alerts, compact ticks into candles and
trim every tier to its retention (bcx_watcher.history), for the products whose lease it holds (bcx_watcher.lease).

Per product, a cursor in Redis (SeriesKeys.watch_state) records the last tick processed, as (time_ms, trade_id),
with each rule's state beside it. A pass reads the ticks after the cursor in bounded batches, evaluates the
rules, publishes what fired, then saves cursor and states; so a restarted watcher neither misses nor repeats a
crossing. Alerts are published before the cursor moves: if the watcher dies between the two, the next one
publishes those alerts again (at least once, never lost). A tick stored after the cursor has passed its time
(a late backfill) is not evaluated by the rules (it is compacted into its candle, though).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

import redis

from bcx import alerts, heartbeat
from bcx.backoff import backoff_delay
from bcx.candle_source import read_candles
from bcx.candles import CandleStore, bucket_start
from bcx.config import AlertConfig, Config
from bcx.daemon import Stopper, run_loop
from bcx.keys import SeriesKeys
from bcx.rule_grammar import ACTIVITY_BUCKET_MS, ActivityRule, CrossSpreadRule
from bcx.store import DEFAULT_CHUNK_ENTRIES, TickStore
from bcx.tick import RAW, Cursor, Tick
from bcx_watcher.history import History
from bcx_watcher.lease import Leases
from bcx_watcher.rules import NO_CONTEXT, RuleContext, RuleState, current_state, evaluate_all
from bcx_watcher.webhook import WebhookSender

log = logging.getLogger(__name__)

END_MS = 2**53  # later than any tick; exact as a Redis score
BATCH_SIZE = 1000
MAX_BATCHES_PER_PASS = 20  # so one product far behind does not starve the others or the trim
STOP_CHECK_S = 0.25  # a stop is noticed within this while sleeping
BACKOFF_CAP_S = 30.0
HEARTBEAT_S = 5.0

_CURSOR_MS, _CURSOR_TRADE = "cursor_ms", "cursor_trade_id"
_RULE_FIELD = "rule:"


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


def save_watch_state(
    conn: redis.Redis, keys: SeriesKeys, cursor: Cursor | None, states: Mapping[str, RuleState]
) -> None:
    """One HSET, so cursor and rule states always change together."""
    mapping: dict = {} if cursor is None else {_CURSOR_MS: cursor.time_ms, _CURSOR_TRADE: cursor.trade_id}
    mapping.update({_RULE_FIELD + name: state.to_json() for name, state in states.items()})
    if not mapping:
        return
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
        ident: str | None = None,
    ):
        self.conn = conn
        self.config = config
        self.stopper = stopper
        self.clock = clock
        self.sleep = sleep
        self.batch_size = batch_size
        self.max_batches = max_batches
        prefix = config.redis.prefix
        # no CONFIG GET for the chunk size here (Redis may be down at start): DEFAULT_CHUNK_ENTRIES
        self.store = TickStore(conn, prefix, DEFAULT_CHUNK_ENTRIES)
        self.history = History(
            conn, self.store, CandleStore(conn, prefix, DEFAULT_CHUNK_ENTRIES), config.watcher.candles
        )
        self.ident = ident or heartbeat.daemon_id("watcher")
        self.leases = Leases(conn, self.ident, config.watcher.lease)
        self.webhook = WebhookSender(config.watcher.webhook) if config.watcher.webhook else None
        self.products = watched_products(config)
        self.rules: dict[str, list[AlertConfig]] = {}
        for alert in config.alerts:
            self.rules.setdefault(alert.product, []).append(alert)
        self.failures = 0
        self.next_trim = 0.0
        self.next_beat = 0.0
        self.started = clock()
        self.counters = {"passes": 0, "alerts_published": 0, "candles_written": 0, "ticks_trimmed": 0}

    def run(self) -> None:
        run_loop(self.initialize, self.loop_once, self.shutdown, self.stopper, self.clock)

    def initialize(self) -> None:
        # nothing to connect: redis-py connects on first use, and a Redis that is down is handled by loop_once
        log.info(
            "watcher %s watching %s with %d alert rule(s)",
            self.ident,
            ", ".join(self.products),
            len(self.config.alerts),
        )

    def shutdown(self) -> None:
        if self.webhook is not None:
            self.webhook.stop()
        try:
            self.leases.release_all()  # so another watcher takes over at once
            heartbeat.forget(self.conn, self.config.redis.prefix, self.ident)
        except redis.RedisError as exc:
            log.warning("could not release leases or heartbeat at exit (%s); they expire", exc)
        log.info("watcher stopped")

    def reported(self) -> dict[str, int]:
        """What `bcx status` shows for the watcher: its counters, and the webhook's alerts when there is one."""
        if self.webhook is None:
            return self.counters
        return self.counters | {"webhook_delivered": self.webhook.delivered, "webhook_failed": self.webhook.failed}

    def loop_once(self, now: float) -> None:
        try:
            caught_up = self.run_pass(now)
            if now >= self.next_beat:
                heartbeat.beat(self.conn, self.config.redis.prefix, self.ident, self.started, now, self.reported())
                self.next_beat = now + HEARTBEAT_S
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
        """For each product whose lease this watcher holds: evaluate, compact, and trim when due. True when every
        product is caught up."""
        cursors = {}
        caught_up = True
        for product in self.products:
            if self.stopper.stopping:
                return True
            if not self.leases.hold(self.store.keys(product).lease):
                continue
            cursors[product], done = self.watch_product(product, now)
            self.counters["candles_written"] += self.history.compact(product)
            caught_up = caught_up and done
        if now >= self.next_trim:
            self.trim(cursors, now)
            self.next_trim = now + self.config.watcher.trim_interval
        self.counters["passes"] += 1
        return caught_up

    def lookback_ms(self, product: str) -> int:
        return max((alert.when.lookback_ms for alert in self.rules.get(product, [])), default=0)

    def watch_product(self, product: str, now: float) -> tuple[Cursor | None, bool]:
        """Process up to max_batches batches; returns the cursor and whether the product is caught up."""
        keys = self.store.keys(product)
        rules = self.rules.get(product, [])
        cursor, states = load_watch_state(self.conn, keys)
        lookback = self.lookback_ms(product)
        history = self.read_history(product, cursor, lookback)
        for batch in range(self.max_batches):
            ticks, more = ticks_after(self.store, product, cursor, self.batch_size)
            if not ticks:
                if batch == 0 and rules:  # nothing new: rules that watch the clock (stale) still look
                    self.process(keys, rules, states, cursor, [], history, now)
                return cursor, True
            context = self.rule_context(product, rules, states, ticks)
            cursor, states = self.process(keys, rules, states, Cursor.of(ticks[-1]), ticks, history, now, context)
            history = [t for t in (*history, *ticks) if t.time_ms >= cursor.time_ms - lookback] if lookback else []
            if not more:
                return cursor, True
            if self.stopper.stopping:
                break
        return cursor, False

    def rule_context(
        self, product: str, rules: Sequence[AlertConfig], states: Mapping[str, RuleState], ticks: list[Tick]
    ) -> RuleContext:
        """What cross-spread and activity rules need for this batch: the other series' ticks over the batch's span
        (and the one before it), and, only when a minute closes for an activity rule, its window of 1m candles."""
        first, last = ticks[0].time_ms, ticks[-1].time_ms
        others: dict[str, list[Tick]] = {}
        for other in {a.when.other for a in rules if isinstance(a.when, CrossSpreadRule)}:
            before = self.store.latest_at_most(other, first - 1)
            others[other] = [*([before] if before else []), *self.store.range(other, first, last)]
        marks = {a.name: _mark(a, states, first) for a in rules if isinstance(a.when, ActivityRule)}
        closing = [a for a in rules if a.name in marks and bucket_start(last, ACTIVITY_BUCKET_MS) > marks[a.name]]
        if not closing:
            return RuleContext(others)
        start = min(marks[a.name] + ACTIVITY_BUCKET_MS - a.when.window_ms for a in closing)
        stored = self.config.watcher.candles
        minutes = read_candles(self.history.candles, self.store, product, ACTIVITY_BUCKET_MS, start, last, stored)
        data_from = self.store.extent(product, stored)[0]
        return RuleContext(others, minutes.candles, data_from)

    def read_history(self, product: str, cursor: Cursor | None, lookback_ms: int) -> list[Tick]:
        """The ticks up to the cursor that window rules need, in (time, trade id) order."""
        if cursor is None or not lookback_ms:
            return []
        ticks = self.store.range(product, cursor.time_ms - lookback_ms, cursor.time_ms)
        seen = [t for t in ticks if (t.time_ms, t.trade_id) <= (cursor.time_ms, cursor.trade_id)]
        return sorted(seen, key=lambda t: (t.time_ms, t.trade_id))

    def process(
        self,
        keys: SeriesKeys,
        rules: Sequence[AlertConfig],
        states: Mapping[str, RuleState],
        cursor: Cursor | None,
        ticks: list[Tick],
        history: Sequence[Tick],
        now: float,
        context: RuleContext = NO_CONTEXT,
    ) -> tuple[Cursor | None, dict[str, RuleState]]:
        """Evaluate, publish what fired, then move the cursor (in that order: see the module docstring)."""
        fired, new_states = evaluate_all(rules, states, ticks, now, history, context)
        for alert in fired:
            self.publish(alert)
        if ticks or new_states != states:
            save_watch_state(self.conn, keys, cursor, new_states)
        return cursor, new_states

    def publish(self, alert: alerts.Alert) -> None:
        watcher = self.config.watcher
        alert_id = alerts.publish(self.conn, self.config.redis.prefix, alert, watcher.alert_stream_length)
        self.counters["alerts_published"] += 1
        if self.webhook is not None:
            self.webhook.send(replace(alert, id=alert_id))

    def trim(self, cursors: Mapping[str, Cursor | None], now: float) -> None:
        """Tiered retention, then the memory ceiling, for the products this watcher holds."""
        watcher = self.config.watcher
        newest_at_most = int(now * 1000) + self.config.tracker.max_clock_skew_ms  # `now`: the wall clock
        for product, cursor in cursors.items():
            keep = None if cursor is None else cursor.time_ms - self.lookback_ms(product)
            removed = self.history.trim(product, watcher.retention, keep, newest_at_most)
            for series, count in removed.items():
                if count:
                    log.info("%s: trimmed %d %s entries past their retention", product, count, series)
            self.counters["ticks_trimmed"] += removed.get(RAW, 0)
            if watcher.max_memory is not None:
                self.counters["ticks_trimmed"] += self.history.enforce_memory(product, watcher.max_memory)

    def wait(self, seconds: float) -> None:
        """Sleep in short steps, so a stop is noticed within STOP_CHECK_S."""
        deadline = time.monotonic() + seconds
        while not self.stopper.stopping:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self.sleep(min(left, STOP_CHECK_S))


def _mark(alert: AlertConfig, states: Mapping[str, RuleState], first_ms: int) -> int:
    """The first minute an activity rule will judge in a batch starting at first_ms: the open minute at its last
    look, or for a first look the batch's first minute."""
    mark = current_state(alert, states.get(alert.name)).mark
    return bucket_start(first_ms, ACTIVITY_BUCKET_MS) if mark is None else mark
