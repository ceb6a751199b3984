"""What only the Redis backend promises: one round trip per call, keys under its prefix that
do not pile up, either reply decoding, and connection errors that reach the caller."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from dialer.leases import (
    Bucket,
    Granted,
    LeaseRequest,
    MemoryLeases,
    RedisLeases,
    Rejected,
    Scope,
    make_backend,
)
from tests.conftest import REDIS_URL
from tests.leases.conftest import NOW

TRUNK = Scope("trunk", "t", 2)
NODE = Scope("node", "fs1", None)
PACE = Bucket("campaign", "c", rate=10.0, burst=2.0)


class CountingConnection(redis.Connection):
    """Counts the writes to the socket: one per round trip, a whole pipeline being one."""

    sent = 0

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        type(self).sent += 1
        super().send_packed_command(command, check_health)


@pytest.fixture
def counted(redis_prefix: str) -> Iterator[RedisLeases]:
    pool = redis.ConnectionPool.from_url(REDIS_URL, connection_class=CountingConnection)
    client = redis.Redis(connection_pool=pool)
    yield RedisLeases(client, prefix=redis_prefix)
    client.close()


def round_trips(action: Any) -> int:
    before = CountingConnection.sent
    action()
    return CountingConnection.sent - before


def test_every_operation_is_one_round_trip(counted: RedisLeases) -> None:
    leases = counted
    leases.restore([], NOW)
    # Scripts are loaded on first use (NOSCRIPT, then SCRIPT LOAD): warm them up first.
    leases.acquire("warm", [TRUNK], 30, NOW, [PACE])
    leases.extend("warm", 30, NOW)
    leases.release("warm")
    leases.leases(NOW)
    scopes = [TRUNK, NODE, Scope("campaign", "c", 9), Scope("tenant", "x", 4)]

    assert round_trips(lambda: leases.acquire("a", scopes, 30, NOW + 1, [PACE])) == 1
    assert round_trips(lambda: leases.acquire("b", scopes, 30, NOW + 1, [PACE])) == 1
    assert round_trips(lambda: leases.extend("a", 60, NOW + 1)) == 1
    assert round_trips(lambda: leases.release("a")) == 1
    batch = [LeaseRequest(f"m{i}", scopes, 30, [PACE]) for i in range(50)]
    assert round_trips(lambda: leases.acquire_many(batch, NOW + 1)) == 1
    assert round_trips(lambda: leases.extend_many([r.lease_id for r in batch], 60, NOW)) == 1
    assert round_trips(lambda: leases.release_many([r.lease_id for r in batch])) == 1
    assert round_trips(lambda: leases.free(scopes, NOW + 1)) == 1
    assert round_trips(lambda: leases.tokens(PACE, NOW + 1)) == 1
    assert round_trips(lambda: leases.count(TRUNK, NOW + 1)) == 1
    assert round_trips(lambda: leases.holders(TRUNK, NOW + 1)) == 1
    assert round_trips(lambda: leases.leases(NOW + 1)) == 1
    many = [(f"r{i}", scopes, NOW + 30) for i in range(1200)]
    assert round_trips(lambda: leases.restore(many, NOW + 1)) == 1
    assert leases.count(TRUNK, NOW + 1) == 1 + 1200  # "b" and the restored


def test_keys_stay_under_the_prefix_and_do_not_pile_up(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    leases = RedisLeases(redis_client, prefix=redis_prefix)
    leases.restore([], NOW)
    for i in range(20):
        assert isinstance(leases.acquire(f"a{i}", [NODE], 30, NOW + i, [PACE]), Granted)
        if i % 2:
            assert leases.release(f"a{i}")
    for i in range(20):
        leases.release(f"a{i}")
    # The ones that expire unreleased are reaped by a later acquire elsewhere.
    for i in range(5):
        leases.acquire(f"late{i}", [Scope("trunk", "other", None)], 1, NOW)
    leases.acquire("sweeper", [], 1, NOW + 100)
    leases.release("sweeper")

    keys = {k.decode() for k in redis_client.scan_iter(match="*", count=1000)}
    mine = {k for k in keys if k.startswith(redis_prefix + ":")}
    released = f"{redis_prefix}:released"
    assert mine == {f"{redis_prefix}:epoch", f"{redis_prefix}:bucket:{PACE.key}", released}
    # The wake-up list for a waiting scheduler stays short and goes when nobody reads it.
    assert redis_client.llen(released) <= 16
    assert 0 < redis_client.pttl(released) <= 60_000
    # The bucket's state goes once it has been idle for a while.
    idle_ms = redis_client.pttl(f"{redis_prefix}:bucket:{PACE.key}")
    assert 0 < idle_ms <= 60_000


def test_an_idle_slow_bucket_is_kept_as_long_as_it_takes_to_refill(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    leases = RedisLeases(redis_client, prefix=redis_prefix)
    leases.restore([], NOW)
    slow = Bucket("trunk", "slow", rate=0.01, burst=2.0)
    leases.acquire("a", [], 30, NOW, [slow])
    # 3 refills of 200 s each.
    assert 599_000 < redis_client.pttl(f"{redis_prefix}:bucket:{slow.key}") <= 600_000


def test_decoded_replies_work_too(redis_prefix: str) -> None:
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    leases = RedisLeases(client, prefix=redis_prefix)
    assert leases.acquire("a", [TRUNK], 30, NOW) == Rejected("a", "lost_state", "", 0.0)
    leases.restore([("r", [TRUNK, NODE], NOW + 30)], NOW)
    assert leases.acquire("a", [TRUNK], 30, NOW, [PACE]) == Granted("a", NOW + 30)
    assert leases.acquire("b", [TRUNK], 30, NOW) == Rejected("b", "limit", "trunk", 0.0)
    assert leases.acquire("b", [NODE], 30, NOW + 0.01, [PACE, PACE]) == Granted("b", NOW + 30.01)
    refused = leases.acquire("c", [NODE], 30, NOW + 0.02, [PACE])
    assert isinstance(refused, Rejected)
    assert refused.retry_after == pytest.approx(0.08, abs=1e-6)
    # Equal expiries: ids in byte order, as the memory backend sorts them.
    assert leases.holders(TRUNK, NOW) == ["a", "r"]
    assert leases.leases(NOW) == {"r": [TRUNK.key, NODE.key], "a": [TRUNK.key], "b": [NODE.key]}
    assert leases.tokens(PACE, NOW + 0.01) == pytest.approx(0.1, abs=1e-6)
    assert leases.extend("a", 5, NOW) is True
    assert leases.release("a") is True
    client.close()


def test_a_connection_error_reaches_the_caller() -> None:
    # Port 1 has nothing listening: the error is the caller's "no lease", not a rejection.
    # No retries here: redis-py's default would retry with backoff for seconds first.
    client = redis.Redis(host="127.0.0.1", port=1, retry=Retry(NoBackoff(), 0))
    leases = RedisLeases(client)
    with pytest.raises(redis.exceptions.ConnectionError):
        leases.acquire("a", [TRUNK], 30, NOW)
    with pytest.raises(redis.exceptions.ConnectionError):
        leases.release("a")


def test_make_backend_picks_by_url(redis_prefix: str) -> None:
    assert isinstance(make_backend(None), MemoryLeases)
    backend = make_backend(REDIS_URL)
    assert isinstance(backend, RedisLeases)
    assert backend.prefix == "dialer:leases"


def test_a_prefix_with_glob_characters_resets_only_itself(redis_client: redis.Redis) -> None:
    base = f"test:leases:{uuid.uuid4().hex}"
    odd, neighbour = RedisLeases(redis_client, f"{base}*"), RedisLeases(redis_client, f"{base}x")
    try:
        for leases in (odd, neighbour):
            leases.restore([("a", [NODE], NOW + 30)], NOW)
        odd.reset()
        assert odd.count(NODE, NOW) == 0
        assert neighbour.count(NODE, NOW) == 1
    finally:
        neighbour.reset()
        odd.reset()


def test_batches_survive_a_server_that_forgot_the_scripts(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    # A restarted Redis has no scripts: a pipelined EVALSHA answers NOSCRIPT and did not run.
    leases = RedisLeases(redis_client, prefix=redis_prefix)
    leases.restore([], NOW)
    redis_client.script_flush()
    results = leases.acquire_many([LeaseRequest(f"n{i}", [NODE], 30) for i in range(3)], NOW)
    assert all(isinstance(r, Granted) for r in results)
    assert leases.count(NODE, NOW) == 3  # each ran exactly once
    redis_client.script_flush()
    assert leases.release_many(["n0", "n1", "n2"]) == 3
