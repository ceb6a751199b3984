"""The simulator's dialplan flow driven by the variables :func:`dialer.flow.flow_variables`
builds for real campaigns, sent through the originate builder over TCP: each campaign setting
changes what the switch does the way the shipped flow would."""

from __future__ import annotations

import uuid
from typing import Any

import yaml

from dialer.campaigns import parse_config
from dialer.esl import DialTemplate, build_originate
from dialer.esl.frames import decode_value
from dialer.flow import contract as c
from dialer.flow import decode_header_value, flow_variables
from dialer.simulator import Scenario
from tests.campaigns.test_callflow import FULL
from tests.campaigns.test_model import minimal
from tests.simulator.client import event_name, inner, login, running

EVENTS = (
    b"event plain CHANNEL_EXECUTE DTMF PLAYBACK_START CHANNEL_BRIDGE CHANNEL_HANGUP_COMPLETE "
    b"CUSTOM dialer::amd dialer::ivr dialer::handoff dialer::voicemail dialer::opt_out "
    b"callcenter::info avmd::beep"
)
HUMAN = {"outcome": "answer", "ring": 1.0, "machine": False, "amd_seconds": 1.4,
         "digit_after": 1.0, "hangup_after": None, "patience": 3600, "agent": True,
         "queue_wait": 2.0, "talk": 3.0}  # fmt: skip
SCENARIO = Scenario.from_dict(
    {
        "name": "flow",
        "numbers": {
            "human1": {**HUMAN, "digit": "1"},
            "human2": {**HUMAN, "digit": "2"},
            "human8": {**HUMAN, "digit": "88"},  # 8 on each of two tries
            "human9": {**HUMAN, "digit": "9"},
            "human51": {**HUMAN, "digit": "51"},  # 5 (refused), then 1
            "silent": {**HUMAN, "digit": None},
            "slow_amd": {**HUMAN, "digit": "1", "amd_seconds": 6.0},
            "long_talk": {**HUMAN, "digit": "1", "talk": 600.0},
            "bot-7": {"outcome": "answer", "ring": 0.5, "talk": 2.0},
            "machine": {"outcome": "answer", "ring": 1.0, "machine": True,
                        "amd_cause": "MAXWORDS", "amd_seconds": 1.8, "greeting": 6.0,
                        "beep": 6.42, "hangup_after": None},
        },
    }
)  # fmt: skip


class Step(dict[str, str]):
    """One event of the A leg: its decoded headers; ``what`` is the name or the subclass."""

    @property
    def what(self) -> str:
        return self.get("Event-Subclass") or self["Event-Name"]


def call(number: str, data: dict[str, Any], **kw: Any) -> list[Step]:
    """Originate ``number`` into ``dialer_flow`` with the campaign's variables; the A leg's
    events until its CHANNEL_HANGUP_COMPLETE."""
    attempt = str(uuid.uuid4())
    variables = flow_variables(parse_config(data), campaign_id=7, attempt_id=attempt, **kw)
    request = build_originate(
        attempt_id=attempt,
        number=number,
        template=DialTemplate("loopback/{number}/default"),
        caller_id_number="15550001",
        application=c.APPLICATION,
        variables={c.ATTEMPT_ID: attempt, c.CAMPAIGN_ID: "7", **variables},
    )
    with running(scenario=SCENARIO, time_scale=0.005) as sim:
        client = login(sim.address, EVENTS)
        client.command(f"bgapi {request.command()}\n\n".encode())
        frames = client.until(
            lambda f: (
                event_name(f) == "CHANNEL_HANGUP_COMPLETE"
                and f"Unique-ID: {attempt}\n".encode() in f
            ),
            timeout=10,
        )
    steps = []
    for frame in frames:
        headers = {n: decode_value(v.encode()) for n, v in inner(frame)[0]}
        if headers.get("Unique-ID") == attempt or "CC-Action" in headers:
            steps.append(Step(headers))
    return steps


def whats(steps: list[Step]) -> list[str]:
    """The stages: custom events, DTMF, bridges, callcenter actions, the hangup."""
    out = []
    for step in steps:
        if step["Event-Name"] in ("CHANNEL_EXECUTE", "PLAYBACK_START"):
            continue
        out.append(step.get("CC-Action") or step.what)
    return out


def apps(steps: list[Step]) -> list[tuple[str, str]]:
    return [
        (s["Application"], s.get("Application-Data", ""))
        for s in steps
        if s["Event-Name"] == "CHANNEL_EXECUTE" and s["Application"] != "event"
    ]


def one(steps: list[Step], what: str) -> Step:
    (found,) = [s for s in steps if s.what == what]
    return found


def test_press1_human_presses_1_and_reaches_the_campaign_queue() -> None:
    steps = call("human1", yaml.safe_load(FULL), recipient_id=42)
    assert whats(steps) == [
        "dialer::amd",
        "DTMF",
        "dialer::ivr",
        "dialer::handoff",
        "member-queue-start",
        "bridge-agent-start",
        "CHANNEL_BRIDGE",
        "CHANNEL_HANGUP_COMPLETE",
    ]
    ran = apps(steps)
    assert ran[:4] == [
        ("answer", ""),
        ("sched_hangup", "+90 ALLOTTED_TIMEOUT"),  # flow_timeout, below max_duration
        ("record_session", f"$${{recordings_dir}}/dialer/7/{steps[0]['Unique-ID']}.wav"),
        ("amd", "initial_silence=3000 total_analysis_time=4000"),  # what differs
    ]  # fmt: skip
    assert ran[4] == (
        "play_and_get_digits",
        "1 1 1 5000 # sounds/offer.wav sounds/invalid.wav ivr_digit [129] 3000",
    )
    # at the handoff the flow's cap gives way to what is left of max_duration (300 s)
    assert ran[5][0] == "sched_cancel"
    assert ran[6][0] == "sched_hangup"
    assert 290 <= int(ran[6][1].split()[0].lstrip("+")) <= 299
    assert ran[7] == ("callcenter", "sales@default")
    assert one(steps, "dialer::amd")["amd_result"] == "HUMAN"
    assert one(steps, "dialer::ivr")["ivr_digit"] == "1"
    handoff = one(steps, "dialer::handoff")
    assert (handoff["handoff_type"], handoff["handoff_target"]) == ("queue", "sales@default")


def test_amd_off_skips_the_analysis() -> None:
    data = yaml.safe_load(FULL)
    data["amd"] = {"enabled": False}
    steps = call("human1", data)
    assert "amd" not in [app for app, _ in apps(steps)]
    assert "dialer::amd" not in whats(steps)
    assert whats(steps)[:3] == ["DTMF", "dialer::ivr", "dialer::handoff"]


def test_a_machine_gets_the_voicemail_after_the_beep() -> None:
    steps = call("machine", yaml.safe_load(FULL))
    assert whats(steps) == [
        "dialer::amd",
        "avmd::beep",
        "dialer::voicemail",
        "CHANNEL_HANGUP_COMPLETE",
    ]
    amd = one(steps, "dialer::amd")
    assert (amd["amd_result"], amd["amd_cause"]) == ("MACHINE", "MAXWORDS")
    voicemail = one(steps, "dialer::voicemail")
    assert (voicemail["voicemail_result"], voicemail["beep"]) == ("left", "true")
    played = [s for s in steps if s["Event-Name"] == "PLAYBACK_START"]
    assert [s["Playback-File-Path"] for s in played] == ["sounds/vm.wav"]
    # the message starts after the beep, not when mod_amd decided (4.6 s before it ends)
    beep = one(steps, "avmd::beep")
    assert int(played[0]["Event-Date-Timestamp"]) >= int(beep["Event-Date-Timestamp"])
    assert "play_and_get_digits" not in [app for app, _ in apps(steps)]


def test_a_machine_is_hung_up_on_by_default() -> None:
    steps = call("machine", minimal(message="sounds/offer.wav"))
    assert whats(steps) == ["dialer::amd", "CHANNEL_HANGUP_COMPLETE"]
    assert "avmd_start" not in [app for app, _ in apps(steps)]
    assert steps[-1]["Hangup-Cause"] == "NORMAL_CLEARING"


def test_amd_undecided_is_treated_as_a_human() -> None:
    steps = call("slow_amd", yaml.safe_load(FULL))  # 6 s of analysis, the cap is 4 s
    amd = one(steps, "dialer::amd")
    assert (amd["amd_result"], amd["amd_cause"]) == ("NOTSURE", "TOOLONG")
    assert whats(steps)[1:4] == ["DTMF", "dialer::ivr", "dialer::handoff"]


def test_a_broadcast_plays_its_message_and_hangs_up() -> None:
    steps = call("silent", minimal(message="sounds/offer.wav"))
    assert whats(steps) == ["dialer::amd", "CHANNEL_HANGUP_COMPLETE"]
    played = [s["Playback-File-Path"] for s in steps if s["Event-Name"] == "PLAYBACK_START"]
    assert played == ["sounds/offer.wav"]
    assert "play_and_get_digits" not in [app for app, _ in apps(steps)]


def test_a_broadcast_without_message_plays_nothing() -> None:
    steps = call("silent", minimal(amd={"enabled": False}))
    assert whats(steps) == ["CHANNEL_HANGUP_COMPLETE"]
    assert not [s for s in steps if s["Event-Name"] == "PLAYBACK_START"]


def test_the_opt_out_digit() -> None:
    steps = call("human9", yaml.safe_load(FULL))
    assert whats(steps) == [
        "dialer::amd",
        "DTMF",
        "dialer::ivr",
        "dialer::opt_out",
        "CHANNEL_HANGUP_COMPLETE",
    ]
    assert one(steps, "dialer::opt_out")["ivr_digit"] == "9"
    played = [s["Playback-File-Path"] for s in steps if s["Event-Name"] == "PLAYBACK_START"]
    assert played[-1] == "/usr/share/freeswitch/sounds/removed.wav"


def test_replay_runs_the_ivr_again_within_its_tries() -> None:
    data = minimal(type="press1", ivr={"tries": 2, "actions": {"8": "replay", "1": "opt_out"}})
    steps = call("human8", data)
    assert whats(steps) == [
        "dialer::amd",
        "DTMF",
        "dialer::ivr",
        "DTMF",
        "dialer::ivr",
        "CHANNEL_HANGUP_COMPLETE",
    ]
    assert [app for app, _ in apps(steps)].count("play_and_get_digits") == 2


def test_the_ai_agent_digit_bridges_with_the_context_headers() -> None:
    steps = call("human2", yaml.safe_load(FULL), recipient_id=42, fields={"plan": "gold, VIP"})
    assert whats(steps) == [
        "dialer::amd",
        "DTMF",
        "dialer::ivr",
        "dialer::handoff",
        "CHANNEL_BRIDGE",
        "CHANNEL_HANGUP_COMPLETE",
    ]
    handoff = one(steps, "dialer::handoff")
    assert (handoff["handoff_type"], handoff["handoff_target"]) == (
        "ai_agent",
        "sofia/external/sip:bot-7@ai.example.com",
    )
    (bridge,) = [data for app, data in apps(steps) if app == "bridge"]
    block, _, dial = bridge[1:].partition("}")
    assert dial == "sofia/external/sip:bot-7@ai.example.com"
    items = dict(item.split("=", 1) for item in block.split(","))
    attempt = steps[0]["Unique-ID"]
    assert items == {
        "absolute_codec_string": "PCMU",
        "sip_h_X-Dialer-Attempt": attempt,
        "sip_h_X-Dialer-Campaign": "7",
        "sip_h_X-Dialer-Recipient": "42",
        "sip_h_X-Dialer-Field-plan": items["sip_h_X-Dialer-Field-plan"],
    }
    assert decode_header_value(items["sip_h_X-Dialer-Field-plan"]) == "gold, VIP"


def test_an_extension_action_transfers() -> None:
    data = minimal(type="press1", ivr={"actions": {"1": {"extension": "1000@sales"}}})
    steps = call("human1", data)
    assert ("transfer", "1000 XML sales") in apps(steps)
    handoff = one(steps, "dialer::handoff")
    assert (handoff["handoff_type"], handoff["handoff_target"]) == ("extension", "1000 XML sales")


def test_the_flow_timeout_ends_a_call_stuck_before_any_handoff() -> None:
    data = minimal(type="press1", flow_timeout=10, ivr={"tries": 3, "timeout": 5,
                   "actions": {"1": "opt_out"}})  # fmt: skip
    steps = call("silent", data)  # 3 x (3 s prompt + 5 s) would take ~25 s
    hangup = steps[-1]
    assert hangup["Hangup-Cause"] == "ALLOTTED_TIMEOUT"
    assert 9 <= int(hangup["variable_billsec"]) <= 11
    assert "dialer::ivr" not in whats(steps)  # the IVR never finished


def test_max_duration_ends_the_handed_off_call() -> None:
    data = minimal(
        type="press1",
        max_duration=20,
        ivr={"actions": {"1": {"queue": "s"}}},
        queues={"s": {"target": "s@default"}},
    )
    steps = call("long_talk", data)
    assert whats(steps)[-3:] == ["bridge-agent-start", "CHANNEL_BRIDGE", "CHANNEL_HANGUP_COMPLETE"]
    hangup = steps[-1]
    assert hangup["Hangup-Cause"] == "ALLOTTED_TIMEOUT"
    assert 19 <= int(hangup["variable_billsec"]) <= 21


def test_an_invalid_key_then_a_valid_one_is_two_counted_tries() -> None:
    """One play_and_get_digits try per round: the refused key is reported
    (``ivr_invalid``, from ``ivr_digit_invalid``), then the valid one wins."""
    data = minimal(type="press1", ivr={"digits": "1", "tries": 3, "actions": {"1": "opt_out"}})
    steps = call("human51", data)
    assert whats(steps) == [
        "dialer::amd",
        "DTMF",
        "dialer::ivr",
        "DTMF",
        "dialer::ivr",
        "dialer::opt_out",
        "CHANNEL_HANGUP_COMPLETE",
    ]
    first, second = [s for s in steps if s.get("Event-Subclass") == "dialer::ivr"]
    assert (first["ivr_digit"], first["ivr_invalid"], first["ivr_try"]) == ("", "5", "1")
    assert first["read_result"] == "failure"
    assert (second["ivr_digit"], second["ivr_invalid"], second["ivr_try"]) == ("1", "", "2")
    assert second["read_result"] == "success"


def test_no_input_is_one_timed_out_try_per_round() -> None:
    data = minimal(type="press1", ivr={"digits": "1", "tries": 3, "actions": {"1": "opt_out"}})
    steps = call("silent", data)
    tries = [s for s in steps if s.get("Event-Subclass") == "dialer::ivr"]
    assert [(t["ivr_try"], t["ivr_digit"], t["ivr_invalid"]) for t in tries] == [
        ("1", "", ""), ("2", "", ""), ("3", "", ""),
    ]  # fmt: skip
