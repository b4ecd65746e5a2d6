"""Start a real `bcx-web` (gunicorn) process on a free loopback port for a test."""

from __future__ import annotations

from pathlib import Path

from bcx.embedded import free_port
from tests.e2e.conftest import Processes, bcx_command, get_json, wait_for


def start_web(processes: Processes, tmp_path: Path, redis_section: str, web_extra: str = "", name: str = "web") -> str:
    """Returns the base URL once /api/v1.0/health answers."""
    port = free_port()
    conf = tmp_path / f"{name}.conf"
    conf.write_text(f"{redis_section}\n[web]\nport = {port}\nworkers = 1\nthreads = 8\n{web_extra}")
    process = processes.start(name, [bcx_command("bcx-web"), "--config", str(conf)])
    base = f"http://127.0.0.1:{port}"
    wait_for(lambda: process.poll() is not None or get_json(f"{base}/api/v1.0/health"), what="bcx-web to answer")
    assert process.poll() is None, processes.log(name)
    return base
