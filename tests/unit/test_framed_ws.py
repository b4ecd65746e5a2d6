"""FramedWebSocket: messages split out of socket reads, against frames built by another implementation (websockets'
Frame) and RFC 6455's own examples (section 5.7), never by our encoder: a bug shared by both sides would pass.
bcx-replay's encoder, text_frame(), is checked against the same."""

from __future__ import annotations

import pytest
from websocket import ABNF, WebSocketProtocolException, WebSocketTimeoutException
from websockets.frames import Frame, Opcode

from bcx_tracker.framed_ws import FramedWebSocket
from bcx_tracker.replay import text_frame

TEXT, BINARY, CLOSE = ABNF.OPCODE_TEXT, ABNF.OPCODE_BINARY, ABNF.OPCODE_CLOSE


def frame(opcode: int, payload: bytes, final: bool = True) -> bytes:
    """An unmasked frame as a server sends it, built by websockets."""
    return Frame(Opcode(opcode), payload, fin=final).serialize(mask=False)


def text(payload: bytes) -> bytes:
    return frame(TEXT, payload)


# RFC 6455 section 5.7, the unmasked examples byte for byte
RFC_HELLO = bytes([0x81, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F])  # a single-frame text message "Hello"
RFC_HEL_LO = bytes([0x01, 0x03, 0x48, 0x65, 0x6C]) + bytes([0x80, 0x02, 0x6C, 0x6F])  # "Hel" + "lo", fragmented
RFC_PING = bytes([0x89, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F])  # an unmasked ping, "Hello"
RFC_256 = bytes([0x82, 0x7E, 0x01, 0x00]) + bytes(256)  # 256 bytes of binary, 16-bit length
RFC_64K = bytes([0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0]) + bytes(65536)  # 64 KiB of binary, 64-bit length


class Reads(FramedWebSocket):
    """A FramedWebSocket fed from a list of byte strings instead of a socket; pongs are kept."""

    def __init__(self, *reads: bytes):
        super().__init__(skip_utf8_validation=True)
        self.reads = list(reads)
        self.pongs: list[bytes] = []

    def _recv(self, bufsize: int) -> bytes:
        if not self.reads:
            raise WebSocketTimeoutException("timed out")
        data = self.reads.pop(0)
        assert len(data) <= bufsize
        return data

    def pong(self, payload: bytes) -> None:
        self.pongs.append(payload)


def test_the_rfcs_examples():
    ws = Reads(RFC_HELLO + RFC_HEL_LO, RFC_PING + RFC_256[:3], RFC_256[3:] + RFC_64K)
    assert ws.recv_messages() == [(TEXT, b"Hello"), (TEXT, b"Hello")]
    assert ws.recv_messages() == []  # the ping is answered; the 256 bytes are not all here yet
    assert ws.pongs == [b"Hello"]
    assert ws.recv_messages() == [(BINARY, bytes(256)), (BINARY, bytes(65536))]
    assert text_frame(b"Hello") == RFC_HELLO


@pytest.mark.parametrize("size", [0, 5, 125, 126, 65535, 65536])
def test_replays_text_frame_is_what_websockets_and_the_rfc_write(size):
    payload = b"x" * size
    assert text_frame(payload) == text(payload)


def test_every_message_of_one_read_and_frames_split_between_reads():
    big, huge = b"x" * 300, b"y" * 70_000  # 16-bit and 64-bit length fields
    stream = text(b"a") + text(big) + text(huge) + text(b"b")
    cut1, cut2 = 1, len(text(b"a")) + 3  # inside the first header; inside the second header
    ws = Reads(stream[:cut1], stream[cut1:cut2], stream[cut2:5000], stream[5000:])
    assert ws.recv_messages() == []
    assert ws.recv_messages() == [(TEXT, b"a")]
    assert ws.recv_messages() == [(TEXT, big)]
    assert ws.recv_messages() == [(TEXT, huge), (TEXT, b"b")]
    with pytest.raises(WebSocketTimeoutException):
        ws.recv_messages()


def test_fragments_are_joined_and_a_ping_between_them_is_answered():
    ws = Reads(
        frame(BINARY, b"ab", final=False)
        + frame(ABNF.OPCODE_PING, b"hi")
        + frame(ABNF.OPCODE_CONT, b"cd", final=False)
        + frame(ABNF.OPCODE_PONG, b"")
        + frame(ABNF.OPCODE_CONT, b"ef")
        + text(b"next")
    )
    assert ws.recv_messages() == [(BINARY, b"abcdef"), (TEXT, b"next")]
    assert ws.pongs == [b"hi"]


def test_a_close_frame_ends_the_messages():
    close = frame(CLOSE, (1001).to_bytes(2, "big") + b"going away")
    ws = Reads(text(b"a") + close + text(b"after"))
    assert ws.recv_messages() == [(TEXT, b"a"), (CLOSE, b"\x03\xe9going away")]


@pytest.mark.parametrize(
    "data, error",
    [
        (b"\x81\x81abcd!", "masked"),
        (b"\xc1\x01a", "reserved bits"),
        (b"\x83\x01a", "unknown opcode 3"),
        (frame(ABNF.OPCODE_CONT, b"a"), "continuation frame outside"),
        (frame(TEXT, b"a", final=False) + text(b"b"), "new message before the end"),
        (b"\x81\x7f" + (2**40).to_bytes(8, "big"), "a frame of 1099511627776 bytes"),
    ],
)
def test_protocol_errors(data, error):
    with pytest.raises(WebSocketProtocolException, match=error):
        Reads(data).recv_messages()
