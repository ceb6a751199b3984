"""A minimal raw ESL test client on gevent sockets (the simulator runs in this process)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import gevent
from gevent import socket

from dialer.simulator import Simulator


class RawClient:
    def __init__(self, address: tuple[str, int], timeout: float = 5.0) -> None:
        self.sock = socket.create_connection(address, timeout=timeout)
        self.buf = b""
        self.timeout = timeout

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def frame(self, timeout: float | None = None) -> bytes:
        """One complete frame (headers, blank line, Content-Length body)."""
        with gevent.Timeout(timeout or self.timeout):
            while b"\n\n" not in self.buf:
                self._fill()
            end = self.buf.index(b"\n\n") + 2
            head = self.buf[:end]
            match = re.search(rb"^Content-Length: (\d+)$", head, re.M)
            total = end + (int(match.group(1)) if match else 0)
            while len(self.buf) < total:
                self._fill()
            frame, self.buf = self.buf[:total], self.buf[total:]
            return frame

    def _fill(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("server closed")
        self.buf += data

    def command(self, cmd: bytes) -> bytes:
        self.send(cmd)
        return self.frame()

    def until(self, predicate: object, timeout: float = 5.0) -> list[bytes]:
        """Frames up to and including the first one for which ``predicate(frame)`` holds."""
        frames: list[bytes] = []
        with gevent.Timeout(timeout):
            while True:
                frame = self.frame(timeout)
                frames.append(frame)
                if predicate(frame):  # type: ignore[operator]
                    return frames

    def closed(self, timeout: float = 2.0) -> bool:
        with gevent.Timeout(timeout, False):
            while True:
                try:
                    data = self.sock.recv(65536)
                except OSError:
                    return True
                if not data:
                    return True
                self.buf += data
        return False

    def close(self) -> None:
        self.sock.close()


def login(address: tuple[str, int], events: bytes | None = b"event plain ALL") -> RawClient:
    client = RawClient(address)
    assert client.frame() == b"Content-Type: auth/request\n\n"
    assert b"+OK accepted" in client.command(b"auth ClueCon\n\n")
    if events:
        assert b"+OK event listener enabled" in client.command(events + b"\n\n")
    return client


def event_name(frame: bytes) -> str | None:
    match = re.search(rb"^Event-Name: (\S+)$", frame, re.M)
    return match.group(1).decode() if match else None


def inner(frame: bytes) -> tuple[list[tuple[str, str]], bytes]:
    """A plain event's inner header lines (raw values) and its body."""
    _, _, payload = frame.partition(b"\n\n")
    head, _, body = payload.partition(b"\n\n")
    headers = []
    for line in head.decode("utf-8").split("\n"):
        name, _, value = line.partition(": ")
        headers.append((name, value))
    if headers and headers[-1][0] == "Content-Length":
        headers.pop()
    return headers, body


@contextmanager
def running(**kwargs: object) -> Iterator[Simulator]:
    kwargs.setdefault("port", 0)
    kwargs.setdefault("seed", 7)
    sim = Simulator(**kwargs)  # type: ignore[arg-type]
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()
