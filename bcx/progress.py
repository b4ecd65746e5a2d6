"""Progress bars (tqdm) for the long `bcx` commands, on standard error and only on a terminal: piped or logged,
they print nothing, so stdout keeps nothing but data and log files nothing but log lines."""

from __future__ import annotations

import sys

from tqdm import tqdm


def bar(total: float | None, unit: str, desc: str, hidden: bool = False, **options) -> tqdm:
    """A tqdm bar on stderr, disabled unless stderr is a terminal (or when `hidden`)."""
    disable = hidden or not sys.stderr.isatty()
    return tqdm(total=total, unit=unit, desc=desc, file=sys.stderr, disable=disable, **options)
