"""The analytics alert rules: activity (the last hour against the window's average hour, from 1-minute candles)
and the spread to another exchange's price; edge-triggered, with hysteresis and cooldown like the others."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bcx.candles import Candle
from bcx.rule_grammar import ActivityRule, CrossSpreadRule, parse_rule
from bcx.tick import Tick
from bcx_watcher.rules import RuleContext, RuleState, evaluate
from tests.unit.test_rules import M0, MIN, NOW, at, rule

HOUR = 60 * MIN


def minutes(*per_hour: str, count: int | None = 1) -> list[Candle]:
    """A candle every minute, hour after hour, with each hour's per-minute volume."""
    return [
        Candle(M0 + h * HOUR + m * MIN, "100", "100", "100", "100", volume, count)
        for h, volume in enumerate(per_hour)
        for m in range(60)
    ]


# The minute closing hour 2 is judged when a tick of the next minute arrives.
CLOSING = [at(179 * MIN + 5, "100", 1), at(180 * MIN + 5, "100", 2)]


def judged(when: str, candles: list[Candle], state: RuleState | None = None, data_from: int = M0, **rule_args):
    return evaluate(rule(when, **rule_args), state, CLOSING, NOW, (), RuleContext({}, candles, data_from))


def test_grammar():
    assert parse_rule("activity volume 3x 24h") == ActivityRule("volume", Decimal(3), 86_400_000)
    assert parse_rule("activity  trades 2.5x 7d") == ActivityRule("trades", Decimal("2.5"), 7 * 86_400_000)
    assert parse_rule("spread kraken:BTC-USD > 0.5%") == CrossSpreadRule("kraken:BTC-USD", ">", Decimal("0.5"))
    assert parse_rule("spread BTC-USD >= 1%").other == "coinbase:BTC-USD"
    assert parse_rule("spread > 0.5%").kind == "spread"  # the book's spread is still that


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("activity volume 3x 1h", "the window must be whole hours, longer than the last hour"),
        ("activity volume 3x 90m", "the window must be whole hours"),
        ("activity price 3x 24h", "is not an activity rule"),
        ("activity volume 0x 24h", "greater than 0"),
        ("spread bybit:BTC-USD > 1%", "unknown exchange 'bybit'"),
        ("spread kraken:BTC-USD > 1", "is not a spread rule"),
    ],
)
def test_grammar_refuses(text, message):
    with pytest.raises(ValueError, match=message):
        parse_rule(text)


def test_activity_fires_when_the_last_hour_reaches_k_times_the_average_hour():
    # 3 hours of 60, 60 and 240: the average hour is 120, the last one 240: activity 2
    candles = minutes("1", "1", "4")
    alerts, state = judged("activity volume 2x 3h", candles)
    assert [(a.kind, a.field, a.value, a.threshold, a.time_ms) for a in alerts] == [
        ("activity", "volume", "2", "2", M0 + 180 * MIN)
    ]
    assert "is 2x the 3h average hour (240 against 120)" in alerts[0].message
    assert state.holds and state.mark == M0 + 180 * MIN
    assert judged("activity volume 2.5x 3h", candles)[0] == []
    assert judged("activity trades 2x 3h", candles)[0] == []  # one trade a minute every hour: activity 1


def test_activity_is_not_judged_without_the_whole_window_or_with_unknown_counts():
    assert judged("activity volume 2x 3h", minutes("1", "1", "4"), data_from=M0 + 1)[0] == []
    assert judged("activity trades 1x 3h", minutes("1", "1", "4", count=None))[0] == []
    assert judged("activity volume 1x 3h", minutes("0", "0", "0"))[0] == []  # nothing traded: no average


def test_activity_is_edge_triggered_with_hysteresis_and_cooldown():
    candles = minutes("1", "1", "4")
    holding = RuleState(when=parse_rule("activity volume 2x 3h").describe(), holds=True, mark=M0 + 179 * MIN)
    assert judged("activity volume 2x 3h", candles, holding)[0] == []  # still beyond the line: quiet
    # at 1.8x, a hysteresis of 0.5 keeps it holding (the line moved back to 1.5), none lets go
    lower = minutes("1", "1", "3")  # 60, 60, 180: average 100, last 180: 1.8
    _, kept = judged("activity volume 2x 3h", lower, holding, hysteresis="0.5")
    _, released = judged("activity volume 2x 3h", lower, holding)
    assert kept.holds and released.holds is False
    fired_recently = RuleState(holding.when, holds=False, fired_ms=M0 + 170 * MIN, mark=M0 + 179 * MIN)
    assert judged("activity volume 2x 3h", candles, fired_recently, cooldown=3600)[0] == []


OTHER = [
    Tick("kraken:BTC-USD", M0, 1, "100"),
    Tick("kraken:BTC-USD", M0 + 10, 2, "101"),
]
OWN = [at(5, "100.4", 10), at(15, "101.7", 11), at(20, "101.2", 12), at(25, "102", 13)]


def crossed(when: str, ticks: list[Tick] = OWN, **rule_args) -> list[tuple[str, int]]:
    alerts, _ = evaluate(rule(when, **rule_args), None, ticks, NOW, (), RuleContext({"kraken:BTC-USD": OTHER}))
    return [(a.value, a.time_ms) for a in alerts]


def test_cross_spread_against_the_other_series_newest_price():
    # 100.4 vs 100: 0.4%; 101.7 vs 101: 0.69%; 101.2 vs 101: 0.198%; 102 vs 101: 0.99%
    assert crossed("spread kraken:BTC-USD > 0.5%") == [("0.69", M0 + 15), ("0.99", M0 + 25)]
    assert crossed("spread kraken:BTC-USD > 0.5%", hysteresis="0.4") == [("0.69", M0 + 15)]  # 0.198 > 0.1
    alerts, _ = evaluate(
        rule("spread kraken:BTC-USD > 0.5%"), None, OWN, NOW, (), RuleContext({"kraken:BTC-USD": OTHER})
    )
    assert (alerts[0].kind, alerts[0].field, alerts[0].threshold) == ("spread", "spread:kraken:BTC-USD", "0.5")
    assert alerts[0].message.startswith("BTC-USD spread to kraken:BTC-USD 0.69% (101.7 against 101 on kraken:BTC-USD)")


def test_cross_spread_skips_ticks_before_the_other_series_traded():
    early = [at(-5, "200", 9), *OWN]
    assert crossed("spread kraken:BTC-USD > 0.5%", early) == [("0.69", M0 + 15), ("0.99", M0 + 25)]
    assert evaluate(rule("spread kraken:BTC-USD > 0.5%"), None, OWN, NOW)[0] == []  # no context: nothing known
