"""Live tick streams wake on the tracker's announcements (TickStore.announce) against a real redis-server, and
fall back to polling when there is no subscription."""

from __future__ import annotations

import json
import threading
from dataclasses import replace

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from bcx.config import load_config, packaged_default
from bcx.embedded import free_port
from bcx.store import TickStore
from bcx_web import api
from bcx_web.app import create_app
from bcx_web.live import TickWaiter
from tests.integration.test_web import T0, tick


def test_waiter_wakes_once_per_burst_of_announcements(redis_conn):
    store = TickStore(redis_conn, "bcx", chunk_entries=4)
    waiter = TickWaiter(redis_conn, "bcx")
    try:
        assert waiter.wait(0.5) is False  # nothing announced (and the subscription is confirmed)
        store.announce(["BTC-USD", "ETH-USD", "BTC-USD"])
        store.announce(["ETH-USD"])
        assert waiter.wait(10) is True
        assert waiter.wait(0.1) is False  # both were taken by the one wake-up
        other = TickWaiter(redis_conn, "other-prefix")
        assert other.wait(0.5) is False  # subscribed
        store.announce(["BTC-USD"])
        assert other.wait(0.3) is False and waiter.wait(10) is True  # only this prefix's streams hear it
        other.close()
    finally:
        waiter.close()


def test_waiter_without_redis_falls_back_to_sleeping():
    gone = redis.Redis(port=free_port(), socket_connect_timeout=1, retry=Retry(NoBackoff(), 0))
    waiter = TickWaiter(gone, "bcx")
    assert waiter.wait(0.01) is False
    waiter.close()


def test_tick_stream_sends_an_announced_tick_without_waiting_for_the_poll(redis_config, redis_conn, monkeypatch):
    monkeypatch.setattr(api, "TICK_POLL_S", 30.0)  # a poll would come after the stream's end: only a wake-up helps
    store = TickStore(redis_conn, "bcx", chunk_entries=4)
    store.add([tick(T0, 1, "1.00")])
    base = load_config(str(packaged_default()))
    config = replace(base, redis=redis_config, web=replace(base.web, sse_max_duration=10.0))
    response = create_app(config, {"TESTING": True}).test_client().get("/api/v1.0/ticks/stream", buffered=False)
    received = []
    for chunk in response.response:
        text = chunk.decode() if isinstance(chunk, bytes) else chunk
        received += [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]
        if len(received) == 1:  # written while the stream waits, as the tracker would
            threading.Timer(0.3, lambda: (store.add([tick(T0 + 1, 2, "2.00")]), store.announce(["BTC-USD"]))).start()
        if len(received) == 2:
            break
    response.close()
    assert [(t["trade_id"], t["price"]) for t in received] == [(1, "1.00"), (2, "2.00")]
