"""The lifecycle state machine against the event sequences of real calls (captures 02, 03,
04*, 05*, 06, 10*, 11, 13, with their call-flow events), and its order-independence
(hypothesis)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.esl.events import event_from_mapping
from dialer.lifecycle import (
    ANSWERED,
    CALL_INITIATED,
    COMPLETED,
    STAGES,
    CallRecord,
    apply,
    apply_all,
)
from tests.engine.captured import calls
from tests.engine.flow_calls import flow_calls

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def us(value: int) -> datetime:
    return EPOCH + timedelta(microseconds=value)


START = CallRecord(state="originating")

# capture, A leg, outcome, hangup cause, answered, billsec
CASES = [
    # the hangup's cc_* variables say an agent answered, without the callcenter events
    ("02_press1_queue_agent_json.txt", "59b87335-b4ce-407a-a160-1b02cced3e4e",
     "agent_answered", "NORMAL_CLEARING", True, 6),
    ("02_press1_queue_agent_plain.txt", "4686ead4-575b-4a2e-8d6f-17c270b82ba4",
     "agent_answered", "NORMAL_CLEARING", True, None),
    ("03_no_answer.txt", "74b0440d-87fd-4fc7-ab8c-6f38676cb277", "no_answer", "NO_ANSWER",
     False, 0),
    ("03_no_answer.txt", "c3a711ef-ce3b-47b5-9cd2-8aa899ab6f77", "no_answer", "NO_ANSWER",
     False, 0),
    ("04a_busy_loopback_user_busy.txt", "5ca16597-6acf-4d5f-aec8-81e2f3e712af", "busy",
     "USER_BUSY", False, 0),
    ("04b_busy_loopback_respond486.txt", "92e903aa-0d18-432e-9b9a-0a32f6c50942", "failed",
     "NORMAL_CLEARING", False, 0),
    ("04c_busy_sip486.txt", "ea0ac808-6418-4528-ac4d-f7f61747d9ea", "busy", "USER_BUSY",
     False, 0),
    ("04d_no_route_loopback.txt", "639cd569-76f3-4b34-ba17-a85c975c3fec", "invalid_number",
     "NO_ROUTE_DESTINATION", False, 0),
    ("04e_no_route_sip.txt", "06cea6ae-5471-4687-8e0a-e86ca3efd6a9", "invalid_number",
     "NO_ROUTE_DESTINATION", False, 0),
    ("04f_bad_endpoint.txt", "2907e41f-0598-415d-873a-7d1319564243", "failed",
     "CHAN_NOT_IMPLEMENTED", False, None),
    ("04g_sip_unreachable.txt", "ab06e4e3-c96e-4a49-93a9-243704f67ed4", "failed",
     "NORMAL_TEMPORARY_FAILURE", False, 0),
    ("04h_reject_sip603.txt", "33649267-5331-4190-a337-1911c1425b67", "busy", "CALL_REJECTED",
     False, 0),
    ("13_uuid_kill_on_answer.txt", "a849320e-37f7-49f5-bb95-70c2c2c9793d", "completed",
     "NORMAL_CLEARING", True, 0),
]
ALL_CALLS = [(name, leg) for name, leg, *_ in CASES]
#: Calls with their flow events (CUSTOM dialer::*, callcenter::info about the member)
FLOW_CAPTURES = (
    "02_press1_queue_agent_json.txt",
    "02_press1_queue_agent_plain.txt",
    "05a_ivr_timeout_no_input.txt",
    "05b_ivr_callee_hangup.txt",
    "06_queue_timeout_no_agent.txt",
    "10a_amd_human.txt",
    "10b_amd_human_long.txt",
    "10c_amd_machine_then_beep.txt",
    "10d_amd_silence.txt",
    "11_dialplan_custom_event.txt",
)
FLOW_CALLS = [(name, leg) for name in FLOW_CAPTURES for leg in flow_calls(name)]


def _events(name: str, leg: str) -> tuple[dict[str, str], ...]:
    return calls(name)[leg]


def _flow_events(name: str, leg: str) -> tuple[dict[str, str], ...]:
    return flow_calls(name)[leg]


@pytest.mark.parametrize(("name", "leg", "outcome", "cause", "answered", "billsec"), CASES)
def test_captured_call(
    name: str, leg: str, outcome: str, cause: str, answered: bool, billsec: int | None
) -> None:
    events = _events(name, leg)
    record, emitted = apply_all(START, events)
    assert record.state == "ended"
    assert (record.outcome, record.hangup_cause) == (outcome, cause)
    assert (record.answered_at is not None) == answered
    if billsec is not None:
        assert record.billsec == billsec
    expected = [CALL_INITIATED, ANSWERED, COMPLETED] if answered else [CALL_INITIATED, COMPLETED]
    assert [e for e in emitted if e not in STAGES] == expected
    stages = [e for e in emitted if e in STAGES]
    assert stages == [s for s in STAGES if s in stages]  # in the contract's order
    assert emitted.index(COMPLETED) == len(emitted) - 1
    core = {e["Core-UUID"] for e in events}
    assert record.core_uuid in core
    hangups = [e for e in events if e["Event-Name"] == "CHANNEL_HANGUP_COMPLETE"]
    if hangups:
        assert record.end_source == "hangup"
        assert record.started_at == us(int(hangups[0]["Caller-Channel-Created-Time"]))
        assert record.ended_at == us(int(hangups[0]["Caller-Channel-Hangup-Time"]))
        assert record.ring_duration_sec is not None
    else:  # 04f: no channel was ever created, only the job
        job = next(e for e in events if e["Event-Name"] == "BACKGROUND_JOB")
        assert record.end_source == "job"
        assert record.started_at is None
        assert record.ended_at == us(int(job["Event-Date-Timestamp"]))
        assert record.ring_duration_sec is None


def test_answered_call_timings_are_the_switchs() -> None:
    record, _ = apply_all(START, _events(*ALL_CALLS[0]))
    assert record.started_at == us(1795247933222748)
    assert record.answered_at == us(1795247935242798)
    assert record.ended_at == us(1795247941882759)
    assert record.ring_duration_sec == pytest.approx(2.02005)
    assert record.billsec == 6


def test_step_by_step_02() -> None:
    progress, answer, job, hangup = _events(*ALL_CALLS[0])
    record, emitted = apply(START, progress)
    assert (record.state, emitted) == ("ringing", [CALL_INITIATED])
    record, emitted = apply(record, answer)
    assert (record.state, emitted) == ("answered", [ANSWERED])
    assert record.outcome is None
    late, emitted = apply(record, progress)  # a late CHANNEL_PROGRESS changes nothing
    assert (late, emitted) == (record, [])
    record, emitted = apply(record, job)  # +OK <uuid>
    assert (record.state, emitted) == ("answered", [])
    record, emitted = apply(record, hangup)
    assert (record.state, record.outcome) == ("ended", "agent_answered")
    # what the hangup's variables say the call reached, then the end
    assert emitted == [
        "campaign.ivr_completed", "campaign.queue_joined", "campaign.agent_answered", COMPLETED
    ]
    again, emitted = apply(record, hangup)  # a duplicate hangup emits nothing
    assert (again, emitted) == (record, [])


def test_err_job_first_then_hangup_complete_refines_the_end() -> None:
    progress, job, hangup = _events("03_no_answer.txt", "74b0440d-87fd-4fc7-ab8c-6f38676cb277")
    record, emitted = apply(START, job)
    assert (record.state, record.outcome, record.end_source) == ("ended", "no_answer", "job")
    assert emitted == [CALL_INITIATED, COMPLETED]
    record, emitted = apply(record, hangup)
    assert emitted == []
    assert record.end_source == "hangup"
    assert record.billsec == 0
    record, emitted = apply(record, progress)
    assert (record.state, emitted) == ("ended", [])


_ANSWER_HEADERS = ("Caller-Channel-Answered-Time", "variable_answer_uepoch",
                   "variable_answerusec", "variable_answermsec")


@pytest.mark.parametrize(
    ("kept", "answered"),
    [
        ("variable_answerusec", 1795247935242798),  # start + 2020050 µs: exact
        ("variable_answermsec", 1795247935242748),  # start + 2020 ms
        ("variable_answersec", 1795247935222748),  # start + 2 s
    ],
)
def test_hangup_before_answer_with_relative_answer_times(kept: str, answered: int) -> None:
    progress, _answer, _job, hangup = _events(*ALL_CALLS[0])
    relative = ("variable_answerusec", "variable_answermsec", "variable_answersec")
    dropped = {*_ANSWER_HEADERS, "variable_answer_epoch", *relative} - {kept}
    stripped = {k: v for k, v in hangup.items() if k not in dropped and "cc_" not in k}
    record, emitted = apply_all(START, [progress, stripped])
    assert record.answered_at == us(answered)
    assert record.outcome == "completed"
    assert [e for e in emitted if e not in STAGES] == [CALL_INITIATED, ANSWERED, COMPLETED]


def test_hangup_before_answer_with_only_answer_epoch() -> None:
    progress, answer, _job, hangup = _events(*ALL_CALLS[0])
    stripped = {k: v for k, v in hangup.items() if k not in _ANSWER_HEADERS and "cc_" not in k}
    record, emitted = apply_all(START, [progress, stripped])
    assert record.answered_at == us(1795247935_000000)  # answer_epoch, whole seconds
    assert record.outcome == "completed"
    assert [e for e in emitted if e not in STAGES] == [CALL_INITIATED, ANSWERED, COMPLETED]
    # a late ANSWER changes nothing: the earliest instant known is kept (order-independent)
    record, emitted = apply(record, answer)
    assert (record.answered_at, emitted) == (us(1795247935_000000), [])


def test_err_job_without_channel() -> None:
    body = {"Event-Name": "BACKGROUND_JOB", "Core-UUID": "c", "Job-Command": "originate",
            "Event-Date-Timestamp": "1795248358182808", "_body": "-ERR USER_BUSY\n"}
    record, emitted = apply(START, body)
    assert (record.state, record.outcome, record.hangup_cause) == ("ended", "busy", "USER_BUSY")
    assert emitted == [CALL_INITIATED, COMPLETED]


def test_other_jobs_and_events_change_nothing() -> None:
    status_job = {"Event-Name": "BACKGROUND_JOB", "Job-Command": "status", "_body": "-ERR x"}
    custom = {"Event-Name": "CUSTOM", "Event-Subclass": "avmd::beep", "Core-UUID": "c"}
    count = {"Event-Name": "CUSTOM", "Event-Subclass": "callcenter::info",
             "CC-Action": "members-count", "CC-Queue": "q"}
    for event in (status_job, custom, count, {"Event-Name": "HEARTBEAT"}):
        assert apply(START, event) == (START, [])


def test_a_record_ended_elsewhere_is_final() -> None:
    swept = CallRecord(state="ended", outcome="failed", hangup_cause="UNKNOWN")
    for event in _events(*ALL_CALLS[0]):
        assert apply(swept, event) == (swept, [])
    cancelled = CallRecord(state="cancelled")
    assert apply(cancelled, _events(*ALL_CALLS[0])[0]) == (cancelled, [])


def test_accepts_an_event_object() -> None:
    events = [event_from_mapping({k: v for k, v in e.items() if k != "_body"}, e["_body"])
              for e in _events(*ALL_CALLS[0])]
    assert apply_all(START, events)[0] == apply_all(START, _events(*ALL_CALLS[0]))[0]


def test_record_of_an_attempt_row() -> None:
    class Row:
        state = "ringing"
        core_uuid = "c"
        started_at = us(1)
        answered_at = ended_at = ring_duration_sec = billsec = hangup_cause = outcome = None

    record = CallRecord.of(Row())
    assert (record.state, record.core_uuid, record.initiated) == ("ringing", "c", True)


def test_a_record_ended_elsewhere_is_final_for_flow_events() -> None:
    swept = CallRecord(state="ended", outcome="failed", hangup_cause="UNKNOWN")
    for event in _flow_events(*FLOW_CALLS[0]):
        assert apply(swept, event) == (swept, [])


@st.composite
def shuffled_with_duplicates(draw: Any) -> tuple[tuple[str, str], list[int]]:
    call = draw(st.sampled_from(ALL_CALLS + FLOW_CALLS))
    n = len(_any_events(*call))
    order = draw(st.permutations(range(n)))
    extra = draw(st.lists(st.integers(0, n - 1), max_size=4))
    positions = list(order)
    for index in extra:
        positions.insert(draw(st.integers(0, len(positions))), index)
    return call, positions


@settings(max_examples=300, deadline=None)
@given(shuffled_with_duplicates())
def test_any_order_and_duplication_gives_the_same_record(
    case: tuple[tuple[str, str], list[int]],
) -> None:
    call, positions = case
    events = _any_events(*call)
    expected, expected_emitted = apply_all(START, events)
    record, emitted = apply_all(START, [events[i] for i in positions])
    assert record == expected
    # every webhook event once; completed last; no stage before the answer
    assert sorted(emitted) == sorted(expected_emitted)
    assert len(emitted) == len(set(emitted))
    assert emitted[-1] == COMPLETED
    assert emitted[0] == CALL_INITIATED
    stages = [i for i, e in enumerate(emitted) if e in STAGES]
    if stages:
        assert emitted.index(ANSWERED) < stages[0]


def _any_events(name: str, leg: str) -> tuple[dict[str, str], ...]:
    return _flow_events(name, leg) if (name, leg) in FLOW_CALLS else _events(name, leg)
