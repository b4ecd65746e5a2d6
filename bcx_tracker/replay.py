"""`bcx-replay FILE`: a local websocket server that speaks each exchange's feed protocol and plays a recording
(as written by `bcx-tracker --record`, or `bcx_tracker.sample`) to each client that subscribes.

The path a client connects to picks the protocol (bcx_tracker.exchanges): `/coinbase` (and `/`) the Coinbase
Exchange feed, `/coinbase-advanced` Advanced Trade, `/kraken` Kraken v2, `/binance` and `/binance-us` Binance's
combined streams (subscribed in the URL: `/binance/stream?streams=...`; kept alive by ping frames, and a client that
does not answer them is disconnected). A connection plays that exchange's lines of the recording. Per connection:
the protocol's greeting, then wait for a subscribe (an unknown product gets the exchange's own refusal), answer it,
then play the file from its start, keeping the gaps between the messages' times divided by the speed, and sending
only what the client subscribed to; about once a second the protocol's keepalive (Coinbase's per-product heartbeats
carrying the last trade id played), after the end of the file as well. The connection stays open at the end; with
`--loop` the file starts again, its times, trade ids and sequences shifted so that they keep increasing.

`--end-now` (what `bcx up --replay` uses for its demo) moves the recording to the wall clock: the passes of the
file that fill `--history` (default a day) before now end at the moment the server starts and are sent at once, as a
backfill; then the file goes on looping in real time, so the data looks live and never goes stale.

In-process use (tests, `bcx up`): `ReplayServer(path, speed=None).start()`, `.url`, `.url_for(protocol)`,
`.stop()`.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from websockets.exceptions import ConnectionClosed
from websockets.protocol import State
from websockets.sync.server import Server, ServerConnection, serve

from bcx.converters import positive_duration, replay_speed
from bcx.daemon import Stopper, arg_type
from bcx.logsetup import setup_logging
from bcx.series import EXCHANGES, split
from bcx_tracker.exchange import Entry, ReplayProtocol, Request
from bcx_tracker.exchanges import replay_path, replay_protocol
from bcx_tracker.recorder import RecordingInfo, scan_recording

log = logging.getLogger(__name__)

SUBSCRIBE_TIMEOUT = 5.0  # Coinbase closes a connection that has not subscribed by then
# After the first subscribe, the file starts once no other request came for this long: a client subscribing to
# several channels (Kraken's trade, then ticker) gets all of them from the first message on, as from a live feed.
SUBSCRIBE_SETTLE = 0.2
LOOP_PAUSE_MS = 1000  # between the end of the file and its next pass
# At --speed max, messages go out in batches of frames built here and written at once: sending each through
# websockets costs a lock, a frame object and a system call per message, which capped the replay at ~12k/s.
MAX_SPEED_BATCH = 256


@dataclass(frozen=True)
class Shift:
    """What one more pass of the file adds to times, sequences and each exchange's trade ids (each by its own
    span, so that an exchange whose ids are contiguous stays contiguous from one pass to the next)."""

    time_ms: int = 0
    trade_ids: tuple[tuple[str, int], ...] = ()  # (exchange, shift) pairs
    sequence: int = 0

    def next(self, info: RecordingInfo) -> Shift:
        moved = dict(self.trade_ids)
        return Shift(
            self.time_ms + info.last_ms - info.first_ms + LOOP_PAUSE_MS,
            tuple((name, moved.get(name, 0) + span) for name, span in sorted(info.trade_id_spans.items())),
            self.sequence + info.sequences[1] - info.sequences[0] + 1,
        )

    def trade_id(self, exchange: str) -> int:
        return dict(self.trade_ids).get(exchange, 0)


def ending_at(info: RecordingInfo, end_ms: int, history_ms: int) -> Shift:
    """The shift of the first pass when the passes that cover `history_ms` (at least one) end at `end_ms`."""
    period = info.last_ms - info.first_ms + LOOP_PAUSE_MS
    passes = max(1, -(-history_ms // period))
    return Shift(time_ms=end_ms - info.last_ms - (passes - 1) * period)


NO_SHIFT = Shift()


def shifted(protocol: ReplayProtocol, entry: Entry, shift: Shift) -> Entry:
    """The entry as it is sent on a later pass of the file (the first pass sends the line verbatim)."""
    if shift == NO_SHIFT:
        return entry
    return protocol.shifted(entry, shift.time_ms, shift.trade_id(protocol.name), shift.sequence)


class ReplayServer:
    """Plays `path` to every client; `speed` None plays as fast as possible. `live`: every client gets the recording
    from where the server's clock is, as from a live feed (a client that comes later misses what played before it),
    instead of from the start of the file."""

    def __init__(
        self,
        path: str | Path,
        host: str = "127.0.0.1",
        port: int = 0,
        speed: float | None = 1.0,
        loop: bool = False,
        live: bool = False,
        end_now_history_ms: int | None = None,
    ):
        if speed is not None and speed <= 0:
            raise ValueError("speed must be greater than 0")
        self.path = str(path)
        self.host, self.port = host, port
        self.speed = speed
        self.loop = loop
        self.live = live
        # --end-now: the history before now goes at once, the rest in real time, looping (module docstring)
        self.end_now = end_now_history_ms is not None
        self.history_ms = end_now_history_ms or 0
        if self.end_now:
            self.speed, self.loop = 1.0, True
        self.first_shift = NO_SHIFT
        self.wall_ms_at_start = 0
        self.started_at = 0.0  # monotonic, set by start(): the recording's first moment for a live replay
        self.info: RecordingInfo | None = None
        self.passes = 0  # complete passes of the file, over all connections
        self.pongs = 0  # pongs received in time to the pings of a protocol that pings (Binance)
        self.pong_timeouts = 0  # clients disconnected for not answering a ping in time
        self._lock = threading.Lock()
        self._server: Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    def start(self) -> ReplayServer:
        self.info = scan_recording(self.path)
        self.started_at = time.monotonic()
        self.wall_ms_at_start = time.time_ns() // 1_000_000
        if self.end_now:
            self.first_shift = ending_at(self.info, self.wall_ms_at_start, self.history_ms)
        # A short close_timeout: at shutdown, clients that do not answer the close handshake are not waited for.
        self._server = serve(self._handle, self.host, self.port, close_timeout=1)
        self.port = self._server.socket.getsockname()[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="bcx-replay", daemon=True)
        self._thread.start()
        log.info(
            "replaying %s (%d messages, %s) on %s at speed %s",
            self.path,
            self.info.count,
            ", ".join(sorted(self.info.products)),
            self.url,
            self.speed or "max",
        )
        return self

    def stop(self) -> None:
        """Close every connection, wait for their threads and stop listening."""
        if self._server is not None:
            self._server.shutdown()
            self._thread.join()
            self._server = None

    def __enter__(self) -> ReplayServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def url_for(self, protocol: str) -> str:
        """The address that speaks an adapter's protocol (`coinbase-exchange`, `kraken`, ...)."""
        return self.url + replay_path(protocol)

    def _handle(self, conn: ServerConnection) -> None:
        protocol = replay_protocol(conn.request.path if conn.request else "/")
        if protocol is None:
            conn.close(1008, f"no such feed: {conn.request.path if conn.request else '?'}")
            return
        exchange = protocol.name
        products = {split(s).product for s in self.info.products if split(s).exchange == exchange}
        _Session(self, conn, protocol(products)).run()

    def _pass_done(self) -> None:
        with self._lock:
            self.passes += 1

    def _count(self, name: str) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + 1)


class _Session:
    """One client: a handler thread reads its requests, a player thread sends it the file."""

    def __init__(self, server: ReplayServer, conn: ServerConnection, protocol: ReplayProtocol):
        self.server = server
        self.conn = conn
        self.protocol = protocol
        # channel -> canonical products, replaced as a whole on every change so the player reads it without a lock
        self.subs: dict[str, frozenset[str]] = {}
        self.playing: frozenset[tuple[str, str]] = frozenset()  # (channel, series id) pairs sent to this client
        self.stop = threading.Event()
        self.player: threading.Thread | None = None
        self.played: dict[str, Entry] = {}  # series id -> the last entry played
        self.started = self.next_beat = self.clock_at = time.monotonic()
        self.clock_ms = server.info.first_ms  # the recording's time now, for synthesized keepalives
        self.batch: list[bytes] = []  # frames waiting for one socket write (--speed max, --end-now's history)
        self.catching_up = False  # --end-now: sending the history before now

    def run(self) -> None:
        deadline = time.monotonic() + SUBSCRIBE_TIMEOUT
        try:
            for frame in self.protocol.greeting():
                self.conn.send(frame)
            opened = self.protocol.opened(self.conn.request.path if self.conn.request else "/")
            if opened is not None:
                self._apply(opened)
            if self.protocol.ping_every:
                threading.Thread(target=self._ping, name="bcx-replay-ping", daemon=True).start()
            while not self.subs:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self.conn.close(1008, "no subscribe within 5 seconds")
                    return
                try:
                    self._request(self.conn.recv(timeout=remaining))
                except TimeoutError:
                    continue
            self._settle()
            for raw in self.conn:
                self._request(raw)
        except ConnectionClosed:
            pass
        finally:
            self.stop.set()
            if self.player is not None:
                self.player.join()

    def _request(self, raw: str | bytes) -> None:
        self._apply(self.protocol.request(raw, self.subs))

    def _apply(self, request: Request) -> None:
        subs = {name: set(ids) for name, ids in self.subs.items()}
        for name, ids in request.subscribe.items():
            subs.setdefault(name, set()).update(ids)
        for name, ids in request.unsubscribe.items():
            subs.get(name, set()).difference_update(ids)
        self.subs = {name: frozenset(ids) for name, ids in subs.items() if ids}
        exchange = self.protocol.name
        self.playing = frozenset((name, f"{exchange}:{p}") for name, ids in self.subs.items() for p in ids)
        for frame in request.replies:
            self.conn.send(frame)

    def _settle(self) -> None:
        """Take the requests that follow the first subscribe at once, then start playing."""
        while True:
            try:
                self._request(self.conn.recv(timeout=SUBSCRIBE_SETTLE))
            except TimeoutError:
                break
        self.player = threading.Thread(target=self._play, name="bcx-replay-player", daemon=True)
        self.player.start()

    def _play(self) -> None:
        try:
            self._play_file()
            while not self.stop.is_set():
                self._wait_until(time.monotonic() + self.protocol.heartbeat_every)
        except (ConnectionClosed, OSError):  # OSError: the client went away in the middle of a batch
            pass
        except Exception:  # a broken file must not leave the client hanging without a word
            log.exception("replay of %s failed", self.server.path)
            self.conn.close(1011, "replay failed")

    def _play_file(self) -> None:
        info, speed = self.server.info, self.server.speed
        exchange = self.protocol.name
        joined = self.clock_at = time.monotonic()
        self.started = self.server.started_at if self.server.live and speed is not None else joined
        self.next_beat = joined + self.protocol.heartbeat_every
        shift, missed = self.server.first_shift, False
        while True:
            for entry in info.index.entries(self.server.path):
                if split(entry.product).exchange != exchange:
                    continue
                entry = shifted(self.protocol, entry, shift)
                if self.server.end_now and entry.time_ms:
                    due = self.server.started_at + (entry.time_ms - self.server.wall_ms_at_start) / 1000
                    self.catching_up = due <= time.monotonic()  # history: at once, in batches
                    if not self.catching_up:
                        self._flush()
                        self._wait_until(due)
                elif speed is not None and entry.time_ms:  # time 0: sent right after the line before it (or not)
                    due = self.started + (entry.time_ms - info.first_ms) / 1000 / speed
                    missed = due < joined  # live: played before this client came
                    if not missed:
                        self._wait_until(due)
                elif time.monotonic() >= self.next_beat:
                    self._heartbeats()
                if self.stop.is_set():
                    return
                if not missed:
                    self._send(entry)
            self._flush()
            self.server._pass_done()
            if not self.server.loop:
                return
            shift = shift.next(info)

    def _send(self, entry: Entry) -> None:
        self.played[entry.product] = entry
        if entry.time_ms:
            self.clock_ms, self.clock_at = entry.time_ms, time.monotonic()
        if (entry.channel, entry.product) not in self.playing:
            return
        for frame in self.protocol.frames(entry):
            if self.server.speed is None or self.catching_up:
                self.batch.append(text_frame(frame.encode()))
                if len(self.batch) >= MAX_SPEED_BATCH:
                    self._flush()
            else:
                self.conn.send(frame)

    def _flush(self) -> None:
        """Write the batched frames in one call, under the connection's lock so that no frame websockets sends
        itself (a pong, a close) lands inside the batch; raises ConnectionClosed once the connection is closing.
        websockets' `protocol_mutex`, `protocol.state` and `socket`: pinned in setup.py, guarded by
        tests/integration/test_replay.py."""
        if not self.batch:
            return
        frames, self.batch = b"".join(self.batch), []
        with self.conn.protocol_mutex:
            if self.conn.protocol.state is not State.OPEN:
                raise ConnectionClosed(None, None)
            self.conn.socket.sendall(frames)

    def _ping(self) -> None:
        """The protocol's keepalive pings; a client whose pong is late is disconnected, as the exchange does."""
        every, timeout = self.protocol.ping_every, self.protocol.pong_timeout
        while not self.stop.wait(every):
            try:
                pong = self.conn.ping(ack_on_close=True)  # set by the pong, or by the end of the connection
            except ConnectionClosed:
                return
            if not pong.wait(timeout):
                self.server._count("pong_timeouts")
                self.conn.close(1008, f"no pong within {timeout:g}s")
                return
            if self.conn.protocol.state is not State.OPEN:
                return
            self.server._count("pongs")

    def _wait_until(self, due: float) -> None:
        """Sleep until `due`, sending the keepalives that fall due meanwhile; returns early on stop."""
        while not self.stop.is_set():
            now = time.monotonic()
            if now >= self.next_beat:
                self._heartbeats()
            if now >= due:
                return
            self.stop.wait(min(due, self.next_beat) - now)

    def _heartbeats(self) -> None:
        self._flush()  # the heartbeat must not overtake the messages played before it
        now = time.monotonic()
        self.next_beat = max(self.next_beat + self.protocol.heartbeat_every, now)
        time_ms = self.clock_ms + int((now - self.clock_at) * 1000 * (self.server.speed or 1))
        for frame in self.protocol.heartbeats(self.subs, self.played, time_ms):
            self.conn.send(frame)


def text_frame(payload: bytes) -> bytes:
    """One final, unmasked text frame as a server sends it (RFC 6455 section 5.2)."""
    size = len(payload)
    if size < 126:
        return bytes((0x81, size)) + payload
    if size < 65536:
        return b"\x81\x7e" + size.to_bytes(2, "big") + payload
    return b"\x81\x7f" + size.to_bytes(8, "big") + payload


def describe(server: ReplayServer) -> list[str]:
    """What a supervisor needs to point a tracker at this server without importing this package: each series the
    recording holds (exchange by exchange, in bcx.series' order), each exchange's feed URL, then `ready`."""
    series = sorted(server.info.products, key=lambda s: (EXCHANGES.index(split(s).exchange), s))
    lines = [f"series {' '.join(series)}"]
    for exchange in dict.fromkeys(split(s).exchange for s in series):
        protocol = "coinbase-exchange" if exchange == "coinbase" else exchange
        lines.append(f"feed {exchange} {protocol} {server.url_for(protocol)}")
    return [*lines, "ready"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bcx-replay",
        description="Play a feed recording over a local websocket, speaking each exchange's protocol.",
    )
    parser.add_argument("file", help="recording to play (.jsonl or .jsonl.gz)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (default 0: pick a free one)")
    parser.add_argument("--speed", type=arg_type(replay_speed), default=1.0, help="1 = real time (default), 10, or max")
    parser.add_argument("--loop", action="store_true", help="play the file again after its end, times shifted")
    parser.add_argument(
        "--end-now",
        action="store_true",
        help="shift the file to end now: the history before now at once, then real time, looping (the demo)",
    )
    parser.add_argument(
        "--history",
        type=arg_type(positive_duration),
        default="1d",
        help="with --end-now: how much before now (default 1d)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="log warnings and errors only")
    args = parser.parse_args(argv)
    setup_logging("WARNING" if args.quiet else "INFO")
    try:
        history = int(args.history * 1000) if args.end_now else None
        server = ReplayServer(
            args.file, args.host, args.port, args.speed, args.loop, end_now_history_ms=history
        ).start()
    except (OSError, ValueError) as exc:
        print(f"bcx-replay: {exc}", file=sys.stderr)
        return 2
    # Tools wait for this exact line to learn the address; `bcx up` reads the lines after it (describe).
    print(f"listening on {server.url}", flush=True)
    for line in describe(server):
        print(line, flush=True)
    stopper = Stopper().install()
    try:
        while not stopper.stopping:
            time.sleep(0.2)
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
