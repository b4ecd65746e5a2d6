"""The chunked tick store against a plain in-memory model, on a real redis-server."""

from __future__ import annotations

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bcx.store
from bcx.chunks import DEFAULT_CHUNK_ENTRIES, TRADE, chunk_base
from bcx.store import TickStore
from bcx.tick import Tick, decode_member, encode_entries, encode_member
from tests.feedstub import wait_for

PRODUCT = "BTC-USD"


def tick(time_ms: int, trade_id: int, price: str = "100.5", bid: str | None = "100.4", ask: str | None = "100.6"):
    return Tick(PRODUCT, time_ms, trade_id, price, bid, ask, "0.01")


def model_range(model: dict, start: int, end: int) -> list[tuple[int, str]]:
    return sorted((t, m) for (t, m) in model.values() if start <= t <= end)


def stored(store: TickStore, start: int, end: int, limit=None) -> list[tuple[int, str]]:
    return [(t.time_ms, encode_member(t)) for t in store.range(PRODUCT, start, end, limit)]


def check_chunks(store: TickStore, product: str = PRODUCT) -> None:
    """Each chunk is within the limit (unless one timestamp fills it) and starts at the index's score; its scores
    are stored relative to the base in its index member; no trade is stored twice."""
    keys = store.keys(product).ticks
    trades: list[int] = []
    for chunk_id, start in store.conn.zrange(keys.index, 0, -1, withscores=True):
        entries = store.conn.zrange(keys.chunk(chunk_id), 0, -1, withscores=True)
        assert entries, f"empty chunk {chunk_id} left in the index"
        assert entries[0][1] + chunk_base(chunk_id) == start
        assert len(entries) <= store.chunk_entries or len({s for _, s in entries}) == 1
        trades += [decode_member(product, member, score).trade_id for member, score in entries]
    assert len(trades) == len(set(trades)), f"a trade of {product} stored twice"


writes = st.lists(
    st.lists(st.tuples(st.integers(0, 400), st.integers(1, 300), st.booleans()), min_size=1, max_size=60),
    min_size=1,
    max_size=8,
)
# prices whose bid and ask encode as offsets (same decimals, either sign) or as literals (other decimals)
BOOKS = [("100.5", "100.4", "100.6"), ("100.50", "100.51", "100.40"), ("7", "6.5", "7.25"), ("0.001", "0.001", "1")]


def varied_tick(time_ms: int, trade_id: int, with_book: bool) -> Tick:
    price, bid, ask = BOOKS[trade_id % len(BOOKS)]
    size = ("0.00012", "0.5", "12.5")[trade_id % 3]
    return Tick(PRODUCT, time_ms, trade_id, price, bid if with_book else None, ask if with_book else None, size)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=writes, window=st.tuples(st.integers(-10, 410), st.integers(-10, 410)))
def test_chunked_store_matches_model(redis_conn, batches, window):
    redis_conn.flushall()
    store = TickStore(redis_conn, "bcx", chunk_entries=8)
    model: dict[int, tuple[int, str]] = {}
    booked: dict[int, bool] = {}  # trade id -> whether its stored copy carries the book
    for batch in batches:
        ticks = [varied_tick(1_700_000_000_000 + t, trade_id, book) for t, trade_id, book in batch]
        # One trade, one entry: a trade id seen again at its first time is the same trade, and the copy that
        # carries the book replaces one without (which counts as written).
        new = 0
        for item in ticks:
            if item.trade_id not in model:
                booked[item.trade_id] = item.bid is not None
                model[item.trade_id] = (item.time_ms, encode_member(item))
                new += 1
            elif model[item.trade_id][0] == item.time_ms and item.bid and not booked[item.trade_id]:
                model[item.trade_id] = (item.time_ms, encode_member(item))
                booked[item.trade_id] = True
                new += 1
        fresh = [item for item in ticks if model[item.trade_id][0] == item.time_ms]
        assert store.add(fresh) == new
    start, end = sorted(1_700_000_000_000 + w for w in window)
    assert stored(store, start, end) == model_range(model, start, end)
    assert stored(store, 0, 2**50) == model_range(model, 0, 2**50)
    check_chunks(store)


def test_duplicate_writes_store_once_and_book_wins(redis_conn):
    store = TickStore(redis_conn, "bcx", chunk_entries=4)
    bare = tick(1000, 7, bid=None, ask=None)
    full = tick(1000, 7)
    assert store.add([bare]) == 1
    assert store.add([full, full]) == 1
    assert store.add([bare]) == 0
    assert stored(store, 0, 2000) == [(1000, encode_member(full))]


@pytest.mark.single_redis
@pytest.mark.parametrize(
    "price, bid, ask",
    [
        ("100.5", "100.4", "100.6"),  # compact, near: one character
        ("100.50", "100.51", "100.40"),  # compact, far (crossed)
        ("185", "184.98", "185"),  # compact, other decimals than the price's
        ("7.5", "07.4", "7.6"),  # separated: a literal
    ],
)
def test_the_copy_with_the_whole_book_wins_in_every_member_shape(redis_conn, price, bid, ask):
    """The chunk script reads a member's book (has_book): a copy with both sides replaces one with none or one."""
    store = TickStore(redis_conn, "bcx", chunk_entries=4)
    full = Tick(PRODUCT, 1000, 7, price, bid, ask, "0.5")
    for lesser in (full._replace(bid=None, ask=None), full._replace(bid=None), full._replace(ask=None)):
        redis_conn.flushall()
        assert store.add([lesser]) == 1
        assert store.add([lesser, full]) == 1
        assert store.add([lesser]) == 0
        assert store.range(PRODUCT, 0, 2000) == [full]


@pytest.mark.parametrize(
    "members",
    [
        [  # as the store wrote them before issue 19: `|` between the fields, the price literal
            (1000, "iw99|14.7775|225|285|4e2"),  # trade 881613, with the book
            (1000, "iw9a|14.7775|||.5"),  # trade 881614, without it
            (2000, "iw9b|6225.32000000|||6469797e8"),
        ],
        [  # as issue 19's first pass wrote them: `;` between the fields
            (1000, "iw99;360v4;225;285;42"),
            (1000, "iw9a;360v4;;;51"),
            (2000, "iw9b;7xzjh9fk8;;;3uo4l8"),
        ],
    ],
    ids=["bars", "semicolons"],
)
def test_members_of_older_formats_read_back_and_count_as_the_same_trade(redis_conn, members):
    store = TickStore(redis_conn, "bcx", chunk_entries=4)
    keys = store.keys(PRODUCT)
    assert store.chunks.add(keys.ticks, members, TRADE, latest=keys.latest) == 3
    old = [
        Tick(PRODUCT, 1000, 881613, "14.7775", "14.7550", "14.8060", "0.04"),
        Tick(PRODUCT, 1000, 881614, "14.7775", None, None, "0.5"),
        Tick(PRODUCT, 2000, 881615, "6225.32000000", None, None, "0.06469797"),
    ]
    assert store.range(PRODUCT, 0, 3000) == old
    assert store.latest(PRODUCT) == old[2]
    # the same trades written again as compact members: no second entry; the copy with the book replaces a bare one
    with_book = old[1]._replace(bid="14.7770", ask="14.7780")
    assert ";" not in encode_member(with_book) and "|" not in encode_member(with_book)
    assert store.add([old[0], with_book, old[2]]) == 1
    assert store.range(PRODUCT, 0, 3000) == [old[0], with_book, old[2]]
    assert store.count(PRODUCT) == 3
    # and the other way round: an older member with the book replaces a compact one without it
    bare = Tick(PRODUCT, 3000, 881616, "14.7775", None, None, "0.5")
    assert store.add([bare]) == 1
    assert store.chunks.add(keys.ticks, [(3000, members[0][1].replace("iw99", "iw9c", 1))], TRADE) == 1
    assert store.range(PRODUCT, 3000, 3000) == [old[0]._replace(time_ms=3000, trade_id=881616)]
    assert store.chunks.add(keys.ticks, [(3000, members[1][1].replace("iw9a", "iw9c", 1))], TRADE) == 0
    assert store.count(PRODUCT) == 4


def several_products(first_id: int, time_ms: int, each: int) -> list[Tick]:
    """`each` ticks of three products, interleaved as a feed sends them: three script calls, pipelined on one server."""
    prices = {PRODUCT: "100.5", "ETH-USD": "3480.08", "SOL-USD": "184.99"}
    return [
        Tick(product, time_ms + i, first_id + 3 * i + n, price, None if n else price, price, "0.5")
        for i in range(each)
        for n, (product, price) in enumerate(prices.items())
    ]


def by_product(ticks: list[Tick]) -> dict[str, list[Tick]]:
    return {product: [t for t in ticks if t.product == product] for product in (PRODUCT, "ETH-USD", "SOL-USD")}


def stored_by_product(store: TickStore) -> dict[str, list[Tick]]:
    return {product: store.range(product, 0, 10**13) for product in (PRODUCT, "ETH-USD", "SOL-USD")}


@pytest.mark.single_redis
def test_a_batch_of_several_products_is_stored_after_the_server_forgot_the_script(redis_conn):
    store = TickStore(redis_conn, "bcx")
    first = several_products(1, 1000, 3)
    assert store.add(first) == 9
    redis_conn.script_flush()  # as after a restart: every call of the next batch meets NOSCRIPT
    later = several_products(100, 2000, 5)
    # each NOSCRIPT reply is matched to its own call: every tick lands in its product, counted once
    assert store.add(later + first) == 15
    assert stored_by_product(store) == by_product(first + later)
    assert redis_conn.ping()  # the connection that carried the calls is still usable


@pytest.mark.single_redis
def test_an_error_part_way_through_a_batch_leaves_no_reply_unread_on_a_pooled_connection(redis_conn):
    store = TickStore(redis_conn, "bcx")
    redis_conn.set(store.keys("ETH-USD").ticks.index, "not a chunk index")  # its script call fails: WRONGTYPE
    ticks = several_products(1, 1000, 4)
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        store.add(ticks)
    # the call after the failed one ran too, and its reply, left unread, went with the dropped connection
    redis_conn.set("marker", "mine")
    assert redis_conn.get("marker") == "mine"
    assert [store.range(p, 0, 10**13) for p in (PRODUCT, "SOL-USD")] == [
        by_product(ticks)[p] for p in (PRODUCT, "SOL-USD")
    ]


@pytest.mark.single_redis
def test_a_connection_dropped_part_way_through_a_batch_loses_nothing_when_the_batch_is_written_again(
    redis_conn, redis_url, monkeypatch
):
    store = TickStore(redis_conn, "bcx")
    ticks = several_products(1, 1000, 4)  # 12 ticks: one call a product
    admin = redis.Redis.from_url(redis_url)
    encoded = []

    def encode_then_drop(batch):  # the lazy calls: the second is encoded after the first went out
        encoded.append(batch)
        if len(encoded) == 2:
            wait_for(lambda: admin.exists(store.keys(PRODUCT).latest), "the first call")  # the server ran it
            admin.client_kill_filter(_type="normal", skipme=True)
        return encode_entries(batch)

    monkeypatch.setattr(bcx.store, "encode_entries", encode_then_drop)
    with pytest.raises(redis.ConnectionError):
        store.add(ticks)
    monkeypatch.undo()
    assert [store.count(product) for product in (PRODUCT, "ETH-USD", "SOL-USD")] == [4, 0, 0]
    assert store.add(ticks) == 8
    assert stored_by_product(store) == by_product(ticks)
    assert redis_conn.ping()
    admin.close()


def test_latest_tracks_newest_time(redis_conn):
    store = TickStore(redis_conn, "bcx")
    store.add([tick(2000, 2, price="2"), tick(1000, 1, price="1")])
    store.add([tick(1500, 3, price="3")])
    assert store.latest(PRODUCT).price == "2"
    assert store.latest("ETH-USD") is None


@pytest.mark.parametrize("cutoff", [0, 1005, 1050, 1100, 5000])
def test_trim_removes_only_older_ticks(redis_conn, cutoff):
    store = TickStore(redis_conn, "bcx", chunk_entries=4)
    store.add([tick(1000 + i, i) for i in range(100)])
    removed = store.trim_before(PRODUCT, cutoff)
    remaining = stored(store, 0, 10_000)
    assert [t for t, _ in remaining] == [1000 + i for i in range(100) if 1000 + i >= cutoff]
    assert removed == 100 - len(remaining)
    check_chunks(store)


def test_limit_and_chunk_limit_from_server(redis_conn):
    store = TickStore(redis_conn, "bcx")
    assert store.chunk_entries == DEFAULT_CHUNK_ENTRIES  # the server's limit (128) is higher
    store.add([tick(1000 + i, i + 1) for i in range(1000)])
    assert len(store.range(PRODUCT, 0, 10_000, limit=300)) == 300
    assert store.count(PRODUCT) == 1000
    assert redis_conn.zcard(store.keys(PRODUCT).ticks.index) > 1000 // DEFAULT_CHUNK_ENTRIES
    keys = store.keys(PRODUCT).ticks
    encodings = {redis_conn.object("encoding", keys.chunk(c)) for c in redis_conn.zrange(keys.index, 0, -1)}
    assert encodings <= {"ziplist", "listpack"}


@pytest.mark.single_redis  # CONFIG SET reaches one node of a cluster
def test_chunks_stay_below_a_lower_server_limit(redis_conn):
    redis_conn.config_set("zset-max-ziplist-entries", 16)
    try:
        assert TickStore(redis_conn, "bcx").chunk_entries == 16
    finally:
        redis_conn.config_set("zset-max-ziplist-entries", 128)


def test_candle_store_replaces_a_bucket_and_reads_in_order(redis_conn):
    from bcx.candles import Candle, CandleStore

    store = CandleStore(redis_conn, "bcx", chunk_entries=4)
    first = [Candle(i * 60_000, "1", "2", "0.5", "1.5", "3", 2) for i in range(20)]
    assert store.put(PRODUCT, "1m", first) == 20
    late = Candle(5 * 60_000, "1", "9", "0.5", "1.5", "4", 3)  # a late tick rewrote minute 5
    assert store.put(PRODUCT, "1m", [late]) == 0
    got = store.range(PRODUCT, "1m", 0, 10**9)
    assert got == first[:5] + [late] + first[6:]
    assert store.range(PRODUCT, "1h", 0, 10**9) == []
    assert store.trim_before(PRODUCT, "1m", 10 * 60_000) == 10
    assert store.count(PRODUCT, "1m") == 10
