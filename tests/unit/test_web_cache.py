"""bcx-web's caches: memoized decoding gives what decoding gives; the 24h figures are reused only for the same
newest tick and only for `ttl` seconds (a fixed `now`)."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

from bcx.candle_source import ClosedCandles
from bcx.candles import Candle, TierPlan, decode_candle, encode_candle
from bcx.tick import Tick, decode_member, encode_member
from bcx_web.cache import BoundedMemo, FreshCache, KeptDrawings, cached_decode_candle, cached_decode_member
from bcx_web.downsample import Drawn, closed_drawing

NEWEST = Tick("BTC-USD", 1_700_000_000_000, 7, "100.00")
LATER = Tick("BTC-USD", 1_700_000_000_100, 8, "101.00")
VNEWEST, VLATER = (NEWEST.time_ms, NEWEST.trade_id), (LATER.time_ms, LATER.trade_id)


class Counter:
    def __init__(self, value="day"):
        self.calls, self.value = 0, value

    def __call__(self):
        self.calls += 1
        return self.value


def counted(calls: list):
    def square(value: int) -> int:
        calls.append(value)
        return value * value

    return square


def test_the_memo_is_bounded_by_bytes_and_keeps_what_was_asked_since_its_last_turn():
    calls: list = []
    memo = BoundedMemo(counted(calls), 1_000, lambda value: 100 if value < 1000 else 300)
    for _ in range(20):  # three products' charts in turn: a working set within half the bound never misses
        assert [memo(1), memo(2), memo(3)] == [1, 4, 9]
    assert calls == [1, 2, 3]
    for value in range(10, 60):  # a long scan of other values: the bound holds throughout
        memo(value)
        assert memo.kept_bytes <= 1_000
    assert 5 <= len(memo.current) + len(memo.older) <= 10  # of 100 bytes each: half the bound at least is kept
    memo(1)
    assert calls[-1] == 1  # it was dropped, so it is computed again
    for value in range(1000, 1010):  # bytes, not entries: three of these fill what ten small ones did
        memo(value)
        assert memo.kept_bytes <= 1_000
    assert len(memo.current) + len(memo.older) <= 3


def test_memoized_decoders_give_the_same_values():
    member = encode_candle(Candle(1_700_000_040_000, "1.10", "1.30", "1.00", "1.20", "0.5", 3))
    first = cached_decode_candle(member, 1_700_000_040_000)
    assert (
        first
        == decode_candle(member, 1_700_000_040_000)
        == Candle(1_700_000_040_000, "1.10", "1.30", "1.00", "1.20", "0.5", 3)
    )
    assert cached_decode_candle(member, 1_700_000_040_000) is first
    tick = encode_member(Tick("ETH-USD", 5, 881613, "14.7775", "14.7550", "14.8060", "0.04"))
    assert cached_decode_member("ETH-USD", tick, 5.0) == decode_member("ETH-USD", tick, 5.0)
    assert cached_decode_member("BTC-USD", tick, 5.0).product == "BTC-USD"  # the product is part of the key


def test_same_newest_tick_within_the_ttl_is_computed_once():
    cache, compute = FreshCache(ttl=1.0), Counter()
    assert [cache.get("BTC-USD", VNEWEST, now, compute) for now in (10.0, 10.5, 10.99)] == ["day"] * 3
    assert compute.calls == 1


def test_a_new_tick_or_an_expired_entry_computes_again():
    cache, compute = FreshCache(ttl=1.0), Counter()
    cache.get("BTC-USD", VNEWEST, 10.0, compute)
    cache.get("BTC-USD", VLATER, 10.1, compute)  # the newest tick moved
    cache.get("BTC-USD", VLATER, 11.1, compute)  # a second old: a late write into the window shows now
    cache.get("BTC-USD", VLATER, 9.0, compute)  # a clock that went back never makes an entry fresh
    assert compute.calls == 4


def test_products_are_kept_apart_and_none_is_cached():
    cache, compute = FreshCache(ttl=1.0), Counter(None)
    eth = Tick("ETH-USD", NEWEST.time_ms, NEWEST.trade_id, "5.00")
    assert (
        cache.get("BTC-USD", VNEWEST, 1.0, compute) is None
        and cache.get("ETH-USD", (eth.time_ms, eth.trade_id), 1.0, compute) is None
    )
    assert cache.get("BTC-USD", VNEWEST, 1.5, compute) is None
    assert compute.calls == 2


def test_threads_asking_at_once_compute_once():
    cache, calls, start = FreshCache(ttl=60.0), [], threading.Barrier(6)

    def slow() -> str:
        calls.append(1)
        time.sleep(0.1)
        return "day"

    def ask() -> None:
        start.wait(timeout=10)
        assert cache.get("BTC-USD", VNEWEST, 1.0, slow) == "day"

    threads = [threading.Thread(target=ask) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len(calls) == 1


def test_a_kept_drawing_serves_charts_whose_first_candles_are_equal_and_no_other():
    drawings, calls = KeptDrawings(max_candles=2_000), []
    day = minutes(1440)[0]

    def drawn(candles: list[Candle], closed: int, name: str = "BTC-USD") -> Drawn | None:
        found = drawings.drawn(name, candles, closed, 60_000, 1000)
        calls.append(found == closed_drawing(candles, 60_000, 1000, closed))
        return found

    first = drawn(day, 1439)
    assert drawn(day[:1439] + [replace(day[-1], high="9")], 1439) is first  # only the open minute changed
    spike = [*day[:700], replace(day[700], high="9"), *day[701:]]
    assert drawn(spike, 1439) is not first  # a closed minute rewritten: drawn again
    assert drawn(spike, 1440)[1] > first[1]  # one more closed minute: its buckets added to the kept ones
    assert drawn(day[:1000], 999) is not None and drawn(day[:1439], 1439, "ETH-USD")  # other counts, charts
    assert all(calls)  # every answer is what drawing afresh gives
    assert drawings.kept_candles <= 2_000


def plan(product: str, version: str | None, bounds: tuple[int, int] = (0, 3 * 60_000)) -> TierPlan:
    """A plan of 1m candles from bounds[0], the raw ticks from bounds[1]."""
    lo, raw_from = bounds
    return TierPlan(product, (("1m", 60_000),), [(lo, raw_from, [])], None, raw_from, [], version, (None, None))


def minutes(count: int, first: int = 0) -> list[list[Candle]]:
    return [[Candle(first + i * 60_000, "1", "2", "1", "2", "1") for i in range(count)]]


def test_closed_candles_are_kept_for_their_version_and_bounds_within_a_bound_of_candles():
    kept = ClosedCandles(max_candles=5)
    kept.keep(plan("BTC-USD", "v1"), minutes(3))
    assert kept.get(plan("BTC-USD", "v1")) == minutes(3)
    assert kept.get(plan("BTC-USD", "v1", (60_000, 3 * 60_000))) == minutes(2, 60_000)  # a later start
    for other in (plan("BTC-USD", "v2"), plan("BTC-USD", None), plan("BTC-USD", "v1", (0, 4 * 60_000))):
        assert kept.get(other) is None  # another version, none, another end
    assert kept.get(plan("BTC-USD", "v1"), max_read=2) is None  # more than the read may hold
    kept.keep(plan("ETH-USD", None), minutes(1))  # a store without versions: nothing kept
    assert kept.get(plan("ETH-USD", None)) is None and kept.kept_candles == 3
    kept.keep(plan("ETH-USD", "w"), minutes(3))  # 6 > 5: BTC-USD's go
    assert kept.get(plan("BTC-USD", "v1")) is None and kept.kept_candles == 3
    kept.keep(plan("SOL-USD", "x"), minutes(6))  # more than the bound alone: not kept
    assert kept.get(plan("SOL-USD", "x")) is None and kept.get(plan("ETH-USD", "w")) == minutes(3)
