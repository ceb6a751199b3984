"""The frame parser on its own: framing rules, decoding, failure modes, and fuzzing."""

from __future__ import annotations

import contextlib
import itertools
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dialer.esl import (
    EventParseError,
    Frame,
    FrameParser,
    ProtocolError,
    TruncatedFrameError,
    parse_event,
)
from dialer.esl.events import parse_json
from dialer.esl.frames import parse_header_lines
from dialer.simulator.wire import event_json as json_frame
from dialer.simulator.wire import event_plain as plain_frame
from dialer.simulator.wire import url_encode as fs_url_encode
from tests.support import transcripts

FUZZ = settings(deadline=2000, max_examples=150, suppress_health_check=[HealthCheck.too_slow])


def test_body_is_read_by_length_even_when_it_looks_like_headers() -> None:
    body = b"Content-Type: text/event-plain\n\nEvent-Name: FAKE\n\n"
    frames = FrameParser().feed(
        b"Content-Type: api/response\nContent-Length: %d\n\n" % len(body) + body
    )
    assert len(frames) == 1
    assert frames[0].body == body


def test_frames_split_anywhere_and_glued_together() -> None:
    stream = plain_frame([("Event-Name", "HEARTBEAT")]) + b"Content-Type: auth/request\n\n"
    parser = FrameParser()
    frames = [f for byte in range(len(stream)) for f in parser.feed(stream[byte : byte + 1])]
    assert [f.content_type for f in frames] == ["text/event-plain", "auth/request"]
    assert FrameParser().feed(stream * 3)[5].content_type == "auth/request"


def test_encoded_newline_in_a_variable_cannot_inject_a_header() -> None:
    evil = "x\nEvent-Name: CHANNEL_HANGUP\nUnique-ID: someone-else"
    (frame,) = FrameParser().feed(
        plain_frame([("Event-Name", "CHANNEL_PARK"), ("Unique-ID", "u1"), ("variable_note", evil)])
    )
    event = parse_event(frame)
    assert event.name == "CHANNEL_PARK"
    assert event.unique_id == "u1"
    assert event.variables["note"] == evil
    assert len(event.headers) == 3


def test_event_body_with_its_own_content_length() -> None:
    (frame,) = FrameParser().feed(
        plain_frame([("Event-Name", "BACKGROUND_JOB"), ("Job-UUID", "j1")], "+OK abc\n")
    )
    event = parse_event(frame)
    assert event.body == "+OK abc\n"
    assert event["Content-Length"] == "8"


def test_json_event_values_and_body() -> None:
    (frame,) = FrameParser().feed(
        json_frame([("Event-Name", "BACKGROUND_JOB")], "-ERR NO_ANSWER\n")
    )
    event = parse_event(frame)
    assert event.body == "-ERR NO_ANSWER\n"
    assert event.name == "BACKGROUND_JOB"
    assert parse_json(b'{"Event-Name":"X","a":["1","2"],"n":null}')["a"] == "ARRAY::1|:2"


@pytest.mark.parametrize(
    "body",
    [b"[1,2]", b"{not json", b'"x"', b"{}"],
)
def test_bad_json_events_are_event_errors_not_stream_errors(body: bytes) -> None:
    with pytest.raises(EventParseError):
        parse_json(body)


def test_plain_event_with_short_inner_body_is_an_event_error() -> None:
    inner = b"Event-Name: X\nContent-Length: 99\n\nabc"
    outer = b"Content-Length: %d\nContent-Type: text/event-plain\n\n" % len(inner) + inner
    (frame,) = FrameParser().feed(outer)
    with pytest.raises(EventParseError):
        parse_event(frame)


def test_truncated_body_then_eof_is_reported_not_waited_for() -> None:
    parser = FrameParser()
    assert (
        parser.feed(b"Content-Length: 500\nContent-Type: text/event-plain\n\nEvent-Name: X\n") == []
    )
    assert parser.mid_frame
    with pytest.raises(TruncatedFrameError, match="body"):
        parser.close()


def test_truncated_headers_then_eof() -> None:
    parser = FrameParser()
    parser.feed(b"Content-Type: api/resp")
    with pytest.raises(TruncatedFrameError, match="header"):
        parser.close()


def test_clean_eof_between_frames() -> None:
    parser = FrameParser()
    parser.feed(b"Content-Type: auth/request\n\n\n")
    parser.close()


@pytest.mark.parametrize(
    "garbage",
    [
        b"hello world\n\n",
        b"Content-Length: lots\n\n",
        b"Content-Length: -1\n\n",
        b"Content-Length: 999999999999\n\n",
        b"X" * 70_000,
    ],
)
def test_garbage_is_a_protocol_error_and_the_parser_stays_failed(garbage: bytes) -> None:
    parser = FrameParser()
    with pytest.raises(ProtocolError):
        parser.feed(garbage)
    with pytest.raises(ProtocolError):
        parser.feed(b"Content-Type: auth/request\n\n")


def test_fs_url_encode_models_the_quirk_from_08c() -> None:
    # The simulator's encoder must reproduce the captured bytes.
    assert fs_url_encode("50%41off") == "50%41off"
    assert fs_url_encode("50%4aoff") == "50%254aoff"
    assert fs_url_encode("%(100)") == "%25(100)"
    assert fs_url_encode("café-日本") == "caf%C3%A9-%E6%97%A5%E6%9C%AC"


# -- fuzzing -----------------------------------------------------------------------------

_STREAM = transcripts.load("08a_api_bgapi_commands.txt").stream(1)
_REFERENCE = FrameParser().feed(_STREAM)


def _feed_all(parser: FrameParser, pieces: list[bytes]) -> list[Frame]:
    out: list[Frame] = []
    for piece in pieces:
        out.extend(parser.feed(piece))
    return out


@FUZZ
@given(st.lists(st.integers(min_value=0, max_value=len(_STREAM)), max_size=40))
def test_random_splits_of_a_real_stream_give_the_same_frames(cuts: list[int]) -> None:
    bounds = [0, *sorted(cuts), len(_STREAM)]
    pieces = [_STREAM[a:b] for a, b in itertools.pairwise(bounds)]
    frames = _feed_all(FrameParser(), pieces)
    assert [(f.headers.items_all, f.body) for f in frames] == [
        (f.headers.items_all, f.body) for f in _REFERENCE
    ]


@FUZZ
@given(st.lists(st.binary(max_size=300), max_size=20))
def test_random_bytes_never_crash_or_hang(pieces: list[bytes]) -> None:
    parser = FrameParser()
    try:
        for frame in _feed_all(parser, pieces):
            with contextlib.suppress(EventParseError):
                parse_event(frame)
        parser.close()
    except ProtocolError:
        pass


_FRAMES = [c.data for c in transcripts.load("02_press1_queue_agent_plain.txt").received(1)[:60]]


@FUZZ
@given(
    st.sampled_from(_FRAMES),
    st.lists(
        st.tuples(st.integers(min_value=0), st.binary(max_size=4), st.integers(0, 4)), max_size=5
    ),
)
def test_mutated_real_frames_fail_cleanly(
    frame: bytes, edits: list[tuple[int, bytes, int]]
) -> None:
    data = bytearray(frame)
    for at, insert, delete in edits:
        pos = at % (len(data) + 1)
        data[pos : pos + delete] = insert
    parser = FrameParser()
    try:
        for f in parser.feed(bytes(data)):
            if f.content_type.startswith("text/event-"):
                with contextlib.suppress(EventParseError):
                    parse_event(f)
        parser.close()
    except ProtocolError:
        pass


def test_a_colon_inside_a_header_name_stays_in_the_name() -> None:
    """``export nolocal:sip_h_X-Foo=yes`` gives a variable whose name holds a colon (17)."""
    headers = parse_header_lines(
        b"variable_nolocal:sip_h_X-Dialer-Exported: yes\nReply-Text: +OK Job-UUID: j1\nA:b\n"
    )
    assert headers == [
        ("variable_nolocal:sip_h_X-Dialer-Exported", "yes"),
        ("Reply-Text", "+OK Job-UUID: j1"),
        ("A", "b"),
    ]


def test_a_json_event_keeps_its_text_only_when_the_text_is_exactly_the_event() -> None:
    exact = b'{"Event-Name":"X","Core-UUID":"c","_body":"+OK\\n"}'
    event = parse_json(exact)
    assert event.json_text == exact.decode()
    assert json.loads(event.json_text) == {**dict(event.headers.items()), "_body": event.body}
    assert parse_json(b'{"Event-Name":"X","a":"1"}').json_text is not None
    # what the Event holds differs from the text: it is encoded again when stored
    for inexact in (
        b'{"Event-Name":"X","a":["1","2"]}',  # an array header becomes ARRAY::1|:2
        b'{"Event-Name":"X","n":null}',
        b'{"Event-Name":"X","a":"1","a":"2"}',  # a name twice: the first value counts
        b'{"Event-Name":"X","_body":""}',  # an empty body is no body
        b'{"Event-Name":"X","_body":"a","_body":"b"}',
    ):
        assert parse_json(inexact).json_text is None, inexact
