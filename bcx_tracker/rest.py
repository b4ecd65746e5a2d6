"""Coinbase Exchange's public REST API, thinly: products, trades (paginated), 1-minute candles; the tracker's
`ExchangeRest` for Coinbase. `RestClient.get` (a Session, timeouts, the token bucket, 429 retries) is also the
HTTP layer the other exchanges' REST clients use.

One `requests.Session` with timeouts, every request through a token bucket kept under the public rate limit. A 429
is retried by urllib3 (bcx.httpretry): after its `Retry-After` (at most MAX_RETRY_AFTER), else after capped
exponential backoff with jitter, each retry also taking its token from the bucket; the answer after the last retry
is the caller's, as a RestError with its status and headers.
Responses are turned into our types by the pure functions at the bottom: a REST trade becomes a tick without
bid/ask (`881613|14.7775|||0.04`), a candle row `[time, low, high, open, close, volume]` (JSON numbers, newest
first) becomes a Candle with exact decimal strings and no trade count.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from decimal import Decimal

import requests

from bcx.candles import Candle
from bcx.httpretry import Pause, PausingRetry, retrying_session
from bcx.series import split
from bcx.tick import Tick, iso_to_ms
from bcx_tracker.exchange import ExchangeRest, TradesPage
from bcx_tracker.gaps import Gap, trades_page_done
from bcx_tracker.ratelimit import TokenBucket

log = logging.getLogger(__name__)

TIMEOUT = (5.0, 15.0)  # connect, read
RATE, BURST = 5.0, 5.0  # half the public limit (10/s, bursts of 15): other clients may share the address
TRADES_PER_PAGE = 1000
THROTTLED_RETRIES = 3
MAX_RETRY_AFTER = 120  # seconds a 429 is waited out at most (the next 429 asks again)
BACKOFF_FACTOR_S, BACKOFF_CAP_S, BACKOFF_JITTER_S = 2.0, 30.0, 1.0  # a 429 without Retry-After: 0s, 4s, 8s, + jitter


class RestError(Exception):
    """The REST API could not be reached or answered with an error; the message says which, `status` the HTTP
    status when there was an answer and `headers` its headers (an exchange's client may act on them: a ban)."""

    def __init__(self, message: str, status: int | None = None, headers: Mapping[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.headers = headers or {}


def throttled_retry(pause: Pause) -> PausingRetry:
    """A 429 retried THROTTLED_RETRIES times; anything else (errors, other statuses) is the caller's at once: a
    backfill resumes where it stopped, and a 418 (Binance's ban) must not be asked again."""
    return PausingRetry(
        total=THROTTLED_RETRIES,
        connect=0,
        read=0,
        other=0,
        redirect=0,
        status=THROTTLED_RETRIES,
        status_forcelist={429},
        allowed_methods={"GET"},
        backoff_factor=BACKOFF_FACTOR_S,
        backoff_max=BACKOFF_CAP_S,
        backoff_jitter=BACKOFF_JITTER_S,
        retry_after_max=MAX_RETRY_AFTER,
        raise_on_status=False,
        pause=pause,
    )


class RestClient(ExchangeRest):
    def __init__(
        self,
        base_url: str,
        session: requests.Session | None = None,
        bucket: TokenBucket | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.base_url = base_url.rstrip("/")
        self.session = session or retrying_session(throttled_retry(self.pause))
        self.session.headers.setdefault("User-Agent", "bcx-tracker")
        self.clock, self.sleep = clock, sleep
        self.bucket = bucket or TokenBucket(RATE, BURST, clock())

    def pause(self, seconds: float, last: object = None) -> None:
        """Wait before a request: `seconds` (a retry's wait), and at least until the bucket has a token."""
        self.sleep(max(seconds, self.bucket.take(self.clock())))

    def get(self, path: str, params: dict | None = None) -> tuple[object, requests.structures.CaseInsensitiveDict]:
        """JSON body and headers of a GET; RestError when unreachable, throttled too long, or answering an error."""
        self.pause(0.0)
        try:
            response = self.session.get(self.base_url + path, params=params, timeout=TIMEOUT)
        except requests.RequestException as exc:
            raise RestError(f"GET {path}: {exc}") from None
        try:
            body = json.loads(response.text, parse_float=Decimal)
        except ValueError:
            status, text = response.status_code, response.text[:100]
            raise RestError(f"GET {path}: HTTP {status}, not JSON: {text!r}", status, response.headers) from None
        status = response.status_code
        if status != 200 or isinstance(body, dict) and "message" in body:
            message = (body.get("message") or body.get("msg")) if isinstance(body, dict) else body  # msg: Binance's
            raise RestError(f"GET {path}: HTTP {status}: {message}", status, response.headers)
        return body, response.headers

    def products(self) -> list[dict]:
        body, _ = self.get("/products")
        if not isinstance(body, list):
            raise RestError("GET /products: not a list")
        return [p for p in body if isinstance(p, dict)]

    def check_products(self, products) -> tuple[list[str], list[str]]:
        listed = self.products()
        return unknown_products(tuple(products), listed), unavailable_products(tuple(products), listed)

    def trades(self, series: str, after: int | None = None) -> tuple[list[Tick], int | None]:
        """One page of trades older than trade id `after` (the newest page without it), newest first, and the
        cursor of the next older page (the CB-AFTER header)."""
        product = split(series).product
        params = {"limit": TRADES_PER_PAGE} | ({"after": after} if after is not None else {})
        body, headers = self.get(f"/products/{product}/trades", params)
        if not isinstance(body, list):
            raise RestError(f"GET /products/{product}/trades: not a list")
        cursor = headers.get("CB-AFTER")
        return [trade_tick(series, row) for row in body], int(cursor) if cursor and cursor.isdigit() else None

    def trades_since(self, series: str, since_ms: int, cursor: str | None = None) -> TradesPage:
        """The pages of `trades`, newest first, down to since_ms; the cursor is the CB-AFTER trade id."""
        after = int(cursor) if cursor else None
        page, next_cursor = self.trades(series, after=after)
        ticks = [t for t in page if t.time_ms >= since_ms]
        done = len(ticks) < len(page) or next_cursor is None or (after is not None and next_cursor >= after)
        return TradesPage(ticks, None if done or not page else str(next_cursor))

    def fetch_gap(self, gap: Gap, stopping: Callable[[], bool] = lambda: False) -> list[Tick]:
        """The trades with after < id <= upto, oldest first: pages walked down from just above the gap's end."""
        found: dict[int, Tick] = {}
        cursor: str | None = str(gap.upto + 1)
        while cursor is not None and not stopping():
            page = self.trades_since(gap.product, 0, cursor)  # the ids end the walk, not a time
            found.update((t.trade_id, t) for t in page.ticks if gap.after < t.trade_id <= gap.upto)
            if trades_page_done((t.trade_id for t in page.ticks), gap):
                break
            cursor = page.cursor
        return [found[trade_id] for trade_id in sorted(found)]

    def candles(self, series: str, start_s: int, end_s: int) -> list[Candle]:
        """1-minute candles with start_s <= time <= end_s, oldest first."""
        product = split(series).product
        params = {"granularity": 60, "start": start_s, "end": end_s}
        body, _ = self.get(f"/products/{product}/candles", params)
        if not isinstance(body, list):
            raise RestError(f"GET /products/{product}/candles: not a list")
        return sorted((candle_of_row(row) for row in body), key=lambda c: c.time_ms)


def unknown_products(wanted: tuple[str, ...], listed: list[dict]) -> list[str]:
    """The wanted ids the exchange does not list (one of them would make it ignore the whole subscribe)."""
    known = {p.get("id") for p in listed}
    return [product for product in wanted if product not in known]


def unavailable_products(wanted: tuple[str, ...], listed: list[dict]) -> list[str]:
    """Listed but not trading now (status not online, or trading disabled): worth a warning, not an error."""
    by_id = {p.get("id"): p for p in listed}
    return [
        p
        for p in wanted
        if p in by_id and (by_id[p].get("status", "online") != "online" or by_id[p].get("trading_disabled"))
    ]


def trade_tick(product: str, row: dict) -> Tick:
    """A REST trade as a tick: no book, so no bid/ask."""
    try:
        return Tick(
            product=product,
            time_ms=iso_to_ms(row["time"]),
            trade_id=int(row["trade_id"]),
            price=exact(row["price"]),
            size=exact(row["size"]) if row.get("size") is not None else None,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise RestError(f"a trade of {product} is malformed ({exc}): {row!r:.100}") from None


def candle_of_row(row: list) -> Candle:
    """`[time, low, high, open, close, volume]` (numbers parsed as Decimal) -> Candle; low comes before high!"""
    try:
        time_s, low, high, open_, close, volume = row
        return Candle(int(time_s) * 1000, exact(open_), exact(high), exact(low), exact(close), exact(volume), None)
    except (TypeError, ValueError) as exc:
        raise RestError(f"a candle row is malformed ({exc}): {row!r:.100}") from None


def exact(value: object) -> str:
    """A JSON number (parsed as Decimal or int) or decimal string -> its exact plain decimal text, never float."""
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise ValueError(f"not a number: {value!r}")
    number = Decimal(value)
    if not number.is_finite() or number < 0:
        raise ValueError(f"not a price or size: {value!r}")
    return format(number, "f")


class PacedRest(ExchangeRest):
    """An exchange's REST API through one RestClient paced under that exchange's limit (`rate` requests a second,
    bursts of `burst`): the base of every exchange's REST client but Coinbase's, which is the RestClient itself."""

    rate: float = RATE
    burst: float = BURST

    def __init__(self, base_url: str, **client_options):
        """`client_options`: RestClient's (session, bucket, clock, sleep); the bucket defaults to this exchange's."""
        self.base_url = base_url
        clock = client_options.get("clock", time.monotonic)
        client_options.setdefault("bucket", TokenBucket(self.rate, self.burst, clock()))
        self.client = RestClient(base_url, **client_options)
