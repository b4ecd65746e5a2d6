"""A tick (one trade with the book's top at that moment) and its deterministic sorted-set member.

Member: `trade_id;price;bid;ask;size`, short because memory per tick is what decides how much history fits:

- trade_id in base 36 (`881613` -> `iw99`);
- price and size as a scaled decimal: the number written without its point, in base 36, then the count of decimals
  as one base-36 digit (`14.7775` -> 147775 and 4 -> `35z34`; `0.00412345` -> `2g5ip8`; `0.5` -> `51`); a price or
  size not written the usual way (leading zeros, an exponent, more than 35 decimals) is the literal string after
  `=`;
- bid as `price - bid` and ask as `ask - price`, in units of the price's last digit when both have the same number
  of decimals (`14.7775` with bid `14.7550` -> `225`), else the literal string after `=`; empty when the trade was
  learned without the book (a REST backfill): `iw99;35z34;;;44`.

Members written before issue 19 (`trade_id|price|bid|ask|size`, `|` between the fields, the price literal, a size
below 1 as `412345e8` or `.5`, another one literal) are still read: decode_member tells the two apart by the
separator. Every field decodes to the exact string the exchange sent, trailing zeros included. The score is the
exchange time in unix milliseconds (stored relative to its chunk: bcx.chunks). The same tick always encodes to
the same member, so writing it twice stores it once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import NamedTuple

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


def encode_member(tick: Tick) -> str:
    return encode_entries([tick]).partition(" ")[2]


def encode_entries(ticks: Iterable[Tick]) -> str:
    """`time member` lines, one a tick: the whole batch as one argument of the chunk script (bcx.chunks), which is
    cheaper to send than two arguments a tick. The tracker encodes every tick it stores here: each price is worked
    out once (_price_form is cached) and the usual shapes take the short paths."""
    lines = []
    for _, time_ms, trade_id, price, bid, ask, size, _ in ticks:
        form = _price_form(price)
        plain = form[0] >= 0  # a trade is at the bid or the ask: that side is 0, with no arithmetic
        bid_field = "" if bid is None else "0" if bid == price and plain else _book_offset(bid, form, -1)
        ask_field = "" if ask is None else "0" if ask == price and plain else _book_offset(ask, form, 1)
        high, low = divmod(trade_id, 1296)
        trade = _base36_high(high) + _PAIRS36[low] if high > 0 else base36(trade_id)
        lines.append(f"{time_ms} {trade};{form[2]};{bid_field};{ask_field};{_size_form(size)}")
    return "\n".join(lines)


def decode_member(product: str, member: str | bytes, score: float) -> Tick:
    if isinstance(member, bytes):
        member = member.decode()
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
_PLAIN = re.compile(r"(?:0|[1-9][0-9]*)(?:\.[0-9]+)?\Z", re.ASCII)  # what _unscaled() gives back exactly
# What a literal field may hold: nothing that separates fields, entries (bcx.chunks) or members from their times.
_LITERAL = re.compile(r"[^;|\s=]+\Z")


def base36(number: int) -> str:
    if number < 0:
        raise ValueError(f"trade id {number} is negative")
    text = ""
    while number >= 1296:
        number, pair = divmod(number, 1296)
        text = _PAIRS36[pair] + text
    return (_PAIRS36[number].lstrip("0") or "0") + text if text or number else "0"


@lru_cache(maxsize=16384)
def _price_form(price: str) -> tuple[int, int, str, str, int]:
    """(units, decimals, field, whole part, units of the fraction) of a price: a feed repeats its prices, so each
    is worked out once. Units are -1 for a price written another way (its field is the literal)."""
    whole, _, fraction = price.partition(".")
    if len(fraction) >= len(_DIGITS36) or not _PLAIN.match(price):
        return -1, -1, "=" + _checked_literal(price), "", 0
    units, decimals = int(whole + fraction), len(fraction)
    return units, decimals, base36(units) + _DIGITS36[decimals], whole, int(fraction or 0)


@lru_cache(maxsize=1024)
def _base36_high(number: int) -> str:
    """base36() of a trade id but its last two digits: consecutive trade ids share it for 1,296 trades."""
    return base36(number)


def _book_offset(value: str, price: tuple[int, int, str, str, int], sign: int) -> str:
    """A bid or ask against its trade's price (its _price_form()), in units of the price's last digit."""
    units, decimals, _, price_whole, price_fraction = price
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
