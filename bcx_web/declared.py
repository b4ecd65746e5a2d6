"""Every request parameter of the API declared once: where it is read from, its OpenAPI schema and its parser.

The views read their parameters through these declarations and the OpenAPI document (bcx_web.openapi) is built
from the same ones, so what the document says is accepted and what the views accept cannot drift apart. Limits
that come from the config ([web] max_limit, max_points, the configured products) are read from it on both sides.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import request

from bcx import analytics, export
from bcx.alerts import STREAM_ID_PATTERN
from bcx.config import Config
from bcx.series import SERIES_PATTERN
from bcx_web import params
from bcx_web.params import MAX_TIME_MS, SECONDS_LOOKALIKE_BELOW
from bcx_web.series import FIELDS

# Candle widths offered: each is built exactly from the stored tiers that divide it (4h from 1h, 1w from 1d; a
# week starts Monday 00:00 UTC, bcx.candles.bucket_start).
INTERVALS = ("1m", "5m", "15m", "1h", "4h", "6h", "1d", "1w")
DEFAULT_POINTS = 1000
DEFAULT_ALERTS = 100
MAX_ALERTS = 1000
# unix ms: 0 (the beginning), or 1973 up to the end of year 9999 (smaller numbers are seconds sent by mistake);
# or an RFC 3339 time
TIME_SCHEMA = {
    "anyOf": [
        {"type": "integer", "minimum": 0, "maximum": 0},
        {"type": "integer", "minimum": SECONDS_LOOKALIKE_BELOW, "maximum": MAX_TIME_MS},
        {"type": "string", "format": "date-time"},
    ]
}


@dataclass(frozen=True)
class Param:
    name: str
    where: str  # path, query or header
    description: str
    schema: Callable[[Config], dict]
    parse: Callable[[str | None, Config], Any]

    def read(self, config: Config) -> Any:
        """This parameter of the current request, parsed (ParamError, a 400, when it is not acceptable)."""
        source = {"path": request.view_args or {}, "query": request.args, "header": request.headers}[self.where]
        return self.parse(source.get(self.name), config)

    def openapi(self, config: Config) -> dict:
        spec = {"name": self.name, "in": self.where, "description": self.description, "schema": self.schema(config)}
        return spec | ({"required": True} if self.where == "path" else {})


PRODUCT = Param(
    "product",
    "path",
    "A configured series id, like coinbase:BTC-USD or kraken:ETH-USD (a bare BTC-USD is Coinbase's)",
    lambda c: {"type": "string", "pattern": f"^{SERIES_PATTERN}$", "enum": list(c.tracker.products)},
    lambda raw, c: params.parse_product(raw or "", c.tracker.products),
)
PRODUCTS = Param(
    "products",
    "query",
    "Comma-separated configured series ids, each once (default: all configured)",
    lambda c: {"type": "string", "pattern": f"^{SERIES_PATTERN}(,{SERIES_PATTERN})*$"},
    lambda raw, c: params.parse_products(raw, c.tracker.products),
)


def _time(name: str, description: str) -> Param:
    return Param(name, "query", description, lambda c: TIME_SCHEMA, lambda raw, c: params.parse_time(raw, name))


START = _time(
    "start",
    "Range start: unix ms (0, or from 10^11: a smaller number is taken for seconds and refused) or an RFC 3339 "
    "time (default: the span before end)",
)
END = _time("end", "Range end: unix ms or an RFC 3339 time, as start (default: the newest tick)")
LIMIT = Param(
    "limit",
    "query",
    "At most this many ticks (default [web] default_limit)",
    lambda c: {"type": "integer", "minimum": 1, "maximum": c.web.max_limit},
    lambda raw, c: params.parse_limit(raw, c.web.default_limit, c.web.max_limit),
)
POINTS = Param(
    "points",
    "query",
    f"At most this many points (default {DEFAULT_POINTS})",
    lambda c: {"type": "integer", "minimum": 1, "maximum": c.web.max_points},
    lambda raw, c: params.parse_limit(raw, DEFAULT_POINTS, c.web.max_points, "points"),
)


def _choice(name: str, choices: tuple[str, ...], default: str, description: str) -> Param:
    return Param(
        name,
        "query",
        f"{description} (default {default})",
        lambda c: {"type": "string", "enum": list(choices)},
        lambda raw, c: params.parse_choice(raw, name, choices, default),
    )


def _alert_id(name: str, where: str, description: str) -> Param:
    return Param(
        name,
        where,
        f"{description} (like 1700000000000-0; each half at most 2^64 - 1)",
        lambda c: {"type": "string", "pattern": f"^{STREAM_ID_PATTERN}$"},
        lambda raw, c: params.parse_stream_id(raw, name),
    )


FIELD = _choice("field", FIELDS, "price", "Which value")
WHAT = _choice("what", export.WHATS, "ticks", "Ticks or a candle tier")
FORMAT = _choice("format", export.FORMATS, "csv", "csv (a header row) or jsonl")
EXPORT_START = _time("start", "Range start, as for /ticks (default: the oldest stored)")
EXPORT_END = _time("end", "Range end, inclusive, as for /ticks (default: the newest stored)")
INTERVAL = _choice("interval", INTERVALS, "1m", "Candle width")
SINCE = _alert_id("since", "query", "Only alerts after this id")
LAST_EVENT_ID = _alert_id(
    "Last-Event-ID", "header", "Resume after this alert id (what a reconnecting EventSource sends); wins over since"
)
ALERT_LIMIT = Param(
    "limit",
    "query",
    f"At most this many alerts (default {DEFAULT_ALERTS})",
    lambda c: {"type": "integer", "minimum": 1, "maximum": MAX_ALERTS},
    lambda raw, c: params.parse_limit(raw, DEFAULT_ALERTS, MAX_ALERTS),
)

# --- analytics (bcx_web.analytics_api) ---------------------------------------------------------------------------


def _series_list(description: str, least: int, most: int | None = None) -> Param:
    more = f"{{{least - 1},{'' if most is None else most - 1}}}"  # {1,} or {1,1}: how many after the first
    pattern = f"^{SERIES_PATTERN}(,{SERIES_PATTERN}){more}$"
    return Param(
        "series",
        "query",
        description,
        lambda c: {"type": "string", "pattern": pattern},
        lambda raw, c: _at_most(params.parse_products(raw, c.tracker.products, "series", least), most),
    )


def _at_most(found: tuple[str, ...], most: int | None) -> tuple[str, ...]:
    if most is not None and len(found) > most:
        raise params.ParamError(f"series: names {len(found)}; name exactly {most} series, comma-separated")
    return found


RANK_WINDOW = _choice("window", tuple(analytics.WINDOWS), "24h", "The window, ending at end")
RANK_BY = _choice("by", analytics.RANK_BY, "change", "The figure to sort by, largest first")
RANK_SERIES = _series_list("Comma-separated configured series ids, each once (default: all configured)", 1)
WINDOW_END = _time("end", "The window's end: unix ms or an RFC 3339 time (default: the newest tick)")
RETURN_MODE = _choice(
    "mode", analytics.RETURN_MODES, "day-on-day", "Each day's close against the day before, or against the first open"
)
RETURN_START = _time("start", "First day: unix ms or an RFC 3339 time (default: 30 days before end)")
CORR_SERIES = _series_list("Two or more comma-separated configured series ids, each once", 2)
CORR_WINDOW = _choice("window", tuple(analytics.WINDOWS), "7d", "The window, ending at end")
CORR_INTERVAL = _choice("interval", INTERVALS, "1h", "Width of the buckets whose log returns are correlated")
SPREAD_SERIES = _series_list(
    "Two comma-separated configured series ids: the spread is the first minus the second", 2, 2
)
SPREAD_START = _time("start", "Range start: unix ms or an RFC 3339 time (default: 24 hours before end)")
