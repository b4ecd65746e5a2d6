"""The feed loop through its seams: a fake websocket factory, a fake clock, a stopper."""

from __future__ import annotations

import json
import logging
import re
import threading
from pathlib import Path

import pytest
from websocket import ABNF, WebSocketConnectionClosedException, WebSocketTimeoutException

from bcx_tracker.coinbase import Coinbase
from bcx_tracker.feed import Feed
from bcx_tracker.framed_ws import FramedWebSocket
from bcx_tracker.kraken import Kraken

EXAMPLES = (Path(__file__).parent.parent / "fixtures" / "coinbase-examples.jsonl").read_text().splitlines()
SUBSCRIPTIONS = json.dumps({"type": "subscriptions", "channels": [{"name": "ticker", "product_ids": ["ETH-USD"]}]})
TICKER = EXAMPLES[1]
HEARTBEAT = EXAMPLES[2]
ERROR = EXAMPLES[3]


def text(raw: str) -> tuple[int, bytes]:
    return ABNF.OPCODE_TEXT, raw.encode()


def ticker(sequence: int, trade_id: int) -> tuple[int, bytes]:
    data = json.loads(TICKER)
    data.update(sequence=sequence, trade_id=trade_id)
    return text(json.dumps(data))


class FakeSocket:
    """Hands out the given frames (a list of frames: those of one socket read), then raises the given exceptions,
    then times out forever."""

    def __init__(self, *frames):
        self.frames = list(frames)
        self.sent: list[str] = []
        self.timeout = None
        self.closed = False

    def send(self, payload: str) -> None:
        self.sent.append(payload)

    def settimeout(self, timeout: float) -> None:
        self.timeout = timeout

    def recv_messages(self):
        if not self.frames:
            raise WebSocketTimeoutException("timed out")
        frame = self.frames.pop(0)
        if isinstance(frame, Exception):
            raise frame
        return frame if isinstance(frame, list) else [frame]

    def close(self, timeout=None) -> None:
        self.closed = True

    def shutdown(self) -> None:
        self.closed = True


class Connector:
    """The `connect` seam: each call returns (or raises) the next outcome."""

    def __init__(self, *outcomes):
        self.outcomes = list(outcomes)
        self.calls: list[tuple[str, dict]] = []

    def __call__(self, url, **options):
        self.calls.append((url, options))
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


def make_feed(connector, sink=None, **options) -> Feed:
    received = [] if sink is None else sink
    feed = Feed(Coinbase(["ETH-USD"]), "ws://feed.test", received.extend, connect=connector, **options)
    feed.received = received
    return feed


def drive(feed: Feed, steps: int, start: float = 1000.0, step: float = 100.0) -> None:
    """loop_once with a clock that jumps past any reconnect delay, so no test sleeps."""
    now = start
    feed.clock = lambda: now
    for _ in range(steps):
        feed.loop_once(now)
        now += step


def test_subscribes_at_once_and_hands_fresh_ticks_to_the_sink(caplog):
    socket = FakeSocket(
        text(SUBSCRIPTIONS),
        ticker(10, 1),
        ticker(10, 1),  # the repeat of the last trade after subscribing
        ticker(9, 0),
        ticker(25, 3),  # a gap: normal
        text(HEARTBEAT),
        text('{"type":"ticker","price":"1"}'),
        (ABNF.OPCODE_TEXT, b"\xff not utf-8"),
        text(ERROR),
        text('{"type":"match"}'),
    )
    feed = make_feed(Connector(socket), silence_timeout=10**9)
    drive(feed, 11, step=0.01)
    assert json.loads(socket.sent[0])["type"] == "subscribe"
    assert socket.timeout == feed.recv_timeout
    assert [tick.trade_id for tick in feed.received] == [1, 3]
    assert feed.received[0].price == "1285.22"
    stats = feed.stats
    assert (stats.messages, stats.ticks, stats.stale, stats.malformed, stats.exchange_errors) == (10, 2, 2, 2, 1)
    assert "coinbase: exchange error #1: Failed to subscribe (reason:  is not a valid product)" in caplog.text
    assert "coinbase: malformed feed message #1" in caplog.text


def test_connects_without_utf8_validation_reading_in_large_pieces():
    connector = Connector(FakeSocket())
    drive(make_feed(connector), 1)
    assert connector.calls[0][1]["skip_utf8_validation"] is True
    assert connector.calls[0][1]["class_"] is FramedWebSocket


def test_the_ticks_of_one_socket_read_go_to_the_sink_together():
    socket = FakeSocket([ticker(sequence, sequence) for sequence in range(1, 4)], [ticker(4, 4)])
    batches = []
    feed = make_feed(Connector(socket), sink=[])
    feed.sink = batches.append
    drive(feed, 3)  # connect, two reads
    assert [[tick.trade_id for tick in batch] for batch in batches] == [[1, 2, 3], [4]]


def test_reconnects_with_growing_delay_and_resets_after_a_subscribe(caplog, monkeypatch):
    monkeypatch.setattr("bcx.backoff.random.random", lambda: 0.0)  # the jitter's low end: 1/2 of each ceiling
    second = FakeSocket(WebSocketConnectionClosedException("Connection to remote host was lost."))
    third = FakeSocket(text(SUBSCRIPTIONS), ticker(5, 1))
    connector = Connector(ConnectionRefusedError(111, "Connection refused"), second, third)
    feed = make_feed(connector, reconnect_max=60, silence_timeout=10**9)
    with caplog.at_level(logging.INFO, logger="bcx_tracker"):
        drive(feed, 2)
        assert feed.failures == 1 and feed.ws is second
        drive(feed, 2, start=2000)
        assert feed.failures == 2 and second.closed
        drive(feed, 3, start=3000)
    assert feed.failures == 0 and feed.stats.reconnects == 2
    assert [tick.trade_id for tick in feed.received] == [1]
    assert len(connector.calls) == 3
    assert "cannot connect to ws://feed.test" in caplog.text
    assert "feed connection lost: Connection to remote host was lost.; reconnecting in" in caplog.text
    assert "feed back after 2 failed attempts" in caplog.text
    delays = [float(m) for m in re.findall(r"reconnecting in ([0-9.]+)s", caplog.text)]
    assert delays == [0.5, 1.0]  # the ceiling doubles: 1s, then 2s


def test_waits_out_the_reconnect_delay():
    connector = Connector(ConnectionRefusedError(111, "refused"), FakeSocket())
    feed = make_feed(connector)
    feed.loop_once(1000.0)
    retry_at = feed._retry_at
    assert 1000.5 <= retry_at <= 1001.0  # backoff_delay(1): half to all of one second
    feed.loop_once(retry_at - 0.001)  # too early: sleeps a moment, no attempt
    assert len(connector.calls) == 1
    feed.loop_once(retry_at)
    assert len(connector.calls) == 2


def test_a_close_frame_reconnects():
    socket = FakeSocket(text(SUBSCRIPTIONS), (ABNF.OPCODE_CLOSE, (1001).to_bytes(2, "big") + b"going away"))
    feed = make_feed(Connector(socket, FakeSocket()))
    drive(feed, 3)
    assert socket.closed and feed.stats.reconnects == 1


def test_a_silent_feed_is_closed_and_reconnected(caplog):
    socket = FakeSocket(text(SUBSCRIPTIONS))
    feed = make_feed(Connector(socket, FakeSocket()), silence_timeout=30)
    drive(feed, 3, step=10)  # connect at 1000, subscriptions at 1010, a timeout at 1020
    assert feed.ws is socket
    drive(feed, 1, start=1010 + 31)
    assert feed.ws is None and socket.closed
    assert "no message from the feed for 30s" in caplog.text


def test_run_stops_when_asked_and_closes_the_socket():
    socket = FakeSocket(text(SUBSCRIPTIONS))
    feed = make_feed(Connector(socket))
    thread = threading.Thread(target=feed.run, daemon=True)
    thread.start()
    feed.stop(0)
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert socket.closed and feed.ws is None


def test_an_unconfigured_product_is_dropped_and_counted():
    other = json.loads(TICKER) | {"product_id": "XRP-USD", "sequence": 11, "trade_id": 2}
    socket = FakeSocket(text(SUBSCRIPTIONS), ticker(10, 1), text(json.dumps(other)))
    feed = make_feed(Connector(socket), silence_timeout=10**9)
    drive(feed, 4, step=0.01)
    assert [tick.product for tick in feed.received] == ["coinbase:ETH-USD"]
    assert (feed.stats.ticks, feed.stats.unconfigured, feed.stats.malformed) == (1, 1, 0)


def test_a_bad_trade_in_a_batch_costs_only_itself_and_becomes_a_gap_like_any_jump_in_contiguous_ids():
    def trades(*items: str) -> str:
        return '{"channel":"trade","type":"update","data":[' + ",".join(items) + "]}"

    def item(trade_id: int, qty: str = "0.5") -> str:
        stamp = "2023-10-06T17:35:55.440295Z"
        return f'{{"symbol":"BTC/USD","price":105944.20,"qty":{qty},"trade_id":{trade_id},"timestamp":"{stamp}"}}'

    batch, later = trades(item(1), item(2, qty='"x"'), item(3)), trades(item(7))
    gaps, received = [], []
    feed = Feed(
        Kraken(["BTC-USD"]), "ws://k.test", received.extend, connect=Connector(FakeSocket(text(batch), text(later)))
    )
    feed.on_gap = gaps.append
    drive(feed, 3, step=0.01)
    assert [tick.trade_id for tick in received] == [1, 3, 7]
    assert received[0].price == "105944.20"
    assert (feed.stats.ticks, feed.stats.malformed) == (3, 1)
    assert [(gap.after, gap.upto, gap.after_ms) for gap in gaps] == [(1, 2, 1696613755440), (3, 6, 1696613755440)]


def test_records_every_raw_message(tmp_path):
    from bcx_tracker.recorder import Recorder

    recorder = Recorder(tmp_path / "feed.jsonl")
    feed = make_feed(Connector(FakeSocket(text(SUBSCRIPTIONS), text(TICKER), text("not json"))), recorder=recorder)
    drive(feed, 4)
    recorder.close()
    assert (tmp_path / "feed.jsonl").read_text().splitlines() == [SUBSCRIPTIONS, TICKER, "not json"]


@pytest.mark.parametrize("name", ["feed.jsonl.gz"])
def test_records_gzip(tmp_path, name):
    from bcx_tracker.recorder import Recorder, open_lines

    recorder = Recorder(tmp_path / name)
    recorder.write('{"type":\n"ticker"}', now=0)
    recorder.close()
    with open_lines(tmp_path / name, "r") as lines:
        assert lines.read() == '{"type": "ticker"}\n'


@pytest.mark.parametrize("name", ["feed.jsonl", "feed.jsonl.gz"])
def test_recording_rotates_by_size_and_keeps_the_newest(tmp_path, name):
    from bcx_tracker.recorder import Recorder, open_lines, rotated_name

    path = str(tmp_path / name)
    recorder = Recorder(path, max_bytes=25, keep=2)
    for number in range(7):  # 11-byte lines: two fit in 25 bytes, the third starts a new file
        recorder.write(f'{{"n": {number:03d}}}', now=number)
    recorder.close()

    def numbers(file: str) -> list[int]:
        with open_lines(file, "r") as lines:
            return [int(line.split()[1].rstrip("}")) for line in lines]

    assert numbers(path) == [6]
    assert numbers(rotated_name(path, 1)) == [4, 5]
    assert numbers(rotated_name(path, 2)) == [2, 3]
    assert not Path(rotated_name(path, 3)).exists()  # keep=2: the oldest two lines are gone
    assert rotated_name(path, 1).endswith(".1.gz" if name.endswith(".gz") else ".jsonl.1")
