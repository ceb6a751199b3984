"""finalise_attempts and mark_attempts (the batch siblings) give what one by one gives, and
persist_batch's statements do not grow with the attempts of a batch."""

from __future__ import annotations

import json
import threading
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session

from dialer.attempts import (
    AttemptEnd,
    AttemptMove,
    finalise_attempt,
    finalise_attempts,
    mark_attempt,
    mark_attempts,
)
from dialer.clock import FrozenClock
from dialer.consumer.store import Incoming, event_payload, persist_batch
from dialer.db.models import (
    CallAttempt,
    CallEvent,
    CampaignRecipient,
    DncNumber,
    WebhookDelivery,
    WebhookEndpoint,
)
from dialer.esl.events import Event, event_from_mapping, parse_json
from dialer.leases import Granted, LeaseBackend, MemoryLeases, Scope
from tests.engine.factories import make_attempt, make_campaign, make_recipient

# Tuesday 2 June 2026, 10:00 in New York (EDT): inside the default 09:00-20:00 window.
T0 = datetime(2026, 6, 2, 14, 0, tzinfo=UTC)
SCOPE = Scope("node", "fs1", None)
ATTEMPT_COLUMNS = (
    "state",
    "outcome",
    "hangup_cause",
    "ended_at",
    "answered_at",
    "billsec",
    "error",
    "claimed_by",
    "state_changed_at",
    "core_uuid",
    "started_at",
    "ring_duration_sec",
)
RECIPIENT_COLUMNS = (
    "status",
    "attempts",
    "final_outcome",
    "next_attempt_at",
    "updated_at",
    "blocked_reason",
)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


def _leases(clock: FrozenClock, ids: Sequence[uuid.UUID]) -> MemoryLeases:
    leases = MemoryLeases()
    leases.restore([], clock.time())
    for aid in ids:
        assert isinstance(leases.acquire(str(aid), [SCOPE], 90, clock.time()), Granted)
    return leases


class CountingLeases:
    """A MemoryLeases that counts the calls made to it (one round trip each on Redis)."""

    def __init__(self, inner: MemoryLeases) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if callable(attr):

            def counted(*args: Any, **kwargs: Any) -> Any:
                self.calls[name] += 1
                return attr(*args, **kwargs)

            return counted
        return attr


# -- finalise_attempts ----------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    campaign: str | None  # key of the campaign; None: a single call
    outcome: str
    cause: str = "NORMAL_CLEARING"
    attempts: int = 1
    state: str = "originating"
    answered: bool = False
    billsec: int | None = None
    error: str | None = None
    same_recipient_as_previous: bool = False


SPECS = [
    Spec("run", "no_answer", "NO_ANSWER"),
    Spec("run", "no_answer", "NO_ANSWER", attempts=2, state="ringing"),
    Spec("run", "no_answer", "NO_ANSWER", attempts=3),
    Spec("run", "busy", "USER_BUSY"),
    Spec("run", "failed", "UNKNOWN", state="queued", error="ended while away"),
    Spec("run", "completed", state="answered", answered=True, billsec=12),
    Spec("run", "invalid_number", "UNALLOCATED_NUMBER"),
    Spec("run", "completed", state="ended"),  # already ended: loses
    Spec("run", "no_answer", state="cancelled"),  # never sent: loses
    Spec("cancelled", "no_answer", "NO_ANSWER"),
    Spec("cancelled", "completed", answered=True, billsec=3),
    Spec("closing", "no_answer", "NO_ANSWER"),
    Spec(None, "completed", answered=True, billsec=7),
    Spec(None, "busy", "USER_BUSY"),
    # two live attempts of one recipient: the second moves it again, as one by one would
    Spec("run", "no_answer", "NO_ANSWER"),
    Spec("run", "completed", same_recipient_as_previous=True),
]


def _build(engine: Engine, specs: Sequence[Spec]) -> tuple[list[uuid.UUID], list[int | None]]:
    with Session(engine, expire_on_commit=False) as s:
        campaigns = {
            "run": make_campaign(s),
            "cancelled": make_campaign(s, status="cancelled"),
            "closing": make_campaign(s, schedule={"end": "2026-06-02T14:05:00Z"}),
        }
        ids: list[uuid.UUID] = []
        progress_ids: list[int | None] = []
        progress: CampaignRecipient | None = None
        for n, spec in enumerate(specs):
            campaign = None if spec.campaign is None else campaigns[spec.campaign]
            if campaign is None:
                progress = None
            elif spec.same_recipient_as_previous:
                assert progress is not None
                progress.attempts += 1
                s.flush()
            else:
                progress = make_recipient(
                    s, campaign, phone=f"+1212555{n:04d}", attempts=spec.attempts
                )
            first = "originating" if spec.state == "ended" else spec.state
            attempt = make_attempt(
                s,
                campaign=campaign,
                progress=progress,
                state=first,
                sent_at=T0 - timedelta(seconds=30),
            )
            if spec.state == "ended":  # an ended attempt always has an outcome
                attempt.state, attempt.outcome = "ended", "no_answer"
                s.flush()
            ids.append(attempt.id)
            progress_ids.append(None if progress is None else progress.id)
        s.commit()
    return ids, progress_ids


def _end_of(aid: uuid.UUID, spec: Spec) -> AttemptEnd:
    return AttemptEnd(
        aid,
        outcome=spec.outcome,
        hangup_cause=spec.cause,
        ended_at=T0 + timedelta(seconds=20),
        answered_at=T0 + timedelta(seconds=5) if spec.answered else None,
        billsec=spec.billsec,
        error=spec.error,
    )


def _attempt_rows(engine: Engine, ids: Sequence[uuid.UUID]) -> list[tuple[Any, ...]]:
    with Session(engine) as s:
        rows = {a.id: a for a in s.scalars(sa.select(CallAttempt).where(CallAttempt.id.in_(ids)))}
        return [tuple(getattr(rows[i], c) for c in ATTEMPT_COLUMNS) for i in ids]


def _recipient_rows(engine: Engine, ids: Sequence[int | None]) -> list[tuple[Any, ...] | None]:
    with Session(engine) as s:
        out: list[tuple[Any, ...] | None] = []
        for pid in ids:
            found = None if pid is None else s.get(CampaignRecipient, pid)
            out.append(
                None if found is None else tuple(getattr(found, c) for c in RECIPIENT_COLUMNS)
            )
        return out


def test_a_batch_ends_what_one_by_one_ends(engine: Engine, clock: FrozenClock) -> None:
    clock.advance(25)
    one_ids, one_progress = _build(engine, SPECS)
    one_leases = _leases(clock, one_ids)
    won_one = []
    for aid, spec in zip(one_ids, SPECS, strict=True):
        end = _end_of(aid, spec)
        with Session(engine) as s, s.begin():
            if finalise_attempt(
                s,
                aid,
                outcome=end.outcome,
                hangup_cause=end.hangup_cause,
                ended_at=end.ended_at,
                by="consumer:fs1",
                answered_at=end.answered_at,
                billsec=end.billsec,
                error=end.error,
                leases=one_leases,
                clock=clock,
            ):
                won_one.append(one_ids.index(aid))

    batch_ids, batch_progress = _build(engine, SPECS)
    counting = CountingLeases(_leases(clock, batch_ids))
    with Session(engine) as s, s.begin():
        won = finalise_attempts(
            s,
            [_end_of(aid, spec) for aid, spec in zip(batch_ids, SPECS, strict=True)],
            by="consumer:fs1",
            leases=cast(LeaseBackend, counting),
            clock=clock,
        )
    assert [batch_ids.index(aid) for aid in won] == won_one
    assert won_one == [
        n for n, spec in enumerate(SPECS) if spec.state not in ("ended", "cancelled")
    ]
    assert _attempt_rows(engine, batch_ids) == _attempt_rows(engine, one_ids)
    assert _recipient_rows(engine, batch_progress) == _recipient_rows(engine, one_progress)
    # one lease round trip for all the winners; the losers' leases are left alone
    assert counting.calls == Counter({"release_many": 1})
    losers = {str(batch_ids[n]) for n in range(len(SPECS)) if n not in won_one}
    assert set(counting.inner.holders(SCOPE, clock.time())) == losers
    # the expected outcomes themselves (not only equal to one by one)
    rows = dict(zip(range(len(SPECS)), _recipient_rows(engine, batch_progress), strict=True))
    assert (rows[0] or ())[0:4] == ("pending", 1, None, T0 + timedelta(seconds=20 + 600))
    assert (rows[2] or ())[0:3] == ("done", 3, "no_answer")
    assert (rows[9] or ())[0] == "cancelled"
    assert (rows[11] or ())[0:3] == ("skipped", 1, "no_window")
    assert (rows[15] or ())[0:3] == ("done", 2, "completed")


def test_duplicates_and_ended_attempts_are_not_ended_twice(
    engine: Engine, clock: FrozenClock
) -> None:
    specs = [Spec("run", "no_answer", "NO_ANSWER"), Spec("run", "completed", state="ended")]
    ids, progress = _build(engine, specs)
    live, ended = ids  # the ended attempt's recipient is still active: a loser must not move it
    before_ended = _attempt_rows(engine, [ended])
    leases = _leases(clock, ids)
    ends = [
        AttemptEnd(live, "no_answer", "NO_ANSWER", T0),
        AttemptEnd(ended, "busy", "USER_BUSY", T0),
        AttemptEnd(live, "completed", "NORMAL_CLEARING", T0, billsec=9),  # a duplicate
        AttemptEnd(uuid.uuid4(), "busy", "USER_BUSY", T0),  # no such attempt
    ]
    with Session(engine) as s, s.begin():
        assert finalise_attempts(s, ends, by="consumer:fs1", leases=leases, clock=clock) == [live]
    (row,) = _attempt_rows(engine, [live])
    assert row[:3] == ("ended", "no_answer", "NO_ANSWER")
    assert row[ATTEMPT_COLUMNS.index("billsec")] is None
    # the first end moved the recipient once: a retry (the duplicate would have made it done)
    first = _recipient_rows(engine, [progress[0]])[0]
    assert (first or ())[:4] == ("pending", 1, None, T0 + timedelta(seconds=600))
    assert _attempt_rows(engine, [ended]) == before_ended
    second = _recipient_rows(engine, [progress[1]])[0]
    assert (second or ())[:3] == ("active", 1, None)
    assert leases.holders(SCOPE, clock.time()) == [str(ended)]
    # the whole batch again: nobody wins, nothing moves
    with Session(engine) as s, s.begin():
        assert finalise_attempts(s, ends, by="sweeper", leases=leases, clock=clock) == []
    assert _recipient_rows(engine, [progress[0]])[0] == first


def test_extra_facts_are_written_by_the_end(engine: Engine, clock: FrozenClock) -> None:
    ids, _ = _build(engine, [Spec("run", "completed"), Spec(None, "failed")])
    started = T0 - timedelta(seconds=10)
    ends = [
        AttemptEnd(
            ids[0],
            "completed",
            "NORMAL_CLEARING",
            T0,
            answered_at=T0,
            columns={"core_uuid": "core-1", "started_at": started, "ring_duration_sec": 10.0},
        ),
        AttemptEnd(ids[1], "failed", "UNKNOWN", T0, columns={"core_uuid": None}),
    ]
    with Session(engine) as s, s.begin():
        assert finalise_attempts(s, ends, by="consumer:fs1", leases=None, clock=clock) == ids
    first, second = _attempt_rows(engine, ids)
    col = ATTEMPT_COLUMNS.index
    assert (
        first[col("core_uuid")],
        first[col("started_at")],
        first[col("ring_duration_sec")],
        first[col("answered_at")],
    ) == ("core-1", started, 10.0, T0)
    assert (second[col("core_uuid")], second[col("answered_at")]) == (None, None)
    reserved = AttemptEnd(ids[0], "x", None, T0, columns={"outcome": "busy"})
    with Session(engine) as s, pytest.raises(TypeError, match="outcome"):
        finalise_attempts(s, [reserved], by="x", leases=None, clock=clock)


# -- mark_attempts --------------------------------------------------------------------------


def test_a_batch_of_moves_moves_what_one_by_one_moves(engine: Engine, clock: FrozenClock) -> None:
    starts = ["queued", "originating", "ringing", "answered", "ended", "originating"]

    def build() -> list[uuid.UUID]:
        with Session(engine) as s:
            rows = [
                make_attempt(s, state="originating" if st == "ended" else st, sent_at=T0)
                for st in starts
            ]
            for row, st in zip(rows, starts, strict=True):
                if st == "ended":  # an ended attempt always has an outcome
                    row.state, row.outcome = "ended", "completed"
            s.commit()
            return [row.id for row in rows]

    def moves(ids: list[uuid.UUID]) -> list[AttemptMove]:
        at = clock.now()
        return [
            AttemptMove(ids[0], "originating", at, {"fs_node": "fs2"}),
            AttemptMove(ids[1], "ringing", at, {"core_uuid": "core-1"}),
            AttemptMove(ids[2], "ringing", at),  # not forward: stays
            AttemptMove(ids[3], "ringing", at),  # never backwards
            AttemptMove(ids[4], "answered", at),  # never out of ended
            AttemptMove(ids[5], "ringing", at, {"started_at": T0}),
            AttemptMove(ids[5], "answered", at, {"answered_at": T0}),  # then further on
            AttemptMove(ids[1], "ringing", at),  # moved already: no second move
        ]

    one = build()
    moved_one = []
    for move in moves(one):
        with Session(engine) as s, s.begin():
            if mark_attempt(
                s, move.attempt_id, move.state, by="consumer:fs1", at=move.at, **move.columns
            ):
                moved_one.append(move.attempt_id)
    batch = build()
    with Session(engine) as s, s.begin():
        moved = mark_attempts(s, moves(batch), by="consumer:fs1")
    assert [batch.index(a) for a in moved] == sorted({one.index(a) for a in moved_one})
    assert [batch.index(a) for a in moved] == [0, 1, 5]
    assert _attempt_rows(engine, batch) == _attempt_rows(engine, one)
    assert _attempt_rows(engine, batch)[5][0] == "answered"
    with Session(engine) as s, pytest.raises(ValueError, match="finalise_attempt"):
        mark_attempts(s, [AttemptMove(batch[0], "ended", T0)], by="x")


# -- persist_batch: statements per batch ----------------------------------------------------

CORE = "core-statements"
_sequence = 0


def _event(name: str, aid: uuid.UUID, at: datetime, body: str = "", **headers: str) -> Event:
    global _sequence
    _sequence += 1
    a = str(aid)
    micros = str(int(at.timestamp() * 1_000_000))
    base = {
        "Event-Name": name,
        "Core-UUID": CORE,
        "Event-Sequence": str(_sequence),
        "Event-Date-Timestamp": micros,
    }
    if name == "BACKGROUND_JOB":
        base.update({"Job-UUID": a, "Job-Command": "originate"})
    else:
        base.update(
            {"Unique-ID": a, "variable_dialer_attempt_id": a, "Caller-Channel-Created-Time": micros}
        )
    base.update(headers)
    return event_from_mapping(base, body)


def _call_events(aid: uuid.UUID, stage: int) -> list[Event]:
    """stage 0: the +OK job only; 1: and the answer; 2: and the hangup."""
    answered = T0 + timedelta(seconds=3)
    us = str(int(answered.timestamp() * 1_000_000))
    ended = T0 + timedelta(seconds=10)
    events = [_event("BACKGROUND_JOB", aid, T0, f"+OK {aid}\n")]
    if stage >= 1:
        events.append(
            _event("CHANNEL_ANSWER", aid, answered, **{"Caller-Channel-Answered-Time": us})
        )
    if stage >= 2:
        events.append(
            _event(
                "CHANNEL_HANGUP_COMPLETE",
                aid,
                ended,
                **{
                    "Caller-Channel-Answered-Time": us,
                    "Hangup-Cause": "NORMAL_CLEARING",
                    "Caller-Channel-Hangup-Time": str(int(ended.timestamp() * 1_000_000)),
                    "variable_billsec": "7",
                },
            )
        )
    return events


def _statements_of_a_batch(
    engine: Engine, clock: FrozenClock, calls: int, *, endpoint: bool = False
) -> tuple[int, Any]:
    with Session(engine, expire_on_commit=False) as s:
        campaigns = [make_campaign(s), make_campaign(s)]
        if endpoint:
            s.add(WebhookEndpoint(url="https://crm.example.com/hooks", secret="whsec_x"))
        ids = []
        for n in range(calls):
            campaign = campaigns[n % 2]
            progress = make_recipient(s, campaign, phone=f"+1213555{n:04d}")
            ids.append(make_attempt(s, campaign=campaign, progress=progress, sent_at=T0).id)
        s.commit()
    items = [Incoming(aid, ev, 0.0) for n, aid in enumerate(ids) for ev in _call_events(aid, n % 3)]
    leases = CountingLeases(_leases(clock, ids))
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        with Session(engine) as s, s.begin():
            result = persist_batch(s, "fs1", items, leases=cast(LeaseBackend, leases), clock=clock)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    ended = [aid for n, aid in enumerate(ids) if n % 3 == 2]
    assert result.stored == len(items)
    assert result.finalised == len(ended)
    states = {aid: row[0] for aid, row in zip(ids, _attempt_rows(engine, ids), strict=True)}
    assert [states[aid] for aid in ids] == [
        ("originating", "answered", "ended")[n % 3] for n in range(calls)
    ]
    assert leases.calls == Counter({"release_many": 1, "extend_many": 1})
    return len(seen), result


def test_persist_batch_statements_do_not_grow_with_attempts(
    engine: Engine, clock: FrozenClock
) -> None:
    few, _ = _statements_of_a_batch(engine, clock, 6)
    many, result = _statements_of_a_batch(engine, clock, 60)
    assert few == many
    # select and lock, insert, facts, moves, ends, recipients: select and update, the active
    # webhook endpoints (none) (SQLite: and its BEGIN IMMEDIATE)
    assert many <= (9 if engine.dialect.name == "sqlite" else 8)
    assert len(result.activity) == 20  # the answered ones are up now


def test_persist_batch_writes_the_webhook_outbox_in_statements_that_do_not_grow(
    engine: Engine, clock: FrozenClock
) -> None:
    """With an endpoint: the calls' details and the delivery rows, two statements more, for
    6 calls or 60; one row per emitted event."""
    few, _ = _statements_of_a_batch(engine, clock, 6, endpoint=True)
    with engine.begin() as conn:
        conn.execute(sa.delete(WebhookDelivery))
        conn.execute(sa.delete(WebhookEndpoint))
    many, result = _statements_of_a_batch(engine, clock, 60, endpoint=True)
    assert few == many
    # and the calls, their campaigns (config read once per change), the delivery rows
    assert many <= (12 if engine.dialect.name == "sqlite" else 11)
    with engine.connect() as conn:
        written = conn.execute(
            sa.select(WebhookDelivery.attempt_id, WebhookDelivery.event_type)
        ).all()
    expected = {(aid, name) for aid, names in result.emitted for name in names}
    assert len(expected) >= 60  # every call was initiated at least
    assert set(written) == expected
    assert len(written) == len(expected)


def test_two_batches_one_winner_per_attempt(engine: Engine, clock: FrozenClock) -> None:
    """The second batch waits for the first one's locks (SQLite: its write lock), then sees
    what it ended: the decisions made in Python are made on what is committed."""
    ids, progress = _build(engine, [Spec("run", "no_answer")] * 3)
    shared, first_only, second_only = ids
    first, second = Session(engine), Session(engine)
    results: dict[str, list[uuid.UUID]] = {}
    try:
        results["first"] = finalise_attempts(
            first,
            [
                AttemptEnd(shared, "no_answer", "NO_ANSWER", T0),
                AttemptEnd(first_only, "no_answer", "NO_ANSWER", T0),
            ],
            by="consumer:fs1",
            leases=None,
            clock=clock,
        )

        def race() -> None:
            results["second"] = finalise_attempts(
                second,
                [
                    AttemptEnd(shared, "busy", "USER_BUSY", T0),
                    AttemptEnd(second_only, "busy", "USER_BUSY", T0),
                ],
                by="sweeper",
                leases=None,
                clock=clock,
            )
            second.commit()

        loser = threading.Thread(target=race)
        loser.start()
        loser.join(0.3)
        assert loser.is_alive()  # waiting on the first one's locks
        first.commit()
        loser.join(10)
        assert not loser.is_alive()
    finally:
        first.close()
        second.close()
    assert results == {"first": [shared, first_only], "second": [second_only]}
    rows = _attempt_rows(engine, ids)
    assert [row[1] for row in rows] == ["no_answer", "no_answer", "busy"]
    shared_progress = _recipient_rows(engine, [progress[0]])[0]
    assert (shared_progress or ())[:4] == ("pending", 1, None, T0 + timedelta(seconds=600))


def test_stored_payloads_are_the_events_whether_or_not_their_json_text_is_kept(
    engine: Engine, clock: FrozenClock
) -> None:
    """PostgreSQL takes an event's own JSON text as its payload; SQLite and events without
    a usable text get the headers encoded: the stored payload is the same either way."""
    ids, _ = _build(engine, [Spec(None, "completed")])
    aid = ids[0]
    micros = str(int(T0.timestamp() * 1_000_000))
    common = {"Core-UUID": CORE, "Event-Date-Timestamp": micros, "Job-UUID": str(aid),
              "Job-Command": "originate"}  # fmt: skip
    texts = [
        json.dumps({"Event-Name": "BACKGROUND_JOB", **common, "Event-Sequence": "9001",
                    "Job-Command-Arg": "{a=1,b='x y'}sofia/gw/1 &park", "_body": "+OK\n"}),
        # an array header: the Event holds ARRAY::…, so this one is encoded again
        json.dumps({"Event-Name": "BACKGROUND_JOB", **common, "Event-Sequence": "9002",
                    "Extra": ["1", "2"], "_body": f"+OK {aid}\n"}),
    ]  # fmt: skip
    events = [parse_json(text.encode()) for text in texts]
    assert events[0].json_text is not None
    assert events[1].json_text is None
    with Session(engine) as s, s.begin():
        persist_batch(s, "fs1", [Incoming(aid, e, 0.0) for e in events], leases=None,
                      clock=clock)  # fmt: skip
    with Session(engine) as s:
        stored = dict(
            s.execute(
                sa.select(CallEvent.event_sequence, CallEvent.payload).where(
                    CallEvent.attempt_id == aid
                )
            ).all()
        )
    assert stored == {9001: event_payload(events[0]), 9002: event_payload(events[1])}


def test_an_opt_out_in_the_ivr_puts_the_number_on_the_dnc_list_at_once(
    engine: Engine, clock: FrozenClock
) -> None:
    ids, _ = _build(engine, [Spec("run", "completed"), Spec(None, "completed")])
    opted, other = ids
    with Session(engine) as s:
        number = s.get_one(CallAttempt, opted).to_number

    def opt_out() -> Event:
        return _event("CUSTOM", opted, T0, **{"Event-Subclass": "dialer::opt_out",
                                              "ivr_digit": "9"})  # fmt: skip

    with Session(engine) as s, s.begin():
        result = persist_batch(s, "fs1", [Incoming(opted, opt_out(), 0.0),
                                          *(Incoming(other, e, 0.0)
                                            for e in _call_events(other, 1))],
                               leases=None, clock=clock)  # fmt: skip
    assert result.opted_out == [number]
    with Session(engine) as s:
        rows = s.execute(sa.select(DncNumber.phone_e164, DncNumber.source, DncNumber.reason)).all()
    assert len(rows) == 1
    assert rows[0].phone_e164 == number
    assert rows[0].source == "opt_out"
    assert "pressed 9 in campaign" in (rows[0].reason or "")
    # the same callee again (another event, a later batch): still one entry, no error
    with Session(engine) as s, s.begin():
        again = persist_batch(s, "fs1", [Incoming(opted, opt_out(), 0.0)], leases=None,
                              clock=clock)  # fmt: skip
    assert again.opted_out == [number]
    with Session(engine) as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(DncNumber)) == 1
