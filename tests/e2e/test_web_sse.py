"""Alert SSE through a real bcx-web (gunicorn) process: streams end after sse_max_duration, the client reconnects
with Last-Event-ID, and no alert is missed or repeated, including those published while it was away."""

from __future__ import annotations

from dataclasses import replace

import pytest
import requests

from bcx import alerts
from tests.e2e.web_server import start_web

pytestmark = pytest.mark.e2e

ALERT = alerts.Alert("r", "BTC-USD", "price", "price", ">", "101", "100", 1, "BTC-USD price 101 > 100", 7)


def publish(redis_conn, first: int, count: int) -> list[str]:
    return [alerts.publish(redis_conn, "bcx", replace(ALERT, time_ms=i), 100) for i in range(first, first + count)]


def read_stream(url: str, last_id: str | None) -> tuple[list[str], str]:
    """Read one whole stream (it ends after sse_max_duration); the ids received and the raw text."""
    headers = {"Last-Event-ID": last_id} if last_id else {}
    ids, text = [], []
    with requests.get(url, headers=headers, stream=True, timeout=(5, 20)) as response:
        assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/event-stream")
        for line in response.iter_lines(decode_unicode=True):
            text.append(line)
            if line.startswith("id: "):
                ids.append(line[4:])
    return ids, "\n".join(text)


def test_alert_stream_resumes_with_last_event_id_and_misses_nothing(tmp_path, redis_section, redis_conn, processes):
    base = start_web(processes, tmp_path, redis_section, "sse_max_duration = 2s\nsse_heartbeat = 500ms\n")
    url = f"{base}/api/v1.0/alerts/stream"
    before = publish(redis_conn, 0, 3)
    first, text = read_stream(url, "0-0")
    assert first == before and "retry: " in text and "reconnect with Last-Event-ID" in text
    while_away = publish(redis_conn, 3, 4)
    second, _ = read_stream(url, first[-1])
    assert second == while_away
    third, text = read_stream(url, second[-1])
    assert third == [] and ": heartbeat" in text  # a quiet stream still writes, so a dead client is noticed


def test_streams_over_the_cap_get_503(tmp_path, redis_section, processes):
    base = start_web(processes, tmp_path, redis_section, "sse_max_streams = 1\nsse_max_duration = 10s\n")
    with requests.get(f"{base}/api/v1.0/ticks/stream", stream=True, timeout=(5, 20)) as held:
        assert held.status_code == 200
        next(held.iter_lines())  # the stream is open in the worker
        refused = requests.get(f"{base}/api/v1.0/alerts/stream", timeout=10)
        assert refused.status_code == 503 and "too many open streams" in refused.json()["error"]
        assert requests.get(f"{base}/api/v1.0/products", timeout=10).status_code == 200  # the pool still serves
    metrics = requests.get(f"{base}/api/v1.0/metrics", timeout=10).text
    assert 'bcx_web_requests_total{endpoint="api.products",method="GET",status="200"}' in metrics
