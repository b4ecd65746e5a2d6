"""Pidfiles: written after detaching, removed on exit only if they still hold our pid, stale ones replaced.

A daemon killed with SIGKILL (or a crash of the machine) leaves its pidfile behind. python-daemon's own lock
file then makes the next start die after detaching, visible only in its log; here the check runs before
detaching, so a live owner is reported on the terminal (exit 1) and a dead one's file is simply replaced.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

RUNNING, DEAD, ABSENT = "running", "dead", "absent"


class PidFileInUse(Exception):
    """Another live process owns the pidfile."""


def read_pid(path: str | Path) -> int | None:
    """The pid in `path`, or None when the file is absent, empty or not a positive number."""
    try:
        text = Path(path).read_text(encoding="ascii", errors="replace").strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return int(text) if text.isdigit() and int(text) > 0 else None


def pid_running(pid: int) -> bool:
    """Whether a process with this pid exists (and is not a zombie waiting for its parent)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


@dataclass(frozen=True)
class PidState:
    state: str  # RUNNING, DEAD (file left by a process that is gone, or unreadable) or ABSENT
    pid: int | None
    since: float | None  # when the pidfile was written (unix seconds): the daemon's start

    def uptime(self, now: float) -> float | None:
        return now - self.since if self.state == RUNNING and self.since is not None else None


def pid_state(path: str | Path) -> PidState:
    path = Path(path)
    try:
        since = path.stat().st_mtime
    except (FileNotFoundError, NotADirectoryError):
        return PidState(ABSENT, None, None)
    pid = read_pid(path)
    if pid is not None and pid_running(pid):
        return PidState(RUNNING, pid, since)
    return PidState(DEAD, pid, since)


class PidFile:
    """A context manager: `claim()` before detaching, enter after (writes our pid), exit removes it if ours.

    Usable as python-daemon's `pidfile`, which enters it after detaching and exits it at close."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.pid: int | None = None

    def claim(self) -> None:
        """Raise PidFileInUse if a live process holds the pidfile; remove it if its process is gone."""
        found = pid_state(self.path)
        if found.state == RUNNING and found.pid != os.getpid():
            raise PidFileInUse(f"{self.path} holds pid {found.pid}, which is running")
        if found.state == DEAD:
            log.warning("removing the stale pidfile %s (pid %s is gone)", self.path, found.pid)
            self.path.unlink(missing_ok=True)

    def write(self) -> None:
        """Write our pid atomically (a reader never sees a half-written file)."""
        self.pid = os.getpid()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{self.path.name}.{self.pid}")
        temporary.write_text(f"{self.pid}\n", encoding="ascii")
        os.replace(temporary, self.path)

    def remove(self) -> None:
        """Remove the pidfile only if it still holds our pid (a forked child or a successor leaves it alone)."""
        if self.pid is not None and self.pid == os.getpid() and read_pid(self.path) == self.pid:
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> PidFile:
        self.write()
        return self

    def __exit__(self, *exc_info) -> None:
        self.remove()
