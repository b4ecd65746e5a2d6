"""The tick codec: deterministic members that keep the exchange's exact strings."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bcx.tick import Tick, decode_member, encode_entries, encode_member, iso_to_ms, ms_to_iso


def test_member_layout():
    # trade id in base 36; the price scaled (147775 in base 36, then 4 decimals); bid and ask as offsets in units of
    # the price's last digit; the size scaled like the price (4, then 2 decimals)
    tick = Tick("BAND-GBP", 1618677810244, 881613, "14.7775", "14.7550", "14.8060", "0.04")
    assert encode_member(tick) == "iw99;360v4;225;285;42"
    assert decode_member("BAND-GBP", "iw99;360v4;225;285;42", 1618677810244.0) == tick


def test_trade_without_book_has_empty_bid_and_ask():
    tick = Tick("BTC-USD", 1, 9, "6225.32000000", size="0.06469797")
    assert encode_member(tick) == "9;7xzjh9fk8;;;3uo4l8"
    assert decode_member("BTC-USD", b"9;7xzjh9fk8;;;3uo4l8", 1.0) == tick


@pytest.mark.parametrize(
    "price, bid, ask, size, member",
    [
        ("97250.00", "97249.99", "97250.01", "0.12345678", "2a;5sfuw2;1;1;7clzi8"),  # the usual BTC tick
        ("100.5", "100.45", "101", "1.5", "2a;rx1;=100.45;=101;f1"),  # other decimals: literal
        ("100.50", "100.51", "100.49", "12", "2a;7r62;-1;-1;c0"),  # a crossed book: negative offsets
        ("7.5", "07.4", "7.6", "0.0", "2a;231;=07.4;1;01"),  # a leading zero could not come back: literal
        ("1", None, "2", "1e-5", "2a;10;;1;=1e-5"),  # an exponent: literal
        ("0." + "1" * 36, "0." + "1" * 35 + "0", None, "00.5", f"2a;=0.{'1' * 36};=0.{'1' * 35}0;;=00.5"),  # too long
    ],
)
def test_every_field_comes_back_exactly(price, bid, ask, size, member):
    tick = Tick("BTC-USD", 5, 82, price, bid, ask, size)
    assert encode_member(tick) == member
    assert decode_member("BTC-USD", member, 5.0) == tick


@pytest.mark.parametrize(
    "price, bid, ask, size, member",
    [
        ("14.7775", "14.7550", "14.8060", "0.04", "iw99|14.7775|225|285|4e2"),
        ("6225.32000000", None, None, "0.06469797", "9|6225.32000000|||6469797e8"),
        ("97250.00", "97249.99", "97250.01", "0.12345678", "2a|97250.00|1|1|.12345678"),
        ("100.5", "100.45", "101", "1.5", "2a|100.5|=100.45|=101|1.5"),
        ("100.50", "100.51", "100.49", "12", "2a|100.50|-1|-1|12"),
        ("7.5", "07.4", "7.6", "0.0", "2a|7.5|=07.4|1|0e1"),
        ("1", None, "2", "1e-5", "2a|1||1|=1e-5"),
    ],
)
def test_members_written_before_issue_19_still_read_exactly(price, bid, ask, size, member):
    tick = decode_member("BTC-USD", member, 5.0)
    assert tick[3:7] == (price, bid, ask, size)
    assert decode_member("BTC-USD", member.encode(), 5.0) == tick


@pytest.mark.parametrize("bad", ["1;2", "1|2", "1 2", "1\n2", "=1"])
def test_a_field_that_would_break_the_member_is_refused(bad):
    with pytest.raises(ValueError, match="cannot be stored"):
        encode_member(Tick("BTC-USD", 5, 82, "1.5", size=bad))


def test_member_of_a_busy_btc_tick_is_short():
    tick = Tick("BTC-USD", 1, 912_406_337, "97250.00", "97249.99", "97250.01", "0.00412345")
    assert len(encode_member(tick)) == 23  # 28 before issue 19


def test_entries_are_time_and_member_lines():
    ticks = [Tick("BTC-USD", 5, 82, "1.5", size="2"), Tick("BTC-USD", 7, 83, "1.6", "1.5", "1.7")]
    assert encode_entries(ticks) == "5 2a;f1;;;20\n7 2b;g1;1;1;"


plain_decimals = st.decimals(min_value=0, max_value=10**7, places=8, allow_nan=False).map(str)
# what else an exchange string could look like: leading zeros, no fraction, trailing zeros
odd_decimals = st.from_regex(r"\A[0-9]{1,6}(\.[0-9]{1,9})?\Z")
decimal_strings = plain_decimals | odd_decimals


@given(
    time_ms=st.integers(0, 2**47),
    trade_id=st.integers(0, 2**62),
    price=decimal_strings,
    bid=st.none() | decimal_strings,
    ask=st.none() | decimal_strings,
    size=st.none() | decimal_strings,
)
def test_round_trip_is_exact(time_ms, trade_id, price, bid, ask, size):
    tick = Tick("ETH-USD", time_ms, trade_id, price, bid, ask, size)
    assert decode_member("ETH-USD", encode_member(tick), float(time_ms)) == tick


@pytest.mark.parametrize(
    "text, ms",
    [
        ("2022-10-19T23:28:22.061769Z", 1666222102061),
        ("2014-11-07T08:19:28.464459Z", 1415348368464),
        ("2020-03-20T00:22:57.833Z", 1584663777833),
        ("2020-03-20T00:22:57Z", 1584663777000),
        ("2023-02-09T20:30:37.167359596Z", 1675974637167),
        ("2020-03-20T01:22:57.833+01:00", 1584663777833),
        ("2020-03-20", 1584662400000),
    ],
)
def test_iso_to_ms(text, ms):
    assert iso_to_ms(text) == ms


def test_iso_round_trip_and_rejects():
    assert ms_to_iso(1584663777833) == "2020-03-20T00:22:57.833Z"
    with pytest.raises(ValueError):
        iso_to_ms("yesterday")


@given(ms=st.integers(0, 2**42), digits=st.integers(3, 9))
def test_feed_time_fast_path_agrees_with_the_parser(ms, digits):
    text = ms_to_iso(ms)[:-1] + "0" * (digits - 3) + "Z"  # the feed's shape with 3 to 9 fraction digits
    assert iso_to_ms(text) == ms
