"""The tick codec: deterministic members that keep the exchange's exact strings."""

from __future__ import annotations

import importlib.util
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

import bcx.tick
from bcx.tick import Tick, decode_member, encode_entries, encode_member, iso_to_ms, ms_to_iso


@pytest.fixture(autouse=True, scope="module", params=["C", "Python"] if bcx.tick.COMPILED else ["Python"])
def member_codec(request):
    """Every test here runs with each member codec: bcx/_tick_codec.c's where it was built, and Python's."""
    global decode_member
    if request.param == "C":
        yield
        return
    imported, decode_member = decode_member, bcx.tick.decode_member_in_python
    with bcx.tick.python_encoder():
        yield
    decode_member = imported


def test_the_codec_is_the_one_built():
    """Where bcx/_tick_codec.c was built (a C compiler at install), decode_member and encode_entries read and write
    the usual members through it; elsewhere Python does it all. CI (.ci/run) installs a compiler and requires it."""
    built = importlib.util.find_spec("bcx._tick_codec") is not None
    if os.environ.get("BCX_REQUIRE_C_CODEC"):
        assert built, "bcx._tick_codec was not built: is there a C compiler and Python's headers?"
    assert bcx.tick.COMPILED == built
    assert (bcx.tick.decode_member is bcx.tick.decode_member_in_python) == (not built)


def test_member_layout():
    # fields of base-36 digits, each ended by a character of bcx.tick._ENDS that carries its last digit: the trade id
    # (881613 = iw99: `iw9` and `,` for 9); the size and the price as value = units * 10 + decimals in base 51
    # (0.04: 4 * 10 + 2 = 42 = `@`; 14.7775: 1477754 = `mcv` * 51 + 35, `T`); the book as one value: the bid and the
    # ask 0-6 units of the price's last digit away (225 and 285 are not: 50 + 4 * 450 = 1850 = `10` * 51 + 14, `E`,
    # then the ask's 570 = `b` * 51 + 9, `,`)
    tick = Tick("BAND-GBP", 1618677810244, 881613, "14.7775", "14.7550", "14.8060", "0.04")
    assert encode_member(tick) == "iw9,@mcvT10Eb,"
    assert decode_member("BAND-GBP", "iw9,@mcvT10Eb,", 1618677810244.0) == tick


def test_trade_without_book_has_the_no_book_value():
    tick = Tick("BTC-USD", 1, 9, "6225.32000000", size="0.06469797")
    assert encode_member(tick) == ",r6uj?1k2qeofrJ}"  # `}` = 49: neither bid nor ask
    assert decode_member("BTC-USD", b",r6uj?1k2qeofrJ}", 1.0) == tick


@pytest.mark.parametrize(
    "price, bid, ask, size, member",
    [
        ("97250.00", "97249.99", "97250.01", "0.12345678", "2A1fvu9H14vce>+"),  # the usual BTC tick: book 1 * 7 + 1
        ("65000.00", "64999.99", "65000.06", "0.5", "2A1!rbf1[D"),  # 6 cents above: still one character
        ("100.50", "100.51", "100.49", "12", "2A2I1iqW1%#"),  # a crossed book: far, zigzag offsets
        ("1", None, "2", "0.5", "2A1!A1,"),  # one side only
        ("1", "0", None, None, "2A,A1+"),  # no size: decimals 9
        ("100.5", "100.45", "101", "1.5", "2A2}5h&1$3>3<"),  # a bid or ask with other decimals than the price's
        ("185", "184.98", "185", "7.433", "2A14hQ10E1$1U#"),
        ("97241.85000000", "97241.85000000", "97241.86000000", "0.00118946", "2Ahzu_obxdp988W~u9bZ"),  # far
        ("0.123456789", "0.123456788", "0.123456790", "0.5", "2A1!eeuel.+"),  # 9 decimals: the most for a price
        # what the compact member cannot hold is written with `;` between the fields, literals after `=`:
        ("7.5", "07.4", "7.6", "0.0", "2a;231;=07.4;1;01"),  # a leading zero could not come back: literal
        ("1", None, "2", "1e-5", "2a;10;;1;=1e-5"),  # an exponent: literal
        ("0.1234567891", "0.1234567881", "0.1234567901", "0.5", "2a;kf12oja;10;10;51"),  # 10 decimals
        ("1.5", "1.5", "1.6", "0.123456789", "2a;f1;0;1;21i3v99"),  # a size with 9 decimals
        ("0." + "1" * 36, "0." + "1" * 35 + "0", None, "00.5", f"2a;=0.{'1' * 36};=0.{'1' * 35}0;;=00.5"),  # too long
    ],
)
def test_every_field_comes_back_exactly(price, bid, ask, size, member):
    tick = Tick("BTC-USD", 5, 82, price, bid, ask, size)
    assert encode_member(tick) == member
    assert decode_member("BTC-USD", member, 5.0) == tick


@pytest.mark.parametrize(
    "tick, member",
    [  # as issue 19's first pass wrote them: `;` between the fields, price and size in base 36 and a decimals digit
        (("14.7775", "14.7550", "14.8060", "0.04"), "iw99;360v4;225;285;42"),
        (("6225.32000000", None, None, "0.06469797"), "iw99;7xzjh9fk8;;;3uo4l8"),
        (("97250.00", "97249.99", "97250.01", "0.12345678"), "iw99;5sfuw2;1;1;7clzi8"),
        (("100.50", "100.51", "100.49", "12"), "iw99;7r62;-1;-1;c0"),
    ],
)
def test_separated_members_of_plain_numbers_still_read_exactly(tick, member):
    assert decode_member("BTC-USD", member, 5.0) == Tick("BTC-USD", 5, 881613, *tick)


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
    assert encode_member(tick) == "f3818H1qdw)14vce>+"  # 18 characters: 28 before issue 19, then 23 with `;`


@pytest.mark.parametrize("trade_id", [0, 9, 35, 36, 1295, 1296, 46655, 46656, 2**53 + 1])
def test_trade_ids_at_digit_boundaries(trade_id):
    tick = Tick("BTC-USD", 5, trade_id, "1.5", "1.5", "1.6", "0.5")
    assert decode_member("BTC-USD", encode_member(tick), 5.0) == tick


def test_a_negative_trade_id_is_refused():
    for trade_id in (-1, -1297):
        with pytest.raises(ValueError, match="negative"):
            encode_member(Tick("BTC-USD", 5, trade_id, "1.5"))


def test_entries_are_time_and_member_lines():
    ticks = [Tick("BTC-USD", 5, 82, "1.5", size="2"), Tick("BTC-USD", 7, 83, "1.6", "1.5", "1.7")]
    assert encode_entries(ticks) == "5 2AK2}}\n7 2B,3++"


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
    member = encode_member(tick)
    assert decode_member("ETH-USD", member, float(time_ms)) == tick
    assert not any(c in member for c in " \n|") and "=" not in member.replace(";=", "")


decimal_places = st.integers(0, 9).flatmap(lambda places: st.integers(0, 10**12).map(lambda units: (units, places)))


@given(
    price=decimal_places,
    below=st.integers(-(2**41), 2**41),
    above=st.integers(-(2**41), 2**41),
    sides=st.sampled_from(["both", "bid", "ask", "none"]),
    size=st.none() | decimal_places,
)
def test_plain_numbers_make_compact_members(price, below, above, sides, size):
    """Prices with up to 9 decimals, books with the price's decimals, sizes with up to 8: no `;` (one character less
    per field); the book's offsets of any size and sign."""
    units, places = price
    text = _decimal(units, places)
    bid = _decimal(units - below, places) if sides in ("both", "bid") and units >= below else None
    ask = _decimal(units + above, places) if sides in ("both", "ask") and units + above >= 0 else None
    size_text = None if size is None else _decimal(size[0], min(size[1], 8))
    tick = Tick("ETH-USD", 5, 881613, text, bid, ask, size_text)
    member = encode_member(tick)
    assert decode_member("ETH-USD", member, 5.0) == tick
    offsets = [offset for offset, side in ((below, bid), (above, ask)) if side is not None]
    assert (";" in member) == any(abs(offset) >= 2**40 for offset in offsets)


@given(price=decimal_places, bid=st.none() | decimal_places, ask=st.none() | decimal_places)
def test_books_with_other_decimals_than_the_price_make_compact_members(price, bid, ask):
    """A bid or ask with other decimals than the price's (Coinbase writes `185` beside `184.98`): its offset in units
    of the finer last digit of the two; a separated member only when that is 2**40 or more."""
    tick = Tick("ETH-USD", 5, 881613, _decimal(*price), bid and _decimal(*bid), ask and _decimal(*ask), "0.5")
    member = encode_member(tick)
    assert decode_member("ETH-USD", member, 5.0) == tick
    offsets = [_scaled_offset(side, price) for side in (bid, ask) if side is not None]
    assert (";" in member) == any(abs(offset) >= 2**40 for offset in offsets)


def _scaled_offset(side: tuple[int, int], price: tuple[int, int]) -> int:
    finer = max(side[1], price[1])
    return side[0] * 10 ** (finer - side[1]) - price[0] * 10 ** (finer - price[1])


def _decimal(units: int, places: int) -> str:
    digits = str(units).rjust(places + 1, "0")
    return f"{digits[:-places]}.{digits[-places:]}" if places else digits


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
