"""A campaign and one call → the flow's channel variables: what each campaign type gets, and
that no recipient data or name can change the variables or the dial string."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.campaigns import CampaignConfig, parse_config
from dialer.esl import DialTemplate, build_originate
from dialer.esl.originate import stored_form
from dialer.flow import contract as c
from dialer.flow import decode_header_value, flow_variables, header_value
from dialer.flow.variables import MAX_FIELD_BYTES
from dialer.simulator import originate as fsmodel
from tests.campaigns.test_callflow import FULL
from tests.campaigns.test_model import minimal

ATTEMPT = "6f1d2c3b-4a59-4e6f-8a7b-9c0d1e2f3a4b"


def variables(data: dict[str, Any], **kw: Any) -> dict[str, str]:
    kw.setdefault("campaign_id", 7)
    kw.setdefault("attempt_id", ATTEMPT)
    return flow_variables(parse_config(data), **kw)


def effective(got: dict[str, str]) -> dict[str, str]:
    """What the flow acts on: a variable not sent is the contract's default."""
    return {**c.DEFAULTS, **got}


def test_a_broadcast_plays_its_message_and_hangs_up() -> None:
    got = variables(minimal(message="sounds/offer.wav"), recipient_id=42)
    # what the flow would do without a variable is not sent (every variable rides in every
    # event of the call); dialer_amd always is
    assert got == {
        c.RECIPIENT_ID: "42",
        c.AMD: "true",
        c.IVR: "false",
        c.MESSAGE: "sounds/offer.wav",
        c.HANDOFF_TYPE: "none",
        c.MAX_DURATION: "300",
        c.FLOW_TIMEOUT: "120",
    }
    flow = effective(got)
    assert flow[c.AMD_ARGS] == ""  # mod_amd's defaults: the node's amd.conf
    assert flow[c.AVMD_WINDOW_MS] == "5000"  # total_analysis_time
    assert (flow[c.AMD_ON_MACHINE], flow[c.RECORDING]) == ("hangup", "false")


def test_a_broadcast_without_message_plays_nothing() -> None:
    got = variables(minimal(amd={"enabled": False}))
    assert c.MESSAGE not in got
    assert (got[c.AMD], got[c.IVR], got[c.HANDOFF_TYPE]) == ("false", "false", "none")
    assert c.AMD_ARGS not in got
    assert c.AVMD_WINDOW_MS not in got
    assert c.AMD_ON_MACHINE not in got


def test_voicemail_falls_back_to_the_message() -> None:
    got = variables(minimal(message="sounds/offer.wav", amd={"on_machine": "voicemail"}))
    assert (got[c.AMD_ON_MACHINE], got[c.VOICEMAIL_MESSAGE]) == ("voicemail", "sounds/offer.wav")


def test_a_press1_campaign_gets_its_ivr_and_every_digit_action() -> None:
    got = variables(yaml.safe_load(FULL), recipient_id=42, fields={"plan": "gold", "x": "y"})
    assert got == {
        c.RECIPIENT_ID: "42",
        c.AMD: "true",
        c.AMD_ARGS: "initial_silence=3000 total_analysis_time=4000",  # what differs
        c.AVMD_WINDOW_MS: "4000",
        c.AMD_ON_MACHINE: "voicemail",
        c.VOICEMAIL_MESSAGE: "sounds/vm.wav",
        c.IVR_PROMPT: "sounds/offer.wav",
        c.IVR_DIGITS: "129",
        c.IVR_TRIES: "2",
        c.IVR_TIMEOUT_MS: "5000",
        c.IVR_INVALID_MESSAGE: "sounds/invalid.wav",
        c.OPT_OUT_MESSAGE: "/usr/share/freeswitch/sounds/removed.wav",
        "dialer_ivr_action_1": "queue",
        "dialer_ivr_target_1": "sales@default",
        "dialer_ivr_max_wait_1": "120",
        "dialer_ivr_action_2": "ai_agent",
        "dialer_ivr_target_2": "sofia/external/sip:bot-7@ai.example.com",
        "dialer_ivr_headers_2": (
            f"sip_h_X-Dialer-Attempt={ATTEMPT},sip_h_X-Dialer-Campaign=7,"
            "sip_h_X-Dialer-Recipient=42,sip_h_X-Dialer-Field-plan=gold"
        ),
        "dialer_ivr_codec_2": "PCMU",
        "dialer_ivr_action_9": "opt_out",
        c.HANDOFF_TYPE: "none",
        c.RECORDING: "true",
        c.RECORDING_PATH: f"dialer/7/{ATTEMPT}.wav",
        c.MAX_DURATION: "300",
        c.FLOW_TIMEOUT: "90",
    }


def test_replay_and_extension_actions() -> None:
    actions = {"0": {"extension": "1000"}, "5": {"extension": "200@sales"}, "8": "replay"}
    got = variables(minimal(type="press1", ivr={"actions": actions}))
    assert got[c.IVR_DIGITS] == "058"
    assert got["dialer_ivr_action_0"] == "extension"
    assert got["dialer_ivr_target_0"] == "1000 XML default"
    assert got["dialer_ivr_target_5"] == "200 XML sales"
    assert got["dialer_ivr_action_8"] == "replay"
    assert "dialer_ivr_target_8" not in got
    assert c.IVR_PROMPT not in got  # the flow's tone


def test_an_ai_agent_campaign_bridges_to_its_agent() -> None:
    data = minimal(
        type="ai_agent",
        agents={"bot": {"dial": "sofia/gateway/ai/{attempt_id}", "fields": ["plan", "name"],
                        "codec": "PCMA"}},
        handoff={"ai_agent": "bot"},
        amd={"enabled": False},
    )  # fmt: skip
    got = variables(data, fields={"name": "Jane, Doe"})
    assert got[c.IVR] == "false"
    assert got[c.HANDOFF_TYPE] == "ai_agent"
    assert got[c.HANDOFF_TARGET] == f"sofia/gateway/ai/{ATTEMPT}"
    assert got[c.HANDOFF_CODEC] == "PCMA"
    # no recipient id, no plan: those headers are left out
    assert got[c.HANDOFF_HEADERS] == (
        f"sip_h_X-Dialer-Attempt={ATTEMPT},sip_h_X-Dialer-Campaign=7,"
        f"sip_h_X-Dialer-Field-name={header_value('Jane, Doe')}"
    )
    assert decode_header_value(header_value("Jane, Doe")) == "Jane, Doe"


def test_a_queue_handoff_without_ivr() -> None:
    got = variables(
        minimal(queues={"s": {"target": "s@default", "max_wait": 45}}, handoff={"queue": "s"})
    )
    flow = effective(got)
    assert (flow[c.HANDOFF_TYPE], got[c.HANDOFF_TARGET], got[c.QUEUE_MAX_WAIT]) == (
        "queue",
        "s@default",
        "45",
    )


def test_every_name_is_in_the_contract() -> None:
    got = variables(yaml.safe_load(FULL), recipient_id=1, fields={"plan": "p"})
    per_digit = {
        t.format(digit=d)
        for t in (c.IVR_ACTION, c.IVR_TARGET, c.IVR_MAX_WAIT, c.IVR_HEADERS, c.IVR_CODEC)
        for d in "0123456789"
    }
    assert set(got) <= set(c.DEFAULTS) | per_digit | {c.RECIPIENT_ID}


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"attempt_id": "not-a-uuid"}, "attempt id is not a UUID"),
        ({"campaign_id": "7,x=1"}, "campaign id must be an integer or a plain id"),
        ({"recipient_id": "1 2"}, "recipient id must be an integer or a plain id"),
        ({"recipient_id": True}, "recipient id must be an integer or a plain id"),
    ],
)
def test_ids_are_checked(kw: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        variables(minimal(), **kw)


def test_header_values() -> None:
    assert header_value("gold") == "gold"
    assert header_value(12) == "12"
    assert header_value("b64:Zm9v").startswith("b64:")  # never ambiguous
    assert decode_header_value(header_value("b64:Zm9v")) == "b64:Zm9v"
    long = "é" * 200  # 400 bytes: cut to whole characters within the limit
    assert decode_header_value(header_value(long)) == "é" * (MAX_FIELD_BYTES // 2)


# -- hostile input cannot change the flow -----------------------------------------------------

AGENT_FIELDS = ["plan", "name", "note"]
any_text = st.text(st.characters(exclude_categories=()), max_size=40)
tricky = st.text(alphabet=" ,'\"\\{}=%$:_^\n\r\t|&ab", max_size=20)
value = st.one_of(any_text, tricky, st.text(max_size=300), st.integers(), st.none())
printable = st.text(min_size=1, max_size=60).filter(
    lambda s: bool(s.strip()) and all(ch.isprintable() for ch in s)
)


def _config(name: str, queue_name: str) -> CampaignConfig:
    data = yaml.safe_load(FULL)
    data["name"] = name
    data["queues"]["sales"]["name"] = queue_name
    data["agents"]["bot"]["fields"] = AGENT_FIELDS
    data["handoff"] = {"ai_agent": "bot"}
    return parse_config(data)


@settings(max_examples=300, deadline=2000)
@given(
    fields=st.dictionaries(st.one_of(st.sampled_from(AGENT_FIELDS), any_text), value, max_size=6),
    name=printable,
    queue_name=printable,
    caller_id_name=any_text,
)
def test_no_field_or_name_changes_the_variables_or_the_dial_string(
    fields: dict[str, Any], name: str, queue_name: str, caller_id_name: str
) -> None:
    config = _config(name, queue_name)
    benign = flow_variables(
        _config("X", "Q"),
        campaign_id=7,
        attempt_id=ATTEMPT,
        recipient_id=42,
        fields=dict.fromkeys(AGENT_FIELDS, "x"),
    )
    got = flow_variables(config, campaign_id=7, attempt_id=ATTEMPT, recipient_id=42, fields=fields)
    headers = "dialer_ivr_headers_2"
    assert set(got) == set(benign)
    assert {k: v for k, v in got.items() if k != headers} == {
        k: v for k, v in benign.items() if k != headers
    }

    # through the originate builder and back as FreeSWITCH reads it: nothing added, nothing
    # re-encoded (the switch holds exactly what the flow expands)
    request = build_originate(
        attempt_id=ATTEMPT,
        number="15551234567",
        template=DialTemplate("sofia/gateway/{gateway}/{number}", {"gateway": "carrier1"}),
        caller_id_number="15550001",
        caller_id_name=caller_id_name,
        application=c.APPLICATION,
        variables={c.ATTEMPT_ID: ATTEMPT, c.CAMPAIGN_ID: "7", **got},
    )
    parsed, dial, rest = fsmodel.parse_command(request.command())
    assert dial == "sofia/gateway/carrier1/15551234567"
    assert rest == ["dialer_flow", "XML", "default"]
    assert [n for n, _ in parsed] == list(request.all_variables())
    stored = dict(parsed)
    for key, expected in got.items():
        assert stored[key] == expected

    # the flow expands the header list into the agent bridge's {…}: one item per header,
    # each value back to the field as given (cut to the limit)
    leg = fsmodel.split_leg(
        "{absolute_codec_string=PCMU," + stored[headers] + "}" + stored["dialer_ivr_target_2"]
    )
    assert leg is not None
    bridge_vars, bridge_dial = leg
    assert bridge_dial == "sofia/external/sip:bot-7@ai.example.com"
    sent = {f: fields[f] for f in AGENT_FIELDS if fields.get(f) not in (None, "")}
    assert [n for n, _ in bridge_vars] == [
        "absolute_codec_string",
        "sip_h_X-Dialer-Attempt",
        "sip_h_X-Dialer-Campaign",
        "sip_h_X-Dialer-Recipient",
        *(f"sip_h_X-Dialer-Field-{f}" for f in sent),
    ]
    decoded = dict(bridge_vars)
    for field, original in sent.items():
        text = str(original)
        back = decode_header_value(decoded[f"sip_h_X-Dialer-Field-{field}"])
        assert text.startswith(back)
        if len(text.encode("utf-8", "surrogatepass")) <= MAX_FIELD_BYTES:
            assert back == text


@settings(max_examples=300, deadline=1000)
@given(st.one_of(any_text, tricky, st.from_regex(r"[a-z/._:${}%,' -]{1,30}", fullmatch=True)))
def test_a_sound_path_is_refused_or_carried_as_one_plain_word(path: str) -> None:
    try:
        parse_config(minimal(message=path))
    except ValueError:
        return
    assert stored_form(path) == path
    assert not set(path) & set(" \t\r\n,'\"\\{}$%!;()")
    assert ".." not in path.split("/")
