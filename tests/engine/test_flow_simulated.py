"""The lifecycle fold against the simulator's model of the shipped flow: each path's events,
as a listener with the consumer's subscriptions received them, give the path's record, in any
order and with duplicates (hypothesis)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import gevent
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.consumer.service import CHANNEL_EVENTS, CUSTOM_SUBCLASSES, JOB_EVENT, attempt_of
from dialer.consumer.store import event_payload
from dialer.esl import ESLClient, build_originate
from dialer.esl.events import Event
from dialer.flow import contract as fv
from dialer.lifecycle import COMPLETED, STAGES, CallRecord, apply_all
from dialer.simulator import Simulator
from tests.engine.test_flow_consumer import CLIENT_OPTIONS, LOOPBACK, _scenario, flow_variables
from tests.esl.waiting import wait_until

START = CallRecord(state="originating")

# number, extra variables, outcome, stages reached
PATHS: dict[str, tuple[str, dict[str, str], str, tuple[str, ...]]] = {
    "agent": ("flow_agent", {}, "agent_answered", STAGES),
    "machine": ("flow_machine", {}, "amd_machine", STAGES[:1]),
    "voicemail": ("flow_machine", {fv.AMD_ON_MACHINE: "voicemail",
                                   fv.VOICEMAIL_MESSAGE: "silence_stream://500"},
                  "voicemail_left", STAGES[:1]),
    "ivr_timeout": ("flow_silent", {}, "ivr_timeout", STAGES[:2]),
    "ivr_hangup": ("flow_gone", {}, "ivr_hangup", STAGES[:2]),
    "queue_timeout": ("flow_noagent", {fv.digit_var(fv.IVR_TARGET, "1"): "noagent_q@default"},
                      "queue_timeout", STAGES[:3]),
    "opt_out": ("flow_optout", {}, "opted_out", STAGES[:2]),
    "extension": ("flow_agent", {fv.digit_var(fv.IVR_ACTION, "1"): "extension",
                                 fv.digit_var(fv.IVR_TARGET, "1"): "1000 XML default"},
                  "transferred", STAGES[:2]),
    "ai_agent": ("flow_agent", {fv.digit_var(fv.IVR_ACTION, "1"): "ai_agent",
                                fv.digit_var(fv.IVR_TARGET, "1"): "loopback/ai_bot/default"},
                 "ai_completed", STAGES[:2]),
}


@pytest.fixture(scope="module")
def simulated() -> Iterator[dict[str, tuple[dict[str, Any], ...]]]:
    """path → the events of its call (JSON-style mappings), in the order they came."""
    with Simulator(
        password="ClueCon", scenario=_scenario(), time_scale=0.01, port=0, ledger_path=None
    ) as sim:
        host, port = sim.address
        listener = ESLClient(host, port, "ClueCon", name="listener", event_format="json",
                             **CLIENT_OPTIONS)
        got: dict[uuid.UUID, list[Event]] = {}

        def keep(event: Event) -> None:
            aid = attempt_of(event)
            if aid is not None:
                got.setdefault(aid, []).append(event)

        listener.subscribe(*CHANNEL_EVENTS, "CUSTOM", custom=CUSTOM_SUBCLASSES)
        for key in (*CHANNEL_EVENTS, JOB_EVENT, *CUSTOM_SUBCLASSES):
            listener.on(key, keep)
        listener.start()
        assert listener.wait_connected(3)
        sender = ESLClient(host, port, "ClueCon", name="worker", **CLIENT_OPTIONS)
        sender.connect(timeout=3)
        ids: dict[str, uuid.UUID] = {}
        for path, (number, extra, _outcome, _stages) in PATHS.items():
            aid = ids[path] = uuid.uuid4()
            sender.originate(build_originate(
                attempt_id=str(aid), number=number, template=LOOPBACK,
                caller_id_number="15550001", application=fv.APPLICATION,
                variables={"dialer_attempt_id": str(aid), "dialer_campaign_id": "1",
                           **flow_variables(**extra)},
            ))

        def done() -> bool:
            return all(any(e.name == "CHANNEL_HANGUP_COMPLETE" for e in got.get(a, ()))
                       for a in ids.values())

        assert wait_until(done, 15)
        gevent.sleep(0.3)  # what comes after the hangup (member-queue-end)
        sender.close()
        listener.close()
        yield {path: tuple(event_payload(e) for e in got[aid]) for path, aid in ids.items()}


@pytest.mark.parametrize("path", sorted(PATHS))
def test_each_path(simulated: dict[str, tuple[dict[str, Any], ...]], path: str) -> None:
    _number, _extra, outcome, stages = PATHS[path]
    record, emitted = apply_all(START, simulated[path])
    assert (record.state, record.outcome) == ("ended", outcome)
    assert [e for e in emitted if e in STAGES] == list(stages)
    assert emitted[-1] == COMPLETED


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_any_order_and_duplication(
    simulated: dict[str, tuple[dict[str, Any], ...]], data: st.DataObject
) -> None:
    path = data.draw(st.sampled_from(sorted(PATHS)))
    events = simulated[path]
    order = list(data.draw(st.permutations(range(len(events)))))
    for index in data.draw(st.lists(st.integers(0, len(events) - 1), max_size=4)):
        order.insert(data.draw(st.integers(0, len(order))), index)
    expected, expected_emitted = apply_all(START, events)
    record, emitted = apply_all(START, [events[i] for i in order])
    assert record == expected
    assert sorted(emitted) == sorted(expected_emitted)
    assert emitted[-1] == COMPLETED
