"""One websocket connection to one exchange: connect, subscribe, receive, hand ticks to the writer; reconnect
when it drops. It knows no exchange by name: the protocol is an adapter (bcx_tracker.exchange.Exchange).

One shape: `while not stopping: loop_once(now)`, then `finally: close()`. `loop_once` either waits out a
reconnect delay, connects and subscribes, or receives one socket read. Frames are received with a short socket
timeout so a stop request is noticed within about a second. Nothing here waits on Redis or REST: ticks go to a
sink in batches (the writer's non-blocking `put_many`), trade-id gaps to another (the backfiller's non-blocking
`add`). Each connection has its own reconnect backoff, silence watchdog, gap tracker and counters.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import websocket
from websocket import ABNF, WebSocketBadStatusException, WebSocketException, WebSocketTimeoutException

from bcx.backoff import backoff_delay
from bcx.config import DEFAULTS
from bcx.ratelog import worth_logging
from bcx.tick import Tick
from bcx_tracker.exchange import (
    Exchange,
    ExchangeError,
    Heartbeat,
    MalformedMessage,
    Missed,
    Reconnect,
    Subscribed,
    SubscribeFailed,
    TickEvent,
    Unconfigured,
)
from bcx_tracker.framed_ws import FramedWebSocket
from bcx_tracker.gaps import Gap, SequenceFilter, TradeGaps
from bcx_tracker.ratelimit import TokenBucket
from bcx_tracker.recorder import Recorder
from bcx_tracker.tick_checks import check_tick
from bcx_tracker.worker import Worker

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 5.0
RECV_TIMEOUT = 1.0
CONNECTION = "connection"  # FeedStats.refused's key for a refused connection (not one series)
_RETRY_POLL = 0.2
THROTTLED_EXTRA_FAILURES = 3  # an HTTP 429 on the upgrade waits as if 3 more attempts had failed (8x longer)
REFUSED_RETRY = 3600.0  # an upgrade refused for good (Binance's 451) is tried again after an hour, not in seconds
_connect_buckets: dict[str, TokenBucket] = {}  # exchange -> its connection attempts per IP, over all connections
_connect_lock = threading.Lock()


def connect_wait(adapter: Exchange, now: float) -> float:
    """Seconds to wait before this connection attempt, under the exchange's limit of attempts per IP (shared by
    every connection of the exchange, so that many dropping at once still respect it); 0 when it may go now."""
    per_minute = adapter.connects_per_minute
    if not per_minute:
        return 0.0
    with _connect_lock:
        bucket = _connect_buckets.setdefault(adapter.name, TokenBucket(per_minute / 60, max(1.0, per_minute / 10), now))
        wait = bucket.take(now)
        if wait:
            bucket.tokens += 1  # not spent: the attempt is put off, and asks again then
        return wait


def reconnect_delay(failures: int, cap: float, throttled: bool = False, rand: float | None = None) -> float:
    """Seconds before the next connection attempt; the exchange's 429 (connecting too fast) backs off harder."""
    return backoff_delay(failures + (THROTTLED_EXTRA_FAILURES if throttled else 0), cap=cap, rand=rand)


COUNTS = ("messages", "ticks", "malformed", "stale", "reconnects", "exchange_errors", "gaps", "unconfigured")


@dataclass
class FeedStats:
    messages: int = 0
    ticks: int = 0
    malformed: int = 0
    unconfigured: int = 0  # ticks of a product this feed does not record
    stale: int = 0
    reconnects: int = 0
    exchange_errors: int = 0
    gaps: int = 0
    unconfigured: int = 0
    refused: dict[str, str] = field(default_factory=dict)  # series id (or "?") -> the exchange's words

    def absorb(self, older: FeedStats) -> None:
        """Add the counts of the connection this one replaced."""
        for name in COUNTS:
            setattr(self, name, getattr(self, name) + getattr(older, name))


class Feed(Worker):
    """One connection of one exchange (`adapter`), on a thread of its own (`start`) or driven by `run()`."""

    thread_name = "bcx-feed"

    def __init__(
        self,
        adapter: Exchange,
        url: str,
        sink: Callable[[list[Tick]], object],
        reconnect_max: float = DEFAULTS.tracker.reconnect_max,
        recorder: Recorder | None = None,
        silence_timeout: float = DEFAULTS.tracker.stale_after,
        recv_timeout: float = RECV_TIMEOUT,
        connect: Callable[..., websocket.WebSocket] = websocket.create_connection,
        clock: Callable[[], float] = time.monotonic,
        on_gap: Callable[[Gap], object] | None = None,
        known_trades: dict[str, int] | None = None,
        known_ms: dict[str, int] | None = None,
        config: object = None,
        max_skew_ms: int = DEFAULTS.tracker.max_clock_skew_ms,
        wall_clock: Callable[[], float] = time.time,
    ):
        super().__init__()
        self.adapter = adapter
        self.config = config  # what made it (the tracker's ExchangeConfig), to make its successor the same way
        self.exchange = adapter.name
        self.url = url
        self.sink = sink
        self.reconnect_max = reconnect_max
        self.recorder = recorder
        self.silence_timeout = silence_timeout
        self.recv_timeout = recv_timeout
        self.connect = connect
        self.clock = clock
        self.max_skew_ms = max_skew_ms
        self.wall_clock = wall_clock  # exchange times are judged against it (clock is monotonic)
        self.on_gap = on_gap if adapter.real_trade_ids else None
        self.gaps = TradeGaps(known_trades, adapter.contiguous_trade_ids, known_ms)
        self.stats = FeedStats()
        self.sequences = SequenceFilter()
        self.failures = 0
        self.ws: FramedWebSocket | None = None
        self._retry_at = 0.0
        self._last_frame_at = 0.0
        self.connected_at = 0.0
        self._ticks: list[Tick] = []  # of the socket read being handled

    @property
    def products(self) -> tuple[str, ...]:
        return tuple(self.adapter.series.values())

    def run(self) -> None:
        try:
            while not self.stopping:
                self.loop_once(self.clock())
        finally:
            self.close()

    def loop_once(self, now: float) -> None:
        if self.ws is not None:
            self._receive(now)
        elif now >= self._retry_at:
            self._connect(now)
        else:
            self.wait(min(_RETRY_POLL, self._retry_at - now))

    def close(self) -> None:
        self._hand_over()
        if self.ws is not None:
            ws, self.ws = self.ws, None
            try:
                ws.close(timeout=1)
            except (WebSocketException, OSError) as exc:
                log.debug("closing the feed socket: %s", exc)
            finally:
                # close() does nothing once a close frame was received; shutdown() always frees the socket.
                ws.shutdown()

    def _connect(self, now: float) -> None:
        wait = connect_wait(self.adapter, now)
        if wait:
            self._retry_at = now + wait
            return
        url = self.adapter.connect_url(self.url)
        try:
            # UTF-8 is checked once, by the JSON parser: websocket-client's own check is pure Python (~10k frames/s).
            ws = self.connect(url, timeout=CONNECT_TIMEOUT, skip_utf8_validation=True, class_=FramedWebSocket)
        except WebSocketBadStatusException as exc:
            refusal = self.adapter.refused(exc.status_code)
            if refusal is not None:
                self._refused(refusal, now)
                return
            self._lost(f"cannot connect to {self.url}: {exc}", now, throttled=exc.status_code == 429)
            return
        except (WebSocketException, OSError) as exc:
            self._lost(f"cannot connect to {self.url}: {exc}", now)
            return
        self.ws = ws
        self.connected_at = now
        self.gaps.reconnected()
        self.adapter.connected()
        self.stats.refused.pop(CONNECTION, None)
        try:
            # At once: Coinbase disconnects a client that has not subscribed within 5 s.
            for number, message in enumerate(self.adapter.subscribe_messages()):
                if number and self.adapter.send_interval:
                    self.wait(self.adapter.send_interval)
                ws.send(message)
            ws.settimeout(self.recv_timeout)
        except (WebSocketException, OSError) as exc:
            self._lost(f"cannot subscribe on {self.url}: {exc}", now)
            return
        self._last_frame_at = now
        log.info("%s: connected to %s, subscribing to %s", self.exchange, self.url, ", ".join(self.products))

    def _receive(self, now: float) -> None:
        try:
            messages = self.ws.recv_messages()
        except WebSocketTimeoutException:
            self._idle(self.clock())
            return
        except (WebSocketException, OSError) as exc:
            self._lost(f"feed connection lost: {exc or type(exc).__name__}", self.clock())
            return
        now = self.clock()
        self._last_frame_at = now  # any bytes (a ping, part of a frame) show the link is alive
        for opcode, data in messages:
            if opcode == ABNF.OPCODE_CLOSE:
                self._lost(f"feed closed by the server {_close_reason(data)}", now)
                return
            self.handle(data, now)
            if self.ws is None:  # the exchange asked for a new connection
                return
        self._hand_over()
        self._keepalive(now)

    def _hand_over(self) -> None:
        if self._ticks:
            ticks, self._ticks = self._ticks, []
            self.sink(ticks)

    def handle(self, raw: str | bytes, now: float) -> None:
        """One frame: record it, parse it, act on it. Never raises for a bad frame."""
        self.stats.messages += 1
        if self.recorder is not None:
            self.recorder.write(raw, now, self.exchange)
        try:
            messages = self.adapter.parse(raw)
        except MalformedMessage as exc:
            self._malformed(exc.reason, raw)
            messages = exc.events  # a bad item of a batch costs only itself
        for message in messages:
            self._act(message, now)

    def _act(self, message, now: float) -> None:
        match message:
            case TickEvent(tick=tick):
                reason = check_tick(tick, int(self.wall_clock() * 1000), self.max_skew_ms)
                if reason is not None:
                    self._malformed(reason, tick)
                    return
                if self.sequences.is_stale(tick):
                    self.stats.stale += 1
                    return
                self.stats.ticks += 1
                self._ticks.append(tick)
                if self.on_gap is not None:
                    self._gap(self.gaps.on_trade(tick.product, tick.trade_id, tick.time_ms))
            case Unconfigured(symbol=symbol):
                self._unconfigured(symbol)
            case Heartbeat(product=product, last_trade_id=last_trade_id) if last_trade_id is not None:
                if self.on_gap is not None:
                    self._gap(self.gaps.on_heartbeat(product, last_trade_id))
            case Subscribed():
                self._subscribed(message)
            case SubscribeFailed(product=product, message=text):
                self.stats.refused[product or "?"] = text
                log.error("%s: subscription to %s refused: %s", self.exchange, product or "a series", text)
            case ExchangeError(message=text, reason=reason):
                self.stats.exchange_errors += 1
                if worth_logging(self.stats.exchange_errors):
                    log.error(
                        "%s: exchange error #%d: %.200s (reason: %.200s)",
                        self.exchange,
                        self.stats.exchange_errors,
                        text,
                        reason or "none given",
                    )
            case Reconnect(reason=reason):
                self._lost(f"the exchange asks to reconnect ({reason})", now, immediately=True)
            case Missed(gap=gap):
                if self.on_gap is not None:
                    self._gap(gap)

    def _malformed(self, reason: str, what: object) -> None:
        """Count a frame or tick that is not stored, and log it at a bounded rate."""
        self.stats.malformed += 1
        if worth_logging(self.stats.malformed):
            log.warning(
                "%s: malformed feed message #%d (%.200s): %.200r", self.exchange, self.stats.malformed, reason, what
            )

    def _unconfigured(self, symbol: str) -> None:
        """A trade of a series not recorded here: it would make keys that nothing reads."""
        self.stats.unconfigured += 1
        if worth_logging(self.stats.unconfigured):
            count = self.stats.unconfigured
            log.warning("%s: trade #%d of an unconfigured series (%.40s) dropped", self.exchange, count, symbol)

    def _gap(self, gap: Gap | None) -> None:
        if gap is None:
            return
        self.stats.gaps += 1
        log.info("%s: %s missed by the feed", gap.product, gap)
        self.on_gap(gap)

    def _subscribed(self, message: Subscribed) -> None:
        if self.failures:
            log.info("%s: feed back after %d failed attempts", self.exchange, self.failures)
        self.failures = 0
        for series in (s for ids in message.channels.values() for s in ids):
            self.stats.refused.pop(series, None)
        log.info(
            "%s: subscribed: %s",
            self.exchange,
            "; ".join(f"{k} {','.join(sorted(v))}" for k, v in message.channels.items()),
        )

    def _idle(self, now: float) -> None:
        if self.recorder is not None:
            self.recorder.maybe_flush(now)
        if now - self._last_frame_at > self.silence_timeout:
            self._lost(f"no message from the feed for {self.silence_timeout:.0f}s", now)
        else:
            self._keepalive(now)

    def _keepalive(self, now: float) -> None:
        message = self.adapter.keepalive(now)
        if message is not None and self.ws is not None:
            try:
                self.ws.send(message)
            except (WebSocketException, OSError) as exc:
                self._lost(f"cannot send a keepalive: {exc}", now)

    def rotation_due(self, now: float) -> bool:
        """The connection nears the age at which the exchange ends it: time to open the next one beside it."""
        age = self.adapter.max_connection_age
        return bool(age) and self.ws is not None and now - self.connected_at >= age - rotation_overlap(age)

    def _refused(self, refusal: str, now: float) -> None:
        if self.stats.refused.get(CONNECTION) != refusal:
            log.error("%s: %s (next attempt in %.0f minutes)", self.exchange, refusal, REFUSED_RETRY / 60)
        self.stats.refused[CONNECTION] = refusal
        self.stats.reconnects += 1
        self._retry_at = now + REFUSED_RETRY

    def _lost(self, reason: str, now: float, throttled: bool = False, immediately: bool = False) -> None:
        self.close()
        self.stats.reconnects += 1
        if immediately:
            self._retry_at = now
            log.warning("%s: %s; reconnecting now", self.exchange, reason)
            return
        self.failures += 1
        delay = reconnect_delay(self.failures, self.reconnect_max, throttled)
        self._retry_at = now + delay
        log.warning("%s: %s; reconnecting in %.1fs (attempt %d)", self.exchange, reason, delay, self.failures)


def rotation_overlap(age: float) -> float:
    """How long the next connection runs beside the old one: a minute, or a tenth of a short lifetime."""
    return min(60.0, age / 10)


def _close_reason(frame) -> str:
    """The close code and reason of a close frame, as websocket-client hands it over."""
    data = getattr(frame, "data", frame) or b""
    if len(data) >= 2:
        code = int.from_bytes(data[:2], "big")
        return f"(code {code} {data[2:].decode('utf-8', errors='replace')})".replace(" )", ")")
    return "(no close code)"
