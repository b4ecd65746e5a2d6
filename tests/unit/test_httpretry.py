"""The retry policies, through urllib3's own `Retry` API (no server): what is retried, and how long each wait is.
Against real local servers: tests/integration/test_backfill_cli.py (REST) and test_webhook.py."""

from __future__ import annotations

import pytest
from urllib3 import HTTPResponse
from urllib3.exceptions import MaxRetryError

from bcx_tracker.rest import MAX_RETRY_AFTER, THROTTLED_RETRIES, throttled_retry


def answer(status: int, **headers: str) -> HTTPResponse:
    return HTTPResponse(body=b"", status=status, headers=headers)


def failed(retry, response: HTTPResponse):
    return retry.increment(method="GET", url="/products", response=response)


def waits(retry, response: HTTPResponse) -> list[float]:
    waited: list[float] = []
    retry.pause = lambda seconds, last: waited.append(seconds)
    retry.sleep(response)
    return waited


def test_a_429_is_retried_and_waits_its_retry_after_capped():
    retry = throttled_retry(lambda seconds, last: None)
    assert retry.is_retry("GET", 429, has_retry_after=True)
    assert waits(failed(retry, answer(429, **{"Retry-After": "7"})), answer(429, **{"Retry-After": "7"})) == [7.0]
    too_long = answer(429, **{"Retry-After": "3600"})
    assert waits(failed(retry, too_long), too_long) == [MAX_RETRY_AFTER]


def test_a_429_without_retry_after_backs_off_exponentially_with_a_cap():
    retry, delays = throttled_retry(lambda seconds, last: None), []
    for _ in range(THROTTLED_RETRIES):
        retry = failed(retry, answer(429))
        delays += waits(retry, answer(429))
    assert delays[0] == 0.0 and 4.0 <= delays[1] <= 5.0 and 8.0 <= delays[2] <= 9.0  # 2s * 2**n, + up to 1s jitter
    with pytest.raises(MaxRetryError):  # the adapter then hands the last 429 to the caller (raise_on_status=False)
        failed(retry, answer(429))


def test_other_answers_are_the_callers_at_once():
    retry = throttled_retry(lambda seconds, last: None)
    for status in (418, 500, 503, 404):  # 418: Binance's ban; an error page: the backfill stops and resumes later
        assert not retry.is_retry("GET", status)
    assert retry.is_retry("GET", 503, has_retry_after=True)  # urllib3 honours a 503's Retry-After too
