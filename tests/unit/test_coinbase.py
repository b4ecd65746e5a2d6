"""The feed's wire format: parsing the exchange's own example messages, malformed input, subscribe messages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bcx.tick import Tick
from bcx_tracker.coinbase import (
    SubscribeRejected,
    parse_message,
    parse_subscribe,
    subscribe_message,
    subscriptions_message,
)
from bcx_tracker.exchange import ExchangeError, Heartbeat, Ignored, MalformedMessage, Subscribed, TickEvent
from bcx_tracker.gaps import SequenceFilter

# Verbatim copies of shared/reference/coinbase-examples.jsonl (see §3.7 of coinbase-feed.md for the sources).
EXAMPLES = (Path(__file__).parent.parent / "fixtures" / "coinbase-examples.jsonl").read_text().splitlines()
SUBSCRIPTIONS, TICKER_2022, HEARTBEAT, ERROR, MATCH, TICKER_2021, AT_TICKER, AT_HEARTBEATS = EXAMPLES


def ticker(**changes) -> str:
    """The 2022 docs ticker with fields changed (None removes a field)."""
    data = json.loads(TICKER_2022)
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return json.dumps(data)


def test_ticker_2022_keeps_exact_strings():
    assert parse_message(TICKER_2022) == TickEvent(
        Tick(
            product="coinbase:ETH-USD",
            time_ms=1666222102061,  # 2022-10-19T23:28:22.061769Z, truncated to the millisecond
            trade_id=370843401,
            price="1285.22",
            bid="1285.04",
            ask="1285.27",
            size="11.4396987",
            sequence=37475248783,
        )
    )


def test_ticker_2021_capture_without_book_sizes():
    event = parse_message(TICKER_2021)
    assert event.tick == Tick(
        "coinbase:BAND-GBP", 1618677810244, 881613, "14.7775", "14.7550", "14.8060", "0.04", 333938798
    )


def test_trailing_zeros_are_kept():
    tick = parse_message(ticker(price="4388.01000000", best_bid="4388", last_size="0.03000000")).tick
    assert (tick.price, tick.bid, tick.size) == ("4388.01000000", "4388", "0.03000000")


def test_bytes_are_parsed_like_text():
    assert parse_message(TICKER_2022.encode()) == parse_message(TICKER_2022)


def test_heartbeat():
    assert parse_message(HEARTBEAT) == Heartbeat("coinbase:BTC-USD", 20, 90, 1415348368464)


def test_subscriptions():
    message = parse_message(SUBSCRIPTIONS)
    assert message == Subscribed(
        {
            "level2": ("coinbase:ETH-USD", "coinbase:ETH-EUR"),
            "heartbeat": ("coinbase:ETH-USD", "coinbase:ETH-EUR"),
            "ticker": ("coinbase:ETH-USD", "coinbase:ETH-EUR", "coinbase:ETH-BTC"),
        }
    )


def test_error_keeps_reason():
    assert parse_message(ERROR) == ExchangeError("Failed to subscribe", " is not a valid product")
    assert parse_message('{"type":"error","message":"Slow consumer"}') == ExchangeError("Slow consumer", "")


def test_other_types_are_ignored():
    assert parse_message(MATCH) == Ignored("match")
    assert parse_message('{"type":"status","products":[]}') == Ignored("status")


@pytest.mark.parametrize("line", [AT_TICKER, AT_HEARTBEATS])
def test_advanced_trade_messages_are_malformed_here(line):
    with pytest.raises(MalformedMessage, match="no 'type'"):
        parse_message(line)


@pytest.mark.parametrize("missing", ["best_bid", "best_ask", "last_size", "side", "sequence", "best_bid_size"])
def test_optional_ticker_fields(missing):
    tick = parse_message(ticker(**{missing: None})).tick
    field = {"best_bid": "bid", "best_ask": "ask", "last_size": "size"}.get(missing, missing)
    if hasattr(tick, field):
        assert getattr(tick, field) is None
    assert tick.price == "1285.22"


@pytest.mark.parametrize(
    "raw, reason",
    [
        ("", "not JSON"),
        ("{", "not JSON"),
        (b"\xff\xfe{}", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ('"ticker"', "not a JSON object"),
        ("42", "not a JSON object"),
        ("null", "not a JSON object"),
        ('{"type": 7}', "no 'type'"),
        (ticker(price=None), "'price' is missing"),
        (ticker(time=None), "'time' is missing"),
        (ticker(trade_id=None), "'trade_id' is missing"),
        (ticker(product_id=None), "'product_id' is missing"),
        (ticker(price=1285.22), "'price' is not a decimal string"),
        (ticker(price="1,285.22"), "'price' is not a decimal string"),
        (ticker(price="1e3"), "'price' is not a decimal string"),
        (ticker(price="-1"), "'price' is not a decimal string"),
        (ticker(price="NaN"), "'price' is not a decimal string"),
        (ticker(price=""), "'price' is not a decimal string"),
        (ticker(price="12|34"), "'price' is not a decimal string"),
        (ticker(best_bid=1285.04), "'best_bid' is not a decimal string"),
        (ticker(last_size="11.4396987 "), "'last_size' is not a decimal string"),
        (ticker(trade_id="370843401"), "'trade_id' is not a non-negative integer"),
        (ticker(trade_id=True), "'trade_id' is not a non-negative integer"),
        (ticker(trade_id=1.5), "'trade_id' is not a non-negative integer"),
        (ticker(trade_id=-3), "'trade_id' is not a non-negative integer"),
        (ticker(sequence="9"), "'sequence' is not a non-negative integer"),
        (ticker(time=1666222102), "'time' is not a string"),
        (ticker(time="yesterday"), "'time' is not an ISO 8601 time"),
        (ticker(product_id="eth-usd"), "'product_id' is not a product id"),
        (ticker(product_id="ETH-USD}"), "'product_id' is not a product id"),
        (ticker(product_id=" ETH-USD"), "'product_id' is not a product id"),
        (ticker(product_id=["ETH-USD"]), "'product_id' is not a product id"),
        ('{"type":"heartbeat","product_id":"BTC-USD","sequence":1,"time":"2014-11-07T08:19:28Z"}', "last_trade_id"),
        ('{"type":"heartbeat","product_id":"BTC-USD","last_trade_id":"1","sequence":1,"time":"x"}', "last_trade_id"),
        ('{"type":"subscriptions","channels":"ticker"}', "not a list"),
        ('{"type":"subscriptions","channels":[7]}', "neither a name"),
    ],
)
def test_malformed(raw, reason):
    with pytest.raises(MalformedMessage) as caught:
        parse_message(raw)
    assert reason in caught.value.reason
    assert isinstance(caught.value, ValueError)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=5,
)
ticker_fields = st.sampled_from(
    ["price", "best_bid", "best_ask", "last_size", "time", "trade_id", "product_id", "sequence"]
)


@given(changes=st.dictionaries(ticker_fields, json_values, max_size=3))
def test_any_ticker_either_parses_or_is_malformed(changes):
    try:
        event = parse_message(ticker(**changes))
    except MalformedMessage:
        return
    tick = event.tick
    for text in (tick.price, tick.bid, tick.ask, tick.size):
        assert text is None or "|" not in text


def test_sequence_filter_drops_repeats_and_late_ticks_not_gaps():
    seen = SequenceFilter()

    def stale(product, sequence):
        return seen.is_stale(Tick(product, 0, 1, "1", sequence=sequence))

    assert not stale("BTC-USD", 100)
    assert stale("BTC-USD", 100)  # the first ticker after a resubscribe repeats the last trade
    assert stale("BTC-USD", 99)
    assert not stale("BTC-USD", 790)  # a gap is normal on the ticker channel
    assert not stale("ETH-USD", 5)  # each product has its own counter
    assert not stale("BTC-USD", None)  # cannot judge: passes
    assert stale("BTC-USD", 790)


def test_subscribe_message_uses_per_channel_objects():
    message = json.loads(subscribe_message(["BTC-USD", "ETH-USD"]))
    assert message == {
        "type": "subscribe",
        "channels": [
            {"name": "ticker", "product_ids": ["BTC-USD", "ETH-USD"]},
            {"name": "heartbeat", "product_ids": ["BTC-USD", "ETH-USD"]},
        ],
    }
    with pytest.raises(ValueError):
        subscribe_message([])


VALID = {"ETH-USD", "ETH-EUR", "ETH-BTC", "BTC-USD"}


def test_parse_subscribe_forms_as_the_exchange_documents_them():
    mixed = {
        "type": "subscribe",
        "product_ids": ["ETH-USD", "ETH-EUR"],
        "channels": ["heartbeat", {"name": "ticker", "product_ids": ["ETH-BTC", "ETH-USD"]}],
    }
    assert parse_subscribe(mixed, VALID) == {
        "heartbeat": {"ETH-USD", "ETH-EUR"},
        "ticker": {"ETH-USD", "ETH-EUR", "ETH-BTC"},
    }
    flat = {"type": "subscribe", "product_ids": ["BTC-USD"], "channels": ["ticker"]}
    assert parse_subscribe(flat, VALID) == {"ticker": {"BTC-USD"}}
    ours = json.loads(subscribe_message(["BTC-USD"]))
    assert parse_subscribe(ours, VALID) == {"ticker": {"BTC-USD"}, "heartbeat": {"BTC-USD"}}


@pytest.mark.parametrize(
    "request_, reason",
    [
        ({"type": "subscribe", "product_ids": ["DOGE-USD"], "channels": ["ticker"]}, "DOGE-USD is not a valid product"),
        ({"type": "subscribe", "product_ids": [""], "channels": ["ticker"]}, " is not a valid product"),
        ({"type": "subscribe", "product_ids": ["BTC-USD"]}, "No channels provided"),
        (
            {"type": "subscribe", "channels": [{"name": "heartbeat"}]},
            "You need to specify at least one product ID for channel heartbeat",
        ),
        ({"type": "subscribe", "product_ids": ["BTC-USD"], "channels": ["level3"]}, "level3 is not a valid channel"),
    ],
)
def test_parse_subscribe_rejects_like_the_exchange(request_, reason):
    with pytest.raises(SubscribeRejected) as caught:
        parse_subscribe(request_, VALID)
    assert caught.value.reason == reason


def test_subscriptions_message_parses_back():
    text = subscriptions_message({"ticker": {"ETH-USD", "BTC-USD"}, "heartbeat": set()})
    assert parse_message(text) == Subscribed({"ticker": ("coinbase:BTC-USD", "coinbase:ETH-USD")})
