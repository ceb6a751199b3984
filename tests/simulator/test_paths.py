"""Simulator paths over the wire that the replay tests do not reach: unsubscribing,
``myevents`` + ``linger`` (fixture 08b), the IVR and queue timeouts (05a, 06) forced by
scenario per-number overrides, and the accuracy of the time scale."""

from __future__ import annotations

import time

import gevent
import pytest

from dialer.simulator import Scenario
from tests.simulator.client import RawClient, event_name, inner, login, running
from tests.support.transcripts import load, split_headers

NOT_A_FRAME = 0.3  # how long "nothing arrives" is watched


def _replies(name: str, conn: int) -> list[bytes]:
    return [c.data for c in load(name).received(conn) if b"command/reply" in c.data]


def _headers(frame: bytes) -> dict[str, str]:
    return dict(inner(frame)[0])


def _nothing_more(client: RawClient) -> None:
    with pytest.raises(gevent.Timeout):
        client.frame(timeout=NOT_A_FRAME)


# -- nixevent / noevents --------------------------------------------------------------------


def test_nixevent_and_noevents_replies_and_events_stop() -> None:
    captured = _replies("08b_filters_myevents_sendmsg.txt", 1)
    with running(scenario="all-answer", time_scale=0.005) as sim:
        c = login(sim.address, b"event plain CHANNEL_CREATE CHANNEL_ANSWER CHANNEL_DESTROY")
        nixed = c.command(b"nixevent CHANNEL_ANSWER\n\n")
        assert nixed == b"Content-Type: command/reply\nReply-Text: +OK events nixed\n\n"
        assert nixed in captured
        c.command(b"bgapi originate {origination_uuid=n1}loopback/load_target/default &park\n\n")
        frames = c.until(
            lambda f: event_name(f) == "CHANNEL_DESTROY" and _headers(f)["Unique-ID"] == "n1",
            timeout=5,
        )
        # both legs; load_target hangs up itself, so its B leg goes first
        assert [(event_name(f), _headers(f)["Channel-Name"][-2:]) for f in frames] == [
            ("CHANNEL_CREATE", "-a"),
            ("CHANNEL_CREATE", "-b"),
            ("CHANNEL_DESTROY", "-b"),
            ("CHANNEL_DESTROY", "-a"),
        ]

        stopped = c.command(b"noevents\n\n")
        assert stopped == (
            b"Content-Type: command/reply\nReply-Text: +OK no longer listening for events\n\n"
        )
        assert stopped in captured
        watcher = login(sim.address, b"event plain CHANNEL_DESTROY")
        c.command(b"bgapi originate {origination_uuid=n2}loopback/load_target/default &park\n\n")
        watcher.until(lambda f: _headers(f)["Unique-ID"] == "n2", timeout=5)  # come and gone
        # one ordered stream: had any event been queued, it would precede this reply
        assert c.command(b"api uuid_exists n2\n\n").endswith(b"\n\nfalse")
        _nothing_more(c)


# -- myevents + linger (08b conn 2 and 3) ------------------------------------------------


def test_myevents_and_linger_like_08b() -> None:
    t = load("08b_filters_myevents_sendmsg.txt")
    cap_uuid = "a7bc4b3d-066b-4765-914d-f8c9fda5d1d1"
    uuid = "0b6a7c8e-8f6f-4b35-9d0a-1c2d3e4f5a6b"
    time_scale = 0.05
    with running(scenario="realistic", time_scale=time_scale) as sim:
        driver = login(sim.address, b"event plain CHANNEL_PARK")
        plain = login(sim.address, events=None)  # conn 2: no linger
        lingering = login(sim.address, events=None)  # conn 3: linger 3
        myevents = f"myevents {uuid} json\n\n".encode()
        # before the channel exists
        assert plain.command(myevents) == _replies(t.name, 2)[1]
        assert lingering.command(b"linger 3\n\n") == _replies(t.name, 3)[1]

        originate = f"bgapi originate {{origination_uuid={uuid}}}loopback/silent_human/default"
        driver.command(originate.encode() + b" &park\n\n")
        driver.until(lambda f: event_name(f) == "CHANNEL_PARK", timeout=5)
        got3 = [lingering.command(myevents), lingering.command(b"linger 3\n\n")]
        assert got3 == _replies(t.name, 3)[2:]
        assert plain.command(myevents) == _replies(t.name, 2)[2]

        driver.command(f"api uuid_kill {uuid}\n\n".encode())
        cap2 = [c.data for c in t.received(2)][4:]
        cap3 = [c.data for c in t.received(3)][5:]

        frames2 = plain.until(lambda f: b"disconnect-notice" in f, timeout=5)
        assert [event_name(f) for f in frames2[:-1]] == ["CHANNEL_HANGUP"]
        assert frames2[-1] == cap2[-1].replace(cap_uuid.encode(), uuid.encode())
        assert plain.closed(1)

        frames3 = lingering.until(lambda f: b"Content-Disposition: linger" in f, timeout=5)
        assert [event_name(f) for f in frames3[:-1]] == ["CHANNEL_HANGUP"]
        linger_notice = cap3[1].replace(cap_uuid.encode(), uuid.encode())
        assert frames3[-1] == linger_notice.replace(
            b"loopback/hangup_during_prompt-a", b"loopback/silent_human-a"
        )
        noticed = time.monotonic()
        frames3 = lingering.until(lambda f: b"Content-Disposition: disconnect" in f, timeout=5)
        lingered = time.monotonic() - noticed
        names = [event_name(f) for f in frames3[:-1]]
        assert names == [event_name(f) for f in cap3[2:-1]]  # ... CHANNEL_HANGUP_COMPLETE
        assert all(_headers(f)["Unique-ID"] == uuid for f in frames3[:-1])
        assert frames3[-1] == cap3[-1].replace(cap_uuid.encode(), uuid.encode())
        assert lingering.closed(1)
        # linger 3 is switch time: 3 s scaled, like every other timer of the simulator
        assert 3 * time_scale * 0.8 <= lingered <= 3 * time_scale + 0.25


# -- IVR timeout (05a) and queue timeout (06) through the scenario's per-number overrides --


def _scenario(**numbers: dict[str, object]) -> Scenario:
    return Scenario.from_dict({"name": "paths", "numbers": numbers})


def _flow(sim_address: tuple[str, int], number: str, extra: str = "") -> RawClient:
    c = login(
        sim_address,
        b"event plain CHANNEL_EXECUTE CHANNEL_EXECUTE_COMPLETE DTMF CHANNEL_HANGUP_COMPLETE "
        b"CUSTOM dialer::ivr dialer::handoff callcenter::info",
    )
    c.command(
        f"bgapi originate {{origination_uuid=u-{number},dialer_attempt_id=a-{number},"
        f"dialer_amd=false{extra}}}loopback/{number}/default dialer_flow XML default\n\n".encode()
    )
    return c


def _stamp(frame: bytes) -> float:
    return int(_headers(frame)["Event-Date-Timestamp"]) / 1e6


def test_ivr_timeout_without_a_digit() -> None:
    scenario = _scenario(silent={"outcome": "answer", "ring": 1.0, "digit": None})
    with running(scenario=scenario, time_scale=0.05) as sim:
        c = _flow(sim.address, "silent")
        frames = c.until(lambda f: event_name(f) == "CHANNEL_HANGUP_COMPLETE", timeout=5)
    assert "DTMF" not in [event_name(f) for f in frames]
    start = next(f for f in frames if b"Application: play_and_get_digits\n" in f)
    runs = [
        f
        for f in frames
        if event_name(f) == "CHANNEL_EXECUTE_COMPLETE"
        and b"Application: play_and_get_digits\n" in f
    ]
    assert len(runs) == 3  # the flow runs one try per round, three tries
    done = runs[-1]
    result = _headers(done)
    assert result["variable_read_result"] == "failure"
    assert "variable_ivr_digit" not in result
    # 05a: 3 x (3 s prompt + 4 s timeout + 250 ms invalid sound), ~22 s in switch time; the
    # upper bound is scheduling slack (60 ms of real time at this scale: at 0.01 a loaded
    # machine's 15 ms went past it)
    assert 21.75 <= _stamp(done) - _stamp(start) <= 23.0
    tries = [f for f in frames if b"Event-Subclass: dialer%3A%3Aivr\n" in f]
    assert len(tries) == 3
    fields = _headers(tries[-1])
    assert (fields["dialer_attempt_id"], fields["ivr_digit"], fields["read_result"]) == (
        "a-silent",
        "",
        "failure",
    )
    assert (fields["ivr_try"], fields["ivr_invalid"]) == ("3", "")
    assert b"dialer%3A%3Ahandoff" not in b"".join(frames)  # no digit: no hand-off
    hangup = _headers(frames[-1])
    assert hangup["Hangup-Cause"] == "NORMAL_CLEARING"
    assert hangup["variable_read_result"] == "failure"


def _cc(frames: list[bytes], action: bytes) -> list[bytes]:
    return [f for f in frames if b"CC-Action: " + action + b"\n" in f]


def test_queue_timeout_without_an_agent() -> None:
    scenario = _scenario(lonely={"outcome": "answer", "ring": 1.0, "digit": "1", "agent": False})
    with running(scenario=scenario, time_scale=0.005) as sim:
        c = _flow(sim.address, "lonely", ",dialer_queue_max_wait=6")
        frames = c.until(lambda f: event_name(f) == "CHANNEL_HANGUP_COMPLETE", timeout=5)
        b_leg = c.frame(timeout=5)  # the B leg follows the A leg the dialplan hung up
        _nothing_more(c)
    assert (event_name(b_leg), _headers(b_leg)["Channel-Name"]) == (
        "CHANNEL_HANGUP_COMPLETE",
        "loopback/lonely-b",
    )
    assert _headers(frames[-1])["Channel-Name"] == "loopback/lonely-a"
    assert len(_cc(frames, b"member-queue-start")) == 1
    assert not _cc(frames, b"bridge-agent-start")
    (end,) = _cc(frames, b"member-queue-end")
    fields = _headers(end)
    assert (fields["CC-Cause"], fields["CC-Cancel-Reason"]) == ("Cancel", "TIMEOUT")
    waited = int(fields["CC-Member-Leaving-Time"]) - int(fields["CC-Member-Joined-Time"])
    assert 5 <= waited <= 7  # max wait 6 s; CC-*-Time are whole seconds, truncated
    # 06: the member leaves, the callcenter app completes, then the dialplan hangs up
    after = [event_name(f) for f in frames[frames.index(end) + 1 :]]
    assert after[0] == "CHANNEL_EXECUTE_COMPLETE"
    assert after[-1] == "CHANNEL_HANGUP_COMPLETE"
    hangup = _headers(frames[-1])
    assert hangup["Hangup-Cause"] == "NORMAL_CLEARING"
    assert (hangup["variable_cc_cause"], hangup["variable_cc_cancel_reason"]) == (
        "cancel",
        "TIMEOUT",
    )
    # the same callcenter fields as the captured member-queue-end of 06
    cap = next(
        c.data
        for c in load("06_queue_timeout_no_agent.txt").received(1)
        if b"member-queue-end" in c.data
    )
    cap_fields = [(n, v) for n, v in inner(cap)[0] if n.startswith("CC-")]
    mine = [(n, v) for n, v in inner(end)[0] if n.startswith("CC-")]
    assert [n for n, _ in mine] == [n for n, _ in cap_fields]
    assert [(n, v) for n, v in mine if n in ("CC-Action", "CC-Cause", "CC-Cancel-Reason")] == [
        (n, v) for n, v in cap_fields if n in ("CC-Action", "CC-Cause", "CC-Cancel-Reason")
    ]
    assert split_headers(end)[0][1] == ("Content-Type", "text/event-plain")


# -- time scale -----------------------------------------------------------------------------


def test_time_scale_runs_a_30s_ring_in_0_3s() -> None:
    scenario = _scenario(slow={"outcome": "answer", "ring": 30.0, "hangup_after": 0.0})
    with running(scenario=scenario, time_scale=0.01) as sim:
        c = login(sim.address, b"event plain CHANNEL_CREATE CHANNEL_ANSWER CHANNEL_HANGUP_COMPLETE")
        c.command(b"bgapi originate {origination_uuid=s1}loopback/slow/default &park\n\n")
        create = c.until(lambda f: event_name(f) == "CHANNEL_CREATE")[-1]
        created = time.monotonic()
        answer = c.until(lambda f: event_name(f) == "CHANNEL_ANSWER", timeout=3)[-1]
        rang = time.monotonic() - created
        done = c.until(lambda f: event_name(f) == "CHANNEL_HANGUP_COMPLETE", timeout=3)[-1]
    assert 0.25 <= rang <= 0.45  # 30 s x 0.01, with scheduling slack
    assert 29.5 <= _stamp(answer) - _stamp(create) <= 31.0  # the events still read 30 s
    assert _headers(done)["variable_answersec"] == "30"
