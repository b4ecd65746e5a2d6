"""The JSON API under /api/v1.0/: small views that validate their input, read the tick store and return dicts.

Errors are raised, never returned: ParamError (400), redis.RedisError (503) and HTTP errors all go through the
app's one error handler (bcx_web.app.json_error).
"""

from __future__ import annotations

import time

import redis
from flask import Blueprint, current_app, request

from bcx.config import Config
from bcx.store import TickStore
from bcx.tick import Tick
from bcx_web import params

bp = Blueprint("api", __name__, url_prefix="/api/v1.0")

DEFAULT_SPAN_MS = 3600 * 1000  # a range without a start covers the hour before its end
STORE_KEY = "bcx_store"


def get_config() -> Config:
    return current_app.config["BCX_CONFIG"]


def get_store() -> TickStore:
    """The app's TickStore, built on first use: its constructor asks Redis (CONFIG GET) for the chunk size, and
    the app must start while Redis is down. Two threads racing here both build one; either is right."""
    store = current_app.extensions.get(STORE_KEY)
    if store is None:
        config = get_config()
        store = TickStore(current_app.extensions["redis"], config.redis.prefix, config.tracker.exchange)
        current_app.extensions[STORE_KEY] = store
    return store


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def tick_age(tick: Tick | None, now: int) -> float | None:
    """Seconds from the tick's exchange time to `now` (unix ms), or None without a tick."""
    return None if tick is None else round((now - tick.time_ms) / 1000, 3)


@bp.get("/products")
def products() -> dict:
    configured = get_config().tracker.products
    latest = get_store().latest_many(configured)
    return {"products": [{"product": p, "last": t.as_dict() if t else None} for p, t in latest.items()]}


@bp.get("/ticks/<product>")
def ticks(product: str) -> dict:
    config = get_config()
    product = params.parse_product(product, config.tracker.products)
    start = params.parse_time(request.args.get("start"), "start")
    end = params.parse_time(request.args.get("end"), "end")
    limit = params.parse_limit(request.args.get("limit"), config.web.default_limit, config.web.max_limit)
    store = get_store()
    # Only read the newest tick when the client left the end open: replayed data may be far from the wall clock.
    default_end = end if end is not None else _newest_or_now(store, product)
    start, end = params.resolve_range(start, end, default_end, DEFAULT_SPAN_MS)
    found = store.range(product, start, end, limit + 1)  # one more than asked tells whether the limit cut the range
    return {
        "product": product,
        "start": start,
        "end": end,
        "limit": limit,
        "truncated": len(found) > limit,
        "ticks": [tick.as_dict() for tick in found[:limit]],
    }


def _newest_or_now(store: TickStore, product: str) -> int:
    latest = store.latest(product)
    return latest.time_ms if latest else now_ms()


@bp.get("/health")
def health() -> tuple[dict, int]:
    """200 when Redis answers, 503 (still JSON, with the reason) when it does not; ages of the newest ticks."""
    configured = get_config().tracker.products
    try:
        latest = get_store().latest_many(configured)
    except redis.RedisError as exc:
        ages = dict.fromkeys(configured)
        return {"status": "unavailable", "redis": False, "error": str(exc), "tick_age_seconds": ages}, 503
    now = now_ms()
    ages = {product: tick_age(tick, now) for product, tick in latest.items()}
    return {"status": "ok", "redis": True, "tick_age_seconds": ages}, 200
