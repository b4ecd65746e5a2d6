"""Candles for the API from stored tiers plus raw ticks, against a real redis-server (the stores use Lua)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bcx.candle_source import ClosedCandles, OpenBuckets, read_candles
from bcx.candles import VERSIONS_KEPT, Candle, CandleStore, combine, interval_ms, rollup
from bcx.store import TickStore
from bcx.tick import Tick
from bcx_watcher.history import History

MIN, HOUR, DAY = 60_000, 3_600_000, 86_400_000


@pytest.fixture
def stores(redis_conn):
    conn = redis_conn
    return CandleStore(conn, "bcx", 4), TickStore(conn, "bcx", 4)


def ticks_every_10s(start: int, count: int) -> list[Tick]:
    return [
        Tick("BTC-USD", start + i * 10_000, i + 1, f"{100 + (i * 7) % 13}.{i % 10}0", None, None, "0.1")
        for i in range(count)
    ]


def test_stored_candles_and_raw_ticks_give_the_same_answer_as_ticks_alone(stores):
    candle_store, tick_store = stores
    ticks = ticks_every_10s(0, 3 * 60 * 6)  # three hours
    tick_store.add(ticks)
    expected = rollup(ticks, HOUR)
    assert read_candles(candle_store, tick_store, "BTC-USD", HOUR, 0, 3 * HOUR).candles == expected
    # The watcher stored the first hour as 1h and the next 70 minutes as 1m: the rest (the open part) from ticks.
    candle_store.put("BTC-USD", "1h", rollup([t for t in ticks if t.time_ms < HOUR], HOUR))
    candle_store.put("BTC-USD", "1m", rollup([t for t in ticks if HOUR <= t.time_ms < HOUR + 70 * MIN], MIN))
    read = read_candles(candle_store, tick_store, "BTC-USD", HOUR, 0, 3 * HOUR)
    assert [c.as_row() for c in read.candles] == [c.as_row() for c in expected]
    assert read.candles[0].volume == "36.0" and not read.truncated


def test_stored_candles_are_served_even_after_their_ticks_were_trimmed(stores):
    candle_store, tick_store = stores
    candle_store.put("BTC-USD", "1m", [Candle(0, "1", "3", "1", "2", "5.5"), Candle(MIN, "2", "4", "2", "4", "0.5")])
    candles = read_candles(candle_store, tick_store, "BTC-USD", 5 * MIN, 0, 5 * MIN).candles
    assert [c.as_row() for c in candles] == [[0, "1", "4", "1", "4", "6.0"]]


def test_read_cap_marks_the_answer_truncated(stores):
    candle_store, tick_store = stores
    tick_store.add(ticks_every_10s(0, 50))
    read = read_candles(candle_store, tick_store, "BTC-USD", MIN, 0, HOUR, max_read=10)
    assert read.truncated and sum(c.count for c in read.candles) == 10


def test_a_store_without_the_middle_tiers_or_with_them_half_built_gives_the_same_candles(stores):
    candle_store, tick_store = stores
    ticks = ticks_every_10s(0, 3 * 60 * 6)  # three hours
    tick_store.add(ticks)
    minutes = rollup([t for t in ticks if t.time_ms < 170 * MIN], MIN)
    candle_store.put("BTC-USD", "1m", minutes)  # a store written before 5m and 15m were tiers
    tiers = ("1m", "5m", "15m", "1h")
    expected = [c.as_row() for c in rollup(ticks, 15 * MIN)]
    assert [
        c.as_row() for c in read_candles(candle_store, tick_store, "BTC-USD", 15 * MIN, 0, 3 * HOUR, tiers).candles
    ] == expected
    candle_store.put("BTC-USD", "15m", combine(minutes[:60], 15 * MIN))  # the watcher is building them, oldest first
    candle_store.put("BTC-USD", "5m", combine(minutes[:75], 5 * MIN))
    read = read_candles(candle_store, tick_store, "BTC-USD", 15 * MIN, 0, 3 * HOUR, tiers)
    assert [c.as_row() for c in read.candles] == expected and not read.truncated
    assert [
        c.as_row() for c in read_candles(candle_store, tick_store, "BTC-USD", 5 * MIN, 0, 3 * HOUR, tiers).candles
    ] == [c.as_row() for c in rollup(ticks, 5 * MIN)]


def test_a_tier_cut_by_the_read_cap_marks_the_answer_truncated(stores):
    candle_store, tick_store = stores
    candle_store.put("BTC-USD", "1m", [Candle(i * MIN, "1", "2", "1", "2", "1") for i in range(30)])
    read = read_candles(candle_store, tick_store, "BTC-USD", MIN, 0, HOUR, ("1m",), max_read=10)
    assert read.truncated and [c.time_ms for c in read.candles] == [i * MIN for i in range(10)]


def ticks_every(start: int, step_ms: int, count: int) -> list[Tick]:
    return [
        Tick("BTC-USD", start + i * step_ms, i + 1, f"{100 + (i * 7) % 13}.{i % 10}0", None, None, "0.1")
        for i in range(count)
    ]


def test_four_hour_candles_are_built_from_the_stored_hours_and_the_open_hour_from_ticks(stores):
    candle_store, tick_store = stores
    ticks = ticks_every(0, 5 * MIN, 12 * 25)  # 25 hours
    tick_store.add(ticks)
    candle_store.put("BTC-USD", "1h", rollup([t for t in ticks if t.time_ms < 22 * HOUR], HOUR))
    read = read_candles(candle_store, tick_store, "BTC-USD", interval_ms("4h"), 0, 25 * HOUR, ("1m", "1h"))
    assert [c.as_row() for c in read.candles] == [c.as_row() for c in rollup(ticks, 4 * HOUR)]
    assert [c.time_ms // HOUR for c in read.candles] == [0, 4, 8, 12, 16, 20, 24] and not read.truncated


def test_weeks_start_on_monday_utc_and_are_built_from_the_stored_days(stores):
    candle_store, tick_store = stores
    thursday = 1_763_596_800_000  # 2025-11-20 00:00 UTC, a Thursday
    ticks = ticks_every(thursday, 30 * MIN, 48 * 20)  # 20 days: Thursday 20 Nov to Tuesday 9 Dec 2025
    tick_store.add(ticks)
    closed_days = [t for t in ticks if t.time_ms < thursday + 18 * DAY]
    candle_store.put("BTC-USD", "1d", rollup(closed_days, DAY))  # the watcher stored days up to Sunday 7 Dec
    read = read_candles(candle_store, tick_store, "BTC-USD", interval_ms("1w"), thursday, thursday + 20 * DAY)
    mondays = [datetime(2025, 11, 17, tzinfo=UTC) + timedelta(weeks=n) for n in range(4)]
    assert [c.time_ms for c in read.candles] == [int(m.timestamp() * 1000) for m in mondays]
    assert [c.as_row() for c in read.candles] == [c.as_row() for c in rollup(ticks, interval_ms("1w"))]
    # The first week holds Thursday to Sunday only (four days of 48 trades); the last Monday and Tuesday, from ticks.
    assert [c.count for c in read.candles] == [4 * 48, 7 * 48, 7 * 48, 2 * 48] and not read.truncated


def test_the_kept_open_minute_follows_new_and_late_ticks(stores):
    candle_store, tick_store = stores
    ticks = ticks_every_10s(0, 15)  # minutes 0 and 1 closed (stored), minute 2 open with 3 ticks
    tick_store.add(ticks)
    candle_store.put("BTC-USD", "1m", rollup(ticks[:12], MIN))
    kept = OpenBuckets()

    def read(width: int = MIN) -> list[list]:
        with_kept = read_candles(candle_store, tick_store, "BTC-USD", width, 0, 3 * MIN, ("1m",), open_buckets=kept)
        fresh = read_candles(candle_store, tick_store, "BTC-USD", width, 0, 3 * MIN, ("1m",))
        assert [c.as_row() for c in with_kept.candles] == [c.as_row() for c in fresh.candles]
        return [c.as_row() for c in with_kept.candles]

    assert read()[-1] == [2 * MIN, "106.20", "107.40", "100.30", "107.40", "0.3"]
    tick_store.add([Tick("BTC-USD", 2 * MIN + 55_000, 99, "120.00", None, None, "2")])  # a new trade, extended
    assert read()[-1] == [2 * MIN, "106.20", "120.00", "100.30", "120.00", "2.3"]
    tick_store.add([Tick("BTC-USD", 2 * MIN + 1, 98, "90.00", None, None, "1")])  # late, sorts in between
    assert read()[-1] == [2 * MIN, "106.20", "120.00", "90.00", "120.00", "3.3"]
    # A late trade into a closed minute: its stored candle answers until the watcher rewrites it, as without the
    # kept minute; then the rewritten one.
    late = Tick("BTC-USD", MIN + 30_001, 97, "150.00", None, None, "1")
    tick_store.add([late])
    assert read()[1] == rollup(ticks[6:12], MIN)[0].as_row()
    candle_store.put("BTC-USD", "1m", rollup([*ticks[6:12], late], MIN))
    assert read()[1][2] == "150.00"
    assert read(5 * MIN)[0][2] == "150.00"  # 5m: the stored minutes, then the open one from the kept candle


def test_kept_closed_candles_follow_the_watchers_rollups_trims_and_retention_and_backfills(redis_conn):
    """A reader that keeps the closed candles (bcx_web) answers what a read without them answers after every
    change to the stored candles: each writer changes the candles' version."""
    tick_store, candle_store = TickStore(redis_conn, "bcx", 4), CandleStore(redis_conn, "bcx", 4)
    stored = ("1m", "5m")
    history = History(redis_conn, tick_store, candle_store, stored)
    tick_store.add(ticks_every_10s(0, 6 * 30 + 3))  # 30 closed minutes, the 31st open with three trades
    while history.compact("BTC-USD"):
        pass
    kept, opened = ClosedCandles(1_000), OpenBuckets()

    def read(width: int = MIN, start: int = 0, end: int = 31 * MIN) -> list[list]:
        args = (candle_store, tick_store, "BTC-USD", width, start, end, stored)
        with_kept = read_candles(*args, open_buckets=opened, closed=kept)
        assert [c.as_row() for c in with_kept.candles] == [c.as_row() for c in read_candles(*args).candles]
        return [c.as_row() for c in with_kept.candles]

    first = read()
    assert kept.kept_candles == 30 and read() == first and len(first) == 31
    assert read(5 * MIN) and read(MIN, 10 * MIN) == first[10:]  # other tiers; a later start, from the kept ones
    late = Tick("BTC-USD", 3 * MIN + 1, 999, "500.00", None, None, "1")
    tick_store.add([late])
    assert read() == first  # the stored minute answers until the watcher rolls it up again, kept or not
    while history.compact("BTC-USD"):
        pass
    assert read()[3][2] == "500.00" and read(5 * MIN)[0][2] == "500.00"
    candle_store.put("BTC-USD", "1m", [Candle(7 * MIN, "1", "700", "1", "1", "1")])  # a backfill: read from 7 on
    assert read()[7][2] == "700"
    assert read(end=20 * MIN)[-1][0] == 20 * MIN  # kept up to minute 20
    candle_store.put("BTC-USD", "1m", [Candle(25 * MIN, "1", "800", "1", "1", "1")])  # after that read's end
    assert read()[25][2] == "800"
    for minute in range(VERSIONS_KEPT + 1):  # more writes than are listed: the kept candles are read again whole
        candle_store.put("BTC-USD", "1m", [Candle(minute * MIN, "1", str(900 + minute), "1", "1", "1")])
    assert read()[VERSIONS_KEPT][2] == str(900 + VERSIONS_KEPT)
    while history.compact("BTC-USD"):  # the 5m tier takes in the written minutes, so they may be trimmed
        pass
    history.trim("BTC-USD", {"raw": None, "1m": 20 * MIN / 1000, "5m": None}, None)  # retention of 1m: 20 minutes
    trimmed = read()
    assert trimmed[0][0] > 0 and len(trimmed) < 31
    # A store whose candles have no version (written before versions): nothing kept is used.
    redis_conn.delete(candle_store.keys("BTC-USD").candles_versions)
    chain = candle_store.keys("BTC-USD").candles("1m")
    candle_store.chunks.add(chain, [(29 * MIN, "t|1|0|0|0|1|")], "replace")  # a writer that changes no version
    assert read()[-2][0] == 29 * MIN and read()[-2][2] == "1"


def test_the_plan_tells_the_extent_in_its_round_trip(stores):
    candle_store, tick_store = stores
    ticks = ticks_every_10s(HOUR, 30)
    tick_store.add(ticks)
    candle_store.put("BTC-USD", "1h", [Candle(0, "1", "1", "1", "1", "1")])
    plan = candle_store.plan_tiers("BTC-USD", [("1m", MIN)], 0, 2 * HOUR, 2 * HOUR, extent_of=("1m", "1h"))
    assert plan.extent == tick_store.extent("BTC-USD", ("1m", "1h")) == (0, ticks[-1].time_ms)
    assert plan.raw_entries is None and plan.version is not None  # not asked to read the raw ticks
