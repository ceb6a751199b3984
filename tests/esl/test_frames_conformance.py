"""Every frame FreeSWITCH 1.10.12 sent in the captures parses, exactly.

The fixtures are the reference: each RECV record is one complete frame (the transcript
format gives its length), so the parser must find exactly one frame per record, with the
record's bytes as its body, and its headers decoded value by value. Every expectation here
is derived from the records themselves with a few lines of independent splitting
(``_record``), never from the parser under test.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import cache
from urllib.parse import unquote

import pytest

from dialer.esl import Event, Frame, FrameParser, parse_event
from tests.support import transcripts

NAMES = transcripts.all_names()


@cache
def frames_of(name: str, conn: int) -> list[Frame]:
    parser = FrameParser()
    frames = parser.feed(transcripts.load(name).stream(conn))
    parser.close()  # every capture ends on a frame boundary
    return frames


@cache
def events_of(name: str) -> list[Event]:
    t = transcripts.load(name)
    return [
        parse_event(frame)
        for conn in t.connections
        for frame in frames_of(name, conn)
        if frame.content_type.startswith("text/event-")
    ]


def _independent_headers(block: bytes) -> list[tuple[str, str]]:
    pairs = []
    for line in block.decode("utf-8").split("\n"):
        if line:
            name, _, value = line.partition(": ")
            pairs.append((name, unquote(value)))
    return pairs


def _record(data: bytes) -> tuple[dict[str, str], bytes]:
    """One RECV record split by hand: its outer headers (undecoded) and what follows them."""
    head, _, body = data.partition(b"\n\n")
    headers = dict(line.split(": ", 1) for line in head.decode("utf-8").split("\n"))
    return headers, body


@pytest.mark.parametrize("name", NAMES)
def test_every_received_record_is_exactly_one_frame(name: str) -> None:
    t = transcripts.load(name)
    for conn in t.connections:
        records = t.received(conn)
        frames = frames_of(name, conn)
        assert len(frames) == len(records)
        for record, frame in zip(records, frames, strict=True):
            head, _, body = record.data.partition(b"\n\n")
            outer, _ = _record(record.data)
            assert frame.body == body
            assert frame.content_type == outer["Content-Type"]
            assert list(frame.headers.items_all) == _independent_headers(head)
            if "Content-Length" in outer:
                assert len(body) == int(outer["Content-Length"])
            else:
                assert body == b""


@pytest.mark.parametrize("name", NAMES)
def test_every_event_parses_with_headers_decoded_per_value(name: str) -> None:
    t = transcripts.load(name)
    for conn in t.connections:
        for record, frame in zip(t.received(conn), frames_of(name, conn), strict=True):
            if _record(record.data)[0]["Content-Type"] != "text/event-plain":
                continue
            event = parse_event(frame)
            _, inner = _record(record.data)
            head, _, rest = inner.partition(b"\n\n")
            expected = _independent_headers(head)
            fields = dict(expected)
            assert list(event.headers.items_all) == expected
            assert event.name == fields["Event-Name"]
            assert event.sequence == int(fields["Event-Sequence"])
            assert event.core_uuid == fields["Core-UUID"]
            if "Content-Length" in fields:
                assert event.body.encode() == rest
                assert len(rest) == int(fields["Content-Length"])
            else:
                assert event.body == ""
                assert rest == b""


def test_every_capture_has_events_from_one_switch_run_per_core_uuid() -> None:
    """Core-UUID is constant within one run of the switch; only the restart capture (14)
    shows two, and Event-Sequence restarts lower after it (DESIGN §4 keys events on both)."""
    for name in NAMES:
        runs: dict[str, list[int]] = {}
        for event in events_of(name):
            if event.core_uuid is not None and event.sequence is not None:
                runs.setdefault(event.core_uuid, []).append(event.sequence)
        assert len(runs) == (2 if name.startswith("14_") else 1) or not runs, name
    before, after = runs_of("14_restart_core_uuid_event_sequence.txt")
    assert min(after) < max(before)


def runs_of(name: str) -> list[list[int]]:
    runs: dict[str, list[int]] = {}
    for event in events_of(name):
        if event.core_uuid is not None and event.sequence is not None:
            runs.setdefault(event.core_uuid, []).append(event.sequence)
    return list(runs.values())


def test_frame_types_seen_in_the_captures() -> None:
    seen: Counter[str] = Counter()
    expected: Counter[str] = Counter()
    for name in NAMES:
        t = transcripts.load(name)
        for conn in t.connections:
            seen.update(f.content_type for f in frames_of(name, conn))
            expected.update(_record(r.data)[0]["Content-Type"] for r in t.received(conn))
    assert seen == expected
    assert set(seen) == {
        "auth/request",
        "command/reply",
        "api/response",
        "text/event-plain",
        "text/event-json",
        "text/disconnect-notice",
        "log/data",
    }


_ORIGINATE_BODY = re.compile(r"(\+OK [0-9a-f-]{36}|-ERR [A-Z_]+)\n")


@pytest.mark.parametrize("name", NAMES)
def test_background_job_bodies_are_whole_and_separate(name: str) -> None:
    for event in events_of(name):
        if event.name != "BACKGROUND_JOB":
            continue
        # greenswitch glued the body into the inner Content-Length header (defect (b)).
        assert event["Content-Length"].isdigit()
        assert len(event.body.encode()) == int(event["Content-Length"])
        if event["Job-Command"] == "originate":
            assert _ORIGINATE_BODY.fullmatch(event.body), event.body


def test_background_job_results_of_the_load_run() -> None:
    bodies = Counter(
        e.body.split(" ")[0] if e.body.startswith("+OK") else e.body
        for e in events_of("09a_load_50_bgapi_default_sps30.txt")
        if e.name == "BACKGROUND_JOB"
    )
    assert bodies == {"+OK": 14, "-ERR DESTINATION_OUT_OF_ORDER\n": 35, "-ERR NO_ANSWER\n": 1}


def test_no_answer_job_body() -> None:
    jobs = [e for e in events_of("03_no_answer.txt") if e.name == "BACKGROUND_JOB"]
    assert [j.body for j in jobs] == ["-ERR NO_ANSWER\n"]


def test_background_job_json_body_is_the_underscore_body_key() -> None:
    jobs = [e for e in events_of("02_press1_queue_agent_json.txt") if e.name == "BACKGROUND_JOB"]
    assert jobs
    for job in jobs:
        assert _ORIGINATE_BODY.fullmatch(job.body)
        assert "_body" not in job.headers
        assert job.job_uuid == "097273d6-b921-4492-a6d3-ce9929253619"


def _parks(conn: int) -> dict[int | None, Event]:
    """CHANNEL_PARK events (both legs) carrying the tricky variables, by Event-Sequence."""
    name = "08c_url_encoding_plain_vs_json.txt"
    events = [
        parse_event(f) for f in frames_of(name, conn) if f.content_type.startswith("text/event-")
    ]
    return {
        e.sequence: e
        for e in events
        if e.name == "CHANNEL_PARK" and e.get("variable_x_specials") is not None
    }


def test_08c_plain_values_decode_like_freeswitch_consumers() -> None:
    parks = _parks(1)
    assert len(parks) == 2
    for event in parks.values():
        plain = event.variables
        assert plain["x_literal_pct"] == "50Aoff"  # the lossy %XX pass-through quirk
        assert plain["x_lower_pct"] == "50%4aoff"
        assert plain["x_pct_paren"] == "%(100)"
        assert plain["x_specials"] == 'a+b&c=d?e#f:g;h@i<j>k[l]m^n`o|p\\q"r'
        assert plain["x_utf8"] == "café-日本"
        assert plain["x_space"] == "hello world"


def test_08c_json_keeps_every_value_and_matches_plain_elsewhere() -> None:
    plain_parks, json_parks = _parks(1), _parks(2)
    assert set(plain_parks) == set(json_parks)
    for seq, plain in plain_parks.items():
        json_ = json_parks[seq]
        assert json_.variables["x_literal_pct"] == "50%41off"
        assert json_.variables["x_utf8"] == "café-日本"
        keys = set(plain.headers) | set(json_.headers)
        differing = {k for k in keys if plain.get(k) != json_.get(k)}
        assert differing == {"variable_x_literal_pct"}


def test_disconnect_notices_including_an_empty_linger_notice() -> None:
    notices = []
    records = 0
    for name in NAMES:
        t = transcripts.load(name)
        for conn in t.connections:
            records += sum(
                _record(r.data)[0]["Content-Type"] == "text/disconnect-notice"
                for r in t.received(conn)
            )
            notices += [
                f for f in frames_of(name, conn) if f.content_type == "text/disconnect-notice"
            ]
    assert len(notices) == records > 0
    linger = [f for f in notices if f.headers.get("Content-Disposition") == "linger"]
    assert len(linger) == 1
    assert linger[0].body == b""
    assert linger[0].headers["Content-Length"] == "0"
    assert linger[0].headers["Linger-Time"] == "3"
    goodbye = [f for f in notices if f.body.startswith(b"Disconnected, goodbye.\n")]
    shutdown = [f for f in notices if f.body.startswith(b"The system is being shut down.")]
    assert shutdown  # capture 14: fsctl shutdown restart
    assert len(goodbye) + len(shutdown) == len([f for f in notices if f.body])


def test_avmd_events_arrive_twice_with_the_same_sequence() -> None:
    beeps = [e for e in events_of("07_avmd_beep.txt") if e.key == "avmd::beep"]
    assert len(beeps) == 2
    assert beeps[0].sequence == beeps[1].sequence
    assert beeps[0]["Beep-Status"] == "DETECTED"
    # the fuller copy repeats Unique-ID; lookups give the first, items_all keeps both
    full = max(beeps, key=lambda e: len(e.headers))
    assert [v for k, v in full.headers.items_all if k == "Unique-ID"] == [full.unique_id] * 2


def test_typed_helpers_on_a_real_event() -> None:
    (answer,) = [
        e
        for e in events_of("02_press1_queue_agent_plain.txt")
        if e.name == "CHANNEL_EXECUTE_COMPLETE" and e.variable("ivr_digit") == "1"
    ][:1]
    assert answer.variables["read_result"] == "success"
    assert answer.timestamp is not None
    assert answer.timestamp.year == 2026
    assert answer.timestamp_us is not None
    cc = [e for e in events_of("02_press1_queue_agent_plain.txt") if e.key == "callcenter::info"]
    assert cc
    assert cc[0].subclass == "callcenter::info"
    assert cc[0].name == "CUSTOM"


def test_api_and_command_replies() -> None:
    frames = frames_of("01_handshake.txt", 3)
    texts = [
        f.headers.get("Reply-Text") or f.body.decode()
        for f in frames
        if f.content_type != "auth/request"
    ]
    assert texts == [
        "-ERR command not found",
        "+OK accepted",
        "-ERR command not found",
        "-ERR no_such_api_command Command not found!\n",
    ]
