"""The simulator's TCP server: puts a ``Switch`` on a port, beats HEARTBEATs, restarts."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import gevent
from gevent.server import StreamServer

from dialer.simulator.clock import SimClock
from dialer.simulator.connection import Connection
from dialer.simulator.faults import Faults
from dialer.simulator.ledger import Ledger
from dialer.simulator.limits import SessionLimits
from dialer.simulator.scenario import Scenario
from dialer.simulator.switch import MAX_QUEUE_LEN, Switch

log = logging.getLogger("dialer.simulator")

DEFAULT_ACL = ("127.0.0.0/8", "::1/128")
HEARTBEAT_SECONDS = 20.0
# capture 14: the disconnect notice ~1.3 s after `fsctl shutdown restart`, and the Event
# Socket answering again ~6.2 s after that (switch seconds, scaled like every timer)
SHUTDOWN_SECONDS = 1.3
RESTART_SECONDS = 6.2
SHUTDOWN_NOTICE = b"The system is being shut down.\n"


class Simulator:
    """A FreeSWITCH stand-in on a real TCP socket, embeddable in a gevent process.

    ``acl`` lists the networks allowed to connect (FreeSWITCH's ``apply-inbound-acl``; the
    default is loopback only); anyone else gets ``text/rude-rejection``.

    >>> with Simulator(port=0, scenario="all-answer", time_scale=0.01) as sim:
    ...     host, port = sim.address
    """

    def __init__(
        self,
        password: str = "ClueCon",
        scenario: str | Path | Scenario = "realistic",
        time_scale: float = 1.0,
        host: str = "127.0.0.1",
        port: int = 8021,
        ledger_path: str | Path | None = None,
        max_sessions: int = 1000,
        sessions_per_second: int = 30,
        seed: int | None = None,
        acl: Sequence[str] = DEFAULT_ACL,
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
        event_queue_len: int = MAX_QUEUE_LEN,
        clock: SimClock | None = None,
        modules: Iterable[str] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.clock = clock or SimClock(time_scale)
        self._ledger = Ledger(ledger_path)
        self.switch = Switch(
            password,
            Scenario.load(scenario),
            self.clock,
            self._ledger,
            SessionLimits(max_sessions, sessions_per_second),
            seed,
            acl,
            event_queue_len,
            modules,
        )
        self.switch.on_restart = self.restart
        self.heartbeat_seconds = heartbeat_seconds
        self._server: StreamServer | None = None
        self._bound: tuple[str, int] | None = None
        self._heartbeat: gevent.Greenlet[[], None] | None = None
        self._restarting: gevent.Greenlet[[float | None], None] | None = None

    @property
    def faults(self) -> Faults:
        return self.switch.faults

    @property
    def ledger(self) -> list[dict[str, Any]]:
        return self._ledger.facts

    @property
    def facts(self) -> Ledger:
        """The ledger with its helper queries (max concurrency, duplicates)."""
        return self._ledger

    @property
    def address(self) -> tuple[str, int]:
        if self._bound is None:
            raise RuntimeError("simulator not started")
        return self._bound

    @property
    def live_connections(self) -> int:
        """Event Socket connections open right now (authenticated or not)."""
        return len(self.switch.connections)

    def commands_received(self, live_only: bool = False) -> list[list[str]]:
        """Per connection, in accept order, the command lines it received (``auth`` shown as
        ``auth`` only); the last 1000 connections are kept."""
        conns = [c for c in self.switch.history if not live_only or c in self.switch.connections]
        return [list(c.received) for c in conns]

    def start(self) -> tuple[str, int]:
        self._listen(self.port)
        if self.heartbeat_seconds > 0:
            self._heartbeat = gevent.spawn(self._beat)
        log.info("FreeSWITCH simulator listening on %s:%s", *self.address)
        return self.address

    def _listen(self, port: int) -> None:
        # StreamServer makes a gevent listener, so the embedded mode needs no monkey-patching
        self._server = StreamServer((self.host, port), self._handle, backlog=1024)
        self._server.start()
        host, bound = self._server.address[:2]
        self._bound = (str(host), int(bound))

    def stop(self) -> None:
        for greenlet in (self._heartbeat, self._restarting):
            if greenlet is not None:
                greenlet.kill(block=False)
        self._heartbeat = self._restarting = None
        for call in list(self.switch.calls.values()):
            if call.greenlet is not None:
                call.greenlet.kill(block=False)
        self.switch.calls.clear()
        for conn in list(self.switch.connections):
            conn.fault_drop()
        if self._server is not None:
            self._server.stop(timeout=1)
            self._server = None
        self._ledger.close()

    def restart(self, down_for: float | None = None) -> None:
        """Restart the node like ``fsctl shutdown restart`` (capture 14).

        After ``SHUTDOWN_SECONDS`` every connection gets the disconnect notice "The system is
        being shut down." and is closed, in-flight calls are lost (ledger: ``hangup`` with
        ``lost: true``), and the port stops answering; ``down_for`` real seconds later
        (default ``RESTART_SECONDS`` scaled) the Event Socket answers again with a new
        Core-UUID, Event-Sequence and uptime started afresh, and empty session counters.
        Returns at once.
        """
        if self._restarting is None:
            self._restarting = gevent.spawn(self._restart, down_for)

    def _restart(self, down_for: float | None) -> None:
        gevent.sleep(self.clock.real(SHUTDOWN_SECONDS))
        port = self.address[1]
        for conn in list(self.switch.connections):
            conn.shutdown_notice(SHUTDOWN_NOTICE)
        if self._server is not None:
            self._server.close()
            self._server = None
        self.switch.reboot()
        self._ledger.record({"t": round(self.clock.real_elapsed(), 6), "event": "restart"})
        gevent.sleep(self.clock.real(RESTART_SECONDS) if down_for is None else down_for)
        self._listen(port)
        self._restarting = None

    def __enter__(self) -> Simulator:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _handle(self, sock: socket.socket, address: tuple[str, int]) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        Connection(self.switch, sock, address).serve()

    def _beat(self) -> None:
        while True:
            gevent.sleep(self.heartbeat_seconds)
            self.switch.publish(self.switch.heartbeat())
