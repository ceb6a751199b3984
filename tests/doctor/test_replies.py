"""The node's reply texts: parsed as FreeSWITCH 1.10 prints them, and the simulator prints them
the same way (the doctor's tests run against the simulator, so both sides are pinned here)."""

from __future__ import annotations

from pathlib import Path

from dialer.doctor.replies import (
    command_missing,
    has_extension,
    parse_fsctl,
    parse_queue_list,
    parse_version,
)
from dialer.simulator import Simulator, introspect
from dialer.simulator.api import run_api

CAPTURES = Path(__file__).resolve().parents[1] / "data" / "freeswitch"

# callcenter_config queue list on FreeSWITCH 1.10 (its queue name column first, +OK last)
QUEUE_LIST_110 = (
    "name|strategy|moh_sound|time_base_score|tier_rules_apply|tier_rule_wait_second|"
    "tier_rule_wait_multiply_level|tier_rule_no_agent_no_wait|discard_abandoned_after|"
    "abandoned_resume_allowed|max_wait_time|max_wait_time_with_no_agent|"
    "max_wait_time_with_no_agent_time_reached|record_template|calls_answered|calls_abandoned|"
    "ring_progressively_delay|skip_agents_with_external_calls|agent_no_answer_status\n"
    "support@default|longest-idle-agent|local_stream://moh|system|false|300|true|false|60|"
    "false|0|0|5||0|0|0|true|On Break\n"
    "3000@default|round-robin|/usr/local/freeswitch/sounds/ivr/common/music-on-hold.wav|"
    "system|false|300|true|false|60|false|0|0|20||2|2|0|true|On Break\n"
    "+OK\n"
)


def test_the_captured_version_reply() -> None:
    text = (CAPTURES / "01_handshake.txt").read_text()
    line = next(x for x in text.splitlines() if x.startswith("FreeSWITCH Version"))
    version = parse_version(line)
    assert version is not None
    assert version.numbers == (1, 10, 12)
    assert version.short == "1.10.12"
    assert version.text.startswith("1.10.12-release+git~")
    assert parse_version("FreeSWITCH Version 1.8.7-release 64bit") is not None
    assert parse_version("-ERR version Command not found!\n") is None


def test_fsctl_replies() -> None:
    assert parse_fsctl("+OK sessions per second: 1000\n", "sessions per second") == 1000
    assert parse_fsctl("+OK max sessions: 1000\n", "max sessions") == 1000
    assert parse_fsctl("-ERR INVALID COMMAND\n", "max sessions") is None
    assert parse_fsctl("+OK max sessions: 1000\n", "sessions per second") is None


def test_queue_lists() -> None:
    assert parse_queue_list(QUEUE_LIST_110) == ["support@default", "3000@default"]
    assert parse_queue_list("+OK\n") == []
    assert parse_queue_list(QUEUE_LIST_110.split("\n", 1)[0] + "\n+OK\n") == []
    assert parse_queue_list("-ERR callcenter_config Command not found!\n") is None
    assert command_missing("-ERR callcenter_config Command not found!\n")
    assert not command_missing("+OK\n")


def test_an_extension_is_found_by_its_name_attribute_only() -> None:
    xml = '<context name="default">\n  <extension name="dialer_flow">\n  </extension>\n'
    assert has_extension(xml, "dialer_flow")
    assert has_extension("<extension continue='true' name='dialer_flow'/>", "dialer_flow")
    assert not has_extension(xml, "dialer")
    assert not has_extension('<action data="dialer_flow"/>', "dialer_flow")
    assert not has_extension("can't find anything\n", "dialer_flow")


def test_the_simulator_answers_as_freeswitch() -> None:
    with Simulator(port=0, heartbeat_seconds=0) as sim:
        switch = sim.switch
        located = run_api(switch, "xml_locate", "dialplan context name default")
        assert located.startswith('<context name="default">\n  <extension name=')
        assert has_extension(located, "dialer_flow")
        # switch_xml_locate looks at the section's children only: never an extension
        extension = run_api(switch, "xml_locate", "dialplan extension name dialer_flow")
        assert extension == "can't find anything\n"
        assert run_api(switch, "xml_locate", "dialplan context") == "-Error bad args\n"
        assert run_api(switch, "global_getvar", "script_dir") == "/usr/share/freeswitch/scripts"
        assert run_api(switch, "global_getvar", "no_such_var") == ""
        path = "/usr/share/freeswitch/scripts/dialer_flow.lua"
        assert run_api(switch, "file_exists", path) == "true"
        assert run_api(switch, "file_exists", "/tmp/dialer_flow.lua") == "false"
        listed = run_api(switch, "callcenter_config", "queue list")
        assert listed.split("\n", 1)[0] == QUEUE_LIST_110.split("\n", 1)[0]
        assert parse_queue_list(listed) == ["dialer_q@default"]
        assert listed.endswith("|true|On Break\n+OK\n")
        introspect.configure(switch, extensions=[], queues=[], scripts=[])
        assert not has_extension(run_api(switch, "xml_locate", "dialplan context name default"),
                                 "dialer_flow")  # fmt: skip
        assert parse_queue_list(run_api(switch, "callcenter_config", "queue list")) == []
        assert run_api(switch, "file_exists", path) == "false"
        switch.modules = switch.modules - {"mod_callcenter"}
        assert run_api(switch, "callcenter_config", "queue list") == (
            "-ERR callcenter_config Command not found!\n"
        )
