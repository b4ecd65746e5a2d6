"""bcx.conf: found, read once with configparser, validated into a typed, frozen Config.

Every error names the file, section and key, so a daemon can refuse to start with a message a person can act
on. The schema below is the single list of what the file may hold; `conf/bcx.conf` documents each entry.
"""

from __future__ import annotations

import configparser
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from bcx import converters as c
from bcx.rule_grammar import LEVEL_RULES, NO_HYSTERESIS, Hysteresis, Rule, parse_hysteresis, parse_rule

SYSTEM_CONFIG = Path("/etc/bcx/bcx.conf")
MAX_WORKERS = 256  # gunicorn processes: a few per core; more is a typo that would fork the machine to a halt
MAX_THREADS = 1024
ENV_VAR = "BCX_CONFIG"

# section -> key -> (converter, default as written in the file)
SCHEMA: dict[str, dict[str, tuple[Callable[[str], Any], str]]] = {
    "redis": {
        "url": (c.url("redis", "rediss", "unix"), "redis://127.0.0.1:6379/0"),
        "cluster": (c.host_port_list, ""),
        "prefix": (c.key_prefix, "bcx"),
        "timeout": (c.positive_duration, "5s"),
    },
    "tracker": {
        "products": (c.series_list, "coinbase:BTC-USD, coinbase:ETH-USD"),
        "batch_size": (c.positive_int, "500"),
        "flush_interval": (c.duration, "100ms"),
        "queue_size": (c.positive_int, "100000"),
        "reconnect_max": (c.duration, "60s"),
        "stale_after": (c.positive_duration, "30s"),
        "backfill": (c.duration, "1h"),
        "buffer": (c.positive_int, "1000000"),
        "max_clock_skew": (c.positive_duration, "5m"),
    },
    "watcher": {
        "interval": (c.positive_duration, "1s"),
        "candles": (c.candle_intervals, "1m, 5m, 15m, 1h, 6h, 1d"),
        "retention": (c.retention_tiers, "raw:7d, 1m:90d, 5m:1y, 15m:2y, 1h:5y, 6h:forever, 1d:forever"),
        "trim_interval": (c.duration, "60s"),
        "max_memory": (c.optional_byte_size, ""),
        "alert_stream_length": (c.positive_int, "10000"),
        "lease": (c.duration, "15s"),
        "webhook": (c.optional_url("https", "http"), ""),
    },
    "web": {
        "host": (c.host, "127.0.0.1"),
        "port": (c.port, "8080"),
        "workers": (c.int_between(1, MAX_WORKERS), "2"),
        "threads": (c.int_between(1, MAX_THREADS), "8"),
        "max_limit": (c.positive_int, "10000"),
        "default_limit": (c.positive_int, "1000"),
        "max_points": (c.positive_int, "10000"),
        "max_read": (c.positive_int, "1000000"),
        "cors_origins": (c.origin_list, ""),
        "sse_max_streams": (c.positive_int, "4"),
        "sse_heartbeat": (c.duration, "15s"),
        "sse_max_duration": (c.duration, "5m"),
    },
    "log": {
        "level": (c.log_level, "INFO"),
        "file": (c.optional_path, ""),
    },
}
_FEED_URL, _REST_URL = c.url("wss", "ws"), c.optional(c.url("https", "http"))
# [exchange:NAME]: each exchange's endpoints (the real public ones by default) and its own options
EXCHANGE_SCHEMA: dict[str, dict[str, tuple[Callable[[str], Any], str]]] = {
    "coinbase": {
        "feed": (c.choice("coinbase-exchange", "coinbase-advanced"), "coinbase-exchange"),
        "feed_url": (_FEED_URL, "wss://ws-feed.exchange.coinbase.com"),
        "rest_url": (_REST_URL, "https://api.exchange.coinbase.com"),
    },
    "kraken": {
        "feed_url": (_FEED_URL, "wss://ws.kraken.com/v2"),
        "rest_url": (_REST_URL, "https://api.kraken.com"),
    },
    "binance": {
        "feed_url": (_FEED_URL, "wss://stream.binance.com:9443"),
        "rest_url": (_REST_URL, "https://api.binance.com"),
    },
    "binance-us": {
        "feed_url": (_FEED_URL, "wss://stream.binance.us:9443"),
        "rest_url": (_REST_URL, "https://api.binance.us"),
    },
    "bitfinex": {
        "feed_url": (_FEED_URL, "wss://api-pub.bitfinex.com/ws/2"),
        "rest_url": (_REST_URL, "https://api-pub.bitfinex.com"),
    },
}
# [tracker] keys from before [exchange:NAME]: still read, as Coinbase's settings, with a warning
LEGACY_TRACKER_KEYS = {"feed": "feed", "feed_url": "feed_url", "rest_url": "rest_url", "exchange": None}
ALERT_SCHEMA: dict[str, tuple[Callable[[str], Any], str | None]] = {
    "product": (c.series_id, None),
    "when": (parse_rule, None),
    "hysteresis": (parse_hysteresis, "0"),
    "cooldown": (c.duration, "5m"),
}
# what a tier keeps when `[watcher] retention` does not name it (None: forever)
DEFAULT_RETENTION: dict[str, float | None] = {
    "raw": 7 * 86400,
    "1m": 90 * 86400,
    "5m": 365 * 86400,
    "15m": 2 * 365 * 86400,
    "1h": 5 * 365 * 86400,
}


class ConfigError(Exception):
    """A config problem, located by file, section and key."""

    def __init__(self, path: str, message: str, section: str | None = None, key: str | None = None):
        self.path, self.section, self.key, self.message = path, section, key, message
        where = path + (f": [{section}]" if section else "") + (f" {key}" if key else "")
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class RedisConfig:
    url: str
    prefix: str
    timeout: float
    cluster: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class ExchangeConfig:
    name: str
    feed_url: str
    rest_url: str | None
    protocol: str  # the adapter: the exchange's name, or Coinbase's `feed` (coinbase-exchange, coinbase-advanced)


@dataclass(frozen=True)
class TrackerConfig:
    products: tuple[str, ...]  # series ids, canonical (coinbase:BTC-USD)
    batch_size: int
    flush_interval: float
    queue_size: int
    reconnect_max: float
    stale_after: float
    backfill: float
    buffer: int
    max_clock_skew: float = 300.0  # seconds; the schema's default


@dataclass(frozen=True)
class WatcherConfig:
    interval: float
    candles: tuple[str, ...]
    retention: dict[str, float | None]  # "raw" and each candle interval -> seconds, None for forever
    trim_interval: float
    max_memory: int | None
    alert_stream_length: int
    lease: float
    webhook: str | None


@dataclass(frozen=True)
class WebConfig:
    host: str
    port: int
    workers: int
    threads: int
    max_limit: int
    default_limit: int
    max_points: int
    max_read: int
    cors_origins: tuple[str, ...]
    sse_max_streams: int
    sse_heartbeat: float
    sse_max_duration: float


@dataclass(frozen=True)
class LogConfig:
    level: str
    file: str | None


@dataclass(frozen=True)
class AlertConfig:
    name: str
    product: str
    when: Rule
    hysteresis: Hysteresis = NO_HYSTERESIS
    cooldown: float = 300.0  # seconds; the schema's default


@dataclass(frozen=True)
class Config:
    path: str
    redis: RedisConfig
    tracker: TrackerConfig
    watcher: WatcherConfig
    web: WebConfig
    log: LogConfig
    alerts: tuple[AlertConfig, ...]
    exchanges: dict[str, ExchangeConfig] = field(default_factory=dict)  # every known exchange, configured or not
    warnings: tuple[str, ...] = ()  # logged by the daemons once logging is set up (deprecated keys)


def packaged_default() -> Path:
    return Path(str(resources.files("bcx").joinpath("default.conf")))


def find_config(path: str | None = None, environ: dict[str, str] | None = None) -> Path:
    """`--config PATH`, else $BCX_CONFIG, else /etc/bcx/bcx.conf, else the packaged default."""
    environ = os.environ if environ is None else environ
    if path:
        return Path(path)
    if environ.get(ENV_VAR):
        return Path(environ[ENV_VAR])
    if SYSTEM_CONFIG.exists():
        return SYSTEM_CONFIG
    return packaged_default()


def load_config(path: str | None = None, environ: dict[str, str] | None = None) -> Config:
    found = find_config(path, environ)
    parser = new_parser()
    try:
        with open(found, encoding="utf-8") as handle:
            parser.read_file(handle)
    except FileNotFoundError:
        raise ConfigError(str(found), "no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(found), f"cannot read: {exc}") from None
    except configparser.Error as exc:
        raise ConfigError(str(found), f"not a valid INI file: {exc.message}") from None
    return parse_config(parser, str(found))


def parse_config(parser: configparser.ConfigParser, path: str) -> Config:
    for section in parser.sections():
        if section not in SCHEMA and not section.startswith(("alert:", "exchange:")):
            raise ConfigError(path, f"unknown section (known: {', '.join(SCHEMA)}, exchange:NAME, alert:NAME)", section)
    warnings: list[str] = []
    legacy = _legacy_tracker_keys(parser, path, warnings)
    values = {name: _section_values(parser, path, name, schema) for name, schema in SCHEMA.items()}
    return Config(
        path=path,
        redis=RedisConfig(**values["redis"]),
        tracker=TrackerConfig(**values["tracker"]),
        watcher=_watcher(values["watcher"], path),
        web=_web(values["web"], path),
        log=LogConfig(**values["log"]),
        alerts=tuple(_alerts(parser, path)),
        exchanges=_exchanges(parser, path, legacy),
        warnings=tuple(warnings),
    )


def _legacy_tracker_keys(parser, path: str, warnings: list[str]) -> dict[str, str]:
    """`[tracker] feed, feed_url, rest_url` as Coinbase's settings (removed from the section so the schema check
    does not see them); `exchange` only as `coinbase`, the one name keys were ever written under by default."""
    found: dict[str, str] = {}
    if not parser.has_section("tracker"):
        return found
    for key, new_key in LEGACY_TRACKER_KEYS.items():
        if not parser.has_option("tracker", key):
            continue
        value = parser.get("tracker", key).strip()
        parser.remove_option("tracker", key)
        if new_key is None:
            if value != "coinbase":
                raise ConfigError(
                    path,
                    f"{value!r}: the exchange is now part of each series id (kraken:BTC-USD; a bare BTC-USD is "
                    "coinbase's); remove this key",
                    "tracker",
                    key,
                )
            warnings.append(f"{path}: [tracker] {key} is no longer needed (series ids name their exchange)")
            continue
        found[new_key] = value
        warnings.append(f"{path}: [tracker] {key} is deprecated: write it as [exchange:coinbase] {new_key}")
    return found


def _exchanges(parser, path: str, legacy: dict[str, str]) -> dict[str, ExchangeConfig]:
    for section in parser.sections():
        if section.startswith("exchange:") and section.split(":", 1)[1].strip() not in EXCHANGE_SCHEMA:
            known = ", ".join(EXCHANGE_SCHEMA)
            raise ConfigError(path, f"unknown exchange (known: {known})", section)
    exchanges = {}
    for name, schema in EXCHANGE_SCHEMA.items():
        section = f"exchange:{name}"
        overrides = legacy if name == "coinbase" and not parser.has_section(section) else {}
        values = _section_values(parser, path, section, schema, overrides)
        exchanges[name] = ExchangeConfig(
            name=name, feed_url=values["feed_url"], rest_url=values["rest_url"], protocol=values.get("feed", name)
        )
    return exchanges


def _watcher(values: dict[str, Any], path: str) -> WatcherConfig:
    """Every tier in `retention` must be raw or a configured candle interval; unnamed tiers keep their default."""
    tiers = ("raw", *values["candles"])
    for tier in values["retention"]:
        if tier not in tiers:
            raise ConfigError(
                path, f"unknown tier {tier!r} (raw or one of candles: {', '.join(tiers)})", "watcher", "retention"
            )
    retention = {tier: DEFAULT_RETENTION.get(tier) for tier in tiers} | values["retention"]
    return WatcherConfig(**{**values, "retention": retention})


def _web(values: dict[str, Any], path: str) -> WebConfig:
    """Each open SSE stream holds a worker thread: with no thread left over, plain requests (/health) would hang."""
    if values["threads"] <= values["sse_max_streams"]:
        raise ConfigError(
            path, f"{values['threads']} must be above sse_max_streams ({values['sse_max_streams']})", "web", "threads"
        )
    return WebConfig(**values)


def new_parser() -> configparser.ConfigParser:
    """The one way bcx.conf is read. `key = 50  # why` is what people write: a `#` or `;` after whitespace starts
    a comment in a value too (a URL's `#fragment` or a password's `#` without a space before it stays)."""
    return configparser.ConfigParser(
        interpolation=None, default_section="__defaults__", inline_comment_prefixes=("#", ";")
    )


def _section_values(parser, path: str, section: str, schema: dict, overrides: dict | None = None) -> dict[str, Any]:
    raw = (overrides or {}) | (dict(parser.items(section)) if parser.has_section(section) else {})
    for key in raw:
        if key not in schema:
            raise ConfigError(path, f"unknown key (known: {', '.join(schema)})", section, key)
    values = {}
    for key, (convert, default) in schema.items():
        text = raw.get(key, default)
        if text is None:
            raise ConfigError(path, "missing; this key is required", section, key)
        try:
            values[key] = convert(text)
        except ValueError as exc:
            raise ConfigError(path, str(exc), section, key) from None
    return values


def _alerts(parser, path: str) -> list[AlertConfig]:
    alerts = []
    for section in parser.sections():
        if not section.startswith("alert:"):
            continue
        name = section.split(":", 1)[1].strip()
        if not name:
            raise ConfigError(path, "an alert section needs a name, like [alert:btc-high]", section)
        values = _section_values(parser, path, section, ALERT_SCHEMA)
        if values["hysteresis"].amount and not isinstance(values["when"], LEVEL_RULES):
            raise ConfigError(
                path, "only price, bid, ask, change and spread rules take a hysteresis", section, "hysteresis"
            )
        alerts.append(AlertConfig(name=name, **values))
    return alerts
