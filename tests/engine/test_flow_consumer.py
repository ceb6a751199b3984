"""The call flow's results as the consumer stores them: calls originated straight into the
shipped flow (``dialer_flow XML default`` with its channel variables) on the simulator over
TCP, consumed into PostgreSQL, the columns read back."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from dialer.clock import RealClock
from dialer.consumer import Consumer, attempt_of
from dialer.consumer.service import CUSTOM_SUBCLASSES
from dialer.consumer.store import BatchResult
from dialer.db.models import CallAttempt, CallEvent, DncNumber
from dialer.esl import Backoff, DialTemplate, ESLClient, build_originate
from dialer.esl.events import event_from_mapping
from dialer.flow import contract as fv
from dialer.fs_nodes import NodeConfig
from dialer.leases import Granted, MemoryLeases, Scope
from dialer.lifecycle import (
    AGENT_ANSWERED,
    AMD_RESULT,
    ANSWERED,
    CALL_INITIATED,
    COMPLETED,
    IVR_COMPLETED,
    QUEUE_JOINED,
)
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
QUEUE = "sales@default"
HUMAN = {"outcome": "answer", "ring": 1.0, "machine": False, "amd_cause": "HUMAN",
         "amd_seconds": 1.4, "hangup_after": None, "patience": 3600}
NUMBERS: dict[str, dict[str, Any]] = {
    # presses 1 one second into the prompt; an agent answers 1 s after the join, talks 3 s
    "flow_agent": {**HUMAN, "digit": "1", "digit_after": 1.0, "agent": True,
                   "queue_wait": 1.0, "talk": 3.0},
    "flow_noagent": {**HUMAN, "digit": "1", "digit_after": 1.0},
    "flow_silent": {**HUMAN, "digit": None},
    # hangs up 4 s after the answer: inside the IVR (AMD took 1.4 s, the IVR waits 6 s more)
    # by seconds, not tenths: on the scaled clock a loaded machine resumes a call late
    "flow_gone": {**HUMAN, "digit": None, "hangup_after": 4.0},
    "flow_optout": {**HUMAN, "digit": "9", "digit_after": 0.5},
    "flow_machine": {**HUMAN, "machine": True, "amd_cause": "MAXWORDS", "amd_seconds": 1.8,
                     "greeting": 8.0, "beep": 3.0},
    "ai_bot": {"outcome": "answer", "ring": 0.5, "talk": 2.0},
}


def _scenario() -> Scenario:
    scenario = Scenario.load("all-answer")
    scenario.numbers.update(NUMBERS)
    return scenario


def flow_variables(**more: str) -> dict[str, str]:
    """A press-1 campaign's variables: AMD, one IVR try of 2 s, 1 → the queue, 9 → opt-out."""
    out = {
        fv.AMD: "true",
        fv.AMD_ON_MACHINE: "hangup",
        fv.IVR: "true",
        fv.IVR_DIGITS: "19",
        fv.IVR_TRIES: "1",
        fv.IVR_TIMEOUT_MS: "6000",
        fv.digit_var(fv.IVR_ACTION, "1"): "queue",
        fv.digit_var(fv.IVR_TARGET, "1"): QUEUE,
        fv.digit_var(fv.IVR_MAX_WAIT, "1"): "30",
        fv.digit_var(fv.IVR_ACTION, "9"): "opt_out",
        fv.HANDOFF_TYPE: fv.HANDOFF_NONE,
        fv.RECORDING: "false",
    }
    out.update(more)
    return out


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(
        password="ClueCon", scenario=_scenario(), time_scale=0.01, port=0, ledger_path=None
    ) as server:
        yield server


class FlowRig:
    """A campaign, attempts as the worker leaves them, a sender and one consumer."""

    def __init__(self, sim: Simulator, engine: Engine, **options: Any) -> None:
        self.engine = engine
        self.clock = RealClock()
        self.leases = MemoryLeases()
        self.leases.restore([], self.clock.time())
        host, port = sim.address
        self.node = NodeConfig(name="fs1", host=host, port=port, password="ClueCon")
        self.sender = ESLClient(host, port, "ClueCon", name="worker", **CLIENT_OPTIONS)
        self.sender.connect(timeout=3)
        self.emitted: dict[uuid.UUID, list[str]] = {}
        with Session(engine, expire_on_commit=False) as s:
            self.campaign = make_campaign(s)
            s.commit()
        self.consumer = Consumer(self.node, engine, self.leases, clock=self.clock,
                                 client_options=CLIENT_OPTIONS, **options)
        self.consumer.on_batch = self._on_batch
        self.consumer.start()
        assert self.consumer.client.wait_connected(3)
        # the first reconcile is done before any attempt exists (it would end ours)
        assert wait_until(lambda: self.consumer.reconciles >= 1, 3)

    def _on_batch(self, result: BatchResult) -> None:
        for attempt_id, names in result.emitted:
            self.emitted.setdefault(attempt_id, []).extend(names)

    def call(self, number: str, phone: str, **variables: str) -> uuid.UUID:
        sent = self.clock.now() - timedelta(seconds=60)
        with Session(self.engine, expire_on_commit=False) as s:
            progress = make_recipient(s, self.campaign, phone=phone)
            row = make_attempt(s, campaign=self.campaign, progress=progress, sent_at=sent,
                               to_number=phone)
            s.commit()
        granted = self.leases.acquire(str(row.id), [NODE_SCOPE], 90, self.clock.time())
        assert isinstance(granted, Granted)
        aid = str(row.id)
        self.sender.originate(
            build_originate(
                attempt_id=aid,
                number=number,
                template=LOOPBACK,
                caller_id_number="15550001",
                timeout_seconds=30,
                application=fv.APPLICATION,
                variables={
                    "dialer_attempt_id": aid,
                    "dialer_campaign_id": str(self.campaign.id),
                    **flow_variables(**variables),
                },
            )
        )
        return row.id

    def row(self, attempt_id: uuid.UUID) -> CallAttempt:
        with Session(self.engine) as s:
            found = s.get(CallAttempt, attempt_id)
            assert found is not None
            s.expunge(found)
            return found

    def event_names(self, attempt_id: uuid.UUID) -> list[str]:
        with Session(self.engine) as s:
            return list(s.scalars(
                sa.select(CallEvent.name).where(CallEvent.attempt_id == attempt_id)
                .order_by(CallEvent.event_sequence)
            ))

    def ended(self, attempt_id: uuid.UUID, *, after: str | None = None) -> CallAttempt:
        """The row once ended (and, with ``after``, once that event is stored too)."""
        assert wait_until(lambda: self.row(attempt_id).state == "ended", 10), self.row(attempt_id)
        if after is not None:
            assert wait_until(lambda: after in self.event_names(attempt_id), 5)
            assert wait_until(lambda: self.consumer.queued == 0, 5)
        return self.row(attempt_id)

    def close(self) -> None:
        self.consumer.stop(timeout=2)
        self.sender.close()


@pytest.fixture
def rig(sim: Simulator, pg_engine: Engine) -> Iterator[FlowRig]:
    harness = FlowRig(sim, pg_engine)
    yield harness
    harness.close()


# -- which callcenter events are ours ---------------------------------------------------------


def _cc(action: str, **headers: str) -> Any:
    base = {"Event-Name": "CUSTOM", "Event-Subclass": "callcenter::info", "CC-Action": action,
            "CC-Queue": QUEUE}
    return event_from_mapping({**base, **headers})


def test_callcenter_events_belong_to_their_member() -> None:
    assert "callcenter::info" in CUSTOM_SUBCLASSES
    member = str(uuid.uuid4())
    # member events carry the member's channel (and our variable)
    start = _cc("member-queue-start", **{"CC-Member-Session-UUID": member,
                                        "Unique-ID": member,
                                        "variable_dialer_attempt_id": member})
    assert attempt_of(start) == uuid.UUID(member)
    # agent events carry the agent leg's uuid; the member session says whose call it is
    bridge = _cc("bridge-agent-start", **{"CC-Member-Session-UUID": member,
                                         "Unique-ID": str(uuid.uuid4()),
                                         "CC-Agent": "agent1@default"})
    assert attempt_of(bridge) == uuid.UUID(member)
    # the queue's own events, another dialer's member, and junk are not ours
    others = [
        _cc("members-count", **{"CC-Count": "1"}),
        _cc("agent-offering", **{"CC-Member-Session-UUID": member}),
        _cc("member-queue-end", **{"CC-Member-Session-UUID": member,
                                   "variable_dialer_attempt_id": str(uuid.uuid4())}),
        _cc("member-queue-end", **{"CC-Member-Session-UUID": "not-a-uuid"}),
        _cc("member-queue-end"),
    ]
    assert [attempt_of(e) for e in others] == [None] * len(others)


def test_callcenter_events_of_an_unknown_member_are_dropped(
    sim: Simulator, pg_engine: Engine
) -> None:
    """A queue member the database does not know (a call of someone else's dialplan) waits
    its grace like any unmatched event, then is dropped and counted."""
    rig = FlowRig(sim, pg_engine, unmatched_grace=0.2)
    try:
        stranger = uuid.uuid4()
        event = _cc("member-queue-start", **{
            "CC-Member-Session-UUID": str(stranger), "Core-UUID": "c", "Event-Sequence": "1",
        })
        rig.consumer._on_event(event)
        assert wait_until(lambda: rig.consumer.dropped == 1, 5)
        with Session(pg_engine) as s:
            assert s.scalar(sa.select(sa.func.count()).select_from(CallEvent)) == 0
    finally:
        rig.close()


def _columns(row: CallAttempt, *names: str) -> dict[str, Any]:
    return {name: getattr(row, name) for name in names}


def test_human_presses_1_and_an_agent_answers(rig: FlowRig) -> None:
    aid = rig.call("flow_agent", "+12125550201")
    row = rig.ended(aid, after="callcenter::info")
    # member-queue-end comes after the hangup: its batch may be a later one
    assert wait_until(lambda: rig.event_names(aid).count("callcenter::info") >= 4, 5)
    row = rig.row(aid)
    assert (row.outcome, row.hangup_cause) == ("agent_answered", "NORMAL_CLEARING")
    assert _columns(row, "amd_enabled", "amd_result", "amd_cause", "amd_method") == {
        "amd_enabled": True, "amd_result": "human", "amd_cause": "HUMAN", "amd_method": "amd",
    }
    # the flow's amd_ms: 1.4 s simulated, give or take the scaled clock's scheduling
    assert row.amd_duration_ms == pytest.approx(1400, abs=400)
    assert _columns(row, "ivr_digit", "ivr_attempts", "ivr_result") == {
        "ivr_digit": "1", "ivr_attempts": 1, "ivr_result": "digit_pressed",
    }
    assert _columns(row, "handoff_type", "handoff_target", "queue_name", "queue_id",
                    "queue_result", "agent_id", "agent_name", "abandoned") == {
        "handoff_type": "queue", "handoff_target": QUEUE, "queue_name": QUEUE,
        "queue_id": QUEUE, "queue_result": "answered", "agent_id": "agent1@default",
        "agent_name": "agent1", "abandoned": False,
    }
    assert row.queue_entered_at is not None
    assert row.answered_at is not None
    assert row.answered_at < row.queue_entered_at < row.ended_at  # type: ignore[operator]
    assert row.queue_wait_seconds is not None
    assert 0.0 <= row.queue_wait_seconds <= 2.0
    assert row.talk_seconds is not None
    assert 2 <= row.talk_seconds <= 4
    assert row.ai is None  # no AI agent: the document is left alone
    assert rig.emitted[aid] == [CALL_INITIATED, ANSWERED, AMD_RESULT, IVR_COMPLETED,
                                QUEUE_JOINED, AGENT_ANSWERED, COMPLETED]
    names = rig.event_names(aid)
    for name in ("dialer::amd", "dialer::ivr", "dialer::handoff", "callcenter::info"):
        assert name in names
    assert rig.consumer.dropped == 0


def test_machine_hangs_up(rig: FlowRig) -> None:
    aid = rig.call("flow_machine", "+12125550202")
    row = rig.ended(aid)
    assert row.outcome == "amd_machine"
    assert _columns(row, "amd_result", "amd_cause", "ivr_result", "queue_name", "abandoned") == {
        "amd_result": "machine", "amd_cause": "MAXWORDS", "ivr_result": None,
        "queue_name": None, "abandoned": None,
    }
    assert rig.emitted[aid] == [CALL_INITIATED, ANSWERED, AMD_RESULT, COMPLETED]


def test_voicemail_after_the_beep(rig: FlowRig) -> None:
    aid = rig.call("flow_machine", "+12125550203", **{
        fv.AMD_ON_MACHINE: "voicemail", fv.VOICEMAIL_MESSAGE: "silence_stream://500",
    })
    row = rig.ended(aid)
    assert (row.outcome, row.amd_result) == ("voicemail_left", "machine")
    assert "dialer::voicemail" in rig.event_names(aid)


def test_ivr_timeout(rig: FlowRig) -> None:
    aid = rig.call("flow_silent", "+12125550204")
    row = rig.ended(aid)
    assert _columns(row, "outcome", "amd_result", "ivr_result", "ivr_digit", "ivr_attempts",
                    "queue_name") == {
        "outcome": "ivr_timeout", "amd_result": "human", "ivr_result": "timeout",
        "ivr_digit": None, "ivr_attempts": 1, "queue_name": None,
    }
    assert rig.emitted[aid] == [CALL_INITIATED, ANSWERED, AMD_RESULT, IVR_COMPLETED, COMPLETED]


def test_ivr_hangup(rig: FlowRig) -> None:
    aid = rig.call("flow_gone", "+12125550205")
    row = rig.ended(aid)
    assert (row.outcome, row.ivr_result, row.ivr_digit) == ("ivr_hangup", "caller_hangup", None)


def test_queue_timeout(rig: FlowRig) -> None:
    target = "noagent_q@default"  # "noagent": the simulator's queue has no agent (6 s)
    aid = rig.call("flow_noagent", "+12125550206",
                   **{fv.digit_var(fv.IVR_TARGET, "1"): target})
    row = rig.ended(aid)
    assert _columns(row, "outcome", "queue_name", "queue_result", "agent_id", "abandoned") == {
        "outcome": "queue_timeout", "queue_name": target, "queue_result": "timeout",
        "agent_id": None, "abandoned": True,
    }
    assert row.queue_wait_seconds == pytest.approx(6.0, abs=1.0)
    assert rig.emitted[aid] == [CALL_INITIATED, ANSWERED, AMD_RESULT, IVR_COMPLETED,
                                QUEUE_JOINED, COMPLETED]


def test_opt_out(rig: FlowRig) -> None:
    phone = "+12125550207"
    aid = rig.call("flow_optout", phone)
    row = rig.ended(aid)
    assert (row.outcome, row.ivr_digit, row.ivr_result) == ("opted_out", "9", "digit_pressed")
    with Session(rig.engine) as s:
        dnc = s.get(DncNumber, phone)
    assert dnc is not None
    assert dnc.source == "opt_out"


def test_ai_agent_merges_into_the_ai_document(rig: FlowRig) -> None:
    """The ``ai`` column gets agentId/endReason merged: another writer's toolCalls stay."""
    target = "loopback/ai_bot/default"
    aid = rig.call("flow_agent", "+12125550208", **{
        fv.digit_var(fv.IVR_ACTION, "1"): "ai_agent",
        fv.digit_var(fv.IVR_TARGET, "1"): target,
    })
    with Session(rig.engine) as s, s.begin():
        s.execute(sa.update(CallAttempt).where(CallAttempt.id == aid)
                  .values(ai={"toolCalls": [{"name": "lookup"}]}))
    row = rig.ended(aid)
    assert (row.outcome, row.handoff_type, row.handoff_target) == (
        "ai_completed", "ai_agent", target
    )
    assert row.ai == {"toolCalls": [{"name": "lookup"}], "agentId": target,
                      "endReason": "NORMAL_CLEARING"}
    assert (row.queue_name, row.abandoned) == (None, None)


def test_extension_handoff(rig: FlowRig) -> None:
    aid = rig.call("flow_agent", "+12125550209", **{
        fv.digit_var(fv.IVR_ACTION, "1"): "extension",
        fv.digit_var(fv.IVR_TARGET, "1"): "1000 XML default",
    })
    row = rig.ended(aid)
    assert (row.outcome, row.handoff_type, row.handoff_target) == (
        "transferred", "extension", "1000 XML default"
    )


def _sample(name: str, **labels: str) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_the_flow_results_are_counted_once_when_the_call_ends(rig: FlowRig) -> None:
    """DESIGN §11: dialer_amd_results_total, dialer_ivr_results_total,
    dialer_queue_wait_seconds (and the AMD decision time) per ended attempt."""
    before = {
        "human": _sample("dialer_amd_results_total", result="human"),
        "pressed": _sample("dialer_ivr_results_total", result="digit_pressed"),
        "waits": _sample("dialer_queue_wait_seconds_count"),
        "decisions": _sample("dialer_amd_decision_seconds_count"),
        "timeouts": _sample("dialer_ivr_results_total", result="timeout"),
    }
    agent = rig.call("flow_agent", "+12125550231")
    silent = rig.call("flow_silent", "+12125550232")
    rig.ended(agent)
    rig.ended(silent)
    assert _sample("dialer_amd_results_total", result="human") == before["human"] + 2
    assert _sample("dialer_ivr_results_total", result="digit_pressed") == before["pressed"] + 1
    assert _sample("dialer_ivr_results_total", result="timeout") == before["timeouts"] + 1
    assert _sample("dialer_queue_wait_seconds_count") == before["waits"] + 1
    assert _sample("dialer_amd_decision_seconds_count") == before["decisions"] + 2
