"""Fault injection for reliability tests of ESL clients.

Faults act on the live connections (``drop_connections``, ``send_garbage``,
``send_truncated_frame``) or set a state every connection consults (``stall``,
``delay_events``, ``refuse_originates``). ``clear()`` undoes the states.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Protocol


class FaultTarget(Protocol):
    def fault_drop(self) -> None: ...
    def fault_raw(self, data: bytes, close: bool) -> None: ...


TRUNCATED_FRAME = (
    b"Content-Length: 500\nContent-Type: text/event-plain\n\n"
    b"Event-Name: HEARTBEAT\nCore-UUID: truncated\n"
)


class Faults:
    def __init__(self, connections: Callable[[], Iterable[FaultTarget]]) -> None:
        self._connections = connections
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
        for conn in list(self._connections()):
            conn.fault_raw(data, close=False)

    def send_truncated_frame(self) -> None:
        """A frame whose body is shorter than its Content-Length, then close the socket."""
        for conn in list(self._connections()):
            conn.fault_raw(TRUNCATED_FRAME, close=True)

    def refuse_originates(self, cause: str | None = "DESTINATION_OUT_OF_ORDER") -> None:
        """Fail every new originate with ``-ERR <cause>``; ``None`` stops refusing."""
        self.refuse_cause = cause

    def clear(self) -> None:
        self.stalled_until = 0.0
        self.event_delay = 0.0
        self.refuse_cause = None
