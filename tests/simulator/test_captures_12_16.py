"""Captures 12, 13, 02x, 15 and 16 replayed against the simulator over TCP."""

from __future__ import annotations

import json
import re

import pytest

from dialer.simulator import call as call_mod
from dialer.simulator.clock import uptime_text
from tests.simulator.capture_tools import (
    a_leg,
    captured_events,
    headers,
    is_event,
    nothing_more,
)
from tests.simulator.client import RawClient, event_name, inner, login, running
from tests.support.transcripts import load


def _sent(name: str, conn: int) -> list[bytes]:
    return [c.data for c in load(name).sent(conn)]


def _got(name: str, conn: int) -> list[bytes]:
    return [c.data for c in load(name).received(conn)]


def _body(frame: bytes) -> bytes:
    return inner(frame)[1]


@pytest.fixture
def slow_originate_end(monkeypatch: pytest.MonkeyPatch) -> None:
    # the originate completes ~20 ms after the answer; widen that window so a command sent
    # on CHANNEL_ANSWER lands inside it on a loaded machine too
    monkeypatch.setattr(call_mod, "BGJOB_AFTER_ANSWER", 5.0)


@pytest.mark.usefixtures("slow_originate_end")
def test_uuid_kill_on_answer_completes_the_originate_first_like_13() -> None:
    name = "13_uuid_kill_on_answer.txt"
    sent, got = _sent(name, 1), _got(name, 1)
    with running(scenario="realistic", time_scale=0.01) as sim:
        c1 = RawClient(sim.address)
        assert c1.frame() == got[0]
        assert [c1.command(x) for x in sent[:4]] == got[1:5]  # auth, event, 2 filters
        c2 = login(sim.address, None)
        assert c1.command(sent[4]) == got[5]  # bgapi originate: +OK Job-UUID
        answer = c1.frame(timeout=5)
        assert event_name(answer) == "CHANNEL_ANSWER"
        uuid = headers(answer)["Unique-ID"]
        kill = next(x for x in _sent(name, 2) if x.startswith(b"api uuid_kill"))
        assert kill == f"api uuid_kill {uuid}\n\n".encode()
        assert c2.command(kill) == _got(name, 2)[2]  # +OK at once
        frames = c1.until(lambda f: event_name(f) == "CHANNEL_HANGUP_COMPLETE", timeout=5)
    captured = captured_events(load(name), 1)
    names = [event_name(f) for f in frames]
    assert (
        names
        == [event_name(f) for f in captured[1:]]
        == [
            "BACKGROUND_JOB",
            "CHANNEL_PARK",
            "CHANNEL_HANGUP",
            "CHANNEL_HANGUP_COMPLETE",
        ]
    )
    assert _body(frames[0]) == _body(captured[1]) == f"+OK {uuid}\n".encode()
    assert [headers(f)["Hangup-Cause"] for f in frames[2:]] == ["NORMAL_CLEARING"] * 2


def test_background_job_goes_to_every_subscriber_like_12() -> None:
    name = "12_bgjob_seen_by_other_connection.txt"
    sent1, sent2, got2 = _sent(name, 1), _sent(name, 2), _got(name, 2)
    with running(scenario="realistic", time_scale=0.01) as sim:
        c1 = login(sim.address, sent1[1].rstrip(b"\n"))
        everything = login(sim.address, b"event plain ALL")
        other = login(sim.address, b"event plain CHANNEL_ANSWER")
        c2 = RawClient(sim.address)
        assert c2.frame() == got2[0]
        assert [c2.command(x) for x in sent2[:3]] == got2[1:4]  # auth, two bgapi
        frames = c1.until(
            lambda f: headers(f).get("Channel-Name") == "loopback/load_target-a", timeout=5
        )
        seen_all = everything.until(
            lambda f: event_name(f) == "BACKGROUND_JOB" and b"-ERR USER_BUSY" in f, timeout=5
        )
        nothing_more(c2)  # no subscription: only its +OK Job-UUID replies
        assert all(
            event_name(f) != "BACKGROUND_JOB"
            for f in other.until(lambda f: event_name(f) == "CHANNEL_ANSWER", timeout=5)
        )
    captured = [g for g in _got(name, 1) if is_event(g)]

    def shape(f: bytes) -> tuple[str | None, str, str, bytes]:
        h = headers(f)
        return event_name(f), h.get("Channel-Name", ""), h.get("Job-UUID", ""), _body(f)

    # both legs: the called party hung up, so each B leg completes before its A leg, and the
    # failed job's BACKGROUND_JOB comes after both
    assert [shape(f) for f in frames] == [shape(f) for f in captured]
    jobs = [headers(f)["Job-UUID"] for f in frames if event_name(f) == "BACKGROUND_JOB"]
    wanted = [j.decode() for j in re.findall(rb"\nJob-UUID: (\S+)\n\n", b"".join(sent2))]
    assert sorted(jobs) == sorted(wanted)
    assert len(jobs) == len(set(jobs)) == 2  # exactly one each
    assert sum(event_name(f) == "BACKGROUND_JOB" for f in seen_all) == 2


@pytest.mark.usefixtures("slow_originate_end")
def test_sendmsg_on_answer_is_aborted_after_the_job_like_02x() -> None:
    name = "02x_race_sendmsg_on_answer_before_park.txt"
    t = load(name)
    sent = _sent(name, 1)
    originate = next(x for x in sent if x.startswith(b"bgapi originate"))
    sendmsg = next(x for x in sent if x.startswith(b"sendmsg"))
    uuid = re.search(rb"origination_uuid=([^,]+)", originate).group(1).decode()  # type: ignore[union-attr]
    with running(scenario="realistic", time_scale=0.01) as sim:
        c = login(sim.address)
        c.command(originate)
        c.until(
            lambda f: event_name(f) == "CHANNEL_ANSWER" and headers(f)["Unique-ID"] == uuid,
            timeout=5,
        )
        c.send(sendmsg)
        frames = c.until(lambda f: event_name(f) == "CHANNEL_PARK", timeout=5)
    assert b"Content-Type: command/reply\nReply-Text: +OK\n\n" in frames
    mine = [f for f in frames if is_event(f) and a_leg(f)]
    captured = captured_events(t, 1)
    start = next(i for i, f in enumerate(captured) if event_name(f) == "CHANNEL_ANSWER")
    end = next(i for i, f in enumerate(captured) if event_name(f) == "CHANNEL_PARK")
    expected = [event_name(f) for f in captured[start + 1 : end + 1]]
    assert (
        [event_name(f) for f in mine]
        == expected
        == [
            "CHANNEL_CALLSTATE",
            "CALL_UPDATE",
            "BACKGROUND_JOB",
            "CHANNEL_EXECUTE",
            "CHANNEL_EXECUTE_COMPLETE",
            "PRIVATE_COMMAND",
            "CHANNEL_STATE",
            "CHANNEL_EXECUTE",
            "CHANNEL_PARK",
        ]
    )
    aborted = headers(mine[4])
    event_uuid = re.search(rb"Event-UUID: (\S+)", sendmsg).group(1).decode()  # type: ignore[union-attr]
    assert (aborted["Application"], aborted["Application-Response"]) == (
        "play_and_get_digits",
        "_none_",
    )
    assert aborted["Application-UUID"] == event_uuid
    assert "variable_ivr_digit" not in aborted


def test_an_execute_sent_while_an_app_runs_waits_for_it() -> None:
    with running(scenario="realistic", time_scale=0.005) as sim:
        c = login(
            sim.address,
            b"event plain CHANNEL_PARK CHANNEL_EXECUTE CHANNEL_EXECUTE_COMPLETE "
            b"PRIVATE_COMMAND PLAYBACK_START PLAYBACK_STOP DTMF",
        )
        c.command(b"bgapi originate {origination_uuid=q1}loopback/press1_human/default &park\n\n")
        c.until(lambda f: event_name(f) == "CHANNEL_PARK", timeout=5)
        c.send(
            b"sendmsg q1\ncall-command: execute\nexecute-app-name: play_and_get_digits\n"
            b"execute-app-arg: 1 1 3 4000 # tone_stream://%(1000,500,440);loops=2 "
            b"silence_stream://250 ivr_digit [1-9] 3000\n\n"
            b"sendmsg q1\ncall-command: execute\nexecute-app-name: playback\n"
            b"execute-app-arg: silence_stream://1000\n\n"
        )
        frames = c.until(
            lambda f: event_name(f) == "CHANNEL_EXECUTE_COMPLETE" and b"Application: playback" in f,
            timeout=5,
        )
    seq = [(event_name(f), headers(f).get("Application", "")) for f in frames if is_event(f)]
    assert seq == [
        ("CHANNEL_EXECUTE", "play_and_get_digits"),
        ("PLAYBACK_START", ""),
        ("DTMF", ""),
        ("PLAYBACK_STOP", ""),
        ("CHANNEL_EXECUTE_COMPLETE", "play_and_get_digits"),
        ("PRIVATE_COMMAND", ""),
        ("CHANNEL_EXECUTE", "playback"),
        ("PLAYBACK_START", ""),
        ("PLAYBACK_STOP", ""),
        ("CHANNEL_EXECUTE_COMPLETE", "playback"),
    ]
    done = headers(frames[-1])
    assert done["Application-Response"] == "FILE%20PLAYED"  # url-encoded on the wire
    assert done["variable_ivr_digit"] == "1"  # the first app ran to its end


# -- 15: show channels / calls, status, HEARTBEAT, hupall -----------------------------------

VOLATILE = ("created", "created_epoch", "hostname", "b_created", "b_created_epoch")


def _rows(frame: bytes) -> list[dict[str, str]]:
    return list(json.loads(frame.split(b"\n\n", 1)[1])["rows"])


def _stable(row: dict[str, str]) -> dict[str, str]:
    out = {k: v for k, v in row.items() if k not in VOLATILE}
    if row["direction"] == "inbound":
        out.pop("uuid")  # the B leg's uuid is the switch's choice
    return out


def test_show_channels_calls_status_heartbeat_and_hupall_like_15() -> None:
    name = "15_show_channels_calls_json_status_hupall.txt"
    sent, got = _sent(name, 1), _got(name, 1)
    replies = dict(
        zip(sent, [g for g in got[1:] if not g.startswith(b"Content-Length")], strict=False)
    )
    del replies
    cap = {
        "empty": next(g for g in got if b'{"row_count": 0}' in g),
        "parked": [g for g in got if b'"row_count":6' in g],
        "counts": [g for g in got if g.endswith(b"\n6 total.\n")],
        "hupall": next(g for g in got if b"hangup all channels" in g),
        "status": [g for g in got if b"session(s) - peak" in g],
    }
    originates = [x for x in sent if x.startswith(b"bgapi originate")]
    with running(scenario="realistic", time_scale=0.01, heartbeat_seconds=0.05) as sim:
        c = login(sim.address, b"event plain BACKGROUND_JOB")
        parks = login(sim.address, b"event plain CHANNEL_PARK")
        beats = login(sim.address, b"event plain HEARTBEAT")
        assert c.command(b"api show channels as json\n\n") == cap["empty"]
        assert c.command(b"api show calls as json\n\n") == cap["empty"]
        for originate in originates:
            c.command(originate)
        for _ in originates:
            c.until(lambda f: event_name(f) == "BACKGROUND_JOB", timeout=5)
            parks.until(lambda f: event_name(f) == "CHANNEL_PARK", timeout=5)
        channels = c.command(b"api show channels as json\n\n")
        calls = c.command(b"api show calls as json\n\n")
        counts = [c.command(b"api show channels count\n\n"), c.command(b"api show calls count\n\n")]
        status = c.command(b"api status\n\n")
        beat = headers(beats.until(lambda f: event_name(f) == "HEARTBEAT", timeout=5)[-1])
        assert c.command(b"event plain CHANNEL_HANGUP CHANNEL_HANGUP_COMPLETE\n\n") == (
            b"Content-Type: command/reply\nReply-Text: +OK event listener enabled plain\n\n"
        )
        assert c.command(b"api hupall NORMAL_CLEARING\n\n") == cap["hupall"]
        hangups = []
        while sum(event_name(f) == "CHANNEL_HANGUP_COMPLETE" for f in hangups) < 6:
            hangups.append(c.frame(timeout=5))
        nothing_more(c)
        after = c.command(b"api show channels as json\n\n")
    # the table after 1.5 s of the capture: three parked loopback calls, A and B legs
    parked_channels, parked_calls = cap["parked"][1], cap["parked"][2]
    assert [_stable(r) for r in _rows(channels)] == [_stable(r) for r in _rows(parked_channels)]
    assert [_stable(r) for r in _rows(calls)] == [_stable(r) for r in _rows(parked_calls)]
    assert not channels.endswith(b"\n")
    assert not calls.endswith(b"\n")
    assert counts == cap["counts"]
    line = next(x for x in status.split(b"\n") if b"session(s) - peak" in x)
    assert line in cap["status"][1]
    assert beat["Session-Count"] == "6"

    def leg(f: bytes) -> tuple[str | None, str]:
        return event_name(f), headers(f)["Channel-Name"][-2:]

    cap_hangups = [g for g in got if event_name(g) in ("CHANNEL_HANGUP", "CHANNEL_HANGUP_COMPLETE")]
    assert [event_name(f) for f in hangups] == [event_name(g) for g in cap_hangups]
    assert [event_name(f) for f in hangups] == ["CHANNEL_HANGUP"] * 6 + [
        "CHANNEL_HANGUP_COMPLETE"
    ] * 6
    # each A leg's HANGUP_COMPLETE is followed by its B leg's, as captured
    assert [leg(f) for f in hangups[6:]] == [leg(g) for g in cap_hangups[6:]]
    assert {headers(f)["Hangup-Cause"] for f in hangups} == {"NORMAL_CLEARING"}
    assert after == cap["empty"]


# -- 16: a second originate with a live origination_uuid ------------------------------------


def test_duplicate_live_origination_uuid_like_16() -> None:
    name = "16_duplicate_origination_uuid.txt"
    sent, got = _sent(name, 1), _got(name, 1)
    first, second = [x for x in sent if x.startswith(b"bgapi originate")]
    wanted = re.search(rb"origination_uuid=([^,]+)", first).group(1).decode()  # type: ignore[union-attr]
    cap_jobs = [_body(g) for g in got if event_name(g) == "BACKGROUND_JOB"]
    cap_show = [g for g in got if b"uuid,direction,created" in g]
    log_cmd = _sent(name, 2)[1]
    cap_logs = [g for g in _got(name, 2) if g.startswith(b"Content-Type: log/data")]
    with running(scenario="realistic", time_scale=0.01) as sim:
        c = login(sim.address, sent[1].rstrip(b"\n"))
        logs = login(sim.address, None)
        assert logs.command(log_cmd) == _got(name, 2)[2]  # +OK log level err [3]
        c.command(first)
        job1 = c.until(lambda f: event_name(f) == "BACKGROUND_JOB", timeout=5)[-1]
        c.command(second)
        frames = c.until(lambda f: event_name(f) == "BACKGROUND_JOB", timeout=5)
        my_logs = [logs.frame(timeout=5) for _ in cap_logs]
        create = next(f for f in frames if event_name(f) == "CHANNEL_CREATE")
        show = c.command(b"api show channels\n\n")
        alive = c.command(f"api uuid_exists {wanted}\n\n".encode())
        c.command(f"api uuid_kill {wanted}\n\n".encode())
        c.until(
            lambda f: (
                event_name(f) == "CHANNEL_HANGUP_COMPLETE" and headers(f)["Unique-ID"] == wanted
            ),
            timeout=5,
        )
        c.command(first)  # the uuid is free again once its call is gone
        job3 = c.until(lambda f: event_name(f) == "BACKGROUND_JOB", timeout=5)[-1]
    other = headers(create)["Unique-ID"]
    cap_other = cap_jobs[1].split()[1].decode()
    for mine, cap in zip(my_logs, cap_logs, strict=True):  # [CRIT] Duplicate UUID! ...
        cap = cap.replace(cap_other.encode(), other.encode())
        assert mine.split(b"\n\n")[0] == cap.split(b"\n\n")[0]
        assert mine.split(b"% ", 1)[1] == cap.split(b"% ", 1)[1]
    assert _body(job1) == cap_jobs[0] == f"+OK {wanted}\n".encode()
    assert other != wanted
    assert headers(create)["variable_origination_uuid"] == wanted
    assert _body(frames[-1]) == f"+OK {other}\n".encode()
    assert cap_jobs[1] != cap_jobs[0]
    assert cap_jobs[1].startswith(b"+OK ")
    assert alive.endswith(b"\n\ntrue")  # the first call is unaffected
    assert (
        show.split(b"\n\n", 1)[1].split(b"\n")[0]
        == cap_show[1].split(b"\n\n", 1)[1].split(b"\n")[0]
    )
    assert show.endswith(b"\n\n4 total.\n")
    assert cap_show[1].endswith(b"\n\n4 total.\n")
    assert _body(job3) == f"+OK {wanted}\n".encode()
    (dup,) = sim.facts.of("duplicate")
    assert (dup["uuid"], dup["requested_uuid"]) == (other, wanted)


def test_uptime_text_is_freeswitchs() -> None:
    status = next(
        inner(c.data)[1]
        for c in load("14_restart_core_uuid_event_sequence.txt").received(1)
        if b"UP 0" in c.data
    )
    assert status.split(b"\n")[0] == b"UP " + uptime_text(70_329_071).encode()
    assert uptime_text(31_626_061_001_001) == (
        "1 year, 1 day, 1 hour, 1 minute, 1 second, 1 millisecond, 1 microsecond"
    )


def test_status_and_heartbeat_agree() -> None:
    with running(scenario="realistic", time_scale=0.01, heartbeat_seconds=0.05) as sim:
        c = login(sim.address, b"event plain CHANNEL_PARK HEARTBEAT")
        c.command(b"bgapi originate {origination_uuid=s1}loopback/silent_human/default &park\n\n")
        c.until(lambda f: event_name(f) == "CHANNEL_PARK", timeout=5)
        beat = headers(c.until(lambda f: event_name(f) == "HEARTBEAT", timeout=5)[-1])
        status = c.command(b"api status\n\n").split(b"\n\n", 1)[1].decode().split("\n")
    # one loopback call: two sessions, in both and in show channels (15)
    assert status[2] == f"{beat['Session-Since-Startup']} session(s) since startup"
    assert status[2] == "2 session(s) since startup"
    assert (
        status[3] == f"{beat['Session-Count']} session(s) - peak {beat['Session-Peak-Max']}, "
        f"last 5min {beat['Session-Peak-FiveMin']} "
    )
    assert status[3] == "2 session(s) - peak 2, last 5min 2 "
    assert status[4].endswith(
        f"out of max {beat['Session-Per-Sec']}, peak {beat['Session-Per-Sec-Max']}, "
        f"last 5min {beat['Session-Per-Sec-FiveMin']} "
    )
    assert beat["Session-Per-Sec-Max"] == "2"
    assert beat["Up-Time"].replace("%20", " ").startswith("0 years, 0 days, 0 hours, 0 minutes")


def test_b_leg_events_have_the_captured_shape_like_16() -> None:
    name = "16_duplicate_origination_uuid.txt"
    sent, got = _sent(name, 1), _got(name, 1)
    first = next(x for x in sent if x.startswith(b"bgapi originate"))
    wanted = re.search(rb"origination_uuid=([^,]+)", first).group(1).decode()  # type: ignore[union-attr]
    cap_b = {
        event_name(g): g
        for g in got
        if is_event(g) and headers(g).get("Channel-Name") == "loopback/silent_human-b"
    }
    with running(scenario="realistic", time_scale=0.01) as sim:
        c = login(sim.address, sent[1].rstrip(b"\n"))
        c.command(first)
        frames = c.until(lambda f: event_name(f) == "BACKGROUND_JOB", timeout=5)
        c.command(f"api uuid_kill {wanted}\n\n".encode())
        frames += c.until(
            lambda f: (
                event_name(f) == "CHANNEL_HANGUP_COMPLETE"
                and headers(f)["Channel-Name"].endswith("-b")
            ),
            timeout=5,
        )
    mine_b = {
        event_name(f): f
        for f in frames
        if is_event(f) and headers(f).get("Channel-Name") == "loopback/silent_human-b"
    }
    assert (
        set(mine_b)
        == set(cap_b)
        == {
            "CHANNEL_CREATE",
            "CHANNEL_ANSWER",
            "CHANNEL_HANGUP_COMPLETE",
        }
    )
    for event, frame in mine_b.items():
        names = [n for n, _ in inner(frame)[0]]
        cap_names = [n for n, _ in inner(cap_b[event])[0]]
        assert [n for n in names if not n.startswith("variable_")] == [
            n for n in cap_names if not n.startswith("variable_")
        ], event
        cap_vars = [n for n in cap_names if n.startswith("variable_")]
        assert [n for n in names if n in cap_vars] == [n for n in cap_vars if n in names], event
    create = headers(mine_b["CHANNEL_CREATE"])
    cap_create = headers(cap_b["CHANNEL_CREATE"])
    for key in ("Call-Direction", "Caller-Caller-ID-Name", "Caller-Callee-ID-Name"):
        assert create[key] == cap_create[key]
    assert [n for n, _ in inner(mine_b["CHANNEL_CREATE"])[0] if n.startswith("variable_")] == [
        n for n, _ in inner(cap_b["CHANNEL_CREATE"])[0] if n.startswith("variable_")
    ]
    assert create["variable_loopback_leg"] == "B"
    assert create["variable_other_loopback_leg_uuid"] == create["variable_origination_uuid"]
    assert create["variable_origination_uuid"] == wanted
    done = headers(mine_b["CHANNEL_HANGUP_COMPLETE"])
    assert (done["Hangup-Cause"], done["variable_last_app"]) == ("NORMAL_CLEARING", "park")


def test_b_leg_rings_after_the_a_leg_like_02x() -> None:
    name = "02x_race_sendmsg_on_answer_before_park.txt"
    originate = next(x for x in _sent(name, 1) if x.startswith(b"bgapi originate"))
    cap = [g for g in _got(name, 1) if event_name(g) == "CHANNEL_PROGRESS"]
    with running(scenario="realistic", time_scale=0.01) as sim:
        c = login(sim.address, b"event plain CHANNEL_PROGRESS")
        c.command(originate)
        mine = [c.frame(timeout=5), c.frame(timeout=5)]
    assert (
        [headers(f)["Channel-Name"] for f in mine]
        == [headers(g)["Channel-Name"] for g in cap]
        == ["loopback/press1_human-a", "loopback/press1_human-b"]
    )
    for f, g in zip(mine, cap, strict=True):
        assert [n for n, _ in inner(f)[0] if not n.startswith("variable_")] == [
            n for n, _ in inner(g)[0] if not n.startswith("variable_")
        ]
    b_vars = [n for n, _ in inner(mine[1])[0] if n.startswith("variable_")]
    assert b_vars == [n for n, _ in inner(cap[1])[0] if n.startswith("variable_")]
    for key in ("Channel-State", "Channel-Call-State", "Answer-State", "Call-Direction"):
        assert headers(mine[1])[key] == headers(cap[1])[key]


def test_the_b_leg_is_a_channel_of_its_own() -> None:
    with running(scenario="realistic", time_scale=0.01) as sim:
        c = login(sim.address, b"event plain CHANNEL_CREATE CHANNEL_PARK CHANNEL_HANGUP_COMPLETE")
        c.command(b"bgapi originate {origination_uuid=k1}loopback/silent_human/default &park\n\n")
        frames = c.until(lambda f: event_name(f) == "CHANNEL_PARK", timeout=5)
        b = next(headers(f)["Unique-ID"] for f in frames if headers(f)["Channel-Name"][-2:] == "-b")
        assert c.command(f"api uuid_exists {b}\n\n".encode()).endswith(b"\n\ntrue")
        assert c.command(f"api uuid_getvar {b} loopback_leg\n\n".encode()).endswith(b"\n\nB")
        assert c.command(f"api uuid_kill {b}\n\n".encode()).endswith(b"\n\n+OK\n")
        done = c.until(
            lambda f: (
                event_name(f) == "CHANNEL_HANGUP_COMPLETE" and headers(f)["Unique-ID"] == "k1"
            ),
            timeout=5,
        )
        gone = c.command(f"api uuid_exists {b}\n\n".encode())
    # killing the B leg is the called party hanging up: it completes first
    assert [(headers(f)["Channel-Name"], headers(f)["Hangup-Cause"]) for f in done] == [
        ("loopback/silent_human-b", "NORMAL_CLEARING"),
        ("loopback/silent_human-a", "NORMAL_CLEARING"),
    ]
    assert gone.endswith(b"\n\nfalse")


@pytest.mark.parametrize(
    "name",
    [
        "03_no_answer.txt",
        "04a_busy_loopback_user_busy.txt",
        "04b_busy_loopback_respond486.txt",
        "04d_no_route_loopback.txt",
    ],
)
def test_failed_originate_job_and_both_legs(name: str) -> None:
    originate = next(x for x in _sent(name, 1) if x.startswith(b"bgapi originate"))
    wanted = ("CHANNEL_HANGUP", "BACKGROUND_JOB", "CHANNEL_HANGUP_COMPLETE", "CHANNEL_DESTROY")

    def shape(f: bytes) -> tuple[str | None, str, bytes]:
        return event_name(f), headers(f).get("Channel-Name", "")[-2:], _body(f)

    got = [g for g in _got(name, 1) if event_name(g) in wanted]
    a_destroy = next(i for i, g in enumerate(got) if shape(g)[:2] == ("CHANNEL_DESTROY", "-a"))
    with running(scenario="realistic", time_scale=0.01) as sim:
        c = login(sim.address, b"event plain " + " ".join(wanted).encode())
        c.command(originate)
        frames = c.until(lambda f: shape(f)[:2] == ("CHANNEL_DESTROY", "-a"), timeout=5)
    assert [shape(f) for f in frames] == [shape(g) for g in got[: a_destroy + 1]]


def test_callee_hangs_up_during_the_prompt_like_05b() -> None:
    name = "05b_ivr_callee_hangup.txt"
    sent = _sent(name, 1)
    originate = next(x for x in sent if x.startswith(b"bgapi originate"))
    ivr = next(x for x in sent if x.startswith(b"sendmsg"))
    wanted = (
        "CHANNEL_HANGUP",
        "CHANNEL_HANGUP_COMPLETE",
        "PLAYBACK_STOP",
        "CHANNEL_EXECUTE_COMPLETE",
        "CHANNEL_UNPARK",
    )

    def shape(f: bytes) -> tuple[str | None, str]:
        return event_name(f), headers(f).get("Channel-Name", "")[-2:]

    # the B leg's own applications are not simulated: leave its EXECUTE_COMPLETEs out
    got = [
        shape(g)
        for g in _got(name, 1)
        if event_name(g) in wanted and shape(g) != ("CHANNEL_EXECUTE_COMPLETE", "-b")
    ]
    with running(scenario="realistic", time_scale=0.01) as sim:
        c = login(sim.address, b"event plain CHANNEL_PARK " + " ".join(wanted).encode())
        c.command(originate)
        c.until(lambda f: shape(f) == ("CHANNEL_PARK", "-a"), timeout=5)
        c.send(ivr)
        frames = c.until(lambda f: shape(f) == ("CHANNEL_HANGUP_COMPLETE", "-a"), timeout=5)
    mine = [shape(f) for f in frames if event_name(f) in wanted]
    assert (
        mine
        == got[: got.index(("CHANNEL_HANGUP_COMPLETE", "-a")) + 1]
        == [
            ("CHANNEL_HANGUP", "-b"),
            ("CHANNEL_HANGUP", "-a"),
            ("CHANNEL_HANGUP_COMPLETE", "-b"),
            ("PLAYBACK_STOP", "-a"),
            ("CHANNEL_EXECUTE_COMPLETE", "-a"),
            ("CHANNEL_UNPARK", "-a"),
            ("CHANNEL_EXECUTE_COMPLETE", "-a"),
            ("CHANNEL_HANGUP_COMPLETE", "-a"),
        ]
    )
