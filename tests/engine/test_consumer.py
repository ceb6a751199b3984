"""The consumer against the simulator over TCP, with attempts made as the worker leaves them
and originates sent by a plain ESL client, on PostgreSQL (and one SQLite smoke test)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import gevent
import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from dialer.clock import RealClock
from dialer.consumer import Consumer, attempt_of, parse_channels
from dialer.consumer import service as consumer_service
from dialer.consumer.store import RECONCILE_ERROR
from dialer.db.models import CallAttempt, CallEvent, CampaignRecipient
from dialer.esl import Backoff, DialTemplate, ESLClient, build_originate
from dialer.esl.events import event_from_mapping
from dialer.fs_nodes import NodeConfig
from dialer.leases import Granted, MemoryLeases, Scope
from dialer.simulator import Scenario, Simulator
from tests.engine.factories import make_attempt, make_campaign, make_recipient
from tests.esl.waiting import wait_until

LOOPBACK = DialTemplate("loopback/{number}/{context}", {"context": "default"})
NODE_SCOPE = Scope("node", "fs1", None)
CLIENT_OPTIONS: dict[str, Any] = {
    "connect_timeout": 1.0,
    "command_timeout": 2.0,
    "backoff": Backoff(base=0.01, cap=0.05),
}


def _scenario() -> Scenario:
    scenario = Scenario.load("all-answer")
    scenario.numbers.update(
        {
            # rings 0.05 s, talks 1 s (real, at time_scale 0.01)
            "long_call": {"outcome": "answer", "ring": 5.0, "hangup_after": 100.0,
                          "digit": None, "patience": 3600},
        }
    )
    return scenario


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(
        password="ClueCon", scenario=_scenario(), time_scale=0.01, port=0, ledger_path=None
    ) as server:
        yield server


class Rig:
    """A database, a lease backend, the 'worker' that sends originates, and consumers."""

    def __init__(self, sim: Simulator, engine: Engine) -> None:
        self.sim = sim
        self.engine = engine
        self.clock = RealClock()
        self.leases = MemoryLeases()
        self.leases.restore([], self.clock.time())
        host, port = sim.address
        self.node = NodeConfig(name="fs1", host=host, port=port, password="ClueCon")
        self.sender = ESLClient(host, port, "ClueCon", name="worker", **CLIENT_OPTIONS)
        self.sender.connect(timeout=3)
        self.consumers: list[Consumer] = []
        with Session(engine, expire_on_commit=False) as s:
            self.campaign = make_campaign(s)
            s.commit()

    def consumer(self, **options: Any) -> Consumer:
        settings: dict[str, Any] = {"client_options": CLIENT_OPTIONS, "reconcile_min_age": 10.0}
        settings.update(options)
        consumer = Consumer(self.node, self.engine, self.leases, clock=self.clock, **settings)
        consumer.start()
        assert consumer.client.wait_connected(3)
        assert wait_until(lambda: consumer.reconciles >= 1, 3)
        self.consumers.append(consumer)
        return consumer

    def attempt(self, *, campaign: bool = True, store: bool = True) -> uuid.UUID:
        """An attempt as the worker leaves it: originating on fs1, sent a minute ago, leased."""
        sent = self.clock.now() - timedelta(seconds=60)
        with Session(self.engine, expire_on_commit=False) as s:
            if campaign:
                progress = make_recipient(s, self.campaign, phone=f"+1212555{_n():04d}")
                row = make_attempt(s, campaign=self.campaign, progress=progress, sent_at=sent)
            else:
                row = make_attempt(s, sent_at=sent)
            if store:
                s.commit()
            else:
                s.rollback()
        granted = self.leases.acquire(str(row.id), [NODE_SCOPE], 90, self.clock.time())
        assert isinstance(granted, Granted)
        return row.id

    def dial(self, attempt_id: uuid.UUID, number: str, ring_timeout: int = 30) -> None:
        aid = str(attempt_id)
        self.sender.originate(
            build_originate(
                attempt_id=aid,
                number=number,
                template=LOOPBACK,
                caller_id_number="15550001",
                timeout_seconds=ring_timeout,
                variables={"dialer_attempt_id": aid, "dialer_campaign_id": str(self.campaign.id)},
            )
        )

    def row(self, attempt_id: uuid.UUID) -> CallAttempt:
        with Session(self.engine) as s:
            found = s.get(CallAttempt, attempt_id)
            assert found is not None
            s.expunge(found)
            return found

    def state(self, attempt_id: uuid.UUID) -> str:
        return self.row(attempt_id).state

    def wait_state(self, ids: list[uuid.UUID], state: str, timeout: float = 5.0) -> None:
        ok = wait_until(lambda: all(self.state(i) == state for i in ids), timeout)
        assert ok, {str(i): self.state(i) for i in ids}

    def events(self, attempt_id: uuid.UUID) -> list[CallEvent]:
        with Session(self.engine) as s:
            rows = s.scalars(
                sa.select(CallEvent)
                .where(CallEvent.attempt_id == attempt_id)
                .order_by(CallEvent.event_sequence)
            ).all()
            for row in rows:
                s.expunge(row)
            return list(rows)

    def billsec(self, attempt_id: uuid.UUID) -> int:
        """What the simulator's ledger says the call was billed (the ground truth)."""
        (fact,) = [f for f in self.sim.facts.of("hangup") if f["uuid"] == str(attempt_id)]
        return int(fact["billsec"])

    def leased(self) -> int:
        return self.leases.count(NODE_SCOPE, self.clock.time())

    def close(self) -> None:
        for consumer in self.consumers:
            consumer.stop(timeout=2)
        self.sender.close()


_counter = 0


def _n() -> int:
    global _counter
    _counter += 1
    return _counter


@pytest.fixture
def rig(sim: Simulator, pg_engine: Engine) -> Iterator[Rig]:
    harness = Rig(sim, pg_engine)
    yield harness
    harness.close()


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


# -- calls end with the switch's outcome ------------------------------------------------------


def test_outcomes_timings_events_and_leases(rig: Rig) -> None:
    consumer = rig.consumer()
    label = str(rig.campaign.id)
    completed_before = _sample("dialer_call_attempts_total", campaign=label, outcome="completed")
    busy_before = _sample("dialer_hangups_total", cause="USER_BUSY")
    lag_before = _sample("dialer_event_lag_seconds_count")
    batches_before = _sample("dialer_consumer_batch_seconds_count")
    calls = {
        "agent_answer": rig.attempt(),  # rings 1 s, hangs up 3 s after answer (simulated)
        "busy": rig.attempt(),
        "never_answer": rig.attempt(),
        "no_such_ext": rig.attempt(),
        "reject603": rig.attempt(),
    }
    for number, aid in calls.items():
        rig.dial(aid, number, ring_timeout=5)
    rig.wait_state(list(calls.values()), "ended")
    got = {n: rig.row(a) for n, a in calls.items()}
    assert {n: (r.outcome, r.hangup_cause) for n, r in got.items()} == {
        "agent_answer": ("completed", "NORMAL_CLEARING"),
        "busy": ("busy", "USER_BUSY"),
        "never_answer": ("no_answer", "NO_ANSWER"),
        "no_such_ext": ("invalid_number", "NO_ROUTE_DESTINATION"),
        "reject603": ("busy", "CALL_REJECTED"),
    }
    answered = got["agent_answer"]
    assert answered.started_at is not None
    assert answered.answered_at is not None
    assert answered.ended_at is not None
    assert answered.started_at < answered.answered_at < answered.ended_at
    assert answered.ring_duration_sec == pytest.approx(
        (answered.answered_at - answered.started_at).total_seconds()
    )
    assert answered.core_uuid
    assert answered.claimed_by == "consumer:fs1"
    # the switch's own timings: the simulator's ledger says how long it talked
    assert answered.billsec == rig.billsec(calls["agent_answer"])
    # only the A leg and the job were stored, each once
    for number, aid in calls.items():
        stored = rig.events(aid)
        assert stored, number
        for event in stored:
            payload = event.payload
            assert payload.get("Unique-ID", payload.get("Job-UUID")) == str(aid)
            assert event.name in {"CHANNEL_PROGRESS", "CHANNEL_PROGRESS_MEDIA", "CHANNEL_ANSWER",
                                  "CHANNEL_HANGUP_COMPLETE", "BACKGROUND_JOB"}
        keys = [(e.core_uuid, e.event_sequence) for e in stored]
        assert len(keys) == len(set(keys))
    assert [e.name for e in rig.events(calls["agent_answer"])] == [
        "CHANNEL_PROGRESS", "CHANNEL_ANSWER", "BACKGROUND_JOB", "CHANNEL_HANGUP_COMPLETE"
    ]
    # retries by outcome, and the leases are gone
    with Session(rig.engine) as s:
        statuses = {
            n: s.get(CampaignRecipient, r.campaign_recipient_id).status  # type: ignore[union-attr]
            for n, r in got.items()
        }
    assert statuses == {"agent_answer": "done", "busy": "pending", "never_answer": "pending",
                        "no_such_ext": "done", "reject603": "pending"}
    assert rig.leased() == 0
    assert wait_until(lambda: _sample(
        "dialer_call_attempts_total", campaign=label, outcome="completed"
    ) == completed_before + 1)
    assert _sample("dialer_calls_active", campaign=label, node="fs1") == 0
    assert _sample("dialer_hangups_total", cause="USER_BUSY") == busy_before + 1
    stored = sum(len(rig.events(aid)) for aid in calls.values())
    assert _sample("dialer_event_lag_seconds_count") >= lag_before + stored
    assert _sample("dialer_consumer_batch_seconds_count") >= batches_before + 1
    assert consumer.dropped == 0


def test_err_job_ends_the_attempt_and_single_calls(rig: Rig) -> None:
    rig.consumer()
    rig.sim.faults.refuse_originates("DESTINATION_OUT_OF_ORDER")
    in_campaign, single = rig.attempt(), rig.attempt(campaign=False)
    rig.dial(in_campaign, "agent_answer")
    rig.dial(single, "agent_answer")
    rig.wait_state([in_campaign, single], "ended")
    for aid in (in_campaign, single):
        row = rig.row(aid)
        assert (row.outcome, row.hangup_cause) == ("failed", "DESTINATION_OUT_OF_ORDER")
        assert [e.name for e in rig.events(aid)] == ["BACKGROUND_JOB"]
    with Session(rig.engine) as s:
        progress = s.get(CampaignRecipient, rig.row(in_campaign).campaign_recipient_id)
        assert progress is not None
        assert progress.status == "pending"  # failed: retried after 60 s
    assert rig.leased() == 0


def test_answer_extends_the_lease_and_the_gauge_counts_the_call(rig: Rig) -> None:
    rig.consumer()
    label = str(rig.campaign.id)
    aid = rig.attempt()
    rig.dial(aid, "silent_human")  # answers after 1 s and stays
    rig.wait_state([aid], "answered")
    # ringing TTL was 90 s; answered: max_duration (300) + 60
    assert rig.leases.count(NODE_SCOPE, rig.clock.time() + 200) == 1
    assert rig.leases.count(NODE_SCOPE, rig.clock.time() + 400) == 0
    assert _sample("dialer_calls_active", campaign=label, node="fs1") == 1
    rig.sender.api(f"uuid_kill {aid}")
    rig.wait_state([aid], "ended")
    assert (rig.row(aid).outcome, rig.row(aid).hangup_cause) == ("completed", "NORMAL_CLEARING")
    assert _sample("dialer_calls_active", campaign=label, node="fs1") == 0
    assert rig.leased() == 0


def test_stage_events_are_stored(rig: Rig) -> None:
    rig.consumer()
    aid = rig.attempt()
    rig.dial(aid, "silent_human")
    rig.wait_state([aid], "answered")
    factory = rig.sim.switch.factory
    for subclass in ("dialer::amd", "other::module"):  # the second is not subscribed
        headers = factory.prefix("CUSTOM", ("switch_event.c", "event_function", 1), subclass)
        headers += [("Unique-ID", str(aid)), ("variable_dialer_attempt_id", str(aid)),
                    ("dialer_amd_result", "HUMAN")]
        rig.sim.faults.inject_event(headers)
    assert wait_until(lambda: "dialer::amd" in [e.name for e in rig.events(aid)])
    (stage,) = [e for e in rig.events(aid) if e.name == "dialer::amd"]
    assert stage.payload["Event-Subclass"] == "dialer::amd"
    assert stage.payload["dialer_amd_result"] == "HUMAN"
    assert rig.state(aid) == "answered"  # stored; the lifecycle does not read them yet
    rig.sender.api(f"uuid_kill {aid}")
    rig.wait_state([aid], "ended")
    assert "other::module" not in [e.name for e in rig.events(aid)]


# -- duplicates, restarts, drops ------------------------------------------------------------


def test_two_consumers_store_each_event_once(rig: Rig) -> None:
    first, second = rig.consumer(), rig.consumer()
    ids = [rig.attempt() for _ in range(4)]
    for aid, number in zip(ids, ["agent_answer", "busy", "long_call", "no_such_ext"],
                           strict=True):
        rig.dial(aid, number)
    rig.wait_state(ids, "ended")
    with Session(rig.engine) as s:
        keys = s.execute(sa.select(CallEvent.core_uuid, CallEvent.event_sequence)).all()
    assert len(keys) == len(set(keys))
    # every event came twice (the slower consumer may still be writing the last ones)
    assert wait_until(lambda: first.duplicates + second.duplicates >= len(keys))
    assert first.stored + second.stored == len(keys)
    assert rig.row(ids[2]).billsec == rig.billsec(ids[2])
    assert rig.leased() == 0


def test_the_same_event_delivered_twice_is_stored_once(rig: Rig) -> None:
    consumer = rig.consumer()
    aid = rig.attempt()
    seen: list[Any] = []
    consumer.client.on("CHANNEL_HANGUP_COMPLETE", seen.append)
    rig.dial(aid, "busy")
    rig.wait_state([aid], "ended")
    hangup = next(e for e in seen if e.unique_id == str(aid))
    before = len(rig.events(aid))
    for _ in range(3):
        consumer._on_event(hangup)
    assert wait_until(lambda: consumer.duplicates >= 3)
    assert len(rig.events(aid)) == before
    assert rig.row(aid).outcome == "busy"


def test_restarted_consumer_reconciles_calls_that_ended_meanwhile(rig: Rig) -> None:
    first = rig.consumer()
    talking = rig.attempt()  # answered; hangs up while nobody listens
    staying = rig.attempt()  # answered, still up when the consumer returns
    ringing = rig.attempt()  # ends while ringing (its -ERR job lost) while nobody listens
    rig.dial(talking, "silent_human")
    rig.dial(staying, "silent_human")
    rig.dial(ringing, "never_answer", ring_timeout=300)
    rig.wait_state([talking, staying], "answered")
    assert rig.state(ringing) == "ringing"
    first.stop(timeout=2)
    rig.consumers.remove(first)
    rig.sender.api(f"uuid_kill {talking}")
    rig.sender.api(f"uuid_kill {ringing}")
    gone = {str(talking), str(ringing)}
    assert wait_until(
        lambda: gone <= {f["uuid"] for f in rig.sim.facts.of("hangup")}, 5
    ), "the calls did not end"
    second = rig.consumer()
    rig.wait_state([talking, ringing], "ended")
    for aid, outcome in ((talking, "completed"), (ringing, "failed")):
        row = rig.row(aid)
        assert (row.outcome, row.hangup_cause, row.error) == (outcome, "UNKNOWN", RECONCILE_ERROR)
        assert row.claimed_by == "consumer:fs1"
    assert rig.state(staying) == "answered"
    rig.sender.api(f"uuid_kill {staying}")
    rig.wait_state([staying], "ended")
    row = rig.row(staying)
    assert (row.outcome, row.hangup_cause, row.error) == ("completed", "NORMAL_CLEARING", None)
    assert second.reconciles >= 1
    assert rig.leased() == 0


def test_a_reconcile_waits_for_the_events_received_before_its_snapshot(rig: Rig) -> None:
    consumer = rig.consumer()
    rig.sim.faults.delay_events(0.3)  # the hangup reaches us after the channel is gone
    aid = rig.attempt()
    rig.dial(aid, "busy")
    assert wait_until(lambda: str(aid) in {f["uuid"] for f in rig.sim.facts.of("hangup")}, 3)
    consumer._snapshot()  # as after a reconnect: show channels no longer lists the call
    assert wait_until(lambda: consumer.reconciles >= 2, 3)
    rig.wait_state([aid], "ended")
    row = rig.row(aid)
    assert (row.outcome, row.hangup_cause, row.error) == ("busy", "USER_BUSY", None)


def test_young_attempts_are_left_to_a_later_look(rig: Rig) -> None:
    with Session(rig.engine) as s:
        young = make_attempt(s, sent_at=rig.clock.now()).id  # just claimed: no channel yet
        s.commit()
    consumer = rig.consumer(reconcile_min_age=0.6)
    assert rig.state(young) == "originating"  # the first look (on connect) leaves it
    assert wait_until(lambda: rig.state(young) == "ended", 3)  # the follow-up ends it
    assert consumer.reconciles >= 2
    assert rig.row(young).outcome == "failed"


def test_dropped_connections_lose_nothing(rig: Rig) -> None:
    consumer = rig.consumer()
    numbers = ["agent_answer", "long_call", "long_call", "busy", "never_answer",
               "silent_human", "no_such_ext", "agent_answer"]
    ids = [rig.attempt() for _ in numbers]
    for aid, number in zip(ids, numbers, strict=True):
        rig.dial(aid, number, ring_timeout=20)
    gevent.sleep(0.1)
    rig.sim.faults.drop_connections()
    assert wait_until(lambda: consumer.client.connects >= 2 and consumer.reconciles >= 2, 5)
    assert wait_until(lambda: rig.sender.connected, 3)
    gevent.sleep(0.3)
    forever = ids[numbers.index("silent_human")]
    rig.wait_state([forever], "answered")
    rig.sender.api(f"uuid_kill {forever}")
    ok = wait_until(lambda: all(rig.state(i) == "ended" for i in ids), 8)
    assert ok, [(n, rig.state(i), [e.name for e in rig.events(i)], rig.sim.facts.of("hangup"))
                for n, i in zip(numbers, ids, strict=True) if rig.state(i) != "ended"]
    truth = {f["uuid"]: f["cause"] for f in rig.sim.facts.of("hangup")}
    for aid in ids:
        row = rig.row(aid)
        assert row.outcome is not None
        if row.hangup_cause != "UNKNOWN":  # seen, not reconciled: the switch's own cause
            assert row.hangup_cause == truth[str(aid)]
    with Session(rig.engine) as s:
        keys = s.execute(sa.select(CallEvent.core_uuid, CallEvent.event_sequence)).all()
    assert len(keys) == len(set(keys))
    assert rig.leased() == 0
    assert consumer.dropped == 0


# -- the database side ----------------------------------------------------------------------


def test_a_failing_batch_is_retried_until_it_commits(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = consumer_service.persist_batch
    failures = {"left": 3}

    def flaky(*args: Any, **kwargs: Any) -> Any:
        if failures["left"] > 0:
            failures["left"] -= 1
            raise OperationalError("INSERT", {}, Exception("server closed the connection"))
        return real(*args, **kwargs)

    consumer = rig.consumer(retry_cap=0.05)
    monkeypatch.setattr(consumer_service, "persist_batch", flaky)
    aid = rig.attempt()
    rig.dial(aid, "agent_answer")
    rig.wait_state([aid], "ended")
    assert failures["left"] == 0
    assert rig.row(aid).outcome == "completed"
    assert len(rig.events(aid)) == 4
    assert consumer.dropped == 0


def test_events_wait_for_an_attempt_that_is_not_committed_yet(rig: Rig) -> None:
    rig.consumer()
    aid = uuid.uuid4()
    rig.dial(aid, "agent_answer")
    gevent.sleep(0.2)  # the call has rung and answered; its attempt is not visible yet
    sent = rig.clock.now() - timedelta(seconds=60)
    with Session(rig.engine) as s:
        row = make_attempt(s, sent_at=sent)
        s.execute(sa.update(CallAttempt).where(CallAttempt.id == row.id).values(id=aid))
        s.commit()
    rig.wait_state([aid], "ended")
    names = [e.name for e in rig.events(aid)]
    assert names == ["CHANNEL_PROGRESS", "CHANNEL_ANSWER", "BACKGROUND_JOB",
                     "CHANNEL_HANGUP_COMPLETE"]  # fmt: skip


def test_events_of_unknown_attempts_are_dropped_and_counted(rig: Rig) -> None:
    before = _sample("dialer_consumer_events_unmatched_total", node="fs1")
    consumer = rig.consumer(unmatched_grace=0.2)
    rig.dial(uuid.uuid4(), "busy")
    assert wait_until(lambda: consumer.dropped >= 3, 3)
    assert _sample("dialer_consumer_events_unmatched_total", node="fs1") >= before + 3
    with Session(rig.engine) as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(CallEvent)) == 0


def test_sqlite_smoke(sim: Simulator, sqlite_engine: Engine) -> None:
    rig = Rig(sim, sqlite_engine)
    try:
        rig.consumer()
        ids = [rig.attempt(), rig.attempt()]
        rig.dial(ids[0], "agent_answer")
        rig.dial(ids[1], "busy")
        rig.wait_state(ids, "ended")
        assert rig.row(ids[0]).outcome == "completed"
        assert rig.row(ids[0]).billsec == rig.billsec(ids[0])
        assert rig.row(ids[1]).outcome == "busy"
        assert len(rig.events(ids[0])) == 4
        assert rig.leased() == 0
    finally:
        rig.close()


# -- pieces ---------------------------------------------------------------------------------


def test_only_our_legs_and_originate_jobs_are_ours() -> None:
    aid = str(uuid.uuid4())
    ours = event_from_mapping(
        {"Event-Name": "CHANNEL_ANSWER", "Unique-ID": aid, "variable_dialer_attempt_id": aid}
    )
    b_leg = event_from_mapping(
        {"Event-Name": "CHANNEL_ANSWER", "Unique-ID": str(uuid.uuid4()),
         "variable_dialer_attempt_id": aid}
    )
    job = event_from_mapping(
        {"Event-Name": "BACKGROUND_JOB", "Job-UUID": aid, "Job-Command": "originate"}
    )
    other_job = event_from_mapping(
        {"Event-Name": "BACKGROUND_JOB", "Job-UUID": aid, "Job-Command": "status"}
    )
    foreign = event_from_mapping({"Event-Name": "CHANNEL_ANSWER", "Unique-ID": aid})
    assert attempt_of(ours) == uuid.UUID(aid)
    assert attempt_of(job) == uuid.UUID(aid)
    assert [attempt_of(e) for e in (b_leg, other_job, foreign)] == [None, None, None]


def test_show_channels_json() -> None:
    assert parse_channels('{"row_count": 0}\n') == set()
    reply = '{"row_count":2,"rows":[{"uuid":"a","direction":"outbound"},{"uuid":"b"}]}'
    assert parse_channels(reply) == {"a", "b"}


# -- the command ----------------------------------------------------------------------------


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIALER_")}
    env.update(extra)
    return env


def test_cli_unknown_node_lists_the_configured_ones() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "dialer", "consumer", "--node", "fs9"],
        env=_env(DIALER_FS_NODES="fs1=esl://127.0.0.1:1,fs2=esl://127.0.0.1:2"),
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert done.returncode == 2
    assert "unknown node 'fs9'" in done.stderr
    assert "fs1, fs2" in done.stderr


def test_cli_runs_until_sigterm_and_exits_0(sim: Simulator, postgres_url: str) -> None:
    host, port = sim.address
    proc = subprocess.Popen(
        [sys.executable, "-m", "dialer", "consumer", "--node", "fs1", "--metrics-port", "0"],
        env=_env(DIALER_FS_NODES=f"fs1=esl://:ClueCon@{host}:{port}",
                 DIALER_DATABASE_URL=postgres_url),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        # the simulator runs in this process: let it serve while the child starts
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any(
            c.authed for c in sim.switch.connections
        ):
            gevent.sleep(0.05)
        gevent.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        while proc.poll() is None and time.monotonic() < deadline:
            gevent.sleep(0.05)
        output = proc.stdout.read() if proc.stdout else ""
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, output
    assert "consumer connected node=fs1" in output
    assert "consumer reconciled node=fs1" in output
    assert "consumer stopped node=fs1" in output
    assert "consumer metrics node=fs1 port=" in output


def test_a_hangup_frees_its_channel_before_its_batch_is_stored(rig: Rig) -> None:
    """The limits count live channels: a hung-up call's lease is released as its event
    arrives, while the batch holding the event still waits to grow (here: 3 s)."""
    rig.consumer(batch_wait=3.0)
    answered, failed = rig.attempt(), rig.attempt()
    rig.dial(answered, "agent_answer")  # answers, talks a moment, hangs up
    rig.dial(failed, "busy")  # -ERR USER_BUSY: never a channel
    assert wait_until(lambda: rig.leased() == 0, 2.5)
    # the records come with the batch, later
    assert rig.state(answered) != "ended" or rig.state(failed) != "ended"
    rig.wait_state([answered, failed], "ended", timeout=8)
    assert rig.leased() == 0


def test_channel_gone_is_a_hangup_or_a_failed_originate() -> None:
    from dialer.consumer.service import channel_gone

    def job(body: str) -> Any:
        return event_from_mapping({"Event-Name": "BACKGROUND_JOB", "Job-UUID": "x"}, body)

    assert channel_gone(event_from_mapping({"Event-Name": "CHANNEL_HANGUP_COMPLETE"}))
    assert channel_gone(job("-ERR USER_BUSY\n"))
    assert not channel_gone(job("+OK x\n"))
    assert not channel_gone(event_from_mapping({"Event-Name": "CHANNEL_ANSWER"}))
