"""How often a repeated problem is logged: a hostile or broken peer can repeat one bad message thousands of times a
second, and a log line per message would fill the disk and bury everything else."""

from __future__ import annotations


def worth_logging(count: int) -> bool:
    """True for the 1st to 10th occurrence and then every 1000th: the first few show what is wrong, the rest that
    it goes on (each line carries the running count)."""
    return count <= 10 or count % 1000 == 0
