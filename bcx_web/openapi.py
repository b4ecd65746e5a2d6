"""The OpenAPI 3.1 document of bcx-web, built from the same declarations the views parse their parameters with
(bcx_web.declared) and the schemas of their answers (bcx_web.schemas). A test checks that every route in the app's
URL map is described here and that nothing here is missing from the app; another runs schemathesis on it."""

from __future__ import annotations

from dataclasses import dataclass

from bcx.config import Config
from bcx_web import analytics_schemas, schemas
from bcx_web import declared as p

API = "/api/v1.0"
ERRORS = ("400", "404", "503")


@dataclass(frozen=True)
class Route:
    summary: str
    params: tuple[p.Param, ...] = ()
    media: str | tuple[str, ...] = "application/json"  # several: the format a parameter chose
    answer: str | None = None  # its 200 schema's name in schemas.answers() (for a stream: of one event); None: text


ROUTES = {
    f"{API}/products": Route(
        "Each configured series (series, exchange, product): newest tick; 24h open, high, low, close, change, volume",
        (),
        answer="products",
    ),
    f"{API}/ticks/{{product}}": Route(
        "Raw ticks in a range, exact strings", (p.PRODUCT, p.START, p.END, p.LIMIT), answer="ticks"
    ),
    f"{API}/series/{{product}}": Route(
        "One field downsampled to at most N points (bucket extremes); `tier` names the source (ticks, 1m, 15m, ...)",
        (p.PRODUCT, p.FIELD, p.START, p.END, p.POINTS),
        answer="series",
    ),
    f"{API}/candles/{{product}}": Route(
        "OHLCV candles [time, open, high, low, close, volume], stored or computed from ticks",
        (p.PRODUCT, p.INTERVAL, p.START, p.END),
        answer="candles",
    ),
    f"{API}/compare": Route(
        "Products as percent change from the range's start", (p.PRODUCTS, p.START, p.END, p.POINTS), answer="compare"
    ),
    f"{API}/alerts": Route("Alerts from the stream, oldest first", (p.SINCE, p.ALERT_LIMIT), answer="alerts"),
    f"{API}/rules": Route("The configured alert rules (thresholds as exact strings)", (), answer="rules"),
    f"{API}/alerts/stream": Route(
        "Alerts as Server-Sent Events (id = alert id; resumes after the Last-Event-ID header)",
        (p.LAST_EVENT_ID, p.SINCE),
        "text/event-stream",
        answer="alert_events",
    ),
    f"{API}/ticks/stream": Route(
        "Live ticks as Server-Sent Events", (p.PRODUCTS,), "text/event-stream", answer="tick_events"
    ),
    f"{API}/health": Route(
        "Redis reachable, age of each product's newest tick (503 when Redis is down)", (), answer="health"
    ),
    f"{API}/metrics": Route("Prometheus metrics", (), "text/plain"),
    f"{API}/openapi.json": Route("This document", (), answer="openapi"),
    f"{API}/export/{{product}}": Route(
        "A stored range streamed as CSV (header row) or JSON lines; 400 above [web] max_read rows; X-BCX-Rows, "
        "X-BCX-Stored-From and X-BCX-Stored-To say how many rows follow and what is stored",
        (p.PRODUCT, p.WHAT, p.EXPORT_START, p.EXPORT_END, p.FORMAT),
        ("text/csv", "application/x-ndjson"),
    ),
    f"{API}/rankings": Route(
        "Series ranked over a window: last price, change %, realized volatility (raw and annualized), volume, "
        "high-low range %, activity (last hour against the window's average hour); series without data last, null",
        (p.RANK_WINDOW, p.RANK_BY, p.RANK_SERIES, p.WINDOW_END),
        answer="rankings",
    ),
    f"{API}/returns/{{product}}": Route(
        "Daily returns in percent ([day, close, percent]), day-on-day or against the first day's open",
        (p.PRODUCT, p.RETURN_MODE, p.RETURN_START, p.WINDOW_END),
        answer="returns",
    ),
    f"{API}/correlation": Route(
        "Pearson correlations of log returns, each pair on the buckets both have (`buckets` says how many)",
        (p.CORR_SERIES, p.CORR_WINDOW, p.CORR_INTERVAL, p.WINDOW_END),
        answer="correlation",
    ),
    f"{API}/spread": Route(
        "The first series' price less the second's, exact and in percent of the second, over time and now",
        (p.SPREAD_SERIES, p.SPREAD_START, p.WINDOW_END, p.POINTS),
        answer="spread",
    ),
    "/": Route("The chart page", (), "text/html"),
    "/analytics": Route("The analytics page: rankings, correlation heat map, returns, spread", (), "text/html"),
    "/docs": Route("This document rendered for people", (), "text/html"),
    "/favicon.ico": Route("The pages' icon (SVG)", (), "image/svg+xml"),
}


def _operation(route: Route, config: Config, answers: dict[str, dict]) -> dict:
    body = answers[route.answer] if route.answer else {"type": "string"}
    medias = (route.media,) if isinstance(route.media, str) else route.media
    responses = {"200": {"description": "OK", "content": {media: {"schema": body} for media in medias}}}
    responses |= {status: {"$ref": "#/components/responses/Error"} for status in ERRORS}
    if route.answer == "health":  # Redis down: still JSON, with the reason, not the usual error body
        down = {"application/json": {"schema": answers["health_down"]}}
        responses["503"] = {"description": "Redis unavailable", "content": down}
    parameters = [param.openapi(config) for param in route.params]
    return {"get": {"summary": route.summary, "parameters": parameters, "responses": responses}}


def document(config: Config) -> dict:
    answers = schemas.answers(config) | analytics_schemas.answers(config)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "BCX",
            "version": "1.0",
            "description": "Crypto-exchange ticks recorded in Redis. Times are unix milliseconds; prices and volumes "
            'are exact decimal strings. Errors are JSON {"error": "..."} with status 400, 404, 405 or 503.',
        },
        "paths": {path: _operation(route, config, answers) for path, route in ROUTES.items()},
        "components": {
            "responses": {
                "Error": {"description": "An error", "content": {"application/json": {"schema": schemas.ERROR}}}
            }
        },
    }
