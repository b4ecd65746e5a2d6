"""A tick (one trade with the book's top at that moment) and its deterministic sorted-set member.

Member: `trade_id|price|bid|ask|size`, prices as the exact strings the exchange sent. A trade learned without
the book (a REST backfill) has empty bid and ask: `881613|14.7775|||0.04`. The score is the exchange time in
unix milliseconds. The same tick always encodes to the same member, so writing it twice stores it once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

SEPARATOR = "|"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Tick:
    product: str
    time_ms: int
    trade_id: int
    price: str
    bid: str | None = None
    ask: str | None = None
    size: str | None = None
    sequence: int | None = None

    def as_dict(self) -> dict:
        """The API's fixed field names."""
        return {
            "time": self.time_ms,
            "trade_id": self.trade_id,
            "price": self.price,
            "bid": self.bid,
            "ask": self.ask,
            "size": self.size,
        }


def encode_member(tick: Tick) -> str:
    return SEPARATOR.join((str(tick.trade_id), tick.price, tick.bid or "", tick.ask or "", tick.size or ""))


def decode_member(product: str, member: str | bytes, score: float) -> Tick:
    if isinstance(member, bytes):
        member = member.decode()
    trade_id, price, bid, ask, size = member.split(SEPARATOR)
    return Tick(
        product=product,
        time_ms=int(score),
        trade_id=int(trade_id),
        price=price,
        bid=bid or None,
        ask=ask or None,
        size=size or None,
    )


def iso_to_ms(text: str) -> int:
    """`2022-10-19T23:28:22.061769Z` -> unix ms, exact (integer arithmetic, no float round trip).

    Raises ValueError for text that is not an ISO 8601 time; a time without a zone is taken as UTC.
    """
    parsed = datetime.fromisoformat(text.strip())
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    delta = parsed - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1000 + delta.microseconds // 1000


def ms_to_iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
