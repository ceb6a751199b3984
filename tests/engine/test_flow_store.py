"""The call flow's columns as ``persist_batch`` stores them when a call's events come in
several batches (PostgreSQL and SQLite): the stored flow events are folded again with the new
ones, stages are emitted once, late details merge into an ended row, and ``ai`` is merged."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from dialer.clock import FrozenClock
from dialer.consumer.store import BatchResult, Incoming, persist_batch
from dialer.db.models import CallAttempt
from dialer.esl.events import event_from_mapping
from dialer.lifecycle import (
    AMD_RESULT,
    ANSWERED,
    CALL_INITIATED,
    COMPLETED,
    IVR_COMPLETED,
    QUEUE_JOINED,
)
from tests.engine import test_flow_captured as shapes
from tests.engine.factories import make_attempt, make_campaign, make_recipient

Mapping = dict[str, str]


class Call:
    """One attempt in the database and its events, on a switch of its own (Core-UUID)."""

    def __init__(self, engine: Engine, **columns: Any) -> None:
        self.engine = engine
        self.core = str(uuid.uuid4())
        self.clock = FrozenClock(datetime(2026, 11, 21, 12, 0, tzinfo=UTC))
        with Session(engine, expire_on_commit=False) as s:
            campaign = make_campaign(s)
            progress = make_recipient(s, campaign, phone="+12125550301")
            row = make_attempt(s, campaign=campaign, progress=progress)
            for name, value in columns.items():
                setattr(row, name, value)
            s.commit()
        self.id = row.id

    def batch(self, events: Iterable[Mapping]) -> BatchResult:
        items = []
        for mapping in events:
            headers = {k: v for k, v in mapping.items() if k != "_body"}
            headers["Core-UUID"] = self.core
            event = event_from_mapping(headers, mapping.get("_body", ""))
            items.append(Incoming(self.id, event, 0.0))
        with Session(self.engine) as s, s.begin():
            return persist_batch(s, "fs1", items, leases=None, clock=self.clock)

    def emitted(self, result: BatchResult) -> list[str]:
        return [name for aid, names in result.emitted if aid == self.id for name in names]

    def row(self) -> CallAttempt:
        with Session(self.engine) as s:
            found = s.get(CallAttempt, self.id)
            assert found is not None
            s.expunge(found)
            return found


def _split(events: list[Mapping], *cuts: int) -> list[list[Mapping]]:
    bounds = [0, *cuts, len(events)]
    return [events[a:b] for a, b in itertools.pairwise(bounds)]


def test_a_stage_in_one_batch_and_the_end_in_another(engine: Engine) -> None:
    """The opt-out is in no column: the end's batch folds the stored flow events again."""
    call = Call(engine)
    out = shapes.custom("dialer::opt_out", 7.1, {"dialer_attempt_id": "x", "ivr_digit": "9"})
    events = shapes.call(shapes.ivr_round(7.0, "9", "success"), out,
                         end=shapes.hangup(9.0, ivr_digit="9"))
    first, second = _split(events, len(events) - 1)
    assert call.emitted(call.batch(first)) == [
        CALL_INITIATED, ANSWERED, AMD_RESULT, IVR_COMPLETED
    ]
    assert call.emitted(call.batch(second)) == [COMPLETED]  # each stage once
    row = call.row()
    assert (row.state, row.outcome, row.ivr_digit, row.ivr_result, row.amd_result) == (
        "ended", "opted_out", "9", "digit_pressed", "human"
    )


def test_ivr_rounds_in_several_batches_are_counted_once_each(engine: Engine) -> None:
    call = Call(engine)
    replay = shapes.ivr_round(7.0, "2", "success")
    timeout = shapes.ivr_round(14.0, "", "failure")
    end = shapes.hangup(15.0, ivr_digit="", read_result="failure", current_application="hangup")
    events = shapes.call(replay, timeout, end=end)
    for part in _split(events, 4, 5):
        call.batch(part)
    call.batch([replay])  # a replayed event is stored once and changes nothing
    row = call.row()
    assert (row.ivr_attempts, row.ivr_result, row.outcome) == (2, "timeout", "ivr_timeout")


def test_a_late_member_queue_end_merges_into_the_ended_row(engine: Engine) -> None:
    call = Call(engine)
    events = shapes._queue_call(None, reason="BREAK_OUT")
    late = next(e for e in events if e.get("CC-Action") == "member-queue-end")
    early = [e for e in events if e is not late]
    result = call.batch(early)
    assert call.emitted(result)[-2:] == [QUEUE_JOINED, COMPLETED]
    row = call.row()
    assert (row.state, row.outcome, row.queue_result) == ("ended", "queue_hangup", "caller_hangup")
    assert row.queue_wait_seconds is not None
    assert abs(row.queue_wait_seconds - 4.4) < 1e-6
    ended_at, changed = row.ended_at, row.state_changed_at
    result = call.batch([late])
    assert (result.stored, call.emitted(result)) == (1, [])
    row = call.row()
    assert row.queue_wait_seconds == 5.0  # CC-Member-Leaving-Time - CC-Member-Joined-Time
    assert (row.outcome, row.ended_at, row.state_changed_at) == ("queue_hangup", ended_at, changed)


def test_the_ai_document_is_merged_not_replaced(engine: Engine) -> None:
    call = Call(engine, ai={"toolCalls": [{"name": "lookup"}]})
    target = "sofia/gateway/ai/agent-7"
    bridged = shapes.hangup(30.0, bridge_uepoch=str(shapes._T0 + 8_000_000),
                            originate_disposition="SUCCESS")
    events = shapes.call(shapes.ivr_round(7.0, "1", "success"),
                         shapes._handoff("ai_agent", target), end=bridged)
    first, second = _split(events, len(events) - 1)
    call.batch(first)
    assert call.row().ai == {"toolCalls": [{"name": "lookup"}], "agentId": target}
    # another part of the product writes its key meanwhile
    with Session(engine) as s, s.begin():
        row = s.get(CallAttempt, call.id)
        assert row is not None
        row.ai = {**(row.ai or {}), "summary": "asked for a callback"}
    call.batch(second)
    row = call.row()
    assert (row.outcome, row.handoff_type) == ("ai_completed", "ai_agent")
    assert row.ai == {"toolCalls": [{"name": "lookup"}], "summary": "asked for a callback",
                      "agentId": target, "endReason": "NORMAL_CLEARING"}


def test_an_ai_document_without_other_keys(engine: Engine) -> None:
    call = Call(engine)
    events = shapes.call(shapes.ivr_round(7.0, "1", "success"),
                         shapes._handoff("ai_agent", "sip:bot"),
                         end=shapes.hangup(9.0, bridge_uepoch="0",
                                           originate_disposition="USER_BUSY"))
    call.batch(events)
    row = call.row()
    assert (row.outcome, row.ai) == ("completed", {"agentId": "sip:bot", "endReason": "USER_BUSY"})
    with Session(engine) as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(CallAttempt)) == 1


def test_a_call_that_ended_unseen_takes_its_outcome_from_its_stored_flow_events(
    engine: Engine,
) -> None:
    """The ESL connection dropped after the opt-out and the hangup was never seen: the
    reconcile (the switch no longer has the call) folds the stored events, so the call is
    ``opted_out`` with its IVR columns, not a bare ``completed``."""
    from dialer.consumer.store import RECONCILE_ERROR, reconcile_node

    call = Call(engine, fs_node="fs1", originate_sent_at=datetime(2026, 11, 21, 11, 0, tzinfo=UTC))
    out = shapes.custom("dialer::opt_out", 7.1, {"dialer_attempt_id": "x", "ivr_digit": "9"})
    events = shapes.call(shapes.ivr_round(7.0, "9", "success"), out,
                         end=shapes.hangup(9.0, ivr_digit="9"))  # fmt: skip
    call.batch(events[:-1])  # everything but the hangup
    assert call.row().state == "answered"
    with Session(engine) as s, s.begin():
        result = reconcile_node(s, "fs1", [], leases=None, clock=call.clock, min_age=0)
    assert result.finalised == 1
    row = call.row()
    assert (row.state, row.outcome, row.hangup_cause, row.error) == (
        "ended", "opted_out", "UNKNOWN", RECONCILE_ERROR
    )
    assert (row.ivr_digit, row.ivr_result, row.amd_result) == ("9", "digit_pressed", "human")
