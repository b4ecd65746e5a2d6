"""`bcx backfill` against local REST stubs of Coinbase and Kraken (real HTTP servers on 127.0.0.1) that page
trades as the exchanges do (Coinbase down by id with CB-AFTER, Kraken up by `since` ns with `last`, 1000 a page)
and answer scripted faults: a 429 with Retry-After, then an error page that stops the run halfway; the same
command resumes from the cursor kept in Redis and stores every trade once."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from bcx import cli
from bcx.candles import Candle, CandleStore
from bcx.keys import SeriesKeys
from bcx.store import TickStore
from bcx.tick import iso_us
from bcx_tracker.rest import RestClient

PAGE = 1000
SINCE_S = 2 * 3600


@pytest.fixture(autouse=True)
def _quiet_logging(quiet_logging):
    """Every test here runs a command in process."""


def trade_times(now_ms: int) -> list[int]:
    """2,500 trades inside the last two hours (none within a minute of its start) and 300 older ones."""
    inside = [now_ms - SINCE_S * 1000 + 60_000 + i * 2_500 for i in range(2_500)]
    older = [now_ms - SINCE_S * 1000 - 60_000 - i * 1_000 for i in range(300)]
    return sorted(older + inside)


class Stub:
    """A REST server on 127.0.0.1 answering `faults[n]` = (status, headers, body) to its n-th trades request (1-based)
    instead of the page; every trades query kept in `queries`."""

    def __init__(self, faults: dict[int, tuple[int, dict, object]] | None = None):
        self.now_ms = time.time_ns() // 1_000_000
        self.times = trade_times(self.now_ms)  # trade id i + 1 at times[i]
        self.faults = faults or {}
        self.queries: list[dict] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                url = urlparse(self.path)
                query = {key: values[0] for key, values in parse_qs(url.query).items()}
                status, headers, body = stub.answer(url.path, query)
                data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(status)
                for key, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def answer(self, path: str, query: dict) -> tuple[int, dict, object]:
        if not path.endswith("/trades") and not path.endswith("/Trades"):
            return 404, {}, {"message": "NotFound"}
        self.queries.append(query)
        if len(self.queries) in self.faults:
            return self.faults[len(self.queries)]
        return self.page(query)

    def expected(self, since_ms: int) -> set[int]:
        return {i + 1 for i, t in enumerate(self.times) if t >= since_ms}

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


class CoinbaseStub(Stub):
    def page(self, query: dict) -> tuple[int, dict, object]:
        after = int(query["after"]) if "after" in query else len(self.times) + 1
        ids = list(range(after - 1, max(after - 1 - min(int(query["limit"]), PAGE), 0), -1))
        rows = [
            {"time": iso_us(self.times[i - 1] * 1000), "trade_id": i, "price": f"{i}.10", "size": "0.0100", "side": "b"}
            for i in ids
        ]
        return 200, ({"CB-AFTER": str(ids[-1]), "CB-BEFORE": str(ids[0])} if ids else {}), rows


class KrakenStub(Stub):
    def page(self, query: dict) -> tuple[int, dict, object]:
        since = int(query["since"])
        found = [(t * 1_000_000, i + 1) for i, t in enumerate(self.times) if t * 1_000_000 > since][
            : int(query["count"])
        ]
        rows = ",".join(f'["{i}.1","0.0100",{ns // 10**9}.{ns % 10**9 // 100:07d},"b","l","",{i}]' for ns, i in found)
        last = found[-1][0] if found else since
        return 200, {}, f'{{"error":[],"result":{{"XXBTZUSD":[{rows}],"last":"{last}"}}}}'


def config(tmp_path, redis_section: str, exchange: str, url: str):
    path = tmp_path / "bcx.conf"
    path.write_text(
        f"{redis_section}\n[tracker]\nproducts = {exchange}:BTC-USD\n\n[exchange:{exchange}]\nrest_url = {url}\n"
    )
    return str(path)


def stored_ids(redis_conn, series: str) -> list[int]:
    return [t.trade_id for t in TickStore(redis_conn, "bcx").range(series, 0, 2**53)]


THROTTLED = (429, {"Retry-After": "1"}, {"message": "Public rate limit exceeded"})


@pytest.mark.parametrize(
    "exchange, stub_class, broken",
    [
        ("coinbase", CoinbaseStub, (500, {}, {"message": "Internal server error"})),
        ("kraken", KrakenStub, (503, {}, {"error": ["EService:Unavailable"]})),
    ],
)
def test_a_backfill_waits_out_a_429_stops_at_an_error_page_and_resumes(
    tmp_path, redis_section, redis_conn, capsys, exchange, stub_class, broken
):
    series = f"{exchange}:BTC-USD"
    with stub_class({1: THROTTLED, 3: broken}) as stub:
        path = config(tmp_path, redis_section, exchange, stub.url)
        assert cli.main(["backfill", series, "--since", "2h", "--config", path]) == 1
        err = capsys.readouterr().err
        assert "stopped at" in err and "run the same command again" in err
        assert stub.queries[0] == stub.queries[1]  # the throttled request, asked again after waiting
        first_run = stored_ids(redis_conn, series)
        assert len(first_run) == PAGE  # the page before the error is stored
        walk = redis_conn.hgetall(SeriesKeys("bcx", series).backfill)
        assert walk["done"] == "0" and walk["cursor"]

        assert cli.main(["backfill", series, "--since", "2h", "--config", path]) == 0
        assert "resuming" in capsys.readouterr().err
        cursor_key = "after" if exchange == "coinbase" else "since"
        assert stub.queries[3][cursor_key] == walk["cursor"]  # on from where it stopped, not from the top
        since_ms = int(walk["since_ms"])
        ids = stored_ids(redis_conn, series)
        assert sorted(ids) == sorted(set(ids)) == sorted(stub.expected(since_ms))
        assert redis_conn.get(SeriesKeys("bcx", series).ticks.written) is not None  # the watcher rolls them up

        # done: the next run walks again, and the trades it finds again are stored once
        assert cli.main(["backfill", series, "--since", "2h", "--config", path]) == 0
        assert sorted(stored_ids(redis_conn, series)) == sorted(ids)


def test_a_429_waits_as_long_as_retry_after_says():
    slept = []
    with CoinbaseStub({1: (429, {"Retry-After": "7"}, {"message": "slow down"})}) as stub:
        client = RestClient(stub.url, sleep=slept.append)
        page, cursor = client.trades("coinbase:BTC-USD")
    assert 7.0 in slept and len(page) == PAGE and cursor is not None


def test_candles_when_asked_and_not_supported_where_the_exchange_has_none(tmp_path, redis_section, redis_conn, capsys):
    with KrakenStub() as stub:
        path = config(tmp_path, redis_section, "kraken", stub.url)
        assert cli.main(["backfill", "kraken:BTC-USD", "--what", "candles", "--config", path]) == 2
    assert "use --what trades" in capsys.readouterr().err
    rows = {}

    def candle_rows(path: str, query: dict):
        start, end = int(query["start"]), int(query["end"])
        found = [[t, "1.00", "3.00", "2.00", "2.50", "10.5"] for t in range(start - start % 60, end + 1, 60)]
        rows.update((r[0], r) for r in found)
        return 200, {}, found

    with CoinbaseStub() as stub:
        stub.answer = lambda path, query: candle_rows(path, query) if path.endswith("/candles") else (404, {}, {})
        path = config(tmp_path, redis_section, "coinbase", stub.url)
        assert cli.main(["backfill", "BTC-USD", "--since", "12h", "--what", "candles", "--config", path]) == 0
    stored = CandleStore(redis_conn, "bcx").range("coinbase:BTC-USD", "1m", 0, 2**53)
    assert len(stored) >= 12 * 60 - 1 and {c.time_ms // 1000 for c in stored} <= set(rows)
    assert stored[0] == Candle(stored[0].time_ms, "2.00", "3.00", "1.00", "2.50", "10.5", None)
