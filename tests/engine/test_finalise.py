"""finalise_attempt and mark_attempt on PostgreSQL and SQLite, at frozen instants."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from dialer.attempts import finalise_attempt, mark_attempt
from dialer.clock import FrozenClock
from dialer.db.models import CallAttempt, CampaignRecipient
from dialer.leases import Granted, MemoryLeases, Scope
from tests.engine.factories import make_attempt, make_campaign, make_recipient

# Tuesday 2 June 2026, 10:00 in New York (EDT): inside the default 09:00-20:00 window.
T0 = datetime(2026, 6, 2, 14, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


def _setup(
    engine: Engine, *, attempts: int = 1, status: str = "running", **config: object
) -> tuple[uuid.UUID, int]:
    with Session(engine, expire_on_commit=False) as s:
        campaign = make_campaign(s, status=status, **config)
        progress = make_recipient(s, campaign, attempts=attempts)
        attempt = make_attempt(s, campaign=campaign, progress=progress, sent_at=T0)
        s.commit()
        return attempt.id, progress.id


def _end(
    engine: Engine,
    aid: uuid.UUID,
    clock: FrozenClock,
    outcome: str,
    *,
    leases: MemoryLeases | None = None,
    ended_at: datetime = T0,
    **kw: Any,
) -> bool:
    with Session(engine) as s:
        won = finalise_attempt(
            s, aid, outcome=outcome, hangup_cause=kw.pop("cause", "NORMAL_CLEARING"),
            ended_at=ended_at, by="consumer:fs1", leases=leases, clock=clock, **kw,
        )
        s.commit()
        return won


def _progress(engine: Engine, pid: int) -> CampaignRecipient:
    with Session(engine) as s:
        found = s.get(CampaignRecipient, pid)
        assert found is not None
        s.expunge(found)
        return found


def _attempt(engine: Engine, aid: uuid.UUID) -> CallAttempt:
    with Session(engine) as s:
        found = s.get(CallAttempt, aid)
        assert found is not None
        s.expunge(found)
        return found


def test_two_finalisers_one_winner_retry_applied_once(engine: Engine, clock: FrozenClock) -> None:
    aid, pid = _setup(engine)
    first, second = Session(engine), Session(engine)
    results: dict[str, bool] = {}
    try:
        results["first"] = finalise_attempt(
            first, aid, outcome="no_answer", hangup_cause="NO_ANSWER", ended_at=T0,
            by="consumer:fs1", leases=None, clock=clock,
        )

        def race() -> None:
            results["second"] = finalise_attempt(
                second, aid, outcome="busy", hangup_cause="USER_BUSY",
                ended_at=T0 + timedelta(seconds=5), by="sweeper", leases=None, clock=clock,
            )
            second.commit()

        loser = threading.Thread(target=race)
        loser.start()
        loser.join(0.3)  # it waits on the first one's row lock
        first.commit()
        loser.join(10)
        assert not loser.is_alive()
    finally:
        first.close()
        second.close()
    assert results == {"first": True, "second": False}
    attempt = _attempt(engine, aid)
    assert (attempt.state, attempt.outcome, attempt.claimed_by) == (
        "ended", "no_answer", "consumer:fs1"
    )
    progress = _progress(engine, pid)
    assert progress.status == "pending"
    assert progress.attempts == 1
    assert progress.next_attempt_at == T0 + timedelta(seconds=600)
    # and a third, later try changes nothing
    assert not _end(engine, aid, clock, "failed")
    assert _progress(engine, pid).next_attempt_at == T0 + timedelta(seconds=600)


@pytest.mark.parametrize(
    ("outcome", "attempts", "delay"),
    [
        ("no_answer", 1, 600),
        ("no_answer", 2, 1200),  # backoff 2: 600 * 2 ** (2 - 1)
        ("busy", 1, 300),
        ("failed", 1, 60),
    ],
)
def test_retry_delay_and_backoff(
    engine: Engine, clock: FrozenClock, outcome: str, attempts: int, delay: int
) -> None:
    aid, pid = _setup(engine, attempts=attempts)
    clock.advance(3)
    ended = T0 + timedelta(seconds=2)
    assert _end(engine, aid, clock, outcome, ended_at=ended)
    progress = _progress(engine, pid)
    assert progress.status == "pending"
    assert progress.final_outcome is None
    assert progress.blocked_reason is None
    assert progress.next_attempt_at == ended + timedelta(seconds=delay)
    assert progress.updated_at == clock.now()
    attempt = _attempt(engine, aid)
    assert attempt.state_changed_at == clock.now()
    assert attempt.ended_at == ended


@pytest.mark.parametrize(("outcome", "attempts"), [("no_answer", 3), ("busy", 2), ("failed", 2)])
def test_max_attempts_reached_is_done(
    engine: Engine, clock: FrozenClock, outcome: str, attempts: int
) -> None:
    aid, pid = _setup(engine, attempts=attempts)
    assert _end(engine, aid, clock, outcome)
    progress = _progress(engine, pid)
    assert (progress.status, progress.final_outcome, progress.next_attempt_at) == (
        "done", outcome, None
    )


@pytest.mark.parametrize("outcome", ["invalid_number", "completed", "amd_machine"])
def test_outcomes_without_rule_are_done(engine: Engine, clock: FrozenClock, outcome: str) -> None:
    aid, pid = _setup(engine)
    assert _end(engine, aid, clock, outcome, cause="UNALLOCATED_NUMBER")
    progress = _progress(engine, pid)
    assert (progress.status, progress.final_outcome) == ("done", outcome)


def test_retry_lands_in_next_window(engine: Engine, clock: FrozenClock) -> None:
    # ended 19:55 New York; +600 s = 20:05, past the 20:00 close → 09:00 next day (13:00 UTC)
    ended = datetime(2026, 6, 2, 23, 55, tzinfo=UTC)
    clock.set(ended)
    aid, pid = _setup(engine)
    assert _end(engine, aid, clock, "no_answer", ended_at=ended)
    progress = _progress(engine, pid)
    assert progress.status == "pending"
    assert progress.next_attempt_at == datetime(2026, 6, 3, 13, 0, tzinfo=UTC)


def test_no_window_left_is_skipped(engine: Engine, clock: FrozenClock) -> None:
    aid, pid = _setup(engine, schedule={"end": "2026-06-02T14:05:00Z"})
    assert _end(engine, aid, clock, "no_answer")
    progress = _progress(engine, pid)
    assert (progress.status, progress.final_outcome, progress.next_attempt_at) == (
        "skipped", "no_window", None
    )


def test_cancelled_campaign_cancels_the_retry(engine: Engine, clock: FrozenClock) -> None:
    aid, pid = _setup(engine, status="cancelled")
    assert _end(engine, aid, clock, "no_answer")
    assert _progress(engine, pid).status == "cancelled"
    # a final outcome is still final
    aid2, pid2 = _setup(engine, status="cancelled")
    assert _end(engine, aid2, clock, "completed")
    progress = _progress(engine, pid2)
    assert (progress.status, progress.final_outcome) == ("done", "completed")


def test_single_call_just_ends(engine: Engine, clock: FrozenClock) -> None:
    with Session(engine) as s:
        aid = make_attempt(s, sent_at=T0).id
        s.commit()
    answered = T0 + timedelta(seconds=4)
    assert _end(engine, aid, clock, "completed", answered_at=answered, billsec=12,
                ended_at=T0 + timedelta(seconds=16))
    attempt = _attempt(engine, aid)
    assert (attempt.state, attempt.outcome, attempt.billsec, attempt.answered_at) == (
        "ended", "completed", 12, answered
    )


def test_lease_released_by_the_winner(engine: Engine, clock: FrozenClock) -> None:
    aid, _pid = _setup(engine)
    leases = MemoryLeases()
    leases.restore([], clock.time())
    scope = Scope("campaign", "1", 5)
    assert isinstance(leases.acquire(str(aid), [scope], 90, clock.time()), Granted)
    assert _end(engine, aid, clock, "completed", leases=leases)
    assert leases.count(scope, clock.time()) == 0
    # a second finalisation loses and leaves the leases alone
    assert not _end(engine, aid, clock, "completed", leases=leases)


def test_error_and_timings_written(engine: Engine, clock: FrozenClock) -> None:
    aid, _ = _setup(engine)
    assert _end(engine, aid, clock, "failed", cause="UNKNOWN", error="ended while away")
    attempt = _attempt(engine, aid)
    assert (attempt.hangup_cause, attempt.error, attempt.answered_at) == (
        "UNKNOWN", "ended while away", None
    )


def test_mark_attempt_moves_forward_only(engine: Engine, clock: FrozenClock) -> None:
    with Session(engine) as s:
        aid = make_attempt(s, state="queued").id
        s.commit()

    def mark(state: str, **columns: object) -> bool:
        with Session(engine) as s:
            moved = mark_attempt(s, aid, state, by="consumer:fs1", at=clock.now(), **columns)
            s.commit()
            return moved

    assert mark("originating", fs_node="fs2")
    assert not mark("originating")
    assert mark("answered", answered_at=T0)
    assert not mark("ringing")  # never backwards
    attempt = _attempt(engine, aid)
    assert (attempt.state, attempt.fs_node, attempt.answered_at) == ("answered", "fs2", T0)
    assert _end(engine, aid, clock, "completed")
    assert not mark("answered")
    assert _attempt(engine, aid).state == "ended"
    with pytest.raises(ValueError, match="finalise_attempt"):
        mark("ended")
