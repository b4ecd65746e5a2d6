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
from bcx.logsetup import reopen_log_files, setup_logging

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
    service = parser.add_argument_group("running as a service")
    service.add_argument(
        "--daemon", action="store_true", help="detach into the background (default: stay in the foreground)"
    )
    service.add_argument(
        "--pidfile", metavar="PATH", help="write the pid here (after detaching); refuse to start if its owner lives"
    )
    service.add_argument("--user", metavar="NAME", help="as root: switch to this account once started")
    service.add_argument("--log-file", metavar="PATH", help="log to this file instead of the config's [log] file")
    return parser


def arg_type(convert: Callable[[str], object]) -> Callable[[str], object]:
    """A config converter (bcx.converters) as an argparse type: its ValueError message becomes the usage error."""

    def parse(text: str):
        try:
            return convert(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = convert.__name__
    return parse


def load_or_exit(args: argparse.Namespace) -> Config:
    """Load and validate the config, or print what is wrong and exit 2 before anything touches Redis."""
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        _config_exit(exc)
    path = log_file(args, config)
    try:
        setup_logging(log_level(args, config), path)
    except OSError as exc:  # a folder that does not exist, no permission: refuse, as for any bad value
        where = ("--log-file", None, None) if getattr(args, "log_file", None) else (config.path, "log", "file")
        _config_exit(ConfigError(where[0], f"cannot open {path}: {exc.strerror}", where[1], where[2]))
    for warning in config.warnings:
        log.warning("%s", warning)
    return config


def _config_exit(exc: ConfigError) -> None:
    print(f"{sys.argv[0].rsplit('/', 1)[-1]}: config error: {exc}", file=sys.stderr)
    sys.exit(EXIT_CONFIG)


def log_level(args: argparse.Namespace, config: Config) -> str:
    """-v and -q win over the config's [log] level."""
    if getattr(args, "verbose", False):
        return "DEBUG"
    return "WARNING" if getattr(args, "quiet", False) else config.log.level


def log_file(args: argparse.Namespace, config: Config) -> str | None:
    """--log-file wins over the config's [log] file (the init scripts give each daemon a file of its own)."""
    return getattr(args, "log_file", None) or config.log.file


class Stopper:
    """Records TERM/INT (stop) and, for a service, HUP (reopen logs); a second TERM/INT exits at once."""

    def __init__(self, exit_on_second: bool = True) -> None:
        self.exit_on_second = exit_on_second
        self.stopping = False
        self.signal_name: str | None = None
        self.hangup = False

    def install(self, reopen_on_hup: bool = False, stop_on_hup: bool = False) -> Stopper:
        """`reopen_on_hup` for services (logrotate sends HUP); `stop_on_hup` for a command that must clean up
        when its terminal closes (bcx up); otherwise HUP keeps its default, so closing the terminal ends it."""
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        if reopen_on_hup:
            signal.signal(signal.SIGHUP, self._hangup)
        elif stop_on_hup:
            signal.signal(signal.SIGHUP, self._stop)
        return self

    def _hangup(self, signum, frame) -> None:
        self.hangup = True

    def take_hangup(self) -> bool:
        """True once per HUP received since the last call."""
        received, self.hangup = self.hangup, False
        return received

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
            if stopper.take_hangup():
                reopen_log_files()
            loop_once(clock())
    finally:
        if stopper.signal_name:
            log.info("stopping on %s", stopper.signal_name)
        shutdown()
