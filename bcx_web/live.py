"""How a live stream learns of new ticks: the one function to change if the tracker ever announces them.

Today it polls each product's latest-tick hash (one pipelined HGETALL for all products) and reads the range
after its cursor only for a product whose latest tick moved, so an idle stream costs one round trip per poll.
"""

from __future__ import annotations

from bcx.store import TickStore
from bcx.tick import Tick

Cursor = tuple[int, int]  # (time ms, trade id) of the last tick sent
MAX_PER_POLL = 1000  # per product; a stream that fell this far behind skips to the newest ticks


def new_ticks(store: TickStore, cursors: dict[str, Cursor | None]) -> list[Tick]:
    """Ticks newer than each product's cursor (just the latest one for a cursor of None); moves the cursors."""
    found: list[Tick] = []
    for product, latest in store.latest_many(list(cursors)).items():
        cursor = cursors[product]
        if latest is None or (cursor is not None and (latest.time_ms, latest.trade_id) <= cursor):
            continue
        if cursor is None:
            fresh = [latest]
        else:
            fresh = [t for t in store.range(product, cursor[0], latest.time_ms) if (t.time_ms, t.trade_id) > cursor]
            fresh = fresh[-MAX_PER_POLL:]
        if fresh:
            cursors[product] = (fresh[-1].time_ms, fresh[-1].trade_id)
            found.extend(fresh)
    return found
