"""``ESLClient``: one FreeSWITCH node, kept connected.

greenswitch has no reconnect (defect (f)). The client runs a supervisor greenlet that
connects, replays the subscription (``event`` + every ``filter``), reports the state to
callbacks, and after any loss reconnects with exponential backoff and jitter. A connection
that dies young (accepted, then dropped within ``stable_after`` seconds) counts as a failure,
so a node that accepts and drops at once is not hammered. Handlers are registered on the
client, so they survive reconnects; ``DISCONNECT`` and ``LINGER`` handlers run once per
connection that ends or lingers. Commands and jobs are never retried here: a lost connection
fails them with ``ConnectionLostError`` ("may have run"), and only the caller knows whether
re-sending is safe (for originate it is not: DESIGN §6).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from enum import StrEnum
from types import TracebackType
from typing import Any

import gevent
import gevent.event
from gevent import Greenlet

from dialer.esl.backoff import Backoff
from dialer.esl.commands import FORMATS, Reply, event_command, filter_command
from dialer.esl.connection import DISCONNECT, LINGER, LOG, Connection, Handler
from dialer.esl.errors import ConnectError, ESLError, NotConnectedError
from dialer.esl.events import Event
from dialer.esl.jobs import Job
from dialer.esl.originate import Originate
from dialer.metrics import ESL_CONNECTED, ESL_EVENTS, ESL_RECONNECTS

log = logging.getLogger(__name__)

# bgapi futures complete from BACKGROUND_JOB events and the idle watchdog lives on HEARTBEAT,
# so both are always subscribed and, once any filter is set, let through by filters of ours.
_JOB_EVENT = "BACKGROUND_JOB"
_HEARTBEAT = "HEARTBEAT"
_OWN_EVENTS = frozenset({_JOB_EVENT, _HEARTBEAT})
_OWN_FILTERS = (("Event-Name", _JOB_EVENT), ("Event-Name", _HEARTBEAT))


class ConnectionState(StrEnum):
    DISCONNECTED = "disconnected"  # not started yet, or lost and waiting to retry
    CONNECTING = "connecting"
    CONNECTED = "connected"  # authenticated and subscriptions replayed
    CLOSED = "closed"  # close() was called; final


ORIGINATE_JOB_SLACK = 60.0  # seconds an originate's job outlives its ring timeout

StateCallback = Callable[[ConnectionState, BaseException | None], Any]
ConnectionFactory = Callable[..., Connection]


class ESLClient:
    def __init__(
        self,
        host: str,
        port: int = 8021,
        password: str = "ClueCon",
        *,
        name: str | None = None,
        event_format: str = "plain",
        connect_timeout: float = 5.0,
        command_timeout: float = 10.0,
        idle_timeout: float | None = 60.0,
        stable_after: float = 10.0,
        backoff: Backoff | None = None,
        connection_factory: ConnectionFactory = Connection,
        own_jobs_only: bool = False,
    ) -> None:
        if event_format not in FORMATS:
            raise ValueError(f"event_format must be one of {FORMATS}")
        self.host = host
        self.port = port
        self.name = name or f"{host}:{port}"
        self.event_format = event_format
        self.connect_timeout = connect_timeout
        self.command_timeout = command_timeout
        self.idle_timeout = idle_timeout  # 3 missed HEARTBEATs by default
        self.stable_after = stable_after
        self.backoff = backoff or Backoff()
        self._password = password
        self._factory = connection_factory
        #: only this client's own jobs' BACKGROUND_JOB events are parsed and dispatched (an
        #: originate worker's connection; never a consumer's, which wants every job)
        self.own_jobs_only = own_jobs_only
        self._events: set[str] = set(_OWN_EVENTS)
        self._subclasses: set[str] = set()
        self._filters: list[tuple[str, str]] = []  # the caller's, in order
        self._sub_version = 0
        self._handlers: dict[str, list[Handler]] = {}
        self._state_callbacks: list[StateCallback] = []
        self._state = ConnectionState.DISCONNECTED
        self._conn: Connection | None = None
        self._connecting: Connection | None = None  # being set up by the supervisor
        self._supervisor: Greenlet | None = None
        self._stop = gevent.event.Event()
        self._up = gevent.event.Event()
        self.last_error: BaseException | None = None
        self.connects = 0  # successful connections so far; > 1 means we reconnected
        self._connected_gauge = ESL_CONNECTED.labels(node=self.name)
        self._connected_gauge.set(0)
        self._event_counters: dict[str, Any] = {}  # per event key: the hot path skips labels()

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Start connecting in the background (returns at once)."""
        if self._stop.is_set():
            raise RuntimeError("this client was closed")
        if self._supervisor is None:
            self._supervisor = gevent.spawn(self._supervise)

    def connect(self, timeout: float | None = None) -> ESLClient:
        """Start and wait until connected; ``ConnectError`` (with the last error) if not."""
        self.start()
        limit = self.connect_timeout * 2 if timeout is None else timeout
        if not self.wait_connected(limit):
            raise ConnectError(f"{self.name}: not connected after {limit}s: {self.last_error}")
        return self

    def wait_connected(self, timeout: float | None = None) -> bool:
        return bool(self._up.wait(timeout=timeout)) and self._state is ConnectionState.CONNECTED

    def close(self, timeout: float = 2.0) -> None:
        self._stop.set()
        for conn in (self._connecting, self._conn):
            if conn is not None:
                conn.stop(timeout=timeout)
        if self._supervisor is not None and self._supervisor is not gevent.getcurrent():
            self._supervisor.join(timeout=timeout)
            if not self._supervisor.dead:
                self._supervisor.kill(block=False)
        self._set_state(ConnectionState.CLOSED, None)

    def __enter__(self) -> ESLClient:
        return self.connect()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def state(self) -> ConnectionState:
        return self._state

    @property
    def connected(self) -> bool:
        return self._state is ConnectionState.CONNECTED

    @property
    def connection(self) -> Connection | None:
        return self._conn

    def add_state_callback(self, callback: StateCallback) -> None:
        """``callback(state, error)`` on every change. It runs in the supervisor greenlet, or
        in the greenlet that noticed a loss, so it must not block."""
        self._state_callbacks.append(callback)

    def _set_state(self, state: ConnectionState, error: BaseException | None) -> None:
        if state is self._state and error is None:
            return
        if self._state is ConnectionState.CLOSED:
            return
        self._state = state
        if state is ConnectionState.CONNECTED:
            self._up.set()
        else:
            self._up.clear()
        self._connected_gauge.set(1 if state is ConnectionState.CONNECTED else 0)
        for callback in list(self._state_callbacks):
            try:
                callback(state, error)
            except Exception:
                log.exception("ESL %s state callback %r failed", self.name, callback)

    def _supervise(self) -> None:
        failures = 0
        try:
            while not self._stop.is_set():
                conn = self._open()
                if conn is None:
                    if self._stop.wait(timeout=self.backoff.delay(failures)):
                        break
                    failures += 1
                    continue
                gevent.wait([conn._closed, self._stop], count=1)
                if self._stop.is_set():
                    conn.stop()
                    break
                # A connection that lived long enough was a success: the next retry comes
                # quickly. One that died young is one more failure in a row.
                lived = time.monotonic() - conn.opened_at
                failures = 0 if lived >= self.stable_after else failures + 1
                if self._stop.wait(timeout=self.backoff.delay(failures)):
                    break
        finally:
            self._set_state(ConnectionState.CLOSED, None)

    def _open(self) -> Connection | None:
        """One connection attempt: connect, authenticate, replay. None if it failed."""
        self._set_state(ConnectionState.CONNECTING, None)
        conn = self._factory(
            self.host,
            self.port,
            self._password,
            connect_timeout=self.connect_timeout,
            command_timeout=self.command_timeout,
            idle_timeout=self.idle_timeout,
            name=self.name,
            **({"own_jobs_only": True} if self.own_jobs_only else {}),
        )
        conn.register_handle("*", self._dispatch)
        conn.register_handle(DISCONNECT, self._dispatch_notice(DISCONNECT))
        conn.register_handle(LINGER, self._dispatch_notice(LINGER))
        conn.register_handle(LOG, self._dispatch_notice(LOG))
        self._connecting = conn
        try:
            conn.connect()
            self._replay(conn)
        except (ESLError, OSError) as exc:
            conn.stop(timeout=0.2)
            self.last_error = exc
            log.warning("ESL %s: connect failed: %s", self.name, exc)
            self._set_state(ConnectionState.DISCONNECTED, exc)
            return None
        except BaseException:  # the supervisor was killed mid-connect: leave nothing open
            conn.stop(timeout=0.2)
            raise
        finally:
            self._connecting = None
        if self._stop.is_set():  # close() came while we were connecting
            conn.stop(timeout=0.2)
            return None
        self._conn = conn
        self.connects += 1
        if self.connects > 1:
            ESL_RECONNECTS.labels(node=self.name).inc()
        self._set_state(ConnectionState.CONNECTED, None)
        conn.add_close_callback(self._lost)
        return conn

    def _lost(self, conn: Connection, reason: BaseException) -> None:
        """Close callback: report the loss at once, from whichever greenlet saw it, so that
        nobody sees CONNECTED for a connection that is already gone."""
        if self._conn is not conn:
            return
        self._conn = None
        if self._stop.is_set():
            return
        self.last_error = reason
        log.warning("ESL %s: connection lost: %s", self.name, reason)
        self._set_state(ConnectionState.DISCONNECTED, reason)

    def _replay(self, conn: Connection) -> None:
        """Send the whole subscription again; repeat if it changed while we were sending."""
        while True:
            version = self._sub_version
            conn.command(event_command(self.event_format, self._events, self._subclasses))
            for header, value in self._effective_filters():
                conn.command(filter_command(header, value))
            if version == self._sub_version:
                return

    # -- events ----------------------------------------------------------------------------

    def on(self, key: str, handler: Handler) -> None:
        """Call ``handler(event)`` for events named ``key`` (a CUSTOM event's subclass, e.g.
        ``dialer::amd``) or for every event with ``"*"``; ``DISCONNECT`` gets the notice of
        every connection that ends (after its last event), ``LINGER`` a linger notice, ``LOG``
        the ``log/data`` frames a ``log <level>`` command asks for.
        Handlers run in the connection's dispatcher greenlet, in arrival order; they may call
        ``api``/``bgapi``."""
        handlers = self._handlers.setdefault(key, [])
        if handler not in handlers:
            handlers.append(handler)

    def off(self, key: str, handler: Handler) -> None:
        handlers = self._handlers.get(key, [])
        if handler in handlers:
            handlers.remove(handler)

    def _dispatch(self, event: Event) -> None:
        key = event.key
        counter = self._event_counters.get(key)
        if counter is None:
            counter = self._event_counters[key] = ESL_EVENTS.labels(node=self.name, event=key)
        counter.inc()
        self._run_handlers(key, event)
        self._run_handlers("*", event)

    def _dispatch_notice(self, key: str) -> Callable[[Event], None]:
        """Notices and log lines are not events: they go to their own key only."""
        return lambda notice: self._run_handlers(key, notice)

    def _run_handlers(self, key: str, event: Event) -> None:
        for handler in list(self._handlers.get(key, ())):
            try:
                handler(event)
            except Exception:
                log.exception("ESL %s handler %r failed on %r", self.name, handler, event)

    def subscribe(self, *names: str, custom: Iterable[str] = ()) -> None:
        """Add event names (and CUSTOM subclasses); kept and replayed after reconnects."""
        self._events.update(n for n in names if n != "CUSTOM")
        self._subclasses.update(custom)
        event_command(self.event_format, self._events, self._subclasses)  # validates
        self._sub_version += 1
        self._on_live(
            lambda c: c.command(event_command(self.event_format, self._events, self._subclasses))
        )

    def unsubscribe(self, *names: str, custom: Iterable[str] = ()) -> None:
        """``nixevent``. BACKGROUND_JOB and HEARTBEAT stay: bgapi futures and the idle
        watchdog depend on them."""
        own = _OWN_EVENTS.intersection(names)
        if own:
            raise ValueError(f"{sorted(own)} are needed by bgapi and the watchdog; they stay")
        gone = [n for n in names if n in self._events]
        gone_subs = [s for s in custom if s in self._subclasses]
        self._events.difference_update(gone)
        self._subclasses.difference_update(gone_subs)
        self._sub_version += 1
        words = gone + (["CUSTOM", *gone_subs] if gone_subs else [])
        if words:
            self._on_live(lambda c: c.command("nixevent " + " ".join(words)))

    def noevents(self) -> None:
        """Stop all events except BACKGROUND_JOB and HEARTBEAT (re-subscribed at once)."""
        self._events = set(_OWN_EVENTS)
        self._subclasses = set()
        self._sub_version += 1

        def send(conn: Connection) -> None:
            conn.command("noevents")
            conn.command(event_command(self.event_format, self._events, ()))

        self._on_live(send)

    def add_filter(self, header: str, value: str) -> None:
        """Only events matching at least one filter are delivered (FreeSWITCH ORs them)."""
        filter_command(header, value)  # validates before we remember it
        if (header, value) in self._filters:
            return
        first = not self._filters
        self._filters.append((header, value))
        self._sub_version += 1

        def send(conn: Connection) -> None:
            conn.command(filter_command(header, value))
            if first:
                for own in _OWN_FILTERS:
                    if own not in self._filters:
                        conn.command(filter_command(*own))

        self._on_live(send)

    def delete_filter(self, header: str, value: str) -> None:
        if (header, value) not in self._filters:
            return
        self._filters.remove((header, value))
        self._sub_version += 1
        last = not self._filters

        def send(conn: Connection) -> None:
            conn.command(filter_command(header, value, delete=True))
            if last:
                for own in _OWN_FILTERS:
                    if own != (header, value):
                        conn.command(filter_command(*own, delete=True))

        self._on_live(send)

    def _effective_filters(self) -> list[tuple[str, str]]:
        if not self._filters:
            return []
        return [*self._filters, *(own for own in _OWN_FILTERS if own not in self._filters)]

    @property
    def subscription(self) -> tuple[frozenset[str], frozenset[str], tuple[tuple[str, str], ...]]:
        """(event names, CUSTOM subclasses, filters) as they will be replayed."""
        return (
            frozenset(self._events),
            frozenset(self._subclasses),
            tuple(self._effective_filters()),
        )

    def _on_live(self, send: Callable[[Connection], Any]) -> None:
        conn = self._conn
        if conn is not None and not conn.closed:
            send(conn)
        # Not connected: recorded above, sent by _replay on the next connection.

    # -- commands --------------------------------------------------------------------------

    def _live(self) -> Connection:
        conn = self._conn
        if conn is None or conn.closed:
            raise NotConnectedError(f"{self.name}: {self._state.value} ({self.last_error})")
        return conn

    def api(self, command: str, timeout: float | None = None) -> str:
        return self._live().api(command, timeout)

    def bgapi(
        self,
        command: str,
        job_uuid: str | None = None,
        timeout: float | None = None,
        *,
        ttl: float | None = None,
    ) -> Job:
        return self._live().bgapi(command, job_uuid, timeout, ttl=ttl)

    def command(self, line: str, timeout: float | None = None, **kwargs: Any) -> Reply:
        return self._live().command(line, timeout, **kwargs)

    def originate(self, request: Originate, timeout: float | None = None) -> Job:
        """``bgapi originate`` with ``Job-UUID`` = ``origination_uuid`` = the attempt id. The
        switch answers the job by the end of the ring at the latest, so the job is kept that
        long plus a minute of slack."""
        return self.bgapi(
            request.command(),
            job_uuid=request.attempt_id,
            timeout=timeout,
            ttl=request.timeout_seconds + ORIGINATE_JOB_SLACK,
        )

    def sendmsg(
        self,
        uuid: str,
        headers: Iterable[tuple[str, str]],
        timeout: float | None = None,
    ) -> Reply:
        if not uuid or any(c.isspace() for c in uuid):
            raise ValueError(f"bad channel uuid {uuid!r}")
        return self.command(f"sendmsg {uuid}", timeout, headers=list(headers))

    def execute(
        self,
        uuid: str,
        app: str,
        arg: str | None = None,
        *,
        event_uuid: str | None = None,
        lock: bool = False,
        timeout: float | None = None,
    ) -> Reply:
        """``sendmsg`` ``call-command: execute``. Send it only after CHANNEL_PARK or the
        originate's BACKGROUND_JOB: earlier, the application is aborted at once (02x)."""
        headers = [("call-command", "execute"), ("execute-app-name", app)]
        if arg is not None:
            headers.append(("execute-app-arg", arg))
        if event_uuid is not None:
            headers.append(("Event-UUID", event_uuid))
        if lock:
            headers.append(("event-lock", "true"))
        return self.sendmsg(uuid, headers, timeout)

    def hangup(
        self, uuid: str, cause: str = "NORMAL_CLEARING", timeout: float | None = None
    ) -> Reply:
        return self.sendmsg(uuid, [("call-command", "hangup"), ("hangup-cause", cause)], timeout)
