"""Bitfinex v2: every verbatim example of shared/reference/exchanges.md section 2, literal digits (float artefacts
kept), trailing fields, te/tu stored once, symbols with a colon and UST, the chanId map of one connection, info codes,
refusals and sequence gaps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bcx.tick import Tick
from bcx_tracker.bitfinex import FLAGS, UNBOUNDED, Bitfinex, product_of_symbol
from bcx_tracker.exchange import (
    ExchangeError,
    Heartbeat,
    Ignored,
    MalformedMessage,
    Missed,
    Reconnect,
    Subscribed,
    SubscribeFailed,
    TickEvent,
)
from bcx_tracker.exchanges import ADAPTERS
from bcx_tracker.gaps import Gap
from bcx_tracker.literal_json import loads

# Verbatim copies of the reference's Bitfinex examples, in the order they appear there.
EXAMPLES = (Path(__file__).parent.parent / "fixtures" / "bitfinex-examples.jsonl").read_text().splitlines()
(
    INFO,
    CONF,
    SUBSCRIBE_TICKER,
    SUBSCRIBED_TICKER,
    SUBSCRIBE_TRADES,
    SUBSCRIBED_TRADES,
    TICKER_DOC,
    TICKER_SEQ_1,
    TICKER_SEQ_2,
    TICKER_SEQ_3,
    TICKER_2026,
    TRADES_SNAPSHOT,
    TE_DOC,
    TU_DOC,
    TE_TARDIS,
    TU_TARDIS,
    HEARTBEAT,
    REST_RATE_LIMIT,
) = EXAMPLES
BTC = "bitfinex:BTC-USD"


def subscribed(channel: str, chan_id: int, symbol: str = "tBTCUSD") -> str:
    return json.dumps({"event": "subscribed", "channel": channel, "chanId": chan_id, "symbol": symbol})


def te(chan_id: int, trade: str, seq: int | None = None, ts: int | None = None, kind: str = "te") -> str:
    tail = "".join(f",{n}" for n in (seq, ts) if n is not None)
    return f'[{chan_id},"{kind}",[{trade}]{tail}]'


def ticks(events) -> list[Tick]:
    return [event.tick for event in events if isinstance(event, TickEvent)]


@pytest.fixture
def bitfinex() -> Bitfinex:
    adapter = Bitfinex(["BTC-USD", "ETH-USD", "AVAX-USD", "BTC-USDT"])
    adapter.connected()
    return adapter


def channels(adapter: Bitfinex, *pairs: tuple[str, int, str]) -> Bitfinex:
    for channel, chan_id, symbol in pairs:
        assert adapter.parse(subscribed(channel, chan_id, symbol))
    return adapter


# The reference's examples, each one.


def test_info_and_conf_are_ignored_unless_they_say_something_is_wrong(bitfinex):
    assert bitfinex.parse(INFO) == [Ignored("info")]
    assert bitfinex.parse(CONF) == [Ignored("conf")]
    maintenance = INFO.replace('"status":1', '"status":0')
    assert bitfinex.parse(maintenance) == [ExchangeError("the platform is in maintenance", reason="info")]
    refused = '{"event":"conf","status":"FAILED","flags":98304}'
    assert bitfinex.parse(refused) == [ExchangeError("flags 98304 refused: no sequence numbers", reason="conf")]


def test_subscribe_requests_are_not_mistaken_for_answers(bitfinex):
    assert bitfinex.parse(SUBSCRIBE_TICKER) == [Ignored("subscribe")]
    assert bitfinex.parse(SUBSCRIBE_TRADES) == [Ignored("subscribe")]


def test_subscribed_events_map_chan_ids_to_series(bitfinex):
    assert bitfinex.parse(SUBSCRIBED_TICKER) == [Subscribed({"ticker": (BTC,)})]
    assert bitfinex.parse(SUBSCRIBED_TRADES) == [Subscribed({"trades": (BTC,)})]
    assert bitfinex.parse(subscribed("book", 5)) == [Ignored("subscribed")]  # not a channel we asked for


def test_doc_ticker_then_te_tu_one_tick_with_the_book(bitfinex):
    channels(bitfinex, ("ticker", 443378, "tBTCUSD"), ("trades", 17470, "tBTCUSD"))
    assert bitfinex.parse(TICKER_DOC) == []
    assert bitfinex.parse(TE_DOC) == [
        TickEvent(Tick(BTC, 1574694478808, 401597395, "7245.3", "7616.5", "7617.5", "0.005"))
    ]
    assert bitfinex.parse(TU_DOC) == []  # the same trade again: stored once


@pytest.mark.parametrize("frame", [TICKER_SEQ_1, TICKER_SEQ_2, TICKER_SEQ_3])
def test_recorded_tickers_with_sequences_give_the_next_trade_their_literal_book(frame):
    adapter = Bitfinex(["BTC-USD"])
    chan_id = json.loads(frame)[0]
    channels(adapter, ("ticker", chan_id, "tBTCUSD"), ("trades", 1, "tBTCUSD"))
    assert adapter.parse(frame) == []
    book = loads(frame)[1]  # each number's digits as written
    [tick] = ticks(adapter.parse(te(1, "5,1618665870435,0.5,1.1")))
    assert (tick.bid, tick.ask) == (str(book[0]), str(book[2]))


def test_the_2026_ticker_with_an_eleventh_null_and_more_trailing_fields(bitfinex):
    channels(bitfinex, ("ticker", 147794, "tBTCUSD"), ("trades", 1, "tBTCUSD"))
    assert bitfinex.parse(TICKER_2026) == []
    [tick] = ticks(bitfinex.parse(te(1, "5,1775779200200,-0.5,71750", seq=2, ts=1775779200201)))
    assert (tick.bid, tick.ask, tick.price, tick.size) == ("71741", "71760", "71750", "0.5")


def test_trades_snapshot_is_stored_oldest_first_without_a_book(bitfinex):
    channels(bitfinex, ("ticker", 1, "tBTCUSD"), ("trades", 232959, "tBTCUSD"))
    bitfinex.parse(TICKER_DOC.replace("443378", "1"))
    assert ticks(bitfinex.parse(TRADES_SNAPSHOT.replace(",…", ""))) == [
        Tick(BTC, 1618665870435, 669899158, "0.076985", None, None, "6961.461304"),
        Tick(BTC, 1618665870435, 669899159, "0.076989", None, None, "166.391496"),
    ]


def test_te_and_tu_with_sequence_and_timestamp_one_tick_no_gap(bitfinex):
    channels(bitfinex, ("trades", 89, "tBTCUSD"))
    events = bitfinex.parse(TE_TARDIS.replace("'", '"')) + bitfinex.parse(TU_TARDIS.replace("'", '"'))
    assert events == [
        TickEvent(Tick(BTC, 1564617600709, 382489563, "10087.98969503", None, None, "0.00705845")),
    ]


def test_heartbeat_of_a_channel_carries_its_sequence(bitfinex):
    channels(bitfinex, ("ticker", 204928, "tBTCUSD"))
    assert bitfinex.parse(HEARTBEAT) == [Heartbeat(BTC, sequence=127)]
    assert bitfinex.parse('[204928,"hb",128,1775779200144]') == [Heartbeat(BTC, sequence=128, time_ms=1775779200144)]


def test_a_rest_answer_is_no_feed_frame(bitfinex):
    assert bitfinex.parse(REST_RATE_LIMIT) == [Ignored("None")]


# Numbers: the literal digits, never through a float.


@pytest.mark.parametrize(
    ("amount", "size"),
    [
        ("1.7023900800000002", "1.7023900800000002"),  # a float artefact as sent
        ("-2.2626931299999997", "2.2626931299999997"),  # a sell: the sign goes, the digits stay
        ("43.358118629999986", "43.358118629999986"),
        ("-0.00100000", "0.00100000"),
        ("3", "3"),
        ("-3", "3"),
        ("-1.5e-05", "0.000015"),
        ("1e-7", "0.0000001"),
    ],
)
def test_size_is_the_amount_without_its_sign_digits_kept(bitfinex, amount, size):
    channels(bitfinex, ("trades", 1, "tBTCUSD"))
    [tick] = ticks(bitfinex.parse(te(1, f"7,1574694478808,{amount},19203.444049780002")))
    assert (tick.size, tick.price) == (size, "19203.444049780002")


def test_trailing_trade_fields_are_ignored(bitfinex):
    channels(bitfinex, ("trades", 1, "tBTCUSD"))
    [tick] = ticks(bitfinex.parse(te(1, '7,1574694478808,0.5,100.10,null,"new",[1]', seq=1, ts=1574694478809)))
    assert (tick.trade_id, tick.price, tick.size) == (7, "100.10", "0.5")


@pytest.mark.parametrize(
    "frame",
    [
        "not json",
        "[]",
        '["x","te",[1,2,3,4]]',
        "[1]",
        '[1,"te",[1,2,3]]',  # too short to be a trade
        '[1,"te",["1",1574694478808,0.5,100]]',
        '[1,"te",[1,1574694478808,"a",100]]',
        '[1,"te",[1,1574694478808,0.5,-100]]',
        "42",
    ],
)
def test_malformed_frames_say_so(bitfinex, frame):
    channels(bitfinex, ("trades", 1, "tBTCUSD"))
    with pytest.raises(MalformedMessage):
        bitfinex.parse(frame)


def test_a_bad_snapshot_trade_costs_only_itself(bitfinex):
    channels(bitfinex, ("trades", 1, "tBTCUSD"))
    with pytest.raises(MalformedMessage) as caught:
        bitfinex.parse("[1,[[2,1574694478808,0.5,100],[1,1574694478807,null,100]]]")
    assert [event.tick.trade_id for event in caught.value.events] == [2]


def test_a_malformed_ticker_is_malformed(bitfinex):
    channels(bitfinex, ("ticker", 1, "tBTCUSD"))
    with pytest.raises(MalformedMessage):
        bitfinex.parse('[1,[7616.5,1,"x"]]')
    with pytest.raises(MalformedMessage):
        bitfinex.parse("[1,[7616.5,1]]")


def test_a_zero_or_null_side_of_the_book_is_no_price(bitfinex):
    channels(bitfinex, ("ticker", 1, "tBTCUSD"), ("trades", 2, "tBTCUSD"))
    bitfinex.parse("[1,[0,0,7617.5,1,0,0,0,0,0,0]]")
    [tick] = ticks(bitfinex.parse(te(2, "7,1574694478808,0.5,7617.5")))
    assert (tick.bid, tick.ask) == (None, "7617.5")


# Symbols.


@pytest.mark.parametrize(
    ("product", "symbol"),
    [
        ("BTC-USD", "tBTCUSD"),
        ("AVAX-USD", "tAVAX:USD"),
        ("TESTBTC-TESTUSD", "tTESTBTC:TESTUSD"),
        ("BTC-USDT", "tBTCUST"),
        ("AAVE-USDT", "tAAVE:UST"),
        ("BCH-USD", "tBCHN:USD"),
    ],
)
def test_symbols_both_ways(product, symbol):
    assert Bitfinex.symbol(product) == symbol
    assert product_of_symbol(symbol, Bitfinex.aliases) == product


@pytest.mark.parametrize("symbol", ["fUSD", "BTCUSD", "tBTCUSDX", "tBTC", "t:USD", "tBTC:", None, 5, "tBT-USD"])
def test_not_a_trading_pair(symbol):
    assert product_of_symbol(symbol, Bitfinex.aliases) is None


def test_subscribe_sends_conf_first_then_trades_and_ticker_per_symbol():
    messages = [json.loads(m) for m in Bitfinex(["AVAX-USD", "BTC-USDT"]).subscribe_messages()]
    assert messages == [
        {"event": "conf", "flags": FLAGS},
        {"event": "subscribe", "channel": "trades", "symbol": "tAVAX:USD"},
        {"event": "subscribe", "channel": "ticker", "symbol": "tAVAX:USD"},
        {"event": "subscribe", "channel": "trades", "symbol": "tBTCUST"},
        {"event": "subscribe", "channel": "ticker", "symbol": "tBTCUST"},
    ]
    assert FLAGS == 32768 | 65536


def test_a_colon_symbol_and_ust_map_to_their_series(bitfinex):
    assert bitfinex.parse(subscribed("trades", 3, "tAVAX:USD")) == [Subscribed({"trades": ("bitfinex:AVAX-USD",)})]
    assert bitfinex.parse(subscribed("trades", 4, "tBTCUST")) == [Subscribed({"trades": ("bitfinex:BTC-USDT",)})]
    assert ticks(bitfinex.parse(te(4, "7,1574694478808,1,2")))[0].product == "bitfinex:BTC-USDT"


def test_limits_and_registry():
    assert ADAPTERS["bitfinex"] is Bitfinex
    assert (Bitfinex.max_products_per_connection, Bitfinex.connects_per_minute) == (12, 20)
    assert (Bitfinex.contiguous_trade_ids, Bitfinex.real_trade_ids) == (False, True)


# Refusals and info codes.


def test_a_refused_subscribe_names_the_series_with_bitfinexs_words(bitfinex):
    refusal = {"event": "error", "msg": "symbol: invalid", "code": 10300, "channel": "trades", "symbol": "tFOOUSD"}
    assert bitfinex.parse(json.dumps(refusal)) == [SubscribeFailed("bitfinex:FOO-USD", "symbol: invalid (code 10300)")]
    limit = {"event": "error", "msg": "subscribe: limit", "code": 10305, "channel": "ticker"}
    assert bitfinex.parse(json.dumps(limit)) == [SubscribeFailed(None, "subscribe: limit (code 10305)")]
    duplicate = {"event": "error", "msg": "subscribe: dup", "code": 10301, "channel": "ticker", "symbol": "tBTCUSD"}
    assert bitfinex.parse(json.dumps(duplicate)) == [Ignored("already subscribed")]
    other = {"event": "error", "msg": "Unknown event", "code": 10000}
    assert bitfinex.parse(json.dumps(other)) == [ExchangeError("Unknown event (code 10000)", reason="error")]


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (20051, Reconnect("info 20051 Stop/Restart Websocket Server (please reconnect)")),
        (20060, ExchangeError("maintenance starts: Stop/Restart Websocket Server (please reconnect)", "20060")),
        (20061, Reconnect("info 20061 Stop/Restart Websocket Server (please reconnect)")),
        (20000, Ignored("info")),
    ],
)
def test_info_codes(bitfinex, code, expected):
    info = {"event": "info", "code": code, "msg": "Stop/Restart Websocket Server (please reconnect)"}
    assert bitfinex.parse(json.dumps(info)) == [expected]


# One connection's channels and sequence.


def test_frames_of_channels_not_subscribed_are_ignored(bitfinex):
    assert bitfinex.parse(TE_DOC) == [Ignored("unsubscribed channel")]
    channels(bitfinex, ("trades", 17470, "tBTCUSD"))
    assert bitfinex.parse('{"event":"unsubscribed","status":"OK","chanId":17470}') == [Ignored("unsubscribed")]
    assert bitfinex.parse(TE_DOC) == [Ignored("unsubscribed channel")]


def test_a_new_connection_forgets_chan_ids_sequence_and_book(bitfinex):
    channels(bitfinex, ("ticker", 1, "tBTCUSD"), ("trades", 2, "tBTCUSD"))
    bitfinex.parse("[1,[10,1,11,1,0,0,0,0,0,0],50,1000]")
    bitfinex.connected()
    assert bitfinex.parse(te(2, "7,1000,1,10.5", seq=1, ts=1001)) == [Ignored("unsubscribed channel")]
    channels(bitfinex, ("trades", 9, "tBTCUSD"))  # the same channel, a new id
    events = bitfinex.parse(te(9, "8,1002,1,10.5", seq=2, ts=1003))
    assert events == [TickEvent(Tick(BTC, 1002, 8, "10.5", None, None, "1"))]  # no gap, no stale book


def test_a_sequence_jump_is_a_window_gap_for_every_trades_series_of_the_connection(bitfinex):
    channels(bitfinex, ("trades", 1, "tBTCUSD"), ("ticker", 2, "tBTCUSD"), ("trades", 3, "tAVAX:USD"))
    bitfinex.parse(te(1, "100,5000,1,10", seq=1, ts=5001))
    bitfinex.parse(te(1, "100,5000,1,10", seq=2, ts=5002, kind="tu"))
    bitfinex.parse("[2,[10,1,11,1,0,0,0,0,0,0],3,5003]")
    events = bitfinex.parse(te(1, "150,7000,1,10", seq=7, ts=7001))  # 4, 5 and 6 were lost
    assert events[:2] == [
        Missed(Gap(BTC, 100, UNBOUNDED, 5000, 7001)),
        Missed(Gap("bitfinex:AVAX-USD", 0, UNBOUNDED, 5003, 7001)),  # no trade yet: from the last frame
    ]
    assert ticks(events)[0].trade_id == 150
    assert bitfinex.parse(te(1, "151,7002,1,10", seq=8, ts=7003)) == [
        TickEvent(Tick(BTC, 7002, 151, "10", "10", "11", "1"))
    ]


def test_heartbeats_and_frames_of_other_channels_count_in_the_sequence(bitfinex):
    channels(bitfinex, ("trades", 1, "tBTCUSD"))
    assert bitfinex.parse('[1,"hb",1,10]') == [Heartbeat(BTC, sequence=1, time_ms=10)]
    assert bitfinex.parse('[99,"hb",2,11]') == [Ignored("unsubscribed channel")]
    assert bitfinex.parse('[1,"hb",3,12]') == [Heartbeat(BTC, sequence=3, time_ms=12)]
    [missed, _] = bitfinex.parse('[1,"hb",5,13]')
    assert missed == Missed(Gap(BTC, 0, UNBOUNDED, 12, 13))


def test_a_repeated_or_late_sequence_is_no_gap_and_does_not_move_back(bitfinex):
    channels(bitfinex, ("trades", 1, "tBTCUSD"))
    for frame in ('[1,"hb",5,10]', '[1,"hb",5,10]', '[1,"hb",4,10]', '[1,"hb",6,11]'):
        assert not any(isinstance(e, Missed) for e in bitfinex.parse(frame))
