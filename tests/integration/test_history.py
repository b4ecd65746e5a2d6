"""The history manager against a real redis-server: compaction into candles (idempotent, late and backfilled
data), tiered retention relative to each series' newest sample, and the memory ceiling."""

from __future__ import annotations

import logging

import pytest

from bcx.candles import Candle, CandleStore, combine, rollup
from bcx.store import TickStore
from bcx.tick import Tick
from bcx_watcher.history import History, memory_cutoff

MIN, HOUR, DAY = 60_000, 3_600_000, 86_400_000
T0 = 1_609_459_200_000  # 2021-01-01T00:00:00Z: a replayed old file, years before the wall clock
ALL = (0, 2**53)


@pytest.fixture
def stores(redis_conn):
    return TickStore(redis_conn, "bcx", 16), CandleStore(redis_conn, "bcx", 16)


@pytest.fixture
def history(redis_conn, stores):
    return History(redis_conn, *stores, ("1m", "1h", "1d"))


def tick(offset_ms: int, trade_id: int, price: str = "100", size: str = "0.5") -> Tick:
    return Tick("BTC-USD", T0 + offset_ms, trade_id, price, None, None, size)


def every(step_ms: int, until_ms: int, first_id: int = 1) -> list[Tick]:
    """A tick every step_ms, prices wandering so that candles differ."""
    return [tick(t, first_id + i, str(100 + (i * 7) % 13), "0.25") for i, t in enumerate(range(0, until_ms, step_ms))]


def compact_fully(history: History) -> int:
    """Compaction passes until nothing is left (a long recompute is spread over passes)."""
    written = passes = 0
    while (step := history.compact("BTC-USD")) and passes < 100:
        written, passes = written + step, passes + 1
    return written


def candles(stores, interval: str) -> list[Candle]:
    return stores[1].range("BTC-USD", interval, *ALL)


def test_closed_intervals_become_candles_and_a_second_pass_changes_nothing(stores, history):
    ticks = every(20_000, 2 * DAY + 90 * MIN)  # two days and a half-finished hour
    stores[0].add(ticks)
    assert history.compact("BTC-USD") > 0
    assert compact_fully(history) > 0  # two and a half days do not fit in one pass: the rest comes in the next
    closed = [t for t in ticks if t.time_ms < T0 + 2 * DAY + 90 * MIN - 30_000]  # the last minute is still open
    one_minute = rollup([t for t in closed if t.time_ms < T0 + 2 * DAY + 89 * MIN], MIN)
    assert candles(stores, "1m") == one_minute
    assert candles(stores, "1h") == combine([c for c in one_minute if c.time_ms < T0 + 2 * DAY + HOUR], HOUR)
    assert candles(stores, "1d") == rollup([t for t in ticks if t.time_ms < T0 + 2 * DAY], DAY)
    assert candles(stores, "1d")[0].count == 4320
    before = {interval: candles(stores, interval) for interval in ("1m", "1h", "1d")}
    assert history.compact("BTC-USD") == 0
    redis_conn = stores[0].conn
    redis_conn.hset(stores[0].keys("BTC-USD").watch_state, "dirty:1m", T0)  # as if a pass died before its mark
    assert compact_fully(history) > 0
    assert {interval: candles(stores, interval) for interval in ("1m", "1h", "1d")} == before


def test_a_late_tick_in_a_closed_interval_rewrites_its_candles_in_every_tier(stores, history):
    stores[0].add(every(30_000, DAY + 5 * MIN))
    compact_fully(history)
    late = tick(10 * MIN + 1, 999_999, "250", "2")  # lands in a minute compacted long ago
    stores[0].add([late])
    compact_fully(history)
    minute = stores[1].range("BTC-USD", "1m", T0 + 10 * MIN, T0 + 10 * MIN)[0]
    assert (minute.high, minute.volume, minute.count) == ("250", "2.50", 3)
    hour = stores[1].range("BTC-USD", "1h", T0, T0)[0]
    day = stores[1].range("BTC-USD", "1d", T0, T0)[0]
    assert (hour.high, hour.count, day.high, day.count) == ("250", 121, "250", 2881)
    assert candles(stores, "1d") == rollup([t for t in stores[0].range("BTC-USD", T0, T0 + DAY - 1)], DAY)
    stores[0].add([late])  # the same trade again: nothing is written, nothing is dirty
    assert history.compact("BTC-USD") == 0


def test_raw_ticks_win_over_backfilled_candles_and_backfill_reaches_the_coarser_tiers(stores, history):
    stores[0].add([tick(m * MIN + 1, m + 1) for m in range(0, 62) if m != 5])  # minute 5 has no raw ticks
    backfilled = [Candle(T0 + m * MIN, "90", "95", "80", "91", "7", None) for m in (4, 5)]
    stores[1].put("BTC-USD", "1m", backfilled)  # the tracker's REST backfill, before the watcher ran
    compact_fully(history)
    by_minute = {c.time_ms: c for c in candles(stores, "1m")}
    assert by_minute[T0 + 4 * MIN].count == 1  # raw ticks exist: computed from them
    assert by_minute[T0 + 5 * MIN] == backfilled[1]  # none: the backfilled candle stays
    hour = stores[1].range("BTC-USD", "1h", T0, T0)[0]
    assert (hour.low, hour.count) == ("80", None)  # includes the backfilled minute, whose trades are not counted
    later = Candle(T0 + 5 * MIN, "90", "300", "80", "91", "7", None)
    stores[1].put("BTC-USD", "1m", [later])  # a later backfill of a closed hour
    compact_fully(history)
    assert stores[1].range("BTC-USD", "1h", T0, T0)[0].high == "300"


def test_tiered_retention_counts_from_each_series_newest_sample_and_drops_whole_chunks(stores, history, redis_conn):
    stores[0].add(every(60_000, 3 * DAY + 30 * MIN))  # a minute apart: three days of 2021
    compact_fully(history)
    chunks_before = redis_conn.zcard(stores[0].keys("BTC-USD").ticks.index)
    retention = {"raw": DAY / 1000, "1m": 2 * DAY / 1000, "1h": 2.5 * DAY / 1000, "1d": None}
    removed = history.trim("BTC-USD", retention, None)
    newest_tick = T0 + 3 * DAY + 29 * MIN
    kept = stores[0].range("BTC-USD", *ALL)
    assert kept[0].time_ms >= newest_tick - DAY and len(kept) == 24 * 60 + 1  # nothing within a day of the newest goes
    assert removed["raw"] == 3 * 24 * 60 + 30 - len(kept)
    assert redis_conn.zcard(stores[0].keys("BTC-USD").ticks.index) < chunks_before / 2
    one_minute = candles(stores, "1m")
    newest_minute = T0 + 3 * DAY + 28 * MIN  # the open minute has no candle yet
    assert one_minute[0].time_ms >= newest_minute - 2 * DAY and one_minute[-1].time_ms == newest_minute
    assert len(one_minute) == 2 * 24 * 60 + 1
    hours = candles(stores, "1h")
    assert hours[0].time_ms >= T0 + 3 * DAY - HOUR - int(2.5 * DAY) and len(hours) == 61
    assert len(candles(stores, "1d")) == 3  # forever


def test_nothing_uncompacted_is_trimmed_and_a_late_tick_older_than_the_raw_floor_changes_no_candle(stores, history):
    stores[0].add(every(60_000, 3 * HOUR))
    compact_fully(history)
    stores[0].add([tick(2 * HOUR + 30, 20_000)])  # late: its minute was compacted, now it is dirty
    history.trim("BTC-USD", {"raw": 60.0, "1m": None, "1h": None, "1d": None}, None)
    assert stores[0].range("BTC-USD", T0 + 2 * HOUR + 30, T0 + 2 * HOUR + 30)  # kept until compacted
    compact_fully(history)
    history.trim("BTC-USD", {"raw": 60.0, "1m": None, "1h": None, "1d": None}, None)
    minute_ten = stores[1].range("BTC-USD", "1m", T0 + 10 * MIN, T0 + 10 * MIN)
    stores[0].add([tick(10 * MIN + 5, 30_000, "1")])  # far older than the raw retention: its minute is trimmed
    compact_fully(history)
    assert stores[1].range("BTC-USD", "1m", T0 + 10 * MIN, T0 + 10 * MIN) == minute_ten


def test_memory_ceiling_drops_the_oldest_raw_chunks_and_says_so(stores, history, redis_conn, caplog):
    stores[0].add(every(1000, 40 * MIN))
    chain = stores[0].keys("BTC-USD").ticks
    sizes = stores[0].chunks.chunk_memory(chain)
    total = sum(size for _, size in sizes)
    with caplog.at_level(logging.WARNING, logger="bcx_watcher.history"):
        dropped = history.enforce_memory("BTC-USD", total // 2)
    after = stores[0].chunks.chunk_memory(chain)
    assert dropped > 0 and sum(size for _, size in after) <= total // 2
    assert after == sizes[len(sizes) - len(after) :]  # the newest chunks, untouched
    assert "above max_memory" in caplog.text
    assert history.enforce_memory("BTC-USD", total) == 0


def test_memory_cutoff():
    chunks = [(0, 100), (10, 100), (20, 100), (30, 100)]
    assert memory_cutoff(chunks, 400) == (None, 0)
    assert memory_cutoff(chunks, 250) == (20, 200)
    assert memory_cutoff(chunks, 10) == (30, 300)  # never the newest chunk
    assert memory_cutoff([], 10) == (None, 0)


def test_one_sample_from_the_far_future_does_not_make_the_real_history_look_old(stores, history):
    """Issue 14: a tick dated 9999-12-31 used to become the newest sample that retention counted from."""
    stores[0].add(every(60_000, DAY))  # a day of 2021, a minute apart
    stores[0].add([Tick("BTC-USD", 253_402_300_799_999, 10**6, "100", None, None, "1")])  # 9999-12-31T23:59:59.999Z
    compact_fully(history)
    now_plus_skew = T0 + 2 * DAY  # the wall clock (plus the allowed skew) in this test's 2021
    removed = history.trim("BTC-USD", {"raw": 7 * DAY / 1000, "1m": None, "1h": None, "1d": None}, None, now_plus_skew)
    assert removed["raw"] == 0
    assert len(stores[0].range("BTC-USD", T0, T0 + DAY)) == 24 * 60


def test_newest_score_at_most_skips_entries_past_the_bound(stores, redis_conn):
    chain = stores[0].keys("BTC-USD").ticks
    stores[0].add(every(60_000, 2 * HOUR))  # 120 ticks over several chunks of 16
    chunks = stores[0].chunks
    assert chunks.newest_score(chain) == T0 + 119 * MIN
    assert chunks.newest_score(chain, T0 + 50 * MIN + 30_000) == T0 + 50 * MIN
    assert chunks.newest_score(chain, T0 + 32 * MIN) == T0 + 32 * MIN
    assert chunks.newest_score(chain, T0 - 1) is None


NEW_TIERS = ("1m", "5m", "15m", "1h", "1d")


def test_tiers_added_to_an_existing_store_are_built_from_all_of_its_history(redis_conn, stores, history):
    stores[0].add(every(20_000, 2 * DAY + 90 * MIN))
    compact_fully(history)  # the store as an older watcher left it: 1m, 1h, 1d
    before = {interval: candles(stores, interval) for interval in ("1m", "1h", "1d")}
    assert candles(stores, "5m") == []
    compact_fully(History(redis_conn, *stores, NEW_TIERS))
    assert candles(stores, "5m") == combine(before["1m"], 5 * MIN)[:-1]  # the open 5 minutes wait
    assert candles(stores, "15m") == combine(before["1m"], 15 * MIN)[:-1]
    assert candles(stores, "5m")[0].time_ms == T0  # from the oldest minute on, not from the last write
    assert {interval: candles(stores, interval) for interval in ("1m", "1h", "1d")} == before


def test_a_tier_added_over_a_trimmed_source_starts_at_its_first_whole_bucket(redis_conn, stores, history):
    stores[0].add(every(20_000, DAY + 90 * MIN))
    compact_fully(history)
    newest_minute = candles(stores, "1m")[-1].time_ms
    cutoff = T0 + 10 * HOUR + 7 * MIN  # mid-way through a 5m, a 15m and an hour bucket
    history.trim("BTC-USD", {"raw": None, "1m": (newest_minute - cutoff) / 1000, "1h": None, "1d": None}, None)
    assert candles(stores, "1m")[0].time_ms == cutoff
    hours = candles(stores, "1h")
    compact_fully(History(redis_conn, *stores, NEW_TIERS))
    assert candles(stores, "5m")[0].time_ms == T0 + 10 * HOUR + 10 * MIN
    assert candles(stores, "15m")[0].time_ms == T0 + 10 * HOUR + 15 * MIN
    assert candles(stores, "1h") == hours  # the hour the trim cut through keeps its whole candle
    late = tick(DAY + MIN + 1, 999_999, "250", "2")  # the new tiers carry a late tick up as the old ones did
    stores[0].add([late])
    compact_fully(History(redis_conn, *stores, NEW_TIERS))
    assert [c.high for c in stores[1].range("BTC-USD", "15m", T0 + DAY, T0 + DAY)] == ["250"]
    assert [c.high for c in stores[1].range("BTC-USD", "1h", T0 + DAY, T0 + DAY)] == ["250"]
