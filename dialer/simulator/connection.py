"""One Event Socket client connection: authentication, commands, delivery.

Like mod_event_socket, replies and events leave through one ordered stream, and a blocking
``api`` holds the connection's events until its response is written (fixture 03b). Events
wait in a bounded queue (``Switch.event_queue_len``, FreeSWITCH's MAX_QUEUE_LEN): when a
client stops reading the queue fills, further events are lost, and after more than
MAX_MISSED lost events in a row the listener is killed — its socket is shut down and closed,
which the client sees as the end of the stream.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import struct
import time
from typing import TYPE_CHECKING

import gevent
from gevent.queue import Empty, Queue

from dialer.simulator import wire
from dialer.simulator.api import run_api
from dialer.simulator.channel import new_uuid
from dialer.simulator.control import Command
from dialer.simulator.eventnames import MYEVENTS
from dialer.simulator.events import Event
from dialer.simulator.subscription import Subscription

if TYPE_CHECKING:
    from dialer.simulator.switch import Switch

log = logging.getLogger("dialer.simulator")

MAX_COMMAND = 1 << 20
LOG_LEVELS = {
    "console": 0,
    "alert": 1,
    "crit": 2,
    "err": 3,
    "warning": 4,
    "notice": 5,
    "info": 6,
    "debug": 7,
}


class _Close:
    """Writer sentinel: close the socket after what is queued."""


_CLOSE = _Close()
# an item of the outgoing queue: (is an event, the listener's noevents generation, bytes)
Item = tuple[bool, int, bytes]


class Connection:
    def __init__(self, switch: Switch, sock: socket.socket, address: tuple[str, int]) -> None:
        self.switch = switch
        self.sock = sock
        self.address = address
        self.authed = False
        self.sub = Subscription()
        self.myevents: str | None = None
        self.linger: int | None = None
        self.session_done = False  # the controlled session's HANGUP_COMPLETE went out
        self.out: Queue[Item | _Close] = Queue()
        self.generation = 0  # noevents flushes the events still queued
        self.queued_events = 0
        self.lost_events = 0  # in a row, as mod_event_socket counts them
        self.lost_total = 0
        self.holding = False
        self.held: list[Event] = []
        self.closed = False
        self.received: list[str] = []  # command lines, for assertions (auth is masked)
        self.log_level: int | None = None  # set by "log <level>"
        self._raw: list[tuple[str, str]] = []  # the command being handled, as read

    # --- lifecycle -----------------------------------------------------------------------

    def serve(self) -> None:
        if not self.switch.allowed(self.address[0]):
            self._send_now(wire.rude_rejection())
            self._close_socket()
            return
        writer = gevent.spawn(self._writer)
        self.switch.connections.add(self)
        self.switch.history.append(self)
        try:
            self._put(wire.auth_request())
            self._reader()
        finally:
            self.switch.connections.discard(self)
            self.closed = True
            self.out.put(_CLOSE)
            writer.join(timeout=5)
            self._close_socket()

    def _reader(self) -> None:
        buf = b""
        while not self.closed:
            end = buf.find(b"\n\n")
            if end < 0:
                try:
                    data = self.sock.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                buf += data.replace(b"\r\n", b"\n")
                if len(buf) > MAX_COMMAND:
                    return
                continue
            block, buf = buf[:end], buf[end + 2 :]
            if not block.strip():
                continue
            first, headers = wire.split_command(block)
            length = next(
                (int(v) for k, v in headers if k.lower() == "content-length" and v.isdigit()), 0
            )
            while len(buf) < length:
                try:
                    data = self.sock.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                buf += data
            body, buf = buf[:length], buf[length:]
            stall = self.switch.faults.stall_remaining()
            if stall:
                gevent.sleep(stall)
            self.handle(first, headers, body.decode("utf-8", "replace"))

    def _writer(self) -> None:
        while True:
            batch = [self.out.get()]
            window = self.switch.faults.coalesce
            if window > 0:
                deadline = time.monotonic() + window
                while not isinstance(batch[-1], _Close):
                    try:
                        batch.append(self.out.get(timeout=max(0.0, deadline - time.monotonic())))
                    except Empty:
                        break
            stall = self.switch.faults.stall_remaining()
            if stall:
                gevent.sleep(stall)
            data = b"".join(self._take(item) for item in batch)
            if data and not self._send_now(data):
                return
            if isinstance(batch[-1], _Close):
                self._close_socket()
                return

    def _take(self, item: Item | _Close) -> bytes:
        if isinstance(item, _Close):
            return b""
        is_event, generation, data = item
        if is_event:
            self.queued_events -= 1
            if generation != self.generation:
                return b""  # flushed by noevents
        return data

    def _put(self, data: bytes) -> None:
        self.out.put((False, 0, data))

    def _send_now(self, data: bytes) -> bool:
        try:
            self.sock.sendall(data)
        except OSError:
            self.closed = True
            return False
        return True

    def _close_socket(self) -> None:
        self.closed = True
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()

    def reply(self, text: str, extra: wire.Headers = ()) -> None:
        self._put(wire.command_reply(text, extra))

    def disconnect(self, extra: wire.Headers = (), body: bytes = wire.GOODBYE) -> None:
        self._put(wire.disconnect_notice(extra, body))
        self.out.put(_CLOSE)
        self.closed = True

    def shutdown_notice(self, body: bytes) -> None:
        """``kill_all_listeners`` at shutdown: the notice, then the socket closes."""
        self.disconnect(body=body)

    def _kill(self) -> None:
        # kill_listener: the socket is shut down under the blocked writer; what the kernel
        # already holds still reaches the client, then the stream ends
        log.warning("killing listener %s:%s: too many lost events", *self.address[:2])
        self.closed = True
        self.switch.connections.discard(self)
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)

    # --- faults --------------------------------------------------------------------------

    def fault_drop(self) -> None:
        self.closed = True
        with contextlib.suppress(OSError):  # linger 0: RST, like a crashed peer
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self._close_socket()

    def fault_raw(self, data: bytes, close: bool) -> None:
        self._put(data)
        if close:
            self.out.put(_CLOSE)
            self.closed = True

    # --- events --------------------------------------------------------------------------

    def wants(self, event: Event) -> bool:
        if self.closed:
            return False
        if self.myevents is not None and (
            self.session_done or event.get("Unique-ID") != self.myevents
        ):
            # The listener holds the session until it leaves, so that channel's
            # CHANNEL_DESTROY comes too late for it (08b conn 3: nothing after
            # CHANNEL_HANGUP_COMPLETE but the final disconnect).
            return False
        return self.sub.wants(event)

    def deliver(self, event: Event) -> None:
        if not self.wants(event):
            return
        if self.queued_events >= self.switch.event_queue_len:
            self.lost_events += 1
            self.lost_total += 1
            if self.lost_events > self.switch.max_missed:
                self._kill()
            return
        self.lost_events = 0
        self.queued_events += 1
        if self.holding:
            self.held.append(event)
            return
        self._enqueue(event)

    def _enqueue(self, event: Event) -> None:
        data = event.json() if self.sub.format == "json" else event.plain()
        self.out.put((True, self.generation, data))
        if self.myevents is not None and event.name == "CHANNEL_HANGUP":
            self._controlled_hangup(event)
        elif self.myevents is not None and event.name == "CHANNEL_HANGUP_COMPLETE":
            self.session_done = True

    def _controlled_hangup(self, event: Event) -> None:
        # the connection is tied to the channel: FreeSWITCH disconnects it (08b)
        uuid = self.myevents or ""
        if self.linger is None:
            self.disconnect(
                [("Controlled-Session-UUID", uuid), ("Content-Disposition", "disconnect")]
            )
            return
        self._put(
            wire.disconnect_notice(
                [
                    ("Controlled-Session-UUID", uuid),
                    ("Content-Disposition", "linger"),
                    ("Channel-Name", event.get("Channel-Name") or ""),
                    ("Linger-Time", str(self.linger)),
                ],
                body=b"",
            )
        )
        gevent.spawn_later(
            self.switch.clock.real(self.linger),  # a switch timer: scaled like the others
            self.disconnect,
            [("Controlled-Session-UUID", uuid), ("Content-Disposition", "disconnect")],
        )

    # --- commands ------------------------------------------------------------------------

    def handle(self, first: str, headers: list[tuple[str, str]], body: str) -> None:
        line = first.strip()
        cmd, _, args = line.partition(" ")
        cmd = cmd.lower()  # mod_event_socket matches commands with strncasecmp
        args = args.strip()
        self.received.append("auth" if cmd == "auth" else line)
        if self.switch.faults.is_silenced(cmd):
            return
        if cmd == "exit":  # answered before authentication too
            self._exit()
            return
        if not self.authed:
            if cmd == "auth":
                self._auth(args)
            else:
                self.reply("-ERR command not found")
            return
        lowered: dict[str, str] = {}
        for name, value in headers:
            lowered.setdefault(name.lower(), value)  # header names are case-insensitive
        handler = {
            "api": self._api,
            "bgapi": self._bgapi,
            "event": self._event,
            "nixevent": self._nixevent,
            "noevents": self._noevents,
            "filter": self._filter,
            "sendmsg": self._sendmsg,
            "myevents": self._myevents,
            "linger": self._linger,
            "nolinger": self._nolinger,
            "log": self._log,
            "nolog": self._nolog,
        }.get(cmd)
        if handler is None:
            self.reply("-ERR command not found")
            return
        self._raw = [("Command", line), *headers]
        handler(args, lowered, body)

    def _auth(self, password: str) -> None:
        if password == self.switch.password:
            self.authed = True
            self.reply("+OK accepted")
        else:
            self.reply("-ERR invalid")
            self.disconnect()

    def _exit(self) -> None:
        self.reply("+OK bye")
        self.disconnect()

    def _api(self, args: str, headers: dict[str, str], body: str) -> None:
        name, _, rest = args.partition(" ")
        self.holding = True
        try:
            result = run_api(self.switch, name, rest.strip())
        finally:
            self._put(wire.api_response(result))
            self.holding = False
            held, self.held = self.held, []
            for event in held:
                self._enqueue(event)

    def _bgapi(self, args: str, headers: dict[str, str], body: str) -> None:
        job = headers.get("job-uuid") or new_uuid()
        self.reply(f"+OK Job-UUID: {job}", [("Job-UUID", job)])
        name, _, rest = args.partition(" ")
        switch = self.switch

        def publish(result: str) -> None:
            event = switch.factory.background_job(job, name, rest.strip(), result)
            delay = switch.faults.job_delay
            if delay > 0:
                gevent.spawn_later(delay, switch.publish, event)
            else:
                switch.publish(event)

        def run() -> None:
            if name == "originate":
                switch.originate(rest.strip(), notify=publish)
            else:
                publish(run_api(switch, name, rest.strip()))

        gevent.spawn(run)

    def _event(self, args: str, headers: dict[str, str], body: str) -> None:
        self.reply(self.sub.event(args))

    def _nixevent(self, args: str, headers: dict[str, str], body: str) -> None:
        self.reply(self.sub.nixevent(args))

    def _noevents(self, args: str, headers: dict[str, str], body: str) -> None:
        answer = self.sub.noevents()
        if answer.startswith("+OK"):
            self.generation += 1  # flush_listener: queued events are dropped
        self.reply(answer)

    def _filter(self, args: str, headers: dict[str, str], body: str) -> None:
        self.reply(self.sub.filter(args))

    def _sendmsg(self, args: str, headers: dict[str, str], body: str) -> None:
        uuid = args or headers.get("session-id") or self.myevents or ""
        call = self.switch.calls.get(uuid)
        if call is None:
            self.reply(f"-ERR invalid session id [{uuid}]")
            return
        # the header names are case-insensitive; the command itself is compared by a
        # case-sensitive hash in switch_ivr_parse_event, so "EXECUTE" does nothing
        kind = headers.get("call-command", "")
        if kind == "hangup":
            call.kill(headers.get("hangup-cause") or "NORMAL_CLEARING")
        elif kind == "execute":
            call.commands.put(
                Command(
                    "execute",
                    app=headers.get("execute-app-name", ""),
                    arg=headers.get("execute-app-arg", body),
                    app_uuid=headers.get("event-uuid", ""),
                    headers=self._raw,
                )
            )
        self.reply("+OK")

    def _myevents(self, args: str, headers: dict[str, str], body: str) -> None:
        words = args.split()
        uuid = words[0] if words else ""
        if uuid not in self.switch.calls:
            self.reply("-ERR invalid uuid")
            return
        self.myevents = uuid
        sub = self.sub
        sub.format = "plain"  # 1.10.12 ignores the requested format (pitfall 3)
        sub.events |= MYEVENTS  # added to any earlier subscription, not ALL (08b)
        sub.listening = True
        self.reply("+OK Events Enabled")

    def _linger(self, args: str, headers: dict[str, str], body: str) -> None:
        if self.myevents is None:
            self.reply("-ERR not controlling a session")
            return
        self.linger = int(args) if args.isdigit() else 600
        self.reply(f"+OK will linger {self.linger} seconds")

    def _nolinger(self, args: str, headers: dict[str, str], body: str) -> None:
        if self.myevents is None:
            self.reply("-ERR not controlling a session")
            return
        self.linger = None
        self.reply("+OK will not linger")

    def _log(self, args: str, headers: dict[str, str], body: str) -> None:
        # the simulator logs only what a dialer cares about (Switch.log)
        level = args.split(" ")[0] if args else "debug"
        number = LOG_LEVELS.get(level.lower()) if not level.isdigit() else int(level)
        if number is None or not 0 <= number <= 7:
            self.reply("-ERR invalid log level")
            return
        self.log_level = number
        self.reply(f"+OK log level {level} [{number}]")

    def _nolog(self, args: str, headers: dict[str, str], body: str) -> None:
        was, self.log_level = self.log_level, None
        self.reply("+OK no longer logging" if was is not None else "-ERR not loging")  # sic

    def log(self, level: int, frame: bytes) -> None:
        if self.log_level is not None and level <= self.log_level and not self.closed:
            self._put(frame)
