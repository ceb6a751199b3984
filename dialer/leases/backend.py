"""Channel leases and calls-per-second buckets: the interface both backends implement.

A lease is one call counted in every scope it belongs to (campaign, trunk, node, tenant,
global) at once, until it is released or its expiry passes. A bucket paces how often calls
may start. Both are decided in one atomic step by :meth:`LeaseBackend.acquire`.

Time is always the caller's: every method that needs it takes ``now`` (epoch seconds from the
injectable clock), because the simulated mode runs time faster than the wall. An expiry is
``now + ttl``.

``restore()`` is how a backend is started. A new backend, one whose state was lost (Redis
restarted without persistence) and one that was ``reset()`` all answer every ``acquire`` with
``Rejected(reason="lost_state")`` until ``restore`` is given the leases the database knows of
(an empty list on a first start), so no call is admitted against counts that forgot the
calls already up.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

# A token is granted this many seconds early: epoch floats are only ~0.24 µs apart, so a call
# made exactly on its slot would otherwise be refused for a rounding error.
SLACK_SECONDS = 1e-6


@dataclass(frozen=True)
class Scope:
    """One limit a call counts against."""

    kind: str  # "campaign" | "trunk" | "node" | "global" | "tenant"
    name: str  # campaign id as text, trunk name, node name, "all"
    limit: int | None  # max concurrent leases; None = unlimited (still counted)

    def __post_init__(self) -> None:
        if self.limit is not None and self.limit < 0:
            raise ValueError(f"scope {self.key}: limit must be >= 0, got {self.limit}")

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.name}"


@dataclass(frozen=True)
class Bucket:
    """A calls-per-second token bucket."""

    kind: str  # "campaign" | "trunk"
    name: str
    rate: float  # tokens per second
    burst: float = 1.0  # capacity; 1.0 = strictly spaced calls

    def __post_init__(self) -> None:
        if not self.rate > 0:
            raise ValueError(f"bucket {self.key}: rate must be > 0, got {self.rate}")
        # Below one token a bucket could never grant a call.
        if not self.burst >= 1:
            raise ValueError(f"bucket {self.key}: burst must be >= 1, got {self.burst}")

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.name}"


@dataclass(frozen=True)
class Granted:
    lease_id: str
    expires_at: float
    #: Seconds from ``now`` until the cps tokens taken are due (a token reserved ahead,
    #: within the ``wait`` the caller allowed): the call is sent then, not before.
    delay: float = 0.0


@dataclass(frozen=True)
class Rejected:
    lease_id: str
    reason: str  # "limit" | "rate" | "lost_state"
    scope: str  # kind of the scope or bucket that said no; "" for lost_state
    # Seconds until a token may be free. 0 when unknown: a limit can be freed by a release at
    # any moment, so a "limit" rejection always says 0.
    retry_after: float


@dataclass(frozen=True)
class LeaseRequest:
    """One acquire of a batch (:meth:`LeaseBackend.acquire_many`)."""

    lease_id: str
    scopes: Sequence[Scope]
    ttl: float
    buckets: Sequence[Bucket] = ()
    wait: float = 0.0


class LeaseBackend(Protocol):
    def acquire(
        self,
        lease_id: str,
        scopes: Sequence[Scope],
        ttl: float,
        now: float,
        buckets: Sequence[Bucket] = (),
        wait: float = 0.0,
    ) -> Granted | Rejected:
        """Count ``lease_id`` in every scope and take a token from every bucket, atomically.

        ``wait``: how many seconds the caller will wait for a token. A token due within it
        is reserved now (the bucket goes below zero, so the next caller's is due later still)
        and ``Granted.delay`` says when it is due: calls of one batch get their slots spaced
        at the bucket's rate in one round trip, and none is lost to the jitter of callers
        that came back a little late.

        Expired members of the scopes are reaped first. The first full scope (in the order
        given) rejects with ``"limit"``, else the first empty bucket with ``"rate"``; a
        rejection changes nothing. An id already held is extended in the scopes it was
        acquired with and granted again, without counting twice or taking tokens.
        """
        ...

    def extend(self, lease_id: str, ttl: float, now: float) -> bool:
        """Move a held lease's expiry to ``now + ttl``; False if it is not held or expired."""
        ...

    def release(self, lease_id: str) -> bool:
        """Remove the lease from all its scopes; True if the backend still had it."""
        ...

    def acquire_many(
        self, requests: Sequence[LeaseRequest], now: float
    ) -> list[Granted | Rejected]:
        """:meth:`acquire` for each request in order (each one atomic, as if called one after
        another), in one round trip; results in the order of the requests."""
        ...

    def extend_many(self, lease_ids: Sequence[str], ttl: float, now: float) -> int:
        """:meth:`extend` for each id in one round trip; how many were extended."""
        ...

    def release_many(self, lease_ids: Sequence[str]) -> int:
        """:meth:`release` for each id in one round trip; how many the backend still had."""
        ...

    def wait_released(self, timeout: float) -> bool:
        """Wait up to ``timeout`` wall seconds for a lease to be released (any lease, since
        the last call); True if one was. The scheduler sleeps on this between admission
        rounds, so a channel freed by a hangup is offered again at once."""
        ...

    def count(self, scope: Scope | str, now: float) -> int:
        """Live members of a scope (or scope key)."""
        ...

    def count_many(self, scopes: Sequence[Scope | str], now: float) -> list[int] | None:
        """:meth:`count` of each scope in one round trip, or None when the state is lost
        (a Redis restarted empty, until :meth:`restore`): then nothing the backend counts
        can be trusted, not even a zero."""
        ...

    def holders(self, scope: Scope | str, now: float) -> list[str]:
        """Live lease ids of a scope, earliest expiry first."""
        ...

    def leases(self, now: float) -> dict[str, list[str]]:
        """Every live lease id and its scope keys."""
        ...

    def free(self, scopes: Sequence[Scope], now: float) -> int | None:
        """The fewest free slots over the scopes with a limit; None if none has one."""
        ...

    def tokens(self, bucket: Bucket, now: float) -> float:
        """Tokens available now (refilled, capped at burst), without taking one."""
        ...

    def restore(self, leases: Iterable[tuple[str, Sequence[Scope], float]], now: float) -> int:
        """Re-add ``(lease_id, scopes, expires_at)`` leases and admit calls again.

        Leases already expired at ``now`` are skipped; limits are not checked (the calls
        exist). A lease already present is replaced. Returns how many were added.
        """
        ...

    def reset(self) -> None:
        """Forget everything and return to the lost state (tests)."""
        ...


def refill(tokens: float, last: float, bucket: Bucket, now: float) -> float:
    """Tokens in ``bucket`` at ``now``, given ``tokens`` at ``last``.

    A caller whose clock is behind the last one seen refills nothing rather than draining.
    """
    elapsed = max(0.0, now - last)
    return min(bucket.burst, tokens + elapsed * bucket.rate)


def has_token(tokens: float, bucket: Bucket, wait: float = 0.0) -> bool:
    """A token is there now (``wait`` 0) or will be within ``wait`` seconds."""
    return tokens + bucket.rate * (SLACK_SECONDS + wait) >= 1.0


def take_token(tokens: float, bucket: Bucket) -> tuple[float, float]:
    """(tokens left, seconds until the token taken is due). Below zero: reserved ahead."""
    if has_token(tokens, bucket):
        return max(0.0, tokens - 1.0), 0.0
    return tokens - 1.0, wait_for_token(tokens, bucket)


def wait_for_token(tokens: float, bucket: Bucket) -> float:
    return (1.0 - tokens) / bucket.rate


def check_ttl(ttl: float) -> None:
    if not ttl > 0:
        raise ValueError(f"ttl must be > 0, got {ttl}")


_K = TypeVar("_K", Scope, Bucket)


def unique(items: Sequence[_K]) -> list[_K]:
    """First of each key, in order: a scope named twice counts once, a bucket pays once."""
    seen: set[str] = set()
    out: list[_K] = []
    for item in items:
        if item.key not in seen:
            seen.add(item.key)
            out.append(item)
    return out


def scope_key(scope: Scope | str) -> str:
    return scope if isinstance(scope, str) else scope.key
