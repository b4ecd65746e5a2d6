"""Logging for the entry points: one handler, installed once, logrotate-friendly when writing to a file."""

from __future__ import annotations

import logging
import logging.handlers
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
