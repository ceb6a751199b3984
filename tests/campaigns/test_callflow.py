"""The call-flow sections of a campaign: what loads, the defaults, and what every mistake is
called (each rule names its field)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from dialer.campaigns import CampaignConfig, parse_config
from dialer.campaigns.callflow import ActionKind, Handoff, OnMachine, SimpleAction
from dialer.flow import contract
from tests.campaigns.test_model import minimal, problems

FULL = """\
name: Press one
type: press1
lists: [A]
caller_id: {number: "+12125550100"}
pacing: {max_channels: 10, cps: 5}
amd:
  enabled: true
  on_machine: voicemail
  voicemail_message: sounds/vm.wav
  settings: {initial_silence: 3000, total_analysis_time: 4000}
message: sounds/offer.wav
ivr:
  digits: "129"
  tries: 2
  timeout: 5
  invalid_message: sounds/invalid.wav
  opt_out_message: /usr/share/freeswitch/sounds/removed.wav
  actions: {"1": {queue: sales}, "2": {ai_agent: bot}, "9": opt_out}
queues: {sales: {name: "Press 1 Agents", target: "sales@default", max_wait: 120}}
agents:
  bot:
    dial: "sofia/external/sip:bot-{campaign_id}@ai.example.com"
    fields: [plan, first_name]
    transfer_queue: sales
recording: {enabled: true}
flow_timeout: 90
"""

IVR = {"actions": {"1": "replay"}}
QUEUES = {"sales": {"target": "sales@default"}}
BOT = {"bot": {"dial": "sofia/external/sip:bot@ai.example.com"}}


def press1(**overrides: Any) -> dict[str, Any]:
    return minimal(**{"type": "press1", "ivr": IVR, **overrides})


def test_the_full_flow_loads_and_round_trips() -> None:
    config = parse_config(yaml.safe_load(FULL))
    assert config.amd.on_machine is OnMachine.VOICEMAIL
    assert config.amd.settings.initial_silence == 3000
    assert config.amd.settings.greeting == 1500  # mod_amd's default
    assert config.message == "sounds/offer.wav"
    assert config.ivr is not None
    assert (config.ivr.valid_digits, config.ivr.tries, config.ivr.timeout) == ("129", 2, 5)
    assert config.ivr.actions["1"] == Handoff(queue="sales")
    assert config.ivr.actions["1"].kind is ActionKind.QUEUE  # type: ignore[union-attr]
    assert config.ivr.actions["9"] is SimpleAction.OPT_OUT
    assert config.queues["sales"].max_wait == 120
    assert config.agents["bot"].fields == ["plan", "first_name"]
    assert config.agents["bot"].codec == "PCMU"
    assert config.recording.enabled
    assert config.flow_cap == 90
    assert CampaignConfig.model_validate(config.model_dump(mode="json")) == config
    assert config.warnings() == []


def test_flow_defaults_of_a_minimal_campaign() -> None:
    config = parse_config(minimal())
    assert config.amd.enabled
    assert config.amd.on_machine is OnMachine.HANGUP
    assert config.amd.voicemail_message is None
    assert config.amd.settings.model_dump() == {
        "silence_threshold": 256,
        "initial_silence": 2500,
        "greeting": 1500,
        "after_greeting_silence": 800,
        "total_analysis_time": 5000,
        "min_word_length": 100,
        "between_words_silence": 50,
        "maximum_number_of_words": 3,
        "maximum_word_length": 5000,
    }
    assert (config.message, config.ivr, config.handoff) == (None, None, None)
    assert (config.queues, config.agents) == ({}, {})
    assert not config.recording.enabled
    assert config.flow_timeout is None
    assert config.flow_cap == 120
    assert parse_config(minimal(max_duration=60)).flow_cap == 60


def test_model_defaults_are_the_flow_defaults() -> None:
    """What the flow does without a variable is what a campaign gets without the key."""
    config = parse_config(press1(queues={"q": {"target": "x@default"}}))
    assert config.ivr is not None
    d = contract.DEFAULTS
    assert d[contract.AMD] == str(config.amd.enabled).lower()
    assert d[contract.AMD_ON_MACHINE] == config.amd.on_machine.value
    assert d[contract.IVR_TRIES] == str(config.ivr.tries)
    assert d[contract.IVR_TIMEOUT_MS] == str(config.ivr.timeout * 1000)
    assert d[contract.QUEUE_MAX_WAIT] == str(config.queues["q"].max_wait)
    assert d[contract.RECORDING] == str(config.recording.enabled).lower()
    assert d[contract.HANDOFF_CODEC] == "PCMU"


def test_the_flow_knows_every_action_the_model_allows() -> None:
    assert set(contract.ACTIONS) == {kind.value for kind in ActionKind}
    assert set(contract.HANDOFF_ACTIONS) == {"queue", "extension", "ai_agent"}
    assert {a.value for a in SimpleAction} == set(contract.ACTIONS) - set(contract.HANDOFF_ACTIONS)


def test_digits_default_to_the_actions() -> None:
    config = parse_config(press1(ivr={"actions": {"3": "replay", "1": "opt_out"}}))
    assert config.ivr is not None
    assert config.ivr.valid_digits == "31"


def test_a_broadcast_without_message_warns() -> None:
    assert parse_config(minimal()).warnings() == [
        "message: not set, so this broadcast plays nothing to those it reaches"
    ]
    assert parse_config(minimal(message="sounds/offer.wav")).warnings() == []
    assert parse_config(press1()).warnings() == [
        "message: not set, so the IVR prompt is a plain tone"
    ]
    with_handoff = press1(message="m.wav", handoff={"extension": "1000"})
    assert parse_config(with_handoff).warnings() == [
        "handoff: not used, the ivr actions decide where a human goes"
    ]


# -- the rules between sections ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            minimal(type="press1"),
            ["ivr: required for a press1 campaign (digits, actions, ...)"],
        ),
        (
            press1(ivr={"actions": {"1": {"queue": "sales"}}}),
            ["ivr.actions.1.queue: unknown queue 'sales' (queues: none defined)"],
        ),
        (
            press1(ivr={"actions": {"1": {"queue": "sale"}}}, queues=QUEUES),
            ["ivr.actions.1.queue: unknown queue 'sale' (queues: sales)"],
        ),
        (
            press1(ivr={"actions": {"2": {"ai_agent": "bot"}}}),
            ["ivr.actions.2.ai_agent: unknown agent 'bot' (agents: none defined)"],
        ),
        (
            minimal(handoff={"queue": "sales"}),
            ["handoff.queue: unknown queue 'sales' (queues: none defined)"],
        ),
        (
            press1(ivr={"digits": "19", "actions": {"1": "replay", "2": "opt_out"}}),
            ["ivr: actions for 2 not in digits '19'"],
        ),
        (
            press1(ivr={"digits": "129", "actions": {"1": "replay", "9": "opt_out"}}),
            ["ivr: digits 2 have no action"],
        ),
        (
            minimal(type="ai_agent"),
            [
                "handoff: an ai_agent campaign needs an AI agent: handoff: {ai_agent: <id>} "
                "(an entry of agents) or an ivr action ai_agent"
            ],
        ),
        (
            minimal(type="ai_agent", agents=BOT, queues=QUEUES, handoff={"queue": "sales"}),
            [
                "handoff: an ai_agent campaign needs an AI agent: handoff: {ai_agent: <id>} "
                "(an entry of agents) or an ivr action ai_agent"
            ],
        ),
        (
            minimal(agents={"bot": {**BOT["bot"], "transfer_queue": "sales"}}),
            ["agents.bot.transfer_queue: unknown queue 'sales' (queues: none defined)"],
        ),
        (
            minimal(amd={"on_machine": "voicemail"}),
            [
                "amd.voicemail_message: required when on_machine is voicemail "
                "(or set message to leave that)"
            ],
        ),
        (
            minimal(flow_timeout=400),
            ["flow_timeout: must be <= max_duration (300 seconds)"],
        ),
    ],
)
def test_cross_section_rules_name_their_field(data: dict[str, Any], expected: list[str]) -> None:
    assert problems(data) == expected


def test_several_rules_are_reported_together() -> None:
    data = minimal(
        type="press1",
        amd={"on_machine": "voicemail"},
        handoff={"ai_agent": "nobody"},
    )
    assert problems(data) == [
        "ivr: required for a press1 campaign (digits, actions, ...)",
        "handoff.ai_agent: unknown agent 'nobody' (agents: none defined)",
        "amd.voicemail_message: required when on_machine is voicemail "
        "(or set message to leave that)",
    ]


def test_what_is_valid_across_sections() -> None:
    parse_config(minimal(amd={"on_machine": "voicemail"}, message="sounds/offer.wav"))
    parse_config(minimal(type="ai_agent", agents=BOT, handoff={"ai_agent": "bot"}))
    parse_config(minimal(type="ai_agent", agents=BOT, ivr={"actions": {"1": {"ai_agent": "bot"}}}))
    parse_config(press1(ivr={"actions": {"1": {"extension": "1000@default"}}}))
    parse_config(minimal(flow_timeout=300))


# -- each section's own values ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"amd": {"enabled": "yes"}}, "amd.enabled: Input should be a valid boolean"),
        ({"amd": {"on_machine": "beep"}},
         "amd.on_machine: Input should be 'hangup' or 'voicemail'"),
        ({"amd": {"greeting": 1500}},
         "amd.greeting: unknown key (not part of the campaign format)"),
        ({"amd": {"settings": {"greeting": 0}}}, "amd.settings.greeting: must be >= 100"),
        (
            {"amd": {"settings": {"total_analysis_time": "5000"}}},
            "amd.settings.total_analysis_time: must be an integer (a whole number, no quotes)",
        ),
        ({"ivr": {"actions": {}}}, "ivr.actions: must not be empty"),
        ({"ivr": {"digits": "1"}}, "ivr.actions: required"),
        ({"ivr": {"actions": {"12": "replay"}}}, "ivr.actions: '12' is not one digit 0-9"),
        ({"ivr": {"actions": {"*": "replay"}}}, "ivr.actions: '*' is not one digit 0-9"),
        (
            {"ivr": {"digits": "1#", "actions": {"1": "replay"}}},
            "ivr.digits: must be digits 0-9 (# ends the input, * is not offered)",
        ),
        (
            {"ivr": {"digits": "11", "actions": {"1": "replay"}}},
            "ivr.digits: must not repeat a digit",
        ),
        ({"ivr": {"tries": 0, "actions": {"1": "replay"}}}, "ivr.tries: must be >= 1"),
        ({"ivr": {"timeout": 61, "actions": {"1": "replay"}}}, "ivr.timeout: must be <= 60"),
        (
            {"ivr": {"actions": {"1": "transfer"}}},
            "ivr.actions.1: Input should be 'replay' or 'opt_out'",
        ),
        (
            {"ivr": {"actions": {"1": 7}}},
            "ivr.actions.1: must be replay, opt_out or a mapping {queue|extension|ai_agent: ...}",
        ),
        (
            {"ivr": {"actions": {"1": {"queue": "a", "ai_agent": "b"}}}},
            "ivr.actions.1: must name exactly one of queue, extension, ai_agent",
        ),
        (
            {"ivr": {"actions": {"1": {}}}},
            "ivr.actions.1: must name exactly one of queue, extension, ai_agent",
        ),
        (
            {"ivr": {"actions": {"1": {"qeue": "sales"}}}},
            "ivr.actions.1.qeue: unknown key (not part of the campaign format)",
        ),
        (
            {"ivr": {"actions": {"1": {"extension": "1000 XML default"}}}},
            "ivr.actions.1.extension: must be an extension like 1000 or 1000@default (context)",
        ),
        (
            {"queues": {"sales": {"target": "sales,x@default"}}},
            "queues.sales.target: must be a mod_callcenter queue name like sales@default",
        ),
        ({"queues": {"sales": {"name": "S"}}}, "queues.sales.target: required"),
        ({"queues": {"s": {"name": "a\nb", "target": "s@d"}}},
         "queues.s.name: must be non-empty printable text"),
        ({"agents": {"a b": {"dial": "sofia/a/b"}}},
         "agents: key 'a b' must be 1-40 letters, digits, - or _ "
         "(starting with a letter or digit)"),
        ({"queues": {"s": {"target": "s@d", "max_wait": 0}}}, "queues.s.max_wait: must be >= 1"),
        (
            {"queues": {"bad id": {"target": "s@d"}}},
            "queues: key 'bad id' must be 1-40 letters, digits, - or _ "
            "(starting with a letter or digit)",
        ),
        (
            {"agents": {"bot": {"dial": "sofia/external/{number}@ai"}}},
            "agents.bot.dial: unknown placeholder {number} (allowed: {attempt_id}, {campaign_id})",
        ),
        (
            {"agents": {"bot": {"dial": "sofia/external/a,b@ai"}}},
            "agents.bot.dial: must be a dial string like sofia/external/sip:bot@ai.example.com "
            "(letters, digits and _ . + * # @ : / ; = -, no blanks, commas, quotes or braces "
            "other than the placeholders)",
        ),
        (
            {"agents": {"bot": {"dial": "sofia/x/{campaign_id}}}y"}}},
            "agents.bot.dial: must be a dial string like sofia/external/sip:bot@ai.example.com "
            "(letters, digits and _ . + * # @ : / ; = -, no blanks, commas, quotes or braces "
            "other than the placeholders)",
        ),
        (
            {"agents": {"bot": {"dial": "b64:sofia/a"}}},
            "agents.bot.dial: cannot be carried to the switch as it is",
        ),
        (
            {"agents": {"bot": {"dial": "sofia/a/b", "fields": ["plan", "x y"]}}},
            "agents.bot.fields.1: field names must be 1-40 letters, digits, - or _",
        ),
        (
            {"agents": {"bot": {"dial": "sofia/a/b", "fields": ["plan", "Plan"]}}},
            "agents.bot.fields: must not name a field twice",
        ),
        (
            {"agents": {"bot": {"dial": "sofia/a/b", "codec": "PCMU,PCMA"}}},
            "agents.bot.codec: must be one codec name like PCMU, PCMA or G722 (no commas)",
        ),
        ({"recording": {"enabled": 1}}, "recording.enabled: Input should be a valid boolean"),
        ({"recording": {"path": "/tmp"}},
         "recording.path: unknown key (not part of the campaign format)"),
        ({"handoff": {"queue": "a", "extension": "1"}},
         "handoff: must name exactly one of queue, extension, ai_agent"),
        ({"flow_timeout": 5}, "flow_timeout: must be >= 10"),
    ],
)  # fmt: skip
def test_section_values_name_their_field(overrides: dict[str, Any], expected: str) -> None:
    assert problems(minimal(**overrides)) == [expected]


# -- sound paths ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "sounds/offer.wav",
        "offer.wav",
        "/usr/share/freeswitch/sounds/en/us/callie/ivr/8000/ivr-welcome.wav",
        "http://prompts.example.com/offer.wav?v=2&lang=en",
        "silence_stream://250",
        "say:hello",
        "sounds/v1.2/offer-final_2.wav",
    ],
)
def test_sound_paths_accepted(path: str) -> None:
    assert parse_config(minimal(message=path)).message == path


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("", "must not be empty"),
        ("sounds/a b.wav", "' ' cannot be carried to the switch in a sound path"),
        ("sounds/a,b.wav", "',' cannot be carried to the switch in a sound path"),
        ("sounds/it's.wav", '"\'" cannot be carried to the switch in a sound path'),
        ('sounds/"x".wav', "'\"' cannot be carried to the switch in a sound path"),
        ("sounds/${x}.wav", "'$' '{' '}' cannot be carried to the switch in a sound path"),
        ("tone_stream://%(500,0,1000)", "'%' '(' ')' ',' cannot be carried"),
        ("a.wav!b.wav", "'!' cannot be carried to the switch in a sound path"),
        ("a\\b.wav", "'\\\\' cannot be carried to the switch in a sound path"),
        ("a.wav\nhangup", "must not contain control characters or newlines"),
        ("a.wav\x00", "must not contain control characters or newlines"),
        ("sounds/é.wav", "'é' cannot be carried to the switch in a sound path"),
        ("a:_:b.wav", "':_:' cannot be carried to the switch in a sound path"),
        ("a~b.wav", "'~' cannot be carried to the switch in a sound path"),
        ("../../etc/passwd", "must not climb out of the sound directory with '..'"),
        ("sounds/../../x.wav", "must not climb out of the sound directory with '..'"),
        ("a" * 401, "must be at most 400 characters"),
    ],
)
def test_hostile_sound_paths_refused(path: str, expected: str) -> None:
    for where, data in [
        ("message", minimal(message=path)),
        ("amd.voicemail_message", minimal(amd={"voicemail_message": path})),
        ("ivr.invalid_message", press1(ivr={**IVR, "invalid_message": path})),
        ("ivr.opt_out_message", press1(ivr={**IVR, "opt_out_message": path})),
    ]:
        [problem] = problems(data)
        assert problem.startswith(f"{where}: {expected}"), problem


def test_a_sound_path_must_be_text() -> None:
    assert problems(minimal(message=5)) == ["message: must be text"]


def test_the_shipped_campaign_files_still_load(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(FULL, encoding="utf-8")
    from dialer.campaigns import load_campaign_file

    assert load_campaign_file(path) == parse_config(yaml.safe_load(FULL))
