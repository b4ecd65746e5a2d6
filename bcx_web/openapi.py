"""The OpenAPI 3.0 document of bcx-web, kept beside the routes: a test checks that every route in the app's URL
map is described here and that nothing here is missing from the app."""

from __future__ import annotations

from bcx.series import EXCHANGES, SERIES_PATTERN

API = "/api/v1.0"


def _param(name: str, where: str, description: str, schema: dict | None = None, required: bool = False) -> dict:
    return {
        "name": name,
        "in": where,
        "required": required or where == "path",
        "description": description,
        "schema": schema or {"type": "string"},
    }


SERIES = (
    f"a series id EXCHANGE:BASE-QUOTE, like coinbase:BTC-USD or kraken:BTC-USD (exchanges: {', '.join(EXCHANGES)}); "
    "a bare BTC-USD is coinbase:BTC-USD"
)
PRODUCT = _param("product", "path", f"A configured series: {SERIES}", {"type": "string", "pattern": SERIES_PATTERN})
START = _param("start", "query", "Range start: unix ms or ISO 8601 (default: the span before end)")
END = _param("end", "query", "Range end: unix ms or ISO 8601 (default: the newest tick)")
POINTS = _param("points", "query", "At most this many points (default 1000, max [web] max_points)", {"type": "integer"})
PRODUCTS = {
    **_param(
        "products",
        "query",
        f"Comma-separated configured series (default: all), each {SERIES}",
        {"type": "array", "items": {"type": "string", "pattern": SERIES_PATTERN}},
    ),
    "style": "form",  # form without explode is OpenAPI's name for `a,b,c` in one query parameter
    "explode": False,
}
ERRORS = {
    "400": {"$ref": "#/components/responses/Error"},
    "404": {"$ref": "#/components/responses/Error"},
    "503": {"$ref": "#/components/responses/Error"},
}


def _get(summary: str, parameters: list[dict], media: str = "application/json", schema: dict | None = None) -> dict:
    content = {media: {"schema": schema or {"type": "object"}}}
    return {
        "get": {
            "summary": summary,
            "parameters": parameters,
            "responses": {"200": {"description": "OK", "content": content}, **ERRORS},
        }
    }


ROW = {"type": "array", "items": {}, "description": "[time, value]"}
PATHS = {
    f"{API}/products": _get(
        "Each configured series (series, exchange, product): newest tick; 24h open, high, low, close, change, volume",
        [],
    ),
    f"{API}/ticks/{{product}}": _get(
        "Raw ticks in a range, exact strings",
        [PRODUCT, START, END, _param("limit", "query", "At most this many ticks", {"type": "integer"})],
    ),
    f"{API}/series/{{product}}": _get(
        "One field downsampled to at most N points (bucket extremes); `tier` names the source (ticks, 1m, 1h, 1d)",
        [
            PRODUCT,
            _param("field", "query", "Which value", {"enum": ["price", "bid", "ask", "mid", "spread"]}),
            START,
            END,
            POINTS,
        ],
    ),
    f"{API}/candles/{{product}}": _get(
        "OHLCV candles [time, open, high, low, close, volume], stored or computed from ticks",
        [
            PRODUCT,
            _param("interval", "query", "Candle width", {"enum": ["1m", "5m", "15m", "1h", "6h", "1d"]}),
            START,
            END,
        ],
    ),
    f"{API}/compare": _get(
        "Series as percent change from the range's start, keyed by series id (one asset across exchanges, or several)",
        [PRODUCTS, START, END, POINTS],
    ),
    f"{API}/alerts": _get(
        "Alerts from the stream, oldest first",
        [
            _param("since", "query", "Only alerts after this id"),
            _param("limit", "query", "At most this many (default 100, max 1000)", {"type": "integer"}),
        ],
    ),
    f"{API}/alerts/stream": _get(
        "Alerts as Server-Sent Events (id = alert id; resumes after the Last-Event-ID header)",
        [_param("Last-Event-ID", "header", "Resume after this alert id"), _param("since", "query", "Same, as a query")],
        "text/event-stream",
        {"type": "string"},
    ),
    f"{API}/ticks/stream": _get("Live ticks as Server-Sent Events", [PRODUCTS], "text/event-stream"),
    f"{API}/health": _get("Redis reachable, age of each series' newest tick (503 when Redis is down)", []),
    f"{API}/metrics": _get("Prometheus metrics", [], "text/plain", {"type": "string"}),
    f"{API}/openapi.json": _get("This document", []),
    "/": _get("The chart page", [], "text/html", {"type": "string"}),
    "/docs": _get("This document rendered for people", [], "text/html", {"type": "string"}),
}

PATHS[f"{API}/export/{{product}}"] = _get(
    "A stored range streamed as CSV (header row) or JSON lines; 400 above [web] max_read rows; X-BCX-Rows, "
    "X-BCX-Stored-From and X-BCX-Stored-To say how many rows follow and what is stored",
    [
        PRODUCT,
        _param(
            "what",
            "query",
            "ticks (default) or a candle tier",
            {"enum": ["ticks", "candles:1m", "candles:1h", "candles:1d"]},
        ),
        _param("start", "query", "Range start: unix ms or ISO 8601 (default: the oldest stored)"),
        _param("end", "query", "Range end, inclusive: unix ms or ISO 8601 (default: the newest stored)"),
        _param("format", "query", "csv (default) or jsonl", {"enum": ["csv", "jsonl"]}),
    ],
    "text/csv",
    {"type": "string"},
)


def document() -> dict:
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "BCX",
            "version": "1.0",
            "description": "Crypto-exchange ticks recorded in Redis. Times are unix milliseconds; prices and volumes "
            'are exact decimal strings. Errors are JSON {"error": "..."} with status 400, 404, 405 or 503.',
        },
        "paths": PATHS,
        "components": {
            "responses": {
                "Error": {
                    "description": "An error",
                    "content": {
                        "application/json": {"schema": {"type": "object", "properties": {"error": {"type": "string"}}}}
                    },
                }
            }
        },
    }
