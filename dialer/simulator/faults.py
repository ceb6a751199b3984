"""Fault injection for reliability tests of ESL clients.

Faults act on the live connections (``drop_connections``, ``send_raw``, ``send_garbage``,
``send_truncated_frame``), publish a crafted event (``inject_event``), restart the node
(``restart``) or set a state every connection consults:

* ``stall(seconds)`` — read no command and write nothing for a while;
* ``delay_events(seconds)`` — every event published late (replies on time);
* ``delay_jobs(seconds)`` — only BACKGROUND_JOB of ``bgapi`` jobs published late;
* ``silence(*words)`` — commands whose first word is listed are read, never answered;
* ``coalesce_writes(seconds)`` — each connection's writer gathers what is queued for up to
  ``seconds`` and writes it with one ``sendall`` (a reply and the events after it reach the
  client in one read);
* ``refuse_originates(cause)`` — every originate fails ``-ERR <cause>``.

``clear()`` undoes every state (not a restart in progress, not closed sockets).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Protocol

from dialer.simulator.events import Event


class FaultTarget(Protocol):
    def fault_drop(self) -> None: ...
    def fault_raw(self, data: bytes, close: bool) -> None: ...


TRUNCATED_FRAME = (
    b"Content-Length: 500\nContent-Type: text/event-plain\n\n"
    b"Event-Name: HEARTBEAT\nCore-UUID: truncated\n"
)


class Faults:
    def __init__(
        self,
        connections: Callable[[], Iterable[FaultTarget]],
        publish: Callable[[Event], None] | None = None,
        restart: Callable[[float | None], None] | None = None,
    ) -> None:
        self._connections = connections
        self._publish = publish
        self._restart = restart
        self.stalled_until = 0.0
        self.event_delay = 0.0
        self.job_delay = 0.0
        self.silenced: frozenset[str] = frozenset()
        self.coalesce = 0.0
        self.refuse_cause: str | None = None

    def drop_connections(self) -> None:
        """Close every client socket at once, without a disconnect notice."""
        for conn in list(self._connections()):
            conn.fault_drop()

    def stall(self, seconds: float) -> None:
        """Stop reading commands and writing anything for ``seconds``; sockets stay open."""
        self.stalled_until = time.monotonic() + seconds

    def stall_remaining(self) -> float:
        return max(0.0, self.stalled_until - time.monotonic())

    def delay_events(self, seconds: float) -> None:
        """Deliver every event ``seconds`` late (replies are not delayed)."""
        self.event_delay = max(0.0, seconds)

    def delay_jobs(self, seconds: float) -> None:
        """Publish each ``bgapi`` job's BACKGROUND_JOB ``seconds`` (real) after the switch has
        the result; its ``+OK Job-UUID`` reply and every other event stay on time."""
        self.job_delay = max(0.0, seconds)

    def silence(self, *words: str) -> None:
        """Commands whose first word is one of ``words`` (any case, e.g. ``"api"``,
        ``"bgapi"``, ``"sendmsg"``) are read and dropped: no reply ever comes, as from a hung
        switch. Other commands are answered normally. ``silence()`` answers everything again."""
        self.silenced = frozenset(w.lower() for w in words)

    def is_silenced(self, word: str) -> bool:
        return word.lower() in self.silenced

    def coalesce_writes(self, seconds: float) -> None:
        """Each connection's writer waits up to ``seconds`` (real) after the first frame for
        more, then writes them all with one ``sendall``; 0 writes each frame at once."""
        self.coalesce = max(0.0, seconds)

    def send_raw(self, data: bytes, close: bool = False) -> None:
        """Write ``data`` as is to every connection, in order with what is already queued;
        ``close=True`` closes each socket right after it."""
        for conn in list(self._connections()):
            conn.fault_raw(data, close=close)

    def send_garbage(self, data: bytes) -> None:
        """Write ``data`` as is to every connection (subscribed or not), outside any frame."""
        self.send_raw(data)

    def send_truncated_frame(self) -> None:
        """A frame whose body is shorter than its Content-Length, then close the socket."""
        self.send_raw(TRUNCATED_FRAME, close=True)

    def inject_event(self, headers: list[tuple[str, str]], body: str | None = None) -> None:
        """Publish a crafted event to the subscribed connections like any switch event.

        ``headers`` are raw values: each is URL-encoded per header on the wire exactly as
        FreeSWITCH does, so e.g. a channel variable holding ``"x\\nUnique-ID: evil"`` goes out
        as ``x%0AUnique-ID%3A%20evil`` (greenswitch defect (a)). Subscriptions, filters,
        ``event plain|json`` and ``delay_events`` apply.
        """
        if self._publish is None:
            raise RuntimeError("these faults have no event bus")
        self._publish(Event(list(headers), body))

    def refuse_originates(self, cause: str | None = "DESTINATION_OUT_OF_ORDER") -> None:
        """Fail every new originate with ``-ERR <cause>``; ``None`` stops refusing."""
        self.refuse_cause = cause

    def restart(self, down_for: float | None = None) -> None:
        """Restart the node as ``fsctl shutdown restart`` does (``Simulator.restart``)."""
        if self._restart is None:
            raise RuntimeError("these faults cannot restart anything")
        self._restart(down_for)

    def clear(self) -> None:
        self.stalled_until = 0.0
        self.event_delay = 0.0
        self.job_delay = 0.0
        self.silenced = frozenset()
        self.coalesce = 0.0
        self.refuse_cause = None
