"""Small readers over the captures and simulator frames the capture tests share."""

from __future__ import annotations

import gevent
import pytest

from tests.simulator.client import RawClient, event_name, inner
from tests.support.transcripts import Transcript

NOT_A_FRAME = 0.3  # how long "nothing arrives" is watched


def headers(frame: bytes) -> dict[str, str]:
    return dict(inner(frame)[0])


def is_event(frame: bytes) -> bool:
    return frame.startswith(b"Content-Length") and b"Content-Type: text/event-plain" in frame


def a_leg(frame: bytes) -> bool:
    """An A-leg channel event or an event without a channel (BACKGROUND_JOB)."""
    name = headers(frame).get("Channel-Name")
    return name is None or name.endswith("-a")


def label(frame: bytes) -> str:
    """Event-Name, the CUSTOM subclass (``+full`` for a copy with channel headers)."""
    h = headers(frame)
    name = h.get("Event-Name", "")
    if name == "CUSTOM":
        sub = (h.get("Event-Subclass") or "").replace("%3A", ":")
        return sub + ("+full" if "Channel-Name" in h else "")
    return name


def captured_events(t: Transcript, conn: int, skip: frozenset[str] = frozenset()) -> list[bytes]:
    """A-leg event frames of ``conn`` in order, without the noise the simulator never raises."""
    noise = {"HEARTBEAT", "RE_SCHEDULE", "API", "CODEC", *skip}
    return [
        c.data
        for c in t.received(conn)
        if is_event(c.data) and a_leg(c.data) and event_name(c.data) not in noise
    ]


def nothing_more(client: RawClient) -> None:
    with pytest.raises(gevent.Timeout):
        client.frame(timeout=NOT_A_FRAME)
