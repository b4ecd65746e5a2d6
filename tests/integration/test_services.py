"""The daemons as services, for real: --daemon detaching and the pidfile lifecycle, a stale pidfile, --user, and
(as root) `bcx install --root` into a temporary root, then each init script driven through start, status,
restart, stop against a real Redis, with `bcx status` as the health check."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from bcx.embedded import free_port
from bcx.pidfile import pid_running, read_pid
from tests.e2e.conftest import get_json, wait_for

BIN = Path(sys.executable).parent
TIMEOUT = 60
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (CI runs as root): switches users / chowns")


def gone_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait(timeout=TIMEOUT)
    return process.pid


# Process management (detaching, pidfiles, users, init scripts): nothing cluster-specific, so these tests use the
# single server only (`redis_url`); the cluster config reaches every daemon through tests/e2e and test_scaling.


def write_config(path: Path, redis_url: str, web_port: int | None = None) -> Path:
    # the feed points at a closed local port: the tracker keeps retrying, never reaches the internet
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"[redis]\nurl = {redis_url}\n[tracker]\nfeed_url = ws://127.0.0.1:{free_port()}/\nreconnect_max = 1s\n"
        f"[watcher]\ninterval = 200ms\n[web]\nport = {web_port or free_port()}\nworkers = 1\nthreads = 2\n"
        "sse_max_streams = 1\n"
    )
    return path


@pytest.fixture
def pidfiles():
    """Pidfiles of the daemons a test started: whatever still runs at the end is killed."""
    paths: list[Path] = []
    yield paths
    for path in paths:
        pid = read_pid(path)
        if pid and pid_running(pid):
            os.kill(pid, signal.SIGKILL)


def start_daemon(name: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / name), "--daemon", *args], capture_output=True, text=True, timeout=TIMEOUT)


def stop(pid: int) -> None:
    os.kill(pid, signal.SIGTERM)
    wait_for(lambda: not pid_running(pid), TIMEOUT, what=f"pid {pid} to exit")


def test_daemon_detaches_writes_its_pidfile_survives_hup_and_cleans_up(tmp_path, redis_url, pidfiles):
    config, pidfile, log = write_config(tmp_path / "bcx.conf", redis_url), tmp_path / "run/w.pid", tmp_path / "w.log"
    pidfiles.append(pidfile)
    launched = start_daemon("bcx-watcher", "--config", str(config), "--pidfile", str(pidfile), "--log-file", str(log))
    assert launched.returncode == 0, launched.stderr  # the launcher returns once the daemon is detached
    pid = wait_for(lambda: read_pid(pidfile), TIMEOUT, what="the pidfile")
    assert pid_running(pid) and os.getsid(pid) != os.getsid(0)  # a session of its own, away from our terminal
    assert Path(f"/proc/{pid}/cwd").resolve() == Path("/")
    wait_for(lambda: "watching" in log.read_text(), TIMEOUT, what="the watcher's first log line")

    log.rename(tmp_path / "w.log.1")  # what logrotate does, then its postrotate HUP
    os.kill(pid, signal.SIGHUP)
    wait_for(lambda: log.exists(), TIMEOUT, what="the log reopened after HUP")
    assert pid_running(pid)

    stop(pid)
    assert not pidfile.exists()
    assert "stopping on SIGTERM" in log.read_text()


def test_stale_pidfile_is_replaced_and_a_live_one_refused(tmp_path, redis_url, pidfiles):
    config, pidfile, log = write_config(tmp_path / "bcx.conf", redis_url), tmp_path / "t.pid", tmp_path / "t.log"
    pidfiles.append(pidfile)
    dead = gone_pid()
    pidfile.write_text(f"{dead}\n")  # left by a run that was SIGKILLed
    args = ("--config", str(config), "--pidfile", str(pidfile), "--log-file", str(log))
    assert start_daemon("bcx-tracker", *args).returncode == 0
    pid = wait_for(lambda: read_pid(pidfile) != dead and read_pid(pidfile), TIMEOUT, what="a new pid in the pidfile")
    assert pid_running(pid)
    assert f"removing the stale pidfile {pidfile} (pid {dead} is gone)" in log.read_text()

    again = start_daemon("bcx-tracker", *args)
    assert again.returncode == 1 and f"already running: {pidfile} holds pid {pid}" in again.stderr
    assert read_pid(pidfile) == pid

    stop(pid)
    assert not pidfile.exists()


def test_web_daemon_pidfile_is_the_arbiter_and_survives_its_workers(tmp_path, redis_url, pidfiles):
    port = free_port()
    config, pidfile, log = (
        write_config(tmp_path / "bcx.conf", redis_url, port),
        tmp_path / "web.pid",
        tmp_path / "w.log",
    )
    pidfiles.append(pidfile)
    args = ("--config", str(config), "--pidfile", str(pidfile), "--log-file", str(log))
    assert start_daemon("bcx-web", *args).returncode == 0
    wait_for(lambda: get_json(f"http://127.0.0.1:{port}/api/v1.0/health"), TIMEOUT, what="bcx-web to answer")
    pid = read_pid(pidfile)
    workers = [p for p in os.listdir("/proc") if p.isdigit() and _ppid(int(p)) == pid]
    assert workers and pid_running(pid)  # the pid in the file is gunicorn's arbiter, parent of the workers

    taken = subprocess.run([str(BIN / "bcx-web"), *args], capture_output=True, text=True, timeout=TIMEOUT)
    assert taken.returncode == 1 and "cannot listen on" in taken.stderr  # the port is ours: refused at once
    stop(pid)
    assert not pidfile.exists()  # removed by the arbiter, not by an exiting worker before it
    assert "Shutting down: Master" in log.read_text()


def _ppid(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def readable_by_anyone(path: Path) -> bool:
    """Whether another account can read `path`: every directory on the way is world-searchable."""
    return all(p.stat().st_mode & 0o005 == 0o005 for p in [path.resolve(), *path.resolve().parents])


@needs_root
def test_user_drops_root_after_starting(redis_url, pidfiles):
    nobody = 65534
    stdlib = Path(os.__file__).parent
    if not readable_by_anyone(stdlib) or not readable_by_anyone(Path(__file__).parents[2]):
        pytest.skip(f"Python ({stdlib}) or BCX is not readable by other accounts here: cannot run as nobody")
    with tempfile.TemporaryDirectory(prefix="bcx-user-") as directory:  # not under pytest's 0700 tmp dir
        top = Path(directory)
        top.chmod(0o755)
        (top / "run").mkdir()
        os.chown(top / "run", nobody, -1)  # the daemon removes its pidfile as that user
        config, pidfile = write_config(top / "bcx.conf", redis_url), top / "run/w.pid"
        pidfiles.append(pidfile)
        started = start_daemon("bcx-watcher", "--config", str(config), "--pidfile", str(pidfile), "--user", "nobody")
        assert started.returncode == 0, started.stderr
        pid = wait_for(lambda: read_pid(pidfile), TIMEOUT, what="the pidfile")
        uids = next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("Uid:"))
        assert uids.split()[1:] == [str(nobody)] * 4  # real, effective, saved, filesystem: no way back
        stop(pid)
        assert not pidfile.exists()


def test_unknown_user_is_refused_before_detaching(tmp_path, redis_url):
    config = write_config(tmp_path / "bcx.conf", redis_url)
    refused = start_daemon("bcx-watcher", "--config", str(config), "--user", "no-such-user-bcx")
    assert refused.returncode == 2 and "no such user" in refused.stderr


def lsb_tools_missing() -> str | None:
    if os.geteuid() != 0:
        return "needs root (CI runs as root): init scripts create their run directory with install -o"
    if not shutil.which("start-stop-daemon") or not Path("/lib/lsb/init-functions").exists():
        return "needs start-stop-daemon (dpkg) and /lib/lsb/init-functions (sysvinit-utils)"
    return None


def test_init_scripts_in_a_temporary_root(tmp_path, redis_url):
    if reason := lsb_tools_missing():
        pytest.skip(reason)
    root = tmp_path / "root"
    installed = subprocess.run(
        [str(BIN / "bcx"), "install", "--root", str(root), "--init", "sysv"], capture_output=True, timeout=TIMEOUT
    )
    assert installed.returncode == 0, installed.stdout
    write_config(root / "etc/bcx/bcx.conf", redis_url)
    (root / "etc/default").mkdir()
    env = {**os.environ, "BCX_ROOT": str(root), "SYSTEMCTL_SKIP_REDIRECT": "1"}
    try:
        for name in ("bcx-tracker", "bcx-watcher", "bcx-web"):
            (root / f"etc/default/{name}").write_text("USER=\n")  # no bcx account on a test machine
            drive_init_script(root, name, env)
    finally:
        for name in ("bcx-tracker", "bcx-watcher", "bcx-web"):
            service(root, name, "stop", env)
    assert not list((root / "run/bcx").iterdir())  # every pidfile gone
    assert "bcx-tracker started" in (root / "var/log/bcx/bcx-tracker.log").read_text()
    assert "Shutting down: Master" in (root / "var/log/bcx/bcx-web.log").read_text()


def service(root: Path, name: str, action: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["sh", str(root / "etc/init.d" / name), action], capture_output=True, text=True, env=env, timeout=TIMEOUT
    )


def bcx_status(root: Path, name: str) -> subprocess.CompletedProcess:
    config, pid_dir = root / "etc/bcx/bcx.conf", root / "run/bcx"
    command = [str(BIN / "bcx"), "status", "--config", str(config), "--pid-dir", str(pid_dir), name.split("-")[1]]
    return subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT)


def drive_init_script(root: Path, name: str, env: dict) -> None:
    pidfile = root / f"run/bcx/{name}.pid"
    assert service(root, name, "status", env).returncode == 3
    started = service(root, name, "start", env)
    assert started.returncode == 0, started.stdout + started.stderr
    first = read_pid(pidfile)  # `start` returns once the daemon has written it
    assert first and pid_running(first) and service(root, name, "status", env).returncode == 0
    assert bcx_status(root, name).returncode == 0
    assert service(root, name, "start", env).returncode == 0 and read_pid(pidfile) == first  # already running

    assert service(root, name, "restart", env).returncode == 0
    second = read_pid(pidfile)
    assert second != first and pid_running(second) and not pid_running(first)

    assert service(root, name, "stop", env).returncode == 0
    assert not pid_running(second) and not pidfile.exists()
    assert service(root, name, "status", env).returncode == 3
    down = bcx_status(root, name)
    assert down.returncode == 1 and "DOWN     not running" in down.stdout

    pidfile.write_text(f"{gone_pid()}\n")  # a crashed run
    assert service(root, name, "status", env).returncode == 1  # LSB: dead, pidfile remains
    assert "which is gone" in bcx_status(root, name).stdout
    assert service(root, name, "stop", env).returncode == 0 and not pidfile.exists()
