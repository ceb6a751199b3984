"""What the consumer writes: one batch of events in one transaction, and the reconcile.

No ESL here and no greenlets: functions of a session, so they are tested and retried alone.
"""

from __future__ import annotations

import functools
import json
import logging
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import Table, Text, bindparam, func, select, text, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from dialer.attempts import (
    MERGED_COLUMNS,
    AttemptEnd,
    AttemptMove,
    Locked,
    RowValue,
    expect_rowcount,
    finalise_attempts,
    finalise_locked_attempts,
    hold_write_lock,
    mark_locked_attempts,
    merged_document,
    update_many,
)
from dialer.clock import Clock
from dialer.db.models import LIVE_ATTEMPT_STATES, CallAttempt, CallEvent
from dialer.dnc import insert_dnc_rows
from dialer.esl.events import Event
from dialer.leases.backend import LeaseBackend
from dialer.lifecycle import (
    ANSWERED,
    CALL_INITIATED,
    FLOW_COLUMNS,
    FLOW_EVENTS,
    CallRecord,
    apply_all,
)
from dialer.lifecycle import flow as flow_mod
from dialer.lifecycle.flow import VARIABLES as FLOW_VARIABLES
from dialer.lifecycle.machine import HANGUP_EVENT
from dialer.outcomes import outcome_for_answered
from dialer.webhooks.outbox import enqueue

log = logging.getLogger("dialer.consumer")

#: States in which a call is up on the switch (counted by ``dialer_calls_active``).
ACTIVE_STATES = frozenset({"ringing", "answered"})
#: Beyond the maximum duration, how long an answered call's lease lives (as the worker's).
ANSWERED_LEASE_SLACK = 60.0
RECONCILE_ERROR = "ended while the consumer was away"
_RANK = {"queued": 0, "originating": 1, "ringing": 2, "answered": 3, "ended": 4, "cancelled": 4}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: The flow's event for a callee who chose opt-out in the IVR.
OPT_OUT_EVENT = "dialer::opt_out"
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
    CallAttempt.claimed_by,
    CallAttempt.error,
    *(getattr(CallAttempt, name) for name in FLOW_COLUMNS),
    CallAttempt.campaign_id,
    CallAttempt.campaign_recipient_id,
    CallAttempt.to_number,
    # the one option the consumer needs: not the whole document decoded for every event
    CallAttempt.options["max_duration"].label("max_duration"),
)
#: Lifecycle columns the consumer writes besides the state: the channel's, the call flow's,
#: and ``ai`` (merged into the document, see dialer.attempts.MERGED_COLUMNS).
_FACTS = (
    "core_uuid", "started_at", "answered_at", "ring_duration_sec", "billsec", *FLOW_COLUMNS, "ai"
)
#: The facts an end writes besides those finalise_attempts takes by name.
_END_FACTS = frozenset({"core_uuid", "started_at", "ring_duration_sec", *FLOW_COLUMNS, "ai"})
#: The stored events an attempt's record is folded from again (with the batch's new ones):
#: the flow's stage results and the hangup are not all columns (opt-out, voicemail, rounds).
_HISTORY_EVENTS = (*sorted(FLOW_EVENTS), HANGUP_EVENT)
#: Variables of a stored event the fold reads (the others are most of its size).
_HISTORY_VARIABLES = sorted(
    FLOW_VARIABLES
    | {
        f"variable_{name}"
        for name in (
            "start_uepoch", "answer_uepoch", "answerusec", "answermsec", "answer_epoch",
            "answersec", "end_uepoch", "hangup_cause", "billsec",
        )
    }
)  # fmt: skip
#: States no event changes any more.
_SETTLED = frozenset({"ended", "cancelled"})
_ATTEMPTS = cast(Table, CallAttempt.__table__)
_EVENTS = cast(Table, CallEvent.__table__)
_EVENT_COLUMNS = (
    "attempt_id",
    "fs_node",
    "core_uuid",
    "event_sequence",
    "event_uuid",
    "name",
    "ts",
    "payload",
)
#: PostgreSQL: the batch's events as one JSON document, so that the text is the same for
#: every batch (a multi-row VALUES is new text each time, which psycopg parses again) and the
#: one parameter costs one C ``json.dumps`` (arrays of text are escaped value by value).
_PG_EVENTS_INSERT = text(
    f"INSERT INTO call_events ({', '.join(_EVENT_COLUMNS)})"
    f" SELECT {', '.join(_EVENT_COLUMNS)} FROM jsonb_to_recordset(CAST(:rows AS jsonb))"
    " AS e(attempt_id uuid, fs_node text, core_uuid text, event_sequence bigint,"
    " event_uuid text, name text, ts timestamptz, payload jsonb)"
    " ON CONFLICT (core_uuid, event_sequence) DO NOTHING"
    " RETURNING core_uuid, event_sequence"
)
#: More facts, same state: a None in a row leaves that column as it is.
_FACTS_TYPES = {
    "b_id": _ATTEMPTS.c.id.type,
    "b_expected": _ATTEMPTS.c.state.type,
    **{f"b_{name}": _ATTEMPTS.c[name].type for name in _FACTS if name not in MERGED_COLUMNS},
    **{f"b_{name}": Text() for name in MERGED_COLUMNS},
}


def _facts_update(names: Sequence[str], dialect: str) -> Any:
    """More facts, same state, for the columns ``names`` (those some row of the batch gives:
    the statement stays small, and its text is one of a few)."""

    def build(p: RowValue) -> Any:
        a = _ATTEMPTS
        values = {
            a.c[name]: merged_document(name, p(f"b_{name}"), dialect)
            if name in MERGED_COLUMNS
            else func.coalesce(p(f"b_{name}"), a.c[name])
            for name in names
        }
        return update(a).where(a.c.id == p("b_id"), a.c.state == p("b_expected")).values(values)

    return build


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
    #: Numbers put on the DNC list because their callee opted out in the IVR
    opted_out: list[str] = field(default_factory=list)


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
    back in ``unmatched``, unstored.

    The statements do not grow with the attempts: the attempts are read and locked at once
    (in id order: no deadlock between batches), what each one becomes is decided in Python
    under that lock, and the moves, the fact updates and the ends are one executemany each.

    The call flow's columns (AMD, IVR, queue, handoff, abandonment, ``ai``) and an answered
    call's outcome depend on all of its flow events, not only this batch's: an attempt with a
    CUSTOM event or its hangup in the batch comes with its stored flow events and hangup (in
    the same SELECT), the record is folded from those first (what earlier batches emitted),
    then from the new ones (what this batch emits). An attempt this consumer ended takes late
    details (``member-queue-end`` after the hangup) with a plain facts UPDATE; its end and
    outcome stay (``CallRecord.of``).
    """
    result = BatchResult()
    ids = {item.attempt_id for item in items}
    if not ids:
        return result
    hold_write_lock(session)
    # the stored flow events come with the rows (read before this batch's are inserted)
    needs = {item.attempt_id for item in items if _needs_history(item.event)}
    # plain rows, not ORM objects: nothing in the identity map to keep up to date
    rows = {
        row.id: row
        for row in session.connection()
        .execute(
            _locking_select(session.get_bind().dialect.name),
            {"b_ids": sorted(ids), "b_needs": sorted(needs)},
        )
        .all()
    }
    matched = [item for item in items if item.attempt_id in rows]
    result.unmatched = [item for item in items if item.attempt_id not in rows]

    new_events = _store_events(session, node, matched, clock, result)
    _opt_out(session, new_events, rows, result)
    by_attempt: dict[uuid.UUID, list[Event]] = {}
    for item in new_events:
        by_attempt.setdefault(item.attempt_id, []).append(item.event)
    locked: dict[uuid.UUID, Locked] = {
        aid: (row.state, row.campaign_id, row.campaign_recipient_id) for aid, row in rows.items()
    }
    history = {aid: _history(row.history) for aid, row in rows.items() if row.history}
    now = clock.now()
    plan = _Plan()
    steps: list[tuple[uuid.UUID, str, CallRecord, CallRecord, list[str]]] = []
    for attempt_id, events in by_attempt.items():
        row = rows[attempt_id]
        label = campaign_label(row.campaign_id)
        events.sort(key=lambda e: e.sequence or 0)
        stored = CallRecord.of(row)
        # the record as the stored events left it, then the new ones: a stage is emitted once
        before = apply_all(stored, history[attempt_id])[0] if attempt_id in history else stored
        after, emitted = apply_all(before, events)
        if after in (stored, before):
            if stored.state in _SETTLED:  # ended by someone else: it is not up either
                result.activity.append((attempt_id, label, False))
            continue
        before = stored  # what the row holds: the writes are what changes it
        if plan.add(attempt_id, before, after, now=now, max_duration=row.max_duration):
            steps.append((attempt_id, label, before, after, emitted))
    plan.write(session, locked, by=f"consumer:{node}", leases=leases, clock=clock)
    outbox: list[tuple[uuid.UUID, list[str]]] = []
    for attempt_id, label, before, after, emitted in steps:
        if after.state == "ended":
            result.finalised += 1
        if (before.state in ACTIVE_STATES) != (after.state in ACTIVE_STATES):
            result.activity.append((attempt_id, label, after.state in ACTIVE_STATES))
        if emitted:
            result.emitted.append((attempt_id, emitted))
            outbox.append((attempt_id, _reached(after, emitted)))
    # after the writes: each payload is the call as this transaction leaves it
    enqueue(session, outbox, now=now)
    return result


def _reached(record: CallRecord, emitted: Sequence[str]) -> list[str]:
    """What a batch writes to the outbox for a call it emitted events of: those, and every
    earlier one the call has reached. A stage the fold reached without a write of its own
    (the worker recorded the answer first; a stage only the hangup settles) goes out with
    the next event, still before it (the outbox dedupes: each event is one row)."""
    reached = list(emitted)
    if record.initiated:
        reached.append(CALL_INITIATED)
    if record.answered_at is not None:
        reached.append(ANSWERED)
        reached.extend(record.stages)
    return reached


def _answered_ends(
    session: Session, attempt_ids: Sequence[uuid.UUID], now: datetime
) -> list[AttemptEnd]:
    """Answered calls that ended unseen: their outcome and flow columns from the flow events
    stored before the switch went quiet (one read, the batch's own locking SELECT)."""
    if not attempt_ids:
        return []
    ids = sorted(attempt_ids)
    found = session.connection().execute(
        _locking_select(session.get_bind().dialect.name), {"b_ids": ids, "b_needs": ids}
    )
    ends = []
    for row in found.all():
        record = CallRecord.of(row)
        if row.history:
            record = apply_all(record, _history(row.history))[0]
        derived = flow_mod.derive(
            record.flow, answered_at=record.answered_at, ended_at=now, ended=True,
            hangup_cause="UNKNOWN",
        )  # fmt: skip
        columns = {k: v for k, v in derived.columns.items() if v is not None}
        ends.append(
            AttemptEnd(
                row.id,
                outcome=derived.outcome or outcome_for_answered(),
                hangup_cause="UNKNOWN",
                ended_at=now,
                error=RECONCILE_ERROR,
                columns=columns,
            )
        )
    return ends


def _needs_history(event: Event) -> bool:
    """The flow's columns and outcome come from all of a call's flow events, not only the new
    ones: a stage event, or the end, folds the stored ones again."""
    return event.name == "CUSTOM" or event.name == HANGUP_EVENT


@functools.cache
def _locking_select(dialect: str) -> Any:
    """The attempts of a batch (``:b_ids``), locked, with ``history``: for those in
    ``:b_needs``, their stored flow events and hangup as one JSON array of ``[Event-Sequence,
    payload]`` (PostgreSQL: only the headers the fold reads). One statement, built once per
    dialect: the same text for every batch."""
    e = _EVENTS.alias("h")
    a = _ATTEMPTS
    if dialect == "postgresql":
        ids = bindparam("b_ids", type_=postgresql.ARRAY(a.c.id.type))
        needs = bindparam("b_needs", type_=postgresql.ARRAY(a.c.id.type))
        kv = func.jsonb_each(e.c.payload).table_valued("key", "value").alias("kv")
        kept = sa.literal(_HISTORY_VARIABLES, type_=postgresql.ARRAY(Text()))
        slim = (
            select(func.jsonb_object_agg(kv.c.key, kv.c.value))
            .where(
                sa.or_(
                    ~kv.c.key.startswith("variable_", autoescape=True), kv.c.key == sa.any_(kept)
                )
            )
            .scalar_subquery()
        )
        agg = func.jsonb_agg(func.jsonb_build_array(e.c.event_sequence, slim))
        picked, wanted = a.c.id == sa.any_(ids), a.c.id == sa.any_(needs)
    else:
        agg = func.json_group_array(func.json_array(e.c.event_sequence, func.json(e.c.payload)))
        picked = a.c.id.in_(bindparam("b_ids", expanding=True))
        wanted = a.c.id.in_(bindparam("b_needs", expanding=True))
    found = (
        select(agg)
        .where(e.c.attempt_id == a.c.id, e.c.name.in_(_HISTORY_EVENTS))
        .scalar_subquery()
    )
    history = sa.case((wanted, found), else_=sa.null()).label("history")
    return (
        select(*_RECORD_COLUMNS, history)
        .where(picked)
        .order_by(CallAttempt.id)
        .with_for_update(of=_ATTEMPTS)
    )


def _history(found: Any) -> list[dict[str, Any]]:
    """The stored events of ``_history_column``, in Event-Sequence order."""
    items = json.loads(found) if isinstance(found, str) else found
    pairs = [(int(seq), payload) for seq, payload in items if isinstance(payload, dict)]
    return [payload for _, payload in sorted(pairs, key=lambda pair: pair[0])]


def _opt_out(
    session: Session, fresh: Sequence[Incoming], rows: dict[uuid.UUID, Any], result: BatchResult
) -> None:
    """A callee who chose opt-out in the IVR (CUSTOM ``dialer::opt_out``) is on the DNC list
    at once, in the batch's transaction: no later attempt of any campaign dials the number."""
    entries: dict[str, dict[str, str | None]] = {}
    for item in fresh:
        if item.event.key != OPT_OUT_EVENT:
            continue
        row = rows[item.attempt_id]
        digit = item.event.get("ivr_digit") or "?"
        where = f"campaign {row.campaign_id}" if row.campaign_id is not None else "a single call"
        entries.setdefault(
            row.to_number,
            {
                "phone_e164": row.to_number,
                "source": "opt_out",
                "reason": f"pressed {digit} in {where} (call {item.attempt_id})",
            },
        )
    if entries:
        insert_dnc_rows(session.connection(), list(entries.values()))
        result.opted_out.extend(entries)


@dataclass
class _Plan:
    """A batch's writes, decided under the lock, made in one statement of each kind."""

    ends: list[AttemptEnd] = field(default_factory=list)
    moves: list[AttemptMove] = field(default_factory=list)
    #: same state, more facts (the +OK job's Core-UUID, a start time)
    facts: list[dict[str, Any]] = field(default_factory=list)
    #: lease ttl → the answered attempts whose lease it extends to
    answered: dict[float, list[str]] = field(default_factory=dict)

    def add(
        self,
        attempt_id: uuid.UUID,
        before: CallRecord,
        after: CallRecord,
        *,
        now: datetime,
        max_duration: Any,
    ) -> bool:
        """Plan the step before → after; False if there is nothing to write."""
        facts = {
            name: getattr(after, name)
            for name in _FACTS
            if name not in MERGED_COLUMNS
            and getattr(after, name) is not None
            and getattr(after, name) != getattr(before, name)
        }
        ai = _ai(after)
        if ai is not None and ai != _ai(before):
            facts["ai"] = json.dumps(ai, sort_keys=True)
        if after.state == "ended" and before.state != "ended":
            assert after.outcome is not None
            self.ends.append(
                AttemptEnd(
                    attempt_id,
                    outcome=after.outcome,
                    hangup_cause=after.hangup_cause,
                    ended_at=after.ended_at or now,
                    answered_at=after.answered_at,
                    billsec=after.billsec,
                    columns={k: v for k, v in facts.items() if k in _END_FACTS},
                )
            )
            return True
        if _RANK.get(after.state, 0) > _RANK.get(before.state, 0):
            self.moves.append(AttemptMove(attempt_id, after.state, now, facts))
            if after.state == "answered":
                ok = isinstance(max_duration, int | float)
                talk = float(max_duration if ok else 300)
                self.answered.setdefault(talk + ANSWERED_LEASE_SLACK, []).append(str(attempt_id))
            return True
        if facts:
            row = {f"b_{name}": value for name, value in facts.items()}
            row.update(b_id=attempt_id, b_expected=before.state)
            self.facts.append(row)
            return True
        return False

    def write(
        self,
        session: Session,
        locked: dict[uuid.UUID, Locked],
        *,
        by: str,
        leases: LeaseBackend | None,
        clock: Clock,
    ) -> None:
        if self.facts:
            given = [n for n in _FACTS if any(f"b_{n}" in row for row in self.facts)]
            for row in self.facts:  # every row has every value
                for name in given:
                    row.setdefault(f"b_{name}", None)
            build = _facts_update(given, session.get_bind().dialect.name)
            types = {k: t for k, t in _FACTS_TYPES.items() if k in self.facts[0]}
            done = update_many(session, build, self.facts, types)
            expect_rowcount(done, len(self.facts), "persist_batch facts")
        moved = mark_locked_attempts(session, self.moves, locked, by=by)
        # the ends' campaign.completed goes out with the calls' other events (persist_batch)
        ended = finalise_locked_attempts(
            session, self.ends, locked, by=by, leases=leases, clock=clock, emit=False
        )
        if len(moved) != len(self.moves) or len(ended) != len(self.ends):
            # every step was decided on the locked rows: each one must have been made
            raise RuntimeError("persist_batch: a step decided under the lock was not made")
        if leases is not None:
            for ttl, lease_ids in self.answered.items():
                leases.extend_many(lease_ids, ttl, clock.time())


def _ai(record: CallRecord) -> dict[str, str] | None:
    """The keys of the ``ai`` document this record sets (an AI-agent handoff)."""
    doc = {
        key: value
        for key, value in (("agentId", record.ai_agent_id), ("endReason", record.ai_end_reason))
        if value is not None
    }
    return doc or None


def _pg_rows(values: list[dict[str, Any]], items: Iterable[Incoming]) -> str:
    """The rows as one JSON document. A payload comes as the switch's own JSON text when the
    event has it (``Event.json_text``): encoding ~9 KB of headers again per event was the
    consumer's biggest single cost."""
    parts = []
    for row, item in zip(values, items, strict=True):
        payload = row.pop("payload")
        text = item.event.json_text
        row["attempt_id"] = str(row["attempt_id"])
        row["ts"] = row["ts"].isoformat()
        head = json.dumps(row)
        body = text if text is not None else json.dumps(payload)
        parts.append(f'{head[:-1]}, "payload": {body}}}')
    return "[" + ",".join(parts) + "]"


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
    now = clock.now()
    conn = session.connection()
    postgres = conn.dialect.name == "postgresql"
    stamps: dict[tuple[str, int], datetime | None] = {}
    values: list[dict[str, Any]] = []
    for (core, seq), item in keyed.items():
        event = item.event
        stamps[(core, seq)] = ts = event_time(event)
        values.append(
            {
                "attempt_id": item.attempt_id,
                "fs_node": node,
                "core_uuid": core,
                "event_sequence": seq,
                "event_uuid": event.get("Event-UUID"),
                "name": event.key if event.name == "CUSTOM" else event.name,
                "ts": ts or now,
                # PostgreSQL takes the switch's JSON text as it came, when there is one
                "payload": None
                if postgres and event.json_text is not None
                else event_payload(event),
            }
        )
    if postgres:
        found = conn.execute(_PG_EVENTS_INSERT, {"rows": _pg_rows(values, keyed.values())})
    else:
        found = conn.execute(
            sqlite_insert(_EVENTS)
            .on_conflict_do_nothing(index_elements=["core_uuid", "event_sequence"])
            .returning(_EVENTS.c.core_uuid, _EVENTS.c.event_sequence),
            values,
        )
    inserted = {(core, int(seq)) for core, seq in found}
    result.stored += len(inserted)
    result.duplicates += len(keyed) - len(inserted)
    fresh = []
    for key, item in keyed.items():
        if key in inserted:
            fresh.append(item)
            ts = stamps[key]
            if ts is not None:
                result.timestamps.append(ts)
    return fresh + unkeyed


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
    happened while nobody listened. Answered ones get the outcome their stored flow events
    say (``agent_answered``, ``opted_out``…; ``completed`` without any), others ``failed``;
    the hangup cause is ``UNKNOWN``."""
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
    ends: list[AttemptEnd] = []
    answered: list[uuid.UUID] = []
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
        if state == "answered":
            answered.append(attempt_id)
            continue
        ends.append(
            AttemptEnd(
                attempt_id, outcome="failed", hangup_cause="UNKNOWN", ended_at=now,
                error=RECONCILE_ERROR,
            )
        )  # fmt: skip
    ends.extend(_answered_ends(session, answered, now))
    won = finalise_attempts(session, ends, by=f"consumer:{node}", leases=leases, clock=clock)
    result.finalised = len(won)
    result.finalised_ids = won
    return result
