"""The sweeper repairs what crashes leave: orphan leases, attempts stuck without a final
event (checked against the node over TCP), and never touches a call that is still live."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from dialer.clock import FrozenClock
from dialer.config import Settings
from dialer.db.models import CallAttempt, CampaignRecipient
from dialer.esl.originate import DialTemplate, build_originate
from dialer.leases import MemoryLeases, Scope
from dialer.originate import NodePool
from dialer.originate.sweeper import sweep
from dialer.simulator import Simulator
from tests.engine.factories import make_attempt, make_campaign, make_recipient
from tests.esl.waiting import wait_until

T0 = datetime(2026, 6, 2, 14, 0, tzinfo=UTC)


@pytest.fixture
def sim() -> Iterator[Simulator]:
    # calls ring for a long time: a live channel the sweeper must leave alone
    with Simulator(scenario="all-answer", time_scale=1.0, port=0) as server:
        yield server


@pytest.fixture
def pool(sim: Simulator) -> Iterator[NodePool]:
    host, port = sim.address
    settings = Settings(fs_nodes=json.dumps([{"name": "fs1", "host": host, "port": port}]))
    nodes = NodePool(settings.nodes)
    nodes.start(wait=5.0)
    yield nodes
    nodes.close()


def _stuck(engine: Engine, state: str, since: datetime) -> tuple[uuid.UUID, int]:
    with Session(engine, expire_on_commit=False) as s:
        campaign = make_campaign(s)
        progress = make_recipient(s, campaign)
        attempt = make_attempt(
            s, campaign=campaign, progress=progress, state=state, sent_at=since, ring_timeout=20
        )
        if state == "answered":
            attempt.answered_at = since
        s.commit()
        return attempt.id, progress.id


def _lease(leases: MemoryLeases, attempt_id: uuid.UUID, now: datetime) -> None:
    leases.acquire(str(attempt_id), [Scope("campaign", "1", 10)], 3600, now.timestamp())


@pytest.mark.parametrize(
    ("state", "outcome"),
    [
        ("originating", "failed"),
        ("ringing", "failed"),
        ("answered", "completed"),
    ],
)
def test_an_attempt_whose_channel_is_gone_is_finalised(
    pg_engine: Engine, pool: NodePool, state: str, outcome: str
) -> None:
    leases = MemoryLeases()
    leases.restore([], T0.timestamp())
    long_ago = T0 - timedelta(hours=2)
    attempt_id, progress_id = _stuck(pg_engine, state, long_ago)
    _lease(leases, attempt_id, T0)
    report = sweep(pg_engine, leases, pool, clock=FrozenClock(T0))
    assert report.finalised[state] == 1
    with Session(pg_engine) as s:
        attempt = s.get_one(CallAttempt, attempt_id)
        assert attempt.state == "ended"
        assert attempt.outcome == outcome
        assert attempt.error is not None
        assert "no such channel" in attempt.error
        assert s.get_one(CampaignRecipient, progress_id).status in ("pending", "done")
    assert leases.leases(T0.timestamp()) == {}


def test_a_recent_attempt_is_not_touched(pg_engine: Engine, pool: NodePool) -> None:
    leases = MemoryLeases()
    leases.restore([], T0.timestamp())
    attempt_id, _ = _stuck(pg_engine, "originating", T0 - timedelta(seconds=30))
    _lease(leases, attempt_id, T0)
    report = sweep(pg_engine, leases, pool, clock=FrozenClock(T0))
    assert not report.finalised
    with Session(pg_engine) as s:
        assert s.get_one(CallAttempt, attempt_id).state == "originating"
    assert str(attempt_id) in leases.leases(T0.timestamp())


def test_a_live_channel_is_left_alone(pg_engine: Engine, pool: NodePool, sim: Simulator) -> None:
    leases = MemoryLeases()
    leases.restore([], T0.timestamp())
    attempt_id, _ = _stuck(pg_engine, "originating", T0 - timedelta(hours=2))
    request = build_originate(
        attempt_id=str(attempt_id),
        number="+12125550111",
        template=DialTemplate("sofia/gateway/default/{number}"),
        caller_id_number="+12125550100",
        timeout_seconds=60,
    )
    pool.client("fs1").originate(request)
    wait_until(lambda: len(sim.facts.of("originate")) == 1)
    report = sweep(pg_engine, leases, pool, clock=FrozenClock(T0))
    assert report.still_live == 1
    with Session(pg_engine) as s:
        assert s.get_one(CallAttempt, attempt_id).state == "originating"


def test_an_unreachable_node_is_skipped_not_guessed(pg_engine: Engine) -> None:
    settings = Settings(fs_nodes='[{"name": "fs1", "host": "127.0.0.1", "port": 1}]')
    pool = NodePool(settings.nodes)
    leases = MemoryLeases()
    leases.restore([], T0.timestamp())
    attempt_id, _ = _stuck(pg_engine, "ringing", T0 - timedelta(hours=2))
    try:
        report = sweep(pg_engine, leases, pool, clock=FrozenClock(T0))
    finally:
        pool.close()
    assert report.unreachable == 1
    with Session(pg_engine) as s:
        assert s.get_one(CallAttempt, attempt_id).state == "ringing"


def test_orphan_leases_are_released_and_live_ones_kept(pg_engine: Engine) -> None:
    leases = MemoryLeases()
    leases.restore([], T0.timestamp())
    with Session(pg_engine, expire_on_commit=False) as s:
        campaign = make_campaign(s)
        live = make_attempt(s, campaign=campaign, state="ringing", sent_at=T0)
        ended = make_attempt(s, campaign=campaign, state="ringing", sent_at=T0)
        ended.state, ended.outcome = "ended", "no_answer"
        fresh = make_attempt(s, campaign=campaign, state="queued", sent_at=T0)
        s.commit()
    for attempt_id in (live.id, ended.id, fresh.id, uuid.uuid4()):
        _lease(leases, attempt_id, T0)
    report = sweep(pg_engine, leases, None, clock=FrozenClock(T0))
    assert report.leases_released == 2  # the ended attempt's and the unknown one
    assert sorted(leases.leases(T0.timestamp())) == sorted([str(live.id), str(fresh.id)])


def test_a_live_call_without_a_lease_gets_it_back(pg_engine: Engine) -> None:
    """Nobody saw the answer and the ringing lease ran out while the call talks on: the
    scheduler and the workers count calls by their leases, so the sweeper puts it back."""
    leases = MemoryLeases()
    leases.restore([], T0.timestamp())
    settings = Settings(fs_nodes=json.dumps([{"name": "fs1", "host": "127.0.0.1", "port": 1}]))
    talking, _ = _stuck(pg_engine, "answered", T0 - timedelta(seconds=30))
    leased, _ = _stuck(pg_engine, "ringing", T0)
    _lease(leases, leased, T0)
    report = sweep(pg_engine, leases, None, clock=FrozenClock(T0), settings=settings)
    assert report.leases_restored == 1
    held = leases.leases(T0.timestamp())
    assert set(held) == {str(talking), str(leased)}
    assert any(key.startswith("campaign:") for key in held[str(talking)])
    # again: nothing is missing any more
    assert (
        sweep(pg_engine, leases, None, clock=FrozenClock(T0), settings=settings).leases_restored
        == 0
    )


def test_a_lease_is_given_back_only_to_a_channel_the_node_still_has(
    pg_engine: Engine, pool: NodePool, sim: Simulator
) -> None:
    """A call whose hangup freed its lease is live in the database until its batch is stored:
    the node says its channel is gone, so it stays free. One the node has gets its lease."""
    leases = MemoryLeases()
    leases.restore([], T0.timestamp())
    host, port = sim.address
    settings = Settings(fs_nodes=json.dumps([{"name": "fs1", "host": host, "port": port}]))
    gone, _ = _stuck(pg_engine, "answered", T0 - timedelta(seconds=5))
    up, _ = _stuck(pg_engine, "ringing", T0 - timedelta(seconds=5))
    pool.client("fs1").originate(
        build_originate(
            attempt_id=str(up),
            number="+12125550111",
            template=DialTemplate("sofia/gateway/default/{number}"),
            caller_id_number="+12125550100",
            timeout_seconds=60,
        )
    )
    wait_until(lambda: len(sim.facts.of("originate")) == 1)
    report = sweep(pg_engine, leases, pool, clock=FrozenClock(T0), settings=settings)
    assert report.leases_restored == 1
    held = leases.leases(T0.timestamp())
    assert str(gone) not in held
    assert set(held) == {str(up)}
