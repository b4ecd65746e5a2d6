"""bcx/_tick_codec.c held to the Python codec: the same lines for any tick and the same tick for any member, the
same errors, and Python called only for the ticks and members C leaves to it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import bcx.tick
from bcx.tick import _ENDS, Tick, _entry, _unscaled, decode_member, decode_member_in_python  # _unscaled: 1, 2 -> 0.01

# Collected only where bcx/_tick_codec.c was built (tests/conftest.py's collect_ignore; the session's summary says when
# it was not).


def compiled(ticks, entry=_entry) -> str:
    return bcx.tick._compiled_encode(ticks, entry)


def in_python(ticks) -> str:
    return "\n".join([_entry(tick) for tick in ticks])


# what else a field could hold: leading zeros, exponents, signs, a bare point, other scripts' digits, no digits
odd_numbers = st.from_regex(r"\A[-+]?[0-9]{0,21}(\.[0-9]{0,12})?(e-?[0-9])?\Z") | st.sampled_from(
    ["", ".", "5.", ".5", "١.٥", "1.٥", "1_0", " 1", "0.5 "]
)


@st.composite
def ticks(draw) -> Tick:
    """Mostly the usual shapes near the C encoder's edges (decimals 0-10, 16-19 digits, offsets 0-7 either way),
    sometimes anything."""
    places = draw(st.integers(0, 11))
    units = draw(st.integers(0, 10**3) | st.integers(0, 10**19))
    price = draw(st.just(_unscaled(units, places)) | odd_numbers)

    def side(sign: int):
        near = st.integers(-2, 8).map(lambda offset: _unscaled(max(units + sign * offset, 0), places))
        other_places = st.integers(0, 11).map(lambda other: _unscaled(units, other))
        return st.none() | st.just(price) | near | other_places | odd_numbers

    sizes = st.integers(0, 10**18).flatmap(lambda size: st.integers(0, 10).map(lambda other: _unscaled(size, other)))
    return Tick(
        "BTC-USD",
        draw(st.integers(-5, 2**64) | st.booleans()),
        draw(st.integers(-(2**8), 2**64)),
        price,
        draw(side(-1)),
        draw(side(1)),
        draw(st.none() | sizes | odd_numbers),
    )


@given(batch=st.lists(ticks(), max_size=8))
def test_the_same_lines_as_python_or_the_same_error(batch):
    try:
        expected = in_python(batch)
    except ValueError as error:  # a negative trade id, a field that would break the member
        with pytest.raises(ValueError) as raised:
            compiled(batch)
        assert str(raised.value) == str(error)
    else:
        assert compiled(batch) == expected


def test_usual_ticks_never_call_python():
    called = []
    usual = [
        Tick("BTC-USD", 1, 912_406_337, "97250.00", "97249.99", "97250.01", "0.00412345"),
        Tick("BTC-USD", 2, 35, "97250.00", "97250.00", "97250.06", None),
        Tick("BTC-USD", 3, 0, "185", "184", "185", "12"),
        Tick("BTC-USD", 4, 2**62, "0.123456789", None, None, "0.5"),
    ]
    assert compiled(usual, lambda tick: called.append(tick) or _entry(tick)) == in_python(usual)
    assert called == []


def test_unusual_ticks_are_written_by_python():
    called = []
    unusual = [
        Tick("BTC-USD", 1, 9, "185", "184.98", "185", "7.433"),  # a side with other decimals than the price's
        Tick("BTC-USD", 2, 9, "100.50", "100.51", "100.49", "12"),  # a crossed book
        Tick("BTC-USD", 3, 9, "1.5", "1.5", "1.6", "0.123456789"),  # a size with 9 decimals
        Tick("BTC-USD", 4, 2**64, "1.5", "1.5", "1.6", "0.5"),  # a trade id beyond 64 bits
        Tick("BTC-USD", 5, 9, "1" * 18, None, None, "1"),  # more digits than the C encoder's 17
    ]
    assert compiled(unusual, lambda tick: called.append(tick) or _entry(tick)) == in_python(unusual)
    assert called == unusual


def test_any_iterable_and_an_error_from_python_comes_through():
    usual = Tick("BTC-USD", 1, 9, "1.5", "1.5", "1.6", "0.5")
    assert compiled(iter([usual, usual])) == in_python([usual, usual])
    assert compiled(()) == ""
    with pytest.raises(ValueError, match="cannot be stored"):
        compiled([usual, usual._replace(size="1;2")])
    with pytest.raises(TypeError):
        compiled(5)


def decoded_in_c(product, member, score, fallback=decode_member_in_python):
    return bcx.tick._compiled_decode(Tick, fallback, product, member, score)


def outcome(decode, *args):
    """What decode(*args) gives: its value, or the type and text of what it raised."""
    try:
        return decode(*args)
    except Exception as error:  # noqa: BLE001 - any error, to compare C's with Python's
        return type(error), str(error)


@given(tick=ticks(), score=st.floats(0, 2**50) | st.integers(0, 2**60))
def test_every_member_python_writes_reads_back_the_same_in_c(tick, score):
    try:
        member = _entry(tick).partition(" ")[2]
    except ValueError:  # a tick no member can hold
        return
    in_c, in_python = decoded_in_c("BTC-USD", member, score), decode_member_in_python("BTC-USD", member, score)
    assert in_c == in_python and hash(in_c) == hash(in_python) and type(in_c) is Tick


# members as they could be corrupted: every character of the compact fields, the separators, others
member_text = st.text(alphabet="0123456789abcdefghijklmnopqrstuvwxyz" + _ENDS + ";|=-. é", max_size=24)


@given(member=member_text, score=st.floats(allow_nan=True) | st.integers() | st.just("12"))
def test_any_text_reads_as_python_reads_it_or_fails_alike(member, score):
    assert outcome(decoded_in_c, "BTC-USD", member, score) == outcome(decode_member_in_python, "BTC-USD", member, score)


def test_usual_members_never_call_python_and_others_do():
    usual = ["f3818H1qdw)14vce>+", "2A1!rbf1[D", "2A,A}", ",r6uj?1k2qeofrJ}"]
    unusual = ["iw9,@mcvT10Eb,", "2A2}5h&1$3>3<", "2a;231;=07.4;1;01", "iw99|3480.08|0|1|0.5", b"2A1!rbf1[D", "A!!*"]
    called = []

    def fallback(*args):
        called.append(args[1])
        return decode_member_in_python(*args)

    for member in usual + unusual:
        assert decoded_in_c("BTC-USD", member, 5.0, fallback) == decode_member_in_python("BTC-USD", member, 5.0)
    assert called == unusual  # far books, other decimals, separated and legacy members, bytes, a bid below 0
    assert decode_member is not decode_member_in_python  # the module reads through C where it was built


def test_decode_wants_the_tick_class():
    with pytest.raises(TypeError, match="tick_class"):
        bcx.tick._compiled_decode(dict, decode_member_in_python, "BTC-USD", "2A1!rbf1[D", 5.0)
