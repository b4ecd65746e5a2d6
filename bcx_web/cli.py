"""`bcx-web`: serve the API and the chart page through gunicorn (gthread workers), embedded in this process.

Config errors exit 2 before anything touches Redis. Then gunicorn's arbiter owns the process: TERM stops
gracefully (workers finish their requests, up to `GRACEFUL_TIMEOUT`), INT stops at once, both exit 0; USR1
reopens the log file. Each worker builds its own app after the fork, so no Redis connection crosses a fork.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import tempfile
from dataclasses import replace

from gunicorn.app.base import BaseApplication

from bcx.config import Config
from bcx.converters import host, port
from bcx.daemon import base_parser, load_or_exit

# bcx_web.app (and with it prometheus_client) is imported only after main() has chosen the metrics directory:
# the client decides at import time whether values live in per-process files (see bcx_web.metrics).
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

log = logging.getLogger(__name__)

GRACEFUL_TIMEOUT = 10  # seconds TERM waits for requests in flight; below init scripts' and systemd's stop wait


class WebServer(BaseApplication):
    """gunicorn configured from a dict instead of its own command line and config file."""

    def __init__(self, config: Config, options: dict):
        self.config = config
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            if key in self.cfg.settings:  # settings newer than the installed gunicorn are skipped
                self.cfg.set(key, value)

    def load(self):
        from bcx_web.app import create_app

        return create_app(self.config)


def child_exit(server, worker) -> None:
    """gunicorn hook: a dead worker's live metrics stop counting."""
    from bcx_web.metrics import worker_exited

    worker_exited(worker.pid)


def gunicorn_options(config: Config, level: str, access_log: bool = False) -> dict:
    """gunicorn settings for the [web] and [log] sections, logging at `level` (the config's, or -v/-q's)."""
    log_target = config.log.file or "-"  # "-" is stderr
    return {
        "bind": bind_address(config.web.host, config.web.port),
        "workers": config.web.workers,
        "threads": config.web.threads,
        "worker_class": "gthread",
        "graceful_timeout": GRACEFUL_TIMEOUT,
        "errorlog": log_target,
        "loglevel": level.lower(),
        "accesslog": log_target if access_log else None,  # one line per request: only when asked for (-v)
        "proc_name": "bcx-web",
        # gunicorn >= 25 opens a control socket in $HOME by default: a daemon has no use for it, and two
        # instances would fight over the one path.
        "control_socket_disable": True,
        "child_exit": child_exit,
    }


def bind_address(host: str, port: int) -> str:
    """gunicorn's bind syntax: an IPv6 address goes in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def build_parser() -> argparse.ArgumentParser:
    parser = base_parser("bcx-web", "Serve the BCX HTTP API and chart page.")
    parser.add_argument("--host", type=_arg(host), help="listen on this address (default: [web] host)")
    parser.add_argument("--port", type=_arg(port), help="listen on this TCP port (default: [web] port)")
    return parser


def _arg(convert):
    """A config converter as an argparse type: its ValueError message becomes the usage error."""

    def parse(text: str):
        try:
            return convert(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = convert.__name__
    return parse


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    config = load_or_exit(args)
    web = config.web
    overrides = {"host": args.host or web.host, "port": args.port or web.port}
    config = replace(config, web=replace(web, **overrides))
    log.info("bcx-web on http://%s:%d/ (config %s)", config.web.host, config.web.port, config.path)
    level = logging.getLevelName(logging.getLogger().getEffectiveLevel())  # as load_or_exit set it up
    # A fresh metrics directory per run (files of an earlier run would be summed in), removed on exit.
    owned = MULTIPROC_ENV not in os.environ
    if owned:
        os.environ[MULTIPROC_ENV] = tempfile.mkdtemp(prefix="bcx-web-metrics-")
    arbiter = os.getpid()
    try:
        WebServer(config, gunicorn_options(config, level, access_log=args.verbose)).run()
    finally:
        if owned and os.getpid() == arbiter:  # workers leave through here too when they exit: only the arbiter
            shutil.rmtree(os.environ[MULTIPROC_ENV], ignore_errors=True)
