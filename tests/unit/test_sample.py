"""The synthetic recording: deterministic, in the exchange's schema, with realistic increments and counters."""

from __future__ import annotations

import gzip
import itertools
import json
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

from bcx_tracker.coinbase import Heartbeat, TickEvent, parse_message
from bcx_tracker.recorder import split_line
from bcx_tracker.sample import bundled_sample, generate, write_sample

EXAMPLES = Path(__file__).parent.parent / "fixtures" / "coinbase-examples.jsonl"
TICKER_KEYS = json.loads(EXAMPLES.read_text().splitlines()[1]).keys()  # the 2022 docs example


def messages(seed: int = 42, hours: float = 0.25) -> list[dict]:
    return list(generate(seed, hours))


def test_same_seed_same_bytes(tmp_path):
    write_sample(tmp_path / "a.jsonl.gz", seed=5, hours=0.05)
    write_sample(tmp_path / "b.jsonl.gz", seed=5, hours=0.05)
    write_sample(tmp_path / "c.jsonl.gz", seed=6, hours=0.05)
    a, b, c = ((tmp_path / f"{n}.jsonl.gz").read_bytes() for n in "abc")
    assert a == b != c


def test_tickers_use_the_2022_schema_and_parse():
    tickers = [m for m in messages() if m["type"] == "ticker"]
    assert tickers
    for message in tickers:
        assert list(message) == list(TICKER_KEYS)
        assert isinstance(message["sequence"], int) and isinstance(message["trade_id"], int)
        assert message["time"].endswith("Z") and len(message["time"]) == len("2026-11-01T00:00:00.000000Z")
        assert isinstance(parse_message(json.dumps(message)), TickEvent)


def test_increments_spreads_and_sizes():
    base = {"BTC-USD": 8, "ETH-USD": 8, "SOL-USD": 3}
    for message in (m for m in messages() if m["type"] == "ticker"):
        bid, ask, price = (Decimal(message[k]) for k in ("best_bid", "best_ask", "price"))
        for value in (bid, ask, price):
            assert value == value.quantize(Decimal("0.01"))
        assert 0 < ask - bid <= Decimal("0.25") and price in (bid, ask)
        size = Decimal(message["last_size"])
        assert size > 0 and -size.as_tuple().exponent <= base[message["product_id"]]
        assert not message["last_size"].endswith("0") or "." not in message["last_size"]


def test_counters_increase_per_product_and_heartbeats_come_every_ten_seconds():
    last = defaultdict(lambda: (0, 0, 0))
    beats = defaultdict(list)
    for message in messages():
        event = parse_message(json.dumps(message))
        if isinstance(event, Heartbeat):
            beats[event.product].append(event.time_ms)
            assert event.last_trade_id == last[event.product][1]
            continue
        tick = event.tick
        sequence, trade_id, time_ms = last[tick.product]
        assert tick.sequence > sequence and tick.trade_id > trade_id and tick.time_ms >= time_ms
        last[tick.product] = (tick.sequence, tick.trade_id, tick.time_ms)
    assert set(beats) == {"coinbase:BTC-USD", "coinbase:ETH-USD", "coinbase:SOL-USD"}
    for times in beats.values():
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert all(9_900 <= gap <= 10_100 for gap in gaps)


def test_bundled_sample_is_there_and_starts_on_2026_11_01():
    path = bundled_sample()
    assert path.stat().st_size < 4 * 1024 * 1024
    with gzip.open(path, "rt") as lines:
        exchanges = {split_line(line)[0]: json.loads(split_line(line)[1]) for line in itertools.islice(lines, 50)}
    assert exchanges["coinbase"]["time"].startswith("2026-11-01T00:00:")
    assert exchanges["kraken"]["data"][0]["timestamp"].startswith("2026-11-01T00:00:")  # two exchanges side by side
