"""Kraken v2: every verbatim example of shared/reference/exchanges.md section 1, exact numbers, symbols and aliases,
the bbo attached to the next trade, acks, keepalive, the replay protocol and the REST backfill against a fake
session."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bcx.tick import Tick
from bcx_tracker.exchange import (
    Entry,
    ExchangeError,
    Ignored,
    MalformedMessage,
    Subscribed,
    SubscribeFailed,
    TickEvent,
    Unconfigured,
)
from bcx_tracker.exchanges import ADAPTERS, REPLAY_PROTOCOLS
from bcx_tracker.kraken import Kraken, product_of_symbol, symbol_of_product
from bcx_tracker.kraken_replay import KrakenReplay
from bcx_tracker.kraken_rest import KrakenRest

# Verbatim copies of the reference's Kraken examples, in the order they appear there.
EXAMPLES = (Path(__file__).parent.parent / "fixtures" / "kraken-examples.jsonl").read_text().splitlines()
(
    SUBSCRIBE_TICKER,
    SUBSCRIBE_TRADE,
    STATUS,
    ACK,
    HEARTBEAT,
    TICKER_SNAPSHOT,
    TRADE_SNAPSHOT,
    TRADE_UPDATE,
    V1_STATUS,
    V1_SUBSCRIBED,
    V1_HEARTBEAT,
    V1_TRADE,
    V1_TICKER,
    REST_TRADES,
    PING,
    PONG,
    EMPTY_BOOK_TICKER,
    RATE_ERROR,
) = EXAMPLES

PRODUCTS = ("BTC-USD", "ALGO-USD", "MATIC-USD", "DOGE-USD")


@pytest.fixture
def kraken() -> Kraken:
    return Kraken(PRODUCTS)


def trade(price="105944.20", qty="0.00027625", trade_id=10218208, symbol="BTC/USD", kind="update", **extra) -> str:
    """A trade frame of one item; numbers are written as given (literal JSON text), None leaves a field out."""
    fields = {"symbol": json.dumps(symbol), "side": '"buy"', "price": price, "qty": qty, "ord_type": '"limit"'}
    fields |= {"trade_id": json.dumps(trade_id), "timestamp": '"2023-10-06T17:35:55.440295Z"'} | extra
    item = ",".join(f'"{name}":{value}' for name, value in fields.items() if value is not None)
    return f'{{"channel":"trade","type":"{kind}","data":[{{{item}}}]}}'


def ticker(bid="105944.10", ask="105944.30", symbol="BTC/USD") -> str:
    return (
        f'{{"channel":"ticker","type":"update","data":[{{"symbol":"{symbol}","bid":{bid},"bid_qty":0.5,'
        f'"ask":{ask},"ask_qty":1.25,"timestamp":"2023-10-06T17:35:55.000001Z"}}]}}'
    )


def ticks(events) -> list[Tick]:
    return [event.tick for event in events]


# The reference's examples, each one.


def test_trade_update_keeps_literal_digits(kraken):
    assert ticks(kraken.parse(TRADE_UPDATE)) == [
        Tick("kraken:BTC-USD", 1696613755440, 10218208, "105944.20", None, None, "0.00027625"),
        Tick("kraken:BTC-USD", 1696613756123, 10218209, "105910.50", None, None, "0.00012460"),
    ]


def test_trade_snapshot_is_ticks_without_a_book_even_after_a_ticker(kraken):
    kraken.parse(ticker(symbol="MATIC/USD", bid="0.5146", ask="0.5148"))
    assert ticks(kraken.parse(TRADE_SNAPSHOT)) == [
        Tick("kraken:MATIC-USD", 1695628116925, 4665846, "0.5147", None, None, "6423.46326"),
        Tick("kraken:MATIC-USD", 1695628176925, 4665847, "0.5147", None, None, "1136.19677815"),
    ]


def test_ticker_snapshot_yields_nothing_and_gives_the_next_trade_its_book(kraken):
    assert kraken.parse(TICKER_SNAPSHOT) == []
    [tick] = ticks(kraken.parse(trade(symbol="ALGO/USD", price="0.10030", qty="10")))
    assert (tick.product, tick.bid, tick.ask, tick.price) == ("kraken:ALGO-USD", "0.10025", "0.10036", "0.10030")


def test_status_online_is_ignored_and_another_status_is_reported(kraken):
    assert kraken.parse(STATUS) == [Ignored("status")]
    maintenance = STATUS.replace('"online"', '"maintenance"')
    assert kraken.parse(maintenance) == [ExchangeError("Kraken's system status is maintenance", reason="status")]


def test_subscribe_ack_names_the_channel_and_series(kraken):
    assert kraken.parse(ACK) == [Subscribed({"ticker": ("kraken:BTC-USD",)})]


def test_refused_subscribe_keeps_krakens_words():
    refusal = {"error": "Currency pair not supported BTC/XYZ", "method": "subscribe", "success": False}
    refusal |= {"symbol": "BTC/XYZ", "time_in": "2023-09-25T09:04:31.742599Z", "req_id": 2}
    assert Kraken(["BTC-USD"]).parse(json.dumps(refusal)) == [
        SubscribeFailed("kraken:BTC-XYZ", "Currency pair not supported BTC/XYZ")
    ]
    nameless = {"error": "Subscription depth not supported", "method": "subscribe", "success": False}
    assert Kraken(["BTC-USD"]).parse(json.dumps(nameless)) == [
        SubscribeFailed(None, "Subscription depth not supported")
    ]


def test_heartbeat_ping_and_pong_are_ignored(kraken):
    assert kraken.parse(HEARTBEAT) == [Ignored("heartbeat")]
    assert kraken.parse(PONG) == [Ignored("pong")]
    assert kraken.parse(PING) == [Ignored("ping")]


def test_subscribe_requests_are_not_mistaken_for_refusals(kraken):
    assert kraken.parse(SUBSCRIBE_TICKER) == [Ignored("subscribe")]
    assert kraken.parse(SUBSCRIBE_TRADE) == [Ignored("subscribe")]


def test_rate_error_is_an_exchange_error(kraken):
    assert kraken.parse(RATE_ERROR) == [ExchangeError("Exceeded msg rate")]
    failed_ping = '{"error":"Exceeded msg rate","method":"ping","success":false,"req_id":7}'
    assert kraken.parse(failed_ping) == [ExchangeError("Exceeded msg rate", reason="ping")]


@pytest.mark.parametrize("frame", [V1_STATUS, V1_SUBSCRIBED, V1_HEARTBEAT, V1_TRADE, V1_TICKER])
def test_v1_frames_are_malformed_and_say_so(kraken, frame):
    with pytest.raises(MalformedMessage, match="v1"):
        kraken.parse(frame)


def test_a_rest_answer_is_not_a_feed_frame(kraken):
    with pytest.raises(MalformedMessage):
        kraken.parse(REST_TRADES)


def test_empty_book_ticker_of_an_unconfigured_asset(kraken):
    assert kraken.parse(EMPTY_BOOK_TICKER) == [Unconfigured("ANETx/USD")]


def test_zero_bid_and_ask_mean_no_book(kraken):
    kraken.parse(ticker())
    kraken.parse(EMPTY_BOOK_TICKER.replace("ANETx/USD", "BTC/USD"))
    [tick] = ticks(kraken.parse(trade()))
    assert (tick.bid, tick.ask) == (None, None)
    kraken.parse(ticker(bid="0.0", ask="105944.30"))
    assert ticks(kraken.parse(trade()))[0][4:6] == (None, "105944.30")


# Numbers: never through a float.


@pytest.mark.parametrize(
    ("literal", "stored"),
    [
        ("105944.20", "105944.20"),
        ("123456789.123456789", "123456789.123456789"),
        ("0.1234567890123456789012345678", "0.1234567890123456789012345678"),
        ("1.10000000", "1.10000000"),
        ("100", "100"),
        ("0", "0"),
        ("1e-5", "0.00001"),
        ("1.0E-5", "0.000010"),
        ("1.5e+3", "1500"),
        ("2E2", "200"),
        ('"105944.20"', "105944.20"),  # a string, as v1 sent them
    ],
)
def test_prices_and_sizes_keep_their_exact_value(kraken, literal, stored):
    [tick] = ticks(kraken.parse(trade(price=literal, qty=literal)))
    assert (tick.price, tick.size) == (stored, stored)


def test_ticker_precision_torture(kraken):
    kraken.parse(ticker(bid="123456789.123456789", ask="0.1234567890123456789012345678"))
    [tick] = ticks(kraken.parse(trade()))
    assert (tick.bid, tick.ask) == ("123456789.123456789", "0.1234567890123456789012345678")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("price", "-1.5"),
        ("price", '"abc"'),
        ("price", "true"),
        ("price", None),
        ("qty", "1e999"),
        ("qty", '"1.5 "'),
        ("trade_id", '"10218208"'),
        ("trade_id", "-1"),
        ("trade_id", "1.5"),
        ("timestamp", '"yesterday"'),
        ("timestamp", "1696613755"),
    ],
)
def test_a_bad_field_makes_its_trade_malformed_and_is_named(kraken, field, value):
    with pytest.raises(MalformedMessage, match=f"'{field}'"):
        kraken.parse(trade(**{field: value}))


@pytest.mark.parametrize("value", ["NaN", "Infinity"])
def test_json_that_is_not_json_makes_the_frame_malformed(kraken, value):
    with pytest.raises(MalformedMessage, match="not JSON"):
        kraken.parse(trade(price=value))


@pytest.mark.parametrize("frame", ["", "{", "[]", '"text"', b"\xff\xfe", '{"channel":"trade","data":{}}'])
def test_garbage_is_malformed(kraken, frame):
    with pytest.raises(MalformedMessage):
        kraken.parse(frame)


def test_bytes_frames_parse_like_text(kraken):
    assert kraken.parse(TRADE_UPDATE.encode()) == kraken.parse(TRADE_UPDATE)


def test_one_bad_trade_costs_only_itself(kraken):
    kraken.parse(ticker())
    frame = json.loads(TRADE_UPDATE, parse_float=str)
    good, other = frame["data"]
    frame["data"] = [good, dict(other, trade_id="x"), dict(other, trade_id=10218210)]
    with pytest.raises(MalformedMessage, match="1 of 3") as raised:
        kraken.parse(json.dumps(frame).replace('"105944.20"', "105944.20"))
    assert [t.trade_id for t in ticks(raised.value.events)] == [10218208, 10218210]
    assert ticks(raised.value.events)[0][3:6] == ("105944.20", "105944.10", "105944.30")


def test_one_bad_ticker_item_keeps_the_book_it_had(kraken):
    kraken.parse(ticker())
    with pytest.raises(MalformedMessage):
        kraken.parse(ticker(bid='"cheap"'))
    assert ticks(kraken.parse(trade()))[0][4:6] == ("105944.10", "105944.30")


# The book before the trade.


def test_bbo_is_attached_to_the_next_trades_of_its_symbol_only(kraken):
    assert ticks(kraken.parse(trade()))[0][4:6] == (None, None)  # no ticker seen yet
    kraken.parse(ticker())
    kraken.parse(ticker(symbol="DOGE/USD", bid="0.1", ask="0.2"))
    assert ticks(kraken.parse(TRADE_UPDATE)) == [
        Tick("kraken:BTC-USD", 1696613755440, 10218208, "105944.20", "105944.10", "105944.30", "0.00027625"),
        Tick("kraken:BTC-USD", 1696613756123, 10218209, "105910.50", "105944.10", "105944.30", "0.00012460"),
    ]
    kraken.parse(ticker(bid="105900.00", ask="105901.00"))
    assert ticks(kraken.parse(trade()))[0][4:6] == ("105900.00", "105901.00")


def test_a_reconnect_forgets_the_book_of_the_previous_connection(kraken):
    kraken.connected()
    kraken.parse(ticker())
    kraken.connected()
    assert ticks(kraken.parse(trade()))[0][4:6] == (None, None)


def test_each_connection_has_its_own_book():
    first, second = Kraken(["BTC-USD"]), Kraken(["BTC-USD"])
    first.parse(ticker())
    assert ticks(second.parse(trade()))[0][4:6] == (None, None)


# Symbols.


def test_aliases_both_ways():
    assert Kraken.canonical_asset("XBT") == "BTC"
    assert Kraken.canonical_asset("XDG") == "DOGE"
    assert Kraken.native_asset("BTC") == "XBT"
    assert Kraken.native_asset("DOGE") == "XDG"
    assert Kraken.native_asset("ETH") == "ETH"
    assert product_of_symbol("XBT/USD", Kraken.aliases) == "BTC-USD"
    assert product_of_symbol("XDG/EUR", Kraken.aliases) == "DOGE-EUR"
    # no guessing from the shape: a legacy REST key is not a v2 symbol
    assert product_of_symbol("XXBTZUSD", Kraken.aliases) is None
    assert product_of_symbol("XXBT/ZUSD", Kraken.aliases) == "XXBT-ZUSD"
    assert symbol_of_product("DOGE-USD") == "DOGE/USD"


def test_an_older_symbol_spelling_reaches_its_configured_series(kraken):
    [tick] = ticks(kraken.parse(trade(symbol="XBT/USD")))
    assert tick.product == "kraken:BTC-USD"


def test_trades_of_unconfigured_symbols_are_reported_beside_the_configured_ones():
    frame = json.loads(TRADE_UPDATE, parse_float=str)
    frame["data"][1]["symbol"] = "ETH/USD"
    parsed = Kraken(["BTC-USD"]).parse(json.dumps(frame))
    assert [type(event) for event in parsed] == [TickEvent, Unconfigured]
    assert (parsed[0].tick.trade_id, parsed[1]) == (10218208, Unconfigured("ETH/USD"))
    with pytest.raises(MalformedMessage):
        Kraken(["BTC-USD"]).parse(trade(symbol=None))


# Requests.


def test_subscribe_messages_trade_with_its_snapshot_then_ticker_bbo(kraken):
    trade_sub, ticker_sub = map(json.loads, kraken.subscribe_messages())
    symbols = ["BTC/USD", "ALGO/USD", "MATIC/USD", "DOGE/USD"]
    assert trade_sub == {
        "method": "subscribe",
        "params": {"channel": "trade", "symbol": symbols, "snapshot": True},
        "req_id": 1,
    }
    assert ticker_sub == {
        "method": "subscribe",
        "params": {"channel": "ticker", "symbol": symbols, "event_trigger": "bbo", "snapshot": True},
        "req_id": 2,
    }


def test_keepalive_pings_every_30_seconds_with_a_new_req_id(kraken):
    kraken.subscribe_messages()
    assert kraken.keepalive(1000.0) is None
    assert kraken.keepalive(1029.9) is None
    assert json.loads(kraken.keepalive(1030.0)) == {"method": "ping", "req_id": 3}
    assert kraken.keepalive(1031.0) is None
    assert json.loads(kraken.keepalive(1060.0)) == {"method": "ping", "req_id": 4}


def test_kraken_is_registered_with_its_rest_client():
    assert ADAPTERS["kraken"] is Kraken and REPLAY_PROTOCOLS["kraken"] is KrakenReplay
    assert Kraken.contiguous_trade_ids and Kraken.real_trade_ids
    rest = Kraken.rest("http://127.0.0.1:1")
    assert isinstance(rest, KrakenRest) and rest.base_url == "http://127.0.0.1:1"


# The replay server's side.


@pytest.fixture
def replay() -> KrakenReplay:
    return KrakenReplay({"BTC-USD", "MATIC-USD"}, clock=lambda: 1695632671.742599)


def test_greeting_is_the_status_message_the_client_accepts(replay, kraken):
    [greeting] = replay.greeting()
    assert json.loads(greeting)["channel"] == "status"
    assert kraken.parse(greeting) == [Ignored("status")]


def test_subscribe_one_ack_per_symbol_and_a_refusal_for_a_symbol_not_recorded(replay, kraken):
    request = json.dumps(
        {"method": "subscribe", "params": {"channel": "trade", "symbol": ["BTC/USD", "BTC/XYZ"]}, "req_id": 9}
    )
    answer = replay.request(request, {})
    assert (answer.subscribe, answer.unsubscribe) == ({"trade": {"BTC-USD"}}, {})
    ok, refused = map(json.loads, answer.replies)
    assert ok == {
        "method": "subscribe",
        "result": {"channel": "trade", "symbol": "BTC/USD", "snapshot": True},
        "success": True,
        "time_in": "2023-09-25T09:04:31.742599Z",
        "time_out": "2023-09-25T09:04:31.742599Z",
        "req_id": 9,
    }
    assert refused["success"] is False and refused["error"] == "Currency pair not supported BTC/XYZ"
    assert [event for reply in answer.replies for event in kraken.parse(reply)] == [
        Subscribed({"trade": ("kraken:BTC-USD",)}),
        SubscribeFailed("kraken:BTC-XYZ", "Currency pair not supported BTC/XYZ"),
    ]


def test_the_adapters_own_subscribe_messages_are_acked(replay):
    trade_sub, ticker_sub = Kraken(["BTC-USD", "MATIC-USD"]).subscribe_messages()
    answer = replay.request(ticker_sub, {})
    assert answer.subscribe == {"ticker": {"BTC-USD", "MATIC-USD"}}
    assert json.loads(answer.replies[0])["result"]["event_trigger"] == "bbo"
    assert replay.request(trade_sub, {}).subscribe == {"trade": {"BTC-USD", "MATIC-USD"}}


def test_subscribe_twice_and_unsubscribe(replay):
    subs = {"trade": frozenset({"BTC-USD"})}
    again = replay.request(SUBSCRIBE_TRADE.replace("MATIC/USD", "BTC/USD"), subs)
    assert again.subscribe == {} and json.loads(again.replies[0])["error"] == "Already subscribed"
    request = {"method": "unsubscribe", "params": {"channel": "trade", "symbol": ["BTC/USD", "MATIC/USD"]}}
    answer = replay.request(json.dumps(request), subs)
    assert (answer.subscribe, answer.unsubscribe) == ({}, {"trade": {"BTC-USD"}})
    assert [json.loads(reply)["success"] for reply in answer.replies] == [True, False]
    assert json.loads(answer.replies[1])["error"] == "Subscription Not Found"


def test_ping_gets_a_pong_with_its_req_id(replay):
    answer = replay.request(PING, {})
    [pong] = map(json.loads, answer.replies)
    assert (pong["method"], pong["req_id"], answer.subscribe) == ("pong", 42, {})


@pytest.mark.parametrize(
    "request_text",
    [
        "garbage",
        "[1]",
        '{"method":"subscribe","params":{"channel":"book","symbol":["BTC/USD"]}}',
        '{"method":"subscribe","params":{"channel":"trade"}}',
        '{"method":"subscribe"}',
        '{"method":"buy"}',
    ],
)
def test_bad_requests_get_an_error_reply_and_change_nothing(replay, kraken, request_text):
    answer = replay.request(request_text, {})
    assert (answer.subscribe, answer.unsubscribe) == ({}, {})
    [reply] = map(json.loads, answer.replies)
    assert reply["success"] is False and reply["error"]


def test_heartbeats_only_while_subscribed(replay, kraken):
    assert replay.heartbeats({}, {}, 0) == []
    assert replay.heartbeats({"trade": frozenset()}, {}, 0) == []
    [beat] = replay.heartbeats({"ticker": frozenset({"BTC-USD"})}, {}, 0)
    assert beat == HEARTBEAT and kraken.parse(beat) == [Ignored("heartbeat")]


def test_entries_of_the_examples():
    assert KrakenReplay.entry(TRADE_UPDATE) == Entry(
        TRADE_UPDATE, "trade", "kraken:BTC-USD", 1696613756123, 10218209, None, 10218208
    )
    assert KrakenReplay.entry(TRADE_SNAPSHOT) == Entry(
        TRADE_SNAPSHOT, "trade", "kraken:MATIC-USD", 1695628176925, 4665847, None, 4665846
    )
    assert KrakenReplay.entry(TICKER_SNAPSHOT) == Entry(
        TICKER_SNAPSHOT, "ticker", "kraken:ALGO-USD", 1695632671742, 0, None
    )
    for frame in (STATUS, ACK, HEARTBEAT, PONG, V1_TRADE, V1_HEARTBEAT, RATE_ERROR, EMPTY_BOOK_TICKER):
        assert KrakenReplay.entry(frame) is None, frame


@pytest.mark.parametrize(
    "frame",
    [
        "{",
        trade(trade_id='"x"'),
        trade(timestamp='"later"'),
        '{"channel":"trade","type":"update","data":[]}',
        TRADE_UPDATE.replace('"symbol":"BTC/USD","side":"sell"', '"symbol":"ETH/USD","side":"sell"'),
    ],
)
def test_malformed_recorded_frames(frame):
    with pytest.raises(MalformedMessage):
        KrakenReplay.entry(frame)


def test_shifted_trade_moves_times_and_ids_and_keeps_every_digit(kraken):
    entry = KrakenReplay.entry(TRADE_UPDATE)
    moved = KrakenReplay.shifted(entry, 86_400_000 + 250, 1000, 0)
    assert (moved.channel, moved.product, moved.sequence) == ("trade", "kraken:BTC-USD", None)
    assert (moved.time_ms, moved.trade_id, moved.first_trade_id) == (1696613756123 + 86_400_250, 10219209, 10219208)
    assert '"price":105944.20' in moved.raw and '"qty":0.00012460' in moved.raw
    assert ticks(kraken.parse(moved.raw)) == [
        Tick("kraken:BTC-USD", 1696700155690, 10219208, "105944.20", None, None, "0.00027625"),
        Tick("kraken:BTC-USD", 1696700156373, 10219209, "105910.50", None, None, "0.00012460"),
    ]
    assert '"timestamp":"2023-10-07T17:35:55.690295Z"' in moved.raw
    assert KrakenReplay.entry(moved.raw) == moved


def test_shifted_ticker_moves_its_time_only():
    entry = KrakenReplay.entry(ticker(bid="123456789.123456789", ask="0.1234567890123456789012345678"))
    moved = KrakenReplay.shifted(entry, 1000, 50, 7)
    assert (moved.time_ms, moved.trade_id) == (entry.time_ms + 1000, 0)
    assert '"bid":123456789.123456789' in moved.raw and '"ask":0.1234567890123456789012345678' in moved.raw
    assert '"timestamp":"2023-10-06T17:35:56.000001Z"' in moved.raw


def test_not_shifted_is_the_same_entry():
    entry = KrakenReplay.entry(TRADE_UPDATE)
    assert KrakenReplay.shifted(entry, 0, 0, 0) is entry


# Whatever arrives: events or MalformedMessage, never another exception.

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8) | st.sampled_from(["1.5", "BTC/USD", "trade"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)
frame_fields = st.sampled_from(["channel", "type", "data", "method", "success", "result", "error", "symbol"])
item_fields = st.sampled_from(["symbol", "price", "qty", "trade_id", "timestamp", "bid", "ask"])


@given(
    base=st.sampled_from([TRADE_UPDATE, TICKER_SNAPSHOT, ACK, STATUS, PONG]),
    frame_changes=st.dictionaries(frame_fields, json_values, max_size=2),
    item_changes=st.dictionaries(item_fields, json_values, max_size=3),
)
def test_any_frame_parses_or_is_malformed(base, frame_changes, item_changes):
    data = json.loads(base) | frame_changes
    if isinstance(data.get("data"), list) and data["data"] and isinstance(data["data"][0], dict):
        data["data"][0] |= item_changes
    frame = json.dumps(data)
    try:
        events = Kraken(PRODUCTS).parse(frame)
    except MalformedMessage as exc:
        events = exc.events
    assert isinstance(events, list)
    try:
        KrakenReplay.entry(frame)
    except MalformedMessage:
        pass
    answer = KrakenReplay({"BTC-USD"}).request(frame, {})
    assert answer.replies
