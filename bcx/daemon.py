"""What every BCX daemon shares: its command line, config loading, logging, signals and loop shape.

Each daemon's main loop has one shape: `initialize()`, then `while not stopping: loop_once(now)`, then
`finally: shutdown()`. Signal handlers only record the signal; the loop acts on it.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import time
from collections.abc import Callable

from bcx.config import Config, ConfigError, load_config
from bcx.logsetup import setup_logging

log = logging.getLogger(__name__)

EXIT_CONFIG = 2


def base_parser(prog: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument(
        "--config",
        metavar="PATH",
        help="config file (default: $BCX_CONFIG, /etc/bcx/bcx.conf, else the packaged default)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    parser.add_argument("-q", "--quiet", action="store_true", help="log warnings and errors only")
    return parser


def load_or_exit(args: argparse.Namespace) -> Config:
    """Load and validate the config, or print what is wrong and exit 2 before anything touches Redis."""
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"{sys.argv[0].rsplit('/', 1)[-1]}: config error: {exc}", file=sys.stderr)
        sys.exit(EXIT_CONFIG)
    level = "DEBUG" if getattr(args, "verbose", False) else "WARNING" if getattr(args, "quiet", False) else None
    setup_logging(level or config.log.level, config.log.file)
    return config


class Stopper:
    """Records TERM/INT (stop) and HUP (reopen logs); a second TERM/INT exits at once."""

    def __init__(self, exit_on_second: bool = True) -> None:
        self.exit_on_second = exit_on_second
        self.stopping = False
        self.signal_name: str | None = None

    def install(self) -> Stopper:
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        return self

    def _stop(self, signum, frame) -> None:
        if self.stopping and self.exit_on_second:
            sys.exit(1)
        self.stopping = True
        self.signal_name = signal.Signals(signum).name

    def stop(self) -> None:
        self.stopping = True


def run_loop(
    initialize: Callable[[], None],
    loop_once: Callable[[float], None],
    shutdown: Callable[[], None],
    stopper: Stopper,
    clock: Callable[[], float] = time.time,
) -> None:
    """initialize; while not stopping: loop_once(now); finally shutdown."""
    initialize()
    try:
        while not stopper.stopping:
            loop_once(clock())
    finally:
        if stopper.signal_name:
            log.info("stopping on %s", stopper.signal_name)
        shutdown()
