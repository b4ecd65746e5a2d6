"""`bcx import`: a recording made by `--record` loaded straight into Redis, no websocket, no replay in real time.

Each line goes through its exchange's adapter (`ADAPTERS[config protocol]`, as in the tracker) and the tracker's
stale-tick filter, and the ticks into TickStore.add in batches (one trade, one entry: importing a file twice
stores every trade once). Adapters need the products they record, and some need every line of their exchange
in order (Bitfinex numbers its channels in subscription answers): a first pass over the file, through the
replay's entry readers, finds the products; the second makes each exchange's adapter once and parses every line.

A line that is not a valid frame is skipped and its number reported; a file that cannot be read further (a
truncated gzip, bytes that are not UTF-8) stops the import there: every whole line before it is stored, and the
line number said.
"""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bcx.series import DEFAULT_EXCHANGE
from bcx.tick import Tick
from bcx_tracker.exchange import Exchange, MalformedMessage, Message, TickEvent
from bcx_tracker.exchanges import ADAPTERS
from bcx_tracker.gaps import SequenceFilter
from bcx_tracker.recorder import read_entries, split_line

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
    """Each exchange's adapter for the lines of one recording, made once with every product the file holds
    (`products`, from a first pass: `recorded_products`), so that an adapter sees every line of its exchange in
    order, the subscription answers some exchanges number their channels by (Bitfinex) among them."""

    def __init__(self, protocols: Mapping[str, str], products: Mapping[str, Iterable[str]]):
        self.adapters: dict[str, Exchange] = {
            exchange: ADAPTERS[protocols[exchange]](list(mine))
            for exchange, mine in products.items()
            if protocols.get(exchange) in ADAPTERS and mine
        }

    def parse(self, line: str) -> list[Message]:
        """A recording line's events; MalformedMessage for a bad line or an exchange this version does not know."""
        exchange, raw = (DEFAULT_EXCHANGE, line) if line[0] == "{" else split_line(line)  # split_line's common case
        adapter = self.adapters.get(exchange)
        if adapter is None:
            raise MalformedMessage(f"a line of an exchange not in this recording's first pass: {exchange!r}")
        return adapter.parse(raw)


def recorded_products(path: str | Path) -> dict[str, list[str]]:
    """Exchange -> the canonical products a recording holds, in order of first appearance (the replay's entry
    readers name them, whatever the exchange). A file unreadable past a line gives the products before it: the
    second pass stops there and says so."""
    found: dict[str, dict[str, None]] = {}
    try:
        for entry in read_entries(path):
            exchange, _, product = entry.product.partition(":")
            found.setdefault(exchange, {}).setdefault(product, None)
    except (OSError, EOFError, UnicodeDecodeError, zlib.error):
        pass
    return {exchange: list(products) for exchange, products in found.items()}


@contextmanager
def open_recording(path: str | Path) -> Iterator[tuple[Iterable[str], Callable[[], int]]]:
    """The lines of a recording (.gz too), and a function telling how many bytes of the file were read so far
    (progress). Reading raises OSError, EOFError or UnicodeDecodeError where the file cannot be read further."""
    with open(path, "rb") as raw:
        binary = gzip.GzipFile(fileobj=raw) if str(path).endswith(".gz") else raw
        yield io.TextIOWrapper(binary, encoding="utf-8"), raw.tell


def import_lines(
    lines: Iterable[str],
    parsers: Parsers,
    write: Callable[[list[Tick]], object],
    on_batch: Callable[[], object] = lambda: None,
) -> ImportResult:
    """Parse every line, handing the ticks to `write` in batches and calling `on_batch` after each (progress);
    ImportResult.new is the caller's to fill."""
    result, ticks = ImportResult(), []
    parse, is_stale = parsers.parse, SequenceFilter().is_stale  # bound once: this loop runs per line
    number = 0
    try:
        for number, line in enumerate(lines, 1):  # no generator between the file and this loop: it runs per line
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
                on_batch()
    except (OSError, EOFError, UnicodeDecodeError, zlib.error) as exc:
        result.stopped = (number + 1, str(exc) or type(exc).__name__)
    result.lines = number
    result.ticks += len(ticks)
    if ticks:
        write(ticks)
    return result
