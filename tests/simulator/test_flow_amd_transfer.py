"""The simulator's model of the shipped flow over TCP: the AMD decision time and method
(mod_amd, or avmd alone on a node without it), re-entry at the queue of a call bridged to an AI
agent (``uuid_setvar`` + ``uuid_transfer``, as the AI tool transfer_to_human does), and the api
commands ``uuid_setvar`` and ``sched_hangup`` with mod_commands' replies."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import yaml

from dialer.campaigns import parse_config
from dialer.esl import DialTemplate, build_originate
from dialer.esl.frames import decode_value
from dialer.flow import contract as c
from dialer.flow import flow_variables
from dialer.simulator import Scenario, Simulator
from dialer.simulator.modules import DEFAULT_MODULES
from tests.campaigns.test_callflow import FULL
from tests.campaigns.test_model import minimal
from tests.simulator.client import RawClient, event_name, inner, login, running
from tests.simulator.test_flow_variables import HUMAN, Step, apps, one, whats

SCALE = 0.01
EVENTS = (
    b"event plain CHANNEL_EXECUTE DTMF PLAYBACK_START CHANNEL_BRIDGE CHANNEL_UNBRIDGE "
    b"CHANNEL_HANGUP_COMPLETE CUSTOM dialer::amd dialer::ivr dialer::handoff dialer::voicemail "
    b"callcenter::info avmd::beep"
)
NO_MOD_AMD = DEFAULT_MODULES - {"mod_amd"}
SCENARIO = Scenario.from_dict(
    {
        "name": "amd-transfer",
        "numbers": {
            "human1": {**HUMAN, "digit": "1", "amd_seconds": 1.4},
            "slow_human": {**HUMAN, "digit": "1", "amd_seconds": 2.6},
            # presses 2 (the AI agent), then talks long enough to be transferred
            "human2": {**HUMAN, "digit": "2", "talk": 600.0, "queue_wait": 2.0},
            "bot-7": {"outcome": "answer", "ring": 0.5, "talk": 600.0},
            "machine": {"outcome": "answer", "ring": 1.0, "machine": True,
                        "amd_cause": "MAXWORDS", "amd_seconds": 1.8, "greeting": 2.5,
                        "beep": 3.0, "hangup_after": None},
            "parked": {**HUMAN, "patience": 3600},
        },
    }
)  # fmt: skip


@dataclass
class Live:
    sim: Simulator
    events: RawClient  # subscribed to EVENTS
    api: RawClient  # no events: every frame is a reply

    def send_api(self, command: str) -> str:
        frame = self.api.command(f"api {command}\n\n".encode())
        return frame.partition(b"\n\n")[2].decode()

    def steps_until(self, uuid_: str, what: str, timeout: float = 10.0) -> list[Step]:
        """The A leg's (and callcenter's) events up to the first ``what`` of that leg."""
        found: list[Step] = []

        def done(frame: bytes) -> bool:
            headers = {n: decode_value(v.encode()) for n, v in inner(frame)[0]}
            if headers.get("Unique-ID") == uuid_ or "CC-Action" in headers:
                step = Step(headers)
                found.append(step)
                return (step.get("CC-Action") or step.what) == what and (
                    step.get("Unique-ID") == uuid_ or "CC-Action" in step
                )
            return False

        self.events.until(done, timeout=timeout)
        return found


@contextmanager
def node(modules: frozenset[str] = DEFAULT_MODULES) -> Iterator[Live]:
    with running(scenario=SCENARIO, time_scale=SCALE, modules=modules) as sim:
        yield Live(sim, login(sim.address, EVENTS), login(sim.address, None))


def originate(live: Live, number: str, data: dict[str, Any]) -> str:
    attempt = str(uuid.uuid4())
    variables = flow_variables(parse_config(data), campaign_id=7, attempt_id=attempt)
    request = build_originate(
        attempt_id=attempt,
        number=number,
        template=DialTemplate("loopback/{number}/default"),
        caller_id_number="15550001",
        application=c.APPLICATION,
        variables={c.ATTEMPT_ID: attempt, c.CAMPAIGN_ID: "7", **variables},
    )
    reply = live.api.command(f"bgapi {request.command()}\n\n".encode())
    assert b"+OK Job-UUID" in reply
    return attempt


def flow_call(number: str, data: dict[str, Any], modules: frozenset[str]) -> list[Step]:
    with node(modules) as live:
        attempt = originate(live, number, data)
        return live.steps_until(attempt, "CHANNEL_HANGUP_COMPLETE")


def broadcast(**amd: Any) -> dict[str, Any]:
    return minimal(message="sounds/offer.wav", amd={"enabled": True, **amd})


# --- AMD: decision time and method ------------------------------------------------------------


def test_mod_amd_reports_its_decision_time_and_method() -> None:
    for number, seconds in (("human1", 1.4), ("slow_human", 2.6)):
        steps = flow_call(number, yaml.safe_load(FULL), DEFAULT_MODULES)
        amd = one(steps, "dialer::amd")
        assert (amd["amd_result"], amd["amd_cause"], amd["amd_method"]) == (
            "HUMAN",
            "HUMAN",
            "amd",
        )
        # the scenario's decision time, give or take the time scale's jitter
        assert abs(int(amd["amd_ms"]) - seconds * 1000) <= 300, amd["amd_ms"]
        # the fields come in the contract's order, right after the attempt
        names = list(amd)
        start = names.index("dialer_attempt_id")
        assert names[start : start + 5] == [
            "dialer_attempt_id",
            "amd_result",
            "amd_cause",
            "amd_ms",
            "amd_method",
        ]


def test_without_mod_amd_avmd_finds_the_machine_by_its_beep() -> None:
    steps = flow_call("machine", yaml.safe_load(FULL), NO_MOD_AMD)
    ran = [app for app, _ in apps(steps)]
    assert "amd" not in ran  # an unknown application would hang the call up
    assert ran[:5] == ["answer", "sched_hangup", "record_session", "avmd_start", "avmd_stop"]
    assert whats(steps) == [
        "avmd::beep",
        "dialer::amd",
        "dialer::voicemail",
        "CHANNEL_HANGUP_COMPLETE",
    ]
    amd = one(steps, "dialer::amd")
    assert (amd["amd_result"], amd["amd_cause"], amd["amd_method"]) == ("MACHINE", "BEEP", "avmd")
    assert 2800 <= int(amd["amd_ms"]) <= 3400  # the beep at 3.0 s, heard ~50 ms later
    # the beep is over: the message plays at once, without listening again
    assert ran.count("avmd_start") == 1
    played = [s for s in steps if s["Event-Name"] == "PLAYBACK_START"]
    assert [s["Playback-File-Path"] for s in played] == ["sounds/vm.wav"]
    assert one(steps, "dialer::voicemail")["beep"] == "true"
    assert steps[-1]["variable_amd_result"] == "MACHINE"
    # what avmd sets on a detection (07), which the shipped script polls
    assert steps[-1]["variable_avmd_detect"] == "TRUE"
    assert steps[-1]["variable_avmd_total_time"].strip("[]").isdigit()


def test_without_mod_amd_no_beep_is_undecided_and_the_human_gets_the_ivr() -> None:
    data = yaml.safe_load(FULL)  # total_analysis_time 4000: the avmd window too
    written = flow_variables(parse_config(data), campaign_id=7, attempt_id=str(uuid.uuid4()))
    assert written[c.AVMD_WINDOW_MS] == "4000"
    steps = flow_call("human1", data, NO_MOD_AMD)
    amd = one(steps, "dialer::amd")
    assert (amd["amd_result"], amd["amd_cause"], amd["amd_method"]) == (
        "NOTSURE",
        "NO_BEEP",
        "avmd",
    )
    assert 3900 <= int(amd["amd_ms"]) <= 4400
    assert whats(steps)[:4] == ["dialer::amd", "DTMF", "dialer::ivr", "dialer::handoff"]
    handoff = one(steps, "dialer::handoff")
    assert (handoff["handoff_type"], handoff["handoff_reason"]) == ("queue", "ivr")


def test_without_mod_amd_a_machine_is_hung_up_on_by_default() -> None:
    steps = flow_call("machine", broadcast(), NO_MOD_AMD)
    assert whats(steps) == ["avmd::beep", "dialer::amd", "CHANNEL_HANGUP_COMPLETE"]
    assert not [s for s in steps if s["Event-Name"] == "PLAYBACK_START"]


def test_a_node_without_amd_or_avmd_counts_the_call_as_undecided() -> None:
    steps = flow_call("human1", broadcast(), NO_MOD_AMD - {"mod_avmd"})
    amd = one(steps, "dialer::amd")
    assert (amd["amd_result"], amd["amd_cause"], amd["amd_method"], amd["amd_ms"]) == (
        "NOTSURE",
        "NOT_INSTALLED",
        "none",
        "0",
    )
    assert not {"amd", "avmd_start"} & {app for app, _ in apps(steps)}


def test_every_prompt_form_the_campaign_accepts_is_played_as_it_is() -> None:
    for message in (
        "https://prompts.example.com/offer.wav?v=2",
        "http_cache://http://prompts.example.com/offer.wav",
        "say:Hello",
        "silence_stream://500",
        "/usr/share/freeswitch/sounds/offer.wav",
    ):
        data = minimal(message=message, amd={"enabled": False})
        steps = flow_call("human1", data, DEFAULT_MODULES)
        assert ("playback", message) in apps(steps), message
        played = [s["Playback-File-Path"] for s in steps if s["Event-Name"] == "PLAYBACK_START"]
        assert played == [message]


# --- re-entry at the queue ------------------------------------------------------------------


def test_an_ai_bridged_call_transferred_to_a_human_goes_straight_to_the_queue() -> None:
    with node() as live:
        attempt = originate(live, "human2", yaml.safe_load(FULL))
        before = live.steps_until(attempt, "CHANNEL_BRIDGE")
        assert whats(before)[-2:] == ["dialer::handoff", "CHANNEL_BRIDGE"]
        assert one(before, "dialer::handoff")["handoff_type"] == "ai_agent"
        far = before[-1]["Bridge-B-Unique-ID"]
        assert live.send_api(f"uuid_exists {far}") == "true"
        # what the AI tool transfer_to_human sends
        assert live.send_api(f"uuid_setvar {attempt} {c.HANDOFF_TARGET} sales@default") == "+OK\n"
        assert live.send_api(f"uuid_setvar {attempt} {c.ENTRY} {c.ENTRY_QUEUE}") == "+OK\n"
        assert live.send_api(f"uuid_transfer {attempt} {c.APPLICATION}") == "+OK\n"
        after = live.steps_until(attempt, "bridge-agent-start")
        assert whats(after) == [
            "CHANNEL_UNBRIDGE",
            "dialer::handoff",
            "member-queue-start",
            "bridge-agent-start",
        ]
        assert after[0]["Bridge-B-Unique-ID"] == far
        assert live.send_api(f"uuid_exists {far}") == "false"  # the AI leg hung up
        handoff = one(after, "dialer::handoff")
        assert (
            handoff["handoff_type"],
            handoff["handoff_target"],
            handoff["handoff_reason"],
        ) == ("queue", "sales@default", "transfer")
        # no answer, AMD or IVR again: the bridge ends, then the queue
        ran = apps(after)
        assert ("callcenter", "sales@default") in ran
        assert not {"answer", "amd", "play_and_get_digits"} & {app for app, _ in ran}
        assert live.send_api(f"uuid_getvar {attempt} {c.ENTRY}") == "_undef_"  # one-shot
        assert live.send_api(f"uuid_kill {attempt}") == "+OK\n"
        end = live.steps_until(attempt, "CHANNEL_HANGUP_COMPLETE")
        assert whats(end)[-2:] == ["CHANNEL_UNBRIDGE", "CHANNEL_HANGUP_COMPLETE"]
        # one channel throughout: one originate, one answer, one hangup
        facts = live.sim.facts
        assert [f["uuid"] for f in facts.of("originate")] == [attempt]
        assert [f["uuid"] for f in facts.of("answer")] == [attempt]
        assert [f["uuid"] for f in facts.of("hangup")] == [attempt]


def test_a_plain_transfer_back_to_the_flow_runs_it_all_again() -> None:
    with node() as live:
        attempt = originate(live, "human2", yaml.safe_load(FULL))
        live.steps_until(attempt, "CHANNEL_BRIDGE")
        assert live.send_api(f"uuid_transfer {attempt} {c.APPLICATION}") == "+OK\n"
        after = live.steps_until(attempt, "dialer::amd")
        assert whats(after) == ["CHANNEL_UNBRIDGE", "dialer::amd"]
        assert apps(after)[0] == ("answer", "")
        live.send_api(f"uuid_kill {attempt}")
        live.steps_until(attempt, "CHANNEL_HANGUP_COMPLETE")


# --- api: uuid_setvar, sched_hangup --------------------------------------------------------


def park(live: Live, number: str = "parked") -> str:
    call_uuid = str(uuid.uuid4())
    reply = live.send_api(
        f"originate {{origination_uuid={call_uuid}}}loopback/{number}/default &park"
    )
    assert reply == f"+OK {call_uuid}\n"
    return call_uuid


def test_uuid_setvar_sets_and_unsets_a_channel_variable() -> None:
    with node() as live:
        call_uuid = park(live)
        assert live.send_api(f"uuid_setvar {call_uuid} x_note hello world") == "+OK\n"
        assert live.send_api(f"uuid_getvar {call_uuid} x_note") == "hello world"
        assert live.send_api(f"uuid_setvar {call_uuid} x_note") == "+OK\n"  # no value: unset
        assert live.send_api(f"uuid_getvar {call_uuid} x_note") == "_undef_"
        assert live.send_api(f"uuid_setvar {uuid.uuid4()} x_note 1") == "-ERR No such channel!\n"
        assert live.send_api(f"uuid_setvar {call_uuid}") == "-USAGE: <uuid> <var> [value]\n"
        assert live.send_api("uuid_setvar") == "-USAGE: <uuid> <var> [value]\n"
        live.send_api(f"uuid_kill {call_uuid}")


def test_sched_hangup_hangs_the_call_up_after_the_delay_with_the_cause() -> None:
    with node() as live:
        call_uuid = park(live)
        answered = live.steps_until(call_uuid, "CHANNEL_EXECUTE")[-1]
        assert live.send_api(f"sched_hangup +20 {call_uuid} USER_BUSY") == "+OK\n"
        asked = live.sim.switch.clock.now_us()
        (hangup,) = [
            s
            for s in live.steps_until(call_uuid, "CHANNEL_HANGUP_COMPLETE", timeout=5)
            if s["Event-Name"] == "CHANNEL_HANGUP_COMPLETE"
        ]
        assert hangup["Hangup-Cause"] == "USER_BUSY"
        waited = (int(hangup["Event-Date-Timestamp"]) - asked) / 1e6
        assert 19.5 <= waited <= 21.0, waited  # simulated seconds
        assert int(answered["Event-Date-Timestamp"]) < asked


def test_sched_hangup_without_a_cause_is_allotted_timeout_and_plus_0_is_now() -> None:
    with node() as live:
        first, second = park(live), park(live)
        assert live.send_api(f"sched_hangup +5 {first}") == "+OK\n"
        assert live.send_api(f"sched_hangup +0 {second} NORMAL_CLEARING") == "+OK\n"
        causes: dict[str, str] = {}

        def ended(frame: bytes) -> bool:
            if event_name(frame) == "CHANNEL_HANGUP_COMPLETE":
                headers = dict(inner(frame)[0])
                causes[headers["Unique-ID"]] = headers["Hangup-Cause"]
            return {first, second} <= set(causes)

        live.events.until(ended, timeout=5)
        assert causes[first] == "ALLOTTED_TIMEOUT"
        assert causes[second] == "NORMAL_CLEARING"


def test_sched_hangup_reads_its_time_as_atol_does() -> None:
    with node() as live:
        call_uuid = park(live)
        assert live.send_api(f"sched_hangup +3.9 {call_uuid} USER_BUSY") == "+OK\n"  # 3 s
        asked = live.sim.switch.clock.now_us()
        (hangup,) = [
            s
            for s in live.steps_until(call_uuid, "CHANNEL_HANGUP_COMPLETE", timeout=5)
            if s["Event-Name"] == "CHANNEL_HANGUP_COMPLETE"
        ]
        waited = (int(hangup["Event-Date-Timestamp"]) - asked) / 1e6
        assert 2.5 <= waited <= 3.6, waited


def test_sched_hangup_replies() -> None:
    with node() as live:
        assert live.send_api(f"sched_hangup +5 {uuid.uuid4()}") == "-ERR No such channel!\n"
        assert live.send_api("sched_hangup") == "-USAGE: [+]<time> <uuid> [<cause>]\n"


def test_the_lab_tone_is_written_tone_hz_seconds_and_played_as_a_tone_stream() -> None:
    """``tone:440:2`` (what a campaign can carry) plays ``tone_stream://%(2000,0,440)``;
    the script expands it the same way (tests/freeswitch/test_lua_flow.py)."""
    for message, played in (
        ("tone:440:2", "tone_stream://%(2000,0,440)"),
        ("tone:1000", "tone_stream://%(1000,0,1000)"),
    ):
        data = minimal(message=message, amd={"enabled": False})
        steps = flow_call("human1", data, DEFAULT_MODULES)
        assert ("playback", played) in apps(steps), message
