"""Recordings of the raw feed, one message per line (JSON lines): written by the tracker, played by bcx-replay.

A name ending in `.gz` is written gzip-compressed (appending adds a gzip member, which readers handle).
Lines are flushed at most once a second, so recording costs little at high message rates and a crash loses at
most about a second of the recording. Past `max_bytes` of messages (uncompressed) the file is rotated:
`feed.jsonl` becomes `feed.jsonl.1` (`feed.jsonl.gz` becomes `feed.jsonl.1.gz`), older ones shift up, and
the `keep`-th goes.
"""

from __future__ import annotations

import gzip
import logging
from array import array
from collections.abc import Callable, Container, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from bcx.series import DEFAULT_EXCHANGE
from bcx_tracker.exchange import Entry, MalformedMessage

log = logging.getLogger(__name__)

FLUSH_EVERY = 1.0


def open_lines(path: str | Path, mode: str) -> IO[str]:
    """A text file for JSON lines, gzip-compressed when the name ends in .gz (used by recorder and replay)."""
    if str(path).endswith(".gz"):
        return gzip.open(path, mode + "t", encoding="utf-8")
    return open(path, mode, encoding="utf-8")


def recording_line(exchange: str, raw: str) -> str:
    """A frame as a recording line: `EXCHANGE FRAME`, except a Coinbase frame, which stays the bare JSON that
    recordings made before there were several exchanges hold."""
    return raw if exchange == DEFAULT_EXCHANGE else f"{exchange} {raw}"


def split_line(line: str) -> tuple[str, str]:
    """A recording line -> (exchange, raw frame)."""
    if line.startswith("{"):
        return DEFAULT_EXCHANGE, line
    exchange, _, raw = line.partition(" ")
    return exchange, raw


DEFAULT_MAX_BYTES = 64 * 1024**2
DEFAULT_KEEP = 5


def rotated_name(path: str, number: int) -> str:
    """The name of the `number`-th older file: the number goes before a `.gz` so readers still see gzip."""
    if path.endswith(".gz"):
        return f"{path[:-3]}.{number}.gz"
    return f"{path}.{number}"


def rotate(path: str, keep: int) -> None:
    """path -> path.1, path.1 -> path.2, ...; the file past `keep` older ones is removed."""
    Path(rotated_name(path, keep)).unlink(missing_ok=True)
    for number in range(keep - 1, 0, -1):
        older = Path(rotated_name(path, number))
        if older.exists():
            older.rename(rotated_name(path, number + 1))
    if keep > 0 and Path(path).exists():
        Path(path).rename(rotated_name(path, 1))


class Recorder:
    def __init__(self, path: str | Path, max_bytes: int = DEFAULT_MAX_BYTES, keep: int = DEFAULT_KEEP):
        self.path = str(path)
        self.max_bytes = max_bytes
        self.keep = keep
        self.lines = 0
        self._file = open_lines(path, "a")
        self._bytes = Path(self.path).stat().st_size
        self._flushed_at: float | None = None
        log.info("recording the raw feed to %s (rotated every %d bytes, %d kept)", self.path, max_bytes, keep)

    def write(self, raw: str | bytes, now: float, exchange: str = DEFAULT_EXCHANGE) -> None:
        if isinstance(raw, bytes):
            raw = raw.decode("utf-8", errors="replace")
        # Outside JSON strings a newline is just whitespace and inside them it must be escaped, so replacing
        # it keeps one message per line without changing what the message says.
        line = recording_line(exchange, raw.replace("\r", " ").replace("\n", " ")) + "\n"
        if self._bytes and self._bytes + len(line) > self.max_bytes:
            self._rotate()
        self._file.write(line)
        self._bytes += len(line)
        self.lines += 1
        self.maybe_flush(now)

    def _rotate(self) -> None:
        self._file.close()
        rotate(self.path, self.keep)
        self._file = open_lines(self.path, "a")
        self._bytes = 0
        log.info("rotated the recording %s", self.path)

    def maybe_flush(self, now: float) -> None:
        if self._flushed_at is None or now - self._flushed_at >= FLUSH_EVERY:
            self._file.flush()
            self._flushed_at = now

    def close(self) -> None:
        self._file.close()
        log.info("recorded %d messages to %s", self.lines, self.path)


@dataclass(frozen=True)
class RecordingInfo:
    products: frozenset[str]
    count: int
    first_ms: int
    last_ms: int
    trade_ids: tuple[int, int]  # lowest, highest
    sequences: tuple[int, int]
    # exchange -> highest - lowest + 1 of its trade ids: how far one more pass of a looping replay moves them
    trade_id_spans: dict[str, int] = field(default_factory=dict)
    index: RecordingIndex = field(default_factory=lambda: RecordingIndex(), compare=False, repr=False)


_CHANNELS = (
    "",
    "ticker",
    "heartbeat",
    "trade",
    "aggTrade",
    "bookTicker",
    "trades",
)  # RecordingIndex.kinds: 0: not played
_NO_SEQUENCE = -1
_NOT_PLAYED = Entry("", "", "", 0, 0, None)  # channel "": kind 0


class RecordingIndex:
    """What the replay needs of each line of a recording, taken in one parse at the start and kept in arrays
    (27 bytes a line): played again, the lines are not parsed again, so `bcx-replay --speed max` sends several
    times faster than it could parse them. Assumes the file does not change while it is played."""

    def __init__(self) -> None:
        self.kinds = array("b")
        self.products: list[str] = []
        self._numbers: dict[str, int] = {}
        self.product_of = array("H")
        self.times = array("q")
        self.trade_ids = array("q")
        self.sequences = array("q")

    def add(self, entry: Entry | None) -> None:
        """The next line's fields; None for a line that is not played."""
        entry = entry or _NOT_PLAYED
        self.kinds.append(_CHANNELS.index(entry.channel))
        if entry.product not in self._numbers:
            self._numbers[entry.product] = len(self.products)
            self.products.append(entry.product)
        self.product_of.append(self._numbers[entry.product])
        self.times.append(entry.time_ms)
        self.trade_ids.append(entry.trade_id)
        self.sequences.append(_NO_SEQUENCE if entry.sequence is None else entry.sequence)

    def entries(self, path: str | Path) -> Iterator[Entry]:
        """read_entries(path) without parsing: each line's fields come from the index."""
        kinds, products, product_of = self.kinds, self.products, self.product_of
        times, trade_ids, sequences = self.times, self.trade_ids, self.sequences
        for number, line in zip(range(len(kinds)), _lines(path), strict=False):
            kind = kinds[number]
            if kind:
                raw = line if line[0] == "{" else split_line(line)[1]
                sequence = sequences[number]
                yield Entry(
                    raw,
                    _CHANNELS[kind],
                    products[product_of[number]],
                    times[number],
                    trade_ids[number],
                    None if sequence == _NO_SEQUENCE else sequence,
                )


def _lines(path: str | Path) -> Iterator[str]:
    """The non-blank lines of a recording, stripped."""
    with open_lines(path, "r") as lines:
        for raw in lines:
            raw = raw.strip()
            if raw:
                yield raw


def _entry(line: str, readers: dict[str, Callable[[str], Entry | None]]) -> Entry | None:
    """A line as an Entry (its frame without the exchange's name); None for a message that is not played;
    MalformedMessage for a malformed line or an exchange this version does not know. `readers`: entry_readers() of
    this pass over the file (a reader may keep what earlier lines said)."""
    exchange, raw = split_line(line)
    reader = readers.get(exchange)
    if reader is None:
        raise MalformedMessage(f"a recording line of an unknown exchange {exchange!r}")
    return reader(raw)


def _readers() -> dict[str, Callable[[str], Entry | None]]:
    from bcx_tracker.exchanges import entry_readers  # the adapters import this module's Entry users

    return entry_readers()


def read_entries(path: str | Path, exchanges: Container[str] | None = None) -> Iterator[Entry]:
    """The playable lines of a recording in file order; other messages (subscriptions, errors, unknown types)
    and malformed lines are skipped, and so are the lines of exchanges not in `exchanges` (None: every one)."""
    readers = _readers()
    if exchanges is not None:
        readers = {name: reader for name, reader in readers.items() if name in exchanges}
    for raw in _lines(path):
        try:
            entry = _entry(raw, readers)
        except MalformedMessage:
            continue
        if entry is not None:
            yield entry


def scan_recording(path: str | Path) -> RecordingInfo:
    """One pass over a recording, which also builds its RecordingIndex; raises ValueError when it holds nothing
    to play. Malformed lines are logged (how many) and will be skipped."""
    products: set[str] = set()
    count, bad, first, last = 0, 0, None, None
    trades, sequences = [2**63, 0], [2**63, 0]
    ranges: dict[str, tuple[int, int]] = {}
    index = RecordingIndex()
    readers = _readers()
    for raw in _lines(path):
        try:
            entry = _entry(raw, readers)
        except MalformedMessage:
            entry, bad = None, bad + 1
        index.add(entry)
        if entry is None:
            continue
        products.add(entry.product)
        count += 1
        if entry.time_ms:  # 0: no time of its own (played with the line before it), not the recording's start
            first = entry.time_ms if first is None else min(first, entry.time_ms)
            last = entry.time_ms if last is None else max(last, entry.time_ms)
        if entry.trade_id:  # 0: an entry without one (a Kraken ticker), which must not stretch a loop's id shift
            lowest = entry.first_trade_id or entry.trade_id
            trades = [min(trades[0], lowest), max(trades[1], entry.trade_id)]
            exchange = entry.product.partition(":")[0]
            low, high = ranges.get(exchange, (lowest, entry.trade_id))
            ranges[exchange] = (min(low, lowest), max(high, entry.trade_id))
        if entry.sequence is not None:
            sequences = [min(sequences[0], entry.sequence), max(sequences[1], entry.sequence)]
    if bad:
        log.warning("%s: %d malformed lines will be skipped", path, bad)
    if not count or first is None:
        raise ValueError(f"{path}: no ticker or heartbeat messages to play")
    if sequences[0] > sequences[1]:
        sequences = [0, 0]
    if trades[0] > trades[1]:
        trades = [0, 0]
    spans = {exchange: high - low + 1 for exchange, (low, high) in ranges.items()}
    return RecordingInfo(frozenset(products), count, first, last, tuple(trades), tuple(sequences), spans, index)
