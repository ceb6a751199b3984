"""The lease backends under one contract: every test taking ``leases`` runs against both.

Redis tests use db 15 of the shared test server with a prefix of their own, deleted
afterwards, so parallel runs never meet. A Redis that is down fails the redis tests: it
never skips them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
import redis

from dialer.leases import LeaseBackend, MemoryLeases, RedisLeases
from tests.conftest import REDIS_URL

# An epoch with a fraction, where a float's resolution is ~0.24 µs: rounding shows up here.
NOW = 1_764_589_531.123456


def delete_prefix(client: redis.Redis, prefix: str) -> None:
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as exc:
        pytest.fail(f"Redis is not reachable at {REDIS_URL}: {exc}")
    yield client
    client.close()


@pytest.fixture
def redis_prefix(redis_client: redis.Redis) -> Iterator[str]:
    prefix = f"test:leases:{uuid.uuid4().hex}"
    yield prefix
    delete_prefix(redis_client, prefix)


@dataclass
class Harness:
    """One backend under test and what the contract needs around it."""

    name: str
    backend: LeaseBackend
    # What losing the store looks like: a Redis restarted without persistence has no keys.
    # (Not FLUSHALL: db 15 is shared with other runs.) The memory backend loses with reset().
    lose_state: Callable[[], None]
    # Another handle on the same state, as a second worker would have (its own connection).
    another: Callable[[], LeaseBackend]


@pytest.fixture(params=["memory", "redis"])
def harness(request: pytest.FixtureRequest) -> Harness:
    if request.param == "memory":
        memory = MemoryLeases()
        return Harness("memory", memory, memory.reset, lambda: memory)
    client: redis.Redis = request.getfixturevalue("redis_client")
    prefix: str = request.getfixturevalue("redis_prefix")

    def another() -> LeaseBackend:
        own = redis.Redis.from_url(REDIS_URL)
        request.addfinalizer(own.close)
        return RedisLeases(own, prefix=prefix)

    return Harness(
        "redis", RedisLeases(client, prefix=prefix), lambda: delete_prefix(client, prefix), another
    )


@pytest.fixture
def fresh_leases(harness: Harness) -> LeaseBackend:
    """A backend never started: it must say lost_state until restore()."""
    return harness.backend


@pytest.fixture
def leases(harness: Harness) -> LeaseBackend:
    """A started backend (``restore([], NOW)``), empty."""
    harness.backend.restore([], NOW)
    return harness.backend
