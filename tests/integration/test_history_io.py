"""History in and out on a real Redis: `bcx import` of recordings (twice, truncated, gzip), `bcx export` of what
they stored (CSV, JSON lines, Parquet) round-tripping to the stored members, and the bad inputs."""

from __future__ import annotations

import csv
import functools
import gc
import gzip
import io
import json
from pathlib import Path

import pytest
import redis

from bcx import cli
from bcx.config import RedisConfig, load_config
from bcx.embedded import free_port
from bcx.store import TickStore
from bcx.tick import Tick, encode_member, iso_to_ms
from bcx_tracker.exchange import TickEvent
from bcx_tracker.import_workers import ImportWorkers
from bcx_tracker.importer import NumberedLines, Parsers, recorded_products
from bcx_tracker.recorder import open_lines
from bcx_tracker.sample import SAMPLE_EXCHANGES, write_sample
from bcx_tracker.tick_checks import TickChecks

# every series of the sample, four exchanges
SERIES = [m.product if ":" in m.product else f"coinbase:{m.product}" for ms, _ in SAMPLE_EXCHANGES.values() for m in ms]
HOURS = 0.05  # three minutes of nine series: a few thousand ticks


@pytest.fixture(autouse=True)
def _quiet_logging(quiet_logging):
    """Every test here runs a command in process."""


@pytest.fixture
def config_path(tmp_path, redis_section) -> Path:
    path = tmp_path / "bcx.conf"
    path.write_text(f"{redis_section}\n[tracker]\nproducts = {', '.join(SERIES)}\n")
    return path


@pytest.fixture
def recording(tmp_path) -> Path:
    path = tmp_path / "feed.jsonl.gz"
    write_sample(path, seed=5, hours=HOURS)
    return path


def parsed_ticks(path: Path, config_path: Path) -> list[Tick]:
    """The ticks the tracker's adapters make of a recording, line by line (what an import must store)."""
    protocols = {name: e.protocol for name, e in load_config(str(config_path)).exchanges.items()}
    parsers = Parsers(protocols, functools.partial(recorded_products, path))
    with open_lines(path, "r") as lines:
        return [m.tick for line in lines for m in parsers.parse(line.strip()) if type(m) is TickEvent]


def stored_members(redis_conn, series: str) -> list[str]:
    store = TickStore(redis_conn, "bcx")
    return [encode_member(t) for t in store.range(series, 0, 2**53)]


def bcx(*args: str) -> int:
    return cli.main(list(args))


def test_import_stores_every_trade_once_even_twice(recording, config_path, redis_conn, capsys):
    collector = gc.get_threshold(), gc.get_freeze_count()
    assert bcx("import", str(recording), "--config", str(config_path)) == 0
    assert (gc.get_threshold(), gc.get_freeze_count()) == collector  # the import's settings are undone
    first = capsys.readouterr().err
    counts = {s: TickStore(redis_conn, "bcx").count(s) for s in SERIES}
    assert all(counts.values()), counts
    expected = parsed_ticks(recording, config_path)
    assert sum(counts.values()) == len({(t.product, t.time_ms, t.trade_id) for t in expected})
    assert bcx("import", str(recording), "--config", str(config_path)) == 0
    assert {s: TickStore(redis_conn, "bcx").count(s) for s in SERIES} == counts
    assert " 0 new" in capsys.readouterr().err and " 0 new" not in first


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_export_round_trips_to_the_stored_members(recording, config_path, redis_conn, tmp_path, capsys, fmt):
    assert bcx("import", str(recording), "--config", str(config_path)) == 0
    for series in SERIES:
        out = tmp_path / f"{series}.{fmt}"
        assert bcx("export", series, "--format", fmt, "--output", str(out), "--config", str(config_path)) == 0
        assert exported_members(out, fmt, series) == stored_members(redis_conn, series)
    expected = {encode_member(t) for t in parsed_ticks(recording, config_path) if t.product == SERIES[-1]}
    assert set(exported_members(tmp_path / f"{SERIES[-1]}.{fmt}", fmt, SERIES[-1])) == expected


def exported_members(path: Path, fmt: str, series: str) -> list[str]:
    text = path.read_text()
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(text)))
        assert list(rows[0]) == ["series", "time", "trade_id", "price", "bid", "ask", "size"]
    else:
        rows = [json.loads(line) for line in text.splitlines()]
    assert {row["series"] for row in rows} == {series}
    times = [int(row["time"]) for row in rows]
    assert times == sorted(times)
    return [encode_member(tick_of(row)) for row in rows]


def tick_of(row: dict) -> Tick:
    def value(name):
        return row[name] or None  # CSV writes None as an empty field, JSON as null

    return Tick(
        row["series"], int(row["time"]), int(row["trade_id"]), row["price"], *map(value, ("bid", "ask", "size"))
    )


def test_export_to_stdout_is_data_only_and_a_range_beyond_says_so(recording, config_path, redis_conn, capsysbinary):
    assert bcx("import", str(recording), "--config", str(config_path)) == 0
    capsysbinary.readouterr()
    store = TickStore(redis_conn, "bcx")
    ticks = store.range(SERIES[0], 0, 2**53)
    start, end = ticks[0].time_ms - 3_600_000, ticks[10].time_ms
    args = ("export", SERIES[0], "--start", str(start), "--end", str(end), "--config", str(config_path))
    assert bcx(*args) == 0
    out, err = capsysbinary.readouterr()
    lines = out.decode().splitlines()
    assert lines[0] == "series,time,trade_id,price,bid,ask,size"
    assert len(lines) - 1 == len(store.range(SERIES[0], start, end))
    assert b"stored from" in err and b"exported what exists" in err


def test_export_candles_and_parquet(config_path, redis_conn, tmp_path):
    import pyarrow.parquet as pyarrow_parquet  # the test extras install it: a missing one fails, never skips

    from bcx.candles import Candle, CandleStore

    candles = [Candle(60_000 * i, "10.50", "11", "10", "10.75", "2.000", i or None) for i in range(1, 200)]
    CandleStore(redis_conn, "bcx").put("coinbase:BTC-USD", "1m", candles)
    out = tmp_path / "c.parquet"
    args = ("export", "BTC-USD", "--what", "candles:1m", "--format", "parquet", "-o", str(out))
    assert bcx(*args, "--config", str(config_path)) == 0
    table = pyarrow_parquet.read_table(out).to_pylist()
    assert [(r["time"], r["open"], r["close"], r["volume"], r["count"]) for r in table] == [
        (c.time_ms, c.open, c.close, c.volume, c.count) for c in candles
    ]


def test_export_refuses_an_unknown_or_empty_series(config_path, redis_conn, capsys):
    with pytest.raises(SystemExit) as exit_info:
        bcx("export", "bitstamp:BTC-USD", "--config", str(config_path))
    assert exit_info.value.code == 2
    assert bcx("export", "kraken:ETH-USD", "--config", str(config_path)) == 2
    assert "no ticks of kraken:ETH-USD are stored" in capsys.readouterr().err


def test_a_truncated_gzip_recording_imports_every_whole_line_before(
    recording, config_path, redis_conn, tmp_path, capsys
):
    data = recording.read_bytes()
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(data[: len(data) // 2])
    assert bcx("import", str(cut), "--config", str(config_path)) == 1
    err = capsys.readouterr().err
    assert "unreadable at line" in err
    line = int(err.split("unreadable at line ")[1].split()[0])
    whole = gzip.decompress(recording.read_bytes()).decode().splitlines()[: line - 1]
    plain = tmp_path / "whole.jsonl"
    plain.write_text("\n".join(whole) + "\n")
    expected = {(t.product, t.time_ms, t.trade_id) for t in parsed_ticks(plain, config_path)}
    assert sum(TickStore(redis_conn, "bcx").count(s) for s in SERIES) == len(expected) > 0


def test_a_recording_cut_mid_line_skips_that_line_and_names_it(recording, config_path, redis_conn, tmp_path, capsys):
    lines = gzip.decompress(recording.read_bytes()).decode().splitlines()
    cut = tmp_path / "cut.jsonl"
    cut.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][: len(lines[-1]) // 2])
    assert bcx("import", str(cut), "--config", str(config_path)) == 1
    assert f"1 malformed lines skipped (line {len(lines)})" in capsys.readouterr().err
    whole = tmp_path / "whole.jsonl"
    whole.write_text("\n".join(lines[:-1]) + "\n")
    expected = {(t.product, t.time_ms, t.trade_id) for t in parsed_ticks(whole, config_path)}
    assert sum(TickStore(redis_conn, "bcx").count(s) for s in SERIES) == len(expected)


def test_a_worker_that_cannot_write_stops_the_import_with_redis_own_words(recording, config_path):
    protocols = {name: e.protocol for name, e in load_config(str(config_path)).exchanges.items()}
    nobody = RedisConfig(url=f"redis://127.0.0.1:{free_port()}/0", timeout=1.0)  # nothing listens there
    workers = ImportWorkers(nobody, str(recording), protocols, TickChecks(iso_to_ms("2027-01-01")), count=2)
    try:
        with open_lines(recording, "r") as lines, pytest.raises(redis.RedisError, match="onnect"):
            workers.take(NumberedLines(lines))
            workers.close()
    finally:
        workers.stop()
