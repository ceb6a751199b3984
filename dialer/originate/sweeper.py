"""Repair what crashes leave, so that every attempt ends and no lease is held for nothing.

- **Leases without a live attempt** (the consumer died between hangup and release, or a
  worker died between lease and claim) are released.
- **Live attempts without a lease** (a ringing lease that ran out because nobody saw the
  answer, a lease store that lost some keys) get it back: the scheduler and the workers count
  calls by their leases, so a live call without one would let a limit be exceeded.
- **Attempts stuck** past the longest time they could legitimately take — ``originating``
  or ``ringing`` past the ring timeout, ``answered`` past the maximum duration, each plus a
  grace — are checked against their node (``uuid_exists``). A channel that is gone is
  finalised (``failed``; answered calls get the answered outcome) with an error that says
  why; one that still exists is left alone and its lease extended. A node that cannot be
  asked is skipped until it can: a guess could end a live call's record.
- **Queued attempts whose task was lost** (broker restarted) are the scheduler's: it
  re-dispatches them.

The sweeper runs periodically (Celery beat ``dialer.sweep``; a loop in the embedded mode).
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from dialer import metrics
from dialer.attempts import AttemptEnd, finalise_attempts
from dialer.clock import Clock, get_clock
from dialer.config import Settings, get_settings
from dialer.db.models import LIVE_ATTEMPT_STATES, CallAttempt
from dialer.esl.errors import ESLError
from dialer.leases import LeaseBackend, Scope
from dialer.originate.pool import NodePool
from dialer.originate.rebuild import live_leases
from dialer.originate.scopes import answered_ttl
from dialer.outcomes import outcome_for_answered

log = logging.getLogger("dialer.sweeper")

#: Beyond its ring timeout or maximum duration, how long an attempt may go unfinished.
GRACE_SECONDS = 60.0
#: Shortest ring timeout a campaign may set: the first, index-driven cut of candidates.
MIN_RING_SECONDS = 5
BATCH = 500
#: A lease is never released this soon after it was taken: its worker may be between the
#: lease and the claim's commit.
LEASE_YOUTH_SECONDS = 30.0


@dataclass
class SweepReport:
    leases_released: int = 0
    leases_restored: int = 0
    finalised: Counter[str] = field(default_factory=Counter)
    still_live: int = 0
    unreachable: int = 0


def sweep(
    engine: Engine,
    leases: LeaseBackend,
    pool: NodePool | None,
    *,
    clock: Clock | None = None,
    by: str = "sweeper",
    grace: float = GRACE_SECONDS,
    settings: Settings | None = None,
) -> SweepReport:
    clock = clock or get_clock()
    report = SweepReport()
    _release_orphan_leases(engine, leases, clock, report)
    _restore_missing_leases(engine, leases, pool, settings or get_settings(), clock, report)
    _finish_stuck_attempts(engine, leases, pool, clock, by, grace, report)
    if report.leases_released or report.leases_restored or report.finalised:
        log.info(
            "sweep released=%d restored=%d finalised=%s still_live=%d unreachable=%d",
            report.leases_released,
            report.leases_restored,
            dict(report.finalised),
            report.still_live,
            report.unreachable,
        )
    return report


def _release_orphan_leases(
    engine: Engine, leases: LeaseBackend, clock: Clock, report: SweepReport
) -> None:
    now = clock.time()
    held = list(leases.leases(now))
    if not held:
        return
    ids: dict[uuid.UUID, str] = {}
    for lease_id in held:
        try:
            ids[uuid.UUID(lease_id)] = lease_id
        except ValueError:
            continue  # not ours
    alive: set[str] = set()
    young_before = clock.now() - timedelta(seconds=LEASE_YOUTH_SECONDS)
    with Session(engine) as session:
        keys = list(ids)
        for start in range(0, len(keys), BATCH):
            rows = session.execute(
                sa.select(CallAttempt.id, CallAttempt.state, CallAttempt.state_changed_at).where(
                    CallAttempt.id.in_(keys[start : start + BATCH])
                )
            ).all()
            for row in rows:
                live = row.state in LIVE_ATTEMPT_STATES
                # queued: a worker holds the lease and has not committed its claim yet,
                # unless that was long ago (it died): then the lease goes
                young = row.state == "queued" and row.state_changed_at > young_before
                if live or young:
                    alive.add(str(row.id))
    for key, lease_id in ids.items():
        if str(key) not in alive and leases.release(lease_id):
            report.leases_released += 1
            metrics.SWEEPER_REPAIRS.labels(kind="orphan_lease").inc()


def _restore_missing_leases(
    engine: Engine,
    leases: LeaseBackend,
    pool: NodePool | None,
    settings: Settings,
    clock: Clock,
    report: SweepReport,
) -> None:
    now = clock.time()
    held = leases.leases(now)
    missing = [
        (lease_id, scopes, expires)
        for lease_id, scopes, expires in live_leases(engine, settings, now)
        if lease_id not in held
        # a call whose hangup just freed its lease is still live in the database until its
        # batch is stored: its channel is gone, and it must stay free (unknown: restore)
        and _channel_exists(pool, _node_of(scopes), lease_id) is not False
    ]
    if not missing:
        return
    # a lost store has no lease at all: then this is the whole rebuild, as it should be
    report.leases_restored = leases.restore(missing, now)
    metrics.SWEEPER_REPAIRS.labels(kind="missing_lease").inc(report.leases_restored)
    log.warning("sweep: %d live attempts had no lease; restored", report.leases_restored)


def _finish_stuck_attempts(
    engine: Engine,
    leases: LeaseBackend,
    pool: NodePool | None,
    clock: Clock,
    by: str,
    grace: float,
    report: SweepReport,
) -> None:
    now = clock.now()
    cut = now - timedelta(seconds=MIN_RING_SECONDS + grace)
    with Session(engine) as session:
        rows = session.execute(
            sa.select(
                CallAttempt.id,
                CallAttempt.state,
                CallAttempt.fs_node,
                CallAttempt.options,
                CallAttempt.state_changed_at,
                CallAttempt.answered_at,
            )
            .where(
                CallAttempt.state.in_(LIVE_ATTEMPT_STATES),
                CallAttempt.state_changed_at < cut,
            )
            .order_by(CallAttempt.state_changed_at)
            .limit(BATCH)
        ).all()
    ends: list[AttemptEnd] = []
    states: dict[uuid.UUID, str] = {}
    for row in rows:
        ring = float(row.options.get("ring_timeout", 30))
        talk = float(row.options.get("max_duration", 300))
        if row.state == "answered":
            since = row.answered_at or row.state_changed_at
            overdue = since + timedelta(seconds=talk + grace) < now
        else:
            overdue = row.state_changed_at + timedelta(seconds=ring + grace) < now
        if not overdue:
            continue
        exists = _channel_exists(pool, row.fs_node, str(row.id))
        if exists is None:
            report.unreachable += 1
            continue
        if exists:
            report.still_live += 1
            leases.extend(str(row.id), answered_ttl(talk), clock.time())
            continue
        answered = row.state == "answered"
        ends.append(
            AttemptEnd(
                row.id,
                outcome=outcome_for_answered() if answered else "failed",
                hangup_cause="UNKNOWN",
                ended_at=now,
                error=f"no final event after {_age(row.state_changed_at, now)} s in state "
                f"{row.state} and the node has no such channel",
            )
        )
        states[row.id] = row.state
    if not ends:
        return
    with Session(engine) as session, session.begin():
        won = finalise_attempts(session, ends, by=by, leases=leases, clock=clock)
    for attempt_id in won:
        report.finalised[states[attempt_id]] += 1
        metrics.SWEEPER_REPAIRS.labels(kind=f"stuck_{states[attempt_id]}").inc()


def _node_of(scopes: Sequence[Scope]) -> str | None:
    return next((scope.name for scope in scopes if scope.kind == "node"), None)


def _channel_exists(pool: NodePool | None, node: str | None, attempt_id: str) -> bool | None:
    """True/False from the node; None when it cannot be asked."""
    if node is None:
        return False  # claimed but never placed on a node
    if pool is None:
        return None
    if node not in pool.nodes:
        return False  # a node no longer configured: nobody can ever ask it
    client = pool.client(node)
    if not client.connected:
        return None
    try:
        reply = client.api(f"uuid_exists {attempt_id}", timeout=5.0)
    except ESLError:
        return None
    return reply.strip() == "true"


def _age(since: datetime, now: datetime) -> int:
    return int((now - since).total_seconds())
