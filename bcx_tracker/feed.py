"""The websocket client loop: connect, subscribe, receive, hand ticks to the writer; reconnect when it drops.

One shape: `while not stopping: loop_once(now)`, then `finally: close()`. `loop_once` either waits out a
reconnect delay, connects and subscribes, or receives one frame. Frames are received with a short socket
timeout so a stop request is noticed within about a second. Nothing here waits on Redis or REST: ticks go to a
sink in batches (the writer's non-blocking `put_many`) and trade-id gaps to another (the backfiller's
non-blocking `add`): all the ticks of one socket read at once (at real-time rates, every tick as it comes).

The protocol is an adapter module with `subscribe_messages(products)` and `parse_messages(raw)`:
bcx_tracker.coinbase (the Exchange feed) or bcx_tracker.coinbase_advanced (Advanced Trade).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType

import websocket
from websocket import ABNF, WebSocketBadStatusException, WebSocketException, WebSocketTimeoutException

from bcx.backoff import backoff_delay
from bcx.daemon import Stopper
from bcx.logsetup import reopen_log_files
from bcx.ratelog import worth_logging
from bcx.tick import Tick
from bcx_tracker import coinbase, coinbase_advanced
from bcx_tracker.coinbase import (
    ExchangeError,
    Heartbeat,
    MalformedMessage,
    SequenceFilter,
    Subscriptions,
    TickEvent,
)
from bcx_tracker.framed_ws import FramedWebSocket
from bcx_tracker.gaps import Gap, TradeGaps
from bcx_tracker.recorder import Recorder
from bcx_tracker.tick_checks import DEFAULT_MAX_SKEW_MS, check_tick

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 5.0
RECV_TIMEOUT = 1.0
# The exchange sends a heartbeat per product every second; this long without any frame means a dead link.
SILENCE_TIMEOUT = 30.0
_RETRY_POLL = 0.2
THROTTLED_EXTRA_FAILURES = 3  # an HTTP 429 on the upgrade waits as if 3 more attempts had failed (8x longer)
ADAPTERS: dict[str, ModuleType] = {"coinbase-exchange": coinbase, "coinbase-advanced": coinbase_advanced}


def reconnect_delay(failures: int, cap: float, throttled: bool = False, rand: float | None = None) -> float:
    """Seconds before the next connection attempt; the exchange's 429 (connecting too fast) backs off harder."""
    return backoff_delay(failures + (THROTTLED_EXTRA_FAILURES if throttled else 0), cap=cap, rand=rand)


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


class Feed:
    def __init__(
        self,
        url: str,
        products: Sequence[str],
        sink: Callable[[list[Tick]], object],
        stopper: Stopper,
        reconnect_max: float = 60.0,
        recorder: Recorder | None = None,
        silence_timeout: float = SILENCE_TIMEOUT,
        recv_timeout: float = RECV_TIMEOUT,
        connect: Callable[..., websocket.WebSocket] = websocket.create_connection,
        clock: Callable[[], float] = time.monotonic,
        adapter: ModuleType = coinbase,
        on_gap: Callable[[Gap], object] | None = None,
        known_trades: dict[str, int] | None = None,
        max_skew_ms: int = DEFAULT_MAX_SKEW_MS,
        wall_clock: Callable[[], float] = time.time,
    ):
        self.url = url
        self.products = tuple(products)
        self.sink = sink
        self.stopper = stopper
        self.reconnect_max = reconnect_max
        self.recorder = recorder
        self.silence_timeout = silence_timeout
        self.recv_timeout = recv_timeout
        self.connect = connect
        self.clock = clock
        self.adapter = adapter
        self.max_skew_ms = max_skew_ms
        self.wall_clock = wall_clock  # exchange times are judged against it (clock is monotonic)
        self._wanted = frozenset(self.products)
        self.on_gap = on_gap
        self.gaps = TradeGaps(known_trades)
        self.stats = FeedStats()
        self.sequences = SequenceFilter()
        self.failures = 0
        self.ws: FramedWebSocket | None = None
        self._retry_at = 0.0
        self._last_frame_at = 0.0
        self._ticks: list[Tick] = []  # of the socket read being handled

    def run(self) -> None:
        try:
            while not self.stopper.stopping:
                if self.stopper.take_hangup():  # logrotate moved the log: reopen it (and redirected stdio)
                    reopen_log_files()
                self.loop_once(self.clock())
        finally:
            self.close()

    def loop_once(self, now: float) -> None:
        if self.ws is not None:
            self._receive(now)
        elif now >= self._retry_at:
            self._connect(now)
        else:
            time.sleep(min(_RETRY_POLL, self._retry_at - now))

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
        try:
            # UTF-8 is checked once, by the JSON parser: websocket-client's own check is pure Python (~10k frames/s).
            ws = self.connect(self.url, timeout=CONNECT_TIMEOUT, skip_utf8_validation=True, class_=FramedWebSocket)
        except WebSocketBadStatusException as exc:
            self._lost(f"cannot connect to {self.url}: {exc}", now, throttled=exc.status_code == 429)
            return
        except (WebSocketException, OSError) as exc:
            self._lost(f"cannot connect to {self.url}: {exc}", now)
            return
        self.ws = ws
        self.gaps.reconnected()
        try:
            # At once: the exchange disconnects a client that has not subscribed within 5 s.
            for message in self.adapter.subscribe_messages(self.products):
                ws.send(message)
            ws.settimeout(self.recv_timeout)
        except (WebSocketException, OSError) as exc:
            self._lost(f"cannot subscribe on {self.url}: {exc}", now)
            return
        self._last_frame_at = now
        log.info("connected to %s, subscribing to %s", self.url, ", ".join(self.products))

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
        self._hand_over()

    def _hand_over(self) -> None:
        if self._ticks:
            ticks, self._ticks = self._ticks, []
            self.sink(ticks)

    def handle(self, raw: str | bytes, now: float) -> None:
        """One frame: record it, parse it, act on it. Never raises for a bad frame."""
        self.stats.messages += 1
        if self.recorder is not None:
            self.recorder.write(raw, now)
        try:
            messages = self.adapter.parse_messages(raw)
        except MalformedMessage as exc:
            self._malformed(exc.reason, raw)
            return
        for message in messages:
            self._act(message)

    def _act(self, message) -> None:
        match message:
            case TickEvent(tick=tick):
                if tick.product not in self._wanted:  # it would make keys that nothing reads
                    self._unconfigured(tick)
                    return
                reason = check_tick(tick, int(self.wall_clock() * 1000), self.max_skew_ms)
                if reason is not None:
                    self._malformed(reason, tick)
                    return
                if self.sequences.is_stale(tick):
                    self.stats.stale += 1
                    return
                self.stats.ticks += 1
                self._ticks.append(tick)
                if self.adapter is coinbase:  # only the Exchange feed carries real trade ids
                    self._gap(self.gaps.on_trade(tick.product, tick.trade_id))
            case Subscriptions():
                self._subscribed(message)
            case ExchangeError(message=text, reason=reason):
                self.stats.exchange_errors += 1
                if worth_logging(self.stats.exchange_errors):
                    log.error(
                        "exchange error #%d: %.200s (reason: %.200s)",
                        self.stats.exchange_errors,
                        text,
                        reason or "none given",
                    )
            case Heartbeat(product=product, last_trade_id=last_trade_id):
                self._gap(self.gaps.on_heartbeat(product, last_trade_id))

    def _malformed(self, reason: str, what: object) -> None:
        """Count a frame or tick that is not stored, and log it at a bounded rate."""
        self.stats.malformed += 1
        if worth_logging(self.stats.malformed):
            log.warning("malformed feed message #%d (%.200s): %.200r", self.stats.malformed, reason, what)

    def _unconfigured(self, tick: Tick) -> None:
        self.stats.unconfigured += 1
        if worth_logging(self.stats.unconfigured):
            log.warning("tick #%d of an unconfigured product dropped: %.200s", self.stats.unconfigured, tick)

    def _gap(self, gap: Gap | None) -> None:
        if gap is None:
            return
        self.stats.gaps += 1
        log.info("%s: trades %d..%d missed by the feed", gap.product, gap.after + 1, gap.upto)
        if self.on_gap is not None:
            self.on_gap(gap)

    def _subscribed(self, message: Subscriptions) -> None:
        if self.failures:
            log.info("feed back after %d failed attempts", self.failures)
        self.failures = 0
        log.info("subscribed: %s", "; ".join(f"{k} {','.join(sorted(v))}" for k, v in message.channels.items()))
        missing = set(self.products) - set(message.channels.get("ticker", ()))
        if missing:
            log.warning("not subscribed to the ticker of %s", ", ".join(sorted(missing)))

    def _idle(self, now: float) -> None:
        if self.recorder is not None:
            self.recorder.maybe_flush(now)
        if now - self._last_frame_at > self.silence_timeout:
            self._lost(f"no message from the feed for {self.silence_timeout:.0f}s", now)

    def _lost(self, reason: str, now: float, throttled: bool = False) -> None:
        self.close()
        self.failures += 1
        self.stats.reconnects += 1
        delay = reconnect_delay(self.failures, self.reconnect_max, throttled)
        self._retry_at = now + delay
        log.warning("%s; reconnecting in %.1fs (attempt %d)", reason, delay, self.failures)


def _close_reason(frame) -> str:
    """The close code and reason of a close frame, as websocket-client hands it over."""
    data = getattr(frame, "data", frame) or b""
    if len(data) >= 2:
        code = int.from_bytes(data[:2], "big")
        return f"(code {code} {data[2:].decode('utf-8', errors='replace')})".replace(" )", ")")
    return "(no close code)"
