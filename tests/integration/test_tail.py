"""`bcx tail` as a process against a real Redis: prints each tick stored after it started, once."""

from __future__ import annotations

import argparse
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bcx import tail_cli
from bcx.series import EXCHANGES
from bcx.store import TickStore
from bcx.tail_cli import Printed
from bcx.tick import Tick, ms_to_iso

BCX = str(Path(sys.executable).parent / "bcx")


def test_each_tick_is_printed_once():
    printed = Printed()
    a, b, c = (Tick("BTC-USD", t, i, "1") for i, t in ((1, 5), (2, 5), (3, 6)))
    assert printed.fresh([a]) == [a]
    assert printed.fresh([a, b]) == [b]
    assert printed.fresh([a, b, c]) == [c] and printed.fresh([c]) == []


def parse_tail(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bcx")
    tail_cli.add_parser(parser.add_subparsers())
    return parser.parse_args(["tail", *argv])


def test_tail_takes_series_ids_a_bare_product_being_coinbases():
    assert parse_tail("kraken:BTC-USD", "ETH-USD").products == ["kraken:BTC-USD", "coinbase:ETH-USD"]


def test_tail_refuses_an_unknown_exchange_listing_the_known_ones(capsys):
    with pytest.raises(SystemExit) as exit_:
        parse_tail("deribit:BTC-USDT")
    assert exit_.value.code == 2
    assert f"unknown exchange 'deribit' (known: {', '.join(EXCHANGES)})" in capsys.readouterr().err


def test_tail_prints_ticks_as_they_are_stored(redis_conn, redis_section, tmp_path):
    """Ticks keep coming (one every 0.1 s on each exchange) until tail has printed four of the Kraken series it was
    given: whenever tail read its starting cursor, what it prints must be consecutive ticks of that series, each
    once, in order, none from before it started."""
    store = TickStore(redis_conn, "bcx")
    store.add([stored_tick(1)])  # before tail: never printed
    config = tmp_path / "bcx.conf"
    config.write_text(f"{redis_section}[tracker]\nproducts = BTC-USD, kraken:BTC-USD\n")
    tail = subprocess.Popen([BCX, "tail", "--config", str(config), "kraken:BTC-USD"], stdout=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in tail.stdout], daemon=True)
    reader.start()
    printed: list[str] = []
    try:
        deadline = time.monotonic() + 30
        number = 1
        while len(printed) < 4:
            assert time.monotonic() < deadline and tail.poll() is None, f"bcx tail printed only {printed}"
            number += 1
            store.add([stored_tick(number), stored_tick(number, "BTC-USD")])  # Coinbase's: not asked for
            try:
                while True:
                    printed.append(lines.get(timeout=0.1))
            except queue.Empty:
                pass
        tail.send_signal(signal.SIGTERM)
        assert tail.wait(timeout=10) == 0
    finally:
        if tail.poll() is None:
            tail.kill()
            tail.wait()
        reader.join(timeout=10)  # the pipe is at its end once tail has exited
        tail.stdout.close()
    numbers = [int(line.rsplit("#", 1)[1]) for line in printed]
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers))) and numbers[0] > 1
    first = numbers[0]
    assert printed[0].startswith(f"{ms_to_iso(first * 1000)}  kraken:BTC-USD  {first}.00  ")
    for line, number in zip(printed, numbers, strict=True):
        book = f"bid {number - 1}.99  ask {number}.01  size 0.1" if number % 2 else "(no book: backfilled)"
        assert book in line


def stored_tick(number: int, series: str = "kraken:BTC-USD") -> Tick:
    """Tick `number` at `number` seconds; even ones carry no book, as a backfilled trade."""
    if number % 2:
        return Tick(series, number * 1000, number, f"{number}.00", f"{number - 1}.99", f"{number}.01", "0.1")
    return Tick(series, number * 1000, number, f"{number}.00", size="0.1")


def test_tail_with_redis_unreachable_prints_one_line_and_exits_1(tmp_path):
    config = tmp_path / "bcx.conf"
    config.write_text("[redis]\nurl = redis://127.0.0.1:1/0\ntimeout = 1s\n")
    done = subprocess.run([BCX, "tail", "--config", str(config)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.startswith("bcx tail: redis at redis://127.0.0.1:1/0: ")
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
