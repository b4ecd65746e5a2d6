"""Alerts: what a rule says when it fires, and how it travels through Redis.

Each alert is appended to the capped stream `<prefix>:alerts` (so a subscriber that was away can catch up) and
then published as JSON on the pub/sub channel of the same name (sharded on a Redis 7 cluster: bcx.pubsub). The
stream entry id is the alert's id everywhere: in the published JSON, in the API and as the SSE `Last-Event-ID`.

The stream entry holds the alert's JSON in one field, without the id (the entry id is the id); readers fill it in.
The JSON names the series three ways, as the API does: `series` (`kraken:BTC-USD`), `exchange` and `product`. An
alert written before series ids had only `product` (bare, so Coinbase's) and reads back as `coinbase:...`.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Protocol

import redis

from bcx import pubsub
from bcx.keys import alerts_key
from bcx.series import DEFAULT_EXCHANGE, series_id, split

log = logging.getLogger(__name__)

STREAM_FIELD = "alert"
DEFAULT_COUNT = 100


@dataclass(frozen=True)
class Alert:
    rule: str
    series: str  # canonical series id, coinbase:BTC-USD
    kind: str
    field: str
    op: str
    value: str  # the tick's value exactly as the exchange wrote it
    threshold: str
    time_ms: int  # exchange time of the tick that fired the rule
    message: str
    trade_id: int | None = None
    id: str | None = None  # the stream entry id; None until published

    def to_json(self) -> str:
        # rule, then the series' three names, then the rest in field order ("series" keeps its first position)
        data = {"rule": self.rule, **split(self.series).as_dict(), **asdict(self)}
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes, id: str | None = None) -> Alert:
        """Parse an alert; keys this version does not know are ignored, so older readers survive newer writers.

        `id`, when given, overrides the id in the JSON (a stream entry's id is the authority)."""
        data = json.loads(text)
        if "series" not in data and "product" in data:
            data["series"] = _older_series(data["product"])
        known = {f.name for f in fields(cls)}
        alert = cls(**{key: value for key, value in data.items() if key in known})
        return replace(alert, id=id) if id is not None else alert


def _older_series(product: str) -> str:
    """The series of an alert stored before series ids: its bare product is Coinbase's. No validation: a reader
    must not fail on a stored alert."""
    return product if ":" in product else series_id(DEFAULT_EXCHANGE, product)


class StopFlag(Protocol):
    stopping: bool


LAST_STREAM_ID = f"{2**64 - 1}-{2**64 - 1}"
STREAM_ID_PATTERN = r"[0-9]{1,20}(-[0-9]{1,20})?"  # also the OpenAPI document's (bcx_web.declared)
_STREAM_ID = re.compile(STREAM_ID_PATTERN)


def stream_id(text: str) -> str:
    """An alert id as Redis streams write it (`1700000000000-0`, or just the milliseconds), each half an unsigned
    64-bit number; ValueError otherwise (Redis would refuse it, and that is the caller's mistake, not an outage)."""
    if not _STREAM_ID.fullmatch(text) or any(int(part) > 2**64 - 1 for part in text.split("-")):
        raise ValueError(f"{text!r} is not an alert id (like 1700000000000-0)")
    return text


def publish(conn: redis.Redis, prefix: str, alert: Alert, maxlen: int) -> str:
    """Append to the capped stream, then publish with the stream id; returns that id."""
    key = alerts_key(prefix)
    body = replace(alert, id=None).to_json()
    entry_id = _text(conn.xadd(key, {STREAM_FIELD: body}, maxlen=maxlen, approximate=True))
    pubsub.publish(conn, key, replace(alert, id=entry_id).to_json())
    log.info("alert %s: %s", entry_id, alert.message)
    return entry_id


def read_alerts(conn: redis.Redis, prefix: str, since_id: str | None = None, count: int = DEFAULT_COUNT) -> list[Alert]:
    """Oldest first: the `count` most recent alerts, or with `since_id` the first `count` after that id."""
    key = alerts_key(prefix)
    if since_id is None:
        return [_from_entry(entry) for entry in reversed(conn.xrevrange(key, count=count))]
    if since_id == LAST_STREAM_ID:  # nothing can follow it, and XRANGE refuses an exclusive start there
        return []
    return [_from_entry(entry) for entry in conn.xrange(key, min=f"({since_id}", count=count)]


def last_id(conn: redis.Redis, prefix: str) -> str:
    """The id of the newest alert, or "0-0" when there is none: a concrete id to resume after."""
    newest = conn.xrevrange(alerts_key(prefix), count=1)
    return _text(newest[0][0]) if newest else "0-0"


def wait_for_alerts(
    conn: redis.Redis, prefix: str, after_id: str, block_ms: int = 1000, count: int = DEFAULT_COUNT
) -> list[Alert]:
    """Alerts after `after_id`, waiting up to `block_ms` for the first one; [] when none came.

    Keep block_ms below the connection's socket timeout, or a quiet stream looks like a dead server."""
    response = conn.xread({alerts_key(prefix): after_id}, count=count, block=block_ms)
    if isinstance(response, dict):  # RESP3: {stream: [entries]}
        batches = [entries for nested in response.values() for entries in nested]
    else:  # RESP2: [[stream, entries]]
        batches = [entries for _, entries in response or []]
    return [_from_entry(entry) for entries in batches for entry in entries]


def follow(
    conn: redis.Redis, prefix: str, since_id: str | None, stopper: StopFlag, block_ms: int = 1000
) -> Iterator[Alert]:
    """Yield alerts after `since_id` (from now when None) as they come, until `stopper.stopping`.

    Notices a stop within about block_ms. "Now" is pinned to a concrete id first, rather than re-sending "$"
    on every XREAD, which would lose alerts added between two calls."""
    after = since_id or last_id(conn, prefix)
    while not stopper.stopping:
        for alert in wait_for_alerts(conn, prefix, after, block_ms):
            after = alert.id or after
            yield alert


def _from_entry(entry: Any) -> Alert:
    entry_id, values = entry
    body = values.get(STREAM_FIELD) or values.get(STREAM_FIELD.encode())
    return Alert.from_json(body, id=_text(entry_id))


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value
