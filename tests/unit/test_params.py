"""bcx-web's parameter parsing: strings in, values or a ParamError out."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bcx.series import EXCHANGES
from bcx_web.params import (
    MAX_TIME_MS,
    ParamError,
    parse_choice,
    parse_limit,
    parse_product,
    parse_products,
    parse_stream_id,
    parse_time,
    resolve_range,
)

KNOWN = ("coinbase:BTC-USD", "coinbase:ETH-USD", "kraken:BTC-USD")


@pytest.mark.parametrize(
    "text, series",
    [("kraken:BTC-USD", "kraken:BTC-USD"), ("coinbase:BTC-USD", "coinbase:BTC-USD"), ("BTC-USD", "coinbase:BTC-USD")],
)
def test_product_is_a_known_series_in_its_canonical_spelling(text, series):
    assert parse_product(text, KNOWN) == series


@pytest.mark.parametrize(
    "text",
    ["btc-usd", "BTCUSD", "BTC-USD-X", "", "B-USD", "BTC USD", "../etc", "Kraken:BTC-USD", "kraken:", ":BTC-USD"],
)
def test_product_malformed(text):
    with pytest.raises(ParamError, match="^product: .*is not a series id"):
        parse_product(text, KNOWN)


def test_unknown_exchange_names_the_parameter_and_the_known_exchanges():
    known = re.escape(", ".join(EXCHANGES))
    with pytest.raises(ParamError, match=rf"^products: .*unknown exchange 'bybit' \(known: {known}\)"):
        parse_products("coinbase:BTC-USD,bybit:BTC-USDT", KNOWN)


@pytest.mark.parametrize("text", ["", "BTC-USD,", "BTC-USD, ETH-USD", " BTC-USD", "BTC-USD\n"])
def test_products_as_the_document_writes_them_only(text):
    with pytest.raises(ParamError, match="^product"):
        parse_products(text, KNOWN)


def test_product_not_configured():
    with pytest.raises(ParamError, match="not recorded here.*coinbase:BTC-USD, coinbase:ETH-USD, kraken:BTC-USD"):
        parse_product("kraken:ETH-USD", KNOWN)


def test_products_bare_and_prefixed_are_the_same_series():
    assert parse_products("BTC-USD,kraken:BTC-USD", KNOWN) == ("coinbase:BTC-USD", "kraken:BTC-USD")
    with pytest.raises(ParamError, match="names a series twice"):
        parse_products("BTC-USD,coinbase:BTC-USD", KNOWN)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("0", 0),
        ("1666222102061", 1666222102061),
        ("2022-10-19T23:28:22.061769Z", 1666222102061),
        ("2022-10-19T23:28:22.061+00:00", 1666222102061),
        ("2022-10-20T01:28:22.061+02:00", 1666222102061),
        ("2022-10-19T23:28:22.061", 1666222102061),  # no zone: UTC
        ("2022-10-19", 1666137600000),
        (str(MAX_TIME_MS), MAX_TIME_MS),
    ],
)
def test_time_values(text, expected):
    assert parse_time(text, "start") == expected


def test_time_absent_is_the_default_and_empty_is_refused():
    assert parse_time(None, "end") is None
    with pytest.raises(ParamError, match="^end: empty"):
        parse_time("", "end")


@pytest.mark.parametrize(
    "text", ["yesterday", "-5", "1.5", "1e12", "1_000", "0x10", "2022-13-01", "2022-10-19T25:00", "١٢٣", "NaN"]
)
def test_time_unparseable(text):
    with pytest.raises(ParamError, match="^end: .* neither unix milliseconds nor an ISO 8601 time"):
        parse_time(text, "end")


@pytest.mark.parametrize("text", [str(MAX_TIME_MS + 1), "99999999999999999999", "0001-01-01T00:00:00+14:00"])
def test_time_out_of_range(text):
    with pytest.raises(ParamError, match="^start: "):
        parse_time(text, "start")


def test_range_defaults_to_span_before_default_end():
    assert resolve_range(None, None, default_end=10_000, default_span_ms=3_000) == (7_000, 10_000)


def test_range_explicit():
    assert resolve_range(1, 5, default_end=10_000, default_span_ms=3_000) == (1, 5)


def test_range_start_only_ends_at_default_end():
    assert resolve_range(2_000, None, default_end=10_000, default_span_ms=3_000) == (2_000, 10_000)


def test_range_start_after_newest_is_empty_not_an_error():
    assert resolve_range(12_000, None, default_end=10_000, default_span_ms=3_000) == (12_000, 12_000)


def test_range_end_only():
    assert resolve_range(None, 5_000, default_end=10_000, default_span_ms=3_000) == (2_000, 5_000)


def test_range_never_before_1970():
    assert resolve_range(None, 1_000, default_end=10_000, default_span_ms=3_000) == (0, 1_000)


def test_range_start_after_end():
    with pytest.raises(ParamError, match=r"start \(6\) is after end \(5\)"):
        resolve_range(6, 5, default_end=10_000, default_span_ms=3_000)


@pytest.mark.parametrize("text, expected", [(None, 100), ("1", 1), ("500", 500), (" 7 ", 7)])
def test_limit_values(text, expected):
    assert parse_limit(text, default=100, maximum=500) == expected


def test_limit_default_capped_at_maximum():
    assert parse_limit(None, default=1000, maximum=50) == 50


@pytest.mark.parametrize("text", ["", " ", "0", "-1", "1.5", "ten", "1e3", "0x10", "١"])
def test_limit_not_positive_integer(text):
    with pytest.raises(ParamError, match="not a positive whole number"):
        parse_limit(text, default=100, maximum=500)


def test_limit_above_maximum():
    with pytest.raises(ParamError, match="501 is above the maximum of 500"):
        parse_limit("501", default=100, maximum=500)


@given(st.text())
def test_any_time_text_is_a_value_or_param_error(text):
    try:
        value = parse_time(text, "start")
    except ParamError:
        return
    assert value is None or 0 <= value <= MAX_TIME_MS


@given(st.from_regex(r"\A\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d{1,6})?)?([+-]\d\d:\d\d|Z)?\Z"))
def test_any_iso_like_text_is_a_time_in_range_or_a_param_error_naming_the_parameter(text):
    try:
        value = parse_time(text, "end")
    except ParamError as exc:
        assert str(exc).startswith("end: ") and repr(text) in str(exc)
        return
    assert isinstance(value, int) and 0 <= value <= MAX_TIME_MS


@given(st.text())
def test_any_limit_text_is_a_value_or_param_error(text):
    try:
        value = parse_limit(text, default=100, maximum=500)
    except ParamError:
        return
    assert 1 <= value <= 500


# ---- the parsers added for series, candles, compare and alerts ----


@given(st.text(max_size=40))
def test_new_parsers_answer_a_valid_value_or_a_param_error_naming_the_parameter_for_any_text(text):
    for name, parse, valid in (
        ("products", lambda: parse_products(text, KNOWN), lambda v: v and set(v) <= set(KNOWN)),
        ("since", lambda: parse_stream_id(text, "since"), lambda v: re.fullmatch(r"\d+(-\d+)?", v)),
        ("interval", lambda: parse_choice(text, "interval", ("1m", "5m"), "1m"), lambda v: v in ("1m", "5m")),
        ("points", lambda: parse_limit(text, 1000, 10000, "points"), lambda v: 1 <= v <= 10000),
    ):
        try:
            value = parse()
        except ParamError as exc:
            assert str(exc).startswith(f"{name}: ")
            continue
        assert valid(value), (name, text, value)


@given(st.lists(st.sampled_from(KNOWN), min_size=1, max_size=2, unique=True))
def test_products_round_trip(products):
    assert parse_products(",".join(products), KNOWN) == tuple(products)


@given(st.integers(0, 2**63), st.integers(0, 2**63))
def test_stream_ids_round_trip(ms, seq):
    assert parse_stream_id(f"{ms}-{seq}", "since") == f"{ms}-{seq}"


@pytest.mark.parametrize("text", ["1793491576", "1", "99999999999"])
def test_a_time_that_looks_like_unix_seconds_is_refused(text):
    with pytest.raises(ParamError, match=r"^start: .* looks like unix seconds; give milliseconds"):
        parse_time(text, "start")


@pytest.mark.parametrize("text", ["18446744073709551616-0", "1-18446744073709551616", "99999999999999999999"])
def test_an_alert_id_redis_would_refuse_is_a_param_error(text):
    with pytest.raises(ParamError, match="^since: .* is not an alert id"):
        parse_stream_id(text, "since")
    assert parse_stream_id("18446744073709551615-18446744073709551615", "since")


def test_an_empty_choice_is_refused_not_taken_for_the_default():
    assert parse_choice(None, "by", ("change", "volume"), "change") == "change"
    with pytest.raises(ParamError, match="by: '' is not one of change, volume"):
        parse_choice("", "by", ("change", "volume"), "change")
