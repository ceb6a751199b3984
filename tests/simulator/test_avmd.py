"""avmd on the simulator against captures 07, 07b and 10c; the scenario plans the beep."""

from __future__ import annotations

import random
import re
from uuid import uuid4

from dialer.simulator import Scenario
from tests.simulator.capture_tools import a_leg, headers, is_event, label
from tests.simulator.client import RawClient, event_name, inner, login, running
from tests.support.transcripts import Transcript, load

NOISE = {"HEARTBEAT", "RE_SCHEDULE", "API", "CODEC", "CHANNEL_STATE", "CHANNEL_CALLSTATE"}


def _execute(uuid: str, app: str, arg: str = "") -> bytes:
    """As the captures send it: with an Event-UUID."""
    data = f"execute-app-arg: {arg}\n" if arg else ""
    return (
        f"sendmsg {uuid}\ncall-command: execute\nexecute-app-name: {app}\n{data}"
        f"Event-UUID: {uuid4()}\n\n"
    ).encode()


def _stamp(frame: bytes) -> float:
    return int(headers(frame)["Event-Date-Timestamp"]) / 1e6


def _avmd_part(frames: list[bytes]) -> list[bytes]:
    """From the avmd_start CHANNEL_EXECUTE to the avmd::stop full copy (or the last frame)."""
    mine = [f for f in frames if is_event(f) and a_leg(f) and event_name(f) not in NOISE]
    start = next(i for i, f in enumerate(mine) if b"Application: avmd_start" in f)
    stop = [i for i, f in enumerate(mine) if label(f) == "avmd::stop+full"]
    return mine[start : (stop[0] + 1 if stop else len(mine))]


def _captured(t: Transcript) -> list[bytes]:
    return _avmd_part([c.data for c in t.received(1)])


def _park(c: RawClient, number: str, uuid: str) -> bytes:
    c.command(
        f"bgapi originate {{origination_uuid={uuid}}}loopback/{number}/default &park\n\n".encode()
    )
    return c.until(
        lambda f: event_name(f) == "CHANNEL_ANSWER" and headers(f)["Unique-ID"] == uuid, timeout=5
    )[-1]


def _avmd_round(c: RawClient, number: str, uuid: str, started: str) -> tuple[bytes, list[bytes]]:
    """Park a call, ``avmd_start`` until ``started`` is seen, ``avmd_stop`` until its full
    stop event: the answer frame and every frame from the start on."""
    answer = _park(c, number, uuid)
    c.until(lambda f: event_name(f) == "CHANNEL_PARK", timeout=5)
    c.send(_execute(uuid, "avmd_start"))
    frames = c.until(lambda f: label(f) == started, timeout=5)
    c.send(_execute(uuid, "avmd_stop"))
    frames += c.until(lambda f: label(f) == "avmd::stop+full", timeout=5)
    return answer, frames


def test_beep_detected_like_07() -> None:
    t = load("07_avmd_beep.txt")
    captured = _captured(t)
    with running(scenario="realistic", time_scale=0.05) as sim:
        c = login(sim.address)
        answer, frames = _avmd_round(c, "machine_beep", "m1", "avmd::beep+full")
    mine = _avmd_part(frames)
    assert (
        [label(f) for f in mine]
        == [label(f) for f in captured]
        == [
            "CHANNEL_EXECUTE",
            "MEDIA_BUG_START",
            "avmd::start",
            "CHANNEL_EXECUTE_COMPLETE",
            "PRIVATE_COMMAND",
            "avmd::start+full",
            "avmd::beep",
            "avmd::beep+full",
            "CHANNEL_EXECUTE",
            "avmd::stop",
            "MEDIA_BUG_STOP",
            "CHANNEL_EXECUTE_COMPLETE",
            "PRIVATE_COMMAND",
            "avmd::stop+full",
        ]
    )
    for frame, cap in zip(mine, captured, strict=True):
        names = [n for n, _ in inner(frame)[0] if not n.startswith("variable_")]
        cap_names = [n for n, _ in inner(cap)[0] if not n.startswith("variable_")]
        assert names == cap_names, label(frame)
    by_label = {label(f): headers(f) for f in mine}
    for sub in ("start", "beep", "stop"):  # the two copies are one event
        bare, full = by_label[f"avmd::{sub}"], by_label[f"avmd::{sub}+full"]
        assert bare["Event-Sequence"] == full["Event-Sequence"]
    beep, stop = by_label["avmd::beep"], by_label["avmd::stop"]
    assert (beep["Beep-Status"], stop["Beep-Status"]) == ("DETECTED", "DETECTED")
    cap_beep = next(headers(f) for f in captured if label(f) == "avmd::beep")
    assert beep["Frequency"] == cap_beep["Frequency"]
    # the beep starts 3 s after answer (machine_beep: sleep 3000), heard 40-100 ms later
    heard = _stamp(next(f for f in mine if label(f) == "avmd::beep")) - _stamp(answer)
    assert 3.04 <= heard <= 3.1 + 0.05  # one 20 ms switch frame of scheduling slack
    start_us = int(by_label["avmd::start"]["Start-time"])
    assert int(stop["Total-time"]) == int(by_label["avmd::stop"]["Event-Date-Timestamp"]) - start_us


def test_no_beep_like_07b() -> None:
    t = load("07b_avmd_no_beep.txt")
    subscribe = next(c.data for c in t.sent(1) if c.data.startswith(b"event plain"))
    reply = next(c.data for c in t.received(1) if b"event listener enabled" in c.data)
    captured = _captured(t)
    with running(scenario="realistic", time_scale=0.05) as sim:
        c = RawClient(sim.address)
        c.frame()
        c.command(b"auth ClueCon\n\n")
        assert c.command(subscribe) == reply
        _, frames = _avmd_round(c, "silent_human", "s1", "avmd::start+full")
    mine = _avmd_part(frames)
    assert (
        [label(f) for f in mine]
        == [label(f) for f in captured]
        == [
            "CHANNEL_EXECUTE",
            "avmd::start",
            "CHANNEL_EXECUTE_COMPLETE",
            "avmd::start+full",
            "CHANNEL_EXECUTE",
            "avmd::stop",
            "CHANNEL_EXECUTE_COMPLETE",
            "avmd::stop+full",
        ]
    )
    assert headers(mine[5])["Beep-Status"] == "NOTDETECTED"


def test_voicemail_path_amd_machine_then_beep_then_message_like_10c() -> None:
    t = load("10c_amd_machine_then_beep.txt")
    cap = [c.data for c in t.received(1)]
    cap_answer = next(f for f in cap if event_name(f) == "CHANNEL_ANSWER" and a_leg(f))
    cap_beep = next(f for f in cap if label(f) == "avmd::beep")
    message = next(c.data for c in t.sent(1) if b"execute-app-name: playback" in c.data)
    arg = re.search(rb"execute-app-arg: (\S+)", message).group(1).decode()  # type: ignore[union-attr]
    with running(scenario="realistic", time_scale=0.05) as sim:
        c = login(sim.address)
        answer = _park(c, "amd_machine", "v1")
        c.until(lambda f: event_name(f) == "CHANNEL_PARK", timeout=5)
        c.send(_execute("v1", "amd"))
        amd = c.until(
            lambda f: event_name(f) == "CHANNEL_EXECUTE_COMPLETE" and b"Application: amd\n" in f,
            timeout=5,
        )[-1]
        c.send(_execute("v1", "avmd_start"))
        beep = c.until(lambda f: label(f) == "avmd::beep", timeout=5)[-1]
        # both at once, as 10c's driver did: the playback waits behind avmd_stop
        c.send(_execute("v1", "avmd_stop") + _execute("v1", "playback", arg))
        played = c.until(
            lambda f: event_name(f) == "CHANNEL_EXECUTE_COMPLETE" and b"Application: playback" in f,
            timeout=5,
        )
        later = c.until(lambda f: label(f) == "avmd::stop+full", timeout=5)
    assert headers(amd)["variable_amd_result"] == "MACHINE"
    assert _stamp(beep) > _stamp(amd)  # the beep ends the greeting, long after amd decided
    heard = _stamp(beep) - _stamp(answer)
    cap_heard = _stamp(cap_beep) - _stamp(cap_answer)
    assert abs(heard - cap_heard) <= 0.1  # 10c: 6.46 s after the answer
    start = next(f for f in played if event_name(f) == "PLAYBACK_START")
    stop = next(f for f in played if event_name(f) == "PLAYBACK_STOP")
    assert 1.98 <= _stamp(stop) - _stamp(start) <= 2.1  # tone_stream://%(2000,0,440): 2 s
    assert headers(played[-1])["Application-Response"] == "FILE%20PLAYED"
    # the playback queued behind avmd_stop runs before the session's queued avmd::stop copy
    order = [label(f) for f in [*played, *later] if is_event(f) and a_leg(f)]
    order = [x for x in order if x not in NOISE]
    assert order[order.index("avmd::stop") :] == [
        "avmd::stop",
        "MEDIA_BUG_STOP",
        "CHANNEL_EXECUTE_COMPLETE",
        "PRIVATE_COMMAND",
        "CHANNEL_EXECUTE",
        "PLAYBACK_START",
        "PLAYBACK_STOP",
        "CHANNEL_EXECUTE_COMPLETE",
        "PRIVATE_COMMAND",
        "avmd::stop+full",
    ]


def test_scenario_decides_when_a_machine_beeps() -> None:
    scenario = Scenario.from_dict(
        {"machine_share": 1.0, "numbers": {"+1777*": {"machine": True, "beep": None}}}
    )
    rng = random.Random(3)
    machine = scenario.plan("+15550000000", rng)
    assert machine.machine
    assert machine.beep == machine.greeting  # the beep ends the greeting
    assert scenario.plan("+17770000000", rng).beep is None  # a machine that never beeps
    human = Scenario.from_dict({"machine_share": 0.0}).plan("+15550000000", rng)
    assert human.beep is None
