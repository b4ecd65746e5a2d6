"""Webhook delivery of alerts: an HTTP POST of each alert's JSON to `[watcher] webhook`, off the watcher loop.

A background thread takes alerts from a bounded queue and posts them with retries (capped exponential backoff
with jitter, bcx.backoff) and a timeout per request, so a slow or dead endpoint never holds up the watcher. A
2xx answer is delivered; 4xx other than 408/429 is a permanent refusal, not retried; the rest is retried up to
MAX_ATTEMPTS times. An alert that cannot be delivered is logged and dropped: it stays in the alerts stream, where
`bcx alerts --since ID` finds it.
"""

from __future__ import annotations

import logging
import queue
import threading
from urllib.parse import urlsplit

import requests

from bcx.alerts import Alert
from bcx.backoff import backoff_delay
from bcx.ratelog import worth_logging

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
REQUEST_TIMEOUT_S = 5.0
BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 30.0
QUEUE_SIZE = 1000
STOP_GRACE_S = 5.0  # at shutdown, how long queued alerts may still take to go out


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
        self.session = requests.Session()
        self.thread = threading.Thread(target=self._run, name="webhook", daemon=True)
        self.thread.start()

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
        for attempt in range(1, self.max_attempts + 1):
            problem = self._post(alert)
            if problem is None:
                return True
            if problem.startswith("refused"):
                break
            if attempt < self.max_attempts:
                delay = backoff_delay(attempt, base=self.backoff_base, cap=BACKOFF_CAP_S)
                self.failed_attempts += 1
                if worth_logging(self.failed_attempts):
                    log.warning(
                        "webhook %s: %s; trying again in %.1fs (failed attempt #%d)",
                        self.where,
                        problem,
                        delay,
                        self.failed_attempts,
                    )
                if self.aborting.wait(delay):
                    break
        if worth_logging(self.failed + 1):
            log.error(
                "webhook %s: giving up on alert %s (%s); it stays in the alerts stream (#%d undelivered)",
                self.where,
                alert.id,
                problem,
                self.failed + 1,
            )
        return False

    def _post(self, alert: Alert) -> str | None:
        """None when delivered, else what went wrong ("refused ..." when retrying cannot help)."""
        try:
            response = self.session.post(
                self.url,
                data=alert.to_json(),
                headers={"Content-Type": "application/json"},
                timeout=REQUEST_TIMEOUT_S,
            )
        except requests.RequestException as exc:
            return f"{type(exc).__name__}: {self._scrubbed(str(exc))}"
        if 200 <= response.status_code < 300:
            return None
        if 400 <= response.status_code < 500 and response.status_code not in (408, 429):
            return f"refused with HTTP {response.status_code}"
        return f"HTTP {response.status_code}"

    def _scrubbed(self, text: str) -> str:
        """An error message without the URL's path, query or password (requests puts the URL in its messages)."""
        parts = urlsplit(self.url)
        for secret in (self.url, parts.query, parts.path if parts.path not in ("", "/") else "", parts.password):
            if secret:
                text = text.replace(secret, "***")
        return text
