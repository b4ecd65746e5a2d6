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
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from bcx_tracker.coinbase import Heartbeat, MalformedMessage, TickEvent, parse_message

log = logging.getLogger(__name__)

FLUSH_EVERY = 1.0


def open_lines(path: str | Path, mode: str) -> IO[str]:
    """A text file for JSON lines, gzip-compressed when the name ends in .gz (used by recorder and replay)."""
    if str(path).endswith(".gz"):
        return gzip.open(path, mode + "t", encoding="utf-8")
    return open(path, mode, encoding="utf-8")


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

    def write(self, raw: str | bytes, now: float) -> None:
        if isinstance(raw, bytes):
            raw = raw.decode("utf-8", errors="replace")
        # Outside JSON strings a newline is just whitespace and inside them it must be escaped, so replacing
        # it keeps one message per line without changing what the message says.
        line = raw.replace("\r", " ").replace("\n", " ") + "\n"
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
class Entry:
    """One playable line of a recording: a ticker or a heartbeat, with what the replay server needs to know."""

    raw: str
    channel: str  # "ticker" or "heartbeat", the channel that carries it
    product: str
    time_ms: int
    trade_id: int  # the ticker's trade_id, the heartbeat's last_trade_id
    sequence: int | None


@dataclass(frozen=True)
class RecordingInfo:
    products: frozenset[str]
    count: int
    first_ms: int
    last_ms: int
    trade_ids: tuple[int, int]  # lowest, highest
    sequences: tuple[int, int]


def read_entries(path: str | Path) -> Iterator[Entry]:
    """The playable lines of a recording in file order; other messages (subscriptions, errors, unknown types)
    are skipped, and so are malformed lines, with one log line saying how many."""
    bad = 0
    with open_lines(path, "r") as lines:
        for raw in lines:
            raw = raw.strip()
            if not raw:
                continue
            try:
                message = parse_message(raw)
            except MalformedMessage:
                bad += 1
                continue
            if isinstance(message, TickEvent):
                t = message.tick
                yield Entry(raw, "ticker", t.product, t.time_ms, t.trade_id, t.sequence)
            elif isinstance(message, Heartbeat):
                yield Entry(raw, "heartbeat", message.product, message.time_ms, message.last_trade_id, message.sequence)
    if bad:
        log.warning("%s: skipped %d malformed lines", path, bad)


def scan_recording(path: str | Path) -> RecordingInfo:
    """One pass over a recording; raises ValueError when it holds nothing to play."""
    products: set[str] = set()
    count, first, last = 0, None, None
    trades, sequences = [2**63, 0], [2**63, 0]
    for entry in read_entries(path):
        products.add(entry.product)
        count += 1
        first = entry.time_ms if first is None else min(first, entry.time_ms)
        last = entry.time_ms if last is None else max(last, entry.time_ms)
        trades = [min(trades[0], entry.trade_id), max(trades[1], entry.trade_id)]
        if entry.sequence is not None:
            sequences = [min(sequences[0], entry.sequence), max(sequences[1], entry.sequence)]
    if not count:
        raise ValueError(f"{path}: no ticker or heartbeat messages to play")
    if sequences[0] > sequences[1]:
        sequences = [0, 0]
    return RecordingInfo(frozenset(products), count, first, last, tuple(trades), tuple(sequences))
