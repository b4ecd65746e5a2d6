"""Tick -> SSE latency: from a ticker message leaving the replay server to that tick arriving on a subscriber of
`/api/v1.0/ticks/stream`, through a real `bcx-tracker` process, Redis and a real `bcx-web` (gunicorn), p50/p99.

    .venv/bin/python -m bench.latency [--products 3] [--rate 10] [--seconds 30] [--flush-intervals 100ms,0s]

Starts an embedded redis-server, writes a recording of `rate` tickers per second per product, plays it at real
speed from a replay server in this process (each ticker's send time is taken where the server sends it), runs
bcx-tracker and bcx-web with the packaged defaults and reads one SSE stream of all products, once per tracker
`flush_interval` given (100ms: the writer before issue 19, waiting for a fuller batch; 0s: the default, writing at
once when nothing else waits). Ticks sent in the first second (connections still opening) are left out. Compare
within one run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import requests

from bcx.embedded import EmbeddedRedis
from bcx.series import canonical
from bcx_tracker import replay
from bcx_tracker.sample import iso_us
from bench.history import PRODUCTS
from bench.web import p50_p99, running_web

FIRST_US = 1_793_491_200_000_000  # 2026-11-01T00:00:00Z
WARM_UP_S = 1.0


def write_recording(path: Path, products, rate: int, seconds: int) -> int:
    """`rate` tickers a second per product, spread evenly, in time order."""
    step_us = 1_000_000 // (rate * len(products))
    lines = []
    for index in range(rate * seconds * len(products)):
        product = products[index % len(products)]
        price = f"{1000 + index % 97}.{index % 100:02d}"
        message = {
            "type": "ticker",
            "sequence": index + 1,
            "product_id": product,
            "price": price,
            "best_bid": price,
            "best_ask": f"{1000 + index % 97}.{index % 100:02d}1",
            "side": "buy",
            "time": iso_us(FIRST_US + index * step_us),
            "trade_id": index + 1,
            "last_size": "0.01",
        }
        lines.append(json.dumps(message, separators=(",", ":")))
    path.write_text("\n".join(lines) + "\n")
    return len(lines)


@contextmanager
def recording_send_times(sent: dict):
    """Wrap the replay session's send so that each ticker's send time is kept by (product, trade id)."""
    original = replay._Session._send

    def send(session, entry) -> None:
        original(session, entry)
        if entry.channel == "ticker":
            sent.setdefault((canonical(entry.product), entry.trade_id), time.monotonic())

    replay._Session._send = send
    try:
        yield
    finally:
        replay._Session._send = original


def read_stream(url: str, arrived: dict, stop: threading.Event) -> None:
    with requests.get(url, stream=True, timeout=(5, 30)) as response:
        response.raise_for_status()
        for line in response.iter_lines(decode_unicode=True):
            if line.startswith("data: "):
                tick = json.loads(line[6:])
                arrived.setdefault((canonical(tick["product"]), tick["trade_id"]), time.monotonic())
            if stop.is_set():
                return


def measure(products: list[str], rate: int, seconds: int, flush_interval: str) -> tuple[int, int, list[float]]:
    """(ticks sent, ticks arrived, delays in seconds after the warm-up) of one run."""
    sent, arrived, stop = {}, {}, threading.Event()
    with recording_send_times(sent), EmbeddedRedis() as server, tempfile.TemporaryDirectory() as tmp:
        recording = Path(tmp) / "latency.jsonl"
        count = write_recording(recording, products, rate, seconds)
        with (
            replay.ReplayServer(recording, speed=1.0) as feed,
            running_web(server.url, products, Path(tmp), "sse_heartbeat = 1s\n") as base,
        ):
            reader = threading.Thread(target=read_stream, args=(f"{base}/api/v1.0/ticks/stream", arrived, stop))
            reader.start()
            conf = Path(tmp) / "tracker.conf"
            conf.write_text(
                f"[redis]\nurl = {server.url}\n[exchange:coinbase]\nfeed_url = {feed.url}\nrest_url =\n"
                f"[tracker]\nproducts = {', '.join(products)}\nflush_interval = {flush_interval}\n"
                "[log]\nlevel = WARNING\n"
            )
            tracker = subprocess.Popen([str(Path(sys.executable).with_name("bcx-tracker")), "--config", str(conf)])
            try:
                deadline = time.monotonic() + seconds + 30
                while len(arrived) < count and time.monotonic() < deadline and tracker.poll() is None:
                    time.sleep(0.2)
            finally:
                stop.set()
                tracker.terminate()
                tracker.wait(timeout=30)
                reader.join(timeout=60)
    began = min(sent.values())
    delays = [arrived[key] - at for key, at in sent.items() if key in arrived and at - began >= WARM_UP_S]
    return len(sent), len(arrived), delays


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=3)
    parser.add_argument("--rate", type=int, default=10, help="tickers per second per product")
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--flush-intervals", default="100ms,0s", help="tracker flush_interval of each run")
    args = parser.parse_args()
    products = PRODUCTS[: args.products]
    print(f"{args.rate} tickers/s per product, {len(products)} products, {args.seconds} s per run")
    print("\n| tracker flush_interval | sent | arrived | p50 ms | p99 ms | max ms |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for flush_interval in args.flush_intervals.split(","):
        sent, arrived, delays = measure(products, args.rate, args.seconds, flush_interval.strip())
        p50, p99 = p50_p99(delays)
        print(f"| {flush_interval} | {sent:,} | {arrived:,} | {p50:.1f} | {p99:.1f} | {max(delays) * 1000:.1f} |")


if __name__ == "__main__":
    main()
