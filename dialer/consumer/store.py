"""What the consumer writes: one batch of events in one transaction, and the reconcile.

No ESL here and no greenlets: functions of a session, so they are tested and retried alone.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from dialer.attempts import finalise_attempt, mark_attempt
from dialer.clock import Clock
from dialer.db.models import LIVE_ATTEMPT_STATES, CallAttempt, CallEvent
from dialer.esl.events import Event
from dialer.leases.backend import LeaseBackend
from dialer.lifecycle import CallRecord, apply_all
from dialer.outcomes import outcome_for_answered

log = logging.getLogger("dialer.consumer")

#: States in which a call is up on the switch (counted by ``dialer_calls_active``).
ACTIVE_STATES = frozenset({"ringing", "answered"})
#: Beyond the maximum duration, how long an answered call's lease lives (as the worker's).
ANSWERED_LEASE_SLACK = 60.0
RECONCILE_ERROR = "ended while the consumer was away"
_RANK = {"queued": 0, "originating": 1, "ringing": 2, "answered": 3, "ended": 4, "cancelled": 4}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: What the consumer reads of an attempt: its record, campaign and options.
_RECORD_COLUMNS = (
    CallAttempt.id,
    CallAttempt.state,
    CallAttempt.core_uuid,
    CallAttempt.started_at,
    CallAttempt.answered_at,
    CallAttempt.ended_at,
    CallAttempt.ring_duration_sec,
    CallAttempt.billsec,
    CallAttempt.hangup_cause,
    CallAttempt.outcome,
    CallAttempt.campaign_id,
    CallAttempt.options,
)
#: Lifecycle columns the consumer writes besides the state.
_FACTS = ("core_uuid", "started_at", "answered_at", "ring_duration_sec", "billsec")


@dataclass(frozen=True)
class Incoming:
    """One event of one of our attempts, as the handler queued it."""

    attempt_id: uuid.UUID
    event: Event
    received: float  # time.monotonic() when it arrived: how long it may wait for its attempt


@dataclass
class BatchResult:
    stored: int = 0
    duplicates: int = 0
    unmatched: list[Incoming] = field(default_factory=list)
    finalised: int = 0
    #: (attempt id, campaign label, active after) for every attempt whose activity changed
    activity: list[tuple[uuid.UUID, str, bool]] = field(default_factory=list)
    #: (attempt id, webhook event names) emitted by the transitions, in order
    emitted: list[tuple[uuid.UUID, list[str]]] = field(default_factory=list)
    #: Event-Date-Timestamps of the stored events (for the lag histogram)
    timestamps: list[datetime] = field(default_factory=list)


def campaign_label(campaign_id: int | None) -> str:
    return "single" if campaign_id is None else str(campaign_id)


def event_time(event: Event) -> datetime | None:
    micros = event.timestamp_us
    if micros is None or micros <= 0:
        return None
    return _EPOCH + timedelta(microseconds=micros)


def event_payload(event: Event) -> dict[str, Any]:
    """The event as ``event json`` gives it: headers (first of a repeated name), ``_body``."""
    payload: dict[str, Any] = dict(event.headers.items())
    if event.body:
        payload["_body"] = event.body
    return payload


def persist_batch(
    session: Session,
    node: str,
    items: Sequence[Incoming],
    *,
    leases: LeaseBackend | None,
    clock: Clock,
) -> BatchResult:
    """Store ``items`` (deduped on Core-UUID + Event-Sequence) and fold the new ones into their
    attempts, in the caller's transaction. Items whose attempt is not in the database come
    back in ``unmatched``, unstored."""
    result = BatchResult()
    ids = {item.attempt_id for item in items}
    if not ids:
        return result
    # plain rows, not ORM objects: nothing in the identity map for the updates to evaluate
    rows = {
        row.id: row
        for row in session.execute(select(*_RECORD_COLUMNS).where(CallAttempt.id.in_(ids)))
    }
    matched = [item for item in items if item.attempt_id in rows]
    result.unmatched = [item for item in items if item.attempt_id not in rows]

    new_events = _store_events(session, node, matched, clock, result)
    by_attempt: dict[uuid.UUID, list[Event]] = {}
    for item in new_events:
        by_attempt.setdefault(item.attempt_id, []).append(item.event)
    by = f"consumer:{node}"
    for attempt_id, events in by_attempt.items():
        row = rows[attempt_id]
        events.sort(key=lambda e: e.sequence or 0)
        before = CallRecord.of(row)
        after, emitted = apply_all(before, events)
        if after == before:
            continue
        label = campaign_label(row.campaign_id)
        options = dict(row.options or {})
        changed = _write(session, row.id, before, after, by=by, leases=leases, clock=clock,
                         max_duration=options.get("max_duration"))
        if not changed:
            if after.state == "ended":  # someone else ended it first: it is not up either
                result.activity.append((attempt_id, label, False))
            continue
        if after.state == "ended":
            result.finalised += 1
        if (before.state in ACTIVE_STATES) != (after.state in ACTIVE_STATES):
            result.activity.append((attempt_id, label, after.state in ACTIVE_STATES))
        if emitted:
            result.emitted.append((attempt_id, emitted))
    return result


def _store_events(
    session: Session, node: str, matched: Sequence[Incoming], clock: Clock, result: BatchResult
) -> list[Incoming]:
    """Insert the events; the ones that were not stored before (and those without a dedupe
    key, which cannot be stored) are returned for folding."""
    unkeyed: list[Incoming] = []
    keyed: dict[tuple[str, int], Incoming] = {}
    for item in matched:
        core, seq = item.event.core_uuid, item.event.sequence
        if not core or seq is None:
            unkeyed.append(item)  # never seen from a real switch; folded, not stored
            continue
        if (core, seq) in keyed:
            result.duplicates += 1
            continue
        keyed[(core, seq)] = item
    if not keyed:
        return unkeyed
    values = []
    for (core, seq), item in keyed.items():
        event = item.event
        values.append(
            {
                "attempt_id": item.attempt_id,
                "fs_node": node,
                "core_uuid": core,
                "event_sequence": seq,
                "event_uuid": event.get("Event-UUID"),
                "name": event.key if event.name == "CUSTOM" else event.name,
                "ts": event_time(event) or clock.now(),
                "payload": event_payload(event),
            }
        )
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = (
        insert(CallEvent)
        .on_conflict_do_nothing(index_elements=["core_uuid", "event_sequence"])
        .returning(CallEvent.core_uuid, CallEvent.event_sequence)
    )
    inserted = {(core, int(seq)) for core, seq in session.execute(stmt, values)}
    result.stored += len(inserted)
    result.duplicates += len(keyed) - len(inserted)
    fresh = [item for key, item in keyed.items() if key in inserted]
    for item in fresh:
        ts = event_time(item.event)
        if ts is not None:
            result.timestamps.append(ts)
    return fresh + unkeyed


def _write(
    session: Session,
    attempt_id: uuid.UUID,
    before: CallRecord,
    after: CallRecord,
    *,
    by: str,
    leases: LeaseBackend | None,
    clock: Clock,
    max_duration: Any,
) -> bool:
    """Persist the step before → after; False if someone else had moved the attempt on."""
    facts = {
        name: getattr(after, name)
        for name in _FACTS
        if getattr(after, name) is not None and getattr(after, name) != getattr(before, name)
    }
    if after.state == "ended" and before.state != "ended":
        assert after.outcome is not None
        won = finalise_attempt(
            session,
            attempt_id,
            outcome=after.outcome,
            hangup_cause=after.hangup_cause,
            ended_at=after.ended_at or clock.now(),
            by=by,
            answered_at=after.answered_at,
            billsec=after.billsec,
            leases=leases,
            clock=clock,
        )
        rest = {k: v for k, v in facts.items() if k in ("core_uuid", "started_at",
                                                        "ring_duration_sec")}
        if won and rest:
            session.execute(
                update(CallAttempt).where(CallAttempt.id == attempt_id).values(**rest)
            )
        return won
    if _RANK.get(after.state, 0) > _RANK.get(before.state, 0):
        moved = mark_attempt(session, attempt_id, after.state, by=by, at=clock.now(), **facts)
        if moved and after.state == "answered" and leases is not None:
            duration = max_duration if isinstance(max_duration, int | float) else 300
            leases.extend(str(attempt_id), float(duration) + ANSWERED_LEASE_SLACK, clock.time())
        return moved
    if facts:  # same state, more facts (the +OK job's Core-UUID, a start time)
        done = session.execute(
            update(CallAttempt)
            .where(CallAttempt.id == attempt_id, CallAttempt.state == before.state)
            .values(**facts)
            .execution_options(synchronize_session=False)
        )
        return int(getattr(done, "rowcount", 0)) == 1
    return False


# -- reconcile ------------------------------------------------------------------------------


@dataclass
class ReconcileResult:
    finalised: int = 0
    young: int = 0  # not on the switch but sent too recently to judge
    #: when the first of the young ones is old enough to judge
    judge_young_at: datetime | None = None
    live: int = 0  # still on the switch
    #: attempt id → campaign label of the calls up (ringing/answered) after the reconcile
    active: dict[uuid.UUID, str] = field(default_factory=dict)
    finalised_ids: list[uuid.UUID] = field(default_factory=list)


def reconcile_node(
    session: Session,
    node: str,
    channels: Iterable[str],
    *,
    leases: LeaseBackend | None,
    clock: Clock,
    min_age: float = 10.0,
) -> ReconcileResult:
    """End the attempts live on ``node`` that the switch no longer has (``channels``: the
    uuids of ``show channels``) and were sent more than ``min_age`` seconds ago: their end
    happened while nobody listened. Answered ones get the answered outcome, others
    ``failed``; the hangup cause is ``UNKNOWN``."""
    up = set(channels)
    now = clock.now()
    cutoff = now - timedelta(seconds=min_age)
    result = ReconcileResult()
    rows = session.execute(
        select(
            CallAttempt.id,
            CallAttempt.state,
            CallAttempt.campaign_id,
            CallAttempt.originate_sent_at,
            CallAttempt.state_changed_at,
        ).where(CallAttempt.fs_node == node, CallAttempt.state.in_(LIVE_ATTEMPT_STATES))
    ).all()
    by = f"consumer:{node}"
    for attempt_id, state, campaign_id, sent_at, changed_at in rows:
        if str(attempt_id) in up:
            result.live += 1
            if state in ACTIVE_STATES:
                result.active[attempt_id] = campaign_label(campaign_id)
            continue
        if (sent_at or changed_at) > cutoff:
            result.young += 1
            ripe = (sent_at or changed_at) + timedelta(seconds=min_age)
            if result.judge_young_at is None or ripe < result.judge_young_at:
                result.judge_young_at = ripe
            if state in ACTIVE_STATES:
                result.active[attempt_id] = campaign_label(campaign_id)
            continue
        won = finalise_attempt(
            session,
            attempt_id,
            outcome=outcome_for_answered() if state == "answered" else "failed",
            hangup_cause="UNKNOWN",
            ended_at=now,
            by=by,
            error=RECONCILE_ERROR,
            leases=leases,
            clock=clock,
        )
        if won:
            result.finalised += 1
            result.finalised_ids.append(attempt_id)
    return result
