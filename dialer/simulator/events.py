"""Events as FreeSWITCH builds them: an ordered header list (duplicates allowed) and a body.

``EventFactory`` stamps the common prefix every captured event starts with (Core-UUID,
hostname, dates, calling file/function/line, a global monotonic Event-Sequence).
"""

from __future__ import annotations

import itertools
import threading
import uuid
from dataclasses import dataclass, field

from dialer.simulator import wire
from dialer.simulator.clock import SimClock, date_gmt, date_local

HOSTNAME = "sim"
IPV4 = "127.0.0.1"
IPV6 = "::1"


@dataclass
class Event:
    headers: list[tuple[str, str]]
    body: str | None = None
    _plain: bytes | None = field(default=None, repr=False)
    _json: bytes | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.get("Event-Name") or ""

    @property
    def subclass(self) -> str | None:
        return self.get("Event-Subclass")

    def get(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None

    def get_ci(self, name: str) -> str | None:
        """``switch_event_get_header``: header names are case-insensitive."""
        lowered = name.lower()
        for key, value in self.headers:
            if key.lower() == lowered:
                return value
        return None

    def plain(self) -> bytes:
        # Encoded once, shared by every listener.
        if self._plain is None:
            self._plain = wire.event_plain(self.headers, self.body)
        return self._plain

    def json(self) -> bytes:
        if self._json is None:
            self._json = wire.event_json(self.headers, self.body)
        return self._json


class EventFactory:
    def __init__(self, clock: SimClock, core_uuid: str | None = None) -> None:
        self.clock = clock
        self.core_uuid = core_uuid or str(uuid.uuid4())
        self._seq = itertools.count(1000)
        self._lock = threading.Lock()

    def prefix(
        self,
        name: str,
        where: tuple[str, str, int],
        subclass: str | None = None,
        us: int | None = None,
    ) -> list[tuple[str, str]]:
        """The header block every event starts with, in FreeSWITCH's order.

        Channel CUSTOM events raised by the ``event`` application carry ``Event-Subclass``
        first and ``Event-Name`` after ``Event-Sequence`` (fixture 11); module CUSTOM events
        (callcenter) carry ``Event-Subclass`` then ``Event-Name`` first (fixture 02).
        """
        if us is None:
            us = self.clock.now_us()
        with self._lock:
            seq = next(self._seq)
        common = [
            ("Core-UUID", self.core_uuid),
            ("FreeSWITCH-Hostname", HOSTNAME),
            ("FreeSWITCH-Switchname", HOSTNAME),
            ("FreeSWITCH-IPv4", IPV4),
            ("FreeSWITCH-IPv6", IPV6),
            ("Event-Date-Local", date_local(us)),
            ("Event-Date-GMT", date_gmt(us)),
            ("Event-Date-Timestamp", str(us)),
            ("Event-Calling-File", where[0]),
            ("Event-Calling-Function", where[1]),
            ("Event-Calling-Line-Number", str(where[2])),
            ("Event-Sequence", str(seq)),
        ]
        if subclass is None:
            return [("Event-Name", name), *common]
        if where[1] == "event_function":
            return [("Event-Subclass", subclass), *common, ("Event-Name", name)]
        return [("Event-Subclass", subclass), ("Event-Name", name), *common]

    def background_job(self, job_uuid: str, command: str, arg: str, result: str) -> Event:
        headers = self.prefix("BACKGROUND_JOB", ("mod_event_socket.c", "api_exec", 1572))
        headers += [("Job-UUID", job_uuid), ("Job-Command", command)]
        if arg:
            headers.append(("Job-Command-Arg", arg))
        return Event(headers, result)

    def heartbeat(self, info: list[tuple[str, str]]) -> Event:
        return Event(self.prefix("HEARTBEAT", ("switch_core.c", "send_heartbeat", 95)) + info)
