"""Local stand-ins for the exchange in tests: a scripted websocket feed and a REST stub, both on 127.0.0.1.

`ScriptedFeed(scripts)`: connection i (after its subscribe) plays scripts[i], a list of frames (str or bytes) and
actions: CLOSE (close the connection), SILENT (send nothing more, keep it open), or a threading.Event to wait for.
A connection past the last script stays silent. `RestStub(products, trades, candles)`: GET /products,
/products/<id>/trades (newest first, `after` cursor, CB-AFTER/CB-BEFORE headers) and /products/<id>/candles.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import serve

from bcx.tick import Tick
from bcx_tracker.backfill import TradeBackfiller
from bcx_tracker.exchange import Exchange, ExchangeRest
from bcx_tracker.feed import Feed
from bcx_tracker.replay import ReplayServer

CLOSE, SILENT = "close", "silent"


TIMEOUT = 10.0


def iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}000Z"


def ticker(trade_id: int, product: str = "BTC-USD", base_ms: int = 1_790_000_000_000) -> str:
    return json.dumps(
        {
            "type": "ticker",
            "sequence": 5_000 + trade_id * 3,
            "product_id": product,
            "price": f"{100 + trade_id}.25",
            "best_bid": f"{100 + trade_id}.20",
            "best_ask": f"{100 + trade_id}.30",
            "side": "buy",
            "time": iso(base_ms + trade_id * 1000),
            "trade_id": trade_id,
            "last_size": "0.5",
        }
    )


def heartbeat(last_trade_id: int, product: str = "BTC-USD", base_ms: int = 1_790_000_000_000) -> str:
    data = {"type": "heartbeat", "sequence": 5_000 + last_trade_id * 3, "last_trade_id": last_trade_id}
    return json.dumps({**data, "product_id": product, "time": iso(base_ms + last_trade_id * 1000 + 1)})


class ScriptedFeed:
    def __init__(self, scripts: list[list]):
        self.scripts = scripts
        self.connections = 0
        self.connected_at: list[float] = []
        self.last_sent_at = 0.0
        self.last_sent_on: dict[int, float] = {}  # connection index -> when it last sent
        self.stop_event = threading.Event()
        self._server = serve(self._handle, "127.0.0.1", 0, close_timeout=1)
        self.url = f"ws://127.0.0.1:{self._server.socket.getsockname()[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> ScriptedFeed:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop_event.set()
        self._server.shutdown()
        self._thread.join(timeout=10)

    def _handle(self, conn) -> None:
        index = self.connections
        self.connections += 1
        self.connected_at.append(time.monotonic())
        try:
            request = json.loads(conn.recv(timeout=5))
            names = [c["name"] if isinstance(c, dict) else c for c in request.get("channels", [])]
            channels = [{"name": name, "product_ids": ["BTC-USD"]} for name in names]
            conn.send(json.dumps({"type": "subscriptions", "channels": channels}))
            for step in self.scripts[index] if index < len(self.scripts) else [SILENT]:
                if step == CLOSE:
                    conn.close()
                    return
                if step == SILENT:
                    break
                if isinstance(step, threading.Event):
                    step.wait(30)
                    continue
                conn.send(step)
                self.last_sent_at = self.last_sent_on[index] = time.monotonic()
            self.stop_event.wait(60)
        except (ConnectionClosed, TimeoutError):
            pass


class RestStub:
    def __init__(self, products: list[str], trades: dict[str, list[dict]] | None = None, candles=None):
        self.products = products
        self.trades = trades or {}
        self.candles = candles or (lambda product, start, end: [])
        self.requests: list[str] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                stub.requests.append(self.path)
                status, body, headers = stub.answer(self.path)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> RestStub:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def answer(self, path: str) -> tuple[int, object, dict]:
        parsed = urlparse(path)
        query = {k: v[0] for k, v in parse_qs(parsed.query).items()}
        parts = parsed.path.strip("/").split("/")
        if parts == ["products"]:
            return 200, [{"id": p, "status": "online"} for p in self.products], {}
        if len(parts) != 3 or parts[0] != "products" or parts[1] not in self.products:
            return 404, {"message": "NotFound"}, {}
        if parts[2] == "trades":
            return self._trades(parts[1], query)
        if parts[2] == "candles":
            return 200, self.candles(parts[1], int(query["start"]), int(query["end"])), {}
        return 404, {"message": "NotFound"}, {}

    def _trades(self, product: str, query: dict) -> tuple[int, object, dict]:
        limit = int(query.get("limit", 1000))
        after = int(query["after"]) if "after" in query else None
        older = [t for t in self.trades.get(product, []) if after is None or t["trade_id"] < after]
        page = sorted(older, key=lambda t: -t["trade_id"])[:limit]
        headers = {"CB-BEFORE": str(page[0]["trade_id"]), "CB-AFTER": str(page[-1]["trade_id"])} if page else {}
        return 200, page, headers


def rest_trade(trade_id: int, base_ms: int = 1_790_000_000_000) -> dict:
    """The REST form of ticker(trade_id): same trade, same time and price, no book."""
    return {
        "time": iso(base_ms + trade_id * 1000)[:-4] + "Z",
        "trade_id": trade_id,
        "price": f"{100 + trade_id}.25",
        "size": "0.5",
        "side": "sell",
    }


def wait_for(condition: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def stop(*workers) -> None:
    """Stop tracker workers (feeds, writers) as the Tracker does: all asked first, then each joined."""
    deadline = time.monotonic() + 2
    for worker in workers:
        worker.stop(deadline)
    for worker in workers:
        assert worker.join()


@dataclass
class FeedRun:
    feed: Feed
    received: list[Tick] = field(default_factory=list)
    backfilled: list[Tick] = field(default_factory=list)


@contextmanager
def feed_with_backfill(exchange: Exchange, url: str, rest: ExchangeRest, **options) -> Iterator[FeedRun]:
    """A Feed of `exchange` on `url` (reconnecting after 1 s at most) whose gaps a TradeBackfiller fills from
    `rest`: what each delivers lands in run.received and run.backfilled; both are stopped on the way out."""
    backfilled: list[Tick] = []
    backfiller = TradeBackfiller(rest, backfilled.append).start()
    received: list[Tick] = []
    feed = Feed(exchange, url, received.extend, reconnect_max=1, on_gap=backfiller.add, **options).start()
    try:
        yield FeedRun(feed, received, backfilled)
    finally:
        stop(feed, backfiller)


def replayed_twice_across_a_drop(
    recording, exchange: Exchange, ticks_a_pass: int, **options
) -> tuple[Feed, list, list]:
    """A Feed of `exchange` on bcx-replay playing `recording`; after one pass (`ticks_a_pass` ticks) the server stops,
    dropping the connection, and a new one plays the file again on the same port: the feed reconnects by itself.
    Returns the stopped feed, the ticks it delivered and the gaps it reported."""
    received: list[Tick] = []
    gaps: list = []
    first = ReplayServer(recording, speed=10).start()
    url = first.url_for(exchange.name)
    feed = Feed(exchange, url, received.extend, reconnect_max=0.5, on_gap=gaps.append, **options).start()
    second = None
    try:
        wait_for(lambda: len(received) == ticks_a_pass, "the first pass")
        first.stop()  # closes the connection, and nothing listens for a moment
        second = ReplayServer(recording, port=first.port, speed=10).start()
        wait_for(lambda: len(received) == 2 * ticks_a_pass, "the pass after reconnecting")
    finally:
        stop(feed)
        if second is not None:
            second.stop()
    return feed, received, gaps


def book(ticks: list[Tick], trade_id: int) -> tuple[str | None, str | None]:
    [tick] = [t for t in ticks if t.trade_id == trade_id]
    return tick.bid, tick.ask


class FakeResponse:
    """What a requests.Session.get returns, as far as bcx_tracker.rest reads it."""

    def __init__(self, text: str, status_code: int = 200, headers: dict | None = None):
        self.text, self.status_code, self.headers = text, status_code, headers or {}


class FakeSession:
    """A requests.Session for unit tests of REST clients: answers each GET with the next prepared response (a
    FakeResponse, or a body for a 200) and remembers what was asked."""

    def __init__(self, *responses: FakeResponse | str):
        self.responses = [r if isinstance(r, FakeResponse) else FakeResponse(r) for r in responses]
        self.headers: dict = {}
        self.asked: list[tuple[str, dict]] = []

    def get(self, url, params=None, timeout=None):
        self.asked.append((url, dict(params or {})))
        return self.responses.pop(0)
