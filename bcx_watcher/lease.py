"""Per-product leases, so that of several watchers against one Redis exactly one looks after each product.

A lease is a key (SeriesKeys.lease, in the product's hash slot) holding the watcher's id, set with NX and an
expiry, and renewed by its holder on every pass. A watcher that dies stops renewing: within the lease time the key
expires and another watcher takes the product over, starting from the cursor and marks the first one left in
Redis. A watcher that stops cleanly releases its leases at once. A holder paused for longer than the lease (a
stopped VM) may overlap one pass with its successor: alerts are at least once, and compaction is idempotent.
"""

from __future__ import annotations

import logging

import redis

log = logging.getLogger(__name__)

# Renew only our own lease; release only our own lease.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class Leases:
    """The leases one watcher (`owner`) holds; `hold(key)` takes or renews one, and says whether it is ours."""

    def __init__(self, conn: redis.Redis, owner: str, lease_s: float):
        self.conn = conn
        self.owner = owner
        self.lease_ms = max(int(lease_s * 1000), 1)
        self.held: set[str] = set()
        self._renew = conn.register_script(_RENEW)
        self._release = conn.register_script(_RELEASE)

    def hold(self, key: str) -> bool:
        ours = bool(self.conn.set(key, self.owner, nx=True, px=self.lease_ms)) or bool(
            self._renew(keys=[key], args=[self.owner, self.lease_ms])
        )
        if ours and key not in self.held:
            log.info("took the lease %s", key)
            self.held.add(key)
        elif not ours and key in self.held:
            log.warning("lost the lease %s to %s", key, self.conn.get(key))
            self.held.discard(key)
        return ours

    def release_all(self) -> None:
        for key in sorted(self.held):
            self._release(keys=[key], args=[self.owner])
        self.held.clear()
