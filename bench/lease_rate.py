"""Lease acquire+release pairs per second: the Redis backend vs the in-process one, same call
shape, same run. Prints both rates and their ratio.

    .venv/bin/python -m bench.lease_rate [--seconds 2] [--clients 1] [--redis-url URL]

Each pair is what a call costs the dialer: ``acquire`` in four scopes (campaign, trunk, node,
global) with a campaign and a trunk bucket, then ``release``. Buckets are paced far above the
achieved rate, so every acquire is granted and takes its tokens. ``--clients`` threads drive the
backend at once, each Redis thread with its own connection; keys live under a prefix of their
own and are deleted afterwards. A pair costs Redis two round trips, so the rate of two bare
PINGs is printed too: the ceiling any Redis backend could reach on this machine.
"""

from __future__ import annotations

import argparse
import threading
import time
import uuid
from collections.abc import Callable

import redis

from dialer.leases import Bucket, Granted, LeaseBackend, MemoryLeases, RedisLeases, Scope

SCOPES = [
    Scope("campaign", "1", 10_000),
    Scope("trunk", "carrier-a", 10_000),
    Scope("node", "fs1", 10_000),
    Scope("global", "all", None),
]
BUCKETS = [Bucket("campaign", "1", rate=1e9, burst=1e6), Bucket("trunk", "carrier-a", rate=1e9)]


def pairs_per_second(make: Callable[[], LeaseBackend], seconds: float, clients: int) -> float:
    done = [0] * clients
    deadline = time.monotonic() + seconds

    def drive(n: int, backend: LeaseBackend) -> None:
        i = 0
        while time.monotonic() < deadline:
            lease_id = f"{n}-{i}"
            result = backend.acquire(lease_id, SCOPES, 60.0, time.time(), BUCKETS)
            assert isinstance(result, Granted), result
            backend.release(lease_id)
            i += 1
        done[n] = i

    backends = [make() for _ in range(clients)]
    started = time.perf_counter()
    threads = [threading.Thread(target=drive, args=(n, b)) for n, b in enumerate(backends)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(done) / (time.perf_counter() - started)


def ping_pairs_per_second(url: str, seconds: float, clients: int) -> float:
    done = [0] * clients
    deadline = time.monotonic() + seconds

    def drive(n: int, client: redis.Redis) -> None:
        i = 0
        while time.monotonic() < deadline:
            client.ping()
            client.ping()
            i += 1
        done[n] = i

    conns = [redis.Redis.from_url(url) for _ in range(clients)]
    started = time.perf_counter()
    threads = [threading.Thread(target=drive, args=(n, c)) for n, c in enumerate(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(done) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--clients", type=int, default=1)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    args = parser.parse_args()

    memory = MemoryLeases()
    memory.restore([], time.time())
    prefix = f"bench:leases:{uuid.uuid4().hex}"
    admin = redis.Redis.from_url(args.redis_url)
    RedisLeases(admin, prefix=prefix).restore([], time.time())
    try:
        mem = pairs_per_second(lambda: memory, args.seconds, args.clients)
        red = pairs_per_second(
            lambda: RedisLeases.from_url(args.redis_url, prefix=prefix), args.seconds, args.clients
        )
        ping = ping_pairs_per_second(args.redis_url, args.seconds, args.clients)
    finally:
        RedisLeases(admin, prefix=prefix).reset()
    print(f"clients            : {args.clients}")
    print(f"memory backend     : {mem:10.0f} acquire+release/s")
    print(f"redis backend      : {red:10.0f} acquire+release/s")
    print(f"two PINGs          : {ping:10.0f} /s  (the round-trip ceiling)")
    print(f"ratio redis/memory : {red / mem:10.3f}")
    print(f"ratio redis/ceiling: {red / ping:10.3f}")


if __name__ == "__main__":
    main()
