"""FramedWebSocket: messages split out of socket reads, against frames built by bcx-replay's text_frame()."""

from __future__ import annotations

import pytest
from websocket import ABNF, WebSocketProtocolException, WebSocketTimeoutException

from bcx_tracker.framed_ws import FramedWebSocket
from bcx_tracker.replay import text_frame

TEXT, BINARY, CLOSE = ABNF.OPCODE_TEXT, ABNF.OPCODE_BINARY, ABNF.OPCODE_CLOSE


def frame(opcode: int, payload: bytes, final: bool = True) -> bytes:
    return bytes(((0x80 if final else 0) | opcode,)) + text_frame(payload)[1:]


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


def test_every_message_of_one_read_and_frames_split_between_reads():
    big, huge = b"x" * 300, b"y" * 70_000  # 16-bit and 64-bit length fields
    stream = text_frame(b"a") + text_frame(big) + text_frame(huge) + text_frame(b"b")
    cut1, cut2 = 1, len(text_frame(b"a")) + 3  # inside the first header; inside the second header
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
        + text_frame(b"next")
    )
    assert ws.recv_messages() == [(BINARY, b"abcdef"), (TEXT, b"next")]
    assert ws.pongs == [b"hi"]


def test_a_close_frame_ends_the_messages():
    close = frame(CLOSE, (1001).to_bytes(2, "big") + b"going away")
    ws = Reads(text_frame(b"a") + close + text_frame(b"after"))
    assert ws.recv_messages() == [(TEXT, b"a"), (CLOSE, b"\x03\xe9going away")]


@pytest.mark.parametrize(
    "data, error",
    [
        (b"\x81\x81abcd!", "masked"),
        (b"\xc1\x01a", "reserved bits"),
        (b"\x83\x01a", "unknown opcode 3"),
        (frame(ABNF.OPCODE_CONT, b"a"), "continuation frame outside"),
        (frame(TEXT, b"a", final=False) + text_frame(b"b"), "new message before the end"),
        (b"\x81\x7f" + (2**40).to_bytes(8, "big"), "a frame of 1099511627776 bytes"),
    ],
)
def test_protocol_errors(data, error):
    with pytest.raises(WebSocketProtocolException, match=error):
        Reads(data).recv_messages()
