"""`bcx up` as a newcomer meets it (issue 14): bad arguments refused before anything starts, the password kept out
of its output, the other `bcx` commands finding it, and nothing left behind when its terminal closes or it is
killed outright."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from bcx.embedded import free_port
from tests.e2e.conftest import bcx_command, get_json, processes_mentioning, start_bcx_up, wait_for

pytestmark = pytest.mark.e2e

SAMPLE = Path(__file__).resolve().parents[2] / "bcx_tracker" / "data" / "sample.jsonl.gz"


def isolated_env(tmp_path: Path) -> dict[str, str]:
    """Temp files (and bcx up's state file) under tmp_path, so processes_mentioning finds everything it starts."""
    env = {k: v for k, v in os.environ.items() if k not in ("XDG_RUNTIME_DIR", "BCX_CONFIG")}
    return {**env, "TMPDIR": str(tmp_path)}


def bcx(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [bcx_command("bcx"), *args], capture_output=True, text=True, timeout=60, env=isolated_env(tmp_path)
    )


def start_up(processes, tmp_path: Path, config: Path, speed: str = "1") -> tuple[subprocess.Popen, list[str]]:
    return start_bcx_up(
        processes,
        *("--config", str(config), "--replay", str(SAMPLE), "--speed", speed),
        env=isolated_env(tmp_path),
        start_new_session=True,  # its own process group, as a terminal gives it
    )


@pytest.fixture
def up_config(tmp_path) -> Path:
    """A config whose Redis is a closed port (bcx up starts its own) and whose web port is free; whatever bcx up
    leaves running when the test ends is killed."""
    config = tmp_path / "bcx.conf"
    config.write_text(f"[redis]\nurl = redis://127.0.0.1:{free_port()}/0\n[web]\nport = {free_port()}\n")
    yield config
    for pid in processes_mentioning(str(tmp_path)):
        os.kill(pid, signal.SIGKILL)


def test_a_missing_replay_file_and_a_bad_speed_are_refused_before_anything_starts(tmp_path, up_config):
    config = up_config
    missing = bcx(tmp_path, "up", "--config", str(config), "--replay", str(tmp_path / "missing.jsonl"))
    assert missing.returncode == 2 and "missing.jsonl: no such file" in missing.stderr
    assert "Traceback" not in missing.stderr and "embedded" not in missing.stdout
    zero = bcx(tmp_path, "up", "--config", str(config), "--replay", str(SAMPLE), "--speed", "0")
    assert zero.returncode == 2 and "--speed: the speed must be greater than 0" in zero.stderr
    assert "did not start" not in zero.stderr and zero.stdout == ""
    assert processes_mentioning(str(tmp_path)) == []


def test_no_redis_and_no_redis_server_to_start_is_one_line_not_a_traceback(tmp_path, up_config):
    env = {**isolated_env(tmp_path), "BCX_REDIS_BIN_DIR": str(tmp_path)}  # a folder without redis-server
    up = subprocess.run(
        [bcx_command("bcx"), "up", "--config", str(up_config)], capture_output=True, text=True, env=env, timeout=60
    )
    assert up.returncode == 1 and "Traceback" not in up.stderr
    assert "bcx up: no Redis answered at" in up.stderr and "pip install 'bcx[embedded]'" in up.stderr


def test_other_commands_find_bcx_up_and_hup_stops_everything(tmp_path, processes, up_config):
    web_port = free_port()
    config = up_config  # a Redis with a password this time
    config.write_text(f"[redis]\nurl = redis://:hunter2@127.0.0.1:{free_port()}/0\n[web]\nport = {web_port}\n")
    up, lines = start_up(processes, tmp_path, config)
    assert not any("hunter2" in line for line in lines), lines
    wait_for(lambda: get_json(f"http://127.0.0.1:{web_port}/api/v1.0/health"), what="bcx-web")

    def status_ok():
        done = bcx(tmp_path, "status")
        return done.returncode == 0 and done

    status = wait_for(status_ok, what="bcx status (no --config) to find bcx up's daemons running")
    assert "web       running  pid" in status.stdout and "tracker   running  pid" in status.stdout
    alerts = bcx(tmp_path, "alerts")
    assert alerts.returncode == 0 and alerts.stdout  # its Redis, not the default's
    assert "hunter2" not in processes.log("up")

    os.killpg(up.pid, signal.SIGHUP)  # the terminal closes
    assert up.wait(timeout=60) == 0
    wait_for(lambda: processes_mentioning(str(tmp_path)) == [], what="every child of bcx up to exit")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("bcx-up-") and p.is_dir()]


def test_children_die_with_bcx_up_even_when_it_is_killed(tmp_path, processes, up_config):
    up, _ = start_up(processes, tmp_path, up_config)
    assert len(processes_mentioning(str(tmp_path))) >= 4
    up.kill()
    up.wait(timeout=30)
    wait_for(lambda: processes_mentioning(str(tmp_path)) == [], what="the children to follow bcx up")


def test_the_demo_shows_its_url_only_once_the_history_is_in_and_ctrl_c_meanwhile_stops_everything(
    tmp_path, processes, up_config
):
    up = processes.start(
        "up",
        [bcx_command("bcx"), "up", "--config", str(up_config), "--replay", str(SAMPLE)],  # the live demo, a day
        stdout=subprocess.PIPE,
        text=True,
        env=isolated_env(tmp_path),
        start_new_session=True,
    )
    lines: list[str] = []
    wait_for(lambda: lines.append(up.stdout.readline()) or "history before now" in lines[-1], what="loading")
    assert lines[-1].startswith("loading the demo's 24 h of history before now; the chart's URL follows")
    os.killpg(up.pid, signal.SIGINT)  # Ctrl-C while the history loads
    rest = up.stdout.read()
    assert up.wait(timeout=60) == 0
    assert "BCX is up" not in rest and "BCX stopped" in rest, rest
    wait_for(lambda: processes_mentioning(str(tmp_path)) == [], what="every child of bcx up to exit")
