"""The in-process lease backend, for the embedded mode and for tests that need no server.

One lock guards everything, so ``acquire`` is a single atomic step as on Redis. The lock is
never held across anything that blocks, so a ``threading.Lock`` is safe under gevent's
monkey-patching too.
"""

from __future__ import annotations

import heapq
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from dialer.leases.backend import (
    Bucket,
    Granted,
    LeaseRequest,
    Rejected,
    Scope,
    check_ttl,
    has_token,
    refill,
    scope_key,
    take_token,
    unique,
    wait_for_token,
)


@dataclass
class _Lease:
    scopes: tuple[str, ...]
    expires_at: float


class MemoryLeases:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ready = False
        self._leases: dict[str, _Lease] = {}
        self._scopes: dict[str, dict[str, float]] = {}
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        # (expiry, id) of every expiry ever set; stale entries are skipped when popped.
        self._expiries: list[tuple[float, str]] = []
        self._released = threading.Event()

    def acquire(
        self,
        lease_id: str,
        scopes: Sequence[Scope],
        ttl: float,
        now: float,
        buckets: Sequence[Bucket] = (),
        wait: float = 0.0,
    ) -> Granted | Rejected:
        check_ttl(ttl)
        scopes, buckets = unique(scopes), unique(buckets)
        expires_at = now + ttl
        with self._lock:
            if not self._ready:
                return Rejected(lease_id, "lost_state", "", 0.0)
            self._reap(now)
            held = self._leases.get(lease_id)
            if held is not None:
                self._set_expiry(lease_id, held, expires_at)
                return Granted(lease_id, expires_at)
            for scope in scopes:
                members = self._scopes.get(scope.key, {})
                if scope.limit is not None and len(members) >= scope.limit:
                    return Rejected(lease_id, "limit", scope.kind, 0.0)
            filled: list[float] = []
            for bucket in buckets:
                tokens = self._tokens(bucket, now)
                if not has_token(tokens, bucket, wait):
                    return Rejected(lease_id, "rate", bucket.kind, wait_for_token(tokens, bucket))
                filled.append(tokens)
            delay = 0.0
            for bucket, tokens in zip(buckets, filled, strict=True):
                last = self._buckets.get(bucket.key, (0.0, now))[1]
                left, due = take_token(tokens, bucket)
                self._buckets[bucket.key] = (left, max(last, now))
                delay = max(delay, due)
            self._add(lease_id, [s.key for s in scopes], expires_at)
        return Granted(lease_id, expires_at, delay)

    def extend(self, lease_id: str, ttl: float, now: float) -> bool:
        check_ttl(ttl)
        with self._lock:
            held = self._leases.get(lease_id)
            if held is None:
                return False
            if held.expires_at <= now:
                self._forget(lease_id)
                return False
            self._set_expiry(lease_id, held, now + ttl)
            return True

    def release(self, lease_id: str) -> bool:
        with self._lock:
            held = self._forget(lease_id)
        if held:
            self._released.set()
        return held

    def acquire_many(
        self, requests: Sequence[LeaseRequest], now: float
    ) -> list[Granted | Rejected]:
        return [
            self.acquire(r.lease_id, r.scopes, r.ttl, now, r.buckets, r.wait) for r in requests
        ]

    def extend_many(self, lease_ids: Sequence[str], ttl: float, now: float) -> int:
        return sum(self.extend(lease_id, ttl, now) for lease_id in lease_ids)

    def release_many(self, lease_ids: Sequence[str]) -> int:
        return sum(self.release(lease_id) for lease_id in lease_ids)

    def wait_released(self, timeout: float) -> bool:
        released = self._released.wait(max(0.0, timeout))
        if released:
            self._released.clear()
        return released

    def count(self, scope: Scope | str, now: float) -> int:
        with self._lock:
            return self._count(scope_key(scope), now)

    def count_many(self, scopes: Sequence[Scope | str], now: float) -> list[int] | None:
        with self._lock:
            if not self._ready:
                return None
            return [self._count(scope_key(scope), now) for scope in scopes]

    def holders(self, scope: Scope | str, now: float) -> list[str]:
        with self._lock:
            members = self._scopes.get(scope_key(scope), {})
            live = sorted((expiry, lease_id) for lease_id, expiry in members.items())
            return [lease_id for expiry, lease_id in live if expiry > now]

    def leases(self, now: float) -> dict[str, list[str]]:
        with self._lock:
            return {
                lease_id: list(lease.scopes)
                for lease_id, lease in self._leases.items()
                if lease.expires_at > now
            }

    def free(self, scopes: Sequence[Scope], now: float) -> int | None:
        limited = [(s.key, s.limit) for s in scopes if s.limit is not None]
        if not limited:
            return None
        # One lock for all scopes, so the answer is one instant's, as on Redis.
        with self._lock:
            return min(max(0, limit - self._count(key, now)) for key, limit in limited)

    def tokens(self, bucket: Bucket, now: float) -> float:
        with self._lock:
            return self._tokens(bucket, now)

    def restore(self, leases: Iterable[tuple[str, Sequence[Scope], float]], now: float) -> int:
        # Built before taking the lock: the iterable may be a database cursor.
        entries = [
            (lease_id, [s.key for s in unique(scopes)], expires_at)
            for lease_id, scopes, expires_at in leases
            if expires_at > now
        ]
        with self._lock:
            for lease_id, keys, expires_at in entries:
                self._forget(lease_id)
                self._add(lease_id, keys, expires_at)
            self._ready = True
        return len(entries)

    def reset(self) -> None:
        with self._lock:
            self._ready = False
            self._leases.clear()
            self._scopes.clear()
            self._buckets.clear()
            self._expiries.clear()

    # -- under the lock ------------------------------------------------------------------

    def _count(self, key: str, now: float) -> int:
        return sum(1 for expiry in self._scopes.get(key, {}).values() if expiry > now)

    def _tokens(self, bucket: Bucket, now: float) -> float:
        state = self._buckets.get(bucket.key)
        if state is None:
            return bucket.burst
        return refill(state[0], state[1], bucket, now)

    def _add(self, lease_id: str, keys: list[str], expires_at: float) -> None:
        for key in keys:
            self._scopes.setdefault(key, {})[lease_id] = expires_at
        self._leases[lease_id] = _Lease(tuple(keys), expires_at)
        heapq.heappush(self._expiries, (expires_at, lease_id))

    def _set_expiry(self, lease_id: str, lease: _Lease, expires_at: float) -> None:
        lease.expires_at = expires_at
        for key in lease.scopes:
            self._scopes[key][lease_id] = expires_at
        heapq.heappush(self._expiries, (expires_at, lease_id))

    def _forget(self, lease_id: str) -> bool:
        lease = self._leases.pop(lease_id, None)
        if lease is None:
            return False
        for key in lease.scopes:
            members = self._scopes[key]
            del members[lease_id]
            if not members:
                del self._scopes[key]
        return True

    def _reap(self, now: float) -> None:
        # Every expired lease goes, not only those of the scopes asked about: nothing here
        # costs a round trip, and it keeps leases of idle scopes from piling up.
        while self._expiries and self._expiries[0][0] <= now:
            expiry, lease_id = heapq.heappop(self._expiries)
            lease = self._leases.get(lease_id)
            if lease is not None and lease.expires_at == expiry:
                self._forget(lease_id)
