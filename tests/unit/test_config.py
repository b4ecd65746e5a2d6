"""Config: lookup order, defaults, typed values, and errors that name file, section and key."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from bcx import converters as c
from bcx.config import ConfigError, find_config, load_config, packaged_default


def write(tmp_path, text: str):
    path = tmp_path / "bcx.conf"
    path.write_text(text)
    return str(path)


def test_packaged_default_loads_with_documented_defaults():
    config = load_config(str(packaged_default()))
    assert config.redis.url == "redis://127.0.0.1:6379/0"
    assert config.redis.prefix == "bcx"
    coinbase, kraken = config.exchanges["coinbase"], config.exchanges["kraken"]
    assert (coinbase.feed_url, coinbase.protocol) == ("wss://ws-feed.exchange.coinbase.com", "coinbase-exchange")
    assert coinbase.rest_url == "https://api.exchange.coinbase.com"
    assert (kraken.feed_url, kraken.rest_url) == ("wss://ws.kraken.com/v2", "https://api.kraken.com")
    assert config.tracker.products == ("coinbase:BTC-USD", "coinbase:ETH-USD")
    assert config.warnings == ()
    assert config.tracker.flush_interval == 0.0  # write at once when nothing else waits
    year = 365 * 86400
    assert config.watcher.retention == {
        "raw": 7 * 86400,
        "1m": 90 * 86400,
        "5m": year,
        "15m": 2 * year,
        "1h": 5 * year,
        "6h": None,
        "1d": None,
    }
    assert config.watcher.candles == ("1m", "5m", "15m", "1h", "6h", "1d")
    assert (config.web.host, config.web.port) == ("127.0.0.1", 8080)
    assert config.alerts == ()


def test_lookup_order(tmp_path):
    mine = write(tmp_path, "")
    assert str(find_config(mine, environ={"BCX_CONFIG": "/elsewhere"})) == mine
    assert str(find_config(None, environ={"BCX_CONFIG": mine})) == mine
    found = find_config(None, environ={})
    assert str(found) in ("/etc/bcx/bcx.conf", str(packaged_default()))


def test_values_and_alerts(tmp_path):
    path = write(
        tmp_path,
        "[redis]\nurl = redis://10.0.0.5:6380/2\n[tracker]\nproducts = BTC-USD,SOL-USD\nflush_interval = 250ms\n"
        "[watcher]\nretention = forever\n[alert:btc-high]\nproduct = BTC-USD\nwhen = price > 100000.5\n",
    )
    config = load_config(path)
    assert config.redis.url == "redis://10.0.0.5:6380/2"
    assert config.tracker.products == ("coinbase:BTC-USD", "coinbase:SOL-USD")  # bare: Coinbase's
    assert config.tracker.flush_interval == pytest.approx(0.25)
    assert config.watcher.retention["raw"] is None  # a bare duration (the older form) is the raw ticks' retention
    (alert,) = config.alerts
    assert (alert.name, alert.product, alert.when.field, alert.when.op) == (
        "btc-high",
        "coinbase:BTC-USD",
        "price",
        ">",
    )
    assert alert.when.threshold == Decimal("100000.5")


@pytest.mark.parametrize(
    "text, section, key, words",
    [
        ("[tracker]\nproducts = BTC-USD, btc-usd\n", "tracker", "products", "not a series id"),
        ("[tracker]\nproducts = kraken:BTC-USD, mtgox:BTC-USD\n", "tracker", "products", "known: coinbase, kraken"),
        ("[alert:x]\nproduct = bitstamp:BTC-USD\nwhen = price > 1\n", "alert:x", "product", "unknown exchange"),
        ("[exchange:mtgox]\nfeed_url = wss://x\n", "exchange:mtgox", None, "known: coinbase, kraken"),
        ("[exchange:kraken]\nfeed_url = http://example\n", "exchange:kraken", "feed_url", "wss://"),
        ("[tracker]\nexchange = gdax\n", "tracker", "exchange", "part of each series id"),
        ("[tracker]\nproducts = BTC-USD, BTC-USD\n", "tracker", "products", "twice"),
        ("[tracker]\nproducts =\n", "tracker", "products", "at least one"),
        ("[tracker]\nbatch_size = -3\n", "tracker", "batch_size", "greater than 0"),
        ("[tracker]\nflush_interval = soon\n", "tracker", "flush_interval", "not a duration"),
        ("[tracker]\ncolour = blue\n", "tracker", "colour", "unknown key"),
        ("[web]\nport = 70000\n", "web", "port", "not a TCP port"),
        ("[redis]\nurl = mysql://x\n", "redis", "url", "redis://"),
        ("[log]\nlevel = loud\n", "log", "level", "not a log level"),
        ("[tracking]\n", "tracking", None, "unknown section"),
        ("[alert:x]\nproduct = BTC-USD\n", "alert:x", "when", "required"),
        ("[alert:x]\nproduct = BTC-USD\nwhen = price >> 3\n", "alert:x", "when", "not a rule"),
        ("[alert:x]\nproduct = BTC-USD\nwhen = volume > 3\n", "alert:x", "when", "unknown field"),
        ("[alert:x]\nproduct = BTC-USD\nwhen = price > abc\n", "alert:x", "when", "not a number"),
        ("[alert:x]\nproduct = BTC-USD\nwhen = price > NaN\n", "alert:x", "when", "finite"),
        ("[alert:]\nproduct = BTC-USD\nwhen = price > 1\n", "alert:", None, "needs a name"),
        ("[alert:x]\nproduct = BTC-USD\nwhen = change >= 5 in 15m\n", "alert:x", "when", "not a rule"),
        ("[alert:x]\nproduct = BTC-USD\nwhen = rise < 5% in 15m\n", "alert:x", "when", "use > or >="),
        ("[alert:x]\nproduct = BTC-USD\nwhen = change >= 5% in soon\n", "alert:x", "when", "not a duration"),
        ("[alert:x]\nproduct = BTC-USD\nwhen = spike volume 3 1h\n", "alert:x", "when", "spike volume 3x 1h"),
        ("[alert:x]\nproduct = BTC-USD\nwhen = spike volume 3x 90s\n", "alert:x", "when", "whole minutes"),
        ("[alert:x]\nproduct = BTC-USD\nwhen = spread > 0.5\n", "alert:x", "when", "spread > 0.5%"),
        ("[alert:x]\nproduct = BTC-USD\nwhen = stale\n", "alert:x", "when", "stale 60s"),
        ("[alert:x]\nproduct = BTC-USD\nwhen = stale 0s\n", "alert:x", "when", "longer than 0"),
        ("[alert:x]\nproduct = BTC-USD\nwhen = price > 1\nhysteresis = -1\n", "alert:x", "hysteresis", "negative"),
        ("[alert:x]\nproduct = BTC-USD\nwhen = stale 60s\nhysteresis = 5\n", "alert:x", "hysteresis", "only price"),
        ("[alert:x]\nproduct = BTC-USD\nwhen = price > 1\ncooldown = later\n", "alert:x", "cooldown", "duration"),
        ("[watcher]\nretention = raw:7d, 2h:1d\n", "watcher", "retention", "unknown tier '2h'"),
        ("[watcher]\nretention = raw:7d, raw:1d\n", "watcher", "retention", "twice"),
        ("[watcher]\nretention = raw=7d\n", "watcher", "retention", "not a duration"),
        ("[watcher]\ncandles = 1h, 1m\n", "watcher", "candles", "whole multiple"),
        ("[watcher]\ncandles = 5m, 7m\n", "watcher", "candles", "whole multiple"),
        ("[watcher]\ncandles = 1s\n", "watcher", "candles", "not a candle interval"),
        ("[watcher]\nmax_memory = lots\n", "watcher", "max_memory", "not a size"),
        ("[watcher]\nwebhook = ftp://x\n", "watcher", "webhook", "https://"),
        # issue 14: values that used to start a daemon anyway, or kill it with a traceback
        ("[redis]\ntimeout = 0s\n", "redis", "timeout", "longer than 0"),
        ("[redis]\nurl = redis://127.0.0.1:99999/0\n", "redis", "url", "port outside 1-65535"),
        ("[redis]\nurl = redis://:secret@127.0.0.1:0/0\n", "redis", "url", "port 0"),
        ("[web]\nthreads = 4\nsse_max_streams = 4\n", "web", "threads", "above sse_max_streams"),
        ("[web]\nworkers = 1000000000\n", "web", "workers", "out of range (1-256)"),
        ("[tracker]\nstale_after = 0s\n", "tracker", "stale_after", "longer than 0"),
        ("[tracker]\nmax_clock_skew = 0s\n", "tracker", "max_clock_skew", "longer than 0"),
        ("[watcher]\ninterval = 0ms\n", "watcher", "interval", "longer than 0"),
    ],
)
def test_errors_name_file_section_and_key(tmp_path, text, section, key, words):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    error = caught.value
    assert (error.path, error.section, error.key) == (path, section, key)
    assert words in str(error)
    assert str(error).startswith(f"{path}: [{section}]")


def test_watcher_tiers_memory_webhook_and_alert_keys(tmp_path):
    path = write(
        tmp_path,
        "[watcher]\ncandles = 1m, 5m, 1h\nretention = raw:2d, 5m:forever\nmax_memory = 64mb\n"
        "webhook = http://127.0.0.1:9/hook\nlease = 5s\n"
        "[alert:a]\nproduct = BTC-USD\nwhen = price > 100000\nhysteresis = 0.1%\ncooldown = 1m\n"
        "[alert:b]\nproduct = BTC-USD\nwhen = stale 60s\n",
    )
    watcher = load_config(path).watcher
    assert watcher.candles == ("1m", "5m", "1h")
    assert watcher.retention == {"raw": 2 * 86400, "1m": 90 * 86400, "5m": None, "1h": 5 * 365 * 86400}
    assert (watcher.max_memory, watcher.webhook, watcher.lease) == (64 * 1024**2, "http://127.0.0.1:9/hook", 5.0)
    first, second = load_config(path).alerts
    assert (first.hysteresis.amount, first.hysteresis.percent, first.cooldown) == (Decimal("0.1"), True, 60.0)
    assert (second.hysteresis.amount, second.cooldown) == (0, 300.0)


def test_missing_and_unparsable_files(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_config(str(tmp_path / "absent.conf"))
    with pytest.raises(ConfigError, match="not a valid INI file"):
        load_config(write(tmp_path, "url = before any section\n"))


@pytest.mark.parametrize(
    "text, seconds", [("250ms", 0.25), ("30s", 30), ("15m", 900), ("2h", 7200), ("7d", 604800), ("1.5s", 1.5)]
)
def test_duration(text, seconds):
    assert c.duration(text) == pytest.approx(seconds)


def test_sizes_and_booleans():
    assert c.byte_size("64mb") == 64 * 1024**2
    assert c.byte_size("512") == 512
    assert c.boolean("Yes") is True and c.boolean("off") is False
    for bad, convert in (("64 potatoes", c.byte_size), ("maybe", c.boolean), ("", c.duration)):
        with pytest.raises(ValueError):
            convert(bad)


def test_every_commented_alert_example_in_the_packaged_config_parses(tmp_path):
    """conf/bcx.conf shows one commented example of each rule kind; uncommented, they all load."""
    example_line = re.compile(r"^# (\[alert:|product = |when = |hysteresis = |cooldown = )")
    text = packaged_default().read_text()
    lines = [line[2:] if example_line.match(line) else line for line in text.splitlines()]
    path = tmp_path / "examples.conf"
    path.write_text("\n".join(lines))
    kinds = {alert.when.kind for alert in load_config(str(path)).alerts}
    assert kinds == {"threshold", "change", "spike", "spread", "stale"}


def test_the_old_tracker_keys_still_work_as_coinbase_settings_with_a_warning(tmp_path):
    path = write(
        tmp_path,
        "[tracker]\nfeed = coinbase-advanced\nfeed_url = ws://127.0.0.1:9/\nrest_url =\nexchange = coinbase\n"
        "products = BTC-USD, kraken:ETH-USD\n",
    )
    config = load_config(path)
    coinbase = config.exchanges["coinbase"]
    assert (coinbase.protocol, coinbase.feed_url, coinbase.rest_url) == ("coinbase-advanced", "ws://127.0.0.1:9/", None)
    assert config.tracker.products == ("coinbase:BTC-USD", "kraken:ETH-USD")
    assert any("[exchange:coinbase] feed_url" in warning for warning in config.warnings)
    assert any("[tracker] exchange is no longer needed" in warning for warning in config.warnings)


def test_every_known_exchange_has_an_adapter_and_a_config_section():
    from bcx.config import EXCHANGE_SECTIONS
    from bcx.series import EXCHANGES
    from bcx_tracker.exchanges import ADAPTERS

    assert set(EXCHANGE_SECTIONS) == set(EXCHANGES) == {cls.name for cls in ADAPTERS.values()}


def test_a_password_never_appears_in_a_config_error(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, "[redis]\nurl = redis://:hunter2@127.0.0.1:0/0\n"))
    assert "hunter2" not in str(caught.value) and "***@127.0.0.1:0" in str(caught.value)


def test_inline_comments_after_values_are_comments(tmp_path):
    path = write(
        tmp_path,
        "[tracker]\nproducts = BTC-USD  # the one that matters\nmax_clock_skew = 2m ; generous\n"
        "[alert:btc]\nproduct = BTC-USD\nwhen = price > 100000\nhysteresis = 50  # re-arm below 99950\n",
    )
    config = load_config(path)
    assert config.tracker.products == ("coinbase:BTC-USD",)
    assert config.tracker.max_clock_skew == 120
    assert str(config.alerts[0].hysteresis.amount) == "50"


def test_each_section_is_its_declared_options_and_built_bare_holds_the_defaults():
    from dataclasses import fields

    from bcx.config import DEFAULTS, SECTIONS
    from bcx.options import options_of

    for name, cls in SECTIONS.items():
        assert [f.name for f in fields(cls)] == list(options_of(cls)), name
        assert cls() == getattr(DEFAULTS, name) == getattr(load_config(str(packaged_default())), name)
