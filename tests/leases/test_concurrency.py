"""Many callers at once on one scope never hold more leases than its limit.

Each caller counts itself in a shared gauge after a grant and out before its release, so the
gauge is never above the number of leases really held: if ``acquire`` were not one atomic
step, the gauge would be seen above the limit.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gevent
import gevent.lock
import redis

from dialer.leases import Granted, LeaseBackend, MemoryLeases, RedisLeases, Scope
from tests.conftest import REDIS_URL
from tests.leases.conftest import Harness

LIMIT = 5
SCOPE = Scope("trunk", "contended", LIMIT)
SECONDS = 1.0
# Long enough that a lease held by a slow caller cannot expire during the run.
TTL = 60.0


@dataclass
class Tally:
    grants: int = 0
    rejections: int = 0
    max_count: int = 0
    max_held: int = 0
    failed_releases: list[str] = field(default_factory=list)

    def add(self, other: Tally) -> None:
        self.grants += other.grants
        self.rejections += other.rejections
        self.max_count = max(self.max_count, other.max_count)
        self.max_held = max(self.max_held, other.max_held)
        self.failed_releases += other.failed_releases


class _Counter:
    value = 0


class Gauge:
    """How many leases the callers believe they hold, and the most ever seen."""

    def __init__(self, value: Any, lock: Any) -> None:
        self._value, self._lock = value, lock

    def enter(self) -> int:
        with self._lock:
            self._value.value += 1
            return int(self._value.value)

    def leave(self) -> None:
        with self._lock:
            self._value.value -= 1


def hammer(backend: LeaseBackend, gauge: Gauge, worker: str, deadline: float) -> Tally:
    tally = Tally()
    i = 0
    while time.monotonic() < deadline:
        i += 1
        lease_id = f"{worker}-{i}"
        result = backend.acquire(lease_id, [SCOPE], TTL, time.time())
        if not isinstance(result, Granted):
            assert result.reason == "limit", result
            tally.rejections += 1
            continue
        tally.grants += 1
        tally.max_held = max(tally.max_held, gauge.enter())
        tally.max_count = max(tally.max_count, backend.count(SCOPE, time.time()))
        time.sleep(0.001)  # hold it a moment, so callers contend for the slots
        gauge.leave()
        if not backend.release(lease_id):
            tally.failed_releases.append(lease_id)
    return tally


def run_threads(make: Callable[[], LeaseBackend], threads: int) -> Tally:
    gauge = Gauge(_Counter(), threading.Lock())
    deadline = time.monotonic() + SECONDS
    tallies: list[Tally] = []
    errors: list[BaseException] = []

    def work(n: int, backend: LeaseBackend) -> None:
        try:
            tallies.append(hammer(backend, gauge, f"t{n}", deadline))
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(n, make())) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert not errors, errors
    total = Tally()
    for t in tallies:
        total.add(t)
    return total


def check(total: Tally, backend: LeaseBackend) -> None:
    assert total.max_held <= LIMIT, total
    assert total.max_count <= LIMIT, total
    assert total.failed_releases == []
    # The run really contended: slots were filled and callers were turned away.
    assert total.max_held == LIMIT, total
    assert total.grants > 50, total
    assert total.rejections > 0, total
    assert backend.count(SCOPE, time.time()) == 0
    assert backend.leases(time.time()) == {}


def test_threads_never_exceed_the_limit(harness: Harness) -> None:
    harness.backend.restore([], time.time())
    # Memory: one backend shared by all threads; Redis: each thread its own client.
    total = run_threads(harness.another, threads=8)
    check(total, harness.backend)


def test_greenlets_never_exceed_the_limit() -> None:
    """The memory backend's lock is never held across a switch, so greenlets cannot deadlock."""
    backend = MemoryLeases()
    backend.restore([], time.time())
    gauge = Gauge(_Counter(), gevent.lock.RLock())
    deadline = time.monotonic() + SECONDS / 2
    total = Tally()

    def work(n: int) -> None:
        tally = Tally()
        while time.monotonic() < deadline:
            lease_id = f"g{n}-{tally.grants + tally.rejections}"
            if not isinstance(backend.acquire(lease_id, [SCOPE], TTL, time.time()), Granted):
                tally.rejections += 1
                gevent.sleep(0)
                continue
            tally.grants += 1
            tally.max_held = max(tally.max_held, gauge.enter())
            tally.max_count = max(tally.max_count, backend.count(SCOPE, time.time()))
            gevent.sleep(0.001)
            gauge.leave()
            assert backend.release(lease_id)
        total.add(tally)

    gevent.joinall([gevent.spawn(work, n) for n in range(8)], raise_error=True, timeout=10)
    check(total, backend)


def test_one_lease_id_acquired_at_once_by_many_counts_once(harness: Harness) -> None:
    harness.backend.restore([], time.time())
    backends = [harness.another() for _ in range(8)]
    start = threading.Barrier(len(backends))
    results: list[bool] = []

    def race(backend: LeaseBackend) -> None:
        start.wait()
        results.append(isinstance(backend.acquire("same", [SCOPE], TTL, time.time()), Granted))

    workers = [threading.Thread(target=race, args=(b,)) for b in backends]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert results == [True] * len(backends)
    assert harness.backend.count(SCOPE, time.time()) == 1


def _process(prefix: str, n: int, value: Any, lock: Any, barrier: Any, out: Any) -> None:
    gauge = Gauge(value, lock)
    clients = [redis.Redis.from_url(REDIS_URL) for _ in range(2)]
    barrier.wait(timeout=60)
    deadline = time.monotonic() + SECONDS
    tallies: list[Tally] = []
    threads = [
        threading.Thread(
            target=lambda c=client, k=k: tallies.append(
                hammer(RedisLeases(c, prefix=prefix), gauge, f"p{n}t{k}", deadline)
            )
        )
        for k, client in enumerate(clients)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    total = Tally()
    for t in tallies:
        total.add(t)
    out.put((len(tallies), total))


def test_processes_never_exceed_the_limit(redis_client: redis.Redis, redis_prefix: str) -> None:
    """Four processes, two clients each: the Lua script is atomic across clients."""
    backend = RedisLeases(redis_client, prefix=redis_prefix)
    backend.restore([], time.time())
    ctx = multiprocessing.get_context("spawn")
    value, lock = ctx.Value("i", 0, lock=False), ctx.Lock()
    barrier, out = ctx.Barrier(4), ctx.Queue()
    procs = [
        ctx.Process(target=_process, args=(redis_prefix, n, value, lock, barrier, out))
        for n in range(4)
    ]
    for p in procs:
        p.start()
    results = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    assert [threads for threads, _ in results] == [2] * 4, "a worker thread failed"
    total = Tally()
    for _, tally in results:
        total.add(tally)
    check(total, backend)
