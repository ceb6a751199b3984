"""Fault injection for reliability tests of ESL clients.

Faults act on the live connections (``drop_connections``, ``send_garbage``,
``send_truncated_frame``), publish a crafted event (``inject_event``) or set a state every
connection consults (``stall``, ``delay_events``, ``refuse_originates``). ``clear()`` undoes
the states.
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
    ) -> None:
        self._connections = connections
        self._publish = publish
        self.stalled_until = 0.0
        self.event_delay = 0.0
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

    def send_garbage(self, data: bytes) -> None:
        """Write ``data`` as is to every connection (subscribed or not), outside any frame."""
        for conn in list(self._connections()):
            conn.fault_raw(data, close=False)

    def send_truncated_frame(self) -> None:
        """A frame whose body is shorter than its Content-Length, then close the socket."""
        for conn in list(self._connections()):
            conn.fault_raw(TRUNCATED_FRAME, close=True)

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

    def clear(self) -> None:
        self.stalled_until = 0.0
        self.event_delay = 0.0
        self.refuse_cause = None
