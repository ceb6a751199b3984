"""Delivering the outbox: signed POSTs, retried with backoff, in order per call and endpoint.

A round claims what is due (one transaction, serialised between deliverers so two never take
rows of one call), sends it without holding any database lock, then records every try (one
transaction). A call's events go to an endpoint in their order: only the first pending event
of a call is claimable, with the due ones after it; a chain stops at its first failure, so a
later event waits for the earlier one. 2xx is delivered; 410 Gone disables the endpoint and
dead-letters what was waiting for it; anything else (an error status, a timeout, a refused
connection) is retried after ``5 s · 2^(tries-1)`` (±25 % jitter, at most
``DIALER_WEBHOOK_MAX_BACKOFF``) until ``expires_at`` (``DIALER_WEBHOOK_RETRY_HOURS`` after the
row was written or replayed), then dead-lettered. When an endpoint that was failing answers
again after an outage (every try of a round failed, for two calls or more), its waiting events
are due at once: a receiver back after an hour gets everything, in order.

Signatures follow Standard Webhooks (``webhook-id``, ``webhook-timestamp``,
``webhook-signature: v1,<base64 HMAC-SHA256 of id.timestamp.body>``) through the
``standardwebhooks`` library. ``webhook-timestamp`` is the wall-clock time of the try, not the
dialer's clock: receivers check it against their own clock (five minutes' tolerance), and a
simulated clock would make every signature look stale.
"""

from __future__ import annotations

import functools
import logging
import random
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import httpx
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from standardwebhooks.webhooks import Webhook

from dialer import metrics
from dialer.attempts import hold_write_lock
from dialer.clock import Clock, get_clock
from dialer.config import Settings, get_settings
from dialer.db.models import WebhookDelivery, WebhookDeliveryTry, WebhookEndpoint
from dialer.webhooks.events import body_of

log = logging.getLogger("dialer.webhooks")

_DELIVERIES = cast(sa.Table, WebhookDelivery.__table__)
_TRIES = cast(sa.Table, WebhookDeliveryTry.__table__)
_ENDPOINTS = cast(sa.Table, WebhookEndpoint.__table__)

FIRST_BACKOFF = 5.0
JITTER = 0.25
#: Rows claimed per round at most.
ROUND_LIMIT = 200
#: Chains sent at once: threads, or greenlets in a gevent process, where a send mostly waits
#: for its turn on the one CPU the process has (dialer run, a gevent worker).
CONCURRENCY = 16
GREEN_CONCURRENCY = 64
#: A receiver's answer is read this far, for the log; the rest is not waited for.
ERROR_BODY_BYTES = 300
#: Serialises claims between deliverers on PostgreSQL (pg_advisory_xact_lock's key).
_CLAIM_LOCK = 0x5E_B400_C5
#: How often the backlog gauges are refreshed at most (wall seconds).
BACKLOG_EVERY = 5.0
USER_AGENT = "dialer-webhooks/1"


@dataclass(frozen=True)
class Claimed:
    id: int
    event_id: str
    endpoint_id: int
    attempt_id: uuid.UUID | None
    sequence_no: int
    payload: dict[str, Any]
    attempts: int
    expires_at: datetime | None
    url: str
    secret: str


@dataclass(frozen=True)
class Tried:
    delivery: Claimed
    status_code: int | None
    latency: float
    error: str | None
    tried_at: datetime

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def gone(self) -> bool:
        return self.status_code == 410


@dataclass
class RoundReport:
    claimed: int = 0
    delivered: int = 0
    failed: int = 0
    dead: int = 0
    #: endpoints disabled by a 410 in this round
    disabled: list[int] = field(default_factory=list)
    tries: list[Tried] = field(default_factory=list)

    def add(self, other: RoundReport) -> None:
        self.claimed += other.claimed
        self.delivered += other.delivered
        self.failed += other.failed
        self.dead += other.dead
        self.disabled.extend(other.disabled)
        self.tries.extend(other.tries)


def backoff(tries: int, max_backoff: float, rand: Callable[[], float] = random.random) -> float:
    """Seconds before the next try after ``tries`` failed ones."""
    base = min(max_backoff, FIRST_BACKOFF * 2 ** max(0, tries - 1))
    return max(0.0, float(base) * (1 + JITTER * (2 * rand() - 1)))


class Deliverer:
    """Delivers due outbox rows; one per process (its HTTP client pools connections)."""

    def __init__(
        self,
        engine: Engine,
        *,
        settings: Settings | None = None,
        clock: Clock | None = None,
        client: httpx.Client | None = None,
        wall: Callable[[], float] = time.time,
        concurrency: int | None = None,
        limit: int = ROUND_LIMIT,
    ) -> None:
        self.engine = engine
        self.settings = settings or get_settings()
        self.clock = clock or get_clock()
        self.client = client or httpx.Client(
            timeout=self.settings.webhook_timeout,
            follow_redirects=False,  # a redirect is the receiver's misconfiguration: retried
            headers={"user-agent": USER_AGENT},
        )
        self.wall = wall
        self.concurrency = concurrency or (GREEN_CONCURRENCY if _green() else CONCURRENCY)
        self.limit = limit
        self._backlog_at = 0.0

    def close(self) -> None:
        self.client.close()

    # -- one round ---------------------------------------------------------------------------

    def run_round(self) -> RoundReport:
        """Claim what is due, send it, record it."""
        now = self.clock.now()
        claimed = self._claim(now, None)
        report = self._deliver(claimed)
        self._refresh_backlog()
        return report

    def deliver_ids(self, ids: Sequence[int]) -> RoundReport:
        """Send these rows now, due or not (``webhooks test``), in the same way."""
        claimed = self._claim(self.clock.now(), list(ids))
        return self._deliver(claimed)

    def _deliver(self, claimed: list[Claimed]) -> RoundReport:
        report = RoundReport(claimed=len(claimed))
        if not claimed:
            return report
        chains = _chains(claimed)
        if len(chains) == 1:
            results = [self._send_chain(chains[0])]
        elif _green():
            # a gevent process (dialer run, a gevent worker): greenlets, not emulated threads
            import gevent.pool

            results = list(gevent.pool.Pool(self.concurrency).imap(self._send_chain, chains))
        else:
            with ThreadPoolExecutor(min(self.concurrency, len(chains))) as pool:
                results = list(pool.map(self._send_chain, chains))
        tries = [t for chain in results for t in chain]
        report.tries = tries
        self._record(claimed, tries, report)
        return report

    def _claim(self, now: datetime, only: list[int] | None) -> list[Claimed]:
        d, e = _DELIVERIES, _ENDPOINTS
        hold_for = now + timedelta(seconds=self.settings.webhook_timeout * 8 + 30)
        with Session(self.engine) as session, session.begin():
            conn = session.connection()
            if conn.dialect.name == "postgresql":
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_CLAIM_LOCK)))
            else:
                hold_write_lock(session)
            columns = (
                d.c.id, d.c.event_id, d.c.endpoint_id, d.c.attempt_id, d.c.sequence_no,
                d.c.payload, d.c.attempts, d.c.expires_at, e.c.url, e.c.secret,
            )  # fmt: skip
            unlocked = sa.or_(d.c.locked_until.is_(None), d.c.locked_until <= now)
            base = (
                sa.select(*columns)
                .select_from(d.join(e, e.c.id == d.c.endpoint_id))
                .where(d.c.status == "pending", unlocked)
            )
            if only is not None:
                rows = conn.execute(base.where(d.c.id.in_(only))).all()
            else:
                earlier = d.alias("earlier")
                blocked = (
                    sa.select(earlier.c.id)
                    .where(
                        earlier.c.attempt_id == d.c.attempt_id,
                        earlier.c.endpoint_id == d.c.endpoint_id,
                        earlier.c.sequence_no < d.c.sequence_no,
                        earlier.c.status == "pending",
                    )
                    .exists()
                )
                heads = conn.execute(
                    base.where(d.c.next_try_at <= now, e.c.active.is_(True), ~blocked)
                    .order_by(d.c.next_try_at, d.c.id)
                    .limit(self.limit)
                ).all()
                rows = list(heads)
                # the due events after each head go in the same round, behind it
                calls = {(r.attempt_id, r.endpoint_id) for r in heads if r.attempt_id}
                if calls:
                    head_ids = {r.id for r in heads}
                    followers = conn.execute(
                        base.where(
                            d.c.next_try_at <= now,
                            d.c.attempt_id.in_({aid for aid, _ in calls}),
                        )
                    ).all()
                    rows.extend(
                        r
                        for r in followers
                        if (r.attempt_id, r.endpoint_id) in calls and r.id not in head_ids
                    )
            if rows:
                conn.execute(
                    sa.update(d).where(d.c.id.in_([r.id for r in rows])).values(
                        locked_until=hold_for
                    )
                )
        return [
            Claimed(
                id=r.id, event_id=r.event_id, endpoint_id=r.endpoint_id,
                attempt_id=r.attempt_id, sequence_no=r.sequence_no, payload=_document(r.payload),
                attempts=r.attempts, expires_at=r.expires_at, url=r.url, secret=r.secret,
            )
            for r in rows
        ]  # fmt: skip

    def _send_chain(self, chain: Sequence[Claimed]) -> list[Tried]:
        """Send a call's events to one endpoint in order; stop at the first that fails."""
        tried = []
        for delivery in chain:
            result = self._send(delivery)
            tried.append(result)
            if not result.ok:
                break
        return tried

    def _send(self, delivery: Claimed) -> Tried:
        body = body_of(delivery.payload).encode("utf-8")
        signed_at = datetime.fromtimestamp(int(self.wall()), UTC)
        headers = {
            "content-type": "application/json",
            "webhook-id": delivery.event_id,
            "webhook-timestamp": str(int(signed_at.timestamp())),
            "webhook-signature": _signer(delivery.secret).sign(
                delivery.event_id, signed_at, body.decode("utf-8")
            ),
        }
        tried_at = self.clock.now()
        started = time.perf_counter()
        code: int | None = None
        error: str | None = None
        try:
            with self.client.stream("POST", delivery.url, content=body, headers=headers) as r:
                code = r.status_code
                if not 200 <= code < 300:
                    error = f"HTTP {code}{_snippet(r)}"
        except httpx.TimeoutException:
            error = f"timed out after {self.settings.webhook_timeout:g} s"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
        latency = time.perf_counter() - started
        metrics.WEBHOOK_LATENCY.observe(latency)
        return Tried(delivery, code, latency, error, tried_at)

    def _record(self, claimed: list[Claimed], tries: list[Tried], report: RoundReport) -> None:
        now = self.clock.now()
        d = _DELIVERIES
        delivered: list[dict[str, Any]] = []
        retried: list[dict[str, Any]] = []
        dead: list[dict[str, Any]] = []
        gone: dict[int, str] = {}
        gone_rows = 0
        #: endpoint → (tries it answered 2xx, calls whose try failed)
        health: dict[int, tuple[list[int], set[Any]]] = {}
        for t in tries:
            row = t.delivery
            common = {
                "b_id": row.id,
                "b_code": t.status_code,
                "b_error": t.error,
            }
            if t.ok:
                delivered.append({**common, "b_at": now})
                health.setdefault(row.endpoint_id, ([], set()))[0].append(row.id)
            elif t.gone:
                gone[row.endpoint_id] = f"410 Gone from {row.url} at {now.isoformat()}"
                gone_rows += 1
                dead.append({**common, "b_error": "HTTP 410: the receiver says it is gone"})
            else:
                health.setdefault(row.endpoint_id, ([], set()))[1].add(row.attempt_id or row.id)
                due = now + timedelta(
                    seconds=backoff(row.attempts + 1, self.settings.webhook_max_backoff)
                )
                if row.expires_at is not None and now >= row.expires_at:
                    hours = self.settings.webhook_retry_hours
                    dead.append({**common, "b_error": f"{t.error} (retried for {hours:g} h)"})
                else:
                    if row.expires_at is not None:
                        due = min(due, row.expires_at)
                    retried.append({**common, "b_next": due})
        tried_ids = {t.delivery.id for t in tries}
        untried = [{"b_id": row.id} for row in claimed if row.id not in tried_ids]
        p = sa.bindparam
        with Session(self.engine) as session, session.begin():
            conn = session.connection()
            if tries:
                conn.execute(
                    sa.insert(_TRIES),
                    [
                        {
                            "delivery_id": t.delivery.id,
                            "tried_at": t.tried_at,
                            "status_code": t.status_code,
                            "latency_ms": round(t.latency * 1000),
                            "error": t.error,
                        }
                        for t in tries
                    ],
                )
            done = d.c.attempts + 1
            if delivered:
                conn.execute(
                    sa.update(d).where(d.c.id == p("b_id")).values(
                        status="delivered", delivered_at=p("b_at"), attempts=done,
                        last_status_code=p("b_code"), last_error=None, locked_until=None,
                    ),
                    delivered,
                )  # fmt: skip
            if retried:
                conn.execute(
                    sa.update(d).where(d.c.id == p("b_id")).values(
                        attempts=done, next_try_at=p("b_next"), last_status_code=p("b_code"),
                        last_error=p("b_error"), locked_until=None,
                    ),
                    retried,
                )  # fmt: skip
            if dead:
                conn.execute(
                    sa.update(d).where(d.c.id == p("b_id")).values(
                        status="dead", attempts=done, last_status_code=p("b_code"),
                        last_error=p("b_error"), locked_until=None,
                    ),
                    dead,
                )  # fmt: skip
            if untried:
                conn.execute(
                    sa.update(d).where(d.c.id == p("b_id")).values(locked_until=None), untried
                )
            for endpoint_id, reason in gone.items():
                _disable(conn, endpoint_id, reason, now)
            recovered = _follow_health(conn, health, now)
            if recovered:
                # it answers again after an outage: what waits for a retry is due now
                conn.execute(
                    sa.update(d)
                    .where(
                        d.c.status == "pending",
                        d.c.next_try_at > now,
                        d.c.endpoint_id.in_(recovered),
                        d.c.attempts > 0,
                    )
                    .values(next_try_at=now)
                )
        report.delivered += len(delivered)
        report.failed += len(retried)
        report.dead += len(dead)
        report.disabled.extend(gone)
        _count(delivered=len(delivered), failed=len(retried), dead=len(dead) - gone_rows,
               gone=gone_rows)  # fmt: skip
        for t in tries:
            if not t.ok:
                log.warning(
                    "webhook try failed delivery=%d endpoint=%d event=%s tries=%d error=%s",
                    t.delivery.id, t.delivery.endpoint_id, t.delivery.payload.get("event"),
                    t.delivery.attempts + 1, t.error,
                )  # fmt: skip
        for gave_up in dead:
            log.warning(
                "webhook dead-lettered delivery=%d error=%s", gave_up["b_id"], gave_up["b_error"]
            )
        for endpoint_id, reason in gone.items():
            log.warning("webhook endpoint disabled endpoint=%d reason=%s", endpoint_id, reason)

    def _refresh_backlog(self) -> None:
        wall = time.monotonic()
        if wall - self._backlog_at < BACKLOG_EVERY:
            return
        self._backlog_at = wall
        refresh_backlog(self.engine, self.clock)


def refresh_backlog(engine: Engine, clock: Clock) -> tuple[int, float]:
    """Set the backlog gauges from the table; returns (pending, oldest age in seconds)."""
    d = _DELIVERIES
    with engine.connect() as conn:
        count, oldest = conn.execute(
            sa.select(sa.func.count(), sa.func.min(d.c.created_at)).where(d.c.status == "pending")
        ).one()
    age = 0.0 if oldest is None else max(0.0, (clock.now() - _aware(oldest)).total_seconds())
    metrics.WEBHOOK_BACKLOG.set(count)
    metrics.WEBHOOK_OLDEST_PENDING.set(age)
    return int(count), age


def _follow_health(
    conn: sa.Connection, health: dict[int, tuple[list[int], set[Any]]], now: datetime
) -> list[int]:
    """Mark the endpoints whose receiver failed every try of a round, for two calls or more
    (an outage: one event a receiver keeps rejecting is not one); return those that answered
    every try of this round after such an outage."""
    e = _ENDPOINTS
    down = [eid for eid, (ok, failed) in health.items() if not ok and len(failed) >= 2]
    up = [eid for eid, (ok, failed) in health.items() if ok and not failed]
    if down:
        conn.execute(
            sa.update(e)
            .where(e.c.id.in_(down), e.c.failing_since.is_(None))
            .values(failing_since=now)
        )
    if not up:
        return []
    back = conn.execute(
        sa.update(e)
        .where(e.c.id.in_(up), e.c.failing_since.is_not(None))
        .values(failing_since=None)
        .returning(e.c.id)
    ).scalars()
    return list(back)


def _disable(conn: sa.Connection, endpoint_id: int, reason: str, now: datetime) -> None:
    """A 410: the endpoint gets nothing more; what waited for it is dead-lettered (visible,
    replayable once it is enabled again)."""
    e, d = _ENDPOINTS, _DELIVERIES
    conn.execute(
        sa.update(e)
        .where(e.c.id == endpoint_id)
        .values(active=False, disabled_reason=reason, disabled_at=now)
    )
    conn.execute(
        sa.update(d)
        .where(d.c.endpoint_id == endpoint_id, d.c.status == "pending")
        .values(status="dead", last_error="endpoint disabled: " + reason, locked_until=None)
    )


def _count(**results: int) -> None:
    for result, n in results.items():
        if n:
            metrics.WEBHOOK_DELIVERIES.labels(result=result).inc(n)


def _chains(claimed: Iterable[Claimed]) -> list[list[Claimed]]:
    """The claimed rows as chains: one per call and endpoint, in the call's order."""
    chains: dict[tuple[Any, int], list[Claimed]] = {}
    for row in claimed:
        key = (row.attempt_id or ("probe", row.id), row.endpoint_id)
        chains.setdefault(key, []).append(row)
    for chain in chains.values():
        chain.sort(key=lambda r: (r.sequence_no, r.id))
    return list(chains.values())


def _green() -> bool:
    try:
        from gevent import monkey
    except ImportError:  # pragma: no cover - gevent is a dependency
        return False
    return bool(monkey.is_module_patched("socket"))


@functools.lru_cache(maxsize=256)
def _signer(secret: str) -> Webhook:
    return Webhook(secret)


def _snippet(response: httpx.Response) -> str:
    try:
        taken = b""
        for chunk in response.iter_bytes():
            taken += chunk
            if len(taken) >= ERROR_BODY_BYTES:
                break
    except httpx.HTTPError:
        return ""
    text = taken[:ERROR_BODY_BYTES].decode("utf-8", "replace").strip()
    text = " ".join(text.split())
    return f": {text}" if text else ""


def _document(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        import json

        loaded = json.loads(value)
        return loaded if isinstance(loaded, dict) else {}
    return dict(value)


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def run_rounds(
    deliverer: Deliverer,
    *,
    seconds: float,
    idle: float = 0.2,
    stop: Callable[[float], bool] | None = None,
) -> RoundReport:
    """Deliver for ``seconds`` of wall time (forever when ``seconds`` is 0): a round at once
    after one that found work, else after ``idle``. ``stop(wait)`` waits up to ``wait``
    seconds and says whether to stop (an Event's ``wait``)."""
    total = RoundReport()
    ends = None if seconds <= 0 else time.monotonic() + seconds
    while ends is None or time.monotonic() < ends:
        try:
            report = deliverer.run_round()
        except Exception:
            # a database blip must not end the loop: the rows wait and are claimed again
            log.exception("webhook delivery round failed")
            report = RoundReport()
        total.add(report)
        total.tries.clear()  # the totals only: a long loop keeps no per-try objects
        if report.claimed:
            if stop is not None and stop(0):
                break
            continue
        wait = idle if ends is None else max(0.0, min(idle, ends - time.monotonic()))
        if stop is not None:
            if stop(wait):
                break
        else:
            time.sleep(wait)
    return total
