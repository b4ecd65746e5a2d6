"""Small named converters for config values: each takes the raw string and returns a typed value.

Each raises ValueError with a message a person can act on; the config loader adds file, section and key.
"""

from __future__ import annotations

import re
from urllib.parse import urlparse

from bcx.series import canonical
from bcx.tick import RAW

_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w|y)\s*$", re.IGNORECASE)
_SIZE_UNITS = {"b": 1, "kb": 1024, "mb": 1024**2, "gb": 1024**3}
_SIZE_RE = re.compile(r"^\s*(\d+)\s*(b|kb|mb|gb)?\s*$", re.IGNORECASE)
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def duration(text: str) -> float:
    """`30s`, `15m`, `7d`, `250ms` -> seconds."""
    match = _DURATION_RE.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration (write it like 250ms, 30s, 15m, 2h, 7d, 1w, 5y)")
    return float(match.group(1)) * _DURATION_UNITS[match.group(2).lower()]


def positive_duration(text: str) -> float:
    """A duration above zero: a zero timeout, interval or silence limit would make a daemon spin or fail at once."""
    value = duration(text)
    if value <= 0:
        raise ValueError(f"{text.strip()!r} must be longer than 0")
    return value


def replay_speed(text: str) -> float | None:
    """A replay's speed: N times real time, or `max` (None: as fast as the client reads)."""
    if text.strip().lower() == "max":
        return None
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a speed (a number like 1, 10, 0.5, or max)") from None
    if value <= 0:
        raise ValueError("the speed must be greater than 0")
    return value


def duration_or_forever(text: str) -> float | None:
    """A duration, or `forever` (None) for a tier that is never trimmed."""
    if text.strip().lower() == "forever":
        return None
    return duration(text)


def retention_tiers(text: str) -> dict[str, float | None]:
    """`raw:7d, 1m:90d, 1h:5y, 1d:forever` -> {tier: seconds or None (forever)}. A bare duration (the older form,
    `retention = 7d`) is the raw ticks' retention. Tiers left out keep their defaults (bcx.config)."""
    if ":" not in text:
        return {RAW: duration_or_forever(text)}
    tiers: dict[str, float | None] = {}
    for part in (item.strip() for item in text.split(",")):
        tier, sep, value = part.partition(":")
        tier = tier.strip()
        if not sep or not tier:
            raise ValueError(f"{part!r} is not a tier's retention (write it like raw:7d, 1m:90d, 1d:forever)")
        if tier in tiers:
            raise ValueError(f"{text.strip()!r} names {tier!r} twice")
        tiers[tier] = duration_or_forever(value)
    return tiers


def candle_intervals(text: str) -> tuple[str, ...]:
    """`1m, 1h, 1d`: ascending candle intervals, each a whole multiple of the one before (it is built from it)."""
    from bcx.candles import interval_ms  # here, not at the top: bcx.candles pulls in redis

    names = tuple(item.strip() for item in text.split(",") if item.strip())
    widths = [interval_ms(name) for name in names]
    if len(set(widths)) != len(widths):
        raise ValueError(f"{text.strip()!r} lists an interval twice")
    for finer, coarser, name in zip(widths, widths[1:], names[1:], strict=False):
        if coarser <= finer or coarser % finer:
            raise ValueError(f"{name!r} must be a whole multiple of the interval before it (list them ascending)")
    return names


def optional_byte_size(text: str) -> int | None:
    """A size, or empty for none."""
    return byte_size(text) if text.strip() else None


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


def int_between(low: int, high: int):
    """A converter accepting whole numbers from `low` to `high`: past a sane bound a typo (a billion workers) would
    start forking rather than fail."""

    def convert(text: str) -> int:
        value = positive_int(text) if low > 0 else int(text.strip())
        if not low <= value <= high:
            raise ValueError(f"{value} is out of range ({low}-{high})")
        return value

    return convert


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


def series_id(text: str) -> str:
    """`kraken:BTC-USD`, or a bare `BTC-USD` (Coinbase's), in its canonical spelling (bcx.series)."""
    return canonical(text)


def series_list(text: str) -> tuple[str, ...]:
    items = [item for item in (part.strip() for part in text.split(",")) if item]
    if not items:
        raise ValueError("at least one series id is needed")
    series = tuple(series_id(item) for item in items)
    if len(set(series)) != len(series):
        raise ValueError(f"{text.strip()!r} lists a series twice")
    return series


def origin_list(text: str) -> tuple[str, ...]:
    """`https://a.example, http://localhost:3000` or `*` -> allowed CORS origins; empty allows none."""
    origins = tuple(item for item in (part.strip().rstrip("/") for part in text.split(",")) if item)
    for origin in origins:
        if origin != "*" and not re.match(r"^https?://[^/\s]+$", origin):
            raise ValueError(f"{origin!r} is not an origin (scheme://host[:port], or *)")
    return origins


def url(*schemes: str):
    """A converter accepting URLs whose scheme is one of `schemes`."""

    def convert(text: str) -> str:
        value = text.strip()
        parsed = urlparse(value)
        if parsed.scheme not in schemes or not parsed.netloc:
            raise ValueError(f"{value!r} is not a {' or '.join(s + '://' for s in schemes)} URL")
        try:
            parsed.port  # noqa: B018 - urlparse checks the port only when it is read
        except ValueError:
            raise ValueError(f"{mask_url(value)!r} has a port outside 1-65535 (or not a number)") from None
        if parsed.port == 0:
            raise ValueError(f"{mask_url(value)!r} has port 0 (a port is 1-65535)")
        return value

    return convert


def host_port_list(text: str) -> tuple[tuple[str, int], ...]:
    """`10.0.0.1:7000, 10.0.0.2:7000` -> ((host, port), ...); empty -> ()."""
    nodes = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, _, number = item.rpartition(":")
        if not name or not number.isdigit() or not 0 < int(number) < 65536:
            raise ValueError(f"{item!r} is not host:port")
        nodes.append((name.strip("[]"), int(number)))
    return tuple(nodes)


def mask_url(text: str) -> str:
    """A URL without its password (`redis://:secret@host` -> `redis://***@host`): what logs and messages show."""
    if "@" not in text or "://" not in text:
        return text
    scheme, rest = text.split("://", 1)
    return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"


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


def optional_url(*schemes: str):
    """Like `url`, but empty means none (None)."""
    return optional(url(*schemes))


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
