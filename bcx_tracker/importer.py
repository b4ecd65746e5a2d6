"""`bcx import`: a recording made by `--record` loaded straight into Redis, no websocket, no replay in real time.

Each line goes through its exchange's adapter (`ADAPTERS[config protocol]`, as in the tracker) and the tracker's
stale-tick filter, and the ticks into TickStore.add in batches (one trade, one entry: importing a file twice
stores every trade once). Adapters need the products they record; a recording says which only line by line, so
each exchange's adapter is made on its first line and made again with one more product when a line of a product
it does not know comes (the replay's entry reader names it). Remade, it forgets the book it had seen: the first
trade after a new product appears may lack bid and ask, as after a reconnect.

A line that is not a valid frame is skipped and its number reported; a file that cannot be read further (a
truncated gzip, bytes that are not UTF-8) stops the import there: every whole line before it is stored, and the
line number said.
"""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bcx.tick import Tick
from bcx_tracker.exchange import Exchange, MalformedMessage, Message, TickEvent, Unconfigured
from bcx_tracker.exchanges import ADAPTERS, entry_readers
from bcx_tracker.gaps import SequenceFilter
from bcx_tracker.recorder import split_line

BATCH = 5000
MAX_BAD_REPORTED = 10


@dataclass
class ImportResult:
    lines: int = 0
    ticks: int = 0
    new: int = 0
    stale: int = 0
    bad_lines: list[int] = field(default_factory=list)  # the first MAX_BAD_REPORTED
    bad: int = 0
    stopped: tuple[int, str] | None = None  # (line number, why) when the file could not be read to its end

    def malformed(self, number: int, exc: MalformedMessage) -> list[Message]:
        """Count a bad line; what its good items parsed into (a batch with one broken item)."""
        self.bad += 1
        if len(self.bad_lines) < MAX_BAD_REPORTED:
            self.bad_lines.append(number)
        return exc.events


class Parsers:
    """Each exchange's adapter for the lines of one recording, made lazily (see the module's docstring)."""

    def __init__(self, protocols: Mapping[str, str]):
        self.protocols = protocols  # exchange name -> adapter protocol (the config's)
        self.adapters: dict[str, Exchange] = {}

    def parse(self, line: str) -> list[Message]:
        """A recording line's events; MalformedMessage for a bad line or an exchange this version does not know."""
        exchange, raw = split_line(line)
        adapter = self.adapters.get(exchange)
        messages = adapter.parse(raw) if adapter is not None else None
        if messages is not None:
            for message in messages:
                if type(message) is Unconfigured:
                    break
            else:  # no generator expression: this runs once a line
                return messages
        product = self._product(exchange, raw)
        known = adapter.products if adapter is not None else ()
        if product is None or product in known:
            return messages or []
        self.adapters[exchange] = adapter = ADAPTERS[self.protocols[exchange]]((*known, product))
        return adapter.parse(raw)

    def _product(self, exchange: str, raw: str) -> str | None:
        """The canonical product a line is about (None: none, like a subscription answer)."""
        reader = entry_readers().get(exchange)
        if self.protocols.get(exchange) not in ADAPTERS or reader is None:
            raise MalformedMessage(f"a line of an unknown exchange {exchange!r}")
        entry = reader(raw)
        return entry.product.partition(":")[2] if entry is not None else None


def numbered_lines(path: str | Path, on_bytes: Callable[[int], None]) -> Iterator[tuple[int, str]]:
    """(line number, line) of a recording (.gz too), calling on_bytes with the bytes read of the file so far;
    OSError, EOFError or UnicodeDecodeError when it cannot be read further."""
    with open(path, "rb") as raw:
        binary = gzip.GzipFile(fileobj=raw) if str(path).endswith(".gz") else raw
        text = io.TextIOWrapper(binary, encoding="utf-8")
        for number, line in enumerate(text, 1):
            if number % 1000 == 0:
                on_bytes(raw.tell())
            yield number, line
        on_bytes(raw.tell())


def import_lines(
    lines: Iterator[tuple[int, str]], parsers: Parsers, write: Callable[[list[Tick]], object]
) -> ImportResult:
    """Parse every line, handing the ticks to `write` in batches (ImportResult.new is the caller's to fill)."""
    result, ticks = ImportResult(), []
    parse, is_stale = parsers.parse, SequenceFilter().is_stale  # bound once: this loop runs per line
    number = 0
    try:
        for number, line in lines:
            line = line.strip()
            if not line:
                continue
            try:
                messages = parse(line)
            except MalformedMessage as exc:
                messages = result.malformed(number, exc)
            for message in messages:
                if type(message) is TickEvent:
                    if is_stale(message.tick):
                        result.stale += 1
                    else:
                        ticks.append(message.tick)
            if len(ticks) >= BATCH:
                result.ticks += len(ticks)
                write(ticks)
                ticks = []
    except (OSError, EOFError, UnicodeDecodeError, zlib.error) as exc:
        result.stopped = (number + 1, str(exc) or type(exc).__name__)
    result.lines = number
    result.ticks += len(ticks)
    if ticks:
        write(ticks)
    return result
