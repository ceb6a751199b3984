"""``api`` commands to the node that runs a call, from threads.

The tools webhook runs in an HTTP server's worker threads (uvicorn, asyncio), not in a gevent
hub, so the gevent :class:`dialer.esl.ESLClient` (whose reader and supervisor are greenlets)
cannot serve it: a greenlet only runs while its own thread waits on gevent. This client is
the small blocking counterpart for one-off commands: one authenticated socket per node, kept
open and used by one thread at a time (a lock), framing by :class:`dialer.esl.frames.
FrameParser` and commands by :func:`dialer.esl.commands.serialize`, so what goes on the wire
is exactly what the rest of the product writes. It subscribes to nothing.

A command is never re-sent here: a connection lost after the command was written fails it
(it may have run). A connection found dead *before* writing (the node closed it while idle)
is replaced first, which is safe.
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import threading
from collections.abc import Mapping
from typing import Protocol

from dialer.esl.commands import Reply, serialize
from dialer.esl.errors import AuthenticationError, ConnectError, ConnectionLostError, ESLError
from dialer.esl.frames import Frame, FrameParser
from dialer.fs_nodes import NodeConfig

log = logging.getLogger(__name__)


class SwitchCommands(Protocol):
    """What the owned tools need of a node: one ``api`` command, its reply text."""

    def api(self, node: str, command: str) -> str: ...


class NodeCommandError(ESLError):
    """The node could not be asked (unknown, unreachable, lost the connection)."""


class _Link:
    """One authenticated Event Socket connection to one node."""

    def __init__(self, node: NodeConfig, timeout: float) -> None:
        self.node = node
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._parser = FrameParser()
        self._frames: list[Frame] = []

    def _open(self) -> socket.socket:
        try:
            sock = socket.create_connection((self.node.host, self.node.port), self.timeout)
        except OSError as exc:
            raise ConnectError(f"{self.node.name}: cannot connect: {exc}") from None
        sock.settimeout(self.timeout)
        self._sock, self._parser, self._frames = sock, FrameParser(), []
        try:
            request = self._next()
            if request.content_type != "auth/request":
                raise ConnectError(f"{self.node.name}: expected auth/request, got {request!r}")
            password = self.node.password.get_secret_value()
            reply = Reply(self._exchange(serialize(f"auth {password}")))
            if not reply.ok:
                raise AuthenticationError(f"{self.node.name}: authentication refused")
        except BaseException:
            self.close()
            raise
        return sock

    def _alive(self) -> bool:
        """The idle socket is still open (no EOF, no stray bytes waiting)."""
        sock = self._sock
        if sock is None:
            return False
        try:
            readable, _, _ = select.select([sock], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable  # an idle ESL socket has nothing to read; EOF reads as readable

    def _next(self) -> Frame:
        assert self._sock is not None
        while not self._frames:
            try:
                data = self._sock.recv(65536)
            except TimeoutError:
                raise ConnectionLostError(
                    f"{self.node.name}: no reply in {self.timeout}s"
                ) from None
            except OSError as exc:
                raise ConnectionLostError(f"{self.node.name}: {exc}") from None
            if not data:
                raise ConnectionLostError(f"{self.node.name}: connection closed")
            self._frames.extend(self._parser.feed(data))
        return self._frames.pop(0)

    def _exchange(self, raw: bytes) -> Frame:
        assert self._sock is not None
        try:
            self._sock.sendall(raw)
        except OSError as exc:
            raise ConnectionLostError(f"{self.node.name}: {exc}") from None
        while True:
            frame = self._next()
            if frame.content_type in ("api/response", "command/reply"):
                return frame
            if frame.content_type == "text/disconnect-notice":
                raise ConnectionLostError(f"{self.node.name}: the node disconnected")
            # anything else (a log line) is not ours: this connection subscribes to nothing

    def api(self, command: str) -> str:
        if not self._alive():
            self.close()
            self._open()
        try:
            return Reply(self._exchange(serialize(f"api {command}"))).text
        except BaseException:
            self.close()  # out of step or gone: the next command opens a new connection
            raise

    def close(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
            self._sock = None


class NodeCommands:
    """One kept connection per configured node, opened on first use; thread-safe."""

    def __init__(self, nodes: Mapping[str, NodeConfig], *, timeout: float = 3.0) -> None:
        self._links = {name: _Link(node, timeout) for name, node in nodes.items()}
        self._locks = {name: threading.Lock() for name in nodes}

    @classmethod
    def from_nodes(cls, nodes: list[NodeConfig], *, timeout: float = 3.0) -> NodeCommands:
        return cls({node.name: node for node in nodes}, timeout=timeout)

    def api(self, node: str, command: str) -> str:
        link = self._links.get(node)
        if link is None:
            raise NodeCommandError(f"node {node!r} is not configured (DIALER_FS_NODES)")
        with self._locks[node]:
            try:
                reply = link.api(command)
            except ESLError as exc:
                log.warning("node command failed node=%s command=%s error=%s",
                            node, command.split()[0], exc)
                raise NodeCommandError(str(exc)) from None
        return reply

    def close(self) -> None:
        for name, link in self._links.items():
            with self._locks[name]:
                link.close()
