"""The events of real calls, from the captures in ``tests/data/freeswitch``: per call, the
A leg's events the consumer subscribes to and the originate's BACKGROUND_JOB, in the order
FreeSWITCH sent them."""

from __future__ import annotations

import re
from functools import cache

from dialer.esl.events import Event, parse_event
from dialer.esl.frames import FrameParser
from tests.support import transcripts

SUBSCRIBED = frozenset(
    {
        "CHANNEL_PROGRESS",
        "CHANNEL_PROGRESS_MEDIA",
        "CHANNEL_ANSWER",
        "CHANNEL_HANGUP_COMPLETE",
        "BACKGROUND_JOB",
    }
)
_ORIGINATION_UUID = re.compile(r"origination_uuid=([0-9a-f-]{36})")


def events_of(name: str) -> list[Event]:
    """Every event of the capture, each once: the first connection that received it."""
    capture = transcripts.load(name)
    seen: set[tuple[str | None, int | None]] = set()
    out: list[tuple[int, Event]] = []
    for conn in capture.connections:
        parser = FrameParser()
        for frame in parser.feed(capture.stream(conn)):
            if frame.content_type not in ("text/event-plain", "text/event-json"):
                continue
            event = parse_event(frame)
            key = (event.core_uuid, event.sequence)
            if key in seen:
                continue
            seen.add(key)
            out.append((event.sequence or 0, event))
    out.sort(key=lambda item: item[0])
    return [event for _, event in out]


@cache
def calls(name: str) -> dict[str, tuple[dict[str, str], ...]]:
    """A-leg uuid → the call's subscribed events as JSON-style mappings (body under
    ``_body``), in Event-Sequence order. A legs are the channels whose ``Unique-ID`` is their
    ``origination_uuid``; a job belongs to the call its ``Job-Command-Arg`` originates."""
    found: dict[str, list[dict[str, str]]] = {}
    for event in events_of(name):
        if event.name not in SUBSCRIBED:
            continue
        if event.name == "BACKGROUND_JOB":
            if event.get("Job-Command") != "originate":
                continue
            match = _ORIGINATION_UUID.search(event.get("Job-Command-Arg") or "")
            if match is None:
                continue
            leg = match.group(1)
        else:
            leg = event.unique_id or ""
            if leg != event.variable("origination_uuid"):
                continue
        mapping = dict(event.headers.items())
        mapping["_body"] = event.body
        found.setdefault(leg, []).append(mapping)
    return {leg: tuple(events) for leg, events in found.items()}
