"""What a scheduler round costs and what its shortcuts must not change: statements per round
that do not grow with the calls admitted, an idle round that asks little, completion without a
query every round, and a pause or a config change seen by the very next round."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine, event

from dialer.campaigns.service import pause_campaign
from dialer.clock import FrozenClock
from dialer.leases import MemoryLeases
from dialer.scheduler import loop, tick
from tests.engine.test_scheduler import (
    CAMPAIGNS,
    T0,
    Dispatcher,
    Ticker,
    add_attempt,
    add_recipients,
    attempts_of,
    finish_queued,
    make_campaign,
    settings,
)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


@pytest.fixture
def dispatcher() -> Dispatcher:
    return Dispatcher()


@pytest.fixture
def run(engine: Engine, clock: FrozenClock, dispatcher: Dispatcher) -> Ticker:
    backend = MemoryLeases()
    backend.restore([], clock.time())
    return Ticker(engine, clock, backend, dispatcher)


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_a_round_admitting_200_costs_no_more_statements_than_one_admitting_20(
    engine: Engine, run: Ticker, clock: FrozenClock
) -> None:
    small = make_campaign(engine, pacing={"max_channels": 10_000, "cps": 20})
    add_recipients(engine, small, 300)
    run(lookahead=0)  # warm: caches filled, first statements compiled
    finish_queued(engine)
    clock.advance(1)
    with statements(engine) as twenty:
        assert run(lookahead=0).campaigns[small].admitted == 20
    finish_queued(engine)
    with engine.begin() as conn:
        conn.execute(sa.update(CAMPAIGNS).values(status="paused"))
    large = make_campaign(engine, pacing={"max_channels": 10_000, "cps": 200})
    add_recipients(engine, large, 500)
    run(lookahead=0)
    finish_queued(engine)
    clock.advance(1)
    with statements(engine) as two_hundred:
        assert run(lookahead=0).campaigns[large].admitted == 200
    assert len(two_hundred) <= len(twenty), (twenty, two_hundred)
    if engine.dialect.name == "postgresql":
        # campaigns + occupancy, then the due batch and one admitting statement
        assert len(two_hundred) == 4, two_hundred


def test_an_idle_round_asks_little(
    engine: Engine, run: Ticker, clock: FrozenClock, dispatcher: Dispatcher
) -> None:
    """Every channel busy: the round reads the campaigns and what is queued or live, and
    neither re-dispatches nor looks for completion."""
    campaign = make_campaign(engine, pacing={"max_channels": 5, "cps": 100})
    add_recipients(engine, campaign, 20)
    assert run().campaigns[campaign].admitted == 5
    calls = list(dispatcher.calls)
    for _ in range(3):
        clock.advance(0.2)
        with statements(engine) as seen:
            report = run(tick_seconds=0.2)
        assert report.admitted == 0
        assert not report.completed
        assert len(seen) == 2, seen
    assert dispatcher.calls == calls


def test_a_campaign_with_nothing_left_completes_at_the_next_round(
    engine: Engine, run: Ticker, clock: FrozenClock
) -> None:
    campaign = make_campaign(engine)
    add_recipients(engine, campaign, 3)
    assert run().campaigns[campaign].admitted == 3
    clock.advance(0.2)
    assert run(tick_seconds=0.2).completed == []  # three calls queued
    finish_queued(engine)
    clock.advance(0.2)
    assert run(tick_seconds=0.2).completed == [campaign]


def test_completion_is_asked_again_within_a_second_while_the_answer_is_no(
    engine: Engine, run: Ticker, clock: FrozenClock
) -> None:
    """Nothing live, but a recipient waits for its window (the answer is no): asked once, not
    again every round; once done it completes within a second of clock time, or of wall time
    when the clock does not move."""
    campaign = make_campaign(engine)
    (waiting,) = add_recipients(
        engine, campaign, people=[("+13105550100", ("America/Los_Angeles",))]
    )
    assert run().campaigns[campaign].blocked == 1  # 07:00 in Los Angeles: at 09:00
    asked: list[int] = []
    original = loop._complete

    def complete(*args: Any) -> bool:
        asked.append(args[1])
        return original(*args)

    first = time.monotonic()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(loop, "_complete", complete)
        for _ in range(4):
            clock.advance(0.2)
            assert run(tick_seconds=0.2).completed == []
        if time.monotonic() - first < 0.9:  # else a wall second passed: asking was due
            assert asked == []  # asked at the first round (in vain), then not for a second
        clock.advance(0.2)
        assert run(tick_seconds=0.2).completed == []
        assert asked[-1:] == [campaign]  # a clock second after the first
        with engine.begin() as conn:
            conn.execute(
                sa.text("UPDATE campaign_recipients SET status = 'done' WHERE id = :id"),
                {"id": waiting},
            )
        # the clock frozen: within a wall second
        started = time.monotonic()
        completed: list[int] = []
        while not completed and time.monotonic() - started < 3:
            completed = run(tick_seconds=0.2).completed
            time.sleep(0.05)
        assert completed == [campaign]
        assert time.monotonic() - started < loop.COMPLETION_SECONDS + 0.5


def test_a_pause_stops_admission_in_the_same_round(engine: Engine, clock: FrozenClock) -> None:
    """The first campaign's dispatch pauses the other between the round's listing and the
    other's admission: the other admits nothing."""
    campaigns = [make_campaign(engine), make_campaign(engine)]
    for campaign in campaigns:
        add_recipients(engine, campaign, 5)
    backend = MemoryLeases()
    backend.restore([], clock.time())
    sent: list[Sequence[str]] = []

    def dispatch(ids: Sequence[str]) -> None:
        if not sent:
            first = {a.campaign_id for a in attempts_of(engine)}
            for other in set(campaigns) - first:
                pause_campaign(engine, other, clock=clock)
        sent.append(ids)

    report = tick(
        engine,
        leases=backend,
        dispatch=dispatch,
        settings=settings(),
        clock=clock,
        pending_gauge=False,
    )
    assert report.admitted == 5
    assert len({a.campaign_id for a in attempts_of(engine)}) == 1


def test_a_paused_campaign_is_not_admitted_at_the_next_round(
    engine: Engine, run: Ticker, clock: FrozenClock
) -> None:
    campaign = make_campaign(engine, pacing={"max_channels": 100, "cps": 2})
    add_recipients(engine, campaign, 20)
    assert run(lookahead=0).campaigns[campaign].admitted == 2
    pause_campaign(engine, campaign, clock=clock)
    finish_queued(engine)
    clock.advance(1)
    assert run(lookahead=0).admitted == 0


def test_a_changed_config_is_used_at_the_next_round(
    engine: Engine, run: Ticker, clock: FrozenClock
) -> None:
    campaign = make_campaign(engine, pacing={"max_channels": 100, "cps": 2})
    add_recipients(engine, campaign, 50)
    assert run(lookahead=0).campaigns[campaign].admitted == 2
    with engine.begin() as conn:
        config = conn.execute(
            sa.select(CAMPAIGNS.c.config).where(CAMPAIGNS.c.id == campaign)
        ).scalar_one()
        config["pacing"]["cps"] = 7
        conn.execute(sa.update(CAMPAIGNS).where(CAMPAIGNS.c.id == campaign).values(config=config))
    finish_queued(engine)
    clock.advance(1)
    assert run(lookahead=0).campaigns[campaign].admitted == 7


def test_a_single_call_is_re_dispatched_without_any_campaign(
    engine: Engine, run: Ticker, dispatcher: Dispatcher
) -> None:
    single = add_attempt(engine, None)
    report = run()
    assert report.redispatched_single == 1
    assert dispatcher.ids == [single]


@pytest.mark.postgres
def test_a_cancel_holding_the_campaign_row_is_waited_for_before_any_recipient_is_locked(
    pg_engine: Engine,
) -> None:
    """The cancel updates the campaign, then its pending recipients: the admission must wait
    for the campaign row before it locks a recipient (else they deadlock), then see the
    cancel and take nothing."""
    from dialer.scheduler.admission import due_query

    campaign = make_campaign(pg_engine)
    add_recipients(pg_engine, campaign, 10)
    compiled = due_query("postgresql", campaign, T0, 20).compile(dialect=pg_engine.dialect)
    rows: list[Any] = []
    errors: list[Exception] = []
    with pg_engine.connect() as cancel:
        cancel.begin()
        # below deadlock_timeout (1 s): blocked by a recipient lock, it raises before the
        # deadlock detector would end the admission
        cancel.exec_driver_sql("SET LOCAL lock_timeout = '500ms'")
        cancel.execute(
            sa.update(CAMPAIGNS).where(CAMPAIGNS.c.id == campaign).values(status="cancelled")
        )

        def admit() -> None:
            try:
                with pg_engine.begin() as conn:
                    rows.extend(conn.exec_driver_sql(str(compiled), compiled.params))
            except Exception as exc:
                errors.append(exc)

        admission = threading.Thread(target=admit)
        admission.start()
        time.sleep(0.5)  # the admission is now waiting for the campaign row
        assert admission.is_alive()
        cancel.exec_driver_sql(
            "UPDATE campaign_recipients SET status = 'cancelled' "
            f"WHERE campaign_id = {campaign} AND status = 'pending'"
        )  # not blocked by a recipient lock (lock_timeout would raise)
        cancel.commit()
        admission.join(10)
    assert not admission.is_alive()
    assert errors == []
    assert rows == []
