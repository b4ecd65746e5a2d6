"""A tick (one trade with the book's top at that moment) and its deterministic sorted-set member.

The member is short because memory per tick decides how much history fits. A compact member is four or five
fields with nothing between them: each field is base-36 digits (0-9a-z) ended by one character of _ENDS (51
characters: A-Z and punctuation, none of them a digit, a lowercase letter, `;`, `|`, `=`, `-` or whitespace) that
carries its last digit, so a field's value is digits * 51 + the end's place in _ENDS, and the digits are left out
when the value is below 51. In order:

- the trade id: its base-36 digits but the last, which is the end (`881613` = `iw99` -> `iw9,`: `,` is 9);
- the size: value = the digits without the point * 10 + the decimals, 0-8 (`0.04` -> 42 -> `@`); 9 decimals: no
  size;
- the price the same way, 0-9 decimals (`97250.00` -> 97250002 -> `14vce>`);
- the book value: the bid `b` and the ask `a` units of the price's last digit below and above it, both 0-6, are
  b * 7 + a, one character (`97249.99` and `97250.01` -> 8 -> `+`); 49 is no bid and no ask (a trade learned by a
  REST backfill); other books are 50 + 4 * the first offset (zigzag: 0, -1, 1, -2 -> 0, 1, 2, 3) + 0 with the
  ask's offset as a fifth field, 1 for a bid only, 2 for an ask only; 53 when a side has other decimals than the
  price (Coinbase writes `185` beside `184.98`), then one field a side: 0 for none, else 1 + its decimals less the
  price's (zigzag) + 19 * its offset (zigzag) in units of the finer last digit of the two.

A BTC tick is 18 characters (`f3818H1qdw)14vce>+`). A tick the compact member cannot hold (a number written another
way: leading zeros, an exponent; more than 9 decimals in a price or 8 in a size, or 10 in a bid or ask; an offset
of 2**40 units or more) is written as issue 19's first member, `trade_id;price;bid;ask;size`: the trade id in base
36, price and size in base 36 followed by their decimals as one base-36 digit, bid and ask as offsets in units of
the price's last digit, and a field that cannot be held so as the literal after `=`.

Members written before issue 19 (`trade_id|price|bid|ask|size`) and the `;` members are still read: decode_member
tells the three apart (a compact member has neither `;` nor `|`), and the chunk script (lua/chunk_add.lua) reads
the trade id and whether the book is there from each, so a trade stored in one form is the same trade written in
another. Every field decodes to the exact string the exchange sent, trailing zeros included. The score is the
exchange time in unix milliseconds (stored relative to its chunk: bcx.chunks). The same tick always encodes to the
same member, so writing it twice stores it once.

This module's Python defines the member. Where the package was built with a C compiler, bcx/_tick_codec.c writes
and reads the usual ones (plain decimals, a book near the price or none) at a fraction of the CPU, and hands every
other tick and member back to _entry() and decode_member_in_python().
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import lru_cache, partial
from typing import NamedTuple

try:  # built where the package was installed with a C compiler; without one, Python encodes and decodes it all
    from bcx._tick_codec import decode as _compiled_decode
    from bcx._tick_codec import encode as _compiled_encode
except ImportError:
    _compiled_decode = _compiled_encode = None
COMPILED = _compiled_encode is not None  # bcx/_tick_codec.c was built: the usual members are written and read in C
MEMBER_CODEC = "C (bcx/_tick_codec.c)" if COMPILED else "Python (no C build)"  # for the benchmarks and the logs

SEPARATOR = ";"
LEGACY_SEPARATOR = "|"  # members written before issue 19
RAW = "raw"  # the tier of the ticks themselves, beside the candle intervals: retention's key, the API's `tier`
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Tick(NamedTuple):
    """Immutable; a NamedTuple rather than a frozen dataclass because the tracker makes tens of thousands a second
    and a frozen dataclass costs ~2.5 us to build here, a NamedTuple ~0.5."""

    product: str
    time_ms: int
    trade_id: int
    price: str
    bid: str | None = None
    ask: str | None = None
    size: str | None = None
    sequence: int | None = None

    def as_dict(self) -> dict:
        """The API's fixed field names."""
        return {
            "time": self.time_ms,
            "trade_id": self.trade_id,
            "price": self.price,
            "bid": self.bid,
            "ask": self.ask,
            "size": self.size,
        }


class Cursor(NamedTuple):
    """Where a reader of a series stands: the last tick it took. Ticks are read in (time_ms, trade_id) order, and a
    Cursor compares in that order with the tuple of a tick's two."""

    time_ms: int
    trade_id: int

    @classmethod
    def of(cls, tick: Tick) -> Cursor:
        return cls(tick.time_ms, tick.trade_id)


@contextmanager
def python_encoder() -> Iterator[None]:
    """encode_entries in Python alone while inside, bcx/_tick_codec.c set aside: the benchmarks' "before" and the
    tests of the Python encoder (decode_member_in_python is the decoder's)."""
    global _compiled_encode
    kept, _compiled_encode = _compiled_encode, None
    try:
        yield
    finally:
        _compiled_encode = kept


def encode_member(tick: Tick) -> str:
    return encode_entries([tick]).partition(" ")[2]


def encode_entries(ticks: Iterable[Tick]) -> str:
    """`time member` lines, one a tick: the whole batch as one argument of the chunk script (bcx.chunks), which is
    cheaper to send than two arguments a tick. The tracker encodes every tick it stores here. Where the package was
    built with a C compiler, bcx/_tick_codec.c writes the usual ticks' lines and hands the others to _entry()."""
    if _compiled_encode is not None:
        return _compiled_encode(ticks, _entry)
    return "\n".join([_entry(tick) for tick in ticks])


def _entry(tick: Tick) -> str:
    """One tick's `time member` line: the definition of the member (each price is worked out once: _price_form is
    cached)."""
    _, time_ms, trade_id, price, bid, ask, size, _ = tick
    form = _price_form(price)
    quote = _quote_field(price, form, bid, ask)
    size_field = (_size_field(size) if size else _NO_SIZE_FIELD) if quote is not None else None
    high, low = divmod(trade_id, 1296)
    if size_field is None:  # a number the compact member cannot hold: the separated member
        trade = _base36_high(high) + _PAIRS36[low] if high > 0 else base36(trade_id)
        return f"{time_ms} {trade};{_separated(price, form, bid, ask, size)}"
    trade = _base36_high(high) + _TRADE_TAILS[low] if high > 0 else _small_trade(trade_id)
    return f"{time_ms} {trade}{size_field}{quote}"


def _separated(price: str, form: tuple, bid: str | None, ask: str | None, size: str | None) -> str:
    """A member with `;` between its fields but its trade id (issue 19's first format; form: the price's
    _price_form()): what a tick whose numbers the compact member cannot hold is written as, literals included."""
    plain = form[0] >= 0  # a trade is at the bid or the ask: that side is 0, with no arithmetic
    bid_field = "" if bid is None else "0" if bid == price and plain else _book_offset(bid, form, -1)
    ask_field = "" if ask is None else "0" if ask == price and plain else _book_offset(ask, form, 1)
    return f"{_separated_price(price)};{bid_field};{ask_field};{_size_form(size)}"


@lru_cache(maxsize=4096)
def _separated_price(price: str) -> str:
    units, decimals = _price_form(price)[:2]
    return "=" + _checked_literal(price) if units < 0 else base36(units) + _DIGITS36[decimals]


def decode_member_in_python(product: str, member: str | bytes, score: float, /) -> Tick:
    """decode_member() in Python: the definition, and what bcx/_tick_codec.c hands the unusual members to.
    Positional arguments only, as the C one takes them."""
    if isinstance(member, bytes):
        member = member.decode()
    compact = _COMPACT.match(member)
    if compact is None:
        return _decode_separated(product, member, score)
    trade, trade_end, size, size_end, price, price_end, book, book_end = compact.groups()
    units, decimals = divmod(_field_value(price, price_end), _DECIMALS)
    book_value = _field_value(book, book_end)
    if book_value < _NO_BOOK:
        below, above = divmod(book_value, _NEAR)
        bid, ask = _unscaled(units - below, decimals), _unscaled(units + above, decimals)
    else:
        bid, ask = _far_book(book_value, member[compact.end() :], units, decimals)
    size_units, size_decimals = divmod(_field_value(size, size_end), _DECIMALS)
    return Tick(
        product,
        int(score),
        int(trade, 36) * 36 + _END_VALUES[trade_end] if trade else _END_VALUES[trade_end],
        _unscaled(units, decimals),
        bid,
        ask,
        None if size_decimals == _NO_DECIMALS else _unscaled(size_units, size_decimals),
    )


# decode_member(product, member, score) -> Tick: the tick a member (str or bytes) and its score (the time) stand for.
# Where the package was built with a C compiler, bcx/_tick_codec.c reads the usual members and hands the others to
# decode_member_in_python().
decode_member: Callable[[str, str | bytes, float], Tick] = (
    partial(_compiled_decode, Tick, decode_member_in_python)
    if _compiled_decode is not None
    else decode_member_in_python
)


def _decode_separated(product: str, member: str, score: float) -> Tick:
    fields = member.split(SEPARATOR)
    if len(fields) != 5:
        return _decode_legacy(product, member, score)
    trade_id, price, bid, ask, size = fields
    if price[0] == "=":
        price, units, decimals = price[1:], None, 0
    else:
        units, decimals = int(price[:-1], 36), _DIGIT_VALUES[price[-1]]
        price = _unscaled(units, decimals)
    return Tick(
        product=product,
        time_ms=int(score),
        trade_id=int(trade_id, 36),
        price=price,
        bid=(_from_units(bid, units, decimals, -1) if units is not None else _literal(bid)) if bid else None,
        ask=(_from_units(ask, units, decimals, 1) if units is not None else _literal(ask)) if ask else None,
        size=_decode_scaled(size) if size else None,
    )


def _decode_legacy(product: str, member: str, score: float) -> Tick:
    trade_id, price, bid, ask, size = member.split(LEGACY_SEPARATOR)
    return Tick(
        product=product,
        time_ms=int(score),
        trade_id=int(trade_id, 36),
        price=price,
        bid=from_offset(bid, price, -1),
        ask=from_offset(ask, price, 1),
        size=_decode_legacy_size(size),
    )


_DIGITS36 = "0123456789abcdefghijklmnopqrstuvwxyz"
_DIGIT_VALUES = {digit: value for value, digit in enumerate(_DIGITS36)}
_PAIRS36 = [high + low for high in _DIGITS36 for low in _DIGITS36]  # two digits per divmod: half the loop turns
_SHORT36 = [""] + [pair.lstrip("0") for pair in _PAIRS36[1:]]  # below 1296 without leading zeros; 0 as nothing
_PLAIN = re.compile(r"(?:0|[1-9][0-9]*)(?:\.[0-9]+)?\Z", re.ASCII)  # what _unscaled() gives back exactly
# What a literal field may hold: nothing that separates fields, entries (bcx.chunks) or members from their times.
_LITERAL = re.compile(r"[^;|\s=]+\Z")


# The compact member's fields: base-36 digits, then one character of _ENDS that ends the field and carries its
# last digit of base len(_ENDS) (its trade id's last base-36 digit, for the trade id). No character of a separated
# member's separators, of the chunk script's entry lines or of a literal's `=` is among them (lua/chunk_add.lua
# reads the trade id and the book from them).
_ENDS = "!#$%&()*+,ABCDEFGHIJKLMNOPQRSTUVWXYZ./:<>?@[]^_`{}~"
_END_VALUES = {end: value for value, end in enumerate(_ENDS)}
_RADIX = len(_ENDS)
_DECIMALS = 10  # a price's decimals (0-9) and a size's (0-8) share the field's value: value = units * 10 + decimals
_NO_DECIMALS = _DECIMALS - 1  # a size's decimals of 9: no size
_NO_SIZE_FIELD = _ENDS[_NO_DECIMALS]
_NEAR = 7  # a bid and an ask 0-6 units of the price's last digit from it: one book value below 49 (one character)
_NO_BOOK = _NEAR * _NEAR  # 49: neither a bid nor an ask (a REST backfill)
# Other books: 50 + 4 * zigzag(first offset) + (0: both, then the ask's offset as a field; 1: the bid only; 2: the
# ask only); 53: a bid or ask with other decimals than the price's, then one field for each side (_side_code()).
_FAR = _NO_BOOK + 1
_MIXED = _FAR + 3
_SHIFTS = 2 * _DECIMALS - 1  # a side's decimals less the price's, -9 to 9, zigzagged
_MAX_FAR = 1 << 40  # larger offsets: a separated member (the chunk script reads the book value as a double)
_FIELD = f"([0-9a-z]*)([{re.escape(_ENDS)}])"
# trade id, size, price, book value (then the ask's offset when the book is far: _quote_field()). No `\Z` and no
# optional group: the match costs a third less, and a separated member fails at its first `;` or `|`.
_COMPACT = re.compile(_FIELD * 4)
_TWO_FIELDS = re.compile(_FIELD * 2)
_POWERS = [10**places for places in range(_DECIMALS)]
_SAME = (0, 0)  # the _side() of a bid or ask equal to the price


def base36(number: int) -> str:
    if number < 0:
        raise ValueError(f"trade id {number} is negative")
    text = ""
    while number >= 1296:
        number, pair = divmod(number, 1296)
        text = _PAIRS36[pair] + text
    return (_PAIRS36[number].lstrip("0") or "0") + text if text or number else "0"


def _field(value: int) -> str:
    """A compact member's field: value // 51 in base 36 (nothing for 0), then _ENDS[value % 51]. Up to six digits
    without a loop: every size and price goes through here."""
    high, low = divmod(value, _RADIX)
    if high < 1296:
        return _SHORT36[high] + _ENDS[low]
    if high < 1679616:
        top, pair = divmod(high, 1296)
        return _SHORT36[top] + _PAIRS36[pair] + _ENDS[low]
    if high < 2176782336:
        top, rest = divmod(high, 1679616)
        middle, pair = divmod(rest, 1296)
        return _SHORT36[top] + _PAIRS36[middle] + _PAIRS36[pair] + _ENDS[low]
    return base36(high) + _ENDS[low]


def _field_value(digits: str, end: str) -> int:
    return int(digits, 36) * _RADIX + _END_VALUES[end] if digits else _END_VALUES[end]


def _trade_tail(low: int) -> str:
    """The last two base-36 digits of a trade id (low = id % 1296) as its compact field's end: the last as an end."""
    return _DIGITS36[low // 36] + _ENDS[low % 36]


_TRADE_TAILS = [_trade_tail(low) for low in range(1296)]


def _small_trade(trade_id: int) -> str:
    """The compact field of a trade id below 1,296."""
    if trade_id < 0:
        raise ValueError(f"trade id {trade_id} is negative")
    return _trade_tail(trade_id).lstrip("0")


def _quote_field(text: str, price: tuple, bid: str | None, ask: str | None) -> str | None:
    """A compact member's price and book fields (price: the _price_form() of the price `text`), or None when they
    cannot be held: a price written another way or with more than 9 decimals, a bid or ask written another way."""
    field = price[4]
    if field is None:
        return None
    below = None if bid is None else _SAME if bid == text else _side(bid, price, -1)
    above = None if ask is None else _SAME if ask == text else _side(ask, price, 1)
    if (bid is not None and below is None) or (ask is not None and above is None):
        return None  # written another way, 10 decimals or more
    book = _book_field(below, above)
    return field + book if book else None


def _side(value: str, price: tuple, sign: int) -> tuple[int, int] | None:
    """A bid or ask as (its decimals less the price's, `sign * (value - price)` in units of the finer last digit of
    the two) (price: its _price_form()), or None when it is written another way or with 10 decimals or more."""
    units, decimals, price_whole, price_fraction, _ = price
    whole, _, fraction = value.partition(".")
    places = len(fraction)
    if whole == price_whole and places == decimals and fraction.isdigit() and fraction.isascii():
        return 0, sign * (int(fraction) - price_fraction)  # the usual case: the price's whole part and decimals
    if places >= _DECIMALS or not _PLAIN.match(value):
        return None
    if places > decimals:
        return places - decimals, sign * (int(whole + fraction) - units * _POWERS[places - decimals])
    return places - decimals, sign * (int(whole + fraction) * _POWERS[decimals - places] - units)


@lru_cache(maxsize=4096)
def _book_field(bid: tuple[int, int] | None, ask: tuple[int, int] | None) -> str:
    """The book's fields of a compact member from its sides' _side() (None: no bid, no ask), or "" when an offset
    is too far for one. Cached: a feed's books repeat their shapes."""
    if (bid is not None and abs(bid[1]) >= _MAX_FAR) or (ask is not None and abs(ask[1]) >= _MAX_FAR):
        return ""
    if (bid is not None and bid[0]) or (ask is not None and ask[0]):  # other decimals than the price's
        return _field(_MIXED) + _side_code(bid) + _side_code(ask)
    if bid is None and ask is None:
        return _ENDS[_NO_BOOK]
    if bid is None or ask is None:
        offset, side = (bid[1], 1) if ask is None else (ask[1], 2)
        return _field(_FAR + 4 * _zigzag(offset) + side)
    below, above = bid[1], ask[1]
    if 0 <= below < _NEAR and 0 <= above < _NEAR:
        return _ENDS[below * _NEAR + above]
    return _field(_FAR + 4 * _zigzag(below)) + _field(_zigzag(above))


def _side_code(side: tuple[int, int] | None) -> str:
    """A side's field in a book with other decimals than the price's: 0 for none, else 1 + its _side() decimals
    (zigzag) + 19 * its offset (zigzag)."""
    return _ENDS[0] if side is None else _field(1 + _zigzag(side[0]) + _SHIFTS * _zigzag(side[1]))


def _zigzag(number: int) -> int:
    return 2 * number if number >= 0 else -2 * number - 1


def _size_field(size: str) -> str | None:
    """A compact member's size field, or None for a size written another way or with more than 8 decimals."""
    whole, dot, fraction = size.partition(".")
    places = len(fraction)
    if whole == "0" and dot and places < _NO_DECIMALS and fraction.isdigit() and fraction.isascii():
        return _field(int(fraction) * _DECIMALS + places)  # the usual case: below 1
    if places >= _NO_DECIMALS or not _PLAIN.match(size):
        return None
    return _field(int(whole + fraction) * _DECIMALS + places)


def _far_book(value: int, rest: str, units: int, decimals: int) -> tuple:
    """(bid, ask) of a book value of 49 or more (_book_field()): none, one side, both sides far apart (the ask's
    offset is then the member's rest), or sides with other decimals than the price's (_side_code(): the rest)."""
    if value == _NO_BOOK:
        return None, None
    zigzag, side = divmod(value - _FAR, 4)
    first = _unzigzag(zigzag)
    if side == 1:
        return _unscaled(units - first, decimals), None
    if side == 2:
        return None, _unscaled(units + first, decimals)
    if side == 3:
        bid_digits, bid_end, ask_digits, ask_end = _TWO_FIELDS.match(rest).groups()
        return (
            _from_side_code(_field_value(bid_digits, bid_end), units, decimals, -1),
            _from_side_code(_field_value(ask_digits, ask_end), units, decimals, 1),
        )
    return _unscaled(units - first, decimals), _unscaled(units + _unzigzag(_field_value(rest[:-1], rest[-1])), decimals)


def _from_side_code(code: int, units: int, decimals: int, sign: int) -> str | None:
    """The inverse of _side_code()."""
    if code == 0:
        return None
    offset, shift = divmod(code - 1, _SHIFTS)
    offset, shift = sign * _unzigzag(offset), _unzigzag(shift)
    if shift >= 0:  # more decimals than the price: the offset is in units of the side's last digit
        return _unscaled(units * _POWERS[shift] + offset, decimals + shift)
    return _unscaled((units + offset) // _POWERS[-shift], decimals + shift)


def _unzigzag(number: int) -> int:
    return (number >> 1) ^ -(number & 1)


@lru_cache(maxsize=16384)
def _price_form(price: str) -> tuple[int, int, str, int, str | None]:
    """(units, decimals, whole part, units of the fraction, compact member's field) of a price: a feed repeats its
    prices, so each is worked out once. Units are -1 for a price written another way (leading zeros, an exponent,
    more than 35 decimals), the compact field None for one the compact member cannot hold."""
    whole, _, fraction = price.partition(".")
    if len(fraction) >= len(_DIGITS36) or not _PLAIN.match(price):
        return -1, -1, "", 0, None
    units, decimals = int(whole + fraction), len(fraction)
    compact = _field(units * _DECIMALS + decimals) if decimals < _DECIMALS else None
    return units, decimals, whole, int(fraction or 0), compact


@lru_cache(maxsize=1024)
def _base36_high(number: int) -> str:
    """base36() of a trade id but its last two digits: consecutive trade ids share it for 1,296 trades."""
    return base36(number)


def _book_offset(value: str, price: tuple, sign: int) -> str:
    """A bid or ask against its trade's price (its _price_form()), in units of the price's last digit."""
    units, decimals, price_whole, price_fraction, _ = price
    whole, _, fraction = value.partition(".")
    if whole == price_whole and len(fraction) == decimals and fraction.isdigit() and fraction.isascii():
        return str(sign * (int(fraction) - price_fraction))  # the usual case: the price's whole part and decimals
    if len(fraction) != decimals or units < 0 or not _PLAIN.match(value):
        return "=" + _checked_literal(value)
    return str(sign * (int(whole + fraction) - units))


def _size_form(size: str | None) -> str:
    if not size:
        return ""
    whole, dot, fraction = size.partition(".")
    if whole == "0" and dot and fraction.isdigit() and fraction.isascii() and len(fraction) < len(_DIGITS36):
        return base36(int(fraction)) + _DIGITS36[len(fraction)]  # the usual case: below 1
    if len(fraction) >= len(_DIGITS36) or not _PLAIN.match(size):
        return "=" + _checked_literal(size)
    return base36(int(whole + fraction)) + _DIGITS36[len(fraction)]


def _checked_literal(text: str) -> str:
    if not _LITERAL.match(text):
        raise ValueError(f"{text!r:.60} cannot be stored in a tick member")
    return text


def _literal(field: str) -> str:
    return field[1:]


def _from_units(field: str, units: int, decimals: int, sign: int) -> str:
    return field[1:] if field[0] == "=" else _unscaled(units + sign * int(field), decimals)


def _decode_scaled(field: str) -> str:
    if field[0] == "=":
        return field[1:]
    return _unscaled(int(field[:-1], 36), _DIGIT_VALUES[field[-1]])


def _scaled(text: str) -> tuple[int, int]:
    """`97250.05` -> (9725005, 2): the decimal as an integer count of its last digit's unit."""
    whole, _, fraction = text.partition(".")
    return int(whole + fraction), len(fraction)


def _plain_scaled(text: str) -> tuple[int, int] | None:
    """_scaled() of a decimal written the usual way (digits, no leading zeros), else None."""
    return _scaled(text) if _PLAIN.match(text) else None


def _unscaled(units: int, decimals: int) -> str:
    digits = str(units).rjust(decimals + 1, "0")
    return f"{digits[:-decimals]}.{digits[-decimals:]}" if decimals else digits


def offset(value: str | None, reference: str, sign: int) -> str:
    """`value` as `sign * (value - reference)` in units of the reference's last digit when both are written the
    usual way (digits, no leading zeros) with the same number of decimals, else `=value`; "" for None."""
    return _offset(value, _plain_scaled(reference), sign)


def _offset(value: str | None, base: tuple[int, int] | None, sign: int) -> str:
    """offset() against the reference's _plain_scaled()."""
    if value is None:
        return ""
    whole, _, fraction = value.partition(".")
    if base is None or len(fraction) != base[1] or not _PLAIN.match(value):
        return "=" + value
    return str(sign * (int(whole + fraction) - base[0]))


def from_offset(text: str, reference: str, sign: int) -> str | None:
    """The inverse of offset()."""
    if not text:
        return None
    if text[0] == "=":
        return text[1:]
    base, decimals = _scaled(reference)
    return _unscaled(base + sign * int(text), decimals)


def _decode_legacy_size(text: str) -> str | None:
    if not text:
        return None
    if text[0] == "=":
        return text[1:]
    if "e" in text:
        digits, _, decimals = text.partition("e")
        return "0." + digits.rjust(int(decimals), "0")
    return "0" + text if text[0] == "." else text


def iso_to_ms(text: str) -> int:
    """`2022-10-19T23:28:22.061769Z` -> unix ms, exact (integer arithmetic, no float round trip).

    Raises ValueError for text that is not an RFC 3339 time (a calendar date, then optionally a time and a zone); a
    bare date is midnight and a time without a zone is taken as UTC. Week dates (`2026-W44-1`), ordinal dates and
    the compact forms that datetime.fromisoformat also takes are refused: no exchange writes them, and a feed
    frame carrying one is broken or hostile.
    """
    if _FEED_TIME.match(text):  # the feed's own shape, many per second: parse its whole seconds once
        return _second_ms(text[:19]) + int(text[20:23])
    if not _RFC3339.match(text.strip()):
        raise ValueError(f"{text!r:.60} is not an RFC 3339 time (like 2022-10-19T23:28:22.061Z)")
    return _parse_iso_ms(text)


# `2022-10-19T23:28:22.061769Z`: whole seconds, at least millisecond digits, UTC
_FEED_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3,9}Z\Z", re.ASCII)
# RFC 3339 (T or a space between date and time), a bare date, or a time without a zone (taken as UTC)
_RFC3339 = re.compile(r"\d{4}-\d\d-\d\d(?:[Tt ]\d\d:\d\d(?::\d\d(?:\.\d{1,9})?)?(?:[Zz]|[+-]\d\d:\d\d)?)?\Z", re.ASCII)


@lru_cache(maxsize=4096)
def _second_ms(text: str) -> int:
    return _parse_iso_ms(text + "Z")


def _parse_iso_ms(text: str) -> int:
    parsed = datetime.fromisoformat(text.strip())
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    delta = parsed - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1000 + delta.microseconds // 1000


def ms_to_iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def iso_us(time_us: int) -> str:
    """Unix microseconds -> RFC 3339 with microseconds, as the exchanges write times."""
    return (_EPOCH + timedelta(microseconds=time_us)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def shift_iso(text: str, ms: int) -> str:
    """An RFC 3339 time `ms` milliseconds later, with microseconds (a looping replay moves recorded times)."""
    moved = datetime.fromisoformat(text) + timedelta(milliseconds=ms)
    return moved.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
