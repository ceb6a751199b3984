"""Exceptions raised by the Event Socket adapter.

One base class so callers can catch everything ESL with a single ``except ESLError``; the
subclasses say whether the command may have run (``CommandTimeoutError``,
``ConnectionLostError``: the outcome is unknown, reconcile) or certainly did not
(``NotConnectedError``, ``CommandError``).
"""

from __future__ import annotations


class ESLError(Exception):
    """Base class of every error raised by ``dialer.esl``."""


class ProtocolError(ESLError):
    """The byte stream is not Event Socket framing; the connection cannot be trusted any more."""


class TruncatedFrameError(ProtocolError):
    """The connection ended in the middle of a frame (headers or body)."""


class EventParseError(ESLError):
    """One event body could not be parsed; the stream itself is still in sync."""


class NotConnectedError(ESLError):
    """No live connection: the command was not sent."""


class ConnectError(ESLError):
    """TCP connect, the greeting or authentication did not complete."""


class AuthenticationError(ConnectError):
    """The server answered ``auth`` with something other than ``+OK accepted``."""


class ConnectionLostError(ESLError):
    """The connection ended while a command or job was outstanding: it may or may not have run."""


class CommandTimeoutError(ESLError):
    """No reply (or job result) within the timeout. The command may or may not have run. The
    connection stays up: the late reply is discarded when it comes, so later commands still
    get their own replies. (A write that stalls is different: it closes the connection.)"""


class CommandError(ESLError):
    """The server answered a command with ``-ERR ...`` (the command did not take effect)."""

    def __init__(self, command: str, reply: str) -> None:
        super().__init__(f"{command!r} failed: {reply}")
        self.command = command
        self.reply = reply


class JobFailedError(ESLError):
    """A background job finished with ``-ERR <cause>`` (e.g. an originate that failed)."""

    def __init__(self, job_uuid: str, cause: str) -> None:
        super().__init__(f"job {job_uuid} failed: {cause}")
        self.job_uuid = job_uuid
        self.cause = cause
