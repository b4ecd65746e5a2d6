"""History out: a stored range of ticks or candles as CSV or JSON lines, streamed (`bcx export`, the API's
`/export/<series>`).

Rows are read a round of chunks at a time (bcx.chunks.ChunkedSets.iter_range), oldest first, and encoded batch
by batch, so an export of any length holds one round in memory. Prices, sizes and volumes are the exact strings
stored; times are unix milliseconds. A tick row is `series,time,trade_id,price,bid,ask,size` (bid and ask empty
for a trade backfilled from REST, which came without the book); a candle row is
`series,time,open,high,low,close,volume,count` (count empty for a candle backfilled from REST).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass

import orjson

from bcx.candles import decode_candle
from bcx.chunks import ChunkedSets
from bcx.converters import duration
from bcx.keys import ChunkKeys, SeriesKeys
from bcx.tick import decode_member, iso_to_ms, ms_to_iso

WHATS = ("ticks", "candles:1m", "candles:1h", "candles:1d")
FORMATS = ("csv", "jsonl")  # and parquet, from the command line only (bcx.export_parquet)
TICK_FIELDS = ("series", "time", "trade_id", "price", "bid", "ask", "size")
CANDLE_FIELDS = ("series", "time", "open", "high", "low", "close", "volume", "count")
# 128 chunks of at most 62 entries: ~8,000 rows a round, a few MB at most, and few round trips.
CHUNKS_PER_ROUND = 128
_DIGITS = re.compile(r"[0-9]{1,20}")
MEDIA_TYPES = {"csv": "text/csv", "jsonl": "application/x-ndjson"}


def fields(what: str) -> tuple[str, ...]:
    return TICK_FIELDS if what == "ticks" else CANDLE_FIELDS


def parse_when(text: str, now_ms: int) -> int:
    """Unix milliseconds, an ISO 8601 time (no zone: UTC), or a duration ago (`90d`, `12h`) -> unix ms."""
    value = text.strip()
    if _DIGITS.fullmatch(value):
        return int(value)
    try:
        return now_ms - int(duration(value) * 1000)
    except ValueError:
        pass
    try:
        return iso_to_ms(value)
    except (ValueError, OverflowError):
        raise ValueError(f"{text!r} is neither unix milliseconds, an ISO 8601 time nor a duration ago (90d)") from None


@dataclass(frozen=True)
class Exporter:
    """Reads one series' ticks or candles for export through a store's ChunkedSets (decode_responses=True)."""

    chunks: ChunkedSets
    prefix: str

    def chain(self, series: str, what: str) -> ChunkKeys:
        keys = SeriesKeys(self.prefix, series)
        return keys.ticks if what == "ticks" else keys.candles(what.partition(":")[2])

    def extent(self, series: str, what: str) -> tuple[int, int] | None:
        """(oldest, newest) time stored, None when nothing is."""
        chain = self.chain(series, what)
        oldest, newest = self.chunks.oldest_score(chain), self.chunks.newest_score(chain)
        return None if oldest is None or newest is None else (oldest, newest)

    def count(self, series: str, what: str, start: int, end: int) -> int:
        return self.chunks.count_range(self.chain(series, what), start, end)

    def batches(self, series: str, what: str, start: int, end: int) -> Iterator[list[tuple]]:
        """The rows of [start, end] in time order, a round of chunks at a time."""
        chain = self.chain(series, what)
        if what == "ticks":
            for entries in self.chunks.iter_range(chain, start, end, True, CHUNKS_PER_ROUND):
                # a Tick is a NamedTuple whose first seven fields are the row's
                yield [decode_member(series, member, score)[:7] for member, score in entries]
            return
        for members in self.chunks.iter_range(chain, start, end, False, CHUNKS_PER_ROUND):
            yield [candle_row(series, decode_candle(member)) for member in members]


def candle_row(series: str, candle) -> tuple:
    return (series, candle.time_ms, candle.open, candle.high, candle.low, candle.close, candle.volume, candle.count)


def header(what: str, fmt: str) -> bytes:
    """The CSV header row; nothing for JSON lines (every line names its fields)."""
    return (",".join(fields(what)) + "\r\n").encode() if fmt == "csv" else b""


def encode(what: str, fmt: str, rows: list[tuple]) -> bytes:
    """A batch of rows as CSV (None as an empty field) or as JSON lines (None as null)."""
    if fmt == "csv":
        out = io.StringIO()
        csv.writer(out).writerows(rows)
        return out.getvalue().encode()
    names = fields(what)
    return b"".join(orjson.dumps(dict(zip(names, row, strict=True))) + b"\n" for row in rows)


def coverage_note(series: str, what: str, start: int, end: int, extent: tuple[int, int] | None) -> str | None:
    """What to tell the user when the range asked reaches beyond what is stored; None when it does not."""
    if extent is None:
        return f"no {what} of {series} are stored: the export is empty"
    oldest, newest = extent
    if start >= oldest and end <= newest:
        return None
    return (
        f"{what} of {series} are stored from {ms_to_iso(oldest)} to {ms_to_iso(newest)} only: exported what exists "
        f"of {ms_to_iso(start)} .. {ms_to_iso(end)}"
    )


def filename(series: str, what: str, start: int, end: int, fmt: str) -> str:
    """`coinbase_BTC-USD_ticks_<start>_<end>.csv`: no colon, which some file systems refuse."""
    return f"{series.replace(':', '_')}_{what.replace(':', '-')}_{start}_{end}.{fmt}"
