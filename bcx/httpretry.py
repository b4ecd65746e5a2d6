"""HTTP retries through the libraries: urllib3's `Retry` on a requests `HTTPAdapter` (the exchanges' REST APIs, the
watcher's webhook).

urllib3 decides what is retried (the statuses and errors a policy names), how often, and how long to wait: the
`Retry-After` a server sends (delta seconds or an HTTP date, capped by `retry_after_max`), else capped exponential
backoff with jitter. `PausingRetry` only hands the wait itself to its owner: the REST client waits through its
token bucket (and a sleep a test can stand in for), the webhook through an event that `stop()` sets.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import InvalidHeader
from urllib3.util.retry import RequestHistory, Retry

# pause(seconds, last): wait before the next attempt; `last` is the attempt that failed (its error or status).
Pause = Callable[[float, RequestHistory | None], None]


class _NoRetryWarnings(logging.Filter):
    """urllib3 warns on every retry after a connection error, with the whole URL (a webhook's path and query are
    often its secret); the owner of each PausingRetry logs its retries itself, at a bounded rate, host only."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Retrying (")


logging.getLogger("urllib3.connectionpool").addFilter(_NoRetryWarnings())


def _sleep(seconds: float, last: RequestHistory | None) -> None:
    time.sleep(seconds)


class PausingRetry(Retry):
    """urllib3's Retry, waiting through `pause` instead of sleeping itself (its public `sleep`, `new`,
    `get_retry_after` and `get_backoff_time` are what this builds on)."""

    def __init__(self, *args, pause: Pause = _sleep, **kwargs):
        super().__init__(*args, **kwargs)
        self.pause = pause

    def new(self, **kwargs) -> PausingRetry:
        return super().new(pause=self.pause, **kwargs)

    def sleep(self, response=None) -> None:
        self.pause(self.wait_seconds(response), self.history[-1] if self.history else None)

    def wait_seconds(self, response=None) -> float:
        """The server's Retry-After when it sent one (and we respect it), else the backoff."""
        if response is not None and self.respect_retry_after_header:
            try:
                after = self.get_retry_after(response)
            except InvalidHeader:  # a Retry-After we cannot read: the backoff instead
                after = None
            if after is not None:
                return float(after)
        return self.get_backoff_time()


def retrying_session(retry: Retry) -> requests.Session:
    """A Session that sends every request through `retry`, on http and https alike."""
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
