"""A websocket-client connection that hands over every message one socket read brings, parsed in one pass.

websocket-client reads a frame with one `recv` per part (header, extended length, payload) and builds an object
per frame: about 15 us of Python per feed message here, more than parsing its JSON. `recv_messages` reads up to
READ_SIZE bytes at once and splits them into messages in a single loop (RFC 6455 section 5: server frames are
never masked; control frames may come between the fragments of a message). Everything else (the opening
handshake, sending, pongs, the closing handshake, TLS, proxies) stays websocket-client's.
"""

from __future__ import annotations

import websocket
from websocket import ABNF, WebSocketProtocolException

READ_SIZE = 256 * 1024
MAX_MESSAGE = 64 * 1024**2  # websocket-client has no limit; a frame claiming more is taken for garbage
_DATA = (ABNF.OPCODE_TEXT, ABNF.OPCODE_BINARY)


class FramedWebSocket(websocket.WebSocket):
    """Use as `websocket.create_connection(url, class_=FramedWebSocket, ...)`, then `recv_messages()`."""

    _unparsed = b""  # the start of a frame whose end has not arrived yet
    _fragments: list[bytes] | None = None  # the parts of a fragmented message so far
    _fragmented_opcode = ABNF.OPCODE_TEXT

    def recv_messages(self) -> list[tuple[int, bytes]]:
        """Waits (up to the socket's timeout: WebSocketTimeoutException) for bytes, then returns every message
        they complete as (opcode, payload): text, binary, or a close frame, which ends the list. Pings are
        answered here. The list is empty when the bytes completed no message."""
        received = self._recv(READ_SIZE)  # websocket-client's: maps timeouts and a closed socket to its errors
        data = self._unparsed + received if self._unparsed else received
        messages, used = self._split(data)
        self._unparsed = data[used:]
        return messages

    def _split(self, data: bytes) -> tuple[list[tuple[int, bytes]], int]:
        messages: list[tuple[int, bytes]] = []
        pos, end = 0, len(data)
        while end - pos >= 2:
            first, second = data[pos], data[pos + 1]
            if second & 0x80:
                raise WebSocketProtocolException("the server sent a masked frame")
            length, head = second & 0x7F, pos + 2
            if length >= 126:
                width = 2 if length == 126 else 8
                if end - head < width:
                    break
                length, head = int.from_bytes(data[head : head + width], "big"), head + width
            if length > MAX_MESSAGE:
                raise WebSocketProtocolException(f"a frame of {length} bytes")
            if head + length > end:
                break
            pos = head + length
            message = self._frame(first, data[head:pos])
            if message is not None:
                messages.append(message)
                if message[0] == ABNF.OPCODE_CLOSE:
                    break
        return messages, pos

    def _frame(self, first: int, payload: bytes) -> tuple[int, bytes] | None:
        """One frame -> the message it completes, if any."""
        opcode = first & 0x0F
        if first & 0x70:
            raise WebSocketProtocolException("reserved bits set without an extension")
        final = first & 0x80
        if opcode in _DATA and final and self._fragments is None:  # the usual case: a whole message
            return opcode, payload
        if opcode == ABNF.OPCODE_PING:
            self.pong(payload)
            return None
        if opcode == ABNF.OPCODE_PONG:
            return None
        if opcode == ABNF.OPCODE_CLOSE:
            return opcode, payload
        return self._fragment(opcode, final, payload)

    def _fragment(self, opcode: int, final: int, payload: bytes) -> tuple[int, bytes] | None:
        if opcode in _DATA:
            if self._fragments is not None:
                raise WebSocketProtocolException("a new message before the end of a fragmented one")
            self._fragments, self._fragmented_opcode = [payload], opcode
            return None
        if opcode != ABNF.OPCODE_CONT:
            raise WebSocketProtocolException(f"unknown opcode {opcode}")
        if self._fragments is None:
            raise WebSocketProtocolException("a continuation frame outside a fragmented message")
        self._fragments.append(payload)
        if sum(map(len, self._fragments)) > MAX_MESSAGE:
            raise WebSocketProtocolException("a fragmented message over the size limit")
        if not final:
            return None
        message, self._fragments = b"".join(self._fragments), None
        return self._fragmented_opcode, message
