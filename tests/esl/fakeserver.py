"""A tiny scripted FreeSWITCH for adapter tests: real TCP, replies shaped like the captures,
and the same fault switches as ``dialer.simulator`` (drop, stall, garbage, truncated frame,
refused originates) plus ``emit``/``send_raw`` to push exact bytes.

It runs in the test's gevent hub (``gevent.server.StreamServer``), so it needs no threads.
"""

from __future__ import annotations

import itertools
import json
import re
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType

import gevent
import gevent.server
import gevent.socket

from tests.support import transcripts

Pairs = Sequence[tuple[str, str]]
_ESCAPED = frozenset(b' \r\n#%&+:;<=>?@[\\]^`{|}"')
_UPPER_HEX = frozenset(b"0123456789ABCDEF")
TRUNCATED = b"Content-Length: 500\nContent-Type: text/event-plain\n\nEvent-Name: HEARTBEAT\n"
GOODBYE = b"Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"
CORE_UUID = "da8d1b3e-5f5a-4d4f-a402-b1c537a30ea1"


def fs_url_encode(value: str) -> str:
    """FreeSWITCH's plain-format value encoding, with its ``%XX`` pass-through quirk."""
    raw = value.encode("utf-8")
    out = []
    for i, byte in enumerate(raw):
        if byte == 0x25 and set(raw[i + 1 : i + 3]) <= _UPPER_HEX and len(raw) > i + 2:
            out.append("%")
            continue
        if byte < 0x20 or byte > 0x7E or byte in _ESCAPED:
            out.append(f"%{byte:02X}")
        else:
            out.append(chr(byte))
    return "".join(out)


def plain_frame(pairs: Pairs, body: str | None = None) -> bytes:
    text = "".join(f"{k}: {fs_url_encode(v)}\n" for k, v in pairs)
    if body is not None:
        text += f"Content-Length: {len(body.encode())}\n\n{body}"
    else:
        text += "\n"
    inner = text.encode()
    return b"Content-Length: %d\nContent-Type: text/event-plain\n\n" % len(inner) + inner


def json_frame(pairs: Pairs, body: str | None = None) -> bytes:
    obj = dict(pairs)
    if body is not None:
        obj["Content-Length"] = str(len(body.encode()))
        obj["_body"] = body
    inner = json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()
    return b"Content-Length: %d\nContent-Type: text/event-json\n\n" % len(inner) + inner


def reply(text: str, *extra: tuple[str, str]) -> bytes:
    lines = [f"Content-Type: command/reply\nReply-Text: {text}\n"]
    lines += [f"{k}: {v}\n" for k, v in extra]
    return ("".join(lines) + "\n").encode()


def api_response(body: str) -> bytes:
    raw = body.encode()
    return b"Content-Type: api/response\nContent-Length: %d\n\n" % len(raw) + raw


def _status_text() -> str:
    for chunk in transcripts.load("08a_api_bgapi_commands.txt").received():
        if chunk.data.startswith(b"Content-Type: api/response") and b"session(s) max" in chunk.data:
            return chunk.data.partition(b"\n\n")[2].decode()
    raise AssertionError("no status reply in 08a")


@dataclass
class FakeConn:
    sock: gevent.socket.socket
    index: int
    authed: bool = False
    fmt: str = "plain"
    events: set[str] = field(default_factory=set)
    subclasses: set[str] = field(default_factory=set)
    filters: list[tuple[str, str]] = field(default_factory=list)
    commands: list[bytes] = field(default_factory=list)
    closed: bool = False

    def write(self, data: bytes) -> None:
        if not self.closed:
            try:
                self.sock.sendall(data)
            except OSError:
                self.closed = True

    def wants(self, pairs: Pairs) -> bool:
        headers = dict(pairs)
        name = headers.get("Event-Name", "")
        if name == "CUSTOM":
            ok = "ALL" in self.events or headers.get("Event-Subclass") in self.subclasses
        else:
            ok = "ALL" in self.events or name in self.events
        if ok and self.filters:
            ok = any(headers.get(h) == v for h, v in self.filters)
        return ok


class FakeFreeSWITCH:
    def __init__(self, password: str = "ClueCon", *, greet: bool = True) -> None:
        self.password = password
        self.greet = greet
        self.conns: list[FakeConn] = []
        self.api_replies: dict[str, str | Callable[[str], str]] = {"status": _status_text()}
        self.job_delay = 0.0
        self.refuse_cause: str | None = None
        self.stall_until = 0.0
        self.event_delay = 0.0
        self.silent_commands: set[str] = set()  # first words the server never answers
        self._seq = itertools.count(1000)
        self._server = gevent.server.StreamServer(("127.0.0.1", 0), self._handle)

    # -- lifecycle
    def start(self) -> tuple[str, int]:
        self._server.start()
        return "127.0.0.1", self._server.server_port

    def stop(self) -> None:
        self.drop_connections()
        self._server.stop(timeout=1)

    def __enter__(self) -> FakeFreeSWITCH:
        self.start()
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def address(self) -> tuple[str, int]:
        return "127.0.0.1", self._server.server_port

    def live(self) -> list[FakeConn]:
        return [c for c in self.conns if not c.closed]

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 3.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError("condition not met in time")
            gevent.sleep(0.005)

    # -- faults (same names as dialer.simulator's Faults)
    def drop_connections(self) -> None:
        for conn in self.live():
            conn.closed = True
            conn.sock.close()

    def stall(self, seconds: float) -> None:
        self.stall_until = time.monotonic() + seconds

    def delay_events(self, seconds: float) -> None:
        self.event_delay = seconds

    def send_garbage(self, data: bytes) -> None:
        for conn in self.live():
            conn.write(data)

    def send_raw(self, data: bytes, *, close: bool = False) -> None:
        for conn in self.live():
            conn.write(data)
            if close:
                conn.closed = True
                conn.sock.close()

    def send_truncated_frame(self) -> None:
        self.send_raw(TRUNCATED, close=True)

    def refuse_originates(self, cause: str | None = "DESTINATION_OUT_OF_ORDER") -> None:
        self.refuse_cause = cause

    def clear(self) -> None:
        self.stall_until = 0.0
        self.event_delay = 0.0
        self.refuse_cause = None
        self.silent_commands.clear()

    # -- events
    def event_pairs(self, name: str, *extra: tuple[str, str]) -> list[tuple[str, str]]:
        return [
            ("Event-Name", name),
            ("Core-UUID", CORE_UUID),
            ("Event-Date-Timestamp", str(int(time.time() * 1e6))),
            ("Event-Sequence", str(next(self._seq))),
            *extra,
        ]

    def emit(self, pairs: Pairs, body: str | None = None) -> None:
        """Deliver an event to every connection whose subscription wants it."""
        for conn in self.live():
            if conn.authed and conn.wants(pairs):
                frame = (plain_frame if conn.fmt == "plain" else json_frame)(pairs, body)
                if self.event_delay:
                    gevent.spawn_later(self.event_delay, conn.write, frame)
                else:
                    conn.write(frame)

    # -- protocol
    def _handle(self, sock: gevent.socket.socket, _addr: object) -> None:
        conn = FakeConn(sock, len(self.conns))
        self.conns.append(conn)
        if self.greet:
            conn.write(b"Content-Type: auth/request\n\n")
        buf = b""
        try:
            while not conn.closed:
                data = sock.recv(65536)
                if not data:
                    break
                buf += data
                while b"\n\n" in buf and not conn.closed:
                    raw, buf = buf.split(b"\n\n", 1)
                    while time.monotonic() < self.stall_until:
                        gevent.sleep(0.005)
                    conn.commands.append(raw)
                    self._command(conn, raw.decode())
        except OSError:
            pass
        finally:
            conn.closed = True
            sock.close()

    def _command(self, conn: FakeConn, raw: str) -> None:
        line, *header_lines = raw.split("\n")
        headers = dict(h.split(": ", 1) for h in header_lines if ": " in h)
        word, _, rest = line.partition(" ")
        if word in self.silent_commands:
            return
        if not conn.authed:
            if word == "auth" and rest == self.password:
                conn.authed = True
                conn.write(reply("+OK accepted"))
            elif word == "auth":
                conn.write(reply("-ERR invalid"))
                conn.write(
                    b"Content-Type: text/disconnect-notice\nContent-Length: 67\n\n" + GOODBYE
                )
                conn.closed = True
                conn.sock.close()
            else:
                conn.write(reply("-ERR command not found"))
            return
        if word == "event":
            fmt, *names = rest.split()
            conn.fmt = fmt
            if "CUSTOM" in names:
                at = names.index("CUSTOM")
                conn.subclasses.update(names[at + 1 :])
                names = names[:at]
            conn.events.update(names)
            conn.write(reply(f"+OK event listener enabled {fmt}"))
        elif word == "nixevent":
            conn.events.difference_update(rest.split())
            conn.write(reply("+OK events nixed"))
        elif word == "noevents":
            conn.events.clear()
            conn.subclasses.clear()
            conn.write(reply("+OK no longer listening for events"))
        elif word == "filter":
            if rest.startswith("delete "):
                h, _, v = rest[7:].partition(" ")
                if (h, v) in conn.filters:
                    conn.filters.remove((h, v))
                conn.write(reply(f"+OK filter deleted. [{h}][{v}]"))
            else:
                h, _, v = rest.partition(" ")
                conn.filters.append((h, v))
                conn.write(reply(f"+OK filter added. [{h}]=[{v}]"))
        elif word == "api":
            conn.write(api_response(self._api(rest)))
        elif word == "bgapi":
            job = headers.get("Job-UUID") or str(uuid.uuid4())
            conn.write(reply(f"+OK Job-UUID: {job}", ("Job-UUID", job)))
            gevent.spawn_later(self.job_delay, self._finish_job, job, rest)
        elif word == "sendmsg":
            conn.write(reply("+OK"))
        elif word == "exit":
            conn.write(reply("+OK bye"))
            conn.write(b"Content-Type: text/disconnect-notice\nContent-Length: 67\n\n" + GOODBYE)
            conn.closed = True
            conn.sock.close()
        else:
            conn.write(reply("-ERR command not found"))

    def _api(self, rest: str) -> str:
        word, _, arg = rest.partition(" ")
        answer = self.api_replies.get(word)
        if answer is None:
            return f"-ERR {word} Command not found!\n"
        return answer(arg) if callable(answer) else answer

    def _finish_job(self, job: str, command: str) -> None:
        if command.startswith("originate "):
            match = re.search(r"origination_uuid=([0-9a-f-]+)", command)
            target = match.group(1) if match else str(uuid.uuid4())
            body = f"-ERR {self.refuse_cause}\n" if self.refuse_cause else f"+OK {target}\n"
        else:
            body = self._api(command)
        word = command.split(" ", 1)[0]
        pairs = self.event_pairs(
            "BACKGROUND_JOB",
            ("Job-UUID", job),
            ("Job-Command", word),
            ("Job-Command-Arg", command[len(word) + 1 :]),
        )
        self.emit(pairs, body)
