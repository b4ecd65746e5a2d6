"""Logging for the entry points: one handler, installed once, logrotate-friendly when writing to a file."""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys

FORMAT = "%(asctime)s %(name)s[%(process)d] %(levelname)s %(message)s"


def setup_logging(level: str, path: str | None = None) -> logging.Handler:
    """Log to `path` through a WatchedFileHandler (reopens after logrotate moves the file), else stderr."""
    handler: logging.Handler
    if path:
        handler = logging.handlers.WatchedFileHandler(path)
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    return handler


def close_logging() -> None:
    """Remove and close the root logger's handlers: before detaching closes their files underneath them (a
    handler garbage-collected later would otherwise close a descriptor number reused by its successor)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()


def reopen_log_files() -> None:
    """After HUP (logrotate): reopen every file the root logger writes to, and stdout/stderr if a detached
    daemon pointed them at its log file. WatchedFileHandler would notice the move on its next record anyway;
    this also covers a file that was truncated or replaced in place."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            fresh = open(handler.baseFilename, handler.mode, encoding=handler.encoding, errors=handler.errors)
            old = handler.setStream(fresh)
            if old is not None:
                old.close()
    if _stdio_path:
        redirect_stdio(_stdio_path)


_stdio_path: str | None = None


def redirect_stdio(path: str) -> None:
    """Point stdout and stderr (file descriptors 1 and 2) at `path`, appending: what a detached daemon prints,
    including a traceback that escapes logging, lands in its log file."""
    global _stdio_path
    sys.stdout.flush()
    sys.stderr.flush()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.dup2(fd, 1)
        os.dup2(fd, 2)
    finally:
        os.close(fd)
    _stdio_path = path
