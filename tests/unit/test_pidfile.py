"""Pidfiles against real processes: a live one, and one that has exited and been reaped (a crashed run)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bcx.pidfile import ABSENT, DEAD, RUNNING, PidFile, PidFileInUse, pid_state, read_pid


def gone_pid() -> int:
    """The pid of a process that has exited and been reaped: what a SIGKILLed daemon leaves in its pidfile."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait(timeout=30)
    return process.pid


@pytest.fixture
def live_process():
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield process
    process.kill()
    process.wait(timeout=30)


def test_read_pid_accepts_only_a_positive_number(tmp_path):
    path = tmp_path / "x.pid"
    assert read_pid(path) is None
    for text, expected in [("123\n", 123), ("", None), ("abc", None), ("0", None), ("-5", None)]:
        path.write_text(text)
        assert read_pid(path) == expected


def test_states(tmp_path, live_process):
    path = tmp_path / "x.pid"
    assert pid_state(path).state == ABSENT
    path.write_text(f"{live_process.pid}\n")
    state = pid_state(path)
    assert (state.state, state.pid) == (RUNNING, live_process.pid)
    assert state.uptime(now=state.since + 5) == 5
    path.write_text(f"{gone_pid()}\n")
    assert pid_state(path).state == DEAD
    path.write_text("garbage")
    assert pid_state(path).state == DEAD


def test_a_stale_pidfile_is_replaced(tmp_path):
    path = tmp_path / "run" / "x.pid"
    path.parent.mkdir()
    path.write_text(f"{gone_pid()}\n")
    pidfile = PidFile(path)
    pidfile.claim()
    assert not path.exists()
    with pidfile:
        assert read_pid(path) == os.getpid()
    assert not path.exists()


def test_a_live_owner_is_refused_and_its_pidfile_kept(tmp_path, live_process):
    path = tmp_path / "x.pid"
    path.write_text(f"{live_process.pid}\n")
    with pytest.raises(PidFileInUse, match=str(live_process.pid)):
        PidFile(path).claim()
    assert read_pid(path) == live_process.pid


def test_removed_only_if_it_still_holds_our_pid(tmp_path, live_process):
    path = tmp_path / "x.pid"
    pidfile = PidFile(path)
    pidfile.write()
    path.write_text(f"{live_process.pid}\n")  # a successor took over
    pidfile.remove()
    assert read_pid(path) == live_process.pid
    pidfile.write()
    pidfile.pid = live_process.pid  # as in a forked child (gunicorn's workers): not the writer
    pidfile.remove()
    assert read_pid(path) == os.getpid()
