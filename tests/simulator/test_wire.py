"""The server-side encoder against the captured bytes."""

from __future__ import annotations

import json
import re
from urllib.parse import unquote

import pytest

from dialer.simulator import wire
from tests.support.transcripts import all_names, load, split_headers


def _plain_events() -> list[bytes]:
    frames = []
    for name in all_names():
        for chunk in load(name).received():
            if b"\nContent-Type: text/event-plain\n\n" in chunk.data[:60]:
                frames.append(chunk.data)
    return frames


def test_url_encoding_is_byte_exact_against_08c() -> None:
    t = load("08c_url_encoding_plain_vs_json.txt")
    sent = t.sent(1)[3].data.decode("utf-8")
    block = sent[sent.index("{") + 1 : sent.index("}")]
    values = dict(item.split("=", 1) for item in block.split(",x_")[1:] for _ in [0])
    assert values  # x_literal_pct, x_lower_pct, x_pct_paren, x_specials, x_utf8, x_space
    captured = {}
    for chunk in t.received(1):
        for line in chunk.data.decode("utf-8").split("\n"):
            if line.startswith("variable_x_"):
                name, _, value = line.partition(": ")
                captured[name.removeprefix("variable_x_")] = value
    values["space"] = "hello world"  # sent quoted: 'hello world'
    assert set(values) == set(captured)
    for key, raw in values.items():
        assert wire.url_encode(raw) == captured[key], key
    # the quirk, spelled out
    assert wire.url_encode("50%41off") == "50%41off"
    assert wire.url_encode("50%4aoff") == "50%254aoff"
    assert wire.url_encode("%(100)") == "%25(100)"


def test_plain_events_reencode_byte_exact() -> None:
    """Decode every captured plain event and encode it again: same bytes, except where the
    %XX pass-through quirk made the capture itself lossy."""
    frames = _plain_events()
    assert len(frames) > 2000
    exact = lossy = 0
    for frame in frames:
        _, payload = frame.split(b"\n\n", 1)
        head, _, body = payload.partition(b"\n\n")
        lines = head.decode("utf-8").split("\n")
        inner_body = None
        if lines[-1].startswith("Content-Length: "):
            lines.pop()
            inner_body = body.decode("utf-8")
        headers = [(n, unquote(v)) for n, _, v in (ln.partition(": ") for ln in lines)]
        if wire.event_plain(headers, inner_body) == frame:
            exact += 1
        else:
            lossy += 1
            assert re.search(rb"%[0-9A-F]{2}", frame), frame[:300]
    assert lossy <= exact // 100, (exact, lossy)


@pytest.mark.parametrize(
    "name", ["02_press1_queue_agent_json.txt", "08c_url_encoding_plain_vs_json.txt"]
)
def test_json_events_reencode_byte_exact(name: str) -> None:
    count = 0
    for chunk in load(name).received():
        if b"text/event-json" not in chunk.data[:80]:
            continue
        _, payload = chunk.data.split(b"\n\n", 1)
        pairs = json.loads(payload, object_pairs_hook=list)
        body = None
        if pairs[-1][0] == "_body":
            body = pairs.pop()[1]
            pairs.pop()  # its Content-Length
        if any(isinstance(v, list) for _, v in pairs):
            continue  # ARRAY:: variables become JSON arrays; the simulator sets none
        assert wire.event_json(pairs, body) == chunk.data
        count += 1
    assert count > 0


def test_reply_frames_match_captures() -> None:
    t = load("01_handshake.txt")
    frames = [c.data for c in t.received()]
    assert wire.auth_request() in frames
    assert wire.command_reply("+OK accepted") in frames
    assert wire.command_reply("-ERR invalid") in frames
    assert wire.disconnect_notice() in frames
    assert wire.api_response("-ERR no_such_api_command Command not found!\n") in frames
    headers, _ = split_headers(wire.rude_rejection())
    assert headers[0] == ("Content-Type", "text/rude-rejection")
    linger = next(
        c.data
        for c in load("08b_filters_myevents_sendmsg.txt").received(3)
        if b"Content-Disposition: linger" in c.data
    )
    assert (
        wire.disconnect_notice(
            [
                ("Controlled-Session-UUID", "a7bc4b3d-066b-4765-914d-f8c9fda5d1d1"),
                ("Content-Disposition", "linger"),
                ("Channel-Name", "loopback/hangup_during_prompt-a"),
                ("Linger-Time", "3"),
            ],
            body=b"",
        )
        == linger
    )
