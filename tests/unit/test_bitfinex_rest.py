"""Bitfinex REST against a fake session: trades paged by time window and deduplicated by ID, literal digits, the
pacing under 15 requests a minute, candles, the pairs list, errors."""

from __future__ import annotations

import pytest

from bcx.candles import Candle
from bcx.tick import Tick
from bcx_tracker.backfill import TradeBackfiller
from bcx_tracker.bitfinex import UNBOUNDED, Bitfinex
from bcx_tracker.bitfinex_rest import BitfinexRest, trade_tick
from bcx_tracker.gaps import Gap, merge_gaps
from bcx_tracker.rest import RestError
from tests.feedstub import FakeSession

BTC = "bitfinex:BTC-USD"
T0 = 1_700_000_000_000


def client(*bodies: str) -> tuple[BitfinexRest, FakeSession, list[float]]:
    """A BitfinexRest on a fake session and a fake clock that moves only when it sleeps."""
    session, sleeps = FakeSession(*bodies), []
    rest = BitfinexRest("http://127.0.0.1:1", session=session, clock=lambda: sum(sleeps), sleep=sleeps.append)
    return rest, session, sleeps


def rows(*trades: tuple[int, int]) -> str:
    """(id, ms offset) pairs as Bitfinex rows, a sell amount with a float artefact."""
    return "[" + ",".join(f"[{i},{T0 + ms},-1.7023900800000002,19203.444049780002]" for i, ms in trades) + "]"


def never() -> bool:
    return False


def test_a_row_keeps_its_literal_digits_and_loses_the_sign():
    rest, session, _ = client(rows((5, 1)))
    assert rest.trades_page(BTC, T0, T0 + 10) == [Tick(BTC, T0 + 1, 5, "19203.444049780002", size="1.7023900800000002")]
    assert session.asked == [
        (
            "http://127.0.0.1:1/v2/trades/tBTCUSD/hist",
            {"start": T0, "end": T0 + 10, "limit": 10000, "sort": 1},
        )
    ]


def test_symbols_with_a_colon_and_ust_in_the_path():
    rest, session, _ = client("[]", "[]")
    rest.trades_page("bitfinex:AVAX-USD", T0, None)
    rest.trades_page("bitfinex:BTC-USDT", T0, None)
    assert [url.rsplit("/", 2)[1] for url, _ in session.asked] == ["tAVAX:USD", "tBTCUST"]
    assert "end" not in session.asked[0][1]


def test_a_sequence_gap_is_fetched_by_its_time_window_keeping_ids_above_the_last(monkeypatch):
    monkeypatch.setattr("bcx_tracker.bitfinex_rest.TRADES_PER_PAGE", 3)
    rest, session, sleeps = client(
        rows((100, 0), (101, 0), (102, 5)),
        rows((102, 5), (103, 5), (104, 9)),  # the boundary repeats trade 102: kept once
        rows((105, 12)),
    )
    gap = Gap(BTC, 100, UNBOUNDED, T0, T0 + 20)
    assert [t.trade_id for t in rest.fetch_gap(gap, never)] == [101, 102, 103, 104, 105]
    assert [(p["start"], p["end"]) for _, p in session.asked] == [(T0, T0 + 20), (T0 + 5, T0 + 20), (T0 + 9, T0 + 20)]
    assert sleeps == [0.0, 0.0, 5.0]  # a burst of 2, then 12 a minute: never 15 in a minute


def test_a_reconnect_gap_of_ids_pages_until_it_passes_its_last_id(monkeypatch):
    monkeypatch.setattr("bcx_tracker.bitfinex_rest.TRADES_PER_PAGE", 2)
    rest, session, _ = client(rows((50, 0), (61, 1)), rows((62, 2), (90, 3)), rows((91, 4), (92, 5)))
    gap = Gap(BTC, 50, 62, T0)  # ids are global: 51..60 were other pairs' trades
    assert [t.trade_id for t in rest.fetch_gap(gap, never)] == [61, 62]
    assert len(session.asked) == 2


def test_a_page_that_does_not_move_forward_or_a_stop_ends_the_walk(monkeypatch):
    monkeypatch.setattr("bcx_tracker.bitfinex_rest.TRADES_PER_PAGE", 2)
    rest, session, _ = client(rows((101, 0), (102, 0)), rows((103, 0), (104, 0)))
    assert [t.trade_id for t in rest.fetch_gap(Gap(BTC, 100, UNBOUNDED, T0, T0 + 9), never)] == [101, 102]
    assert len(session.asked) == 1
    rest, session, _ = client(rows((101, 0), (102, 1)), rows((103, 2), (104, 3)))
    calls = iter([False, True])
    assert len(rest.fetch_gap(Gap(BTC, 100, UNBOUNDED, T0, T0 + 9), lambda: next(calls))) == 2
    assert len(session.asked) == 1


def test_a_gap_without_a_time_asks_nothing():
    rest, session, _ = client()
    assert rest.fetch_gap(Gap(BTC, 100, UNBOUNDED), never) == []
    assert session.asked == []


@pytest.mark.parametrize(
    "body",
    [
        '["error",10020,"limit: invalid"]',
        '{"error":"ERR_RATE_LIMIT"}',  # the reference's example
        '{"message":"nope"}',
        "[[1,2,3]]",
        '[["1",1700000000000,1.0,2.0]]',
        "[[1,1700000000000.5,1.0,2.0]]",
        "[[1,1700000000000,1.0,-2.0]]",
        "[[1,1700000000000,null,2.0]]",
    ],
)
def test_errors_and_malformed_pages_are_rest_errors(body):
    rest, _, _ = client(body)
    with pytest.raises(RestError):
        rest.trades_page(BTC, T0, None)


def test_trade_tick_accepts_integer_amounts_and_trailing_fields():
    assert trade_tick(BTC, [7, T0, -3, 100, "new"]) == Tick(BTC, T0, 7, "100", size="3")


def test_candles_close_comes_before_high():
    rest, session, _ = client(f"[[{T0 + 60000},10.5,10.7,10.9,10.1,2.2626931299999997],[{T0},10,10.5,11,9.5,1]]")
    assert rest.candles(BTC, T0 // 1000, T0 // 1000 + 60) == [
        Candle(T0, "10", "11", "9.5", "10.5", "1"),
        Candle(T0 + 60000, "10.5", "10.9", "10.1", "10.7", "2.2626931299999997"),
    ]
    url, params = session.asked[0]
    assert url.endswith("/v2/candles/trade:1m:tBTCUSD/hist")
    assert (params["start"], params["end"], params["sort"]) == (T0, T0 + 60000, 1)


def test_check_products_reads_the_pairs_list_with_colons_and_ust():
    rest, session, _ = client('[["BTCUSD","AVAX:USD","BTCUST","ETHBTC"]]')
    assert rest.check_products(["BTC-USD", "AVAX-USD", "BTC-USDT", "DOGE-USD"]) == (["DOGE-USD"], [])
    assert session.asked[0][0].endswith("/v2/conf/pub:list:pair:exchange")


def test_the_adapter_makes_its_rest_client():
    assert isinstance(Bitfinex.rest("http://127.0.0.1:1"), BitfinexRest)


def test_window_gaps_merge_keeping_their_times():
    merged = merge_gaps([Gap(BTC, 100, UNBOUNDED, T0, T0 + 10), Gap(BTC, 120, UNBOUNDED, T0 + 5, T0 + 30)])
    assert merged == [Gap(BTC, 100, UNBOUNDED, T0, T0 + 30)]


def test_the_backfiller_does_not_cut_a_window_gap_to_its_newest_ids():
    asked: list[Gap] = []

    class Rest:
        def fetch_gap(self, gap, stopping):
            asked.append(gap)
            return []

    TradeBackfiller(Rest(), lambda tick: None)._fill(Gap(BTC, 100, UNBOUNDED, T0, T0 + 30))
    assert asked == [Gap(BTC, 100, UNBOUNDED, T0, T0 + 30)]


def test_a_gap_says_its_ids_or_its_window():
    assert str(Gap(BTC, 10, 15)) == "trades 11..15"
    assert str(Gap(BTC, 10, UNBOUNDED, T0, T0 + 30)) == f"trades after 10 from {T0} to {T0 + 30} ms"
