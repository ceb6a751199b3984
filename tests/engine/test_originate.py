"""The originate worker against the simulator over TCP, on real PostgreSQL: the claim makes a
duplicated task a no-op, no lease means no call, -ERR ends the attempt with its outcome."""

from __future__ import annotations

import itertools
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import gevent
import pytest
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from dialer.clock import FrozenClock, RealClock
from dialer.config import Settings
from dialer.db.models import CallAttempt, Campaign, CampaignRecipient, Recipient
from dialer.flow.variables import decode_header_value
from dialer.leases import MemoryLeases, Scope
from dialer.originate import NodePool, Originator
from dialer.simulator import Scenario, Simulator
from tests.engine.factories import make_attempt, make_campaign, make_recipient
from tests.esl.waiting import wait_until

T0 = datetime(2026, 6, 2, 14, 0, tzinfo=UTC)
BUSY = "+12125550177"
INVALID = "+12125550188"


@pytest.fixture
def sim() -> Iterator[Simulator]:
    scenario = Scenario.from_dict(
        {
            "name": "test",
            "ring": [0.5, 1.0],
            "outcomes": {"answer": 1.0},
            "talk": [2, 3],
            "numbers": {BUSY: {"outcome": "busy"}, INVALID: {"outcome": "invalid"}},
        }
    )
    with Simulator(scenario=scenario, time_scale=0.01, port=0, seed=1) as server:
        yield server


@pytest.fixture
def settings(sim: Simulator) -> Settings:
    host, port = sim.address
    nodes = json.dumps([{"name": "fs1", "host": host, "port": port, "max_channels": 50}])
    return Settings(fs_nodes=nodes)


@pytest.fixture
def leases() -> MemoryLeases:
    backend = MemoryLeases()
    backend.restore([], T0.timestamp())
    return backend


@pytest.fixture
def originator(pg_engine: Engine, settings: Settings, leases: MemoryLeases) -> Iterator[Originator]:
    pool = NodePool(settings.nodes)
    pool.start(wait=5.0)
    yield Originator(
        pg_engine, leases, pool, settings, clock=FrozenClock(T0), worker_id="worker@test:1"
    )
    pool.close()


def _queued(
    engine: Engine, number: str = "+12125550111", status: str = "running", **config: object
) -> tuple[str, int]:
    with Session(engine, expire_on_commit=False) as s:
        campaign = make_campaign(s, status=status, **config)
        progress = make_recipient(s, campaign, phone=number, attempts=1)
        attempt = make_attempt(
            s,
            campaign=campaign,
            progress=progress,
            state="queued",
            node="",
            to_number=number,
            ring_timeout=20,
        )
        attempt.fs_node = None
        attempt.dispatched_at = T0
        s.commit()
        return str(attempt.id), progress.id


def _attempt(engine: Engine, attempt_id: str) -> CallAttempt:
    with Session(engine) as s:
        found = s.get_one(CallAttempt, uuid.UUID(attempt_id))
        s.expunge(found)
        return found


def _originates(sim: Simulator, attempt_id: str) -> int:
    return sum(1 for f in sim.facts.of("originate") if f["attempt_id"] == attempt_id)


def test_a_queued_attempt_is_claimed_then_sent_once(
    originator: Originator, pg_engine: Engine, sim: Simulator, leases: MemoryLeases
) -> None:
    attempt_id, _ = _queued(pg_engine)
    outcome = originator.originate(attempt_id)
    assert outcome.result == "sent"
    attempt = _attempt(pg_engine, attempt_id)
    assert attempt.state == "originating"
    assert attempt.claimed_by == "worker@test:1"
    assert attempt.fs_node == "fs1"
    assert attempt.originate_sent_at == T0
    wait_until(lambda: _originates(sim, attempt_id) == 1)
    assert leases.holders("campaign:" + str(attempt.campaign_id), T0.timestamp()) == [attempt_id]
    # the variables the consumer and the ledger correlate by
    fact = sim.facts.of("originate")[0]
    assert fact["campaign_id"] == str(attempt.campaign_id)


def test_duplicated_and_racing_tasks_never_send_a_second_originate(
    originator: Originator, pg_engine: Engine, sim: Simulator
) -> None:
    attempt_id, _ = _queued(pg_engine)
    racers = [gevent.spawn(originator.originate, attempt_id) for _ in range(8)]
    gevent.joinall(racers, timeout=10, raise_error=True)
    results = sorted(g.value.result for g in racers)
    assert results.count("sent") == 1
    assert set(results) == {"sent", "duplicate"}
    # a redelivery long after: still nothing sent
    assert originator.originate(attempt_id).result == "duplicate"
    gevent.sleep(0.3)
    assert _originates(sim, attempt_id) == 1


def test_no_lease_no_call_the_attempt_goes_back_to_the_scheduler(
    originator: Originator, pg_engine: Engine, sim: Simulator, leases: MemoryLeases
) -> None:
    attempt_id, _ = _queued(pg_engine, pacing={"max_channels": 1, "cps": 5})
    campaign_id = _attempt(pg_engine, attempt_id).campaign_id
    leases.acquire("someone-else", [Scope("campaign", str(campaign_id), 1)], 60, T0.timestamp())
    outcome = originator.originate(attempt_id)
    assert outcome.result == "deferred"
    assert outcome.detail == "limit:campaign"
    attempt = _attempt(pg_engine, attempt_id)
    assert attempt.state == "queued"
    assert attempt.dispatched_at is None
    assert attempt.not_before is not None
    assert attempt.not_before > T0
    assert _originates(sim, attempt_id) == 0


@pytest.mark.parametrize(("number", "outcome"), [(BUSY, "busy"), (INVALID, "invalid_number")])
def test_an_err_result_ends_the_attempt_with_its_outcome_and_frees_the_lease(
    originator: Originator,
    pg_engine: Engine,
    leases: MemoryLeases,
    number: str,
    outcome: str,
) -> None:
    attempt_id, progress_id = _queued(pg_engine, number=number)
    assert originator.originate(attempt_id).result == "sent"
    wait_until(lambda: _attempt(pg_engine, attempt_id).state == "ended", timeout=10)
    attempt = _attempt(pg_engine, attempt_id)
    assert attempt.outcome == outcome
    assert attempt.hangup_cause
    assert leases.leases(T0.timestamp()) == {}
    with Session(pg_engine) as s:
        progress = s.get_one(CampaignRecipient, progress_id)
        # busy is retried (the factory's rule: 2 attempts), invalid numbers never are
        expected = "pending" if outcome == "busy" else "done"
        assert progress.status == expected


@pytest.mark.parametrize(
    ("status", "result", "state"),
    [
        ("paused", "deferred", "queued"),
        ("cancelled", "cancelled", "cancelled"),
    ],
)
def test_paused_and_cancelled_campaigns_send_nothing(
    originator: Originator,
    pg_engine: Engine,
    sim: Simulator,
    status: str,
    result: str,
    state: str,
) -> None:
    attempt_id, progress_id = _queued(pg_engine, status=status)
    assert originator.originate(attempt_id).result == result
    assert _attempt(pg_engine, attempt_id).state == state
    gevent.sleep(0.2)
    assert _originates(sim, attempt_id) == 0
    if status == "cancelled":
        with Session(pg_engine) as s:
            assert s.get_one(CampaignRecipient, progress_id).status == "cancelled"


def test_a_node_that_is_down_undoes_nothing_it_did_not_do(
    pg_engine: Engine, settings: Settings, leases: MemoryLeases
) -> None:
    """No connected node: the attempt is deferred, unclaimed, and no lease is kept."""
    pool = NodePool(settings.nodes)  # never started: nothing connected
    originator = Originator(pg_engine, leases, pool, settings, clock=FrozenClock(T0))
    attempt_id, _ = _queued(pg_engine)
    try:
        assert originator.originate(attempt_id).result == "deferred"
    finally:
        pool.close()
    attempt = _attempt(pg_engine, attempt_id)
    assert attempt.state == "queued"
    assert attempt.dispatched_at is None
    assert leases.leases(T0.timestamp()) == {}


def test_an_unknown_attempt_id_is_reported_not_raised(originator: Originator) -> None:
    assert originator.originate(str(uuid.uuid4())).result == "missing"
    assert originator.originate("not-a-uuid").result == "missing"


def test_lost_lease_state_is_rebuilt_from_the_database_before_calling(
    originator: Originator, pg_engine: Engine, leases: MemoryLeases
) -> None:
    live_id, _ = _queued(pg_engine)
    assert originator.originate(live_id).result == "sent"
    leases.reset()  # the lease store restarted empty
    second_id, _ = _queued(pg_engine, number="+12125550122")
    assert originator.originate(second_id).result == "sent"
    held = leases.leases(T0.timestamp())
    assert live_id in held  # rebuilt from the originating attempt
    assert second_id in held
    with Session(pg_engine) as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(CallAttempt)) == 2


def test_the_originates_ok_records_the_answer_even_with_no_consumer(
    originator: Originator, pg_engine: Engine, leases: MemoryLeases
) -> None:
    """+OK comes only once the callee answered: the worker records it, so a consumer that was
    away never ends the call as failed, and the lease is held for the talk time."""
    attempt_id, _ = _queued(pg_engine)
    assert originator.originate(attempt_id).result == "sent"
    wait_until(lambda: _attempt(pg_engine, attempt_id).state == "answered", timeout=10)
    attempt = _attempt(pg_engine, attempt_id)
    assert attempt.answered_at is not None
    assert attempt.claimed_by == "worker@test:1"
    # the ringing lease (20 + 60 s) became a talk-time one (300 + 60 s)
    expires = leases.holders("node:fs1", T0.timestamp() + 100)
    assert expires == [attempt_id]


# -- batches: one message carries several attempts ------------------------------------------


def _queued_many(engine: Engine, count: int, **config: object) -> list[str]:
    with Session(engine, expire_on_commit=False) as s:
        campaign = make_campaign(s, **config)
        ids = []
        for i in range(count):
            number = f"+1212555{1000 + i:04d}"
            progress = make_recipient(s, campaign, phone=number, attempts=1)
            attempt = make_attempt(s, campaign=campaign, progress=progress, state="queued",
                                   node="", to_number=number, ring_timeout=20)  # fmt: skip
            attempt.fs_node = None
            attempt.dispatched_at = T0
            ids.append(str(attempt.id))
        s.commit()
        return ids


def _statements(engine: Engine, action: Callable[[], object]) -> int:
    seen: list[str] = []

    caller = gevent.getcurrent()

    def count(*args: object) -> None:
        # this greenlet's own statements (not the answers written meanwhile), no pool pings
        if gevent.getcurrent() is caller and str(args[2]).strip() != "SELECT 1":
            seen.append(str(args[2]))

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        action()
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    return len(seen)


def test_a_batch_sends_each_attempt_once_with_statements_that_do_not_grow_with_it(
    pg_engine: Engine, sim: Simulator, leases: MemoryLeases
) -> None:
    host, port = sim.address
    node = {
        "name": "fs1",
        "host": host,
        "port": port,
        "max_channels": 50,
        "sessions_per_second": 100_000,
    }
    settings = Settings(fs_nodes=json.dumps([node]))
    pool = NodePool(settings.nodes)
    pool.start(wait=5.0)
    # a running clock: a cps bucket refills (on a frozen one it gives one token, ever)
    originator = Originator(pg_engine, leases, pool, settings, clock=RealClock(),
                            worker_id="worker@test:1")  # fmt: skip
    leases.restore([], time.time())
    fast = {"pacing": {"max_channels": 100, "cps": 1000}}  # 20 slots within 20 ms
    ids = _queued_many(pg_engine, 23, **fast)
    small, large = ids[:3], ids[3:]
    try:
        few = _statements(pg_engine, lambda: originator.originate_many(small))
        many = _statements(pg_engine, lambda: originator.originate_many(large))
        # a read and a claim whatever the batch size, plus the campaign's config the first
        # time the worker sees the campaign
        assert (few, many) == (3, 2)
        wait_until(lambda: all(_originates(sim, i) == 1 for i in small + large))
    finally:
        pool.close()
    for attempt_id in small + large:
        assert _attempt(pg_engine, attempt_id).state in ("originating", "answered", "ended")
    assert len(sim.facts.of("originate")) == 23


def test_a_batch_reports_each_attempt_in_the_order_given(
    originator: Originator, pg_engine: Engine, sim: Simulator
) -> None:
    sent_before = _queued(pg_engine)[0]
    assert originator.originate(sent_before).result == "sent"
    cancelled = _queued(pg_engine, status="cancelled")[0]
    paused = _queued(pg_engine, status="paused")[0]
    fresh = _queued(pg_engine, number="+12125550133")[0]
    unknown = str(uuid.uuid4())
    batch = [fresh, sent_before, cancelled, unknown, paused, fresh, "not-a-uuid"]
    outcomes = originator.originate_many(batch)
    assert [o.attempt_id for o in outcomes] == batch
    assert [o.result for o in outcomes] == [
        "sent", "duplicate", "cancelled", "missing", "deferred", "sent", "missing",
    ]  # fmt: skip
    gevent.sleep(0.3)
    assert _originates(sim, fresh) == 1  # named twice in one batch, sent once
    assert _originates(sim, sent_before) == 1
    assert _originates(sim, cancelled) == _originates(sim, paused) == 0


def test_a_batch_keeps_the_campaign_rate_and_defers_what_waits_too_long(
    pg_engine: Engine, settings: Settings, leases: MemoryLeases, sim: Simulator
) -> None:
    """cps 2 on a frozen clock: one token now and no more ever; the first attempt goes out,
    the others wait up to token_wait for a token, then go back to the scheduler."""
    pool = NodePool(settings.nodes)
    pool.start(wait=5.0)
    originator = Originator(pg_engine, leases, pool, settings, clock=FrozenClock(T0),
                            token_wait=0.3)  # fmt: skip
    ids = _queued_many(pg_engine, 3, pacing={"max_channels": 10, "cps": 2})
    try:
        outcomes = originator.originate_many(ids)
    finally:
        pool.close()
    assert [o.result for o in outcomes] == ["sent", "deferred", "deferred"]
    assert {o.detail for o in outcomes[1:]} == {"rate:campaign"}
    for attempt_id in ids[1:]:
        attempt = _attempt(pg_engine, attempt_id)
        assert attempt.state == "queued"
        assert attempt.dispatched_at is None
        assert attempt.not_before is not None
    assert leases.leases(T0.timestamp()).keys() == {ids[0]}


def test_the_batch_task_splits_a_round_into_even_batches() -> None:
    from dialer.originate.worker import batches

    assert batches([]) == []
    assert batches(["a"]) == [["a"]]
    ids = [str(i) for i in range(45)]
    split = batches(ids, size=20)
    assert [len(b) for b in split] == [15, 15, 15]
    assert [i for b in split for i in b] == ids
    assert [len(b) for b in batches(ids[:20], size=20)] == [20]


def test_a_batch_spaces_its_calls_at_the_campaign_rate(
    pg_engine: Engine, settings: Settings, leases: MemoryLeases, sim: Simulator
) -> None:
    """cps 10: the batch reserves five slots 0.1 s apart in one round trip and sends each
    when its slot comes (the switch's own clock says when they arrived)."""
    pool = NodePool(settings.nodes)
    pool.start(wait=5.0)
    originator = Originator(pg_engine, leases, pool, settings, clock=RealClock())
    leases.restore([], time.time())
    ids = _queued_many(pg_engine, 5, pacing={"max_channels": 10, "cps": 10})
    try:
        started = time.monotonic()
        outcomes = originator.originate_many(ids)
        took = time.monotonic() - started
    finally:
        pool.close()
    assert [o.result for o in outcomes] == ["sent"] * 5
    assert 0.38 <= took < 1.0
    arrivals = sorted(float(f["t"]) for f in sim.facts.of("originate"))
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert min(gaps) >= 0.09, gaps


def test_job_answers_are_written_together_and_never_move_an_ended_call(
    engine: Engine, settings: Settings, leases: MemoryLeases
) -> None:
    """Both databases: the answers of several jobs go in one executemany; an attempt the
    consumer already ended stays ended."""
    pool = NodePool(settings.nodes)  # never started: answers need no switch
    originator = Originator(engine, leases, pool, settings, clock=FrozenClock(T0),
                            worker_id="worker@test:1")  # fmt: skip
    with Session(engine, expire_on_commit=False) as s:
        live = [make_attempt(s, state=state) for state in ("originating", "ringing")]
        ended = make_attempt(s, state="originating")
        s.commit()
    with Session(engine) as s, s.begin():
        s.execute(sa.update(CallAttempt).where(CallAttempt.id == ended.id)
                  .values(state="ended", outcome="failed"))  # fmt: skip
    for attempt in live:
        leases.acquire(str(attempt.id), [Scope("node", "fs1", None)], 80, T0.timestamp())
    for attempt in [*live, ended]:
        originator._results.answered(str(attempt.id), None, 300.0)
    statements = _statements(engine, originator._results.flush)
    assert statements == 1
    for attempt in live:
        found = _attempt(engine, str(attempt.id))
        assert found.state == "answered"
        assert found.answered_at == T0
        assert found.claimed_by == "worker@test:1"
    assert _attempt(engine, str(ended.id)).state == "ended"
    # both leases now last the talk time (300 + 60 s), not the ringing 80 s
    assert len(leases.holders("node:fs1", T0.timestamp() + 200)) == 2


def test_a_changed_campaign_config_is_read_again(
    originator: Originator, pg_engine: Engine, leases: MemoryLeases
) -> None:
    """The worker keeps parsed configs by the campaign row's updated_at: an edit counts."""
    first, second = _queued_many(pg_engine, 2, pacing={"max_channels": 10, "cps": 5})
    assert originator.originate(first).result == "sent"  # the config is cached now
    campaign_id = _attempt(pg_engine, first).campaign_id
    with Session(pg_engine) as s, s.begin():
        campaign = s.get_one(Campaign, campaign_id)
        campaign.config = {**campaign.config, "pacing": {"max_channels": 1, "cps": 5}}
    # the first call holds the only channel the edited campaign has
    outcome = originator.originate(second)
    assert (outcome.result, outcome.detail) == ("deferred", "limit:campaign")


def test_a_batch_logs_its_calls_sent_in_one_line_and_each_refusal_in_its_own(
    originator: Originator, pg_engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    sent = _queued(pg_engine)[0]
    paused = _queued(pg_engine, status="paused")[0]
    with caplog.at_level(logging.INFO, logger="dialer.originate"):
        originator.originate_many([sent, paused])
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert [line for line in lines if "sent=" in line] == [
        f"originate sent=1 of=2 node=fs1 attempts={sent}"
    ]
    assert any(f"attempt={paused} result=deferred" in line for line in lines)
    assert not any(f"attempt={sent}" in line for line in lines)


def test_the_node_with_the_most_free_channels_takes_the_batch(
    pg_engine: Engine, leases: MemoryLeases
) -> None:
    scenario = Scenario.from_dict({"name": "n", "ring": [0.5, 1.0], "outcomes": {"answer": 1.0}})
    with (
        Simulator(scenario=scenario, time_scale=0.01, port=0, seed=1) as one,
        Simulator(scenario=scenario, time_scale=0.01, port=0, seed=2) as two,
    ):
        nodes = [
            {"name": name, "host": sim.address[0], "port": sim.address[1], "max_channels": 10}
            for name, sim in (("fs1", one), ("fs2", two))
        ]
        settings = Settings(fs_nodes=json.dumps(nodes))
        pool = NodePool(settings.nodes)
        pool.start(wait=5.0)
        originator = Originator(pg_engine, leases, pool, settings, clock=FrozenClock(T0))
        try:
            for i in range(3):  # fs1 has 7 free, fs2 10
                leases.acquire(f"busy{i}", [Scope("node", "fs1", 10)], 60, T0.timestamp())
            assert originator.originate(_queued(pg_engine)[0]).node == "fs2"
            leases.reset()  # a lost store counts nothing: any connected node will do
            assert originator._pick_node() is not None
        finally:
            pool.close()


def test_a_campaign_call_runs_the_shipped_flow_with_its_variables(
    originator: Originator, pg_engine: Engine, sim: Simulator
) -> None:
    """The worker sends the flow's extension and the campaign's per-call variables; the
    recipient's custom fields reach only the AI agent's X- headers, encoded, whatever they
    hold; a single call (no campaign) still parks."""
    hostile = 'Ann}, origination_caller_id_number=666 "x" ${system(rm)}'
    config = {
        "type": "press1",
        "message": "ivr/ivr-welcome_to_freeswitch.wav",
        "amd": {"enabled": False},
        "ivr": {"digits": "1", "actions": {"1": {"ai_agent": "bot"}}},
        "agents": {"bot": {"dial": "sofia/gateway/ai/bot", "fields": ["first_name"]}},
    }
    with Session(pg_engine, expire_on_commit=False) as s:
        campaign = make_campaign(s, **config)
        progress = make_recipient(s, campaign, phone="+12125550123", attempts=1)
        person = s.get_one(Recipient, progress.recipient_id)
        person.fields = {"first_name": hostile, "ssn": "123-45-6789"}
        attempt = make_attempt(
            s, campaign=campaign, progress=progress, state="queued", node="",
            to_number="+12125550123",
        )
        attempt.fs_node = None
        s.commit()
        attempt_id, recipient_id = str(attempt.id), person.id
    assert originator.originate(attempt_id).result == "sent"
    wait_until(lambda: attempt_id in sim.switch.calls, timeout=5)
    call = sim.switch.calls[attempt_id]
    assert call.request.app == "dialer_flow"
    assert call.request.dialplan
    got = call.ch.variables
    assert got["dialer_recipient_id"] == str(recipient_id)
    assert got["dialer_campaign_id"] == str(campaign.id)
    assert got["dialer_ivr_action_1"] == "ai_agent"
    assert got["dialer_amd"] == "false"
    headers = dict(item.split("=", 1) for item in got["dialer_ivr_headers_1"].split(","))
    assert decode_header_value(headers["sip_h_X-Dialer-Field-first_name"]) == hostile
    assert "123-45-6789" not in got["dialer_ivr_headers_1"]  # not a listed field
    # nothing of the field became a variable of its own
    assert got.get("origination_caller_id_number") != "666"
