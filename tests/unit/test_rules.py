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
    assert (alert.rule, alert.series, alert.kind, alert.field, alert.op) == (
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


# --- hysteresis, cooldown and the other kinds -------------------------------------------------------------------

MIN = 60_000
M0 = T0 - T0 % MIN  # a whole minute


def at(offset_ms: int, price: str, trade_id: int, size: str = "1", bid: str | None = None, ask: str | None = None):
    return Tick("BTC-USD", M0 + offset_ms, trade_id, price, bid, ask, size)


def test_hysteresis_makes_a_price_hovering_at_the_line_fire_once():
    hovering = ticks("99990", "100001", "99999", "100002", "99990", "100003", "99949", "100004")
    assert [a.value for a in evaluate(rule("price > 100000"), None, hovering, NOW)[0]] == [
        "100001",
        "100002",
        "100003",
        "100004",
    ]
    damped, _ = evaluate(rule("price > 100000", hysteresis="50"), None, hovering, NOW)
    assert [a.value for a in damped] == ["100001", "100004"]  # re-armed only by 99949, below 100000 - 50
    percent, _ = evaluate(rule("price > 100000", hysteresis="0.05%"), None, hovering, NOW)
    assert percent == damped
    falling, _ = evaluate(rule("price < 100", hysteresis="1"), None, ticks("99", "100.5", "99", "101", "98"), NOW)
    assert [a.value for a in falling] == ["99", "98"]


def test_cooldown_counts_in_tick_time_and_drops_crossings_inside_it():
    crossings = [at(i * MIN, price, i) for i, price in enumerate(["101", "99", "101", "99", "101"])]
    alerts, state = evaluate(rule("price > 100", cooldown=300), None, crossings, NOW)
    assert [(a.value, a.time_ms) for a in alerts] == [("101", M0)]
    assert state.fired_ms == M0
    later = [at(5 * MIN + 1, "99", 20), at(5 * MIN + 2, "150", 21)]
    assert [a.value for a in evaluate(rule("price > 100", cooldown=300), state, later, NOW)[0]] == ["150"]


def test_change_either_way_within_the_window_with_history():
    history = [at(0, "100", 1), at(MIN, "98", 2)]
    new = [at(2 * MIN, "101", 3), at(3 * MIN, "103", 4), at(20 * MIN, "103.5", 5)]
    alerts, state = evaluate(rule("change >= 5% in 15m"), None, new, NOW, history)
    assert [a.value for a in alerts] == ["5.1"]  # 98 -> 103 within 15 minutes
    assert alerts[0].kind == "change" and alerts[0].threshold == "5"
    assert alerts[0].message == "BTC-USD price rose 5.1% from 98 to 103 within 15m (rule r: change >= 5%)"
    assert state.holds is False  # 20 minutes on, the window holds 103.5 alone
    fall, _ = evaluate(rule("fall >= 5% in 15m"), None, new, NOW, history)
    assert fall == []
    drop, _ = evaluate(rule("fall >= 5% in 15m"), None, [at(4 * MIN, "97.8", 6)], NOW, history + new[:2])
    assert [a.value for a in drop] == ["5.05"]
    assert evaluate(rule("rise >= 5% in 1m"), None, new, NOW, history)[0] == []  # too slow for one minute


def test_change_without_history_only_sees_the_new_ticks():
    assert evaluate(rule("rise >= 5% in 15m"), None, [at(0, "103", 1)], NOW, [])[0] == []


def test_spread_in_percent_of_the_mid():
    book = [at(0, "100", 1, bid="99.9", ask="100.1"), at(1, "100", 2, bid="99.7", ask="100.3"), at(2, "100", 3)]
    alerts, _ = evaluate(rule("spread > 0.5%"), None, book, NOW)
    assert [(a.kind, a.value, a.threshold, a.trade_id) for a in alerts] == [("spread", "0.6", "0.5", 2)]
    assert "bid 99.7 ask 100.3" in alerts[0].message


def test_a_small_spread_is_not_rounded_to_zero_and_the_rule_is_named_once():
    book = [at(0, "97250.05", 1, bid="97250.04", ask="97250.06"), at(1, "97250.05", 2, bid="97250.0", ask="97250.3")]
    alerts, _ = evaluate(rule("spread > 0.0002%"), None, book, NOW)
    assert [a.value for a in alerts] == ["0.00031"]  # 0.3 / 97250.15 * 100 = 0.000308...
    assert alerts[0].message.startswith("BTC-USD spread 0.00031% (bid 97250.0 ask 97250.3) crossed above 0.0002%")
    assert alerts[0].message.count("rule") == 1


def volume_minutes(*volumes: str) -> list[Tick]:
    """One tick per minute with that size, then a tick opening the next minute (which closes the last)."""
    made = [at(i * MIN + 5, "100", i + 1, size=v) for i, v in enumerate(volumes)]
    return made + [at(len(volumes) * MIN + 5, "100", 99, size="0.001")]


def test_spike_judges_each_closed_minute_against_the_trailing_average():
    alerts, state = evaluate(rule("spike volume 3x 5m"), None, volume_minutes("1", "1", "1", "1", "1", "1", "3"), NOW)
    assert [(a.kind, a.value, a.threshold, a.time_ms) for a in alerts] == [("spike", "3", "3", M0 + 7 * MIN)]
    assert "is 3x the 5m average of 1" in alerts[0].message
    assert state.mark == M0 + 7 * MIN
    assert evaluate(rule("spike volume 3x 5m"), None, volume_minutes("1", "1", "1", "1", "1", "1", "2.9"), NOW)[0] == []
    # quiet minutes count as zero: 2 in a minute after 1 in the past 5 minutes is 10x the average
    assert (
        len(evaluate(rule("spike volume 3x 5m"), None, volume_minutes("1", "1", "0", "0", "0", "0", "2"), NOW)[0]) == 1
    )
    # not judged before the data reaches back past the window: the first minutes have no average yet
    assert evaluate(rule("spike volume 3x 5m"), None, volume_minutes("1", "5", "9"), NOW)[0] == []


def test_spike_split_over_passes_agrees_with_one_pass():
    everything = volume_minutes("1", "1", "1", "1", "1", "1", "4", "1")
    whole, _ = evaluate(rule("spike volume 3x 5m"), None, everything, NOW)
    first, state = evaluate(rule("spike volume 3x 5m"), None, everything[:7], NOW)
    second, _ = evaluate(rule("spike volume 3x 5m"), state, everything[7:], NOW, everything[:7])
    assert len(whole) == 1 and first + second == whole


def test_stale_then_recovery_on_the_wall_clock():
    stale = rule("stale 60s", cooldown=300)
    quiet, state = evaluate(stale, None, [], NOW)
    assert quiet == [] and state.mark == int(NOW * 1000)  # the first look starts the clock
    assert evaluate(stale, state, [], NOW + 59)[0] == []
    fired, state = evaluate(stale, state, [], NOW + 61)
    assert [(a.kind, a.value, a.threshold) for a in fired] == [("stale", "61s", "1m")]
    assert fired[0].message == "BTC-USD no tick for 61s (stale after 1m) (rule r)"
    assert evaluate(stale, state, [], NOW + 120)[0] == []  # once, not on every pass
    back, state = evaluate(stale, state, ticks("1"), NOW + 125)
    assert [(a.kind, a.message) for a in back] == [
        ("recovery", "BTC-USD ticks again after about 125s without (rule r)")
    ]
    assert evaluate(stale, state, [], NOW + 150)[0] == []


def test_old_exchange_times_are_not_stale_while_they_arrive():
    replayed = [Tick("BTC-USD", 1_600_000_000_000, 1, "1")]  # a 2020 tick, arriving now
    _, state = evaluate(rule("stale 60s"), None, replayed, NOW)
    assert evaluate(rule("stale 60s"), state, [], NOW + 30)[0] == []


def test_state_from_an_older_version_still_loads():
    assert RuleState.from_json('{"when": "price > 1", "holds": true}') == RuleState("price > 1", True)
