"""Binance: every example of shared/reference/exchanges.md section 3, exact numbers, symbols from the subscription,
the book attached to the next trade, the 451 refusal, serverShutdown, and the replay protocol's pure parts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bcx.tick import Tick
from bcx_tracker.binance import MAX_URL, Binance, BinanceUS, native_symbol, stream_names
from bcx_tracker.binance_replay import BinanceReplay, BinanceUSReplay, product_of_symbol
from bcx_tracker.exchange import (
    Entry,
    ExchangeError,
    Ignored,
    MalformedMessage,
    Reconnect,
    Request,
    Subscribed,
    TickEvent,
    Unconfigured,
)
from bcx_tracker.exchanges import ADAPTERS, REPLAY_PROTOCOLS, replay_path, replay_protocol
from bcx_tracker.sample import binance_frames

# The reference's Binance examples, in its order. Two are adapted, not verbatim: the 2019 trade capture is written
# there in JavaScript notation (keys unquoted), and the combined serverShutdown elides its payload (`{…}`).
EXAMPLES = (Path(__file__).parent.parent / "fixtures" / "binance-examples.jsonl").read_text().splitlines()
(
    SUBSCRIBE,
    SUBSCRIBE_ACK,
    REQUEST_ERROR,
    TRADE,
    TRADE_2019,
    BOOK_TICKER,
    AGG_TRADE,
    SHUTDOWN,
    SHUTDOWN_COMBINED,
    REST_TRADE,
) = EXAMPLES


PRODUCTS = ("NKN-USDT", "BNB-BTC", "BTC-USDT")


def confirmed(adapter: Binance) -> Binance:
    """The adapter past the first frame of its connection (which also reports the subscription)."""
    adapter.parse(SUBSCRIBE_ACK)
    return adapter


@pytest.fixture
def binance() -> Binance:
    return confirmed(Binance(PRODUCTS))


def agg_trade(symbol="BTCUSDT", agg_id=100, price="97259.01000000", qty="0.00420000", time_ms=1633998523963) -> str:
    data = {"e": "aggTrade", "E": time_ms, "s": symbol, "a": agg_id, "p": price, "q": qty, "f": 7, "l": 8}
    data |= {"T": time_ms, "m": False, "M": True}
    return json.dumps({"stream": f"{symbol.lower()}@aggTrade", "data": data})


def book_ticker(symbol="BTCUSDT", bid="97259.00000000", ask="97259.02000000") -> str:
    data = {"u": 1, "s": symbol, "b": bid, "B": "1.00000000", "a": ask, "A": "2.00000000"}
    return json.dumps({"stream": f"{symbol.lower()}@bookTicker", "data": data})


def ticks(events) -> list[Tick]:
    return [event.tick for event in events if isinstance(event, TickEvent)]


# The reference's examples, each one.


def test_book_ticker_then_agg_trade_is_one_tick_with_the_book(binance):
    assert binance.parse(BOOK_TICKER) == []
    assert binance.parse(AGG_TRADE) == [
        TickEvent(
            Tick("binance:NKN-USDT", 1633998523963, 15683430, "0.35280000", "0.35210000", "0.35260000", "58.00000000")
        )
    ]


def test_a_trade_before_any_book_has_no_bid_or_ask(binance):
    [tick] = ticks(binance.parse(AGG_TRADE))
    assert (tick.bid, tick.ask, tick.trade_id) == (None, None, 15683430)


@pytest.mark.parametrize("frame", [TRADE, TRADE_2019])
def test_trade_stream_frames_are_ignored_not_mixed_with_aggregate_ids(binance, frame):
    """`@trade` ids `t` count another thing than aggTrade's `a` (and the 2019 frame's `a` is an order id)."""
    assert binance.parse(frame) == [Ignored("trade")]


@pytest.mark.parametrize("frame", [SHUTDOWN, SHUTDOWN_COMBINED])
def test_server_shutdown_asks_for_a_new_connection(binance, frame):
    [event] = binance.parse(frame)
    assert isinstance(event, Reconnect) and "serverShutdown" in event.reason


def test_request_answers_and_errors(binance):
    assert binance.parse(SUBSCRIBE) == [Ignored("SUBSCRIBE")]
    assert binance.parse(SUBSCRIBE_ACK) == [Ignored("result")]
    assert binance.parse(REQUEST_ERROR) == [ExchangeError("Invalid request: …", reason="code 2")]


def test_a_rest_row_is_not_a_feed_frame(binance):
    assert binance.parse(REST_TRADE) == [Ignored("unknown")]


# Symbols.


def test_native_symbols_and_stream_names():
    assert native_symbol("BTC-USDT") == "BTCUSDT"
    assert stream_names("BTC-FDUSD") == ["btcfdusd@aggTrade", "btcfdusd@bookTicker"]


def test_the_way_back_comes_from_the_subscription_not_the_symbols_shape():
    """`BTCUSDT` could be BTC-USDT or BTCU-SDT: only the configured product says; anything else is unconfigured."""
    [tick] = ticks(Binance(["BTCU-SDT"]).parse(agg_trade("BTCUSDT")))
    assert tick.product == "binance:BTCU-SDT"
    assert confirmed(Binance(["ETH-USDT"])).parse(agg_trade("BTCUSDT")) == [Unconfigured("BTCUSDT")]
    assert confirmed(Binance(["ETH-USDT"])).parse(book_ticker("BTCUSDT")) == [Unconfigured("BTCUSDT")]


def test_connect_url_names_every_stream():
    adapter = Binance(["BTC-USDT", "ETH-BTC"])
    expected = "/stream?streams=btcusdt@aggTrade/btcusdt@bookTicker/ethbtc@aggTrade/ethbtc@bookTicker"
    assert adapter.connect_url("wss://stream.binance.com:9443") == "wss://stream.binance.com:9443" + expected
    assert adapter.connect_url("wss://stream.binance.com:9443/stream/") == "wss://stream.binance.com:9443" + expected
    assert adapter.connect_url("ws://127.0.0.1:5/binance") == "ws://127.0.0.1:5/binance" + expected
    assert adapter.subscribe_messages() == []


def test_the_longest_url_of_a_connection_stays_under_binances_limit():
    products = [
        f"{chr(65 + i // 26)}{chr(65 + i % 26)}34567890-1234567890" for i in range(Binance.max_products_per_connection)
    ]
    url = Binance(products).connect_url("wss://stream.binance.com:9443")
    assert len(url) <= MAX_URL - 1000  # room for a longer feed_url
    assert url.count("@") == 2 * len(products) <= 1024  # the streams a connection may carry


def test_limits_follow_the_reference():
    assert Binance.max_connection_age == 86400
    assert Binance.connects_per_minute * 5 == 300
    assert Binance.send_interval >= 1 / 5  # 5 messages a second, with a margin
    assert Binance.contiguous_trade_ids


# The book.


def test_each_symbol_keeps_its_own_book_and_the_latest_wins(binance):
    binance.parse(book_ticker("BTCUSDT", "1.00000000", "3.00000000"))
    binance.parse(book_ticker("BTCUSDT", "2.00000000", "3.00000000"))
    binance.parse(book_ticker("BNBBTC", "0.00426000", "0.00427000"))
    [btc] = ticks(binance.parse(agg_trade("BTCUSDT", price="2.50000000")))
    [bnb] = ticks(binance.parse(agg_trade("BNBBTC", price="0.00426990")))
    assert (btc.bid, btc.ask, bnb.bid, bnb.ask) == ("2.00000000", "3.00000000", "0.00426000", "0.00427000")


def test_a_zero_side_is_no_price_and_a_new_connection_forgets_the_book(binance):
    binance.parse(book_ticker(bid="0.00000000"))
    assert ticks(binance.parse(agg_trade()))[0][4:6] == (None, "97259.02000000")
    binance.connected()
    assert ticks(binance.parse(agg_trade()))[0][4:6] == (None, None)


def test_the_first_frame_of_each_connection_reports_the_subscription():
    adapter = Binance(["BTC-USDT", "ETH-BTC"])
    subscribed = Subscribed(
        {channel: ("binance:BTC-USDT", "binance:ETH-BTC") for channel in ("aggTrade", "bookTicker")}
    )
    assert adapter.parse(book_ticker()) == [subscribed]
    assert adapter.parse(book_ticker()) == []
    adapter.connected()
    with pytest.raises(MalformedMessage):
        adapter.parse("garbage")  # not a frame of Binance's: proves nothing yet
    assert adapter.parse(SUBSCRIBE_ACK) == [subscribed, Ignored("result")]


# Numbers: kept as sent.


@pytest.mark.parametrize("value", ["0.35280000", "123456789.12345678", "0.000000000000000000000000000001", "100", "0"])
def test_prices_and_sizes_keep_their_exact_text(binance, value):
    [tick] = ticks(binance.parse(agg_trade(price=value, qty=value)))
    assert (tick.price, tick.size) == (value, value)


def test_a_json_number_where_binance_writes_a_string_keeps_its_digits(binance):
    raw = agg_trade(price="97250.10").replace('"97250.10"', "97250.10")  # never through a float
    assert [t.price for t in ticks(binance.parse(raw))] == ["97250.10"]


# (An absurdly long decimal is refused after parsing, for every exchange alike: bcx_tracker.tick_checks.)
@pytest.mark.parametrize("value", ["1e-5", "-1.0", "1.", ".5", "NaN", "", " 1", "97250.5e0", None])
def test_bad_numbers_make_the_trade_malformed(binance, value):
    with pytest.raises(MalformedMessage, match="'p'"):
        binance.parse(agg_trade(price=value))


@pytest.mark.parametrize(
    ("field", "value"), [("a", "15683430"), ("a", -1), ("a", None), ("T", "1633998523963"), ("T", 1.5e12)]
)
def test_bad_ids_and_times_make_the_trade_malformed(binance, field, value):
    data = json.loads(agg_trade())
    data["data"][field] = value
    with pytest.raises(MalformedMessage, match=f"'{field}'"):
        binance.parse(json.dumps(data))


def test_a_bad_book_is_malformed_and_keeps_the_old_one(binance):
    binance.parse(book_ticker())
    with pytest.raises(MalformedMessage, match="'b'"):
        binance.parse(book_ticker(bid="1e5"))
    assert ticks(binance.parse(agg_trade()))[0].bid == "97259.00000000"


@pytest.mark.parametrize("frame", ["not json", "[1]", '{"stream":"btcusdt@aggTrade","data":[]}', b"\xff"])
def test_garbage_is_malformed(binance, frame):
    with pytest.raises(MalformedMessage):
        binance.parse(frame)


def test_a_bare_payload_of_the_ws_endpoint_is_read_too(binance):
    payload = json.loads(book_ticker())["data"]
    assert binance.parse(json.dumps(payload)) == []
    [tick] = ticks(binance.parse(json.dumps(json.loads(agg_trade())["data"])))
    assert tick.bid == "97259.00000000"


def test_other_streams_are_ignored(binance):
    depth = {"stream": "btcusdt@depth", "data": {"e": "depthUpdate", "s": "BTCUSDT"}}
    assert binance.parse(json.dumps(depth)) == [Ignored("depthUpdate")]


# Refusals.


def test_451_names_binance_us_as_the_way_out(binance):
    message = binance.refused(451)
    assert "451" in message and "binance-us" in message
    assert binance.refused(429) is None and binance.refused(503) is None
    assert BinanceUS(["BTC-USD"]).refused(451) is None


# Registration.


def test_both_venues_are_registered_with_a_replay_path_each():
    assert ADAPTERS["binance"] is Binance and ADAPTERS["binance-us"] is BinanceUS
    assert BinanceUS(["BTC-USD"]).series == {"BTC-USD": "binance-us:BTC-USD"}
    assert replay_path("binance") == "/binance" and replay_path("binance-us") == "/binance-us"
    assert replay_protocol("/binance/stream?streams=btcusdt@aggTrade") is BinanceReplay
    assert replay_protocol("/binance-us/stream") is REPLAY_PROTOCOLS["binance-us"] is BinanceUSReplay


# The replay protocol.


def test_replay_symbols_by_quote_asset():
    assert [product_of_symbol(s) for s in ("BTCUSDT", "btcfdusd", "ETHBTC", "BTCUSD", "USDT", "XYZABC", 5)] == [
        "BTC-USDT",
        "BTC-FDUSD",
        "ETH-BTC",
        "BTC-USD",
        None,
        None,
        None,
    ]


def test_replay_entries():
    assert BinanceReplay.entry(AGG_TRADE) == Entry(
        AGG_TRADE, "aggTrade", "binance:NKN-USDT", 1633998523963, 15683430, None, 15683430
    )
    assert BinanceReplay.entry(BOOK_TICKER) == Entry(BOOK_TICKER, "bookTicker", "binance:NKN-USDT", 0, 0, None)
    assert BinanceUSReplay.entry(AGG_TRADE).product == "binance-us:NKN-USDT"
    assert [BinanceReplay.entry(frame) for frame in (TRADE, SHUTDOWN_COMBINED, SUBSCRIBE_ACK)] == [None] * 3
    with pytest.raises(MalformedMessage):
        BinanceReplay.entry(agg_trade("ABCXYZ"))


def test_replay_subscribes_from_the_url():
    replay = BinanceReplay({"BTC-USDT", "ETH-BTC"})
    opened = replay.opened("/binance/stream?streams=btcusdt@aggTrade/btcusdt@bookTicker/solusdt@aggTrade")
    assert opened == Request([], {"aggTrade": {"BTC-USDT"}, "bookTicker": {"BTC-USDT"}}, {})
    assert replay.opened("/binance/ws") is None
    assert replay.opened("/binance/stream?streams=btcusdt@nonsense") is None


def test_replay_requests():
    replay = BinanceReplay({"BTC-USDT"})
    subscribe = replay.request('{"method":"SUBSCRIBE","params":["btcusdt@aggTrade"],"id":3}', {})
    assert subscribe == Request(['{"result": null, "id": 3}'], {"aggTrade": {"BTC-USDT"}}, {})
    unsubscribe = replay.request('{"method":"UNSUBSCRIBE","params":["btcusdt@aggTrade"],"id":4}', {})
    assert unsubscribe.unsubscribe == {"aggTrade": {"BTC-USDT"}}
    listed = replay.request('{"method":"LIST_SUBSCRIPTIONS","id":5}', {"aggTrade": frozenset({"BTC-USDT"})})
    assert json.loads(listed.replies[0]) == {"result": ["btcusdt@aggTrade"], "id": 5}
    for bad in ("nonsense", '{"method":"SUBSCRIBE","params":"btcusdt@aggTrade","id":6}', '{"method":"PING"}'):
        [reply] = replay.request(bad, {}).replies
        assert json.loads(reply)["code"] == 2


def test_replay_frames_wrap_a_bare_payload_in_the_envelope():
    replay = BinanceReplay({"NKN-USDT"})
    assert replay.frames(BinanceReplay.entry(AGG_TRADE)) == [AGG_TRADE]
    bare = json.dumps(json.loads(AGG_TRADE)["data"], separators=(",", ":"))
    [frame] = replay.frames(BinanceReplay.entry(bare))
    assert json.loads(frame) == json.loads(AGG_TRADE)


def test_shifted_moves_times_and_ids_keeping_every_digit():
    entry = BinanceReplay.entry(AGG_TRADE)
    moved = BinanceReplay.shifted(entry, 1000, 10, 99)
    data = json.loads(moved.raw)["data"]
    assert (data["E"], data["T"], data["a"], data["f"], data["l"]) == (
        1633998524963,
        1633998524963,
        15683440,
        19862800,
        19862800,
    )
    assert (data["p"], data["q"]) == ("0.35280000", "58.00000000")
    assert (moved.time_ms, moved.trade_id, moved.first_trade_id) == (1633998524963, 15683440, 15683440)
    book = BinanceReplay.entry(BOOK_TICKER)
    assert BinanceReplay.shifted(book, 1000, 10, 99) == book


def test_sample_frames_parse_back_to_the_walks_tick():
    walk = {"time": "2026-11-01T00:00:01.5Z", "price": "97259.01", "best_bid": "97259", "best_ask": "97259.02"}
    walk |= {"best_bid_size": "0.5", "best_ask_size": "1.25", "last_size": "0.0042", "side": "sell"}
    book, trade = binance_frames("BTCUSDT", walk, 7)
    adapter = confirmed(Binance(["BTC-USDT"]))
    assert adapter.parse(book) == []
    [tick] = ticks(adapter.parse(trade))
    assert tick == Tick("binance:BTC-USDT", 1793491201500, 7, "97259.01000000", "97259.00000000", "97259.02000000",
                        "0.00420000")  # fmt: skip
    assert BinanceReplay.entry(trade).trade_id == 7


def test_bcx_replay_describes_the_series_of_a_binance_recording_for_bcx_up(tmp_path):
    from bcx.up import read_replay_description
    from bcx_tracker.replay import ReplayServer, describe

    path = tmp_path / "binance.jsonl"
    path.write_text("".join(f"binance {frame}\n" for frame in (BOOK_TICKER, AGG_TRADE, SHUTDOWN)))
    with ReplayServer(path) as server:
        replay = read_replay_description(describe(server))
    assert replay.series == ["binance:NKN-USDT"]
    assert replay.feeds == {"binance": ("binance", server.url_for("binance"))}
