"""The JSON API under /api/v1.0/: small views that validate their input, read the tick store and return dicts.

Errors are raised, never returned: ParamError (400), redis.RedisError (503) and HTTP errors all go through the
app's one error handler (bcx_web.app.json_error).
"""

from __future__ import annotations

import time

import redis
from flask import Blueprint, Response, current_app, request, stream_with_context
from werkzeug.http import generate_etag

from bcx import alerts
from bcx.candles import CandleStore, interval_ms
from bcx.config import Config
from bcx.series import split
from bcx.store import TickStore
from bcx.tick import Tick
from bcx_web import declared, metrics, params, sse
from bcx_web.cache import (
    FreshCache,
    cached_decode_candle,
    cached_decode_member,
    closed_candles,
    closed_drawings,
    open_buckets,
)
from bcx_web.live import TickWaiter, new_ticks
from bcx_web.series import Sources, percent_points, read_day, read_series, read_sources

bp = Blueprint("api", __name__, url_prefix="/api/v1.0")

DEFAULT_SPAN_MS = 3600 * 1000  # a range without a start covers the hour before its end
STORE_KEY = "bcx_store"
CANDLES_KEY = "bcx_candles"
SLOTS_KEY = "bcx_stream_slots"
DAY_CACHE_KEY = "bcx_day_cache"
PRODUCTS_CACHE_KEY = "bcx_products_cache"
ALERT_BLOCK_MS = 1000  # below the Redis socket timeout, so a quiet stream never looks like a dead server
TICK_POLL_S = 0.5


def stream_wait_s(most_s: float) -> float:
    """How long one poll of a stream may wait: at most `most_s`, and never past the next heartbeat, so a stream
    keeps its heartbeat and ends on time however short `[web] sse_heartbeat` is."""
    heartbeat = get_config().web.sse_heartbeat
    return min(most_s, heartbeat) if heartbeat > 0 else most_s


def get_config() -> Config:
    return current_app.config["BCX_CONFIG"]


def get_store() -> TickStore:
    """The app's TickStore (see `_built_once`)."""
    return _built_once(STORE_KEY, lambda conn, c: TickStore(conn, c.redis.prefix, decode=cached_decode_member))


def get_candles() -> CandleStore:
    """The app's CandleStore (see `_built_once`)."""
    return _built_once(CANDLES_KEY, lambda conn, c: CandleStore(conn, c.redis.prefix, decode=cached_decode_candle))


def _built_once(key: str, build):
    """A store kept in the app's extensions, built on first use: a store's constructor may ask Redis (CONFIG GET
    for the chunk size), and the app must start while Redis is down. Two threads racing here both build one;
    either is right."""
    store = current_app.extensions.get(key)
    if store is None:
        store = build(current_app.extensions["redis"], get_config())
        current_app.extensions[key] = store
    return store


def stored_intervals() -> tuple[str, ...]:
    """The candle intervals the watcher stores ([watcher] candles)."""
    return get_config().watcher.candles


def get_sources() -> Sources:
    config = get_config()
    return Sources(
        get_store(),
        get_candles(),
        stored_intervals(),
        config.web.max_read,
        open_buckets,
        closed_candles,
        closed_drawings,
    )


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def trusted_latest(store: TickStore, products: list[str] | tuple[str, ...], now: int) -> dict[str, Tick | None]:
    """Each product's newest tick, skipping any dated past the wall clock plus [tracker] max_clock_skew: one
    bogus tick from year 9999 must not become every range's end or a negative tick age."""
    bound = now + get_config().tracker.max_clock_skew_ms
    latest = store.latest_many(list(products))
    return {p: t if t is None or t.time_ms <= bound else store.latest_at_most(p, bound) for p, t in latest.items()}


def tick_age(tick: Tick | None, now: int) -> float | None:
    """Seconds from the tick's exchange time to `now` (unix ms), or None without a tick."""
    return None if tick is None else round((now - tick.time_ms) / 1000, 3)


@bp.get("/products")
def products() -> Response:
    """Each product's newest tick and its 24 hours up to that tick (open, high, low, close, change, volume).

    Every page polls this, so the encoded answer is kept while the newest ticks are the same (at most the 24h
    figures' ttl) and carries an ETag: a client that sends If-None-Match gets 304 until a product trades."""
    latest = get_store().latest_many(get_config().tracker.products)
    version = tuple(_version(t) for t in latest.values())
    now = time.monotonic()
    body, etag = _app_cache(PRODUCTS_CACHE_KEY).get("products", version, now, lambda: _products_body(latest, now))
    response = current_app.response_class(body, mimetype="application/json")
    response.set_etag(etag)
    response.cache_control.no_cache = True  # a browser keeps the body but asks again (If-None-Match) every time
    return response.make_conditional(request)


def _products_body(latest: dict[str, Tick | None], now: float) -> tuple[bytes, str]:
    """/products' answer, encoded, and its ETag."""
    sources, days = get_sources(), _app_cache(DAY_CACHE_KEY)

    def day(product: str, tick: Tick | None) -> dict | None:
        if tick is None:
            return None
        return days.get(product, _version(tick), now, lambda: read_day(sources, product, tick))

    answer = {
        "products": [
            {**split(p).as_dict(), "last": t.as_dict() if t else None, "day": day(p, t)} for p, t in latest.items()
        ]
    }
    body = f"{current_app.json.dumps(answer)}\n".encode()  # as Flask's own JSON answers
    return body, generate_etag(body)


def _version(tick: Tick | None) -> tuple[int, int] | None:
    """What identifies a product's newest tick: its time and trade id."""
    return None if tick is None else (tick.time_ms, tick.trade_id)


def _app_cache(key: str) -> FreshCache:
    return current_app.extensions.setdefault(key, FreshCache())


@bp.get("/ticks/<product>")
def ticks(product: str) -> dict:
    config = get_config()
    product = declared.PRODUCT.read(config)
    start, end = declared.START.read(config), declared.END.read(config)
    limit = declared.LIMIT.read(config)
    store = get_store()
    # Only read the newest tick when the client left the end open: replayed data may be far from the wall clock.
    default_end = end if end is not None else _newest_or_now(store, product)
    start, end = params.resolve_range(start, end, default_end, DEFAULT_SPAN_MS)
    found = store.range(product, start, end, limit + 1)  # one more than asked tells whether the limit cut the range
    return {
        **split(product).as_dict(),
        "start": start,
        "end": end,
        "limit": limit,
        "truncated": len(found) > limit,
        "ticks": [tick.as_dict() for tick in found[:limit]],
    }


def _newest_or_now(store: TickStore, product: str) -> int:
    now = now_ms()
    latest = trusted_latest(store, (product,), now)[product]
    return latest.time_ms if latest else now


def _range(products: tuple[str, ...]) -> tuple[int, int]:
    """start/end from the query; an open end is the newest tick of the given products (else now)."""
    start, end = declared.START.read(get_config()), declared.END.read(get_config())
    if end is None:
        now = now_ms()
        newest = [t.time_ms for t in trusted_latest(get_store(), products, now).values() if t]
        default_end = max(newest) if newest else now
    else:
        default_end = end
    return params.resolve_range(start, end, default_end, DEFAULT_SPAN_MS)


@bp.get("/series/<product>")
def series(product: str) -> dict:
    """One field over a range, at most `points` points, from the coarsest tier that still gives that many."""
    config = get_config()
    product, field, points = declared.PRODUCT.read(config), declared.FIELD.read(config), declared.POINTS.read(config)
    start, end = _range((product,))
    found = read_series(get_sources(), product, field, start, end, points)
    return {
        **split(product).as_dict(),
        "field": field,
        "start": start,
        "end": end,
        "tier": found.tier,
        "truncated": found.truncated,
        "points": found.points,  # (time, value) tuples: orjson writes each as [time, "value"]
    }


@bp.get("/candles/<product>")
def candles(product: str) -> dict:
    """OHLCV candles: stored ones where the watcher wrote them, the rest (the open interval) from raw ticks."""
    config = get_config()
    product, interval = declared.PRODUCT.read(config), declared.INTERVAL.read(config)
    width = interval_ms(interval)
    start, end = _range((product,))
    # A default range shows a few hundred candles; an explicit one may hold at most max_points of them.
    if request.args.get("start") in (None, "") and request.args.get("end") in (None, ""):
        start = max(end - width * 300, 0)
    params.capped_span(start, end, width * config.web.max_points)
    read = read_sources(get_sources(), product, width, start, end)
    return {
        **split(product).as_dict(),
        "interval": interval,
        "start": start,
        "end": end,
        "truncated": read.truncated,
        "candles": [c.as_row() for c in read.candles],
    }


@bp.get("/compare")
def compare() -> dict:
    """Several series on one time axis (one asset on several exchanges, or several assets), each as percent change
    from its first trade in the range; keyed by canonical series id, so `BTC-USD` answers as `coinbase:BTC-USD`."""
    products, points = declared.PRODUCTS.read(get_config()), declared.POINTS.read(get_config())
    start, end = _range(products)
    sources = get_sources()
    answer: dict[str, list] = {}
    tiers = set()
    for product in products:
        found = read_series(sources, product, "price", start, end, points)
        tiers.add(found.tier)
        answer[product] = percent_points(found)
    return {"start": start, "end": end, "tier": ",".join(sorted(tiers)), "series": answer}


@bp.get("/alerts")
def alert_list() -> dict:
    """The newest `limit` alerts, or with `since` (an alert id) the first `limit` after it; oldest first."""
    since, limit = declared.SINCE.read(get_config()), declared.ALERT_LIMIT.read(get_config())
    found = alerts.read_alerts(current_app.extensions["redis"], get_config().redis.prefix, since, limit)
    return {"alerts": [alert_dict(a) for a in found]}


def alert_dict(alert: alerts.Alert) -> dict:
    return {
        "id": alert.id,
        "time": alert.time_ms,
        "rule": alert.rule,
        **split(alert.series).as_dict(),
        "kind": alert.kind,
        "field": alert.field,
        "op": alert.op,
        "value": alert.value,
        "threshold": alert.threshold,
        "trade_id": alert.trade_id,
        "message": alert.message,
    }


@bp.get("/rules")
def rule_list() -> dict:
    """The configured alert rules: the chart draws the price thresholds as horizontal lines."""
    return {"rules": [rule_dict(rule) for rule in get_config().alerts]}


def rule_dict(rule) -> dict:
    when = rule.when
    threshold = getattr(when, "threshold", None)
    return {
        "name": rule.name,
        **split(rule.product).as_dict(),
        "kind": when.kind,
        "when": when.describe(),
        "field": getattr(when, "field", None),
        "op": getattr(when, "op", None),
        "threshold": None if threshold is None else format(threshold, "f"),
    }


@bp.get("/alerts/stream")
def alert_stream() -> Response:
    """Alerts as Server-Sent Events, id = the alert id; resumes after Last-Event-ID (or ?since=), else from now."""
    # the header (a reconnecting browser) wins over the query; each is checked, and named, on its own
    header, query = declared.LAST_EVENT_ID.read(get_config()), declared.SINCE.read(get_config())
    since = header or query
    conn, prefix = current_app.extensions["redis"], get_config().redis.prefix
    cursor = [since or alerts.last_id(conn, prefix)]

    def poll() -> list[str]:
        found = alerts.wait_for_alerts(
            conn, prefix, cursor[0], max(1, int(stream_wait_s(ALERT_BLOCK_MS / 1000) * 1000))
        )
        if found:
            cursor[0] = found[-1].id or cursor[0]
        return [sse.event(alert_dict(a), a.id, "alert") for a in found]

    return _stream("alerts", poll)


@bp.get("/ticks/stream")
def tick_stream() -> Response:
    """Live ticks of the named products (default: all) as Server-Sent Events, starting with each one's latest."""
    products = declared.PRODUCTS.read(get_config())
    store = get_store()
    cursors: dict = dict.fromkeys(products)
    waiter = None

    def poll() -> list[str]:
        nonlocal waiter
        if waiter is None:  # subscribed before the first read, so no announcement falls between the two
            waiter = TickWaiter(current_app.extensions["redis"], get_config().redis.prefix)
        found = new_ticks(store, cursors, now_ms() + get_config().tracker.max_clock_skew_ms)
        if not found:
            waiter.wait(stream_wait_s(TICK_POLL_S))
        return [sse.event({**split(t.product).as_dict(), **t.as_dict()}, name="tick") for t in found]

    def close() -> None:
        if waiter is not None:
            waiter.close()

    return _stream("ticks", poll, close)


def _stream(name: str, poll, on_close=None) -> Response:
    """Open an SSE response if this worker has a free stream slot, else 503 (EventSource retries)."""
    web = get_config().web
    slots = current_app.extensions.setdefault(SLOTS_KEY, sse.StreamSlots(web.sse_max_streams))
    if not slots.try_take():
        response = Response('{"error": "too many open streams; retry later"}', 503, mimetype="application/json")
        response.headers["Retry-After"] = "5"
        return response
    metrics.STREAMS.labels(name).inc()

    def release() -> None:
        metrics.STREAMS.labels(name).dec()
        slots.give_back()
        if on_close is not None:
            on_close()

    limits = sse.StreamLimits(web.sse_heartbeat, web.sse_max_duration)
    body = stream_with_context(sse.run_stream(poll, limits))
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}  # and tell nginx not to buffer it
    response = Response(body, mimetype="text/event-stream", headers=headers)
    response.call_on_close(release)
    return response


@bp.get("/health")
def health() -> tuple[dict, int]:
    """200 when Redis answers, 503 (still JSON, with the reason) when it does not; ages of the newest ticks."""
    configured = get_config().tracker.products
    now = now_ms()
    try:
        latest = trusted_latest(get_store(), configured, now)
    except redis.RedisError as exc:
        ages = dict.fromkeys(configured)
        return {"status": "unavailable", "redis": False, "error": str(exc), "tick_age_seconds": ages}, 503
    ages = {product: tick_age(tick, now) for product, tick in latest.items()}
    return {"status": "ok", "redis": True, "tick_age_seconds": ages}, 200


def tick_ages() -> dict[str, float | None]:
    """For /metrics: {} when Redis does not answer (the scrape still shows the request metrics)."""
    configured = get_config().tracker.products
    now = now_ms()
    try:
        latest = trusted_latest(get_store(), configured, now)
    except redis.RedisError:
        return {}
    return {product: tick_age(tick, now) for product, tick in latest.items()}
