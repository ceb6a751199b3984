"""Call progression against the captured A-leg event shapes."""

from __future__ import annotations

import pytest

from tests.simulator.client import event_name, inner, login, running
from tests.support.transcripts import load, split_headers


def _a_leg(name: str) -> list[tuple[str, list[str], bytes]]:
    out = []
    for chunk in load(name).received(1):
        hs, _ = split_headers(chunk.data)
        if dict(hs).get("Content-Type") != "text/event-plain":
            continue
        headers, ib = inner(chunk.data)
        d = dict(headers)
        if d.get("Event-Name") in ("HEARTBEAT", "RE_SCHEDULE", "API", "CODEC"):
            continue
        if "Channel-Name" in d and not d["Channel-Name"].endswith("-a"):
            continue
        if "Channel-Name" in d and not d["Channel-Name"].startswith("loopback"):
            continue
        out.append((d["Event-Name"], [n for n, _ in headers], ib))
    return out


def _a_frame(frame: bytes) -> bool:
    name = dict(inner(frame)[0]).get("Channel-Name")
    return name is None or name.endswith("-a")


def _replay(name: str, time_scale: float = 0.005) -> list[tuple[str, list[str], bytes]]:
    """The simulator's A-leg events (and BACKGROUND_JOB) for the capture's originate."""
    t = load(name)
    originate = next(c.data for c in t.sent(1) if b"originate" in c.data)
    with running(scenario="realistic", time_scale=time_scale) as sim:
        c = login(sim.address)
        c.command(originate)

        def a_event(f: bytes, *names: str) -> bool:
            return event_name(f) in names and _a_frame(f)

        frames = c.until(lambda f: a_event(f, "CHANNEL_DESTROY", "CHANNEL_PARK"), timeout=10)
        if event_name(frames[-1]) == "CHANNEL_PARK":
            uuid = dict(inner(frames[-1])[0])["Unique-ID"]
            c.send(f"api uuid_kill {uuid}\n\n".encode())
            frames += c.until(lambda f: a_event(f, "CHANNEL_DESTROY"), timeout=10)
    out = []
    for f in frames:
        if not f.startswith(b"Content-Length") or not _a_frame(f):
            continue
        headers, body = inner(f)
        out.append((headers[0][1], [n for n, _ in headers], body))
    return out


def _non_var(names: list[str]) -> list[str]:
    return [n for n in names if not n.startswith("variable_")]


@pytest.mark.parametrize(
    ("fixture", "result"),
    [
        ("03_no_answer.txt", b"-ERR NO_ANSWER\n"),
        ("04a_busy_loopback_user_busy.txt", b"-ERR USER_BUSY\n"),
        ("04d_no_route_loopback.txt", b"-ERR NO_ROUTE_DESTINATION\n"),
    ],
)
def test_failed_call_events_match_capture(fixture: str, result: bytes) -> None:
    captured = [e for e in _a_leg(fixture) if e[0] != "CHANNEL_UUID"]
    captured = captured[: [e[0] for e in captured].index("CHANNEL_DESTROY") + 1]
    got = _replay(fixture)
    assert [e[0] for e in got] == [e[0] for e in captured]
    for (name, names, body), (_, cap_names, cap_body) in zip(got, captured, strict=True):
        assert _non_var(names) == _non_var(cap_names), name
        if name == "BACKGROUND_JOB":
            assert body == result == cap_body
        cap_vars = [n for n in cap_names if n.startswith("variable_")]
        my_vars = [n for n in names if n.startswith("variable_")]
        assert [n for n in cap_vars if n in my_vars] == [n for n in my_vars if n in cap_vars]


def test_answered_park_call_matches_capture() -> None:
    captured = {e[0]: e for e in _a_leg("08b_filters_myevents_sendmsg.txt")}
    got = _replay("02_press1_queue_agent_plain.txt")
    names = [e[0] for e in got]
    assert names[:15] == [
        "CHANNEL_OUTGOING",
        "CHANNEL_STATE",
        "CHANNEL_CREATE",
        "CHANNEL_ORIGINATE",
        "CHANNEL_STATE",
        "CHANNEL_STATE",
        "CHANNEL_PROGRESS",
        "CHANNEL_CALLSTATE",
        "CHANNEL_ANSWER",
        "CHANNEL_CALLSTATE",
        "CALL_UPDATE",
        "BACKGROUND_JOB",
        "CHANNEL_STATE",
        "CHANNEL_EXECUTE",
        "CHANNEL_PARK",
    ]
    for name, my_names, _ in got:
        if name in (
            "CHANNEL_CREATE",
            "CHANNEL_ANSWER",
            "CHANNEL_PARK",
            "CHANNEL_PROGRESS",
            "CHANNEL_OUTGOING",
            "CALL_UPDATE",
        ):
            assert _non_var(my_names) == _non_var(captured[name][1]), name
    hangup = dict(inner_vars(got, "CHANNEL_HANGUP_COMPLETE"))
    for var in (
        "duration",
        "billsec",
        "answersec",
        "progresssec",
        "waitsec",
        "start_epoch",
        "answer_uepoch",
        "end_uepoch",
        "hangup_cause",
        "hangup_cause_q850",
        "campaign_id",
        "recipient_id",
        "origination_uuid",
    ):
        assert f"variable_{var}" in hangup, var


def inner_vars(got: list[tuple[str, list[str], bytes]], name: str) -> list[tuple[str, str]]:
    return [(n, "") for e in got if e[0] == name for n in e[1]]


def test_press1_via_sendmsg_digit_and_ivr_result() -> None:
    with running(scenario="realistic", time_scale=0.005) as sim:
        c = login(sim.address)
        c.command(b"bgapi originate {origination_uuid=x1}loopback/press1_human/default &park\n\n")
        c.until(lambda f: event_name(f) == "CHANNEL_PARK")
        c.send(
            b"sendmsg x1\ncall-command: execute\nexecute-app-name: play_and_get_digits\n"
            b"execute-app-arg: 1 1 3 4000 # tone_stream://%(1000,500,440);loops=2 "
            b"silence_stream://250 ivr_digit [1-9] 3000\nEvent-UUID: e1\n\n"
        )
        frames = c.until(lambda f: event_name(f) == "PRIVATE_COMMAND")
        assert b"Content-Type: command/reply\nReply-Text: +OK\n\n" in frames
        frames = [f for f in frames if event_name(f)]
        names = [event_name(f) for f in frames]
        # capture 02: the A leg's events from the sendmsg to the PRIVATE_COMMAND after it
        assert (
            names
            == _captured_after_sendmsg()
            == [
                "CHANNEL_EXECUTE",
                "PLAYBACK_START",
                "DTMF",
                "PLAYBACK_STOP",
                "CHANNEL_EXECUTE_COMPLETE",
                "PRIVATE_COMMAND",
            ]
        )
        done = dict(inner(frames[-2])[0])
        assert done["variable_ivr_digit"] == "1"
        assert done["variable_read_result"] == "success"
        assert done["Application-UUID"] == "e1"
        c.send(b"sendmsg x1\ncall-command: hangup\nhangup-cause: USER_BUSY\n\n")
        end = c.until(lambda f: event_name(f) == "CHANNEL_HANGUP_COMPLETE")
        assert dict(inner(end[-1])[0])["Hangup-Cause"] == "USER_BUSY"


def _captured_after_sendmsg() -> list[str]:
    t = load("02_press1_queue_agent_plain.txt")
    sent = next(i for i, c in enumerate(t.chunks) if c.data.startswith(b"sendmsg"))
    names = [
        e[0]
        for chunk in t.chunks[sent:]
        if chunk.direction == "recv" and chunk.conn == 1
        for e in [_event_of(chunk.data)]
        if e is not None and e[1].endswith("-a")
    ]
    return names[: names.index("PRIVATE_COMMAND") + 1]


def _event_of(frame: bytes) -> tuple[str, str] | None:
    if not frame.startswith(b"Content-Length"):
        return None
    d = dict(inner(frame)[0])
    return d["Event-Name"], d.get("Channel-Name", "")


def test_dialplan_flow_raises_stage_events_in_order() -> None:
    with running(scenario="all-answer", time_scale=0.005) as sim:
        c = login(
            sim.address,
            b"event plain CHANNEL_ANSWER DTMF CHANNEL_HANGUP_COMPLETE "
            b"CUSTOM dialer::amd dialer::ivr dialer::handoff callcenter::info",
        )
        c.command(
            b"bgapi originate {origination_uuid=f1,dialer_attempt_id=att-1,"
            b"dialer_campaign_id=camp}loopback/5551234/default dialer_flow XML default\n\n"
        )
        frames = c.until(
            lambda f: event_name(f) == "CHANNEL_HANGUP_COMPLETE" and _a_frame(f), timeout=10
        )
        frames += c.until(lambda f: b"member-queue-end" in f, timeout=5)
        frames = [f for f in frames if _a_frame(f)]  # the stages are the A leg's
        seq = [dict(inner(f)[0]).get("Event-Subclass") or event_name(f) for f in frames]
        assert seq == [
            "CHANNEL_ANSWER",
            "dialer%3A%3Aamd",
            "DTMF",
            "dialer%3A%3Aivr",
            "dialer%3A%3Ahandoff",
            "callcenter%3A%3Ainfo",
            "callcenter%3A%3Ainfo",
            "CHANNEL_HANGUP_COMPLETE",
            "callcenter%3A%3Ainfo",
            "callcenter%3A%3Ainfo",
        ]
        ivr = dict(inner(frames[3])[0])
        assert (ivr["dialer_attempt_id"], ivr["ivr_digit"], ivr["read_result"]) == (
            "att-1",
            "1",
            "success",
        )
        assert b"CC-Cause: Terminated" in frames[-1]
    assert [f["event"] for f in sim.ledger] == ["originate", "answer", "hangup"]
    assert sim.ledger[0]["attempt_id"] == "att-1"
    assert sim.ledger[0]["campaign_id"] == "camp"
