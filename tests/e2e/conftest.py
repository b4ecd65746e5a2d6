"""Helpers for end-to-end tests: real daemons as processes, each stopped by the test that started it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

BIN = Path(sys.executable).parent
TIMEOUT = 30.0


def bcx_command(name: str) -> str:
    return str(BIN / name)


def wait_for(predicate, timeout: float = TIMEOUT, interval: float = 0.1, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def get_json(url: str):
    try:
        response = requests.get(url, timeout=2)
    except (requests.ConnectionError, requests.Timeout):  # not up yet, or slow on a loaded machine: ask again
        return None
    return response.json() if response.status_code == 200 else None


class Processes:
    """Starts real processes and guarantees they are gone when the test ends."""

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.started: list[tuple[str, subprocess.Popen]] = []
        self.logs: list = []

    def start(self, name: str, args: list[str], **popen) -> subprocess.Popen:
        """Start a process; what it logs (stderr, and stdout unless piped) goes to <log_dir>/<name>.out."""
        log = open(self.log_dir / f"{name}.out", "w")  # noqa: SIM115 (closed in cleanup)
        self.logs.append(log)
        popen.setdefault("stdout", log)
        popen.setdefault("stderr", log)
        process = subprocess.Popen(args, **popen)
        self.started.append((name, process))
        return process

    def log(self, name: str) -> str:
        path = self.log_dir / f"{name}.out"
        return path.read_text() if path.exists() else ""

    def terminate(self, process: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = TIMEOUT) -> int:
        process.send_signal(sig)
        return process.wait(timeout=timeout)

    def cleanup(self) -> None:
        for _, process in self.started:
            if process.poll() is None:
                process.kill()
                process.wait()
            if process.stdout:
                process.stdout.close()
        for log in self.logs:
            log.close()


@pytest.fixture
def processes(tmp_path):
    procs = Processes(tmp_path)
    yield procs
    procs.cleanup()


def start_replay(processes: Processes, path: Path, speed: str = "max") -> tuple[subprocess.Popen, str]:
    process = processes.start(
        "replay", [bcx_command("bcx-replay"), str(path), "--port", "0", "--speed", speed], stdout=subprocess.PIPE
    )
    line = process.stdout.readline().decode()
    match = re.search(r"listening on (ws://\S+)", line)
    assert match, f"bcx-replay printed {line!r}"
    return process, match.group(1)


def start_bcx_up(
    processes: Processes, *args: str, timeout: float = TIMEOUT, **popen
) -> tuple[subprocess.Popen, list[str]]:
    """`bcx up ARGS` with its stdout read here; returns once it printed "BCX is up", with the lines it printed."""
    up = processes.start("up", [bcx_command("bcx"), "up", *args], stdout=subprocess.PIPE, text=True, **popen)
    lines: list[str] = []
    wait_for(lambda: lines.append(up.stdout.readline()) or "BCX is up" in lines[-1], timeout, what="bcx up to start")
    return up, lines


def processes_mentioning(text: str) -> list[int]:
    """Pids of live processes whose command line contains `text` (zombies excluded)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if text in cmdline and state != "Z":
            found.append(int(entry.name))
    return found
