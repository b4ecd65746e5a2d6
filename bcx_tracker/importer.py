"""`bcx import`: a recording made by `--record` loaded straight into Redis, no websocket, no replay in real time.

Each line goes through its exchange's adapter (`ADAPTERS[config protocol]`, as in the tracker) and the tracker's
stale-tick filter, and the ticks into TickStore.add in batches (one trade, one entry: importing a file twice
stores every trade once). Each exchange's adapter is made at its first line. One that reads any product from the
frame alone (Coinbase: `Exchange.for_any_product`) needs nothing more; the others need their products from the
start and every line of their exchange in order (Bitfinex numbers its channels in subscription answers): for
them, and only when the file holds one of them, a first pass over the file (the replay's entry readers, over
those exchanges' lines alone) finds the products.

A line that is not a valid frame is skipped and its number reported; a file that cannot be read further (a
truncated gzip, bytes that are not UTF-8) stops the import there: every whole line before it is stored, and the
line number said.
"""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bcx.series import DEFAULT_EXCHANGE
from bcx.tick import Tick
from bcx_tracker.exchange import Exchange, MalformedMessage, Message, TickEvent
from bcx_tracker.exchanges import ADAPTERS
from bcx_tracker.gaps import SequenceFilter
from bcx_tracker.recorder import read_entries, split_line
from bcx_tracker.tick_checks import TickChecks

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
        self.bad_line(number)
        return exc.events

    def bad_line(self, number: int) -> None:
        self.bad += 1
        if len(self.bad_lines) < MAX_BAD_REPORTED:
            self.bad_lines.append(number)

    @classmethod
    def merged(cls, parts: Iterable[ImportResult]) -> ImportResult:
        """The counts of several workers' results added up, the first MAX_BAD_REPORTED bad lines of all of them."""
        parts = list(parts)
        total = cls(**{name: sum(getattr(part, name) for part in parts) for name in _COUNTS})
        total.bad_lines = sorted(number for part in parts for number in part.bad_lines)[:MAX_BAD_REPORTED]
        return total


_COUNTS = ("lines", "ticks", "new", "stale", "bad")  # what merged() adds up


def _nothing() -> None:
    pass


class Parsers:
    """Each exchange's adapter for the lines of one recording, made at the exchange's first line (see the
    module's text). `find_products(exchanges)` is the first pass: exchange -> the products the recording holds,
    for those of `exchanges` that it holds; called at most once, when the first line of one of them comes."""

    def __init__(
        self,
        protocols: Mapping[str, str],
        find_products: Callable[[Collection[str]], Mapping[str, Iterable[str]]],
    ):
        self.protocols = protocols  # exchange name -> adapter protocol (the config's)
        self.adapters: dict[str, Exchange] = {}
        self._find_products = find_products
        self._found: Mapping[str, Iterable[str]] | None = None

    def parse(self, line: str) -> list[Message]:
        """A recording line's events; MalformedMessage for a bad line, an exchange that is not configured, or one
        whose first pass found no products."""
        exchange, raw = (DEFAULT_EXCHANGE, line) if line[0] == "{" else split_line(line)  # split_line's common case
        adapter = self.adapters.get(exchange)
        if adapter is None:
            adapter = self.adapters[exchange] = self._adapter(exchange)
        return adapter.parse(raw)

    def _adapter(self, exchange: str) -> Exchange:
        kind = ADAPTERS.get(self.protocols.get(exchange, ""))
        if kind is None:
            raise MalformedMessage(f"a line of an exchange that is not configured: {exchange!r}")
        adapter = kind.for_any_product()
        if adapter is not None:
            return adapter
        if self._found is None:
            needing = [name for name, protocol in self.protocols.items() if _needs_products(protocol)]
            self._found = self._find_products(needing)
        products = list(self._found.get(exchange, ()))
        if not products:
            raise MalformedMessage(f"a line of {exchange!r}, whose lines name no product in the first pass")
        return kind(products)


# The stream of every exchange whose adapter must be told its products: their process reads the file once for them
# (Parsers' first pass), where a process per exchange would each read all of it.
TOLD_PRODUCTS = "exchanges told their products"


def stream_key(line: str, read_alone: Mapping[str, type[Exchange]]) -> str:
    """Which lines of a recording must be parsed in one process, in order: a product's, for an exchange whose
    adapter reads each frame alone (`read_alone`: exchange -> its adapter class, Coinbase's) and whose frame names
    its product (the tracker's stale filter is kept per product); the exchange's, all together, where such a frame
    does not name one; TOLD_PRODUCTS for the other exchanges, whose adapters keep state between frames."""
    exchange, raw = (DEFAULT_EXCHANGE, line) if line[0] == "{" else split_line(line)
    kind = read_alone.get(exchange)
    if kind is None:
        return TOLD_PRODUCTS
    product = kind.frame_product(raw)
    return exchange if product is None else f"{exchange}:{product}"


def read_alone(protocols: Mapping[str, str]) -> dict[str, type[Exchange]]:
    """Exchange -> adapter class, for the configured exchanges whose adapters read any product from a frame alone."""
    return {
        name: ADAPTERS[protocol]
        for name, protocol in protocols.items()
        if protocol in ADAPTERS and not _needs_products(protocol)
    }


def _needs_products(protocol: str) -> bool:
    kind = ADAPTERS.get(protocol)
    return kind is not None and kind.for_any_product() is None


def recorded_products(path: str | Path, exchanges: Collection[str]) -> dict[str, list[str]]:
    """Exchange -> the canonical products a recording holds, in order of first appearance, for `exchanges` (the
    replay's entry readers name them; other exchanges' lines are not parsed). A file unreadable past a line gives
    the products before it: the import stops there and says so."""
    found: dict[str, dict[str, None]] = {}
    try:
        for entry in read_entries(path, exchanges):
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


class NumberedLines:
    """The lines of a recording with their numbers (from 1), for one pass: reading stops quietly where the file
    cannot be read further, and `stopped` then says at which line and why; `count` is the last line read."""

    def __init__(self, lines: Iterable[str]):
        self.lines = lines
        self.count = 0
        self.stopped: tuple[int, str] | None = None

    def __iter__(self) -> Iterator[tuple[int, str]]:
        try:
            for numbered in enumerate(self.lines, 1):
                self.count = numbered[0]
                yield numbered
        except (OSError, EOFError, UnicodeDecodeError, zlib.error) as exc:
            self.stopped = (self.count + 1, str(exc) or type(exc).__name__)


class LineImporter:
    """Parses numbered lines through the parsers and the tracker's checks (tick_checks, against `checks`: a tick
    too far ahead of the clock, or one that cannot be stored, makes its line malformed) and stale filter,
    handing the ticks to `write` (which says how many were new) in batches of BATCH, and calling `on_batch` after
    each (progress)."""

    def __init__(
        self,
        parsers: Parsers,
        write: Callable[[list[Tick]], int],
        checks: TickChecks,
        on_batch: Callable[[], object] = _nothing,
    ):
        self.result = ImportResult()
        self._parse, self._is_stale = parsers.parse, SequenceFilter().is_stale
        self._check = checks.why_unfit
        self._write, self._on_batch = write, on_batch
        self._ticks: list[Tick] = []

    def take(self, numbered: Iterable[tuple[int, str]]) -> None:
        result, ticks, parse, check, is_stale = self.result, self._ticks, self._parse, self._check, self._is_stale
        for number, line in numbered:  # runs per line: the names above are bound once
            line = line.strip()
            if not line:
                continue
            try:
                messages, whole = parse(line), True
            except MalformedMessage as exc:
                messages, whole = result.malformed(number, exc), False
            for message in messages:
                if type(message) is TickEvent:
                    tick = message.tick
                    if check(tick) is not None:  # counted as its line, as the tracker counts it
                        if whole:
                            result.bad_line(number)
                            whole = False
                    elif is_stale(tick):
                        result.stale += 1
                    else:
                        ticks.append(tick)
            if len(ticks) >= BATCH:
                self._flush()
                ticks = self._ticks
                self._on_batch()

    def finish(self) -> ImportResult:
        """Write what waits; the counts of everything taken (lines and stopped are the reader's to fill)."""
        if self._ticks:
            self._flush()
        return self.result

    def _flush(self) -> None:
        ticks, self._ticks = self._ticks, []
        self.result.ticks += len(ticks)
        self.result.new += self._write(ticks)
