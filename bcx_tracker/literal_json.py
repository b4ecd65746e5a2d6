"""JSON whose numbers keep their literal digits, for exchanges that send prices as JSON numbers (Kraken v2).

Python's json hands a non-integer number's literal text to `parse_float`: kept as text, `105944.20` stays
`105944.20` and `0.1234567890123456789012345678` stays exact, where a float would give 105944.2 and round the other.
`loads` keeps them as plain strings (the hot path: checked and stored as sent); `loads_literal` as JsonNumber, so
that `dumps` writes a frame back with every number as it was read (a replayed frame with its times moved). Integers
are exact as Python ints. NaN and Infinity, which json accepts by default, are refused: no exchange sends them.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal

from bcx_tracker.exchange import DECIMAL_RE, MalformedMessage

_EXPONENT_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]+)?[eE][+-]?[0-9]{1,2}\Z", re.ASCII)  # at most 99 zeros of padding


class JsonNumber(str):
    """A JSON number's literal text, kept so that `dumps` writes it back as the number it was."""


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not a number")


_DECODER = json.JSONDecoder(parse_float=str, parse_constant=_no_constant)
_LITERAL_DECODER = json.JSONDecoder(parse_float=JsonNumber, parse_constant=_no_constant)


def loads(raw: str | bytes, decoder: json.JSONDecoder = _DECODER) -> object:
    """A frame's JSON with every non-integer number as its literal text; MalformedMessage when it is not JSON."""
    try:
        return decoder.decode(raw.decode("utf-8") if isinstance(raw, bytes) else raw)
    except ValueError as exc:  # also UnicodeDecodeError
        raise MalformedMessage(f"not JSON: {exc}") from None


def loads_literal(raw: str | bytes) -> object:
    """loads() with the numbers as JsonNumber, to be written back by dumps()."""
    return loads(raw, _LITERAL_DECODER)


def dumps(value: object) -> str:
    """Compact JSON in which a JsonNumber is written as the number it was read from."""
    if isinstance(value, JsonNumber):
        return str.__str__(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(key)}:{dumps(item)}" for key, item in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(dumps(item) for item in value) + "]"
    return json.dumps(value)


def plain_decimal(value: object) -> str | None:
    """A number's literal text (or a decimal string, or a non-negative int) as a plain decimal string, exactly;
    None when it is not a non-negative finite decimal. `1e-05` -> `0.00001` (through Decimal, never float)."""
    if type(value) is int:
        return str(value) if value >= 0 else None
    if not isinstance(value, str):  # bool, None, lists, objects
        return None
    if DECIMAL_RE.match(value):
        return str.__str__(value)
    if _EXPONENT_DECIMAL.match(value):
        return format(Decimal(value), "f")
    return None
