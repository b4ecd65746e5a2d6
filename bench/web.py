"""What the web benchmarks share: a real `bcx-web` (gunicorn) on a free port, and percentiles."""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import requests

from bcx.config import load_config, packaged_default
from bcx.embedded import free_port


def configured_workers() -> tuple[int, int]:
    """[web] workers and threads of the packaged default config: what a fresh install runs."""
    web = load_config(str(packaged_default())).web
    return web.workers, web.threads


@contextmanager
def running_web(redis_url: str, products: Sequence[str], tmp: Path, extra: str = "") -> Iterator[str]:
    """A `bcx-web` process with the default workers and threads; yields its base URL, stops it with TERM."""
    with running_web_process(redis_url, products, tmp, extra) as (base, _):
        yield base


@contextmanager
def running_web_process(
    redis_url: str, products: Sequence[str], tmp: Path, extra: str = ""
) -> Iterator[tuple[str, subprocess.Popen]]:
    """running_web, yielding the arbiter's process too (for cpu_seconds)."""
    port = free_port()
    conf = tmp / "bench-web.conf"
    conf.write_text(
        f"[redis]\nurl = {redis_url}\n[tracker]\nproducts = {', '.join(products)}\n"
        f"[web]\nport = {port}\n{extra}[log]\nlevel = WARNING\n"
    )
    process = subprocess.Popen([str(Path(sys.executable).with_name("bcx-web")), "--config", str(conf)])
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base, process)
        yield base, process
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def wait_until_up(base: str, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if requests.get(base + "/api/v1.0/health", timeout=2).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    process.kill()
    raise SystemExit("bcx-web did not start")


def p50_p99(samples: Sequence[float]) -> tuple[float, float]:
    """Median and 99th percentile (nearest rank), in milliseconds."""
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered) * 1000, p99 * 1000


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by a process and all its descendants alive now (Linux /proc): on a
    shared machine, CPU per request moves much less than requests per second."""
    ticks = os.sysconf("SC_CLK_TCK")
    total, pending = 0.0, [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(child) for child in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue  # it exited meanwhile
    return total
