"""Every daemon refuses a bad config with exit 2 and one line naming file, section and key, before it touches Redis
(issue 14: these used to start anyway or die with a traceback). No Redis listens at the configured port: reaching
it would mean a retry loop or a traceback, not exit 2."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

DAEMONS = ("bcx-tracker", "bcx-watcher", "bcx-web")


@pytest.mark.parametrize("daemon", DAEMONS)
@pytest.mark.parametrize(
    "text, where",
    [
        ("[redis]\nurl = redis://127.0.0.1:99999/0\n", "[redis] url"),
        ("[redis]\ntimeout = 0s\n", "[redis] timeout"),
        ("[web]\nworkers = 1000000000\n", "[web] workers"),
        ("[log]\nfile = /nonexistent-folder/bcx.log\n", "[log] file"),
    ],
)
def test_a_bad_config_exits_2_naming_file_section_and_key(tmp_path, daemon, text, where):
    path = tmp_path / "bcx.conf"
    path.write_text(text)
    done = subprocess.run(
        [str(Path(sys.executable).parent / daemon), "--config", str(path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2, done.stderr
    assert f"{path}: {where}" in done.stderr
    assert "Traceback" not in done.stderr


def test_bcx_web_announces_its_address_only_once_it_is_bound(tmp_path):
    path = tmp_path / "bcx.conf"
    path.write_text("")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [str(Path(sys.executable).parent / "bcx-web"), "--config", str(path), "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "bcx-web on http" not in done.stderr
