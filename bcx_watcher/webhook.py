"""Webhook delivery of alerts: an HTTP POST of each alert's JSON to `[watcher] webhook`, off the watcher loop.

A background thread takes alerts from a bounded queue and posts them with a timeout per request, so a slow or dead
endpoint never holds up the watcher. Retries are urllib3's (bcx.httpretry): a 2xx answer is delivered; 4xx other
than 408/429 is a permanent refusal, not retried; an unreachable endpoint, 408, 429 and 5xx are retried up to
MAX_ATTEMPTS attempts in all, after the endpoint's Retry-After or capped exponential backoff with jitter. An alert
that cannot be delivered is logged and dropped: it stays in the alerts stream, where `bcx alerts --since ID` finds
it. `delivered` and `failed` count alerts (reported in `bcx status` through the watcher's heartbeat).
"""

from __future__ import annotations

import logging
import queue
import threading
from urllib.parse import urlsplit

import requests
from urllib3.util.retry import RequestHistory

from bcx.alerts import Alert
from bcx.httpretry import PausingRetry, retrying_session
from bcx.ratelog import worth_logging

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
REQUEST_TIMEOUT_S = 5.0
BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 30.0  # also the longest Retry-After waited out
BACKOFF_JITTER_S = 0.5
RETRIED_STATUSES = frozenset({408, 429, *range(500, 600)})
QUEUE_SIZE = 1000
STOP_GRACE_S = 5.0  # at shutdown, how long queued alerts may still take to go out


class Stopping(Exception):
    """Raised from a retry's wait when `stop()` gives up on the queue: out of urllib3, to `_post`."""


class WebhookSender:
    """`send(alert)` never blocks; `stop()` lets the queue drain for up to STOP_GRACE_S, then gives up."""

    def __init__(
        self,
        url: str,
        backoff_base: float = BACKOFF_BASE_S,
        max_attempts: int = MAX_ATTEMPTS,
        stop_grace: float = STOP_GRACE_S,
    ):
        self.url = url
        # What logs show: the host only. A webhook's path and query often are its secret (Slack, Discord tokens).
        self.where = urlsplit(url).netloc.rpartition("@")[2]
        self.failed_attempts = 0
        self.stop_grace = stop_grace
        self.backoff_base = backoff_base
        self.max_attempts = max_attempts
        self.delivered = 0
        self.failed = 0
        self.queue: queue.Queue[Alert | None] = queue.Queue(QUEUE_SIZE)
        self.aborting = threading.Event()
        self.session = retrying_session(self.retry_policy())
        self.thread = threading.Thread(target=self._run, name="webhook", daemon=True)
        self.thread.start()

    def retry_policy(self) -> PausingRetry:
        return PausingRetry(
            total=self.max_attempts - 1,
            redirect=0,
            status_forcelist=RETRIED_STATUSES,
            allowed_methods={"POST"},
            backoff_factor=self.backoff_base,
            backoff_max=BACKOFF_CAP_S,
            backoff_jitter=BACKOFF_JITTER_S * self.backoff_base,
            retry_after_max=int(BACKOFF_CAP_S),
            raise_on_status=False,
            pause=self._pause,
        )

    def send(self, alert: Alert) -> None:
        try:
            self.queue.put_nowait(alert)
        except queue.Full:
            self.failed += 1
            log.error("webhook queue full (%d alerts waiting): not posting alert %s", QUEUE_SIZE, alert.id)

    def stop(self) -> None:
        self.queue.put(None)  # after whatever is queued
        self.thread.join(self.stop_grace)
        if self.thread.is_alive():
            self.aborting.set()
            self.thread.join(REQUEST_TIMEOUT_S + 1)
        self.session.close()

    def _run(self) -> None:
        while True:
            alert = self.queue.get()
            if alert is None or self.aborting.is_set():
                return
            if self._deliver(alert):
                self.delivered += 1
            else:
                self.failed += 1

    def _deliver(self, alert: Alert) -> bool:
        problem = self._post(alert)
        if problem is None:
            return True
        if worth_logging(self.failed + 1):
            log.error(
                "webhook %s: giving up on alert %s (%s); it stays in the alerts stream (#%d undelivered)",
                self.where,
                alert.id,
                problem,
                self.failed + 1,
            )
        return False

    def _pause(self, seconds: float, last: RequestHistory | None) -> None:
        """urllib3's wait before the next attempt: logged at a bounded rate, and cut short by `stop()`."""
        self.failed_attempts += 1
        if worth_logging(self.failed_attempts):
            problem = self._problem(last.status, last.error) if last is not None else "failed"
            log.warning(
                "webhook %s: %s; trying again in %.1fs (failed attempt #%d)",
                self.where,
                problem,
                seconds,
                self.failed_attempts,
            )
        if self.aborting.wait(seconds):
            raise Stopping

    def _post(self, alert: Alert) -> str | None:
        """None when delivered, else what went wrong (after urllib3's retries)."""
        try:
            response = self.session.post(
                self.url,
                data=alert.to_json(),
                headers={"Content-Type": "application/json"},
                timeout=REQUEST_TIMEOUT_S,
            )
        except Stopping:
            return "stopping"
        except requests.RequestException as exc:
            return self._problem(None, exc)
        return self._problem(response.status_code, None)

    def _problem(self, status: int | None, error: Exception | None) -> str | None:
        if error is not None:
            return f"{type(error).__name__}: {self._scrubbed(str(error))}"
        if status is None or 200 <= status < 300:
            return None
        return f"HTTP {status}" if status in RETRIED_STATUSES else f"refused with HTTP {status}"

    def _scrubbed(self, text: str) -> str:
        """An error message without the URL's path, query or password (requests puts the URL in its messages)."""
        parts = urlsplit(self.url)
        for secret in (self.url, parts.query, parts.path if parts.path not in ("", "/") else "", parts.password):
            if secret:
                text = text.replace(secret, "***")
        return text
