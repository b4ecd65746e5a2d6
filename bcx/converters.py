"""Small named converters for config values: each takes the raw string and returns a typed value.

Each raises ValueError with a message a person can act on; the config loader adds file, section and key.
"""

from __future__ import annotations

import re
from urllib.parse import urlparse

_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w|y)\s*$", re.IGNORECASE)
_SIZE_UNITS = {"b": 1, "kb": 1024, "mb": 1024**2, "gb": 1024**3}
_SIZE_RE = re.compile(r"^\s*(\d+)\s*(b|kb|mb|gb)?\s*$", re.IGNORECASE)
_PRODUCT_RE = re.compile(r"^[A-Z0-9]{2,10}-[A-Z0-9]{2,10}$")
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def duration(text: str) -> float:
    """`30s`, `15m`, `7d`, `250ms` -> seconds."""
    match = _DURATION_RE.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration (write it like 250ms, 30s, 15m, 2h, 7d, 1w, 5y)")
    return float(match.group(1)) * _DURATION_UNITS[match.group(2).lower()]


def duration_or_forever(text: str) -> float | None:
    """A duration, or `forever` (None) for a tier that is never trimmed."""
    if text.strip().lower() == "forever":
        return None
    return duration(text)


def byte_size(text: str) -> int:
    """`64mb`, `512kb`, `1gb`, `1000` -> bytes."""
    match = _SIZE_RE.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a size (write it like 512kb, 64mb, 1gb)")
    return int(match.group(1)) * _SIZE_UNITS[(match.group(2) or "b").lower()]


def positive_int(text: str) -> int:
    try:
        value = int(text.strip().replace("_", ""))
    except ValueError:
        raise ValueError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise ValueError(f"{value} must be greater than 0")
    return value


def port(text: str) -> int:
    value = positive_int(text)
    if value > 65535:
        raise ValueError(f"{value} is not a TCP port (1-65535)")
    return value


def boolean(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "yes", "true", "on"):
        return True
    if lowered in ("0", "no", "false", "off"):
        return False
    raise ValueError(f"{text!r} is not a boolean (yes/no, true/false, on/off)")


def product_id(text: str) -> str:
    """`BTC-USD`: base and quote currency in capitals, joined by a dash (the exchange's product id)."""
    value = text.strip()
    if not _PRODUCT_RE.match(value):
        raise ValueError(f"{value!r} is not a product id (like BTC-USD: capitals and digits, one dash)")
    return value


def product_list(text: str) -> tuple[str, ...]:
    items = [item for item in (part.strip() for part in text.split(",")) if item]
    if not items:
        raise ValueError("at least one product id is needed")
    products = tuple(product_id(item) for item in items)
    if len(set(products)) != len(products):
        raise ValueError(f"{text.strip()!r} lists a product twice")
    return products


def url(*schemes: str):
    """A converter accepting URLs whose scheme is one of `schemes`."""

    def convert(text: str) -> str:
        value = text.strip()
        parsed = urlparse(value)
        if parsed.scheme not in schemes or not parsed.netloc:
            raise ValueError(f"{value!r} is not a {' or '.join(s + '://' for s in schemes)} URL")
        return value

    return convert


def optional(convert):
    """A converter that also accepts an empty value, as None (a feature switched off)."""

    def convert_optional(text: str):
        return convert(text) if text.strip() else None

    return convert_optional


def choice(*values: str):
    """A converter accepting exactly one of `values`."""

    def convert(text: str) -> str:
        value = text.strip()
        if value not in values:
            raise ValueError(f"{value!r} is not one of {', '.join(values)}")
        return value

    return convert


def key_prefix(text: str) -> str:
    value = text.strip()
    if not re.match(r"^[A-Za-z0-9_.-]+$", value):
        raise ValueError(f"{value!r} is not a key prefix (letters, digits, _ . - only)")
    return value


def host(text: str) -> str:
    value = text.strip()
    if not value or " " in value:
        raise ValueError(f"{text!r} is not a host name or address")
    return value


def log_level(text: str) -> str:
    value = text.strip().upper()
    if value not in _LOG_LEVELS:
        raise ValueError(f"{text!r} is not a log level ({', '.join(_LOG_LEVELS)})")
    return value


def optional_path(text: str) -> str | None:
    value = text.strip()
    return value or None


def text_value(text: str) -> str:
    value = text.strip()
    if not value:
        raise ValueError("must not be empty")
    return value
