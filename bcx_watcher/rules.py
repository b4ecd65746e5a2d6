"""Alert rules evaluated over ticks: pure functions of the rule, its remembered state, the ticks and `now`.

Rules are edge-triggered. A threshold rule fires once when its condition goes from not holding to holding, on
the tick where that happens; while the value stays beyond the threshold it stays quiet, and it can fire again
only after the value went back and crossed again. Every tick is looked at, in time order, so a spike that lasts
one tick fires too.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation

from bcx.alerts import Alert
from bcx.config import AlertConfig
from bcx.tick import Tick

log = logging.getLogger(__name__)

# How each field is read from a tick; None when the tick does not carry it (a backfilled trade has no book).
FIELD_GETTERS: dict[str, Callable[[Tick], str | None]] = {
    "price": lambda tick: tick.price,
    "bid": lambda tick: tick.bid,
    "ask": lambda tick: tick.ask,
}

# What a person reads in the message when the condition starts to hold.
VERBS = {">": "crossed above", ">=": "rose to or above", "<": "crossed below", "<=": "fell to or below"}


@dataclass(frozen=True)
class RuleState:
    """What one rule remembers between passes (kept in Redis by the watcher, as JSON).

    `when` is the rule's text when the state was recorded: an edited rule starts over instead of inheriting the
    state of a different condition. `holds` is None while unknown (no tick with the rule's field seen yet).
    """

    when: str
    holds: bool | None = None

    def to_json(self) -> str:
        return json.dumps({"when": self.when, "holds": self.holds}, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> RuleState:
        """ValueError when the text is not a state this version wrote."""
        try:
            data = json.loads(text)
            return cls(when=str(data["when"]), holds=None if data["holds"] is None else bool(data["holds"]))
        except (TypeError, KeyError, json.JSONDecodeError) as exc:
            raise ValueError(f"not a rule state: {text!r}") from exc


def current_state(alert: AlertConfig, stored: RuleState | None) -> RuleState:
    """The stored state if it was recorded for this very rule, else a fresh, unknown one."""
    when = alert.when.describe()
    if stored is None or stored.when != when:
        return RuleState(when=when)
    return stored


def evaluate(
    alert: AlertConfig, state: RuleState | None, ticks: Iterable[Tick], now: float
) -> tuple[list[Alert], RuleState]:
    """Evaluate one threshold rule over `ticks` (in time order); returns the alerts it fired and its new state.

    An unknown previous state (the first tick this rule ever sees, or a rule whose text changed) counts as "not
    holding": a rule whose condition is already true when the watcher first looks fires once, so a newly added
    rule tells you where things stand. A tick without the rule's field, or with a value that is not a number,
    leaves the state unchanged. Values are compared as Decimal from the exact strings, never as float.
    `now` is unused by threshold rules; rules with time windows and cooldowns will need it.
    """
    state = current_state(alert, state)
    rule = alert.when
    get = FIELD_GETTERS[rule.field]
    holds = state.holds
    fired: list[Alert] = []
    for tick in ticks:
        if tick.product != alert.product:
            continue
        text = get(tick)
        value = _decimal(text)
        if value is None:
            continue
        now_holds = rule.holds(value)
        if now_holds and not holds:
            fired.append(make_alert(alert, tick, text))
        holds = now_holds
    return fired, replace(state, holds=holds)


def evaluate_all(
    alerts: Sequence[AlertConfig], states: Mapping[str, RuleState], ticks: Sequence[Tick], now: float
) -> tuple[list[Alert], dict[str, RuleState]]:
    """Evaluate every rule over the same ticks; alerts in tick order, new states by rule name."""
    fired: list[Alert] = []
    new_states: dict[str, RuleState] = {}
    for alert in alerts:
        alert_fired, new_states[alert.name] = evaluate(alert, states.get(alert.name), ticks, now)
        fired.extend(alert_fired)
    # stable sort: rules firing on the same tick keep their config order
    fired.sort(key=lambda a: (a.time_ms, a.trade_id or 0))
    return fired, new_states


def make_alert(alert: AlertConfig, tick: Tick, value: str) -> Alert:
    rule = alert.when
    threshold = format(rule.threshold, "f")
    return Alert(
        rule=alert.name,
        product=tick.product,
        kind=rule.kind,
        field=rule.field,
        op=rule.op,
        value=value,
        threshold=threshold,
        time_ms=tick.time_ms,
        trade_id=tick.trade_id,
        message=f"{tick.product} {rule.field} {value} {VERBS[rule.op]} {threshold} (rule {alert.name})",
    )


def _decimal(text: str | None) -> Decimal | None:
    if not text:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        log.warning("ignoring a tick value that is not a number: %r", text)
        return None
    return value if value.is_finite() else None
