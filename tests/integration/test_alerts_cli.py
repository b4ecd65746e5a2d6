"""`bcx alerts` against a real redis-server: listing, --since, --json, and --follow resuming from an id."""

from __future__ import annotations

import argparse
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from bcx import alerts, alerts_cli
from bcx.alerts import Alert
from bcx.daemon import Stopper

ROOT = Path(__file__).resolve().parents[2]


def alert(n: int) -> Alert:
    return Alert(
        rule="btc-high",
        series="coinbase:BTC-USD",
        kind="threshold",
        field="price",
        op=">",
        value=f"1000{n}.50",
        threshold="100000",
        time_ms=1_700_000_000_000 + n,
        trade_id=n,
        message=f"BTC-USD price 1000{n}.50 crossed above 100000 (rule btc-high)",
    )


@pytest.fixture
def config_path(tmp_path, redis_section) -> Path:
    path = tmp_path / "bcx.conf"
    path.write_text(
        f"{redis_section}\n[tracker]\nproducts = BTC-USD\n\n"
        "[alert:btc-high]\nproduct = BTC-USD\nwhen = price > 100000\n"
    )
    return path


def publish(redis_conn, *numbers: int) -> list[str]:
    return [alerts.publish(redis_conn, "bcx", alert(n), maxlen=100) for n in numbers]


def test_lists_recent_alerts_one_line_each(config_path, redis_conn, quiet_logging, capsys):
    ids = publish(redis_conn, 1, 2, 3)
    assert alerts_cli.main(["--config", str(config_path), "--limit", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        f"2023-11-14T22:13:20.002Z  {ids[1]}  BTC-USD price 10002.50 crossed above 100000 (rule btc-high)",
        f"2023-11-14T22:13:20.003Z  {ids[2]}  BTC-USD price 10003.50 crossed above 100000 (rule btc-high)",
    ]


def test_since_and_json(config_path, redis_conn, quiet_logging, capsys):
    ids = publish(redis_conn, 1, 2, 3)
    assert alerts_cli.main(["--config", str(config_path), "--since", ids[0], "--json"]) == 0
    lines = capsys.readouterr().out.splitlines()
    got = [Alert.from_json(line) for line in lines]
    assert got == [replace(alert(2), id=ids[1]), replace(alert(3), id=ids[2])]
    assert all(json.loads(line)["id"] for line in [a.to_json() for a in got])
    named = [(d["series"], d["exchange"], d["product"]) for d in map(json.loads, lines)]
    assert named == [("coinbase:BTC-USD", "coinbase", "BTC-USD")] * 2


def test_no_alerts_says_so(config_path, quiet_logging, capsys):
    assert alerts_cli.main(["--config", str(config_path)]) == 0
    assert capsys.readouterr().out.startswith("no alerts (in ")
    assert alerts_cli.main(["--config", str(config_path), "--since", "1-0"]) == 0
    assert capsys.readouterr().out.startswith("no alerts after 1-0 ")


def test_a_bad_since_names_the_argument_not_redis(config_path):
    proc = run_cli("--config", str(config_path), "--since", "garbage")
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 2
    assert "--since: 'garbage' is not an alert id" in err and "redis" not in err.lower()


def test_subcommand_of_bcx(config_path, redis_conn, quiet_logging, capsys):
    publish(redis_conn, 1)
    parser = argparse.ArgumentParser(prog="bcx")
    alerts_cli.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["alerts", "--config", str(config_path)])
    assert args.run(args) == 0
    assert "crossed above" in capsys.readouterr().out


def run_cli(*args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "bcx.alerts_cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_config_error_exits_2(tmp_path):
    bad = tmp_path / "bad.conf"
    bad.write_text("[redis]\nurl = http://nope\n")
    proc = run_cli("--config", str(bad))
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 2
    assert "[redis] url" in err


def test_redis_down_exits_1(tmp_path):
    path = tmp_path / "down.conf"
    path.write_text("[redis]\nurl = redis://127.0.0.1:1/0\n")
    proc = run_cli("--config", str(path))
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 1
    assert "redis" in err


def test_follow_without_an_id_starts_from_now(redis_conn):
    publish(redis_conn, 1)
    stopper = Stopper()
    later = threading.Timer(0.3, publish, (redis_conn, 2))
    give_up = threading.Timer(5, stopper.stop)
    later.start()
    give_up.start()
    got = []
    try:
        for item in alerts.follow(redis_conn, "bcx", None, stopper, block_ms=100):
            got.append(item.value)
            stopper.stop()
    finally:
        give_up.cancel()
        later.join(timeout=5)  # its PUBLISH may still be on the wire after the XADD we saw
    assert got == [alert(2).value]


def line_reader(proc: subprocess.Popen) -> tuple[queue.Queue, threading.Thread]:
    """Lines of the process's stdout, read by a thread, so a test waits with a timeout instead of hanging."""
    lines: queue.Queue = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True)
    reader.start()
    return lines, reader


def test_follow_since_resumes_then_prints_new_ones_until_sigterm(config_path, redis_conn):
    ids = publish(redis_conn, 1, 2)
    proc = run_cli("--config", str(config_path), "--follow", "--since", ids[0], "--json")
    lines, reader = line_reader(proc)
    try:
        assert Alert.from_json(lines.get(timeout=10)).id == ids[1]  # resumed after the given id
        time.sleep(0.1)
        (new_id,) = publish(redis_conn, 3)
        assert Alert.from_json(lines.get(timeout=5)).id == new_id  # and kept following
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0
    finally:
        proc.kill()
        proc.wait(timeout=5)
        reader.join(timeout=5)  # it ends at EOF; closing stdout under it would raise in the thread
        proc.stdout.close()
        proc.stderr.close()
