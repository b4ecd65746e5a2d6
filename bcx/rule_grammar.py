"""The alert-rule grammar of `[alert:NAME]` sections: a string like `price > 100000` parsed into a Rule.

Our own small parser (never `eval`):

    rule       := threshold | change | spike | activity | spread | cross | stale
    threshold  := (price | bid | ask) op number          price > 100000, bid <= 90000.5
    change     := (change | rise | fall) (> | >=) percent in duration
                                                         change >= 5% in 15m (either way), rise >= 2% in 1h
    spike      := spike volume number x duration         spike volume 3x 1h
    activity   := activity (volume | trades) number x duration
                                                         activity volume 3x 24h
    spread     := spread op percent                      spread > 0.5%
    cross      := spread series op percent               spread kraken:BTC-USD > 0.5%
    stale      := stale duration                         stale 60s
    op         := > | >= | < | <=
    percent    := number %
    duration   := as everywhere in bcx.conf: 250ms, 30s, 15m, 2h, 7d

The `hysteresis` key of a section is parsed here too (`parse_hysteresis`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from bcx.converters import duration
from bcx.series import canonical

FIELDS = ("price", "bid", "ask")
DIRECTIONS = ("change", "rise", "fall")
SPIKE_BUCKET_MS = 60_000  # a volume spike compares one minute's volume with the trailing per-minute average

_OP = r"(?P<op>>=|<=|>|<)"
_THRESHOLD_RE = re.compile(rf"^(?P<field>[a-z]+)\s*{_OP}\s*(?P<number>\S+)$")
_CHANGE_RE = re.compile(rf"^(?P<direction>[a-z]+)\s*{_OP}\s*(?P<number>[^\s%]+)\s*%\s+in\s+(?P<window>\S+)$")
_SPIKE_RE = re.compile(r"^spike\s+volume\s+(?P<number>[^\s x]+)\s*x\s+(?P<window>\S+)$")
_SPREAD_RE = re.compile(rf"^spread\s*{_OP}\s*(?P<number>[^\s%]+)\s*%$")
_CROSS_RE = re.compile(rf"^spread\s+(?P<series>[^\s<>=]+)\s*{_OP}\s*(?P<number>[^\s%]+)\s*%$")
_ACTIVITY_RE = re.compile(r"^activity\s+(?P<measure>volume|trades)\s+(?P<number>[^\s x]+)\s*x\s+(?P<window>\S+)$")
_STALE_RE = re.compile(r"^stale\s+(?P<window>\S+)$")
_HYSTERESIS_RE = re.compile(r"^(?P<number>[^\s%]+)\s*(?P<percent>%?)$")
EXAMPLES = (
    "price > 100000, change >= 5% in 15m, spike volume 3x 1h, activity volume 3x 24h, spread > 0.5%, "
    "spread kraken:BTC-USD > 0.5%, stale 60s"
)
ACTIVITY_HOUR_MS = 3_600_000  # activity compares the last hour with the window's average hour
ACTIVITY_BUCKET_MS = 60_000  # judged as each minute closes, from 1-minute candles


def compare(op: str, value: Decimal, line: Decimal) -> bool:
    if op == ">":
        return value > line
    if op == ">=":
        return value >= line
    if op == "<":
        return value < line
    return value <= line


@dataclass(frozen=True)
class ThresholdRule:
    """Fires when `field` moves from not satisfying `op threshold` to satisfying it."""

    field: str
    op: str
    threshold: Decimal
    kind = "threshold"
    lookback_ms = 0  # ticks before the new ones this rule needs to see

    def describe(self) -> str:
        return f"{self.field} {self.op} {self.threshold}"

    def holds(self, value: Decimal) -> bool:
        return compare(self.op, value, self.threshold)


@dataclass(frozen=True)
class ChangeRule:
    """Fires when the price moved by `threshold` percent or more within `window_ms`: up from the window's lowest
    price (`rise`), down from its highest (`fall`), or either (`change`)."""

    direction: str
    op: str
    threshold: Decimal  # percent
    window_ms: int
    kind = "change"
    field = "price"

    @property
    def lookback_ms(self) -> int:
        return self.window_ms

    def describe(self) -> str:
        return f"{self.direction} {self.op} {self.threshold}% in {self.window_ms}ms"


@dataclass(frozen=True)
class SpikeRule:
    """Fires when one minute's traded volume is at least `factor` times the average minute of the `window_ms`
    before it."""

    factor: Decimal
    window_ms: int
    bucket_ms: int = SPIKE_BUCKET_MS
    kind = "spike"
    field = "volume"
    op = ">="

    @property
    def lookback_ms(self) -> int:
        """The window, the open minute, and one more so the ticks are seen to reach back past the window."""
        return self.window_ms + 2 * self.bucket_ms

    def describe(self) -> str:
        return f"spike volume {self.factor}x {self.window_ms}ms"


@dataclass(frozen=True)
class SpreadRule:
    """Fires when the book's spread, (ask - bid) / mid in percent, crosses `threshold`."""

    op: str
    threshold: Decimal  # percent
    kind = "spread"
    field = "spread"
    lookback_ms = 0

    def describe(self) -> str:
        return f"spread {self.op} {self.threshold}%"


@dataclass(frozen=True)
class ActivityRule:
    """Fires when the last hour's volume (or trade count) reaches `factor` times the average hour of the
    `window_ms` that ends with it (bcx.analytics' activity figure), judged from 1-minute candles as each minute
    closes."""

    measure: str  # volume or trades
    factor: Decimal
    window_ms: int
    kind = "activity"
    op = ">="
    lookback_ms = 0  # reads candles, not ticks

    @property
    def field(self) -> str:
        return self.measure

    @property
    def threshold(self) -> Decimal:
        return self.factor

    def describe(self) -> str:
        return f"activity {self.measure} {self.factor}x {self.window_ms}ms"


@dataclass(frozen=True)
class CrossSpreadRule:
    """Fires when |price - the other series' price| / the other's price, in percent, crosses `threshold`: the
    other series' price is its newest trade at or before each tick."""

    other: str  # a series id, canonical
    op: str
    threshold: Decimal  # percent
    kind = "spread"
    lookback_ms = 0

    @property
    def field(self) -> str:
        return f"spread:{self.other}"

    def describe(self) -> str:
        return f"spread {self.other} {self.op} {self.threshold}%"


@dataclass(frozen=True)
class StaleRule:
    """Fires when no tick of the product arrived for `window_ms`, and once more when ticks come back."""

    window_ms: int
    kind = "stale"
    field = "age"
    op = ">="
    lookback_ms = 0

    def describe(self) -> str:
        return f"stale {self.window_ms}ms"


Rule = ThresholdRule | ChangeRule | SpikeRule | ActivityRule | SpreadRule | CrossSpreadRule | StaleRule
# a value compared with a line (per tick; per closed minute for activity): hysteresis applies
LEVEL_RULES = (ThresholdRule, ChangeRule, SpreadRule, CrossSpreadRule, ActivityRule)


@dataclass(frozen=True)
class Hysteresis:
    """How far back past the line a value must go before a level rule can fire again. `percent` means a
    percentage of the threshold for price/bid/ask rules; spread and change rules count in percentage points."""

    amount: Decimal
    percent: bool = False

    def for_rule(self, rule: Rule) -> Decimal:
        if self.percent and isinstance(rule, ThresholdRule):
            return abs(rule.threshold) * self.amount / 100
        return self.amount


NO_HYSTERESIS = Hysteresis(Decimal(0))


def parse_rule(text: str) -> Rule:
    """Parse one rule; ValueError says what is wrong and what is accepted."""
    source = " ".join(text.split())
    for parse in (_spike, _activity, _spread, _stale, _change, _threshold):
        rule = parse(source)
        if rule is not None:
            return rule
    raise ValueError(f"{source!r} is not a rule (write it like: {EXAMPLES})")


def parse_hysteresis(text: str) -> Hysteresis:
    """`50` (in the rule's units) or `0.1%`; 0 turns it off."""
    match = _HYSTERESIS_RE.match(text.strip())
    if not match:
        raise ValueError(f"{text.strip()!r} is not a hysteresis (write it like 50 or 0.1%)")
    amount = _number(match.group("number"), text)
    if amount < 0:
        raise ValueError(f"{text.strip()!r}: hysteresis must not be negative")
    return Hysteresis(amount, bool(match.group("percent")))


def _threshold(source: str) -> ThresholdRule | None:
    match = _THRESHOLD_RE.match(source)
    if not match:
        return None
    field = match.group("field")
    if field not in FIELDS:
        raise ValueError(f"unknown field {field!r} in {source!r} (one of {', '.join(FIELDS)}; or: {EXAMPLES})")
    return ThresholdRule(field=field, op=match.group("op"), threshold=_number(match.group("number"), source))


def _change(source: str) -> ChangeRule | None:
    match = _CHANGE_RE.match(source)
    if not match or match.group("direction") not in DIRECTIONS:
        return None
    if match.group("op") not in (">", ">="):
        raise ValueError(f"{source!r}: a change is at least some percent: use > or >=")
    window_ms = _window(match.group("window"), source)
    return ChangeRule(match.group("direction"), match.group("op"), _positive(match.group("number"), source), window_ms)


def _spike(source: str) -> SpikeRule | None:
    if not source.startswith("spike"):
        return None
    match = _SPIKE_RE.match(source)
    if not match:
        raise ValueError(f"{source!r} is not a spike rule (write it like: spike volume 3x 1h)")
    window_ms = _window(match.group("window"), source)
    if window_ms < SPIKE_BUCKET_MS or window_ms % SPIKE_BUCKET_MS:
        raise ValueError(f"{source!r}: the trailing window must be whole minutes (like 15m, 1h)")
    return SpikeRule(_positive(match.group("number"), source), window_ms)


def _spread(source: str) -> SpreadRule | CrossSpreadRule | None:
    if not source.startswith("spread"):
        return None
    match = _SPREAD_RE.match(source)
    if match:
        return SpreadRule(match.group("op"), _positive(match.group("number"), source))
    match = _CROSS_RE.match(source)
    if not match:
        raise ValueError(
            f"{source!r} is not a spread rule (write it like: spread > 0.5% for the book, or "
            "spread kraken:BTC-USD > 0.5% against another exchange)"
        )
    try:
        other = canonical(match.group("series"))
    except ValueError as exc:
        raise ValueError(f"in {source!r}: {exc}") from None
    return CrossSpreadRule(other, match.group("op"), _positive(match.group("number"), source))


def _activity(source: str) -> ActivityRule | None:
    if not source.startswith("activity"):
        return None
    match = _ACTIVITY_RE.match(source)
    if not match:
        raise ValueError(f"{source!r} is not an activity rule (write it like: activity volume 3x 24h)")
    window_ms = _window(match.group("window"), source)
    if window_ms <= ACTIVITY_HOUR_MS or window_ms % ACTIVITY_HOUR_MS:
        raise ValueError(f"{source!r}: the window must be whole hours, longer than the last hour (like 24h, 7d)")
    return ActivityRule(match.group("measure"), _positive(match.group("number"), source), window_ms)


def _stale(source: str) -> StaleRule | None:
    if not source.startswith("stale"):
        return None
    match = _STALE_RE.match(source)
    if not match:
        raise ValueError(f"{source!r} is not a stale rule (write it like: stale 60s)")
    return StaleRule(_window(match.group("window"), source))


def _number(text: str, source: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{text!r} in {source.strip()!r} is not a number") from None
    if not value.is_finite():
        raise ValueError(f"{text!r} in {source.strip()!r} is not a finite number")
    return value


def _positive(text: str, source: str) -> Decimal:
    value = _number(text, source)
    if value <= 0:
        raise ValueError(f"{text!r} in {source!r} must be greater than 0")
    return value


def _window(text: str, source: str) -> int:
    try:
        seconds = duration(text)
    except ValueError as exc:
        raise ValueError(f"in {source!r}: {exc}") from None
    if seconds <= 0:
        raise ValueError(f"{text!r} in {source!r} must be longer than 0")
    return int(round(seconds * 1000))
