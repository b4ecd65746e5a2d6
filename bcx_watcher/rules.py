"""Alert rules evaluated over ticks: pure functions of the rule, its remembered state, the ticks and `now`.

Level rules (price/bid/ask thresholds, `spread`, `change`) compute one value per tick and are edge-triggered: a
rule fires once when its condition goes from not holding to holding, on the tick where that happens; while the
value stays beyond the line it stays quiet, and it can fire again only after the value went back (past the line
by the rule's hysteresis) and crossed again. Every tick is looked at, in time order, so a one-tick spike fires.
`spike` rules look at each minute as it closes; `stale` rules look at the wall clock (`now`). A cross-exchange
`spread` rule compares each tick with the other series' newest trade before it, and an `activity` rule judges each
closed minute from 1-minute candles (the watcher reads both into a RuleContext; no rule scans raw ticks over a long
window).

Every rule fires at most once per `cooldown`, counted in the time of the alerts (exchange time for tick rules,
so a replayed file gives the same alerts as the live feed did). A crossing inside the cooldown is not reported
later: it is dropped, and the rule needs a new crossing.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation

from bcx.alerts import Alert
from bcx.candles import Candle, bucket_start
from bcx.config import AlertConfig
from bcx.rule_grammar import (
    ACTIVITY_BUCKET_MS,
    ACTIVITY_HOUR_MS,
    ActivityRule,
    ChangeRule,
    CrossSpreadRule,
    SpikeRule,
    SpreadRule,
    StaleRule,
    ThresholdRule,
    compare,
)
from bcx.tick import Tick, ms_to_iso

log = logging.getLogger(__name__)

# How each field is read from a tick; None when the tick does not carry it (a backfilled trade has no book).
FIELD_GETTERS: dict[str, Callable[[Tick], str | None]] = {
    "price": lambda tick: tick.price,
    "bid": lambda tick: tick.bid,
    "ask": lambda tick: tick.ask,
}

# What a person reads in the message when the condition starts to hold.
VERBS = {">": "crossed above", ">=": "rose to or above", "<": "crossed below", "<=": "fell to or below"}
HUNDRED = Decimal(100)


@dataclass(frozen=True)
class RuleState:
    """What one rule remembers between passes (kept in Redis by the watcher, as JSON).

    `when` is the rule's text when the state was recorded: an edited rule starts over instead of inheriting the
    state of a different condition. `holds` is None while unknown (no tick with the rule's field seen yet); for a
    stale rule it says "the product was reported stale". `fired_ms` is the time of the last alert (cooldown).
    `mark`: the open minute of a spike rule, or the last time (ms) a stale rule saw ticks arrive.
    """

    when: str
    holds: bool | None = None
    fired_ms: int | None = None
    mark: int | None = None

    def to_json(self) -> str:
        data = {"when": self.when, "holds": self.holds, "fired_ms": self.fired_ms, "mark": self.mark}
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> RuleState:
        """ValueError when the text is not a state this version wrote (older states lack fired_ms and mark)."""
        try:
            data = json.loads(text)
            return cls(
                when=str(data["when"]),
                holds=None if data["holds"] is None else bool(data["holds"]),
                fired_ms=_int_or_none(data.get("fired_ms")),
                mark=_int_or_none(data.get("mark")),
            )
        except (TypeError, KeyError, ValueError, AttributeError) as exc:
            raise ValueError(f"not a rule state: {text!r}") from exc


@dataclass(frozen=True)
class RuleContext:
    """What some rules need besides the product's own ticks, read by the watcher for one batch."""

    others: Mapping[str, Sequence[Tick]] = field(default_factory=dict)  # cross spread: the other series' ticks,
    # the newest one before the batch first, then those within it, in time order
    minutes: Sequence[Candle] = ()  # activity: the product's 1-minute candles over the window, in time order
    data_from: int | None = None  # activity: when the product's stored data begins (a window before it is not judged)


NO_CONTEXT = RuleContext()


def current_state(alert: AlertConfig, stored: RuleState | None) -> RuleState:
    """The stored state if it was recorded for this very rule, else a fresh, unknown one."""
    when = alert.when.describe()
    if stored is None or stored.when != when:
        return RuleState(when=when)
    return stored


def evaluate(
    alert: AlertConfig,
    state: RuleState | None,
    ticks: Iterable[Tick],
    now: float,
    history: Sequence[Tick] = (),
    context: RuleContext = NO_CONTEXT,
) -> tuple[list[Alert], RuleState]:
    """Evaluate one rule over new `ticks` (in time order); returns the alerts it fired and its new state.

    `history`: ticks already evaluated before these, at least `alert.when.lookback_ms` of them, in time order;
    window rules (change, spike) read them to fill their window and never fire on them.
    An unknown previous state counts as "not holding": a rule already true when the watcher first looks fires
    once. A tick without the rule's field, or with a value that is not a number, leaves the state unchanged.
    Values are compared as Decimal from the exact strings, never as float.
    """
    state = current_state(alert, state)
    ticks = [t for t in ticks if t.product == alert.product]
    rule = alert.when
    if isinstance(rule, StaleRule):
        return _evaluate_stale(alert, state, ticks, now)
    if isinstance(rule, SpikeRule):
        return _evaluate_spike(alert, state, ticks, history)
    if isinstance(rule, ActivityRule):
        return _evaluate_activity(alert, state, ticks, context)
    return _evaluate_level(alert, state, ticks, history, context)


def evaluate_all(
    alerts: Sequence[AlertConfig],
    states: Mapping[str, RuleState],
    ticks: Sequence[Tick],
    now: float,
    history: Sequence[Tick] = (),
    context: RuleContext = NO_CONTEXT,
) -> tuple[list[Alert], dict[str, RuleState]]:
    """Evaluate every rule over the same ticks; alerts in time order, new states by rule name."""
    fired: list[Alert] = []
    new_states: dict[str, RuleState] = {}
    for alert in alerts:
        alert_fired, new_states[alert.name] = evaluate(alert, states.get(alert.name), ticks, now, history, context)
        fired.extend(alert_fired)
    # stable sort: rules firing on the same tick keep their config order
    fired.sort(key=lambda a: (a.time_ms, a.trade_id or 0))
    return fired, new_states


def cooled_down(alert: AlertConfig, state: RuleState, time_ms: int) -> bool:
    return state.fired_ms is None or time_ms - state.fired_ms >= alert.cooldown * 1000


# --- level rules: threshold, spread, change -------------------------------------------------------------------


def _evaluate_level(
    alert: AlertConfig, state: RuleState, ticks: list[Tick], history: Sequence[Tick], context: RuleContext
) -> tuple[list[Alert], RuleState]:
    rule = alert.when
    measure = _measure(rule, history, context)
    hysteresis = alert.hysteresis.for_rule(rule)
    fired: list[Alert] = []
    for tick in ticks:
        measured = measure(tick)
        if measured is None:
            continue
        value, detail = measured
        line = rule.threshold
        if state.holds and hysteresis:  # holding: it lets go only past the line moved back by the hysteresis
            line = line - hysteresis if rule.op in (">", ">=") else line + hysteresis
        now_holds = compare(rule.op, value, line)
        if now_holds and not state.holds and cooled_down(alert, state, tick.time_ms):
            fired.append(_level_alert(alert, tick, value, detail))
            state = replace(state, fired_ms=tick.time_ms)
        state = replace(state, holds=now_holds)
    return fired, state


def _measure(rule, history: Sequence[Tick], context: RuleContext) -> Callable[[Tick], tuple[Decimal, str] | None]:
    """A function giving each tick's value for the rule (and the words that explain it), or None to skip it."""
    if isinstance(rule, ThresholdRule):
        get = FIELD_GETTERS[rule.field]
        return lambda tick: _with_text(_decimal(get(tick)), get(tick))
    if isinstance(rule, SpreadRule):
        return _spread_percent
    if isinstance(rule, CrossSpreadRule):
        return _OtherPrice(rule.other, context.others.get(rule.other, ())).measure
    return _ChangeWindow(rule, history).measure


def _with_text(value: Decimal | None, text: str | None) -> tuple[Decimal, str] | None:
    return None if value is None else (value, text or "")


def _spread_percent(tick: Tick) -> tuple[Decimal, str] | None:
    bid, ask = _decimal(tick.bid), _decimal(tick.ask)
    if bid is None or ask is None or bid + ask <= 0:
        return None
    return (ask - bid) * 2 * HUNDRED / (bid + ask), f"bid {tick.bid} ask {tick.ask}"


class _OtherPrice:
    """|price - the other series' newest price at or before the tick| in percent of the other's: a pointer walks
    the other series' ticks (time order) as the product's ticks come (time order)."""

    def __init__(self, other: str, ticks: Sequence[Tick]):
        self.other = other
        self.ticks = ticks
        self.next = 0
        self.price: tuple[Decimal, str] | None = None

    def measure(self, tick: Tick) -> tuple[Decimal, str] | None:
        while self.next < len(self.ticks) and self.ticks[self.next].time_ms <= tick.time_ms:
            found = self.ticks[self.next]
            value = _decimal(found.price)
            if value is not None and value > 0:
                self.price = (value, found.price)
            self.next += 1
        own = _decimal(tick.price)
        if self.price is None or own is None:
            return None
        other, text = self.price
        return abs(own - other) * HUNDRED / other, f"{tick.price} against {text} on {self.other}"


class _ChangeWindow:
    """The lowest and highest price of the last window_ms, kept with monotonic deques (O(1) per tick)."""

    def __init__(self, rule: ChangeRule, history: Sequence[Tick]):
        self.rule = rule
        self.lows: deque[tuple[int, Decimal, str]] = deque()
        self.highs: deque[tuple[int, Decimal, str]] = deque()
        for tick in history:
            self.push(tick)

    def push(self, tick: Tick) -> Decimal | None:
        price = _decimal(tick.price)
        if price is None or price <= 0:
            return None
        start = tick.time_ms - self.rule.window_ms
        for window, keep in ((self.lows, lambda p: p < price), (self.highs, lambda p: p > price)):
            while window and not keep(window[-1][1]):
                window.pop()
            window.append((tick.time_ms, price, tick.price))
            while window[0][0] < start:
                window.popleft()
        return price

    def measure(self, tick: Tick) -> tuple[Decimal, str] | None:
        price = self.push(tick)
        if price is None:
            return None
        low, high = self.lows[0], self.highs[0]
        rise = (price - low[1]) * HUNDRED / low[1]
        fall = (high[1] - price) * HUNDRED / high[1]
        if self.rule.direction == "rise" or (self.rule.direction == "change" and rise >= fall):
            return rise, f"rose {_pct(rise)}% from {low[2]} to {tick.price}"
        return fall, f"fell {_pct(fall)}% from {high[2]} to {tick.price}"


def _level_alert(alert: AlertConfig, tick: Tick, value: Decimal, detail: str) -> Alert:
    rule = alert.when
    named = f"rule {alert.name}"  # the rule's name once, with its condition where the text does not show it
    if isinstance(rule, ThresholdRule):
        text, threshold = detail, _plain(rule.threshold)
        message = f"{tick.product} {rule.field} {text} {VERBS[rule.op]} {threshold}"
    elif isinstance(rule, SpreadRule):
        text, threshold = _pct(value, rule.threshold), _plain(rule.threshold)
        message = f"{tick.product} spread {text}% ({detail}) {VERBS[rule.op]} {threshold}%"
    elif isinstance(rule, CrossSpreadRule):
        text, threshold = _pct(value, rule.threshold), _plain(rule.threshold)
        message = f"{tick.product} spread to {rule.other} {text}% ({detail}) {VERBS[rule.op]} {threshold}%"
    else:
        text, threshold = _pct(value, rule.threshold), _plain(rule.threshold)
        named += f": {rule.direction} {rule.op} {threshold}%"
        message = f"{tick.product} price {detail} within {_duration_text(rule.window_ms)}"
    return Alert(
        rule=alert.name,
        series=tick.product,
        kind=rule.kind,
        field=rule.field,
        op=rule.op,
        value=text,
        threshold=threshold,
        time_ms=tick.time_ms,
        trade_id=tick.trade_id,
        message=f"{message} ({named})",
    )


# --- spike: one closed minute's volume against the trailing average ------------------------------------------


def _evaluate_spike(
    alert: AlertConfig, state: RuleState, ticks: list[Tick], history: Sequence[Tick]
) -> tuple[list[Alert], RuleState]:
    """A minute is judged when the first tick of a later minute arrives (it is closed then). The trailing
    average counts minutes without trades as zero. A minute is judged only when the ticks reach back before its
    window (else a fresh start would compare with a mostly empty hour), and not with no volume in the window."""
    rule: SpikeRule = alert.when
    volumes: dict[int, Decimal] = {}
    known = (*history, *ticks)
    earliest = min((t.time_ms for t in known), default=0)
    for tick in known:
        size = _decimal(tick.size)
        if size is not None:
            bucket = bucket_start(tick.time_ms, rule.bucket_ms)
            volumes[bucket] = volumes.get(bucket, Decimal(0)) + size
    fired: list[Alert] = []
    for tick in ticks:
        bucket = bucket_start(tick.time_ms, rule.bucket_ms)
        if state.mark is not None and bucket > state.mark and earliest < state.mark - rule.window_ms:
            alert_or_none = _judge_minute(alert, state.mark, volumes)
            if alert_or_none is not None and cooled_down(alert, state, alert_or_none.time_ms):
                fired.append(alert_or_none)
                state = replace(state, fired_ms=alert_or_none.time_ms)
        if state.mark is None or bucket > state.mark:
            state = replace(state, mark=bucket)
    return fired, state


def _judge_minute(alert: AlertConfig, minute: int, volumes: Mapping[int, Decimal]) -> Alert | None:
    rule: SpikeRule = alert.when
    buckets = rule.window_ms // rule.bucket_ms
    trailing = sum((volumes.get(minute - i * rule.bucket_ms, Decimal(0)) for i in range(1, buckets + 1)), Decimal(0))
    average = trailing / buckets
    volume = volumes.get(minute, Decimal(0))
    if average <= 0 or volume < rule.factor * average:
        return None
    ratio = volume / average
    window = _duration_text(rule.window_ms)
    return _minute_alert(
        alert,
        _plain(volume),
        _plain(rule.factor * average),
        minute + rule.bucket_ms,
        (
            f"{alert.product} volume {_plain(volume)} in the minute from {ms_to_iso(minute)} is {_pct(ratio)}x "
            f"the {window} average of {_pct(average)} (rule {alert.name})"
        ),
    )


# --- activity: the last hour against the window's average hour, from 1-minute candles -------------------------


def _evaluate_activity(
    alert: AlertConfig, state: RuleState, ticks: list[Tick], context: RuleContext
) -> tuple[list[Alert], RuleState]:
    """Like spike: a minute is judged when a tick of a later minute arrives; its value is the activity of the window
    ending with it. Edge-triggered with hysteresis (in times the average) and cooldown, as the level rules."""
    rule: ActivityRule = alert.when
    amounts = {c.time_ms: (Decimal(c.volume) if rule.measure == "volume" else c.count) for c in context.minutes}
    hysteresis = alert.hysteresis.for_rule(rule)
    fired: list[Alert] = []
    for tick in ticks:
        bucket = bucket_start(tick.time_ms, ACTIVITY_BUCKET_MS)
        if state.mark is not None and bucket > state.mark:
            judged = _activity_at(rule, state.mark, amounts, context.data_from)
            if judged is not None:
                line = rule.factor - hysteresis if state.holds and hysteresis else rule.factor
                holds = judged[0] >= line
                closed_ms = state.mark + ACTIVITY_BUCKET_MS
                if holds and not state.holds and cooled_down(alert, state, closed_ms):
                    fired.append(_activity_alert(alert, closed_ms, *judged))
                    state = replace(state, fired_ms=closed_ms)
                state = replace(state, holds=holds)
        if state.mark is None or bucket > state.mark:
            state = replace(state, mark=bucket)
    return fired, state


def _activity_at(
    rule: ActivityRule, minute: int, amounts: Mapping[int, Decimal | int | None], data_from: int | None
) -> tuple[Decimal, Decimal, Decimal] | None:
    """(activity, last hour, average hour) of the window ending with `minute`; None when the data does not reach
    back to the window's start, a trade count is unknown (backfilled candles) or nothing traded."""
    end = minute + ACTIVITY_BUCKET_MS
    start = end - rule.window_ms
    if data_from is None or data_from > start:
        return None
    inside = [(t, a) for t, a in amounts.items() if start <= t < end]
    if any(a is None for _, a in inside):
        return None
    total = sum((Decimal(a) for _, a in inside), Decimal(0))
    if total <= 0:
        return None
    last_hour = sum((Decimal(a) for t, a in inside if t >= end - ACTIVITY_HOUR_MS), Decimal(0))
    average = total * ACTIVITY_HOUR_MS / rule.window_ms
    return last_hour / average, last_hour, average


def _activity_alert(alert: AlertConfig, time_ms: int, value: Decimal, last_hour: Decimal, average: Decimal) -> Alert:
    rule: ActivityRule = alert.when
    window = _duration_text(rule.window_ms)
    return _minute_alert(
        alert,
        _pct(value, rule.factor),
        _plain(rule.factor),
        time_ms,
        (
            f"{alert.product} {rule.measure} in the hour to {ms_to_iso(time_ms)} is {_pct(value)}x the {window} "
            f"average hour ({_plain(last_hour)} against {_pct(average)}) (rule {alert.name})"
        ),
    )


def _minute_alert(alert: AlertConfig, value: str, threshold: str, time_ms: int, message: str) -> Alert:
    """The alert of a rule judged as a minute closes (spike, activity): no trade fired it."""
    rule = alert.when
    return Alert(
        rule=alert.name,
        series=alert.product,
        kind=rule.kind,
        field=rule.field,
        op=rule.op,
        value=value,
        threshold=threshold,
        time_ms=time_ms,
        message=message,
    )


# --- stale: no tick for a while, and the recovery -------------------------------------------------------------


def _evaluate_stale(
    alert: AlertConfig, state: RuleState, ticks: list[Tick], now: float
) -> tuple[list[Alert], RuleState]:
    """Staleness is measured on the wall clock from when the watcher last saw new ticks arrive, not from the
    ticks' exchange times: a replayed old file is not stale while it plays. The first look starts the clock."""
    rule: StaleRule = alert.when
    now_ms = int(now * 1000)
    last_seen = state.mark if state.mark is not None else now_ms
    if ticks:
        fired = []
        if state.holds:
            gap = _duration_text(now_ms - last_seen)
            fired.append(_stale_alert(alert, "recovery", now_ms, gap, f"ticks again after about {gap} without"))
        return fired, replace(state, holds=False, mark=now_ms)
    age = now_ms - last_seen
    if state.holds or age < rule.window_ms or not cooled_down(alert, state, now_ms):
        return [], replace(state, mark=last_seen)
    age_text = _duration_text(age)
    message = f"no tick for {age_text} (stale after {_duration_text(rule.window_ms)})"
    return [_stale_alert(alert, "stale", now_ms, age_text, message)], replace(
        state, holds=True, mark=last_seen, fired_ms=now_ms
    )


def _stale_alert(alert: AlertConfig, kind: str, now_ms: int, value: str, words: str) -> Alert:
    return Alert(
        rule=alert.name,
        series=alert.product,
        kind=kind,
        field="age",
        op=">=",
        value=value,
        threshold=_duration_text(alert.when.window_ms),
        time_ms=now_ms,
        message=f"{alert.product} {words} (rule {alert.name})",
    )


# --- small helpers ----------------------------------------------------------------------------------------------


def _decimal(text: str | None) -> Decimal | None:
    if not text:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        log.warning("ignoring a tick value that is not a number: %r", text)
        return None
    return value if value.is_finite() else None


MAX_PCT_PLACES = 12


def _plain(value: Decimal) -> str:
    """A number written plainly: 1e5 -> 100000, never exponent notation."""
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _pct(value: Decimal, like: Decimal | None = None) -> str:
    """A percentage with two decimals, more when that would hide it: as many as `like` (the threshold it is
    compared with) has, and two significant digits for a small value (0.00021 is not "0")."""
    places = 2
    if like is not None and like.as_tuple().exponent < 0:
        places = max(places, -like.as_tuple().exponent)
    if value and abs(value) < 1:
        places = max(places, 1 - value.adjusted())
    return _plain(value.quantize(Decimal(1).scaleb(-min(places, MAX_PCT_PLACES))))


def _duration_text(ms: int) -> str:
    seconds = ms / 1000
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def _int_or_none(value) -> int | None:
    return None if value is None else int(value)
