"""The call flow's results in the lifecycle record, from the captured calls (02, 05a, 05b, 06,
10a-10d, 11) and from events of the same shape for the stages the captures do not show
(opt-out, voicemail, handoffs, IVR rounds, abandonment)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dialer.lifecycle import (
    AGENT_ANSWERED,
    AMD_RESULT,
    ANSWERED,
    CALL_INITIATED,
    COMPLETED,
    IVR_COMPLETED,
    QUEUE_JOINED,
    CallRecord,
    apply,
    apply_all,
)
from tests.engine.flow_calls import only_call

START = CallRecord(state="originating")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
Events = list[dict[str, str]]


def us(value: int) -> datetime:
    return EPOCH + timedelta(microseconds=value)


def fold(events: Any) -> tuple[CallRecord, list[str]]:
    return apply_all(START, list(events))


# -- the captures -----------------------------------------------------------------------------

CAPTURES: list[tuple[str, str, dict[str, Any], list[str]]] = [
    (
        "02_press1_queue_agent_json.txt",
        "agent_answered",
        {
            "ivr_digit": "1", "ivr_attempts": 1, "ivr_result": "digit_pressed",
            "queue_name": "dialer_q@default", "queue_id": "dialer_q@default",
            "queue_entered_at": us(1795247937802771),  # member-queue-start
            "queue_wait_seconds": pytest.approx(1.06, abs=1e-6),  # to bridge-agent-start
            "queue_result": "answered", "agent_id": "agent1@default", "agent_name": "agent1",
            "talk_seconds": 3,  # CC-Bridge-Terminated-Time - CC-Agent-Answered-Time
            "handoff_type": "queue", "handoff_target": "dialer_q@default",
            "abandoned": False,  # the agent came 1.06 s after the member joined
            "amd_enabled": False, "amd_result": None,
        },
        [IVR_COMPLETED, QUEUE_JOINED, AGENT_ANSWERED],
    ),
    (
        "02_press1_queue_agent_plain.txt",
        "agent_answered",
        {"queue_result": "answered", "agent_id": "agent1@default", "talk_seconds": 3,
         "abandoned": False},
        [IVR_COMPLETED, QUEUE_JOINED, AGENT_ANSWERED],
    ),
    (
        "05a_ivr_timeout_no_input.txt",
        "ivr_timeout",
        {"ivr_result": "timeout", "ivr_digit": None, "ivr_attempts": 1, "queue_name": None,
         "abandoned": None},
        [IVR_COMPLETED],
    ),
    (
        "05b_ivr_callee_hangup.txt",
        "ivr_hangup",
        {"ivr_result": "caller_hangup", "ivr_digit": None},
        [IVR_COMPLETED],
    ),
    (
        "06_queue_timeout_no_agent.txt",
        "queue_timeout",
        {
            "ivr_digit": "1", "ivr_result": "digit_pressed", "queue_name": "noagent_q@default",
            "queue_result": "timeout", "queue_wait_seconds": 6.0,  # leaving - joined
            "agent_id": None, "talk_seconds": None, "abandoned": True,
        },
        [IVR_COMPLETED, QUEUE_JOINED],
    ),
    (
        "10a_amd_human.txt",
        "completed",
        {"amd_enabled": True, "amd_result": "human", "amd_cause": "HUMAN", "amd_method": "amd",
         "ivr_result": None},
        [AMD_RESULT],
    ),
    (
        "10b_amd_human_long.txt",
        "completed",
        {"amd_result": "human", "amd_cause": "HUMAN"},
        [AMD_RESULT],
    ),
    (
        "10c_amd_machine_then_beep.txt",
        "amd_machine",
        {"amd_result": "machine", "amd_cause": "MAXWORDS"},
        [AMD_RESULT],
    ),
    (
        "10d_amd_silence.txt",
        "amd_machine",
        {"amd_result": "machine", "amd_cause": "INITIALSILENCE"},
        [AMD_RESULT],
    ),
    (
        "11_dialplan_custom_event.txt",
        "completed",
        {
            "amd_enabled": True, "amd_result": "human", "amd_cause": "HUMAN",
            # dialer::amd 1.42 s after the answer (the README: 1.40-1.42 s)
            "amd_duration_ms": 1420,
            "ivr_digit": "1", "ivr_attempts": 1, "ivr_result": "digit_pressed",
            "handoff_type": None, "queue_name": None,
        },
        [AMD_RESULT, IVR_COMPLETED],
    ),
]


@pytest.mark.parametrize(("name", "outcome", "columns", "stages"), CAPTURES)
def test_captured_flow(
    name: str, outcome: str, columns: dict[str, Any], stages: list[str]
) -> None:
    record, emitted = fold(only_call(name))
    assert (record.state, record.outcome) == ("ended", outcome)
    assert {k: getattr(record, k) for k in columns} == columns
    assert emitted == [CALL_INITIATED, ANSWERED, *stages, COMPLETED]


def test_variables_alone_give_the_queue_result() -> None:
    """A consumer that missed every callcenter::info still has the hangup's cc_* variables."""
    for name, outcome, result in (
        ("02_press1_queue_agent_json.txt", "agent_answered", "answered"),
        ("06_queue_timeout_no_agent.txt", "queue_timeout", "timeout"),
    ):
        events = [e for e in only_call(name) if e["Event-Name"] != "CUSTOM"]
        record, emitted = fold(events)
        assert (record.outcome, record.queue_result) == (outcome, result), name
        assert record.queue_name == record.queue_id
        assert QUEUE_JOINED in emitted
    record, _ = fold(e for e in only_call("02_press1_queue_agent_json.txt")
                     if e["Event-Name"] != "CUSTOM")
    assert record.agent_id == "agent1@default"
    assert record.queue_entered_at == us(1795247937_000000)  # cc_queue_joined_epoch
    assert record.queue_wait_seconds == 1.0  # answered - joined epochs
    assert record.talk_seconds == 4  # from the answered epoch (whole s) to the hangup


def test_custom_events_alone_give_the_stage_results() -> None:
    """The flow's own events are read even when the variables are missing."""
    events = only_call("11_dialplan_custom_event.txt")
    bare = [{k: v for k, v in e.items() if not k.startswith("variable_amd")
             and k not in ("variable_ivr_digit", "variable_read_result")} for e in events]
    record, emitted = fold(bare)
    assert (record.amd_result, record.ivr_digit, record.ivr_result) == (
        "human", "1", "digit_pressed"
    )
    assert emitted == [CALL_INITIATED, ANSWERED, AMD_RESULT, IVR_COMPLETED, COMPLETED]


# -- events of the captured shape for what the captures do not show ----------------------------

_CALL = only_call("11_dialplan_custom_event.txt")
_ANSWER = next(e for e in _CALL if e["Event-Name"] == "CHANNEL_ANSWER")
_AMD = next(e for e in _CALL if e.get("Event-Subclass") == "dialer::amd")
_IVR = next(e for e in _CALL if e.get("Event-Subclass") == "dialer::ivr")
_HANGUP = next(e for e in _CALL if e["Event-Name"] == "CHANNEL_HANGUP_COMPLETE")
_T0 = int(_ANSWER["Event-Date-Timestamp"])
_SEQ = iter(range(50_000, 60_000))


def custom(subclass: str, at: float, first: dict[str, str], **variables: str) -> dict[str, str]:
    """A CUSTOM event as the flow raises it: its fields first, then the channel's headers and
    variables (those of capture 11's dialer::ivr, with ``variables`` changed; "" drops one)."""
    event = {k: v for k, v in _IVR.items() if k not in ("ivr_digit", "read_result")}
    event.update(first)
    event["Event-Subclass"] = subclass
    event["Event-Sequence"] = str(next(_SEQ))
    event["Event-Date-Timestamp"] = str(_T0 + int(at * 1e6))
    return _vars(event, variables)


def hangup(at: float, **variables: str) -> dict[str, str]:
    event = dict(_HANGUP)
    event["Event-Sequence"] = str(next(_SEQ))
    stamp = str(_T0 + int(at * 1e6))
    event["Event-Date-Timestamp"] = event["Caller-Channel-Hangup-Time"] = stamp
    event["variable_end_uepoch"] = stamp
    return _vars(event, variables)


def callcenter(action: str, at: float, **headers: str) -> dict[str, str]:
    """callcenter::info: bridge-agent-* carry the agent leg's uuid, no member variables."""
    uuid = _IVR["Unique-ID"]
    event = {k: v for k, v in _IVR.items() if not k.startswith("variable_")
             and k not in ("ivr_digit", "read_result", "dialer_attempt_id")}
    if action.startswith("bridge-agent"):
        event["Unique-ID"] = "agent-leg-uuid"
    event.update({"Event-Subclass": "callcenter::info", "CC-Action": action,
                  "CC-Member-Session-UUID": uuid, "Event-Sequence": str(next(_SEQ)),
                  "Event-Date-Timestamp": str(_T0 + int(at * 1e6)), **headers})
    return event


def _vars(event: dict[str, str], variables: dict[str, str]) -> dict[str, str]:
    for name, value in variables.items():
        if value == "":
            event.pop("variable_" + name, None)
        else:
            event["variable_" + name] = value
    return event


def ivr_round(at: float, digit: str, result: str) -> dict[str, str]:
    return custom("dialer::ivr", at, {"dialer_attempt_id": _IVR["Unique-ID"],
                                      "ivr_digit": digit, "read_result": result},
                  ivr_digit=digit, read_result=result)


def call(*flow: dict[str, str], end: dict[str, str] | None = None) -> Events:
    progress, answer, job = _CALL[:3]
    return [progress, answer, job, _AMD, *flow, end or hangup(20.0)]


def test_opt_out() -> None:
    out = custom("dialer::opt_out", 7.1, {"dialer_attempt_id": "x", "ivr_digit": "9"})
    record, emitted = fold(call(ivr_round(7.0, "9", "success"), out,
                                end=hangup(9.0, ivr_digit="9")))
    assert (record.outcome, record.ivr_digit, record.ivr_result) == (
        "opted_out", "9", "digit_pressed"
    )
    assert emitted == [CALL_INITIATED, ANSWERED, AMD_RESULT, IVR_COMPLETED, COMPLETED]


@pytest.mark.parametrize(("result", "outcome"), [("left", "voicemail_left"),
                                                 ("nothing_to_leave", "amd_machine")])
def test_voicemail(result: str, outcome: str) -> None:
    amd = dict(_AMD, amd_result="MACHINE", amd_cause="MAXWORDS", amd_ms="1800",
               amd_method="amd", variable_amd_result="MACHINE", variable_amd_cause="MAXWORDS")
    voicemail = custom("dialer::voicemail", 9.0, {"voicemail_result": result, "beep": "true"},
                       amd_result="MACHINE", amd_cause="MAXWORDS", ivr_digit="",
                       read_result="")
    progress, answer, job = _CALL[:3]
    end = hangup(12.0, amd_result="MACHINE", amd_cause="MAXWORDS", ivr_digit="",
                 read_result="", current_application="hangup")
    record, emitted = fold([progress, answer, job, amd, voicemail, end])
    assert (record.outcome, record.amd_result, record.amd_cause) == (
        outcome, "machine", "MAXWORDS"
    )
    assert (record.amd_duration_ms, record.amd_method) == (1800, "amd")  # the flow's own
    assert record.ivr_result is None
    assert emitted == [CALL_INITIATED, ANSWERED, AMD_RESULT, COMPLETED]


def test_amd_undecided_or_unset_counts_as_human() -> None:
    progress, answer, job = _CALL[:3]
    notsure = dict(_AMD, amd_result="NOTSURE", amd_cause="TOOLONG",
                   variable_amd_result="NOTSURE", variable_amd_cause="TOOLONG")
    record, _ = fold([progress, answer, job, notsure])
    assert (record.amd_result, record.amd_cause, record.amd_enabled) == (
        "unknown_assumed_human", "TOOLONG", True
    )
    # mod_amd not installed: the flow says so, without a result
    missing = dict(_AMD, amd_result="", amd_cause="NOT_INSTALLED", variable_amd_result="",
                   variable_amd_cause="")
    missing = {k: v for k, v in missing.items() if v != ""}
    record, _ = fold([progress, answer, job, missing])
    assert (record.amd_result, record.amd_cause) == ("unknown_assumed_human", "NOT_INSTALLED")
    # the callee hung up mid-analysis: no dialer::amd, the variables unset
    end = hangup(2.0, amd_result="", amd_cause="", ivr_digit="", read_result="",
                 dialer_amd="true", current_application="amd")
    record, emitted = fold([progress, answer, job, end])
    assert (record.amd_enabled, record.amd_result, record.outcome) == (
        True, "unknown_assumed_human", "completed"
    )
    assert emitted == [CALL_INITIATED, ANSWERED, AMD_RESULT, COMPLETED]


def test_ivr_rounds_are_counted_and_the_last_decides() -> None:
    replay = ivr_round(7.0, "2", "success")
    timeout = ivr_round(14.0, "", "failure")
    end = hangup(15.0, ivr_digit="", read_result="failure", current_application="hangup")
    record, emitted = fold(call(replay, timeout, end=end))
    assert (record.ivr_attempts, record.ivr_result, record.ivr_digit, record.outcome) == (
        2, "timeout", "2", "ivr_timeout"
    )
    assert emitted.count(IVR_COMPLETED) == 1
    # the same round twice is one round
    record, _ = fold(call(replay, replay, timeout, timeout, end=end))
    assert record.ivr_attempts == 2
    # every try invalid
    invalid = ivr_round(14.0, "", "failure")
    invalid["variable_ivr_digit_invalid"] = "7"
    record, _ = fold(call(invalid, end=end))
    assert (record.ivr_result, record.outcome) == ("invalid", "ivr_timeout")


def test_hangup_during_a_replayed_round_is_an_ivr_hangup() -> None:
    replay = ivr_round(7.0, "2", "success")
    end = hangup(9.0, ivr_digit="", read_result="success",
                 current_application="play_and_get_digits")
    record, _ = fold(call(replay, end=end))
    assert (record.ivr_result, record.ivr_attempts, record.outcome) == (
        "caller_hangup", 1, "ivr_hangup"
    )


def _handoff(kind: str, target: str, at: float = 7.5) -> dict[str, str]:
    return custom("dialer::handoff", at, {"dialer_attempt_id": "x", "handoff_type": kind,
                                          "handoff_target": target})


def test_extension_handoff_is_transferred() -> None:
    record, emitted = fold(call(ivr_round(7.0, "1", "success"),
                                _handoff("extension", "1000 XML default")))
    assert (record.outcome, record.handoff_type, record.handoff_target) == (
        "transferred", "extension", "1000 XML default"
    )
    assert (record.queue_name, record.abandoned) == (None, None)
    assert emitted == [CALL_INITIATED, ANSWERED, AMD_RESULT, IVR_COMPLETED, COMPLETED]


def test_ai_agent_handoff() -> None:
    target = "sofia/gateway/ai/agent-7"
    bridged = hangup(30.0, bridge_uepoch=str(_T0 + 8_000_000), originate_disposition="SUCCESS")
    record, _ = fold(call(ivr_round(7.0, "1", "success"), _handoff("ai_agent", target),
                          end=bridged))
    assert (record.outcome, record.ai_agent_id, record.ai_end_reason) == (
        "ai_completed", target, "NORMAL_CLEARING"
    )
    failed = hangup(9.0, bridge_uepoch="0", originate_disposition="USER_BUSY")
    record, _ = fold(call(ivr_round(7.0, "1", "success"), _handoff("ai_agent", target),
                          end=failed))
    assert (record.outcome, record.ai_end_reason) == ("completed", "USER_BUSY")


def _queue_call(agent_after: float | None, *, reason: str | None = None) -> Events:
    """Pressed 1 at 7 s, handed to the queue at 7.5 s; an agent ``agent_after`` s later."""
    q = "sales@default"
    join = {"CC-Queue": q}
    member = {"queue": q, "cc_queue": q, "cc_queue_joined_epoch": str(_T0 // 1_000_000 + 7)}
    start = custom("callcenter::info", 7.6, {"CC-Action": "member-queue-start",
                                              "CC-Member-Session-UUID": _IVR["Unique-ID"],
                                              **join}, **member)
    events: Events = [ivr_round(7.0, "1", "success"), _handoff("queue", q), start]
    end_at = 40.0
    if agent_after is not None:
        events.append(callcenter("bridge-agent-start", 7.5 + agent_after, CC_Agent="a@default",
                                 **join))
        events[-1]["CC-Agent"] = events[-1].pop("CC_Agent")
    if reason is not None:
        end_at = 12.0
        seconds = _T0 // 1_000_000
        events.append(callcenter("member-queue-end", 12.1, **{
            "CC-Cause": "Cancel", "CC-Cancel-Reason": reason, **join,
            "CC-Member-Joined-Time": str(seconds + 7), "CC-Member-Leaving-Time": str(seconds + 12),
        }))
    return call(*events, end=hangup(end_at, ivr_digit="1", read_result="success",
                                    cc_queue=q, current_application="callcenter"))


@pytest.mark.parametrize(("after", "abandoned"), [(1.0, False), (2.5, True)])
def test_abandonment_is_two_seconds_after_the_handoff(after: float, abandoned: bool) -> None:
    record, emitted = fold(_queue_call(after))
    assert (record.outcome, record.queue_result, record.agent_id) == (
        "agent_answered", "answered", "a@default"
    )
    assert record.abandoned is abandoned
    assert record.queue_wait_seconds == pytest.approx(after - 0.1, abs=1e-6)  # from the join
    assert record.talk_seconds == round(40.0 - 7.5 - after)
    assert emitted == [CALL_INITIATED, ANSWERED, AMD_RESULT, IVR_COMPLETED, QUEUE_JOINED,
                       AGENT_ANSWERED, COMPLETED]


def test_caller_gone_in_the_queue() -> None:
    record, emitted = fold(_queue_call(None, reason="BREAK_OUT"))
    assert (record.outcome, record.queue_result, record.abandoned) == (
        "queue_hangup", "caller_hangup", True
    )
    assert AGENT_ANSWERED not in emitted
    # without member-queue-end: no agent, and the call ended
    events = [e for e in _queue_call(None, reason="BREAK_OUT")
              if e.get("CC-Action") != "member-queue-end"]
    record, _ = fold(events)
    assert (record.outcome, record.queue_result) == ("queue_hangup", "caller_hangup")


class _Row:
    """An attempt row as the consumer reads it (the columns of the same names)."""

    def __init__(self, record: CallRecord, **more: Any) -> None:
        for name, value in vars(record).items():
            setattr(self, name, value)
        self.claimed_by = "consumer:fs1"
        self.error = None
        for name, value in more.items():
            setattr(self, name, value)


def test_a_late_member_queue_end_merges_into_the_ended_record() -> None:
    """member-queue-end comes after the member's hangup, maybe in a later batch: its details
    merge into the record the consumer ended; the end and outcome stay."""
    events = _queue_call(None, reason="BREAK_OUT")
    late = next(e for e in events if e.get("CC-Action") == "member-queue-end")
    early, _ = fold(e for e in events if e is not late)
    assert early.queue_wait_seconds == pytest.approx(12.0 - 7.6)  # from the join to the hangup
    stored = CallRecord.of(_Row(early))
    assert stored.end_source == "stored"
    merged, emitted = apply(stored, late)
    assert emitted == []
    assert merged.queue_result == "caller_hangup"
    assert merged.queue_wait_seconds == 5.0  # leaving - joined, in whole seconds
    assert (merged.outcome, merged.ended_at, merged.hangup_cause) == (
        early.outcome, early.ended_at, early.hangup_cause
    )
    # a record ended by a reconcile (an error) or by anyone else is final
    for row in (_Row(early, error="ended while the consumer was away"),
                _Row(early, claimed_by="sweeper")):
        final = CallRecord.of(row)
        assert apply(final, late) == (final, [])


def test_an_ai_agent_hands_the_call_to_a_queue() -> None:
    """The flow re-entered at the queue (handoff_reason transfer): the latest handoff decides
    the outcome, the AI agent stays in ``ai``, abandonment counts from the queue handoff."""
    target, q = "sofia/gateway/ai/agent-7", "sales@default"
    transfer = _handoff("queue", q, at=20.0)
    transfer["handoff_reason"] = "transfer"
    start = callcenter("member-queue-start", 20.1, **{"CC-Queue": q})
    start["Unique-ID"] = start["CC-Member-Session-UUID"]
    agent = callcenter("bridge-agent-start", 21.0, **{"CC-Queue": q, "CC-Agent": "a@default"})
    record, emitted = fold(call(ivr_round(7.0, "1", "success"), _handoff("ai_agent", target),
                                transfer, start, agent, end=hangup(40.0)))
    assert (record.outcome, record.handoff_type, record.handoff_target) == (
        "agent_answered", "queue", q
    )
    assert (record.ai_agent_id, record.ai_end_reason) == (target, "transferred")
    assert record.abandoned is False  # 1 s after the queue handoff, not 13.5 s after the AI's
    assert emitted[-3:] == [QUEUE_JOINED, AGENT_ANSWERED, COMPLETED]


def test_one_try_per_round_as_the_flow_reports_them() -> None:
    """The flow reports each play_and_get_digits try (ivr_try, ivr_invalid): a refused key is
    ``invalid``; a hangup during a try it never reported is the caller's, even after a
    failed try left read_result=failure on the channel."""
    def attempt(at: float, n: int, invalid: str) -> dict[str, str]:
        event = ivr_round(at, "", "failure")
        event.update(ivr_try=str(n), ivr_invalid=invalid)
        event.pop("variable_ivr_digit_invalid", None)
        return event

    first, second = attempt(7.0, 1, ""), attempt(14.0, 2, "7")
    end = hangup(15.0, ivr_digit="", read_result="failure", current_application="hangup")
    record, _ = fold(call(first, second, end=end))
    assert (record.ivr_result, record.ivr_attempts, record.outcome) == (
        "invalid", 2, "ivr_timeout"
    )
    during = hangup(16.0, ivr_digit="", read_result="failure",
                    current_application="play_and_get_digits")
    record, _ = fold(call(first, second, end=during))
    assert (record.ivr_result, record.outcome) == ("caller_hangup", "ivr_hangup")
