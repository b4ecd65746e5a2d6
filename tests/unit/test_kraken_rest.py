"""Kraken REST backfill against a fake session: pages by `since`, the gap's ids kept, exact times, errors, pacing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bcx.tick import Tick
from bcx_tracker.backfill import TradeBackfiller
from bcx_tracker.gaps import Gap
from bcx_tracker.kraken_rest import KrakenRest, rest_pair, trade_tick
from bcx_tracker.rest import RestError
from tests.feedstub import FakeSession

REST_TRADES = (Path(__file__).parent.parent / "fixtures" / "kraken-examples.jsonl").read_text().splitlines()[13]
BASE_S = 1688669597
SINCE = (BASE_S * 1000 - 1) * 1_000_000  # the first `since` of a gap whose first known trade is at BASE_S


def row(trade_id: int, seconds: str = f"{BASE_S}.5", price: str = "30243.40000") -> str:
    """A trade row as Kraken writes it: strings, a float time, the id last."""
    return f'["{price}","0.00376960",{seconds},"b","m","",{trade_id}]'


def page(trade_ids, last: int, key: str = "XXBTZUSD") -> str:
    """A page whose `last` cursor is `last` ns after SINCE."""
    rows = ",".join(row(trade_id) for trade_id in trade_ids)
    return f'{{"error":[],"result":{{"{key}":[{rows}],"last":"{SINCE + last}"}}}}'


def client(*bodies: str) -> tuple[KrakenRest, FakeSession, list[float]]:
    """A KrakenRest on a fake session and a fake clock that moves only when it sleeps (each sleep recorded)."""
    session, sleeps = FakeSession(*bodies), []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    rest = KrakenRest("http://127.0.0.1:1", session=session, clock=lambda: sum(sleeps), sleep=sleep)
    return rest, session, sleeps


GAP = Gap("kraken:BTC-USD", 100, 200, BASE_S * 1000)


def never() -> bool:
    return False


def test_rest_pair_uses_krakens_own_asset_codes():
    assert (rest_pair("BTC-USD"), rest_pair("DOGE-EUR"), rest_pair("ETH-USDT")) == ("XBTUSD", "XDGEUR", "ETHUSDT")


def test_the_reference_example_page():
    rest, session, _ = client(REST_TRADES)
    assert rest.trades_page("kraken:BTC-USD", 1688669597000000000) == (
        [
            Tick("kraken:BTC-USD", 1688669597827, 61044952, "30243.40000", size="0.34507674"),
            Tick("kraken:BTC-USD", 1688669598280, 61044953, "30243.30000", size="0.00376960"),
        ],
        1688671969993150842,
    )
    assert session.asked == [
        (
            "http://127.0.0.1:1/0/public/Trades",
            {"pair": "XBTUSD", "since": 1688669597000000000, "count": 1000},
        )
    ]


def test_time_is_read_from_its_literal_digits_not_a_float():
    # As a float 1688669597.9999999 is 1688669598.0: the trade would move to the next millisecond.
    rest, _, _ = client(f'{{"error":[],"result":{{"XXBTZUSD":[{row(7, f"{BASE_S}.9999999")}],"last":"1"}}}}')
    [tick], _ = rest.trades_page("kraken:BTC-USD", 0)
    assert tick.time_ms == BASE_S * 1000 + 999


def test_fetch_gap_walks_pages_from_the_gaps_time_and_keeps_its_ids():
    rest, session, sleeps = client(
        page([98, 99, 100, 101, 102], last=2000),
        page([102, 103, 104], last=3000),  # the page boundary repeats a trade: stored once
        page([105, 106, 107], last=4000),
    )
    gap = Gap("kraken:BTC-USD", after=100, upto=105, after_ms=BASE_S * 1000)
    filled = rest.fetch_gap(gap, never)
    assert [t.trade_id for t in filled] == [101, 102, 103, 104, 105]
    assert all(t.product == "kraken:BTC-USD" and t.bid is None and t.ask is None for t in filled)
    assert [params["since"] for _, params in session.asked] == [SINCE, SINCE + 2000, SINCE + 3000]
    assert sleeps == [0.0, 1.0, 1.0]  # one request a second


def test_fetch_gap_stops_at_an_empty_page_or_a_cursor_that_does_not_move():
    rest, session, _ = client(page([101], last=2000), page([], last=2000))
    assert [t.trade_id for t in rest.fetch_gap(GAP, never)] == [101]
    assert len(session.asked) == 2
    rest, session, _ = client(page([101], last=5000), page([102], last=5000))
    assert [t.trade_id for t in rest.fetch_gap(GAP, never)] == [101, 102]
    assert len(session.asked) == 2


def test_fetch_gap_stops_when_asked():
    rest, session, _ = client(page([101], last=2000), page([102], last=3000))
    calls = iter([False, True])
    assert [t.trade_id for t in rest.fetch_gap(GAP, lambda: next(calls))] == [101]
    assert len(session.asked) == 1


def test_a_gap_without_a_time_cannot_be_paged_and_asks_nothing():
    rest, session, _ = client()
    assert rest.fetch_gap(Gap("kraken:BTC-USD", 100, 200), never) == []
    assert session.asked == []


@pytest.mark.parametrize(
    "body",
    [
        '{"error":["EQuery:Unknown asset pair"]}',
        '{"error":[],"result":{"last":"5"}}',
        '{"error":[],"result":{"XXBTZUSD":[],"XBTUSD":[],"last":"5"}}',
        '{"error":[],"result":{"XXBTZUSD":[]}}',
        '{"error":[],"result":{"XXBTZUSD":[["1.0","2.0",1.5,"b","m",""]],"last":"5"}}',
        '{"error":[],"result":{"XXBTZUSD":[["1.0","2.0",1.5,"b","m","","7"]],"last":"5"}}',
        '{"error":[],"result":{"XXBTZUSD":[["-1.0","2.0",1.5,"b","m","",7]],"last":"5"}}',
        "[]",
        "not json",
    ],
)
def test_errors_and_malformed_pages_are_rest_errors(body):
    rest, _, _ = client(body)
    with pytest.raises(RestError):
        rest.fetch_gap(Gap("kraken:BTC-USD", 1, 9, 5), never)


def test_trade_tick_refuses_a_float_time():
    with pytest.raises(RestError):
        trade_tick("kraken:BTC-USD", ["1.0", "2.0", 1688669597.5, "b", "m", "", 7])


def test_check_products_matches_wsnames_through_the_aliases():
    pairs = {
        "XXBTZUSD": {"altname": "XBTUSD", "wsname": "XBT/USD", "status": "online"},
        "XDGUSD": {"altname": "XDGUSD", "wsname": "XDG/USD", "status": "cancel_only"},
        "XETHZUSD": {"altname": "ETHUSD", "wsname": "ETH/USD"},
        "ODD": "not an object",
    }
    rest, session, _ = client(json.dumps({"error": [], "result": pairs}))
    assert rest.check_products(["BTC-USD", "DOGE-USD", "ETH-USD", "BTC-XYZ"]) == (["BTC-XYZ"], ["DOGE-USD"])
    assert session.asked[0][0] == "http://127.0.0.1:1/0/public/AssetPairs"


def test_no_candles():
    rest, session, _ = client()
    assert rest.candles("kraken:BTC-USD", 0, 60) is None and session.asked == []


def test_a_gap_too_long_to_fill_whole_is_cut_to_its_newest_trades_still_paged_from_its_time():
    rest, session, _ = client(page(range(95, 106), last=2000))
    filled = []
    TradeBackfiller(rest, filled.append, max_gap=3)._fill(Gap("kraken:BTC-USD", 90, 105, BASE_S * 1000))
    assert [tick.trade_id for tick in filled] == [103, 104, 105]
    assert session.asked[0][1]["since"] == SINCE


def test_a_gap_rest_cannot_fill_is_counted_for_bcx_status():
    rest, _, _ = client('{"error":["EService:Unavailable"]}')
    filled = []
    backfiller = TradeBackfiller(rest, filled.append)
    backfiller._fill(GAP)
    assert (filled, backfiller.backfilled, backfiller.failed_gaps) == ([], 0, 1)  # `backfill_failed` in the beat
