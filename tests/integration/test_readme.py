"""The README's examples, run (issue 14: its own alert example, with a comment after a value, did not load).

Every ```ini block loads as a config; every non-streaming `curl "$B/..."` of the API section answers 200 through
the app on a real Redis holding ticks of the days the examples name."""

from __future__ import annotations

import re
import shlex
from dataclasses import replace
from pathlib import Path

import pytest

from bcx.config import load_config, packaged_default
from bcx.store import TickStore
from bcx.tick import Tick, iso_to_ms
from bcx_web.app import create_app

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
INI_BLOCKS = re.findall(r"^```ini\n(.*?)^```", README, re.M | re.S)
CURLS = [line for line in re.findall(r"^curl .*$", README, re.M) if "$B/" in line and " -N " not in f" {line} "]


def test_the_readme_has_examples_to_run():
    assert len(INI_BLOCKS) >= 2 and len(CURLS) >= 10


@pytest.mark.parametrize("block", INI_BLOCKS, ids=[f"ini{i}" for i in range(len(INI_BLOCKS))])
def test_every_ini_example_loads(tmp_path, block):
    path = tmp_path / "bcx.conf"
    path.write_text(block)
    config = load_config(str(path))
    if "[alert:" in block:
        hysteresis = {a.name: str(a.hysteresis.amount) for a in config.alerts}
        assert hysteresis["btc-above-100k"] == "50"  # the value, without the comment after it


@pytest.mark.parametrize("line", CURLS)
def test_every_api_example_answers(redis_config, redis_conn, line):
    default = load_config(str(packaged_default()))
    series = ("coinbase:BTC-USD", "coinbase:ETH-USD", "kraken:BTC-USD")  # the README's examples name all three
    base = replace(default, redis=redis_config, tracker=replace(default.tracker, products=series))
    start = iso_to_ms("2026-11-01T00:00:00Z")
    ticks = [
        Tick(p, start + i * 60_000, i + 1, "97250.05", "97250.04", "97250.06", "0.1")
        for i in range(600)
        for p in series
    ]
    TickStore(redis_conn, "bcx").add(ticks)
    client = create_app(base, {"TESTING": True}).test_client()
    words = shlex.split(line.split("   #")[0].replace("$B", "http://127.0.0.1:8080/api/v1.0"))
    url = next(word for word in words if word.startswith("http"))
    headers = dict(words[i + 1].split(": ", 1) for i, word in enumerate(words) if word == "-H")
    response = client.get(url.removeprefix("http://127.0.0.1:8080"), headers=headers)
    assert response.status_code == 200, (line, response.get_data(as_text=True)[:300])
