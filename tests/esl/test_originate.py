"""The originate builder: escaping proved against the simulator's model of FreeSWITCH's
parser (``dialer.simulator.originate``), and that model itself checked against what the real
switch did (fixtures README table, 08c)."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.esl import DialTemplate, Originate, build_originate, decode_variable, encode_variable
from dialer.esl.events import parse_event
from dialer.esl.frames import FrameParser, decode_value
from dialer.esl.originate import sanitize_caller_id_name, stored_form
from dialer.simulator import originate as fsmodel
from dialer.simulator.wire import url_encode as fs_url_encode
from tests.support import transcripts

U = "8c523b0d-11a5-4634-811c-a9a0df4fc9a6"
DIAL = "loopback/silent_human/default"


def _measure(form: str) -> tuple[dict[str, str], str]:
    command = (
        f"originate {{origination_uuid={U},originate_timeout=10,t1={form},t2=after}}{DIAL} &hangup"
    )
    variables, dial, _ = fsmodel.parse_command(command)
    return dict(variables), dial


@pytest.mark.parametrize(
    ("form", "arrived"),
    [
        ("a\\,b", "a,b"),
        ("'a b'", "a b"),
        ("'a\\,b c'", "a,b c"),
        ("'a b,c=d'", "a b"),
        ("x=y", "x=y"),
        ("'it''s'", "its"),
        ("a%20b", "a%20b"),
        ("'semi;colon'", "semi;colon"),
        ("^^:a:b,c", "^^:a:b"),
    ],
)
def test_model_reproduces_the_measured_escaping_table(form: str, arrived: str) -> None:
    variables, dial = _measure(form)
    assert variables["t1"] == arrived
    assert variables["t2"] == "after"
    assert dial == DIAL


def test_model_unescaped_comma_adds_a_variable() -> None:
    variables, _ = _measure("'a b,c=d'")
    assert "c" in variables


@pytest.mark.parametrize(
    ("form", "cause"),
    [
        ("'a}b'", "CHAN_NOT_IMPLEMENTED"),
        ("a}b", "CHAN_NOT_IMPLEMENTED"),
        ("hello world", "DESTINATION_OUT_OF_ORDER"),
    ],
)
def test_model_brace_or_bare_space_breaks_the_originate(form: str, cause: str) -> None:
    _, dial = _measure(form)
    assert dial != DIAL
    args = f"{{origination_uuid={U},t1={form},t2=after}}{DIAL} &hangup"
    with pytest.raises(fsmodel.OriginateError) as refused:
        fsmodel.parse(args)
    assert refused.value.cause == cause  # README table / 08c


def test_model_matches_what_08c_stored() -> None:
    """The real 08c originate, parsed by the model, gives exactly the variables FreeSWITCH
    reported in the JSON CHANNEL_PARK event (JSON: no decoding loss)."""
    t = transcripts.load("08c_url_encoding_plain_vs_json.txt")
    (sent,) = [c.data for c in t.sent(1) if b"x_specials" in c.data]
    variables, dial, rest = fsmodel.parse_command(sent.decode().strip()[len("api ") :])
    assert dial == DIAL
    assert rest == ["&park"]
    frames = FrameParser().feed(t.stream(2))
    park = next(
        e
        for f in frames
        if f.content_type == "text/event-json"
        and (e := parse_event(f)).name == "CHANNEL_PARK"
        and e.variable("x_specials")
    )
    assert dict(variables) == {k: park.variables[k] for k, _ in variables}
    assert len(variables) == 13


def test_builder_reproduces_the_captured_originate_byte_for_byte() -> None:
    sent = next(
        c.data
        for c in transcripts.load("02_press1_queue_agent_plain.txt").sent()
        if c.data.startswith(b"bgapi originate")
    )
    line = sent.decode().split("\n")[0]
    attempt = line.split("origination_uuid=")[1].split(",")[0]
    request = build_originate(
        attempt_id=attempt,
        number="press1_human",
        template=DialTemplate("loopback/{number}/{context}", {"context": "default"}),
        caller_id_number="15550001",
        caller_id_name="Dialer",
        timeout_seconds=20,
        variables={"campaign_id": "c1", "recipient_id": "r1"},
    )
    assert f"bgapi {request.command()}" == line


names = st.from_regex(r"[A-Za-z0-9_]{1,12}", fullmatch=True).filter(
    lambda n: (
        n not in {"origination_uuid", "originate_timeout", "ignore_early_media"}
        and not n.startswith("origination_caller_id")
    )
)
any_text = st.text(st.characters(exclude_categories=()), max_size=40)
tricky = st.text(alphabet=" ,'\"\\{}=%$:_^\n\r\t|&ab", max_size=20)


@settings(max_examples=300, deadline=1000)
@given(st.dictionaries(names, st.one_of(any_text, tricky), max_size=6))
def test_any_value_survives_and_none_can_add_a_variable_or_end_the_block(
    variables: dict[str, str],
) -> None:
    attempt = str(uuid.uuid4())
    request = Originate(
        attempt_id=attempt,
        dial_string="sofia/gateway/carrier1/15551234567",
        caller_id_number="15550001",
        caller_id_name="Sales",
        variables=variables,
        application="dialer_flow XML default",
    )
    parsed, dial, rest = fsmodel.parse_command(request.command())
    assert dial == "sofia/gateway/carrier1/15551234567"
    assert rest == ["dialer_flow", "XML", "default"]
    assert [name for name, _ in parsed] == list(request.all_variables())
    stored = dict(parsed)
    assert stored["origination_uuid"] == attempt
    for name, value in variables.items():
        assert decode_variable(stored[name]) == value
        assert stored[name] == stored_form(value)
        # and a plain-format event reader sees exactly what was stored (no %XX quirk)
        assert decode_value(fs_url_encode(stored[name]).encode()) == stored[name]


@given(any_text)
def test_encode_decode_round_trip(value: str) -> None:
    assert decode_variable(stored_form(value)) == value
    assert "\n" not in encode_variable(value)


def test_plain_values_travel_readable() -> None:
    assert encode_variable("c1") == "c1"
    assert encode_variable("Smith, John") == "'Smith\\, John'"
    assert encode_variable("a,b") == "a\\,b"
    assert encode_variable("café-日本") == "café-日本"
    assert encode_variable("O'Brien").startswith("b64:")
    assert encode_variable("").startswith("b64:")  # an empty value would set nothing
    assert encode_variable("b64:abc") != "b64:abc"  # never ambiguous
    assert decode_variable("b64:!!not base64") == "b64:!!not base64"


@pytest.mark.parametrize("name", ["", "a-b", "a b", "x}", "ü"])
def test_variable_names_are_validated(name: str) -> None:
    with pytest.raises(ValueError, match="name"):
        Originate(
            attempt_id=U, dial_string=DIAL, caller_id_number="1", variables={name: "v"}
        ).command()


def test_reserved_variables_cannot_be_overridden() -> None:
    with pytest.raises(ValueError, match="origination_uuid"):
        Originate(
            attempt_id=U,
            dial_string=DIAL,
            caller_id_number="1",
            variables={"origination_uuid": "x"},
        )


@pytest.mark.parametrize("number", ["123,456", "1 2", "x}y", "a/b", "1'2", ""])
def test_dial_parts_are_validated(number: str) -> None:
    with pytest.raises(ValueError, match="unsafe"):
        DialTemplate("sofia/gateway/{gateway}/{number}", {"gateway": "gw1"}).render(number)


def test_dial_templates() -> None:
    assert (
        DialTemplate("sofia/gateway/{gateway}/{number}", {"gateway": "gw1"}).render("+15551234567")
        == "sofia/gateway/gw1/+15551234567"
    )
    with pytest.raises(ValueError, match="needs"):
        DialTemplate("sofia/gateway/{gateway}/{number}").render("1")
    for bad in ["sofia/gw/1", "sofia/{number},user/2", "a b/{number}"]:
        with pytest.raises(ValueError, match="template"):
            DialTemplate(bad)


@pytest.mark.parametrize(
    "app", ["&park", "&park()", "&playback(/tmp/x.wav)", "dialer_flow XML default"]
)
def test_applications_accepted(app: str) -> None:
    Originate(attempt_id=U, dial_string=DIAL, caller_id_number="1", application=app)


@pytest.mark.parametrize(
    "app",
    [
        "",
        "&park x",
        "&play back",
        "a b c d",
        "&x('y')",
        "ext XML de,fault",
        "&playback(tone_stream://%(2000,0,440))",  # FreeSWITCH would cut it at the first ")"
        "&playback(a(b)",
    ],
)
def test_applications_refused(app: str) -> None:
    with pytest.raises(ValueError, match="application"):
        Originate(attempt_id=U, dial_string=DIAL, caller_id_number="1", application=app)


def test_other_fields_are_validated() -> None:
    with pytest.raises(ValueError, match="UUID"):
        Originate(attempt_id="not-a-uuid", dial_string=DIAL, caller_id_number="1")
    with pytest.raises(ValueError, match="caller id"):
        Originate(attempt_id=U, dial_string=DIAL, caller_id_number="1 2")
    with pytest.raises(ValueError, match="timeout"):
        Originate(attempt_id=U, dial_string=DIAL, caller_id_number="1", timeout_seconds=0)


def test_caller_id_name_is_made_displayable() -> None:
    assert sanitize_caller_id_name("  O'Brien,  Pat\n") == "O Brien, Pat"
    assert sanitize_caller_id_name("{}") == ""
    request = Originate(attempt_id=U, dial_string=DIAL, caller_id_number="1", caller_id_name="'")
    assert "origination_caller_id_name" not in request.all_variables()
