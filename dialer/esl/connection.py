"""One authenticated Event Socket session: greenswitch's ``InboundESL`` with its reader,
writer and lifecycle replaced so that its known defects cannot happen here.

greenswitch 0.0.19 defect            what this class does instead
(a) URL-decodes a whole event, then   ``FrameParser`` splits lines first and decodes each value
    splits lines: header injection
(b) BACKGROUND_JOB body glued to its  event bodies are cut by their own Content-Length
    Content-Length header
(c) only TCP connect has a timeout    the greeting, ``auth`` and every command have a deadline;
                                      a reply that misses it is abandoned in its slot (replies
                                      stay matched to their commands) and an idle watchdog ends
                                      a connection that has gone silent
(d) abrupt close: greenlets die       every end of the connection goes through ``_shutdown``:
    silently, DISCONNECT never fires  waiting commands and jobs fail with ``ConnectionLostError``,
                                      DISCONNECT handlers and close callbacks always run
(e) truncated body + EOF: the reader  EOF is final; a frame cut short is ``TruncatedFrameError``
    spins at 100% CPU
(-) ``sock.send`` (may write part)    ``sendall`` under a lock, and the reply slot is queued
    and no write lock                 under the same lock, so replies match their commands; a
                                      write interrupted half-way by anything (an outer timeout,
                                      ``GreenletExit``, a task time limit) closes the connection,
                                      because what is on the wire is unknown

Reconnecting (defect (f)) is one level up, in ``ESLClient``: a ``Connection`` is used once.
Use it from greenlets of one gevent hub (a gevent-pool Celery worker or a gevent process);
it needs no monkey-patching because it uses ``gevent.socket`` directly.
"""

from __future__ import annotations

import contextlib
import logging
import socket as std_socket
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import gevent
import gevent.event
import gevent.lock
import gevent.socket
from greenswitch.esl import InboundESL

from dialer.esl.commands import Reply, serialize
from dialer.esl.errors import (
    AuthenticationError,
    CommandError,
    CommandTimeoutError,
    ConnectError,
    ConnectionLostError,
    ESLError,
    EventParseError,
    NotConnectedError,
    ProtocolError,
)
from dialer.esl.events import EVENT_CONTENT_TYPES, Event, parse_event
from dialer.esl.frames import Frame, FrameParser
from dialer.esl.jobs import Job
from dialer.metrics import ESL_COMMAND_TIMEOUTS, ESL_JOBS_PENDING

log = logging.getLogger(__name__)

Handler = Callable[[Event], Any]
CloseCallback = Callable[["Connection", BaseException], Any]

DISCONNECT = "DISCONNECT"  # handler key, as in greenswitch
LINGER = "LINGER"  # handler key for a ``Content-Disposition: linger`` notice
LOG = "LOG"  # handler key for ``log/data`` frames (after a ``log <level>`` command, 16)
RECV_BYTES = 256 * 1024
_STOP = object()  # tells the dispatcher the connection is gone


class _WriteStalledError(Exception):
    """Our own timer's exception, so an outer ``gevent.Timeout`` is never mistaken for it."""


class _ReplySlot:
    """Where the reply to one command goes. Slots are queued in wire order; the reader fills
    the oldest. A caller that stops waiting (timeout, interruption) abandons its slot: the
    slot stays queued so the next reply still goes to the command it answers."""

    __slots__ = ("abandoned", "deadline", "on_reply", "result", "what")

    def __init__(
        self, what: str, deadline: float, on_reply: Callable[[Frame], None] | None
    ) -> None:
        self.what = what
        self.deadline = deadline
        self.on_reply = on_reply
        self.abandoned = False
        self.result: gevent.event.AsyncResult = gevent.event.AsyncResult()


_JOB_EVENT_LINE = b"Event-Name: BACKGROUND_JOB\n"
_JOB_UUID_LINE = b"Job-UUID: "


def foreign_job(body: bytes, jobs: Mapping[str, object]) -> bool:
    """True for a plain BACKGROUND_JOB event whose Job-UUID is not in ``jobs``, read from its
    bytes without parsing it. Anything unusual (an encoded value, no Job-UUID) is False: the
    parser then looks at it as at any other event."""
    head = body.split(b"\n\n", 1)[0]
    if not (head.startswith(_JOB_EVENT_LINE) or b"\n" + _JOB_EVENT_LINE in head):
        return False
    if head.startswith(_JOB_UUID_LINE):
        start = len(_JOB_UUID_LINE)
    else:
        at = head.find(b"\n" + _JOB_UUID_LINE)
        if at < 0:
            return False
        start = at + 1 + len(_JOB_UUID_LINE)
    end = head.find(b"\n", start)
    value = head[start:] if end < 0 else head[start:end]
    if not value or b"%" in value or not value.isascii():
        return False
    return value.decode("ascii") not in jobs


class Connection(InboundESL):  # type: ignore[misc]  # greenswitch ships no type hints
    def __init__(
        self,
        host: str,
        port: int,
        password: str,
        *,
        connect_timeout: float = 5.0,
        command_timeout: float = 10.0,
        idle_timeout: float | None = 60.0,
        job_ttl: float = 900.0,
        name: str | None = None,
        own_jobs_only: bool = False,
    ) -> None:
        if "\n" in password or "\r" in password:
            raise ValueError("password must be a single line")
        if idle_timeout is not None and idle_timeout <= 0:
            raise ValueError("idle_timeout must be > 0 (or None to disable the watchdog)")
        if job_ttl <= 0:
            raise ValueError("job_ttl must be > 0")
        super().__init__(host, port, password, timeout=connect_timeout)
        self.command_timeout = command_timeout
        self.idle_timeout = idle_timeout
        self.job_ttl = job_ttl
        #: Drop, unparsed, the BACKGROUND_JOB events of jobs this connection did not start.
        #: FreeSWITCH sends every job's event to every listener (capture 12): N originate
        #: workers would each parse all N workers' results.
        self.own_jobs_only = own_jobs_only
        self.foreign_jobs_skipped = 0
        self.name = name or f"{host}:{port}"
        self.sock: gevent.socket.socket | None = None
        self.close_reason: BaseException | None = None
        self.last_received = 0.0  # time.monotonic() of the last byte read
        self.opened_at = 0.0  # time.monotonic() when authenticated
        self._parser = FrameParser()
        self._write_lock = gevent.lock.RLock()
        self._replies: deque[_ReplySlot] = deque()
        self._jobs: dict[str, Job] = {}
        self._closed = gevent.event.Event()
        self._goodbye: Event | None = None  # the server's disconnect-notice, if it sent one
        self._close_callbacks: list[CloseCallback] = []
        self._watchdog: gevent.Greenlet | None = None

    # -- lifecycle -----------------------------------------------------------------------

    def connect(self) -> None:
        """TCP connect, wait for ``auth/request``, authenticate; all within ``connect_timeout``.
        However it fails (including an outer timeout or a kill), nothing is left open."""
        if self.sock is not None:
            raise RuntimeError("a Connection is used once; make a new one to reconnect")
        try:
            self._connect()
        except BaseException as exc:
            self._shutdown(
                exc if isinstance(exc, ESLError) else ConnectError(f"{self.name}: {exc!r}")
            )
            raise
        self.opened_at = time.monotonic()
        ESL_JOBS_PENDING.labels(node=self.name).set_function(lambda: len(self._jobs))
        self._watchdog = gevent.spawn(self._watch)

    def _connect(self) -> None:
        deadline = time.monotonic() + self.timeout
        try:
            sock = gevent.socket.create_connection((self.host, self.port), timeout=self.timeout)
        except OSError as exc:
            raise ConnectError(f"{self.name}: connect failed: {exc}") from exc
        sock.settimeout(None)  # deadlines are per command, not per socket call
        _tune_socket(sock)
        self.sock = sock
        self.connected = True
        self.last_received = time.monotonic()
        self.start_event_handlers()
        if not self._auth_request_event.wait(timeout=_remaining(deadline)):
            raise ConnectError(f"{self.name}: no auth/request within {self.timeout}s")
        if self._closed.is_set():
            raise ConnectError(f"{self.name}: closed before auth: {self.close_reason}")
        self.authenticate(timeout=_remaining(deadline))

    def authenticate(self, timeout: float | None = None) -> None:
        try:
            reply = self.send(f"auth {self.password}", timeout=timeout)
        except CommandTimeoutError as exc:
            raise ConnectError(f"{self.name}: no reply to auth: {exc}") from exc
        except ConnectionLostError as exc:
            raise ConnectError(f"{self.name}: closed during auth: {exc}") from exc
        if reply.text != "+OK accepted":
            raise AuthenticationError(f"{self.name}: auth rejected: {reply.text}")

    def stop(self, timeout: float = 1.0) -> None:
        """Say ``exit`` if authenticated, close, and wait for our greenlets to finish."""
        if self.opened_at and self.connected and not self._closed.is_set():
            with contextlib.suppress(ESLError):
                self.send("exit", timeout=min(timeout, self.command_timeout))
        self._shutdown(ConnectionLostError(f"{self.name}: closed by the client"))
        current = gevent.getcurrent()
        for greenlet in (
            self._receive_events_greenlet,
            self._process_events_greenlet,
            self._watchdog,
        ):
            if greenlet is not None and greenlet is not current:
                greenlet.join(timeout=timeout)
                if not greenlet.dead:
                    greenlet.kill(block=False)

    close = stop

    @property
    def closed(self) -> bool:
        return bool(self._closed.is_set())

    def wait_closed(self, timeout: float | None = None) -> bool:
        return bool(self._closed.wait(timeout=timeout))

    def add_close_callback(self, callback: CloseCallback) -> None:
        """``callback(connection, reason)`` once, when the connection ends for any reason.
        It runs in whichever greenlet noticed the end, so it must not block."""
        if self._closed.is_set():
            callback(self, self.close_reason or ConnectionLostError("closed"))
        else:
            self._close_callbacks.append(callback)

    def _shutdown(self, reason: BaseException) -> None:
        """The one way a connection ends (fix for defect (d)). Idempotent; first reason wins."""
        if self._closed.is_set():
            return
        self.close_reason = reason
        self.connected = False
        self._run = False
        self._closed.set()
        self._auth_request_event.set()  # wake a connect() still waiting for the greeting
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.close()  # also wakes the reader blocked in recv()
        lost = (
            reason
            if isinstance(reason, ConnectionLostError)
            else ConnectionLostError(f"{self.name}: {reason}")
        )
        slots, self._replies = list(self._replies), deque()
        for slot in slots:
            slot.result.set_exception(lost)
        jobs, self._jobs = list(self._jobs.values()), {}
        for job in jobs:
            job._fail(lost)
        if self.opened_at:
            ESL_JOBS_PENDING.labels(node=self.name).set_function(lambda: 0)
        self._esl_event_queue.put(_STOP)
        log.info("ESL %s closed: %s", self.name, reason)
        for callback in self._close_callbacks:
            try:
                callback(self, reason)
            except Exception:
                log.exception("ESL %s close callback %r failed", self.name, callback)

    # -- reading -------------------------------------------------------------------------

    def receive_events(self) -> None:
        """Reader greenlet: bytes -> frames; ends the connection on EOF or bad framing."""
        reason: BaseException = ConnectionLostError(f"{self.name}: server closed the connection")
        sock = self.sock
        assert sock is not None
        try:
            while not self._closed.is_set():
                data = sock.recv(RECV_BYTES)
                if not data:
                    self._parser.close()  # raises TruncatedFrameError mid-frame (defect (e))
                    if self._goodbye is not None:
                        reason = ConnectionLostError(f"{self.name}: server said goodbye")
                    break
                self.last_received = time.monotonic()
                for frame in self._parser.feed(data):
                    self._on_frame(frame)
        except ProtocolError as exc:
            reason = exc
        except OSError as exc:
            reason = ConnectionLostError(f"{self.name}: {exc}")
        except gevent.GreenletExit:
            reason = ConnectionLostError(f"{self.name}: reader stopped")
        except Exception as exc:  # a bug of ours must not leave callers waiting forever
            log.exception("ESL %s reader failed", self.name)
            reason = ConnectionLostError(f"{self.name}: reader failed: {exc!r}")
        self._shutdown(reason)

    def _on_frame(self, frame: Frame) -> None:
        content_type = frame.content_type
        if content_type in ("command/reply", "api/response"):
            if not self._replies:
                raise ProtocolError(f"{content_type} arrived but no command is waiting")
            slot = self._replies.popleft()
            if slot.on_reply is not None:
                # Here, in the reader, before any later frame of the same read is looked at.
                slot.on_reply(frame)
            if slot.abandoned:
                log.debug("ESL %s: late reply to %s discarded", self.name, slot.what)
            slot.result.set(frame)
        elif content_type in EVENT_CONTENT_TYPES:
            if (
                self.own_jobs_only
                and content_type == "text/event-plain"
                and foreign_job(frame.body, self._jobs)
            ):
                self.foreign_jobs_skipped += 1
                return
            try:
                event = parse_event(frame)
            except EventParseError as exc:
                log.warning("ESL %s: skipping an unparsable event: %s", self.name, exc)
                return
            if event.name == "BACKGROUND_JOB":
                job = self._jobs.pop(event.job_uuid or "", None)
                if job is not None:
                    job._resolve(event)
            self._esl_event_queue.put(event)
        elif content_type == "log/data":
            self._esl_event_queue.put(
                (LOG, Event(frame.headers.items_all, frame.body.decode("utf-8", "replace")))
            )
        elif content_type == "auth/request":
            self._auth_request_event.set()
        elif content_type in ("text/disconnect-notice", "text/rude-rejection"):
            notice = Event(frame.headers.items_all, frame.body.decode("utf-8", "replace"))
            if frame.headers.get("Content-Disposition") == "linger":
                self._lingering = True
                self._esl_event_queue.put((LINGER, notice))
            else:
                self._goodbye = notice  # the server closes right after it
        else:
            log.debug("ESL %s: ignoring a %r frame", self.name, content_type)

    # -- dispatching -----------------------------------------------------------------------

    def process_events(self) -> None:
        """Dispatcher greenlet: handlers run here, never in the reader, so a handler may
        itself call ``api``. DISCONNECT handlers run last, once, after queued events."""
        while True:
            item = self._esl_event_queue.get()
            if item is _STOP:
                self._call(DISCONNECT, self._disconnect_event())
                return
            if isinstance(item, tuple):
                self._call(item[0], item[1])
            else:
                self._call(item.key, item)
                self._call("*", item)

    def _call(self, key: str, event: Event) -> None:
        for handler in list(self.event_handlers.get(key, ())):
            try:
                handler(event)
            except Exception:
                log.exception("ESL %s handler %r failed on %r", self.name, handler, event)

    def _disconnect_event(self) -> Event:
        if self._goodbye is not None:
            return self._goodbye
        return Event(
            [
                ("Content-Type", "text/disconnect-notice"),
                ("Content-Disposition", "disconnect"),
                ("Disconnect-Reason", str(self.close_reason)),
            ]
        )

    # -- writing ---------------------------------------------------------------------------

    def send(
        self,
        data: str,
        timeout: float | None = None,
        *,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        body: str | None = None,
    ) -> Reply:
        """Send one command line (+ headers, + optional body) and wait for its reply."""
        payload = serialize(data, headers, body)
        return self._request(payload, data.split(" ", 1)[0], timeout)

    def _request(
        self,
        payload: bytes,
        what: str,
        timeout: float | None,
        on_reply: Callable[[Frame], None] | None = None,
    ) -> Reply:
        if not self.connected or self._closed.is_set():
            raise NotConnectedError(f"{self.name}: not connected ({self.close_reason})")
        limit = self.command_timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        slot = _ReplySlot(what, deadline, on_reply)
        if not self._write_lock.acquire(timeout=limit):
            raise CommandTimeoutError(f"{self.name}: {what}: could not write within {limit}s")
        try:
            if self._closed.is_set():
                raise NotConnectedError(f"{self.name}: not connected ({self.close_reason})")
            # The slot is queued under the write lock: wire order == reply order.
            self._replies.append(slot)
            self._write(payload, what, deadline, limit)
        finally:
            self._write_lock.release()
        try:
            slot.result.wait(timeout=_remaining(deadline))
        except BaseException:
            slot.abandoned = True  # interrupted while waiting: the reply is dropped on arrival
            raise
        if not slot.result.ready():
            slot.abandoned = True
            ESL_COMMAND_TIMEOUTS.labels(node=self.name).inc()
            raise CommandTimeoutError(
                f"{self.name}: no reply to {what} within {limit}s (it may still run; "
                "its reply will be discarded)"
            )
        return Reply(slot.result.get())

    def _write(self, payload: bytes, what: str, deadline: float, limit: float) -> None:
        """``sendall`` within the deadline. Any interruption leaves an unknown part of the
        command on the wire, so the connection cannot be used any more: it is closed."""
        sock = self.sock
        assert sock is not None
        try:
            with gevent.Timeout(_remaining(deadline), _WriteStalledError):
                sock.sendall(payload)
        except _WriteStalledError:
            error = CommandTimeoutError(f"{self.name}: {what}: write stalled for {limit}s")
            self._shutdown(error)
            raise error from None
        except OSError as exc:
            lost = ConnectionLostError(f"{self.name}: {what}: write failed: {exc}")
            self._shutdown(lost)
            raise lost from exc
        except BaseException as exc:  # an outer timeout, GreenletExit, a soft time limit
            self._shutdown(ConnectionLostError(f"{self.name}: {what}: write interrupted: {exc!r}"))
            raise

    def command(self, line: str, timeout: float | None = None, **kwargs: Any) -> Reply:
        """Send a command; ``-ERR`` replies raise ``CommandError``."""
        reply = self.send(line, timeout, **kwargs)
        if not reply.ok:
            raise CommandError(line, reply.text)
        return reply

    def api(self, command: str, timeout: float | None = None) -> str:
        """Blocking ``api``: the api/response body (``-ERR ...`` is returned, not raised).
        FreeSWITCH holds this connection's events until it answers (fixture 03)."""
        return self.send(f"api {command}", timeout).text

    def bgapi(
        self,
        command: str,
        job_uuid: str | None = None,
        timeout: float | None = None,
        *,
        ttl: float | None = None,
    ) -> Job:
        """Start a background job; the returned ``Job`` completes with its BACKGROUND_JOB.
        ``job_uuid`` (ours, e.g. the attempt id) is sent as the ``Job-UUID`` header. A job
        still pending after ``ttl`` seconds (default ``job_ttl``) fails and is forgotten."""
        job_uuid = job_uuid or str(uuid.uuid4())
        if not job_uuid or any(c.isspace() for c in job_uuid):
            raise ValueError(f"bad Job-UUID {job_uuid!r}")
        if job_uuid in self._jobs:
            raise ValueError(f"job {job_uuid} is already running on this connection")
        expires = time.monotonic() + (self.job_ttl if ttl is None else ttl)
        job = Job(job_uuid, command, expires_at=expires, forget=self._forget_job)
        self._jobs[job_uuid] = job  # before the write: the event may follow the reply at once

        def follow_the_server(frame: Frame) -> None:
            # Runs in the reader as the reply is read, so a BACKGROUND_JOB in the same read
            # already finds the job under the name the server gave it.
            granted = frame.headers.get("Job-UUID", job_uuid)
            if granted != job.job_uuid and self._jobs.get(job.job_uuid) is job:
                del self._jobs[job.job_uuid]
                job.job_uuid = granted
                self._jobs[granted] = job

        payload = serialize(f"bgapi {command}", {"Job-UUID": job_uuid})
        try:
            reply = self._request(payload, "bgapi", timeout, on_reply=follow_the_server)
        except BaseException as exc:
            self._forget_job(job)
            job._fail(exc)
            raise
        if not reply.ok:
            self._forget_job(job)
            error = CommandError(f"bgapi {command}", reply.text)
            job._fail(error)
            raise error
        return job

    def _forget_job(self, job: Job) -> None:
        if self._jobs.get(job.job_uuid) is job:
            del self._jobs[job.job_uuid]

    @property
    def pending_jobs(self) -> int:
        return len(self._jobs)

    # -- the watchdog ------------------------------------------------------------------------

    def _watch(self) -> None:
        """Expire jobs past their ttl, and end a connection that has gone silent: nothing read
        for ``idle_timeout`` seconds (FreeSWITCH sends HEARTBEAT every 20 s) while no command
        is legitimately holding the line (a blocking ``api`` holds events, fixture 03)."""
        tick = 1.0 if self.idle_timeout is None else min(1.0, self.idle_timeout / 4)
        while not self._closed.wait(timeout=tick):
            now = time.monotonic()
            for job in [j for j in self._jobs.values() if j.expires_at <= now]:
                self._forget_job(job)
                job._fail(CommandTimeoutError(f"job {job.job_uuid}: no BACKGROUND_JOB in its ttl"))
            if self.idle_timeout is None or now - self.last_received < self.idle_timeout:
                continue
            if any(not s.abandoned and s.deadline > now for s in self._replies):
                continue
            silent = now - self.last_received
            self._shutdown(ConnectionLostError(f"{self.name}: nothing received for {silent:.1f}s"))
            return


def _remaining(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())


def _tune_socket(sock: gevent.socket.socket) -> None:
    # Commands are small and latency-bound: no Nagle delay. Keepalive finds a peer that
    # vanished without a FIN (power loss, NAT timeout) even when we are not sending.
    sock.setsockopt(std_socket.IPPROTO_TCP, std_socket.TCP_NODELAY, 1)
    sock.setsockopt(std_socket.SOL_SOCKET, std_socket.SO_KEEPALIVE, 1)
    for option, value in (("TCP_KEEPIDLE", 30), ("TCP_KEEPINTVL", 10), ("TCP_KEEPCNT", 3)):
        if hasattr(std_socket, option):
            sock.setsockopt(std_socket.IPPROTO_TCP, getattr(std_socket, option), value)
