"""The rule grammar: each kind of rule parsed from the text a person writes, and never evaluated as code."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bcx.rule_grammar import (
    ChangeRule,
    Hysteresis,
    SpikeRule,
    SpreadRule,
    StaleRule,
    ThresholdRule,
    parse_hysteresis,
    parse_rule,
)


@pytest.mark.parametrize(
    "text, rule",
    [
        ("price > 100000", ThresholdRule("price", ">", Decimal(100000))),
        ("  bid<=90000.5 ", ThresholdRule("bid", "<=", Decimal("90000.5"))),
        ("change >= 5% in 15m", ChangeRule("change", ">=", Decimal(5), 900_000)),
        ("rise > 2.5 % in 1h", ChangeRule("rise", ">", Decimal("2.5"), 3_600_000)),
        ("fall >= 10% in 1d", ChangeRule("fall", ">=", Decimal(10), 86_400_000)),
        ("spike volume 3x 1h", SpikeRule(Decimal(3), 3_600_000)),
        ("spike   volume 2.5 x 15m", SpikeRule(Decimal("2.5"), 900_000)),
        ("spread > 0.5%", SpreadRule(">", Decimal("0.5"))),
        ("spread>=1%", SpreadRule(">=", Decimal(1))),
        ("stale 60s", StaleRule(60_000)),
        ("stale 250ms", StaleRule(250)),
    ],
)
def test_each_kind_parses(text, rule):
    assert parse_rule(text) == rule


@pytest.mark.parametrize(
    "text, words",
    [
        ("__import__('os').system('true')", "not a rule"),
        ("price > 1; drop", "not a rule"),
        ("volume > 3", "unknown field"),
        ("change >= -5% in 15m", "greater than 0"),
        ("spike volume 0x 1h", "greater than 0"),
        ("spread < 0%", "greater than 0"),
        ("stale forever", "not a duration"),
    ],
)
def test_bad_rules_say_what_is_wrong(text, words):
    with pytest.raises(ValueError, match=words):
        parse_rule(text)


def test_kinds_and_lookback():
    assert [parse_rule(t).kind for t in ("price > 1", "rise > 1% in 1m", "spike volume 2x 1h", "spread > 1%")] == [
        "threshold",
        "change",
        "spike",
        "spread",
    ]
    assert parse_rule("change >= 5% in 15m").lookback_ms == 900_000
    assert parse_rule("spike volume 3x 1h").lookback_ms == 3_720_000
    assert parse_rule("price > 1").lookback_ms == 0


def test_hysteresis():
    assert parse_hysteresis("50") == Hysteresis(Decimal(50))
    assert parse_hysteresis("0.1%") == Hysteresis(Decimal("0.1"), True)
    assert parse_hysteresis("0.1%").for_rule(parse_rule("price > 100000")) == Decimal(100)
    assert parse_hysteresis("0.1%").for_rule(parse_rule("spread > 0.5%")) == Decimal("0.1")  # percentage points
    with pytest.raises(ValueError, match="not a hysteresis"):
        parse_hysteresis("a lot")
