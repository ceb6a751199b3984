"""The scheduler tick against real PostgreSQL and SQLite, at frozen instants: capacity (channels
with leases held, cps budget), DNC, unknown zones, closed windows, re-dispatch, dispatch
failures, scheduled and ended campaigns, fairness between campaigns, idempotency."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from dialer import metrics
from dialer.clock import FrozenClock
from dialer.config import Settings
from dialer.db.models import CallAttempt, Campaign, CampaignRecipient, ContactList, Recipient
from dialer.leases import MemoryLeases, Scope
from dialer.scheduler import TickReport, run_scheduler, tick
from dialer.scheduler.capacity import pacing_budget, rotated, water_fill

# Tuesday 2026-06-02 14:00 UTC = 10:00 in New York, 07:00 in Los Angeles.
T0 = datetime(2026, 6, 2, 14, 0, tzinfo=UTC)
NY = ("America/New_York",)
LA = ("America/Los_Angeles",)

CR = cast(sa.Table, CampaignRecipient.__table__)
ATTEMPTS = cast(sa.Table, CallAttempt.__table__)
CAMPAIGNS = cast(sa.Table, Campaign.__table__)
LISTS = cast(sa.Table, ContactList.__table__)
RECIPIENTS = cast(sa.Table, Recipient.__table__)


# -- rows -----------------------------------------------------------------------------------


def config(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "scheduler test",
        "type": "broadcast",
        "lists": [1],
        "caller_id": {"number": "+12125550100", "name": "Acme"},
        "pacing": {"max_channels": 100, "cps": 100},
        "ring_timeout": 25,
        "max_duration": 600,
        "metadata": {"companyId": "acme", "batch": 7},
    }
    data.update(overrides)
    return data


def make_campaign(engine: Engine, *, status: str = "running", **overrides: Any) -> int:
    with engine.begin() as conn:
        return int(
            conn.execute(
                sa.insert(CAMPAIGNS)
                .values(
                    name="scheduler test",
                    type="broadcast",
                    status=status,
                    config=config(**overrides),
                    created_at=T0,
                    updated_at=T0,
                )
                .returning(CAMPAIGNS.c.id)
            ).scalar_one()
        )


_numbers = iter(range(10**6))


def phone() -> str:
    return f"+1212{5_000_000 + next(_numbers):07d}"


def add_recipients(
    engine: Engine,
    campaign_id: int,
    count: int = 0,
    *,
    people: Iterable[tuple[str, Sequence[str]]] = (),
    due: datetime = T0,
    attempts: int = 0,
) -> list[int]:
    """Recipients on a new list, pending in the campaign; their campaign_recipients ids."""
    rows = list(people) or [(phone(), NY) for _ in range(count)]
    with engine.begin() as conn:
        list_id = conn.execute(
            sa.insert(LISTS)
            .values(name=f"list-{uuid.uuid4().hex[:10]}", created_at=T0)
            .returning(LISTS.c.id)
        ).scalar_one()
        conn.execute(
            sa.insert(RECIPIENTS),
            [
                {
                    "list_id": list_id,
                    "phone_e164": number,
                    "timezones": list(zones),
                    "fields": {},
                    "row_no": i + 2,
                }
                for i, (number, zones) in enumerate(rows)
            ],
        )
        ids = conn.execute(
            sa.select(RECIPIENTS.c.id)
            .where(RECIPIENTS.c.list_id == list_id)
            .order_by(RECIPIENTS.c.row_no)
        ).scalars()
        conn.execute(
            sa.insert(CR),
            [
                {
                    "campaign_id": campaign_id,
                    "recipient_id": rid,
                    "status": "pending",
                    "attempts": attempts,
                    "next_attempt_at": due,
                }
                for rid in ids
            ],
        )
        return list(
            conn.execute(
                sa.select(CR.c.id)
                .join(RECIPIENTS, RECIPIENTS.c.id == CR.c.recipient_id)
                .where(RECIPIENTS.c.list_id == list_id)
                .order_by(RECIPIENTS.c.row_no)
            ).scalars()
        )


def recipient(engine: Engine, cr_id: int) -> Any:
    with engine.connect() as conn:
        return conn.execute(sa.select(CR).where(CR.c.id == cr_id)).one()


def attempts_of(engine: Engine, campaign_id: int | None = None) -> list[Any]:
    query = sa.select(ATTEMPTS).order_by(ATTEMPTS.c.created_at)
    if campaign_id is not None:
        query = query.where(ATTEMPTS.c.campaign_id == campaign_id)
    with engine.connect() as conn:
        return list(conn.execute(query))


def set_attempts(engine: Engine, campaign_id: int | None = None, **values: Any) -> None:
    query = sa.update(ATTEMPTS)
    if campaign_id is not None:
        query = query.where(ATTEMPTS.c.campaign_id == campaign_id)
    with engine.begin() as conn:
        conn.execute(query.values(**values))


def finish_queued(engine: Engine, campaign_id: int | None = None) -> int:
    """Every queued or live attempt ends (completed) and its recipient is done: the channels
    free up."""
    with engine.begin() as conn:
        query = sa.select(ATTEMPTS.c.id, ATTEMPTS.c.campaign_recipient_id).where(
            ATTEMPTS.c.state.in_(("queued", "originating", "ringing", "answered"))
        )
        if campaign_id is not None:
            query = query.where(ATTEMPTS.c.campaign_id == campaign_id)
        rows = list(conn.execute(query))
        for attempt_id, cr_id in rows:
            conn.execute(
                sa.update(ATTEMPTS)
                .where(ATTEMPTS.c.id == attempt_id)
                .values(state="ended", outcome="completed")
            )
            conn.execute(
                sa.update(CR)
                .where(CR.c.id == cr_id)
                .values(status="done", final_outcome="completed")
            )
    return len(rows)


def add_attempt(engine: Engine, campaign_id: int | None, **values: Any) -> str:
    attempt_id = uuid.uuid4()
    with engine.begin() as conn:
        conn.execute(
            sa.insert(ATTEMPTS).values(
                {
                    "id": attempt_id,
                    "campaign_id": campaign_id,
                    "state": "queued",
                    "to_number": "+12125550123",
                    "trunk": "default",
                    "state_changed_at": T0 - timedelta(seconds=1),
                    "created_at": T0 - timedelta(seconds=1),
                    **values,
                }
            )
        )
    return str(attempt_id)


class Dispatcher:
    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.fail = False

    def __call__(self, ids: Sequence[str]) -> None:
        if self.fail:
            raise ConnectionError("broker down")
        self.calls.append(list(ids))

    @property
    def ids(self) -> list[str]:
        return [i for call in self.calls for i in call]


def settings(
    *, trunks: list[dict[str, Any]] | None = None, nodes: str = "fs1=esl://127.0.0.1:8021"
) -> Settings:
    return Settings(fs_nodes=nodes, DIALER_TRUNKS=None if trunks is None else json.dumps(trunks))


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


@pytest.fixture
def leases(clock: FrozenClock) -> MemoryLeases:
    backend = MemoryLeases()
    backend.restore([], clock.time())
    return backend


@pytest.fixture
def dispatcher() -> Dispatcher:
    return Dispatcher()


class Ticker:
    def __init__(
        self, engine: Engine, clock: FrozenClock, leases: MemoryLeases, dispatcher: Dispatcher
    ) -> None:
        self.engine, self.clock, self.leases, self.dispatcher = engine, clock, leases, dispatcher
        self.settings = settings()

    def __call__(self, **options: Any) -> TickReport:
        return tick(
            self.engine,
            leases=self.leases,
            dispatch=self.dispatcher,
            settings=options.pop("settings", self.settings),
            clock=self.clock,
            pending_gauge=False,
            **options,
        )


@pytest.fixture
def run(engine: Engine, clock: FrozenClock, leases: MemoryLeases, dispatcher: Dispatcher) -> Ticker:
    return Ticker(engine, clock, leases, dispatcher)


# -- pure parts -------------------------------------------------------------------------------


def test_pacing_budget() -> None:
    assert pacing_budget(5, 1.0, 2, 0) == 7
    assert pacing_budget(5, 1.0, 2, 7) == 0
    assert pacing_budget(5, 1.0, 2, 100) == 0  # never negative
    assert pacing_budget(0.5, 1.0, 0, 0) == 1
    assert pacing_budget(2.5, 2.0, 0, 0) == 5  # no float noise past the integer


def test_water_fill_shares_equally_and_hands_on_unused_shares() -> None:
    pools = {"trunk": 20}
    both = {"a": ["trunk"], "b": ["trunk"]}
    assert water_fill({"a": 1000, "b": 1000}, both, pools, ["a", "b"]) == {"a": 10, "b": 10}
    assert water_fill({"a": 1000, "b": 3}, both, pools, ["a", "b"]) == {"a": 17, "b": 3}
    assert water_fill({"a": 0, "b": 50}, both, pools, ["a", "b"]) == {"a": 0, "b": 20}
    # a remainder goes one each in the given order, which the tick rotates
    three = {k: ["trunk"] for k in "abc"}
    assert water_fill(dict.fromkeys("abc", 99), three, {"trunk": 10}, ["b", "c", "a"]) == {
        "b": 4,
        "c": 3,
        "a": 3,
    }
    # separate pools do not limit each other; a campaign in none is limited by itself only
    split = {"a": ["t1"], "b": ["t2"], "c": []}
    assert water_fill({"a": 50, "b": 50, "c": 7}, split, {"t1": 5, "t2": 30}, ["a", "b", "c"]) == {
        "a": 5,
        "b": 30,
        "c": 7,
    }
    # two overlapping pools: max-min fair
    overlap = {"a": ["t1", "nodes"], "b": ["nodes"]}
    assert water_fill({"a": 50, "b": 50}, overlap, {"t1": 4, "nodes": 20}, ["a", "b"]) == {
        "a": 4,
        "b": 16,
    }


def test_rotated() -> None:
    assert rotated([1, 2, 3], 0) == [1, 2, 3]
    assert rotated([1, 2, 3], 4) == [2, 3, 1]
    assert rotated([], 5) == []


# -- admission ------------------------------------------------------------------------------


def test_admits_due_recipients_as_queued_attempts(
    engine: Engine, run: Ticker, dispatcher: Dispatcher
) -> None:
    campaign = make_campaign(engine, pacing={"max_channels": 100, "cps": 5})
    ids = add_recipients(engine, campaign, 20)
    report = run()
    assert report.campaigns[campaign].admitted == 7  # ceil(5 × 1 s) + lookahead 2
    attempts = attempts_of(engine, campaign)
    assert len(attempts) == 7
    assert dispatcher.calls == [[str(a.id) for a in attempts]] or sorted(dispatcher.ids) == sorted(
        str(a.id) for a in attempts
    )
    for dispatched in dispatcher.ids:
        assert dispatched == str(uuid.UUID(dispatched))  # canonical lowercase form
    first = attempts[0]
    assert first.state == "queued"
    assert first.attempt_no == 1
    assert first.dispatched_at == T0
    assert first.state_changed_at == T0
    assert first.trunk == "default"
    assert first.caller_id_number == "+12125550100"
    assert first.caller_id_name == "Acme"
    assert first.options == {
        "ring_timeout": 25,
        "max_duration": 600,
        "caller_id_name": "Acme",
        "variables": {"dialer_campaign_id": str(campaign)},
    }
    progress = recipient(engine, first.campaign_recipient_id)
    assert first.metadata == {
        "companyId": "acme",
        "batch": 7,
        "campaignId": str(campaign),
        "recipientId": str(progress.recipient_id),
    }
    assert progress.status == "active"
    assert progress.attempts == 1
    assert progress.blocked_reason is None
    # the earliest due first
    admitted = {a.campaign_recipient_id for a in attempts}
    assert len(admitted & set(ids)) == 7


def test_attempt_no_follows_previous_attempts(engine: Engine, run: Ticker) -> None:
    campaign = make_campaign(engine)
    (cr_id,) = add_recipients(engine, campaign, 1, attempts=2)
    run()
    (attempt,) = attempts_of(engine, campaign)
    assert attempt.attempt_no == 3
    assert recipient(engine, cr_id).attempts == 3


def claim_like_a_worker(
    engine: Engine, leases: MemoryLeases, clock: FrozenClock, campaign_id: int
) -> None:
    """What an originate worker does to the queued attempts: a lease in the campaign's
    scope first, then the claim (queued → originating)."""
    for attempt in attempts_of(engine, campaign_id):
        if attempt.state == "queued":
            scope = Scope("campaign", str(campaign_id), None)
            leases.acquire(str(attempt.id), [scope], 90, clock.time())
    set_attempts(engine, campaign_id, state="originating")


def test_cps_budget_per_tick(
    engine: Engine, run: Ticker, clock: FrozenClock, leases: MemoryLeases
) -> None:
    campaign = make_campaign(engine, pacing={"max_channels": 10, "cps": 5})
    add_recipients(engine, campaign, 40)
    assert run().campaigns[campaign].admitted == 7
    clock.advance(1)
    # still queued: they use up the budget (and the channels)
    assert run().campaigns[campaign].admitted == 0
    # a worker claimed them: the budget is back, the channels are 10 − 7 live
    claim_like_a_worker(engine, leases, clock, campaign)
    clock.advance(1)
    report = run()
    assert report.campaigns[campaign].admitted == 3
    assert report.campaigns[campaign].free_channels == 3
    assert report.campaigns[campaign].budget == 7
    # a longer tick has a larger budget
    finish_queued(engine)
    set_attempts(engine, campaign, state="ended", outcome="completed")
    leases.release_many([str(a.id) for a in attempts_of(engine, campaign)])  # the hangups
    clock.advance(1)
    assert run(tick_seconds=2.0, lookahead=0).campaigns[campaign].admitted == 10


def test_trunk_cps_is_shared_by_its_campaigns(engine: Engine, run: Ticker) -> None:
    trunks = [{"name": "carrier", "dial": "sofia/gateway/carrier/{number}", "cps": 4}]
    a = make_campaign(engine, trunk="carrier")
    b = make_campaign(engine, trunk="carrier")
    add_recipients(engine, a, 50)
    add_recipients(engine, b, 50)
    report = run(settings=settings(trunks=trunks))
    assert report.campaigns[a].admitted + report.campaigns[b].admitted == 6  # 4 + lookahead
    assert report.campaigns[a].admitted == report.campaigns[b].admitted == 3


def test_max_channels_respects_leases_held(
    engine: Engine, run: Ticker, leases: MemoryLeases, clock: FrozenClock
) -> None:
    campaign = make_campaign(engine, pacing={"max_channels": 10, "cps": 100})
    add_recipients(engine, campaign, 50)
    scope = Scope("campaign", str(campaign), 10)
    for i in range(8):
        leases.acquire(f"held-{i}", [scope], 300, clock.time())
    report = run()
    assert report.campaigns[campaign].free_channels == 2
    assert report.campaigns[campaign].admitted == 2
    clock.advance(1)
    assert run().campaigns[campaign].admitted == 0  # the 2 are queued
    # leases released: room again
    for i in range(8):
        leases.release(f"held-{i}")
    clock.advance(1)
    assert run().campaigns[campaign].admitted == 8


def test_trunk_and_node_limits_with_leases_held(
    engine: Engine, run: Ticker, leases: MemoryLeases, clock: FrozenClock
) -> None:
    trunks = [{"name": "carrier", "dial": "sofia/gateway/carrier/{number}", "max_channels": 5}]
    campaign = make_campaign(engine, trunk="carrier")
    add_recipients(engine, campaign, 50)
    now = clock.time()
    for i in range(4):
        leases.acquire(f"t-{i}", [Scope("trunk", "carrier", 5)], 300, now)
    limited = settings(
        trunks=trunks, nodes="fs1=esl://h1?max_channels=6 fs2=esl://h2?max_channels=2"
    )
    assert run(settings=limited).campaigns[campaign].admitted == 1
    finish_queued(engine)
    for i in range(4):
        leases.release(f"t-{i}")
    # nodes: 6 + 2 channels, fs1 has 5 up and fs2 has 2 up → 1 free
    for i in range(5):
        leases.acquire(f"n1-{i}", [Scope("node", "fs1", 6)], 300, now)
    for i in range(2):
        leases.acquire(f"n2-{i}", [Scope("node", "fs2", 2)], 300, now)
    clock.advance(1)
    report = run(settings=limited)
    assert report.campaigns[campaign].free_channels == 1
    assert report.campaigns[campaign].admitted == 1


def test_live_attempts_count_when_the_lease_backend_lost_its_state(
    engine: Engine, run: Ticker, leases: MemoryLeases
) -> None:
    """A lease store that lost its state counts nothing; the database's live calls count."""
    campaign = make_campaign(engine, pacing={"max_channels": 5, "cps": 100})
    add_recipients(engine, campaign, 20)
    for _ in range(4):
        add_attempt(engine, campaign, state="answered", fs_node="fs1")
    leases.reset()
    assert run().campaigns[campaign].admitted == 1


def test_calls_up_are_the_leases_while_the_store_is_whole(
    engine: Engine, run: Ticker, leases: MemoryLeases, clock: FrozenClock
) -> None:
    """The consumer frees a lease as the hangup arrives, before the attempt's end is stored:
    the channel is offered again at once, though the database still says answered."""
    campaign = make_campaign(engine, pacing={"max_channels": 5, "cps": 100})
    add_recipients(engine, campaign, 20)
    ids = [add_attempt(engine, campaign, state="answered", fs_node="fs1") for _ in range(4)]
    for attempt_id in ids:
        leases.acquire(attempt_id, [Scope("campaign", str(campaign), 5)], 90, clock.time())
    assert run().campaigns[campaign].admitted == 1
    leases.release_many(ids[:3])  # three hangups arrived; their batch is not stored yet
    clock.advance(1)
    assert run().campaigns[campaign].admitted == 3


def test_dnc_at_admission(engine: Engine, run: Ticker) -> None:
    campaign = make_campaign(engine)
    people = [(phone(), NY) for _ in range(5)]
    ids = add_recipients(engine, campaign, people=people)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO dnc_numbers (phone_e164, source, added_at) VALUES (:p, 'manual', :t)"
            ),
            [{"p": people[1][0], "t": T0}, {"p": people[3][0], "t": T0}],
        )
    before = metrics.RECIPIENTS_BLOCKED.labels("dnc")._value.get()
    report = run()
    assert report.campaigns[campaign].admitted == 3
    assert report.campaigns[campaign].skipped == {"dnc": 2}
    for index in (1, 3):
        row = recipient(engine, ids[index])
        assert (row.status, row.final_outcome, row.attempts) == ("skipped", "dnc", 0)
    assert {a.to_number for a in attempts_of(engine)} == {people[i][0] for i in (0, 2, 4)}
    assert metrics.RECIPIENTS_BLOCKED.labels("dnc")._value.get() == before + 2


def test_unknown_zone_is_skipped_and_counted(engine: Engine, run: Ticker) -> None:
    campaign = make_campaign(engine)
    ids = add_recipients(
        engine,
        campaign,
        people=[
            (phone(), ("Etc/Unknown",)),
            (phone(), ()),
            (phone(), ("Mars/Olympus",)),
            (phone(), NY),
        ],
    )
    before = metrics.RECIPIENTS_BLOCKED.labels("unknown_zone")._value.get()
    report = run()
    assert report.campaigns[campaign].skipped == {"unknown_zone": 3}
    assert report.campaigns[campaign].admitted == 1
    for cr_id in ids[:3]:
        row = recipient(engine, cr_id)
        assert (row.status, row.final_outcome) == ("skipped", "unknown_zone")
    assert metrics.RECIPIENTS_BLOCKED.labels("unknown_zone")._value.get() == before + 3


def test_outside_window_moves_to_the_next_open_instant(
    engine: Engine, run: Ticker, clock: FrozenClock
) -> None:
    campaign = make_campaign(engine)
    ny, la = add_recipients(engine, campaign, people=[(phone(), NY), (phone(), LA)])
    report = run()
    assert report.campaigns[campaign].admitted == 1
    assert report.campaigns[campaign].blocked == 1
    held = recipient(engine, la)
    assert held.status == "pending"
    assert held.blocked_reason == "outside_window"
    assert held.next_attempt_at == datetime(2026, 6, 2, 16, 0, tzinfo=UTC)  # 09:00 PDT
    assert recipient(engine, ny).status == "active"
    # not looked at again until then
    clock.set(datetime(2026, 6, 2, 15, 59, tzinfo=UTC))
    assert run().campaigns[campaign].blocked == 0
    clock.set(datetime(2026, 6, 2, 16, 0, tzinfo=UTC))
    assert run().campaigns[campaign].admitted == 1
    row = recipient(engine, la)
    assert (row.status, row.blocked_reason) == ("active", None)


def test_no_window_left_is_skipped(engine: Engine, run: Ticker, clock: FrozenClock) -> None:
    # the window of the LA recipient opens only after the campaign's end
    end = datetime(2026, 6, 2, 15, 0, tzinfo=UTC)
    campaign = make_campaign(engine, schedule={"end": end.isoformat()})
    ny, la = add_recipients(engine, campaign, people=[(phone(), NY), (phone(), LA)])
    report = run()
    assert report.campaigns[campaign].skipped == {"no_window": 1}
    assert (recipient(engine, la).status, recipient(engine, la).final_outcome) == (
        "skipped",
        "no_window",
    )
    assert recipient(engine, ny).status == "active"


# -- re-dispatch ----------------------------------------------------------------------------


def test_redispatch_of_undispatched_deferred_and_lost_attempts(
    engine: Engine, run: Ticker, clock: FrozenClock, dispatcher: Dispatcher
) -> None:
    campaign = make_campaign(engine)
    paused = make_campaign(engine, status="paused")
    never = add_attempt(engine, campaign)
    later = add_attempt(engine, campaign, not_before=T0 + timedelta(seconds=30))
    lost = add_attempt(engine, campaign, dispatched_at=T0 - timedelta(seconds=121))
    recent = add_attempt(engine, campaign, dispatched_at=T0 - timedelta(seconds=60))
    single = add_attempt(engine, None)
    add_attempt(engine, paused)
    add_attempt(engine, campaign, state="originating")
    report = run()
    assert sorted(dispatcher.ids) == sorted([never, lost, single])
    assert report.campaigns[campaign].redispatched == 2
    assert report.redispatched_single == 1
    assert report.redispatched == 3
    with engine.connect() as conn:
        marked = dict(conn.execute(sa.select(ATTEMPTS.c.id, ATTEMPTS.c.dispatched_at)).all())
    assert marked[uuid.UUID(never)] == T0
    assert marked[uuid.UUID(lost)] == T0
    assert marked[uuid.UUID(recent)] == T0 - timedelta(seconds=60)
    # again at once: nothing (all handed over just now)
    dispatcher.calls.clear()
    run()
    assert dispatcher.ids == []
    # after not_before and after the stale period
    clock.advance(61)
    run()
    assert sorted(dispatcher.ids) == sorted([later, recent])
    # a redispatch_after of our own
    dispatcher.calls.clear()
    clock.advance(10)
    run(redispatch_after=5)
    assert sorted(dispatcher.ids) == sorted([never, lost, single, later, recent])


def test_dispatch_raising_is_redispatched_next_tick(
    engine: Engine, run: Ticker, clock: FrozenClock, dispatcher: Dispatcher
) -> None:
    campaign = make_campaign(engine, pacing={"max_channels": 10, "cps": 1})
    add_recipients(engine, campaign, 10)
    dispatcher.fail = True
    report = run()
    assert report.campaigns[campaign].admitted == 3
    assert report.campaigns[campaign].dispatch_failed == 3
    attempts = attempts_of(engine, campaign)
    assert [a.dispatched_at for a in attempts] == [None] * 3
    dispatcher.fail = False
    clock.advance(1)
    report = run()
    assert sorted(dispatcher.ids) == sorted(str(a.id) for a in attempts)
    assert report.campaigns[campaign].redispatched == 3
    assert report.campaigns[campaign].admitted == 0  # still queued: the budget is used
    assert {a.dispatched_at for a in attempts_of(engine, campaign)} == {clock.now()}


# -- campaign lifecycle -----------------------------------------------------------------------


def test_scheduled_campaign_starts_when_its_start_passes(
    engine: Engine, run: Ticker, clock: FrozenClock
) -> None:
    start = T0 + timedelta(minutes=5)
    campaign = make_campaign(engine, status="scheduled", schedule={"start": start.isoformat()})
    add_recipients(engine, campaign, 3)
    report = run()
    assert report.started == []
    assert attempts_of(engine) == []
    clock.set(start)
    report = run()
    assert report.started == [campaign]
    assert report.campaigns[campaign].admitted == 3
    with engine.connect() as conn:
        status, started_at = conn.execute(
            sa.select(CAMPAIGNS.c.status, CAMPAIGNS.c.started_at).where(CAMPAIGNS.c.id == campaign)
        ).one()
    assert (status, started_at) == ("running", start)


def test_after_end_pending_recipients_are_skipped_then_the_campaign_completes(
    engine: Engine, run: Ticker, clock: FrozenClock
) -> None:
    end = T0 + timedelta(minutes=10)
    campaign = make_campaign(
        engine, schedule={"end": end.isoformat()}, pacing={"max_channels": 2, "cps": 100}
    )
    ids = add_recipients(engine, campaign, 5)
    assert run().campaigns[campaign].admitted == 2
    set_attempts(engine, campaign, state="ringing")  # on the switch
    clock.set(end)
    report = run()
    assert report.ended == [campaign]
    assert report.campaigns[campaign].skipped == {"after_end": 3}
    assert report.completed == []  # two calls are still up
    statuses = [recipient(engine, i).status for i in ids]
    assert sorted(statuses) == ["active", "active", "skipped", "skipped", "skipped"]
    assert {
        recipient(engine, i).final_outcome for i in ids if statuses[ids.index(i)] == "skipped"
    } == {"after_end"}
    finish_queued(engine)
    clock.advance(1)
    report = run()
    assert report.completed == [campaign]
    assert report.campaigns.get(campaign) is None or report.campaigns[campaign].admitted == 0
    with engine.connect() as conn:
        status, finished_at = conn.execute(
            sa.select(CAMPAIGNS.c.status, CAMPAIGNS.c.finished_at).where(CAMPAIGNS.c.id == campaign)
        ).one()
    assert status == "completed"
    assert finished_at == clock.now()


def test_paused_and_draft_campaigns_are_not_admitted(engine: Engine, run: Ticker) -> None:
    for status in ("paused", "draft", "completed", "cancelled"):
        add_recipients(engine, make_campaign(engine, status=status), 3)
    report = run()
    assert report.admitted == 0
    assert attempts_of(engine) == []


def test_invalid_config_is_reported_not_fatal(engine: Engine, run: Ticker) -> None:
    broken = make_campaign(engine)
    with engine.begin() as conn:
        conn.execute(
            sa.update(CAMPAIGNS).where(CAMPAIGNS.c.id == broken).values(config={"name": "x"})
        )
    unknown_trunk = make_campaign(engine, trunk="nowhere")
    fine = make_campaign(engine)
    for campaign in (broken, unknown_trunk, fine):
        add_recipients(engine, campaign, 2)
    report = run()
    assert report.campaigns[broken].error == "invalid config"
    assert "nowhere" in (report.campaigns[unknown_trunk].error or "")
    assert report.campaigns[fine].admitted == 2


# -- fairness and idempotency ---------------------------------------------------------------


def test_fair_share_of_a_shared_trunk(engine: Engine, run: Ticker, clock: FrozenClock) -> None:
    trunks = [{"name": "shared", "dial": "sofia/gateway/shared/{number}", "max_channels": 20}]
    shared = settings(trunks=trunks)
    big = make_campaign(engine, trunk="shared")
    small = make_campaign(engine, trunk="shared")
    add_recipients(engine, big, 10_000)
    add_recipients(engine, small, 50)
    for _ in range(5):
        report = run(settings=shared)
        assert report.campaigns[big].admitted == 10
        assert report.campaigns[small].admitted == 10
        assert finish_queued(engine) == 20
        clock.advance(1)
    # the small campaign is done: the big one gets the whole trunk
    report = run(settings=shared)
    assert report.campaigns[big].admitted == 20
    assert report.campaigns[small].admitted == 0
    assert report.completed == [small]


def test_unused_share_goes_to_the_others_in_the_same_tick(engine: Engine, run: Ticker) -> None:
    trunks = [{"name": "shared", "dial": "sofia/gateway/shared/{number}", "max_channels": 20}]
    big = make_campaign(engine, trunk="shared")
    small = make_campaign(engine, trunk="shared")
    add_recipients(engine, big, 100)
    # 3 callable now, 20 whose window is closed
    add_recipients(
        engine, small, people=[(phone(), NY) for _ in range(3)] + [(phone(), LA) for _ in range(20)]
    )
    report = run(settings=settings(trunks=trunks))
    assert report.campaigns[small].admitted == 3
    assert report.campaigns[small].blocked == 20
    assert report.campaigns[big].admitted == 17


def test_remainder_rotates_between_ticks(engine: Engine, run: Ticker, clock: FrozenClock) -> None:
    trunks = [{"name": "shared", "dial": "sofia/gateway/shared/{number}", "max_channels": 10}]
    shared = settings(trunks=trunks)
    campaigns = [make_campaign(engine, trunk="shared") for _ in range(3)]
    for campaign in campaigns:
        add_recipients(engine, campaign, 100)
    got: dict[int, int] = dict.fromkeys(campaigns, 0)
    for _ in range(3):
        report = run(settings=shared)
        shares = sorted(report.campaigns[c].admitted for c in campaigns)
        assert shares == [3, 3, 4]
        for campaign in campaigns:
            got[campaign] += report.campaigns[campaign].admitted
        finish_queued(engine)
        clock.advance(1)
    assert set(got.values()) == {10}


def test_tick_twice_admits_nothing_new(engine: Engine, run: Ticker, dispatcher: Dispatcher) -> None:
    campaign = make_campaign(engine, pacing={"max_channels": 5, "cps": 100})
    add_recipients(engine, campaign, 30)
    assert run().campaigns[campaign].admitted == 5
    before = attempts_of(engine)
    calls = list(dispatcher.calls)
    report = run()
    assert report.admitted == 0
    assert report.redispatched == 0
    assert not report.did_something
    assert attempts_of(engine) == before
    assert dispatcher.calls == calls


def test_report_and_metrics(engine: Engine, run: Ticker) -> None:
    campaign = make_campaign(engine, pacing={"max_channels": 4, "cps": 100})
    add_recipients(engine, campaign, people=[(phone(), NY) for _ in range(6)] + [(phone(), LA)])
    admitted = metrics.SCHEDULER_ADMITTED.labels(str(campaign))._value.get()
    ticks = metrics.SCHEDULER_TICK_SECONDS._sum.get()
    report = run()
    entry = report.campaigns[campaign]
    assert (entry.admitted, entry.free_channels, entry.capacity) == (4, 4, 4)
    assert entry.duration > 0
    assert report.duration >= entry.duration
    assert report.did_something
    assert report.as_dict()["campaigns"][str(campaign)]["admitted"] == 4
    assert metrics.SCHEDULER_ADMITTED.labels(str(campaign))._value.get() == admitted + 4
    assert metrics.SCHEDULER_TICK_SECONDS._sum.get() > ticks


def test_pending_gauge(engine: Engine, clock: FrozenClock, leases: MemoryLeases) -> None:
    from dialer.scheduler import PENDING_GAUGE

    campaign = make_campaign(engine, pacing={"max_channels": 4, "cps": 100})
    add_recipients(engine, campaign, 10)
    tick(engine, leases=leases, dispatch=Dispatcher(), settings=settings(), clock=clock)
    PENDING_GAUGE.refresh(engine, [campaign], force=True)
    assert metrics.RECIPIENTS_PENDING.labels(str(campaign))._value.get() == 6


def test_run_scheduler_ticks_until_stopped(
    engine: Engine, clock: FrozenClock, leases: MemoryLeases
) -> None:
    campaign = make_campaign(engine, pacing={"max_channels": 100, "cps": 1})
    add_recipients(engine, campaign, 10)
    stop = threading.Event()
    reports: list[TickReport] = []

    def on_tick(report: TickReport) -> None:
        reports.append(report)
        finish_queued(engine)
        clock.advance(1)
        if len(reports) == 3:
            stop.set()

    ticks = run_scheduler(
        engine,
        leases=leases,
        dispatch=Dispatcher(),
        settings=settings(),
        clock=clock,
        stop=stop,
        on_tick=on_tick,
    )
    assert ticks == 3
    assert [r.campaigns[campaign].admitted for r in reports] == [3, 3, 3]


def test_run_scheduler_survives_a_failing_tick(clock: FrozenClock, leases: MemoryLeases) -> None:
    broken = sa.create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    stop = threading.Event()
    timer = threading.Timer(0.3, stop.set)
    timer.start()
    ticks = run_scheduler(
        broken, leases=leases, dispatch=Dispatcher(), settings=settings(), clock=clock, stop=stop
    )
    timer.cancel()
    assert ticks >= 1


# -- crash safety and cost --------------------------------------------------------------------


def test_a_failed_admission_changes_nothing(
    engine: Engine, run: Ticker, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dialer.scheduler import admission

    campaign = make_campaign(engine, pacing={"max_channels": 5, "cps": 100})
    ids = add_recipients(engine, campaign, 5)
    original = admission._settle

    def settle_then_fail(*args: Any, **kwargs: Any) -> None:
        original(*args, **kwargs)  # every row written, then the connection drops
        raise sa.exc.OperationalError("INSERT", {}, ConnectionError("server closed"))

    monkeypatch.setattr(admission, "_settle", settle_then_fail)
    report = run()
    assert report.campaigns[campaign].admitted == 0
    assert "OperationalError" in (report.campaigns[campaign].error or "")
    assert attempts_of(engine) == []
    assert {recipient(engine, i).status for i in ids} == {"pending"}
    monkeypatch.setattr(admission, "_settle", original)
    clock.advance(1)
    assert run().campaigns[campaign].admitted == 5


@pytest.mark.postgres
def test_due_query_is_index_driven_without_a_sort(pg_engine: Engine) -> None:
    from dialer.scheduler.admission import due_query

    campaign = make_campaign(pg_engine)
    add_recipients(pg_engine, campaign, 200)
    compiled = due_query("postgresql", campaign, T0, 100).compile(dialect=pg_engine.dialect)
    with pg_engine.begin() as conn:
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")  # a tiny table would be scanned
        plan = "\n".join(
            row[0] for row in conn.exec_driver_sql(f"EXPLAIN {compiled}", compiled.params)
        )
    assert "ix_campaign_recipients_due" in plan
    assert "Sort" not in plan, plan


def test_a_waiting_attempt_is_checked_again_before_it_is_re_dispatched(
    engine: Engine, run: Ticker, clock: FrozenClock, dispatcher: Dispatcher
) -> None:
    """Refused leases held three attempts back past 20:00 in New York, one number went on the
    DNC list meanwhile; Los Angeles is still open."""
    campaign = make_campaign(engine)
    people = [(phone(), NY), (phone(), NY), (phone(), LA)]
    ny, listed, la = add_recipients(engine, campaign, people=people)
    clock.set(datetime(2026, 6, 2, 23, 59, tzinfo=UTC))  # 19:59 EDT, 16:59 PDT
    assert run().campaigns[campaign].admitted == 3
    closed = datetime(2026, 6, 3, 0, 0, 30, tzinfo=UTC)
    set_attempts(engine, campaign, dispatched_at=None, not_before=closed)
    with engine.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO dnc_numbers (phone_e164, source, added_at) VALUES (:p, 'x', :t)"),
            {"p": people[1][0], "t": T0},
        )
    dispatcher.calls.clear()
    clock.set(closed)
    report = run()
    entry = report.campaigns[campaign]
    assert (entry.recalled, entry.blocked, dict(entry.skipped)) == (2, 1, {"dnc": 1})
    by_recipient = {a.campaign_recipient_id: a for a in attempts_of(engine, campaign)}
    assert dispatcher.ids == [str(by_recipient[la].id)]
    assert by_recipient[la].state == "queued"
    for cr_id in (ny, listed):
        assert by_recipient[cr_id].state == "cancelled"
        assert by_recipient[cr_id].claimed_by == "scheduler"
    held = recipient(engine, ny)
    assert (held.status, held.blocked_reason, held.attempts) == ("pending", "outside_window", 1)
    assert held.next_attempt_at == datetime(2026, 6, 3, 13, 0, tzinfo=UTC)  # 09:00 EDT
    assert (recipient(engine, listed).status, recipient(engine, listed).final_outcome) == (
        "skipped",
        "dnc",
    )
    # next morning the held recipient gets its next attempt number
    clock.set(datetime(2026, 6, 3, 13, 0, tzinfo=UTC))
    assert run().campaigns[campaign].admitted == 1
    assert max(a.attempt_no for a in attempts_of(engine, campaign)) == 2


def test_run_scheduler_takes_a_gevent_event(
    engine: Engine, clock: FrozenClock, leases: MemoryLeases
) -> None:
    import gevent.event

    stop = gevent.event.Event()
    reports: list[TickReport] = []

    def on_tick(report: TickReport) -> None:
        reports.append(report)
        stop.set()

    ticks = run_scheduler(
        engine,
        leases=leases,
        dispatch=Dispatcher(),
        settings=settings(),
        clock=clock,
        stop=stop,
        on_tick=on_tick,
    )
    assert (ticks, len(reports)) == (1, 1)
