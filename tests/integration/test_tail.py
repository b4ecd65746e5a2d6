"""`bcx tail` as a process against a real Redis: prints each tick stored after it started, once."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import redis

from bcx.store import TickStore
from bcx.tail_cli import Cursor
from bcx.tick import Tick

BCX = str(Path(sys.executable).parent / "bcx")
TAIL_READS = {"hgetall", "zrangebyscore", "zrevrangebyscore"}  # its cursor, then its polls


def has_polled(node_urls: list[str]) -> bool:
    """Some client's last command, on any node, was one of tail's reads (the test's own client only writes)."""
    for url in node_urls:
        with redis.Redis.from_url(url, decode_responses=True) as node:
            if any(client.get("cmd") in TAIL_READS for client in node.client_list()):
                return True
    return False


def test_cursor_prints_each_tick_once():
    cursor = Cursor()
    a, b, c = (Tick("BTC-USD", t, i, "1") for i, t in ((1, 5), (2, 5), (3, 6)))
    assert cursor.fresh([a]) == [a]
    assert cursor.fresh([a, b]) == [b]
    assert cursor.fresh([a, b, c]) == [c] and cursor.fresh([c]) == []


def test_tail_prints_ticks_as_they_are_stored(redis_conn, redis_section, redis_topology, tmp_path):
    store = TickStore(redis_conn, "bcx", "coinbase")
    store.add([Tick("BTC-USD", 1_000, 1, "1.00", "0.99", "1.01", "0.1")])  # before tail: not printed
    config = tmp_path / "bcx.conf"
    config.write_text(f"{redis_section}[tracker]\nproducts = BTC-USD\n")
    tail = subprocess.Popen([BCX, "tail", "--config", str(config)], stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while not has_polled(redis_topology.nodes):  # tail has read its starting cursor
            assert time.monotonic() < deadline and tail.poll() is None, "bcx tail did not connect"
            time.sleep(0.05)
        store.add([Tick("BTC-USD", 2_000, 2, "2.00", "1.99", "2.01", "0.2"), Tick("BTC-USD", 3_000, 3, "3.00")])
        lines = [tail.stdout.readline() for _ in range(2)]
        tail.send_signal(signal.SIGTERM)
        assert tail.wait(timeout=10) == 0
    finally:
        if tail.poll() is None:
            tail.kill()
            tail.wait()
        tail.stdout.close()
    assert lines[0].startswith("1970-01-01T00:00:02.000Z  BTC-USD  2.00  bid 1.99  ask 2.01  size 0.2  #2")
    assert "3.00  (no book: backfilled)" in lines[1]
