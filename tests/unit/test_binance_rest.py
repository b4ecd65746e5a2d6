"""Binance REST against a fake session: aggTrades paged forward by id, a 429 is an error but not a ban, 418 stops REST,
the used-weight header, exchangeInfo by base and quote asset, klines."""

from __future__ import annotations

import json
import logging

import pytest

from bcx.candles import Candle
from bcx.tick import Tick
from bcx_tracker.binance_rest import WEIGHT_HIGH, BinanceRest, ban_length, trade_tick, weight_wait
from bcx_tracker.gaps import Gap
from bcx_tracker.rest import RestError
from tests.feedstub import FakeResponse, FakeSession

SERIES = "binance:BTC-USDT"


def client(*responses, wall: float = 30.0) -> tuple[BinanceRest, FakeSession, list[float]]:
    """A BinanceRest on a fake session and a clock that moves only when it sleeps (each sleep recorded)."""
    session, sleeps = FakeSession(*responses), []
    rest = BinanceRest(
        "http://127.0.0.1:1",
        session=session,
        clock=lambda: sum(sleeps),
        sleep=sleeps.append,
        wall=lambda: wall + sum(sleeps),
    )
    return rest, session, sleeps


def row(agg_id: int, price: str = "97259.01000000") -> dict:
    return {"a": agg_id, "p": price, "q": "0.00420000", "f": agg_id * 2, "l": agg_id * 2, "T": 1700000000000 + agg_id}


def page(ids) -> str:
    return json.dumps([row(agg_id) for agg_id in ids])


def never() -> bool:
    return False


def test_a_row_is_a_tick_without_a_book_and_exact_numbers():
    assert trade_tick(SERIES, row(5)) == Tick(SERIES, 1700000000005, 5, "97259.01000000", size="0.00420000")
    for bad in ({"a": "5", "p": "1", "q": "1", "T": 1}, {"a": 5, "p": 1.5, "q": "1", "T": 1}, [5], None):
        with pytest.raises(RestError):
            trade_tick(SERIES, bad)


def test_the_historical_trades_row_of_the_reference_is_not_an_aggregate_trade():
    """`id` counts trades, `a` aggregates: a row of the other endpoint must not slip into a gap of aggregate ids."""
    reference_row = {"id": 28457, "price": "4.00000100", "qty": "12.00000000", "time": 1499865549590}
    with pytest.raises(RestError):
        trade_tick(SERIES, reference_row)


def test_a_gap_is_paged_forward_from_its_first_id():
    rest, session, _ = client(page(range(101, 1101)), page(range(1101, 1300)))
    ticks = rest.fetch_gap(Gap(SERIES, 100, 1250), never)
    assert [t.trade_id for t in ticks] == list(range(101, 1251))
    assert [params for _, params in session.asked] == [
        {"symbol": "BTCUSDT", "fromId": 101, "limit": 1000},
        {"symbol": "BTCUSDT", "fromId": 1101, "limit": 1000},
    ]
    assert session.asked[0][0] == "http://127.0.0.1:1/api/v3/aggTrades"


def test_a_gap_ends_with_a_short_page_or_when_stopping():
    rest, session, _ = client(page(range(101, 150)))
    assert len(rest.fetch_gap(Gap(SERIES, 100, 2000), never)) == 49
    assert len(session.asked) == 1
    rest, session, _ = client()
    assert rest.fetch_gap(Gap(SERIES, 100, 200), lambda: True) == [] and session.asked == []


def test_a_stuck_page_does_not_loop():
    rest, session, _ = client(page([5] * 1000))
    assert rest.fetch_gap(Gap(SERIES, 100, 3000), never) == []
    assert len(session.asked) == 1


def test_a_429_that_outlasted_the_retries_is_an_error_not_a_ban():
    """The waiting and asking again happen below, in urllib3 (tests/unit/test_httpretry.py, and against a real
    server in tests/integration/test_backfill_cli.py); what reaches BinanceRest is the last 429."""
    throttled = FakeResponse('{"code":-1003,"msg":"Too many requests"}', 429, {"Retry-After": "7"})
    rest, session, _ = client(throttled, page(range(101, 111)))
    with pytest.raises(RestError) as error:
        rest.agg_trades(SERIES, 101)
    assert error.value.status == 429 and rest.banned_until is None
    assert len(rest.agg_trades(SERIES, 101)) == 10 and len(session.asked) == 2


@pytest.mark.parametrize(
    ("header", "expected"),
    [("12", 12.0), (None, None), ("soon", None), ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0)],
)
def test_a_bans_length_from_retry_after(header, expected):
    assert ban_length({} if header is None else {"Retry-After": header}) == expected  # a date past is over now


def test_418_stops_rest_and_says_so_loudly(caplog):
    banned = FakeResponse('{"code":-1003,"msg":"Way too many requests; IP banned"}', 418)
    rest, session, _ = client(banned)
    with caplog.at_level(logging.ERROR, logger="bcx_tracker.binance_rest"):
        with pytest.raises(RestError) as first:
            rest.fetch_gap(Gap(SERIES, 100, 200), never)
    assert first.value.status == 418
    assert any(r.levelno == logging.ERROR and "418" in r.getMessage() for r in caplog.records)
    with pytest.raises(RestError, match="not sent"):
        rest.fetch_gap(Gap(SERIES, 100, 200), never)
    assert len(session.asked) == 1  # the second gap never reached the exchange


def test_a_ban_with_retry_after_ends_then():
    banned = FakeResponse('{"code":-1003,"msg":"banned"}', 418, {"Retry-After": "120"})
    rest, session, sleeps = client(banned, page(range(101, 103)))
    with pytest.raises(RestError):
        rest.agg_trades(SERIES, 101)
    with pytest.raises(RestError, match="not sent"):
        rest.agg_trades(SERIES, 101)
    sleeps.append(120.0)  # two minutes later
    assert len(rest.agg_trades(SERIES, 101)) == 2


def test_used_weight_near_the_limit_waits_for_the_next_minute():
    assert weight_wait({"X-MBX-USED-WEIGHT-1m": str(WEIGHT_HIGH)}, 1_700_000_085.0) == pytest.approx(15.0)
    assert weight_wait({"X-MBX-USED-WEIGHT-1m": "40"}, 1_700_000_085.0) == 0
    assert weight_wait({}, 1_700_000_085.0) == 0
    heavy = FakeResponse(page(range(101, 103)), 200, {"X-MBX-USED-WEIGHT-1m": "1100"})
    rest, _, sleeps = client(heavy, wall=1_700_000_050.0)
    rest.agg_trades(SERIES, 101)
    assert sleeps[-1] == pytest.approx(50.0)


def test_error_bodies_carry_binances_words():
    rest, _, _ = client(FakeResponse('{"code":-1121,"msg":"Invalid symbol."}', 400))
    with pytest.raises(RestError, match="Invalid symbol"):
        rest.agg_trades(SERIES, 1)


def test_check_products_by_base_and_quote_asset():
    info = {
        "symbols": [
            {"symbol": "BTCUSDT", "baseAsset": "BTC", "quoteAsset": "USDT", "status": "TRADING"},
            {"symbol": "LUNAUSDT", "baseAsset": "LUNA", "quoteAsset": "USDT", "status": "BREAK"},
        ]
    }
    rest, session, _ = client(json.dumps(info))
    assert rest.check_products(["BTC-USDT", "LUNA-USDT", "BTCU-SDT"]) == (["BTCU-SDT"], ["LUNA-USDT"])
    assert session.asked[0][0].endswith("/api/v3/exchangeInfo")


def test_candles_from_klines_paged_and_exact():
    def kline(minute: int) -> list:
        start = 1_700_000_040_000 + minute * 60_000
        return [start, "1.10000000", "1.30000000", "1.00000000", "1.20000000", "5.50000000", start + 59_999, "6", 3]

    first = json.dumps([kline(m) for m in range(1000)])
    second = json.dumps([kline(m) for m in range(1000, 1010)])
    rest, session, _ = client(first, second)
    candles = rest.candles("binance:BTC-USDT", 1_700_000_040, 1_700_000_040 + 1009 * 60)
    assert len(candles) == 1010
    assert candles[0] == Candle(1_700_000_040_000, "1.10000000", "1.30000000", "1.00000000", "1.20000000", "5.50000000")
    assert session.asked[1][1]["startTime"] == 1_700_000_040_000 + 1000 * 60_000
    assert session.asked[0][1]["interval"] == "1m"
