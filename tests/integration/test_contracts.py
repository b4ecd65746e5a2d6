"""Contract tests: the two places BCX reaches past a library's documented API for speed, against the real
libraries (the versions pinned in setup.py). When an upgrade breaks one of them, this fails first."""

from __future__ import annotations

import threading

import websocket
from websocket import ABNF
from websockets.protocol import State
from websockets.sync.server import ServerConnection, serve

from bcx_tracker.framed_ws import FramedWebSocket
from bcx_tracker.replay import text_frame


def test_framed_websocket_reads_real_frames_through_websocket_clients_recv():
    assert callable(getattr(websocket.WebSocket, "_recv", None))  # FramedWebSocket reads through it

    def handler(conn: ServerConnection) -> None:
        conn.recv()
        conn.ping(b"are you there")
        for number in range(300):
            conn.send(f'{{"n":{number}}}')
        conn.recv()  # until the client closes

    with serve(handler, "127.0.0.1", 0) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        port = server.socket.getsockname()[1]
        ws = websocket.create_connection(f"ws://127.0.0.1:{port}", timeout=5, class_=FramedWebSocket)
        try:
            ws.send("go")
            received: list[bytes] = []
            while len(received) < 300:
                received += [data for opcode, data in ws.recv_messages() if opcode == ABNF.OPCODE_TEXT]
            assert received == [f'{{"n":{n}}}'.encode() for n in range(300)]
        finally:
            ws.close()
        server.shutdown()


def test_a_websockets_server_connection_has_what_batched_replay_writes_use():
    seen: dict[str, object] = {}

    def handler(conn: ServerConnection) -> None:
        seen["state"] = conn.protocol.state
        with conn.protocol_mutex:  # the lock websockets holds while it writes a frame
            conn.socket.sendall(text_frame(b"one") + text_frame(b"two"))
        conn.recv()

    with serve(handler, "127.0.0.1", 0) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        port = server.socket.getsockname()[1]
        ws = websocket.create_connection(f"ws://127.0.0.1:{port}", timeout=5)
        try:
            assert [ws.recv(), ws.recv()] == ["one", "two"]
        finally:
            ws.close()
        server.shutdown()
    assert seen["state"] is State.OPEN
