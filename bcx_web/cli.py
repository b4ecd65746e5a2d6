"""`bcx-web`: serve the API and the chart page through gunicorn (gthread workers), embedded in this process.

Config errors exit 2 before anything touches Redis. Then gunicorn's arbiter owns the process: TERM stops
gracefully (workers finish their requests, up to `GRACEFUL_TIMEOUT`), INT stops at once, both exit 0; USR1
reopens the log file. Each worker builds its own app after the fork, so no Redis connection crosses a fork.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import shutil
import socket
import sys
import tempfile
from dataclasses import replace

from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter

from bcx.config import Config
from bcx.converters import host, port
from bcx.daemon import arg_type, base_parser, load_or_exit, log_file
from bcx.detach import run_as_service

# bcx_web.app (and with it prometheus_client) is imported only after main() has chosen the metrics directory:
# the client decides at import time whether values live in per-process files (see bcx_web.metrics).
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

log = logging.getLogger(__name__)

LISTEN_BACKLOG = 2048  # gunicorn's default
# Python collects its youngest generation every 700 net allocations of container objects. A 1-day /series holds
# ~3,000 point tuples at once, so each request ran ~2 young collections, and now and then a full one over the
# decoded candles and ticks that bcx_web.cache keeps (~30 ms: the p99). At 10,000 a request's garbage goes by
# reference counting before a collection starts: ~0.4 ms saved per request, long pauses become rare (none in
# ~3,800 requests, against 14); cycles (rare here) wait a little longer to be freed.
GC_YOUNG_THRESHOLD = 10_000
GRACEFUL_TIMEOUT = 10  # seconds TERM waits for requests in flight; below init scripts' and systemd's stop wait


class WebServer(BaseApplication):
    """gunicorn configured from a dict instead of its own command line and config file, serving on a socket we
    bound ourselves (before detaching and before dropping root, so --user works on a port below 1024)."""

    def __init__(self, config: Config, options: dict, listener: socket.socket | None = None):
        self.config = config
        self.options = options
        self.listener = listener
        super().__init__()

    def run(self) -> None:
        if self.listener is not None:  # gunicorn's documented way to serve a socket bound by someone else
            self.cfg.set("bind", f"fd://{self.listener.fileno()}")
        arbiter = Arbiter(self)
        try:
            arbiter.run()
        except RuntimeError as exc:  # what BaseApplication.run does
            print(f"\nError: {exc}\n", file=sys.stderr)
            sys.exit(1)

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


def post_worker_init(worker) -> None:
    """gunicorn hook, in each worker once its app is loaded: what was loaded stays out of every collection
    (gc.freeze), and young collections come less often (GC_YOUNG_THRESHOLD)."""
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


def gunicorn_options(config: Config, level: str, access_log: bool = False, log_path: str | None = None) -> dict:
    """gunicorn settings for the [web] and [log] sections, logging at `level` (the config's, or -v/-q's) to
    `log_path` (--log-file), else the config's [log] file, else stderr."""
    log_target = log_path or config.log.file or "-"  # "-" is stderr
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
        "post_worker_init": post_worker_init,
    }


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port, or exit 1 with the reason (say, the port is taken)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn does: restart over TIME_WAIT
    try:
        sock.bind((host, port))
        sock.listen(LISTEN_BACKLOG)
    except OSError as exc:
        sock.close()
        print(f"bcx-web: cannot listen on {bind_address(host, port)}: {exc.strerror}", file=sys.stderr)
        sys.exit(1)
    sock.set_inheritable(True)
    return sock


def bind_address(host: str, port: int) -> str:
    """gunicorn's bind syntax: an IPv6 address goes in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def build_parser() -> argparse.ArgumentParser:
    parser = base_parser("bcx-web", "Serve the BCX HTTP API and chart page.")
    parser.add_argument("--host", type=arg_type(host), help="listen on this address (default: [web] host)")
    parser.add_argument("--port", type=arg_type(port), help="listen on this TCP port (default: [web] port)")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    config = load_or_exit(args)
    web = config.web
    overrides = {"host": args.host or web.host, "port": args.port or web.port}
    config = replace(config, web=replace(web, **overrides))
    listener = listen(config.web.host, config.web.port)
    log.info("bcx-web on http://%s:%d/ (config %s)", config.web.host, config.web.port, config.path)  # once bound
    with run_as_service(args, config, keep_fds=[listener.fileno()]):  # --daemon, --pidfile, --user
        # gunicorn's arbiter installs its own signal handlers: TERM graceful, INT quick, HUP reload, USR1 reopen
        level = logging.getLevelName(logging.getLogger().getEffectiveLevel())  # as load_or_exit set it up
        options = gunicorn_options(config, level, access_log=args.verbose, log_path=log_file(args, config))
        serve_with_metrics_dir(WebServer(config, options, listener))


def serve_with_metrics_dir(server: WebServer) -> None:
    """Run gunicorn with a fresh prometheus multiprocess directory (files of an earlier run would be summed in),
    made here, after detaching and dropping root, so that the workers can write to it; removed on exit."""
    owned = MULTIPROC_ENV not in os.environ
    if owned:
        os.environ[MULTIPROC_ENV] = tempfile.mkdtemp(prefix="bcx-web-metrics-")
    arbiter = os.getpid()
    try:
        server.run()
    finally:
        if owned and os.getpid() == arbiter:  # workers leave through here too when they exit: only the arbiter
            shutil.rmtree(os.environ[MULTIPROC_ENV], ignore_errors=True)
