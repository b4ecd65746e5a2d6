"""The pure parts of history in and out: times and notes of an export, its encodings, Retry-After, the backfill's
walk and resume, each exchange's trades_since paging, and the importer's lazy adapters and stops."""

from __future__ import annotations

import json

import pytest

from bcx import export
from bcx.tick import Tick, encode_entries, iso_to_ms
from bcx_tracker import history_backfill as hb
from bcx_tracker.binance import Binance
from bcx_tracker.bitfinex import Bitfinex
from bcx_tracker.coinbase import Coinbase
from bcx_tracker.exchange import ExchangeRest, TradesNotPaged, TradesPage
from bcx_tracker.importer import (
    TOLD_PRODUCTS,
    ImportResult,
    LineImporter,
    NumberedLines,
    Parsers,
    read_alone,
    recorded_products,
    stream_key,
)
from bcx_tracker.kraken import Kraken
from bcx_tracker.kraken_rest import TRADES_PER_PAGE, KrakenRest
from bcx_tracker.rest import RestClient
from bcx_tracker.sample import recording_lines
from bcx_tracker.tick_checks import TickChecks

NOW = 1_790_000_000_000
LATER = iso_to_ms("2027-01-01")  # the import's clock: after every sample recording
PROTOCOLS = {"coinbase": "coinbase-exchange", "kraken": "kraken", "binance": "binance", "bitfinex": "bitfinex"}


def import_lines(lines, parsers: Parsers, write, now_ms: int) -> ImportResult:
    """What a worker of `bcx import` does with its lines (bcx_tracker.import_workers), in this process."""
    importer = LineImporter(parsers, write, TickChecks(now_ms))
    numbered = NumberedLines(lines)
    importer.take(numbered)
    result = importer.finish()
    result.lines, result.stopped = numbered.count, numbered.stopped
    return result


def no_first_pass(exchanges):
    raise AssertionError(f"a first pass over the file for {sorted(exchanges)}")


def COINBASE_PARSERS() -> Parsers:  # noqa: N802 (reads as the constant it stands for)
    return Parsers(PROTOCOLS, no_first_pass)  # Coinbase's adapter reads any product from the frame alone


def tick(trade_id: int, time_ms: int, bid: str | None = None) -> Tick:
    return Tick("coinbase:BTC-USD", time_ms, trade_id, "100.10", bid, "100.20" if bid else None, "0.50")


@pytest.mark.parametrize(
    "text, expected",
    [("1700000000000", 1_700_000_000_000), ("90d", NOW - 90 * 86_400_000), ("2026-11-01", iso_to_ms("2026-11-01"))],
)
def test_when_is_unix_ms_a_duration_ago_or_iso(text, expected):
    assert export.parse_when(text, NOW) == expected


def test_when_refuses_nonsense():
    with pytest.raises(ValueError, match="duration ago"):
        export.parse_when("yesterday", NOW)


def test_coverage_note_only_when_the_range_reaches_beyond_what_is_stored():
    assert export.coverage_note("s", "ticks", 10, 20, (5, 25)) is None
    assert "exported what exists" in export.coverage_note("s", "ticks", 0, 20, (5, 25))
    assert "no ticks of s are stored" in export.coverage_note("s", "ticks", 0, 20, None)


def test_csv_and_json_lines_keep_exact_strings_and_empty_books():
    rows = [tick(1, NOW)[:7], tick(2, NOW, "100.00")[:7]]
    assert export.header("ticks", "csv") == b"series,time,trade_id,price,bid,ask,size\r\n"
    assert export.encode("ticks", "csv", rows).decode().splitlines() == [
        f"coinbase:BTC-USD,{NOW},1,100.10,,,0.50",
        f"coinbase:BTC-USD,{NOW},2,100.10,100.00,100.20,0.50",
    ]
    first = json.loads(export.encode("ticks", "jsonl", rows).splitlines()[0])
    assert first == {"series": "coinbase:BTC-USD", "time": NOW, "trade_id": 1, "price": "100.10", "bid": None,
                     "ask": None, "size": "0.50"}  # fmt: skip
    assert export.filename("kraken:BTC-USD", "candles:1m", 1, 2, "csv") == "kraken_BTC-USD_candles-1m_1_2.csv"


def test_a_walk_covers_the_span_of_its_trades_and_resumes_only_unfinished():
    walk = hb.Walk(hb.TRADES, NOW - 1000, NOW)
    walk.took([tick(5, NOW - 10), tick(4, NOW - 300)], "4")
    walk.took([tick(3, NOW - 900)], None)
    assert (walk.covered_ms, walk.count, walk.done, walk.cursor) == (890, 3, True, "")
    assert hb.resume(walk, hb.TRADES, NOW, NOW + 5) == (hb.Walk(hb.TRADES, NOW, NOW + 5), False)
    unfinished = hb.Walk(hb.TRADES, NOW - 1000, NOW, cursor="4", count=2)
    assert hb.resume(unfinished, hb.TRADES, NOW, NOW + 5) == (unfinished, True)
    assert hb.resume(unfinished, hb.CANDLES, NOW, NOW + 5)[1] is False


def test_an_exchange_without_trade_pages_says_so():
    class Bare(ExchangeRest):
        def fetch_gap(self, gap, stopping):
            return []

    with pytest.raises(TradesNotPaged, match="use --what candles"):
        Bare().trades_since("binance:BTC-USDT", NOW)


def test_coinbase_pages_down_until_a_trade_before_since():
    pages = {None: ([tick(9, NOW), tick(8, NOW - 50)], 8), 8: ([tick(7, NOW - 90), tick(6, NOW - 200)], 6)}
    rest = RestClient("http://127.0.0.1:1")
    rest.trades = lambda series, after=None: pages[after]
    first = rest.trades_since("coinbase:BTC-USD", NOW - 100)
    assert first == ([tick(9, NOW), tick(8, NOW - 50)], "8")
    last = rest.trades_since("coinbase:BTC-USD", NOW - 100, first.cursor)
    assert last == ([tick(7, NOW - 90)], None)


def test_kraken_pages_up_until_a_short_page():
    rest = KrakenRest("http://127.0.0.1:1")
    full = [tick(i, NOW + i) for i in range(TRADES_PER_PAGE)]
    since, last = (NOW - 5) * 1_000_000, (NOW + 999) * 1_000_000
    answers = {since: (full, last), last: (full[:3], last + 5)}
    rest.trades_page = lambda series, since: answers[since]
    first = rest.trades_since("kraken:BTC-USD", NOW - 5)
    assert first.cursor == str(last) and len(first.ticks) == TRADES_PER_PAGE
    assert rest.trades_since("kraken:BTC-USD", NOW - 5, str(last)) == (full[:3], None)


def test_the_first_pass_finds_the_products_of_the_exchanges_that_need_them_and_the_second_parses_all(tmp_path):
    path = tmp_path / "four.jsonl"
    path.write_text("\n".join(recording_lines(seed=3, hours=0.02)) + "\n")
    asked = []

    def first_pass(exchanges):
        asked.append(sorted(exchanges))
        return recorded_products(path, exchanges)

    parsers = Parsers(PROTOCOLS, first_pass)
    series = set()
    for line in path.read_text().splitlines():
        series |= {m.tick.product for m in parsers.parse(line) if hasattr(m, "tick")}
    assert asked == [["binance", "bitfinex", "kraken"]]  # once, and not for Coinbase
    assert series == {
        *(f"coinbase:{p}" for p in ["BTC-USD", "ETH-USD", "SOL-USD"]),
        *(f"kraken:{p}" for p in ["BTC-USD", "ETH-USD"]),
        *(f"binance:{p}" for p in ["BTC-USDT", "ETH-USDT"]),
        *(f"bitfinex:{p}" for p in ["BTC-USD", "ETH-USD"]),
    }


def test_coinbase_lines_need_no_first_pass_and_a_product_appearing_late_is_parsed(tmp_path):
    lines = list(recording_lines(seed=3, hours=0.02, exchanges=["coinbase"]))
    late = [line for line in lines if '"SOL-USD"' not in line] + [line for line in lines if '"SOL-USD"' in line]
    result = import_lines(late, COINBASE_PARSERS(), len, LATER)
    everything = import_lines(lines, COINBASE_PARSERS(), len, LATER)
    assert result.bad == 0 and result.ticks == everything.ticks > 0


def test_only_adapters_that_read_a_frame_alone_parse_any_product():
    assert [kind.for_any_product() for kind in (Kraken, Binance, Bitfinex)] == [None, None, None]
    frame = json.dumps({"type": "ticker", "product_id": "DOGE-EUR", "price": "0.1", "best_bid": "0.09",
                        "best_ask": "0.11", "last_size": "5", "trade_id": 7, "sequence": 9,
                        "time": "2026-11-30T07:00:00.123456Z"})  # fmt: skip
    (event,) = Coinbase.for_any_product().parse(frame)
    assert event.tick == Tick("coinbase:DOGE-EUR", iso_to_ms("2026-11-30T07:00:00.123Z"), 7, "0.1", "0.09", "0.11",
                              "5", 9)  # fmt: skip


def test_an_unreadable_file_stops_the_import_at_its_line_and_keeps_what_came_before():
    lines = list(recording_lines(seed=3, hours=0.02, exchanges=["coinbase"]))[:50]

    def numbered():
        yield from lines
        raise EOFError("Compressed file ended before the end-of-stream marker was reached")

    batches = []

    def write(ticks):
        batches.append(ticks)
        return len(ticks)

    result = import_lines(numbered(), COINBASE_PARSERS(), write, LATER)
    assert result.stopped == (51, "Compressed file ended before the end-of-stream marker was reached")
    assert sum(map(len, batches)) == result.ticks == result.new > 0 and result.lines == 50


def test_a_bad_line_is_skipped_and_named():
    lines = ["not json", "bitstamp {}", *list(recording_lines(seed=3, hours=0.01, exchanges=["coinbase"]))[:20]]
    result = import_lines(lines, COINBASE_PARSERS(), len, LATER)
    assert (result.bad, result.bad_lines, result.stopped) == (2, [1, 2], None) and result.ticks > 0


def test_lines_are_dealt_by_product_where_frames_are_read_alone_and_by_exchange_elsewhere():
    kinds = read_alone(PROTOCOLS)
    assert kinds == {"coinbase": Coinbase}
    lines = list(recording_lines(seed=3, hours=0.01))
    keys = {stream_key(line, kinds) for line in lines}
    # the exchanges told their products go together: one process, one first pass over the file for them all
    assert keys == {"coinbase:BTC-USD", "coinbase:ETH-USD", "coinbase:SOL-USD", TOLD_PRODUCTS}
    assert stream_key('{"type":"subscriptions","channels":[]}', kinds) == "coinbase"  # names no product
    assert stream_key('{"type": "ticker", "product_id": "ETH-USD"}', kinds) == "coinbase:ETH-USD"  # spaced JSON
    assert stream_key('kraken {"channel":"ticker","product_id":"BTC-USD"}', kinds) == TOLD_PRODUCTS
    advanced = read_alone({"coinbase": "coinbase-advanced"})  # a frame may carry tickers of several products
    line = '{"channel":"ticker","events":[{"tickers":[{"product_id":"BTC-USD"},{"product_id":"ETH-USD"}]}]}'
    assert stream_key(line, advanced) == "coinbase"


def test_workers_results_add_up_and_keep_the_first_bad_lines():
    parts = [ImportResult(lines=0, ticks=5, new=3, stale=1, bad=7, bad_lines=[2, 4, 9, 11, 30, 31, 32])]
    parts.append(ImportResult(ticks=2, new=2, bad=5, bad_lines=[1, 3, 5, 40, 41]))
    total = ImportResult.merged(parts)
    assert (total.ticks, total.new, total.stale, total.bad) == (7, 5, 1, 12)
    assert total.bad_lines == [1, 2, 3, 4, 5, 9, 11, 30, 31, 32]


def test_a_tick_the_tracker_would_refuse_makes_its_line_malformed_and_costs_no_other():
    lines = [line for line in recording_lines(seed=3, hours=0.01, exchanges=["coinbase"]) if '"ticker"' in line]
    huge, future = json.loads(lines[3]), json.loads(lines[7])
    huge["price"] = "9" * 5000  # more digits than int() takes: encoding it would fail its whole batch
    future["time"] = "2027-01-02T00:00:00.000000Z"  # a day ahead of the import's clock
    lines[3], lines[7] = json.dumps(huge), json.dumps(future)
    written = []
    result = import_lines(lines, COINBASE_PARSERS(), lambda ticks: written.extend(ticks) or len(ticks), LATER)
    assert (result.bad, result.bad_lines) == (2, [4, 8])
    assert len(written) == result.ticks == result.new == len(lines) - 2 - result.stale > 0
    encode_entries(written)  # what is written can be stored


def test_a_backfilled_trade_the_tracker_would_refuse_is_counted_and_not_written():
    good, huge, future = tick(1, NOW - 50), tick(2, NOW - 40)._replace(price="9" * 5000), tick(3, NOW + 86_400_000)
    rest = RestClient("http://127.0.0.1:1")
    rest.trades_since = lambda series, since_ms, cursor=None: TradesPage([good, huge, future], None)
    written = []

    class Store:
        def add(self, ticks):
            written.extend(ticks)
            return len(ticks)

    walk = hb.Walk(hb.TRADES, NOW - 1000, NOW)
    assert hb.trades_step(rest, Store(), "coinbase:BTC-USD", 5000, clock=lambda: NOW / 1000)(walk) == 1
    assert (written, walk.count, walk.refused, walk.done) == ([good], 1, 2, True)
