"""Where a running `bcx up` tells the other `bcx` commands about itself, so that `bcx status`, `bcx tail` and
`bcx alerts` without `--config` look at the suite it runs (its Redis may be an embedded one on a random port).

One small JSON file per user: `$XDG_RUNTIME_DIR/bcx-up.json` when that (per-user, private) folder exists, else
`bcx-up-<uid>.json` in the temp folder. It names bcx up's pid, its run config and the folder of its daemons'
pidfiles; it is trusted only while that pid lives and only when this user owns the file.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bcx.config import ENV_VAR
from bcx.pidfile import pid_running

CONFIG_HELP = "config file (default: $BCX_CONFIG, a running bcx up's, /etc/bcx/bcx.conf, else the packaged one)"


@dataclass(frozen=True)
class RunningUp:
    pid: int
    config: str
    pid_dir: str


def state_path(environ: dict[str, str] | None = None) -> Path:
    environ = os.environ if environ is None else environ
    runtime = environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime):
        return Path(runtime) / "bcx-up.json"
    return Path(tempfile.gettempdir()) / f"bcx-up-{os.getuid()}.json"


def announce(config: str, pid_dir: str) -> Path:
    """Write the state file (atomically: a reader never sees half of it); returns its path."""
    path = state_path()
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(json.dumps({"pid": os.getpid(), "config": config, "pid_dir": pid_dir}))
    partial.replace(path)
    return path


def withdraw(path: Path) -> None:
    """Remove the state file if it is still ours (another bcx up may have started since)."""
    found = read(path)
    if found is not None and found.pid == os.getpid():
        path.unlink(missing_ok=True)


def read(path: Path | None = None) -> RunningUp | None:
    path = state_path() if path is None else path
    try:
        if path.stat().st_uid != os.getuid():
            return None
        data = json.loads(path.read_text())
        running = RunningUp(int(data["pid"]), str(data["config"]), str(data["pid_dir"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return running if pid_running(running.pid) else None


def running_up_config(args) -> RunningUp | None:
    """For `bcx status`, `tail` and `alerts`: when neither --config nor $BCX_CONFIG names a config and a `bcx up`
    runs, point `args.config` at its run config and return it."""
    if getattr(args, "config", None) or os.environ.get(ENV_VAR):
        return None
    found = read()
    if found is not None:
        args.config = found.config
    return found
