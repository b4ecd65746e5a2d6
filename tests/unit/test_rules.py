"""Threshold rules over ticks: edge-triggered, every tick in order, exact Decimal comparison."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bcx.config import AlertConfig
from bcx.rule_grammar import parse_hysteresis, parse_rule
from bcx.tick import Tick
from bcx_watcher.rules import RuleState, current_state, evaluate, evaluate_all

NOW = 1_800_000_000.0
T0 = 1_700_000_000_000


def rule(
    when: str, name: str = "r", product: str = "BTC-USD", cooldown: float = 0.0, hysteresis: str = "0"
) -> AlertConfig:
    """Cooldown 0 unless a test is about it: these tests are about crossings."""
    return AlertConfig(name, product, parse_rule(when), parse_hysteresis(hysteresis), cooldown)


def ticks(*prices: str | None, field: str = "price", product: str = "BTC-USD") -> list[Tick]:
    """One tick per value, 1 ms apart; None leaves the field out (price then stays "1" for bid/ask rules)."""
    made = []
    for i, value in enumerate(prices):
        if field == "price":
            made.append(Tick(product, T0 + i, 100 + i, value or "1"))
        else:
            made.append(Tick(product, T0 + i, 100 + i, "1", **{field: value}))
    return made


def fired_values(when: str, *values: str | None, state: RuleState | None = None, field: str = "price") -> list[str]:
    alerts, _ = evaluate(rule(when), state, ticks(*values, field=field), NOW)
    return [a.value for a in alerts]


def test_crossing_up_fires_once_with_a_readable_message():
    alerts, state = evaluate(rule("price > 100000", "btc-high"), None, ticks("99999", "100012.50"), NOW)
    assert len(alerts) == 1
    alert = alerts[0]
    assert (alert.rule, alert.product, alert.kind, alert.field, alert.op) == (
        "btc-high",
        "BTC-USD",
        "threshold",
        "price",
        ">",
    )
    assert (alert.value, alert.threshold, alert.time_ms, alert.trade_id, alert.id) == (
        "100012.50",
        "100000",
        T0 + 1,
        101,
        None,
    )
    assert alert.message == "BTC-USD price 100012.50 crossed above 100000 (rule btc-high)"
    assert state == RuleState(when="price > 100000", holds=True, fired_ms=T0 + 1)


def test_crossing_down():
    alerts, _ = evaluate(rule("price < 90000"), None, ticks("90001", "89999.99"), NOW)
    assert [a.value for a in alerts] == ["89999.99"]
    assert alerts[0].message == "BTC-USD price 89999.99 crossed below 90000 (rule r)"


def test_staying_beyond_fires_once():
    assert fired_values("price > 100", "99", "101", "102", "150", "101") == ["101"]


def test_going_back_and_crossing_again_fires_again():
    assert fired_values("price > 100", "99", "101", "100", "101", "99", "102") == ["101", "101", "102"]


def test_one_tick_spike_fires():
    assert fired_values("price > 100", "99", "250", "99") == ["250"]


def test_greater_or_equal_versus_greater():
    assert fired_values("price >= 100", "99", "100") == ["100"]
    assert fired_values("price > 100", "99", "100") == []
    assert fired_values("price <= 100", "101", "100") == ["100"]
    assert fired_values("price < 100", "101", "100") == []


def test_first_tick_already_beyond_fires_once():
    assert fired_values("price > 100", "150", "160") == ["150"]


def test_known_state_carries_over_between_calls():
    first, state = evaluate(rule("price > 100"), None, ticks("150"), NOW)
    assert len(first) == 1
    assert fired_values("price > 100", "160", "170", state=state) == []
    _, state = evaluate(rule("price > 100"), state, ticks("50"), NOW)
    assert fired_values("price > 100", "160", state=state) == ["160"]


def test_edited_rule_starts_over():
    stale = RuleState(when="price > 50", holds=True)
    assert current_state(rule("price > 100"), stale) == RuleState(when="price > 100", holds=None)
    assert fired_values("price > 100", "150", state=stale) == ["150"]


def test_tick_without_the_field_leaves_state_unchanged():
    assert fired_values("bid > 100", "101", None, "102", field="bid") == ["101"]
    assert fired_values("ask < 100", "101", None, "99", field="ask") == ["99"]
    _, state = evaluate(rule("bid > 100"), None, ticks(None, None, field="bid"), NOW)
    assert state.holds is None


def test_value_that_is_not_a_number_is_skipped():
    assert fired_values("price > 100", "99", "NaN", "abc", "101") == ["101"]


@pytest.mark.parametrize(
    ("when", "value", "holds"),
    [
        ("price > 100000", "100000.00", False),
        ("price >= 100000", "100000.00", True),
        ("price > 100000", "100000.000000001", True),
        ("price < 0.1", "0.09999999999999999999", True),
        ("price <= 100000.00", "100000", True),
        ("price > 1e5", "100000.01", True),
    ],
)
def test_exact_decimal_comparison(when, value, holds):
    assert bool(fired_values(when, value)) is holds


def test_threshold_written_plainly():
    alerts, _ = evaluate(rule("price > 1e5"), None, ticks("100001"), NOW)
    assert alerts[0].threshold == "100000"


def test_other_products_ticks_are_ignored():
    assert evaluate(rule("price > 100"), None, ticks("150", product="ETH-USD"), NOW)[0] == []


def test_evaluate_all_orders_alerts_by_tick_and_returns_each_state():
    rules = [rule("price < 50", "low"), rule("price > 100", "high")]
    alerts, states = evaluate_all(rules, {}, ticks("150", "40", "120"), NOW)
    assert [(a.rule, a.value) for a in alerts] == [("high", "150"), ("low", "40"), ("high", "120")]
    assert states == {"low": RuleState("price < 50", False, T0 + 1), "high": RuleState("price > 100", True, T0 + 2)}


def test_state_json_round_trip():
    for state in (RuleState("price > 1", None), RuleState("bid <= 2.5", True), RuleState("ask < 3", False)):
        assert RuleState.from_json(state.to_json()) == state
    with pytest.raises(ValueError):
        RuleState.from_json("{}")


@given(st.lists(st.decimals(min_value=0, max_value=200, places=2, allow_nan=False).map(str), max_size=40))
def test_fires_exactly_at_each_upward_crossing_and_split_passes_agree(values):
    """Edge count equals the number of not-holding -> holding transitions; splitting the ticks into two
    passes (carrying the state) fires the same alerts as one pass."""
    all_ticks = ticks(*values)
    holds = [float(v) > 100 for v in values]
    expected = [v for i, v in enumerate(values) if holds[i] and (i == 0 or not holds[i - 1])]
    whole, _ = evaluate(rule("price > 100"), None, all_ticks, NOW)
    assert [a.value for a in whole] == expected
    half = len(all_ticks) // 2
    first, state = evaluate(rule("price > 100"), None, all_ticks[:half], NOW)
    second, _ = evaluate(rule("price > 100"), state, all_ticks[half:], NOW)
    assert first + second == whole
