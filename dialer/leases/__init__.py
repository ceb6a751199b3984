"""Channel leases and calls-per-second pacing (DESIGN §6): one interface, two backends.

``restore()`` is how a backend is started: until it has run once, and again after the state
was lost (a Redis restarted without persistence, a ``reset()``), every ``acquire`` answers
``Rejected(reason="lost_state")`` so that the caller rebuilds the leases from the database
before admitting a call.
"""

from __future__ import annotations

from dialer.leases.backend import Bucket, Granted, LeaseBackend, LeaseRequest, Rejected, Scope
from dialer.leases.memory import MemoryLeases
from dialer.leases.redis import RedisLeases

__all__ = [
    "Bucket",
    "Granted",
    "LeaseBackend",
    "LeaseRequest",
    "MemoryLeases",
    "RedisLeases",
    "Rejected",
    "Scope",
    "make_backend",
]


def make_backend(redis_url: str | None) -> LeaseBackend:
    """Redis when a URL is given, the in-process backend when not.

    Either starts in the lost state: call ``restore()`` before the first ``acquire``.
    """
    if redis_url is None:
        return MemoryLeases()
    # Built by RedisLeases: in this package ``redis`` names the submodule, not redis-py.
    return RedisLeases.from_url(redis_url)
