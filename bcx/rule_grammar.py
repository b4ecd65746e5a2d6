"""The alert-rule grammar of `[alert:NAME]` sections: a string like `price > 100000` parsed into a Rule.

Our own small parser (never `eval`). Threshold rules compare one field of a tick with a number:

    rule      := field operator number
    field     := price | bid | ask
    operator  := > | >= | < | <=
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

FIELDS = ("price", "bid", "ask")
OPERATORS = (">=", "<=", ">", "<")
_THRESHOLD_RE = re.compile(r"^\s*(?P<field>[a-z]+)\s*(?P<op>>=|<=|>|<)\s*(?P<number>\S+)\s*$")


@dataclass(frozen=True)
class ThresholdRule:
    """Fires when `field` moves from not satisfying `op threshold` to satisfying it."""

    field: str
    op: str
    threshold: Decimal

    @property
    def kind(self) -> str:
        return "threshold"

    def describe(self) -> str:
        return f"{self.field} {self.op} {self.threshold}"

    def holds(self, value: Decimal) -> bool:
        if self.op == ">":
            return value > self.threshold
        if self.op == ">=":
            return value >= self.threshold
        if self.op == "<":
            return value < self.threshold
        return value <= self.threshold


Rule = ThresholdRule


def parse_rule(text: str) -> Rule:
    """Parse one rule; ValueError says what is wrong and what is accepted."""
    match = _THRESHOLD_RE.match(text)
    if not match:
        raise ValueError(f"{text.strip()!r} is not a rule (write it like: price > 100000, bid <= 90000.5)")
    field = match.group("field")
    if field not in FIELDS:
        raise ValueError(f"unknown field {field!r} in {text.strip()!r} (one of {', '.join(FIELDS)})")
    try:
        threshold = Decimal(match.group("number"))
    except InvalidOperation:
        raise ValueError(f"{match.group('number')!r} in {text.strip()!r} is not a number") from None
    if not threshold.is_finite():
        raise ValueError(f"{match.group('number')!r} in {text.strip()!r} is not a finite number")
    return ThresholdRule(field=field, op=match.group("op"), threshold=threshold)
