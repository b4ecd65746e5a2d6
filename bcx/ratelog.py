"""Logging at a bounded rate: a flood of the same event (malformed frames, an exchange's error messages, a
failing webhook) becomes a few lines and a count, never one line per event."""

from __future__ import annotations

import logging

FIRST = 10  # events logged one by one before the rate bound applies
EVERY = 60.0  # then at most one line per this many seconds, carrying how many were not logged


class RateLimitedLog:
    def __init__(self, logger: logging.Logger, what: str, level: int = logging.WARNING, every: float = EVERY):
        self.logger, self.what, self.level, self.every = logger, what, level, every
        self.count = 0
        self._unlogged = 0
        self._logged_at: float | None = None

    def event(self, now: float, detail: str = "", *args: object) -> bool:
        """Count one event and log it when the rate allows; True when it was logged."""
        self.count += 1
        if self.count > FIRST and self._logged_at is not None and now - self._logged_at < self.every:
            self._unlogged += 1
            return False
        skipped = f" ({self._unlogged} more since the last line)" if self._unlogged else ""
        self.logger.log(self.level, f"%s #%d{skipped}: {detail}", self.what, self.count, *args)
        self._unlogged, self._logged_at = 0, now
        return True
