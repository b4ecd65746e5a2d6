"""Query and path parameters of the API, parsed from the raw strings into values.

Pure functions: strings and limits in, values out. Anything wrong raises ParamError (a ValueError) whose message
goes back to the client as the 400 answer, so it says what is wrong and what is expected.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence

from bcx.alerts import stream_id
from bcx.converters import series_id
from bcx.tick import iso_to_ms

# Unix milliseconds a client may name: 1970 up to the end of year 9999. Bounding it keeps every time exact in
# JSON and JavaScript (below 2**53) and keeps nonsense like 10**30 from reaching Redis.
MAX_TIME_MS = 253_402_300_799_999
# A whole number below this (other than 0, "from the beginning") is unix seconds sent by mistake: 1793491576 is
# 2026 in seconds but January 1970 in milliseconds. 10**11 ms is 1973-03-03, before any crypto trade.
SECONDS_LOOKALIKE_BELOW = 10**11
_DIGITS = re.compile(r"[0-9]{1,20}")  # ASCII only: int() would also take "١٢", " 12 " and "1_2"


class ParamError(ValueError):
    """A request parameter that cannot be used; the message is for the client."""


def parse_product(text: str, known: Collection[str], name: str = "product") -> str:
    """A series id (`kraken:BTC-USD`; a bare `BTC-USD` is Coinbase's), exactly (no spaces around it: the OpenAPI
    pattern has none), that is configured, canonical: old URLs naming a bare product keep working. `name` is the
    parameter the client gave, for the 400's message."""
    try:
        series = series_id(text)
    except ValueError as exc:  # malformed, or an exchange we have no adapter for: the message lists the known ones
        raise ParamError(f"{name}: {exc}") from None
    if text != text.strip():
        raise ParamError(f"{name}: {text!r} has spaces around the series id")
    if series not in known:
        raise ParamError(f"{name}: {series!r} is not recorded here (known: {', '.join(known)})")
    return series


def parse_time(text: str | None, name: str) -> int | None:
    """Unix milliseconds (an integer) or an ISO 8601 time (no zone means UTC) -> unix ms; None when absent. Present
    but empty (`end=`) is refused, as for every parameter: a client that meant a time sent none."""
    if text is None:
        return None
    if not text:
        raise ParamError(f"{name}: empty (leave it out for the default)")
    value = text.strip()
    try:
        ms = int(value) if _DIGITS.fullmatch(value) else iso_to_ms(value)
    except (ValueError, OverflowError):  # fromisoformat: ValueError; a far-off year with a zone: OverflowError
        raise ParamError(f"{name}: {text!r} is neither unix milliseconds nor an ISO 8601 time") from None
    if not 0 <= ms <= MAX_TIME_MS:
        raise ParamError(f"{name}: {text!r} is out of range (1970 to 9999)")
    if 0 < ms < SECONDS_LOOKALIKE_BELOW and _DIGITS.fullmatch(value):
        raise ParamError(f"{name}: {text!r} looks like unix seconds; give milliseconds ({ms}000) or an ISO 8601 time")
    return ms


def resolve_range(start: int | None, end: int | None, default_end: int, default_span_ms: int) -> tuple[int, int]:
    """Fill in what the client left out: end defaults to `default_end` (the newest tick, else now), start to
    `default_span_ms` before end. With only a start, end is never before it: a client polling for ticks newer than
    the last one it saw gets an empty list, not an error."""
    if end is None:
        end = default_end if start is None else max(default_end, start)
    if start is None:
        start = max(end - default_span_ms, 0)
    if start > end:
        raise ParamError(f"start ({start}) is after end ({end})")
    return start, end


def parse_limit(text: str | None, default: int, maximum: int, name: str = "limit") -> int:
    """A positive whole number up to `maximum`; `default` (capped at `maximum`) when absent. Present but empty
    (`limit=`) is refused: it is a client's bug (a variable left unset), not a wish for the default."""
    if text is None:
        return min(default, maximum)
    value = text.strip()
    if not _DIGITS.fullmatch(value) or int(value) == 0:
        raise ParamError(f"{name}: {text!r} is not a positive whole number")
    if int(value) > maximum:
        raise ParamError(f"{name}: {value} is above the maximum of {maximum}")
    return int(value)


def parse_choice(text: str | None, name: str, choices: Sequence[str], default: str) -> str:
    """One of `choices` (exact spelling); `default` when absent. Present but empty (`by=`) is refused, as for every
    parameter (the OpenAPI enum has no empty choice)."""
    if text is None:
        return default
    if text not in choices:
        raise ParamError(f"{name}: {text!r} is not one of {', '.join(choices)}")
    return text


def parse_products(text: str | None, known: Collection[str], name: str = "products", least: int = 1) -> tuple[str, ...]:
    """A comma-separated list of configured series ids, each once (`BTC-USD` and `coinbase:BTC-USD` are the same
    one), at least `least` of them; all of `known` when absent. Present but empty (`products=`), an empty item or
    spaces are refused, as the OpenAPI pattern says."""
    if text is None:
        if least > 1:
            raise ParamError(f"{name}: name at least {least} series, comma-separated")
        return tuple(known)
    if not text:
        raise ParamError(f"{name}: no series named")
    products = tuple(parse_product(part, known, name) for part in text.split(","))
    if len(set(products)) != len(products):
        raise ParamError(f"{name}: {text!r} names a series twice")
    if len(products) < least:
        raise ParamError(f"{name}: {text!r} names {len(products)}; name at least {least} series, comma-separated")
    return products


def parse_stream_id(text: str | None, name: str) -> str | None:
    """An alert id as Redis streams write it (`1700000000000-0`, or just the milliseconds), exactly; None when
    absent (present but empty is refused, as for every parameter)."""
    if text is None:
        return None
    try:
        return stream_id(text)
    except ValueError as exc:
        raise ParamError(f"{name}: {exc}") from None


def capped_span(start: int, end: int, max_span_ms: int | None) -> None:
    """Refuse a range longer than `max_span_ms` (None: no cap)."""
    if max_span_ms is not None and end - start > max_span_ms:
        raise ParamError(f"the range {start}..{end} is longer than the maximum of {max_span_ms} ms")
