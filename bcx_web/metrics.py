"""Prometheus metrics through the standard client library: requests, latency, Redis errors, open streams, and
the age of each series' newest tick (read from Redis when scraped).

Under gunicorn each worker is a process, so `bcx-web` sets PROMETHEUS_MULTIPROC_DIR (a fresh directory) before
this module is first imported: the client then keeps every value in per-process files there, /metrics sums them
over the live workers (MultiProcessCollector), and gunicorn's child_exit hook marks a dead worker's files
(`mark_process_dead`). Without the variable (Flask's test client, `flask run`) the process's own registry is used.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector

from bcx.series import split

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

REQUESTS = Counter("bcx_web_requests_total", "HTTP requests answered", ["method", "endpoint", "status"])
LATENCY = Histogram(
    "bcx_web_request_seconds",
    "Time to answer a request (streams: to the first byte)",
    ["endpoint"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
REDIS_ERRORS = Counter("bcx_web_redis_errors_total", "Requests that failed because Redis did not answer")
LABELS = ["series", "exchange", "product"]  # bcx_tick_age_seconds' labels: bcx.series.Series.as_dict()'s names
STREAMS = Gauge("bcx_web_open_streams", "Server-Sent-Event streams open", ["stream"], multiprocess_mode="livesum")


class TickAgeCollector(Collector):
    """bcx_tick_age_seconds{series, exchange, product}: seconds since each series' newest tick, read when scraped.
    `series` names it; `exchange` and `product` are there so a query can group by either."""

    def __init__(self, ages: Callable[[], dict[str, float | None]]):
        self.ages = ages

    def collect(self) -> Iterable[GaugeMetricFamily]:
        family = GaugeMetricFamily("bcx_tick_age_seconds", "Seconds since the newest tick", labels=LABELS)
        for series, age in self.ages().items():
            if age is not None:
                names = split(series).as_dict()
                family.add_metric([names[label] for label in LABELS], age)
        yield family


def render(ages: Callable[[], dict[str, float | None]]) -> bytes:
    """The exposition text: the request metrics (summed over workers in multiprocess mode), then tick ages."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    ticks = CollectorRegistry()
    ticks.register(TickAgeCollector(ages))
    return generate_latest(registry) + generate_latest(ticks)


def worker_exited(pid: int) -> None:
    """gunicorn's child_exit hook: a dead worker's live gauges stop counting."""
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(pid)
