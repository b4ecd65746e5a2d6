"""bcx.conf: found, read once with configparser, validated into a typed, frozen Config.

Every error names the file, section and key, so a daemon can refuse to start with a message a person can act
on. The dataclasses below are the one declaration of what the file may hold (bcx.options): each option's key,
converter, default and help. The parser here, the commented default.conf and the README's option table
(bcx.config_docs, checked by tests) are derived from them; `DEFAULTS` is the Config of an empty file.
"""

from __future__ import annotations

import configparser
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from bcx import converters as c
from bcx.options import Option, Section, option, options_of
from bcx.rule_grammar import LEVEL_RULES, Hysteresis, Rule, parse_hysteresis, parse_rule
from bcx.tick import RAW

SYSTEM_CONFIG = Path("/etc/bcx/bcx.conf")
MAX_WORKERS = 256  # gunicorn processes: a few per core; more is a typo that would fork the machine to a halt
MAX_THREADS = 1024
ENV_VAR = "BCX_CONFIG"


class ConfigError(Exception):
    """A config problem, located by file, section and key."""

    def __init__(self, path: str, message: str, section: str | None = None, key: str | None = None):
        self.path, self.section, self.key, self.message = path, section, key, message
        where = path + (f": [{section}]" if section else "") + (f" {key}" if key else "")
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class RedisConfig:
    url: str = option(
        c.url("redis", "rediss", "unix"),
        "redis://127.0.0.1:6379/0",
        "the Redis to use: redis://host:port/db, rediss:// for TLS, or unix:///path/to/redis.sock",
        "A password goes in as redis://:PASSWORD@host:port/db; logs show it masked as ***.",
    )
    prefix: str = option(
        c.key_prefix,
        "bcx",
        "first part of every key BCX writes",
        "Change it to run two BCX installations on one Redis.",
    )
    timeout: float = option(
        c.positive_duration, "5s", "how long one Redis command may take before it counts as failed (above 0)"
    )
    cluster: tuple[tuple[str, int], ...] = option(
        c.host_port_list,
        "",
        "a Redis Cluster instead: some of its nodes as host:port, comma separated (then url is not used)",
        "Every key of one product shares a hash tag, so all of a product's work stays in one slot.",
    )


@dataclass(frozen=True)
class TrackerConfig:
    products: tuple[str, ...] = option(  # series ids, canonical (coinbase:BTC-USD)
        c.series_list,
        "coinbase:BTC-USD, coinbase:ETH-USD",
        "series to record, comma separated: EXCHANGE:BASE-QUOTE (a bare BTC-USD is coinbase:BTC-USD)",
        "Like coinbase:BTC-USD, kraken:BTC-USD: whatever the exchange itself calls the market. Each exchange gets "
        "its own connection.",
    )
    batch_size: int = option(
        c.positive_int,
        "500",
        "the most ticks one pipelined write to Redis holds",
        "Ticks are written at once when nothing else waits; under load, what arrived during one write is the next "
        "batch.",
    )
    flush_interval: float = option(
        c.duration,
        "0s",
        "above 0s, wait this long for a fuller batch before writing (fewer, larger writes; each tick later by up to "
        "this)",
    )
    queue_size: int = option(
        c.positive_int,
        "100000",
        "ticks waiting between the socket reader and the Redis writer",
        "The reader never waits on Redis.",
    )
    reconnect_max: float = option(
        c.duration,
        "60s",
        "longest wait between two reconnect attempts, or two tries of a failed Redis write",
        "The wait doubles from 1s up to this.",
    )
    stale_after: float = option(
        c.positive_duration,
        "30s",
        "a feed silent this long (no ticker, no heartbeat) is closed and reopened",
        "Coinbase sends a heartbeat per product every second, Kraken one a second when idle: this long without "
        "any frame means a dead link.",
    )
    backfill: float = option(
        c.duration,
        "1h",
        "at start, a newest stored tick older than this gets the hole filled with REST 1-minute candles",
        "The hole up to now is filled from the exchange's REST API (the candle tier, 1m).",
    )
    buffer: int = option(
        c.positive_int,
        "1000000",
        "ticks kept in memory while Redis is unreachable, flushed in order when it is back",
        "Past this bound the oldest are dropped (and the count logged, at most once a minute).",
    )
    max_clock_skew: float = option(
        c.positive_duration,
        "5m",
        "a tick dated more than this ahead of this machine's clock is malformed: counted, logged, not stored",
        "One tick from year 9999 would otherwise become the newest sample that retention and the API count from. "
        "Ticks before 2009, and prices, sizes or ids longer than any market uses, are refused the same way. Keep "
        "the clock in sync (NTP). Replayed recordings are in the past and pass; bcx-replay --loop shifts times "
        "forward each pass, so a long fast loop can run ahead of the clock and be refused like any other feed.",
    )

    @property
    def max_clock_skew_ms(self) -> int:
        return int(self.max_clock_skew * 1000)


@dataclass(frozen=True)
class WatcherConfig:
    interval: float = option(
        c.positive_duration,
        "1s",
        "how often the watcher looks at new ticks: evaluates the alert rules and compacts closed intervals",
    )
    candles: tuple[str, ...] = option(
        c.candle_intervals,
        "1m, 5m, 15m, 1h, 6h, 1d",
        "candle intervals, ascending; each is built from the one before it (1m from the raw ticks, 5m from 1m, ...)",
    )
    # "raw" and each candle interval -> seconds, None for forever (every tier: parse_config fills in the defaults)
    retention: dict[str, float | None] = option(
        c.retention_tiers,
        "raw:7d, 1m:90d, 5m:1y, 15m:2y, 1h:5y, 6h:forever, 1d:forever",
        "how long each tier is kept, counted back from the newest sample of that series; forever keeps everything",
        "Not the wall clock, so a replayed old file does not vanish; a sample dated more than [tracker] "
        "max_clock_skew ahead of the clock does not count. Tiers not named keep these defaults; a bare duration "
        "(retention = 7d) is the raw ticks' retention.",
    )
    trim_interval: float = option(c.duration, "60s", "how often retention is applied")
    max_memory: int | None = option(
        c.optional_byte_size,
        "",
        "per product: when its raw ticks use more Redis memory than this (64mb), the oldest raw chunks go",
        "A warning says how many ticks went. Empty: no ceiling.",
    )
    alert_stream_length: int = option(
        c.positive_int, "10000", "alerts are kept in the Redis stream PREFIX:alerts, trimmed to about this many"
    )
    lease: float = option(
        c.duration,
        "15s",
        "a product's lease: how soon another watcher takes over from one that died",
        "Several watchers may share one Redis: each product is looked after by the holder of its lease.",
    )
    webhook: str | None = option(
        c.optional_url("https", "http"),
        "",
        "an http(s) URL that each alert's JSON is POSTed to as well; empty: none",
        "Retried with backoff, never holding up the watcher.",
    )


@dataclass(frozen=True)
class WebConfig:
    host: str = option(
        c.host,
        "127.0.0.1",
        "the address bcx-web listens on",
        "Keep 127.0.0.1 unless a reverse proxy or firewall is in front of it.",
    )
    port: int = option(c.port, "8080", "the port bcx-web listens on")
    workers: int = option(c.int_between(1, MAX_WORKERS), "2", f"worker processes of gunicorn (1-{MAX_WORKERS})")
    threads: int = option(
        c.int_between(1, MAX_THREADS), "8", f"threads per worker (above sse_max_streams, at most {MAX_THREADS})"
    )
    max_limit: int = option(c.positive_int, "10000", "the most ticks one request may ask for")
    default_limit: int = option(c.positive_int, "1000", "how many ticks a request gets when it does not say")
    max_points: int = option(
        c.positive_int, "10000", "the most points one /series or /compare request may ask for (points=N)"
    )
    max_read: int = option(
        c.positive_int,
        "1000000",
        "the most ticks or candles one request may read from Redis",
        'A range needing more is cut at this many, and the answer says "truncated".',
    )
    cors_origins: tuple[str, ...] = option(
        c.origin_list,
        "",
        "origins allowed to call the API from a browser (CORS), comma separated; `*` allows any",
        "Like https://charts.example.com. Empty sends no CORS header: only pages served by bcx-web itself may call it.",
    )
    sse_max_streams: int = option(
        c.positive_int,
        "4",
        "Server-Sent-Event streams (/alerts/stream, /ticks/stream) open at once per worker; more get 503",
        "Each open stream holds one worker thread: keep threads above this so plain requests are served.",
    )
    sse_heartbeat: float = option(
        c.duration, "15s", "an idle stream sends a comment line this often, which notices a gone client"
    )
    sse_max_duration: float = option(
        c.duration,
        "5m",
        "a stream ends after this long and the browser reconnects with Last-Event-ID",
        "So a thread is never held forever.",
    )


@dataclass(frozen=True)
class LogConfig:
    level: str = option(c.log_level, "INFO", "DEBUG, INFO, WARNING, ERROR or CRITICAL")
    file: str | None = option(
        c.optional_path,
        "",
        "a log file (reopened by logrotate-friendly handlers); empty logs to standard error",
        "Its folder must exist.",
    )


@dataclass(frozen=True)
class AlertConfig:
    """One [alert:NAME] section."""

    name: str
    product: str = option(c.series_id, None, "the series the rule watches (a bare BTC-USD is coinbase:BTC-USD)")
    when: Rule = option(parse_rule, None, "the rule (see Alert rules)")
    hysteresis: Hysteresis = option(
        parse_hysteresis,
        "0",
        "after firing, how far back past the line the value must go before the rule re-arms",
        "In the rule's units, or a percentage of the threshold (0.1%); only price, bid, ask, change and spread "
        "rules take it.",
    )
    cooldown: float = option(c.duration, "5m", "the rule fires at most once per cooldown (0s: never held back)")


# section -> its typed object
SECTIONS: dict[str, type] = {
    "redis": RedisConfig,
    "tracker": TrackerConfig,
    "watcher": WatcherConfig,
    "web": WebConfig,
    "log": LogConfig,
}


@dataclass(frozen=True)
class ExchangeConfig:
    name: str
    feed_url: str
    rest_url: str | None
    protocol: str  # the adapter: the exchange's name, or Coinbase's `feed` (coinbase-exchange, coinbase-advanced)


def _endpoints(feed_url: str, feed_help: str, rest_url: str, rest_help: str) -> dict[str, Option]:
    return {
        "feed_url": Option(c.url("wss", "ws"), feed_url, feed_help),
        "rest_url": Option(c.optional(c.url("https", "http")), rest_url, rest_help + "; empty: none"),
    }


# [exchange:NAME]: each exchange's endpoints (the real public ones by default) and its own options
EXCHANGE_SECTIONS: dict[str, Section] = {
    "coinbase": Section(
        {
            "feed": Option(
                c.choice("coinbase-exchange", "coinbase-advanced"),
                "coinbase-exchange",
                "the feed's protocol: coinbase-exchange or coinbase-advanced",
                "coinbase-exchange is the Exchange feed (ticker + heartbeat channels); coinbase-advanced is Advanced "
                "Trade (wss://advanced-trade-ws.coinbase.com, ticker + heartbeats channels).",
            ),
            **_endpoints(
                "wss://ws-feed.exchange.coinbase.com",
                "the websocket feed (public, no key needed)",
                "https://api.exchange.coinbase.com",
                "the REST API (product check, backfill)",
            ),
        },
        "Coinbase: the REST API checks the products at start and backfills what a reconnect missed (trades) or a "
        "long stop left out (1-minute candles).",
    ),
    "kraken": Section(
        _endpoints(
            "wss://ws.kraken.com/v2",
            "the websocket feed (v2)",
            "https://api.kraken.com",
            "the REST API (trade-gap backfill)",
        ),
        "Kraken's websocket API v2 (trade + ticker channels) and its REST API, used to fill a trade-id gap from "
        "Trades (1000 a page, about one request a second).",
    ),
    "binance": Section(
        _endpoints(
            "wss://stream.binance.com:9443",
            "the market-streams host (the streams are added as /stream?streams=...)",
            "https://api.binance.com",
            "the REST API (product check, trade-gap and candle backfill)",
        ),
        "Binance's combined market streams (aggTrade + bookTicker) and its REST API, used to fill an "
        "aggregate-trade-id gap (aggTrades) and a long stop (klines). From a US address binance.com answers HTTP "
        "451: record binance-us:BASE-QUOTE series instead.",
    ),
    "binance-us": Section(
        _endpoints(
            "wss://stream.binance.us:9443",
            "Binance.US's market-streams host",
            "https://api.binance.us",
            "Binance.US's REST API",
        ),
        "Binance.US: the same protocol at its own endpoints, for US addresses.",
    ),
    "bitfinex": Section(
        _endpoints(
            "wss://api-pub.bitfinex.com/ws/2",
            "the websocket feed (v2, public)",
            "https://api-pub.bitfinex.com",
            "the REST API (pair check, gap backfill, candles)",
        ),
        "Bitfinex's public websocket API v2 (trades + ticker channels, sequence numbers on) and its REST API, used "
        "to fill a sequence gap from trades/hist by time window (under 15 requests a minute).",
    ),
}
# [tracker] keys from before [exchange:NAME]: still read, as Coinbase's settings, with a warning
LEGACY_TRACKER_KEYS = {"feed": "feed", "feed_url": "feed_url", "rest_url": "rest_url", "exchange": None}


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
        if section not in SECTIONS and not section.startswith(("alert:", "exchange:")):
            known = ", ".join(SECTIONS)
            raise ConfigError(path, f"unknown section (known: {known}, exchange:NAME, alert:NAME)", section)
    warnings: list[str] = []
    legacy = _legacy_tracker_keys(parser, path, warnings)
    values = {name: _section_values(parser, path, name, options_of(cls)) for name, cls in SECTIONS.items()}
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
        if section.startswith("exchange:") and section.split(":", 1)[1].strip() not in EXCHANGE_SECTIONS:
            known = ", ".join(EXCHANGE_SECTIONS)
            raise ConfigError(path, f"unknown exchange (known: {known})", section)
    exchanges = {}
    for name, declared in EXCHANGE_SECTIONS.items():
        section = f"exchange:{name}"
        overrides = legacy if name == "coinbase" and not parser.has_section(section) else {}
        values = _section_values(parser, path, section, declared.options, overrides)
        exchanges[name] = ExchangeConfig(
            name=name, feed_url=values["feed_url"], rest_url=values["rest_url"], protocol=values.get("feed", name)
        )
    return exchanges


def _watcher(values: dict[str, Any], path: str) -> WatcherConfig:
    """Every tier in `retention` must be raw or a configured candle interval; unnamed tiers keep their default."""
    tiers = (RAW, *values["candles"])
    for tier in values["retention"]:
        if tier not in tiers:
            raise ConfigError(
                path, f"unknown tier {tier!r} (raw or one of candles: {', '.join(tiers)})", "watcher", "retention"
            )
    declared = options_of(WatcherConfig)["retention"].default_value()
    retention = {tier: declared.get(tier) for tier in tiers} | values["retention"]
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


def _section_values(
    parser, path: str, section: str, options: dict[str, Option], overrides: dict | None = None
) -> dict[str, Any]:
    raw = (overrides or {}) | (dict(parser.items(section)) if parser.has_section(section) else {})
    for key in raw:
        if key not in options:
            raise ConfigError(path, f"unknown key (known: {', '.join(options)})", section, key)
    values = {}
    for key, declared in options.items():
        text = raw.get(key, declared.default)
        if text is None:
            raise ConfigError(path, "missing; this key is required", section, key)
        try:
            values[key] = declared.convert(text)
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
        values = _section_values(parser, path, section, options_of(AlertConfig))
        if values["hysteresis"].amount and not isinstance(values["when"], LEVEL_RULES):
            raise ConfigError(
                path, "only price, bid, ask, change and spread rules take a hysteresis", section, "hysteresis"
            )
        alerts.append(AlertConfig(name=name, **values))
    return alerts


DEFAULTS = parse_config(new_parser(), "(the declared defaults)")  # what a file with nothing in it means
