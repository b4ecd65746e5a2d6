"""The replay server speaks the exchange's protocol: handshake, errors, filtering, pacing, heartbeats, loops."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import websocket

from bcx.tick import iso_to_ms
from bcx_tracker.recorder import read_entries
from bcx_tracker.replay import ReplayServer
from bcx_tracker.sample import iso_us, write_sample

TIMEOUT = 5.0
START_US = 1_793_491_200_000_000  # 2026-11-01T00:00:00Z


def line(kind: str, product: str, ms: int, trade_id: int, sequence: int, price: str = "100.5") -> str:
    time_text = iso_us(START_US + ms * 1000)
    if kind == "heartbeat":
        data = {"type": "heartbeat", "sequence": sequence, "last_trade_id": trade_id, "product_id": product}
        return json.dumps({**data, "time": time_text})
    return json.dumps(
        {
            "type": "ticker",
            "sequence": sequence,
            "product_id": product,
            "price": price,
            "best_bid": "100.4",
            "best_ask": "100.6",
            "side": "buy",
            "time": time_text,
            "trade_id": trade_id,
            "last_size": "0.01000000",
        }
    )


@pytest.fixture
def small_file(tmp_path) -> Path:
    """Two products over 600 ms, plus lines the server must not play."""
    path = tmp_path / "small.jsonl"
    lines = [
        '{"type":"subscriptions","channels":[]}',
        line("ticker", "BTC-USD", 0, 11, 101, "97000.01"),
        line("ticker", "ETH-USD", 100, 21, 201),
        line("heartbeat", "BTC-USD", 200, 11, 102),
        "this line is not JSON",
        line("ticker", "BTC-USD", 300, 12, 105, "97000.10"),
        '{"type":"match","product_id":"BTC-USD"}',
        line("ticker", "ETH-USD", 600, 22, 230),
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def serve():
    servers: list[ReplayServer] = []

    def start(path, **options) -> ReplayServer:
        server = ReplayServer(path, **options).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def connect(serve):
    """Clients of a test, closed at its end even when it fails (before the servers stop)."""
    clients: list[websocket.WebSocket] = []

    def open_client(server: ReplayServer | str) -> websocket.WebSocket:
        url = server if isinstance(server, str) else server.url
        clients.append(websocket.create_connection(url, timeout=TIMEOUT, skip_utf8_validation=True))
        return clients[-1]

    yield open_client
    for client in clients:
        client.close(timeout=0.1)


def subscribe(ws, products, channels=("ticker", "heartbeat")) -> dict:
    ws.send(json.dumps({"type": "subscribe", "channels": [{"name": c, "product_ids": products} for c in channels]}))
    return json.loads(ws.recv())


def receive(ws, count: int, kind: str | None = None) -> list[dict]:
    """The next `count` messages (of type `kind` when given), failing after TIMEOUT."""
    found, deadline = [], time.monotonic() + TIMEOUT
    while len(found) < count:
        assert time.monotonic() < deadline, found
        message = json.loads(ws.recv())
        if kind is None or message["type"] == kind:
            found.append(message)
    return found


def test_subscribe_handshake_then_the_file(connect, serve, small_file):
    server = serve(small_file, speed=None)
    ws = connect(server)
    reply = subscribe(ws, ["ETH-USD", "BTC-USD"], channels=("ticker",))
    assert reply == {"type": "subscriptions", "channels": [{"name": "ticker", "product_ids": ["BTC-USD", "ETH-USD"]}]}
    raw = [ws.recv() for _ in range(4)]
    expected = [entry.raw for entry in read_entries(small_file) if entry.channel == "ticker"]
    assert raw == expected  # verbatim lines, in file order


def test_flat_subscribe_form(connect, serve, small_file):
    ws = connect(serve(small_file, speed=None))
    ws.send(json.dumps({"type": "subscribe", "product_ids": ["ETH-USD"], "channels": ["ticker"]}))
    assert json.loads(ws.recv())["channels"] == [{"name": "ticker", "product_ids": ["ETH-USD"]}]
    assert [m["trade_id"] for m in receive(ws, 2)] == [21, 22]


def test_unknown_product_is_refused_like_the_exchange(connect, serve, small_file):
    ws = connect(serve(small_file, speed=None))
    reply = subscribe(ws, ["BTC-USD", "DOGE-USD"])
    assert reply == {"type": "error", "message": "Failed to subscribe", "reason": "DOGE-USD is not a valid product"}
    assert subscribe(ws, ["BTC-USD"])["type"] == "subscriptions"  # the connection stays usable


def test_filters_by_product_and_channel(connect, serve, small_file):
    ws = connect(serve(small_file, speed=None))
    subscribe(ws, ["BTC-USD"])
    messages = receive(ws, 3)
    assert [(m["type"], m["product_id"]) for m in messages] == [
        ("ticker", "BTC-USD"),
        ("heartbeat", "BTC-USD"),
        ("ticker", "BTC-USD"),
    ]
    assert [messages[0]["price"], messages[2]["price"]] == ["97000.01", "97000.10"]


def test_no_subscribe_in_time_closes_the_connection(connect, serve, small_file, monkeypatch):
    monkeypatch.setattr("bcx_tracker.replay.SUBSCRIBE_TIMEOUT", 0.2)
    ws = connect(serve(small_file, speed=None))
    with pytest.raises(websocket.WebSocketConnectionClosedException):
        while True:
            ws.recv()


def test_speed_spaces_messages_by_their_times(connect, serve, small_file):
    ws = connect(serve(small_file, speed=2))
    subscribe(ws, ["BTC-USD", "ETH-USD"], channels=("ticker",))
    started = time.monotonic()
    receive(ws, 4)
    assert time.monotonic() - started >= 0.6 / 2 - 0.05  # 600 ms of recording at twice real speed


def test_max_speed_plays_a_whole_sample(connect, serve, tmp_path):
    path = tmp_path / "sample.jsonl.gz"
    write_sample(path, seed=7, hours=0.1)
    # The sample holds Kraken series too: a client at / is played Coinbase's lines only
    tickers = [e for e in read_entries(path) if e.channel == "ticker" and e.product.startswith("coinbase:")]
    ws = connect(serve(path, speed=None))
    subscribe(ws, ["BTC-USD", "ETH-USD", "SOL-USD"], channels=("ticker",))
    received = [ws.recv() for _ in tickers]
    assert received == [e.raw for e in tickers]


def test_heartbeats_every_second_after_the_end_of_the_file(connect, serve, small_file):
    ws = connect(serve(small_file, speed=None))
    subscribe(ws, ["ETH-USD"], channels=("heartbeat",))
    beats = receive(ws, 2, kind="heartbeat")
    assert {(b["product_id"], b["last_trade_id"], b["sequence"]) for b in beats} == {("ETH-USD", 22, 230)}
    assert beats[1]["time"] > beats[0]["time"]


def test_loop_shifts_times_trade_ids_and_sequences(connect, serve, small_file):
    ws = connect(serve(small_file, speed=None, loop=True))
    subscribe(ws, ["BTC-USD", "ETH-USD"], channels=("ticker",))
    ticks = receive(ws, 12)
    for product in ("BTC-USD", "ETH-USD"):
        mine = [t for t in ticks if t["product_id"] == product]
        assert len({t["trade_id"] for t in mine}) == len(mine)
        assert [t["sequence"] for t in mine] == sorted(t["sequence"] for t in mine)
        assert [t["time"] for t in mine] == sorted(t["time"] for t in mine)
    assert [t["price"] for t in ticks[:4]] == [t["price"] for t in ticks[4:8]]


def test_end_now_sends_the_history_at_once_then_plays_in_real_time(connect, serve, small_file):
    """--end-now (the demo): the passes covering the history end when the server starts and come at once; the
    passes after it come as their times fall due, never ahead of the wall clock (a tracker refuses future ticks)."""
    server = serve(small_file, end_now_history_ms=2000)  # 600 ms of file + 1 s pause a pass: two passes before now
    ws = connect(server)
    subscribe(ws, ["BTC-USD", "ETH-USD"], channels=("ticker",))
    history = receive(ws, 8)
    times = [iso_to_ms(t["time"]) for t in history]
    assert times == sorted(times) and times[-1] == server.wall_ms_at_start  # the history ends now, exactly
    assert times[0] == server.wall_ms_at_start - 1600 - 600  # two passes: the first starts a period earlier
    assert [t["price"] for t in history[:4]] == [t["price"] for t in history[4:]]  # the same file twice
    for live in receive(ws, 4):
        arrived = time.time_ns() // 1_000_000
        assert server.wall_ms_at_start < iso_to_ms(live["time"]) <= arrived + 5  # played when due, not before


def test_each_connection_plays_from_the_start(connect, serve, small_file):
    server = serve(small_file, speed=None)
    for _ in range(2):
        ws = connect(server)
        subscribe(ws, ["BTC-USD"], channels=("ticker",))
        assert receive(ws, 1)[0]["trade_id"] == 11


def test_bcx_replay_command_prints_its_address_and_stops_on_term(connect, small_file):
    command = [str(Path(sys.executable).parent / "bcx-replay"), str(small_file), "--speed", "max", "-q"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        first = process.stdout.readline()
        assert first.startswith("listening on ws://127.0.0.1:"), first
        url = first.split()[-1]
        description = [process.stdout.readline().strip() for _ in range(3)]  # what `bcx up` reads
        assert description == [
            "series coinbase:BTC-USD coinbase:ETH-USD",
            f"feed coinbase coinbase-exchange {url}/coinbase",
            "ready",
        ]
        ws = connect(first.split()[-1])
        subscribe(ws, ["ETH-USD"], channels=("ticker",))
        assert receive(ws, 1)[0]["trade_id"] == 21
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=TIMEOUT) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
