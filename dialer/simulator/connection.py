"""One Event Socket client connection: authentication, commands, subscriptions, delivery.

Like mod_event_socket, replies and events leave through one ordered stream, and a blocking
``api`` holds the connection's events until its response is written (fixture 03b).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import struct
from typing import TYPE_CHECKING

import gevent
from gevent.queue import Queue

from dialer.simulator import wire
from dialer.simulator.api import run_api
from dialer.simulator.call import Command
from dialer.simulator.channel import new_uuid
from dialer.simulator.events import Event

if TYPE_CHECKING:
    from dialer.simulator.server import Switch

log = logging.getLogger("dialer.simulator")

_CLOSE = b""  # writer sentinel: close the socket after what is queued
MAX_COMMAND = 1 << 20
FORMATS = ("plain", "json", "xml")
KNOWN_EVENTS = frozenset(
    {
        "CUSTOM",
        "CLONE",
        "CHANNEL_CREATE",
        "CHANNEL_DESTROY",
        "CHANNEL_STATE",
        "CHANNEL_CALLSTATE",
        "CHANNEL_ANSWER",
        "CHANNEL_HANGUP",
        "CHANNEL_HANGUP_COMPLETE",
        "CHANNEL_EXECUTE",
        "CHANNEL_EXECUTE_COMPLETE",
        "CHANNEL_HOLD",
        "CHANNEL_UNHOLD",
        "CHANNEL_BRIDGE",
        "CHANNEL_UNBRIDGE",
        "CHANNEL_PROGRESS",
        "CHANNEL_PROGRESS_MEDIA",
        "CHANNEL_OUTGOING",
        "CHANNEL_PARK",
        "CHANNEL_UNPARK",
        "CHANNEL_APPLICATION",
        "CHANNEL_ORIGINATE",
        "CHANNEL_UUID",
        "API",
        "LOG",
        "INBOUND_CHAN",
        "OUTBOUND_CHAN",
        "STARTUP",
        "SHUTDOWN",
        "PUBLISH",
        "UNPUBLISH",
        "TALK",
        "NOTALK",
        "SESSION_CRASH",
        "MODULE_LOAD",
        "MODULE_UNLOAD",
        "DTMF",
        "MESSAGE",
        "PRESENCE_IN",
        "NOTIFY_IN",
        "PRESENCE_OUT",
        "PRESENCE_PROBE",
        "MESSAGE_WAITING",
        "MESSAGE_QUERY",
        "ROSTER",
        "CODEC",
        "BACKGROUND_JOB",
        "DETECTED_SPEECH",
        "DETECTED_TONE",
        "PRIVATE_COMMAND",
        "HEARTBEAT",
        "TRAP",
        "ADD_SCHEDULE",
        "DEL_SCHEDULE",
        "EXE_SCHEDULE",
        "RE_SCHEDULE",
        "RELOADXML",
        "NOTIFY",
        "PHONE_FEATURE",
        "PHONE_FEATURE_SUBSCRIBE",
        "SEND_MESSAGE",
        "RECV_MESSAGE",
        "REQUEST_PARAMS",
        "CHANNEL_DATA",
        "GENERAL",
        "COMMAND",
        "SESSION_HEARTBEAT",
        "CLIENT_DISCONNECTED",
        "SERVER_DISCONNECTED",
        "SEND_INFO",
        "RECV_INFO",
        "RECV_RTCP_MESSAGE",
        "SEND_RTCP_MESSAGE",
        "CALL_SECURE",
        "NAT",
        "RECORD_START",
        "RECORD_STOP",
        "PLAYBACK_START",
        "PLAYBACK_STOP",
        "CALL_UPDATE",
        "FAILURE",
        "SOCKET_DATA",
        "MEDIA_BUG_START",
        "MEDIA_BUG_STOP",
        "CONFERENCE_DATA_QUERY",
        "CONFERENCE_DATA",
        "CALL_SETUP_REQ",
        "CALL_SETUP_RESULT",
        "CALL_DETAIL",
        "DEVICE_STATE",
        "TEXT",
        "SHUTDOWN_REQUESTED",
        "ALL",
    }
)


# mod_event_socket's ``myevents`` adds exactly these to the listener's event list
MYEVENTS = frozenset(
    {
        "CHANNEL_ANSWER",
        "CHANNEL_APPLICATION",
        "CHANNEL_BRIDGE",
        "CHANNEL_CREATE",
        "CHANNEL_DATA",
        "CHANNEL_DESTROY",
        "CHANNEL_EXECUTE",
        "CHANNEL_EXECUTE_COMPLETE",
        "CHANNEL_HANGUP",
        "CHANNEL_HANGUP_COMPLETE",
        "CHANNEL_ORIGINATE",
        "CHANNEL_UUID",
        "CHANNEL_OUTGOING",
        "CHANNEL_PARK",
        "CHANNEL_PROGRESS",
        "CHANNEL_PROGRESS_MEDIA",
        "CHANNEL_STATE",
        "CHANNEL_UNBRIDGE",
        "CHANNEL_UNPARK",
        "DETECTED_SPEECH",
        "DTMF",
        "NOTALK",
        "TALK",
    }
)


class Connection:
    def __init__(self, switch: Switch, sock: socket.socket, address: tuple[str, int]) -> None:
        self.switch = switch
        self.sock = sock
        self.address = address
        self.authed = False
        self.format: str | None = None
        self.all_events = False
        self.events: set[str] = set()
        self.subclasses: set[str] = set()
        self.filters: list[tuple[str, str]] = []
        self.myevents: str | None = None
        self.linger: int | None = None
        self.session_done = False  # the controlled session's HANGUP_COMPLETE went out
        self.out: Queue[bytes] = Queue()
        self.holding = False
        self.held: list[Event] = []
        self.closed = False

    # --- lifecycle -----------------------------------------------------------------------

    def serve(self) -> None:
        if not self.switch.allowed(self.address[0]):
            self._send_now(wire.rude_rejection())
            self._close_socket()
            return
        writer = gevent.spawn(self._writer)
        self.switch.connections.add(self)
        try:
            self.out.put(wire.auth_request())
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
                data = self.sock.recv(65536)
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
            data = self.out.get()
            stall = self.switch.faults.stall_remaining()
            if stall:
                gevent.sleep(stall)
            if data is _CLOSE or data == _CLOSE:
                self._close_socket()
                return
            if not self._send_now(data):
                return

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
        self.out.put(wire.command_reply(text, extra))

    def disconnect(self, extra: wire.Headers = ()) -> None:
        self.out.put(wire.disconnect_notice(extra))
        self.out.put(_CLOSE)
        self.closed = True

    # --- faults --------------------------------------------------------------------------

    def fault_drop(self) -> None:
        self.closed = True
        with contextlib.suppress(OSError):  # linger 0: RST, like a crashed peer
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self._close_socket()

    def fault_raw(self, data: bytes, close: bool) -> None:
        self.out.put(data)
        if close:
            self.out.put(_CLOSE)
            self.closed = True

    # --- events --------------------------------------------------------------------------

    def wants(self, event: Event) -> bool:
        if self.format is None or self.closed:
            return False
        if self.myevents is not None and (
            self.session_done or event.get("Unique-ID") != self.myevents
        ):
            # The listener holds the session until it leaves, so that channel's
            # CHANNEL_DESTROY comes too late for it (08b conn 3: nothing after
            # CHANNEL_HANGUP_COMPLETE but the final disconnect).
            return False
        if not self.all_events:
            if event.name not in self.events:
                return False
            if event.name == "CUSTOM" and event.subclass not in self.subclasses:
                return False
        if self.filters:
            return any(event.get(h) == v for h, v in self.filters)
        return True

    def deliver(self, event: Event) -> None:
        if not self.wants(event):
            return
        if self.holding:
            self.held.append(event)
            return
        self.out.put(event.json() if self.format == "json" else event.plain())
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
        self.out.put(
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
        cmd, _, args = first.strip().partition(" ")
        args = args.strip()
        if not self.authed:
            if cmd == "auth":
                self._auth(args)
            else:
                self.reply("-ERR command not found")
            return
        handler = {
            "api": self._api,
            "bgapi": self._bgapi,
            "event": self._event,
            "nixevent": self._nixevent,
            "noevents": self._noevents,
            "filter": self._filter,
            "sendmsg": self._sendmsg,
            "exit": self._exit,
            "myevents": self._myevents,
            "linger": self._linger,
            "nolinger": self._nolinger,
        }.get(cmd)
        if handler is None:
            self.reply("-ERR command not found")
            return
        handler(args, dict(headers), body)

    def _auth(self, password: str) -> None:
        if password == self.switch.password:
            self.authed = True
            self.reply("+OK accepted")
        else:
            self.reply("-ERR invalid")
            self.disconnect()

    def _exit(self, args: str, headers: dict[str, str], body: str) -> None:
        self.reply("+OK bye")
        self.disconnect()

    def _api(self, args: str, headers: dict[str, str], body: str) -> None:
        name, _, rest = args.partition(" ")
        self.holding = True
        try:
            result = run_api(self.switch, name, rest.strip())
        finally:
            self.out.put(wire.api_response(result))
            self.holding = False
            held, self.held = self.held, []
            for event in held:
                self.deliver(event)

    def _bgapi(self, args: str, headers: dict[str, str], body: str) -> None:
        job = headers.get("Job-UUID") or new_uuid()
        self.reply(f"+OK Job-UUID: {job}", [("Job-UUID", job)])
        name, _, rest = args.partition(" ")

        def publish(result: str) -> None:
            self.switch.publish(self.switch.factory.background_job(job, name, rest.strip(), result))

        def run() -> None:
            if name == "originate":
                self.switch.originate(rest.strip(), notify=publish)
            else:
                publish(run_api(self.switch, name, rest.strip()))

        gevent.spawn(run)

    def _event(self, args: str, headers: dict[str, str], body: str) -> None:
        words = args.split()
        fmt = "plain"
        if words and words[0] in FORMATS:
            fmt = words.pop(0)
        custom = False
        for word in words:
            if custom:
                self.subclasses.add(word)  # every word after CUSTOM is a subclass
            elif word == "CUSTOM":
                custom = True
                self.events.add(word)
            elif word == "ALL":
                self.all_events = True
            elif word in KNOWN_EVENTS:
                self.events.add(word)
        self.format = fmt
        self.reply(f"+OK event listener enabled {fmt}")

    def _nixevent(self, args: str, headers: dict[str, str], body: str) -> None:
        custom = False
        for word in args.split():
            if custom:
                self.subclasses.discard(word)
            elif word == "CUSTOM":
                custom = True
            elif word == "ALL":
                self.all_events = False
                self.events.clear()
                self.subclasses.clear()
            else:
                self.events.discard(word)
        self.reply("+OK events nixed")

    def _noevents(self, args: str, headers: dict[str, str], body: str) -> None:
        self.format = None
        self.all_events = False
        self.events.clear()
        self.subclasses.clear()
        self.reply("+OK no longer listening for events")

    def _filter(self, args: str, headers: dict[str, str], body: str) -> None:
        words = args.split(" ", 1)
        if words[0] == "delete":
            rest = words[1] if len(words) > 1 else ""
            header, _, value = rest.partition(" ")
            if header == "all":
                self.filters.clear()
                self.reply("+OK filter deleted.")
                return
            self.filters = [
                f for f in self.filters if not (f[0] == header and (not value or f[1] == value))
            ]
            self.reply(f"+OK filter deleted. [{header}][{value}]")
            return
        header, _, value = args.partition(" ")
        if not header or not value:
            self.reply("-ERR invalid syntax")
            return
        self.filters.append((header, value))
        self.reply(f"+OK filter added. [{header}]=[{value}]")

    def _sendmsg(self, args: str, headers: dict[str, str], body: str) -> None:
        uuid = args or self.myevents or ""
        call = self.switch.calls.get(uuid)
        if call is None:
            self.reply(f"-ERR invalid session id [{uuid}]")
            return
        kind = headers.get("call-command", "")
        if kind == "hangup":
            call.kill(headers.get("hangup-cause") or "NORMAL_CLEARING")
        elif kind == "execute":
            call.commands.put(
                Command(
                    "execute",
                    app=headers.get("execute-app-name", ""),
                    arg=headers.get("execute-app-arg", body),
                    app_uuid=headers.get("Event-UUID", ""),
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
        self.format = "plain"  # 1.10.12 ignores the requested format (pitfall 3)
        self.events |= MYEVENTS  # added to any earlier subscription, not ALL (08b)
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
