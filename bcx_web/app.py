"""The bcx-web application factory (Flask's flaskr shape): config, one Redis client, the API, the chart page.

Creating the app never touches Redis, so bcx-web starts (and answers /api/v1.0/health with 503) while Redis is
down. Every error, from any view or from routing, leaves through `json_error` as `{"error": "..."}`.
"""

from __future__ import annotations

import json
import logging
import time

import orjson
import redis
from flask import Flask, Response, current_app, g, request
from flask.json.provider import DefaultJSONProvider
from flask_compress import Compress
from flask_redis import FlaskRedis
from werkzeug.exceptions import HTTPException, InternalServerError

from bcx.config import Config, load_config
from bcx.connection import LazyClient
from bcx_web import analytics_api, api, export_api, metrics, openapi
from bcx_web.params import ParamError

log = logging.getLogger(__name__)

GZIP_LEVEL = 1
COMPRESS_MIN_BYTES = 1400  # one TCP segment on an Ethernet path (MTU 1500 less the IP and TCP headers)


def create_app(config: Config | None = None, test_config: dict | None = None) -> Flask:
    """The WSGI app for `config` (default: `load_config()`); `test_config` overrides Flask settings."""
    config = config or load_config()
    app = Flask(__name__, static_folder="static")
    app.config.from_mapping(BCX_CONFIG=config, REDIS_URL=config.redis.url)
    if test_config:
        app.config.update(test_config)
    app.json = OrjsonProvider(app)  # keeps the documented field order (time, trade_id, price, ...)

    # One client per app (not a module global), built by bcx.connection on first use: a redis.Redis, or a
    # RedisCluster for `[redis] cluster`. Its pool is thread-safe; the app holds no other state, so any number of
    # gunicorn workers or hosts can serve the same Redis.
    # flask-redis builds it in init_app from REDIS_URL and its provider class (documented use); ours is LazyClient,
    # since a RedisCluster needs the whole [redis] section and would touch Redis as soon as it is made.
    FlaskRedis.from_custom_provider(LazyClient, redis_config=config.redis).init_app(app)

    # Compressed when the client asks (Accept-Encoding): zstd, br, gzip or deflate. Never a stream: a compressor
    # buffers, and an event must reach the browser when it is written.
    app.config.setdefault("COMPRESS_STREAMS", False)
    app.config.setdefault("COMPRESS_MIMETYPES", ["application/json", "text/html", "text/css", "text/javascript"])
    # gzip level 1, not 6: a day of 1m candles (88 kB of JSON) packs in 0.7 ms instead of 3.6 ms, into 21 kB
    # instead of 17 kB; the CPU is scarcer than the bytes. zstd and brotli (what browsers prefer) keep their
    # fast defaults.
    app.config.setdefault("COMPRESS_LEVEL", GZIP_LEVEL)
    # A body that fits one TCP segment is sent in one packet compressed or not: compressing it only costs CPU.
    app.config.setdefault("COMPRESS_MIN_SIZE", COMPRESS_MIN_BYTES)
    Compress(app)

    app.register_blueprint(api.bp)
    app.register_blueprint(export_api.bp)
    app.register_blueprint(analytics_api.bp)
    app.add_url_rule("/", "index", index)
    app.add_url_rule("/analytics", "analytics_page", analytics_page)
    app.add_url_rule("/docs", "docs", docs)
    app.add_url_rule("/favicon.ico", "favicon", favicon)
    app.add_url_rule(f"{openapi.API}/openapi.json", "openapi", openapi_json)
    app.add_url_rule(f"{openapi.API}/metrics", "metrics", metrics_text)
    app.before_request(_start_timer)
    app.after_request(_count_request)
    app.after_request(_cors)
    app.register_error_handler(Exception, json_error)
    return app


class OrjsonProvider(DefaultJSONProvider):
    """Flask's JSON answers encoded by orjson: a day of candles encodes in a tenth of the time of the json module.
    Keys keep their order; only `dumps` changes (reading request JSON stays Flask's)."""

    def dumps(self, obj, **kwargs) -> str:
        return orjson.dumps(obj, default=self.default).decode()


def index() -> Response:
    """The chart page; its scripts and styles are under /static/, all served from here (no CDN)."""
    return current_app.send_static_file("index.html")


def analytics_page() -> Response:
    """The analytics page (rankings, correlation heat map, returns, spread): static, like the chart page."""
    return current_app.send_static_file("analytics.html")


def docs() -> Response:
    """The OpenAPI document rendered for people by a small local script (static/docs.js)."""
    return current_app.send_static_file("docs.html")


def favicon() -> Response:
    """The icon the pages link to, also at the address browsers ask for by themselves (no 404 in any log)."""
    return current_app.send_static_file("favicon.svg")


def openapi_json() -> dict:
    return openapi.document(current_app.config["BCX_CONFIG"])


def metrics_text() -> Response:
    return Response(metrics.render(api.tick_ages), mimetype=None, content_type=metrics.CONTENT_TYPE)


def _start_timer() -> None:
    g.started = time.perf_counter()


def _count_request(response: Response) -> Response:
    endpoint = request.endpoint or "unmatched"  # unknown URLs share one label: no label per scanned path
    metrics.REQUESTS.labels(request.method, endpoint, str(response.status_code)).inc()
    if "started" in g:
        metrics.LATENCY.labels(endpoint).observe(time.perf_counter() - g.started)
    return response


def _cors(response: Response) -> Response:
    """Allow a configured origin (or any, with `*`) to read the answer; nothing when cors_origins is empty."""
    allowed = current_app.config["BCX_CONFIG"].web.cors_origins
    origin = request.headers.get("Origin")
    if not allowed or not origin:
        return response
    if "*" in allowed:
        response.headers["Access-Control-Allow-Origin"] = "*"
    elif origin.rstrip("/") in allowed:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.vary.add("Origin")
    return response


def json_error(exc: Exception) -> Response | HTTPException:
    """The one error path: bad input 400, unknown route 404, wrong method 405, Redis down 503, a bug 500."""
    if isinstance(exc, HTTPException) and exc.code is not None and exc.code < 400:
        return exc  # routing redirects (e.g. a missing trailing slash) stay redirects
    if isinstance(exc, ParamError):
        status, message = 400, str(exc)
    elif isinstance(exc, redis.RedisError):
        log.warning("redis unavailable: %s", exc)
        metrics.REDIS_ERRORS.inc()
        status, message = 503, f"redis unavailable: {exc}"
    elif isinstance(exc, HTTPException):
        status, message = exc.code or 500, exc.description or exc.name
    else:
        log.exception("unhandled error")
        status, message = 500, InternalServerError.description
    return _json_response(exc, status, message)


def _json_response(exc: Exception, status: int, message: str) -> Response:
    # Start from werkzeug's own response so headers such as 405's Allow are kept; only the body changes.
    response = exc.get_response() if isinstance(exc, HTTPException) else Response()
    response.set_data(json.dumps({"error": message}))
    response.content_type = "application/json"
    response.status_code = status
    return response
