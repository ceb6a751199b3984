"""What we write: commands serialised exactly as the captures show, and their replies.

A command is ``cmd args\\n`` + optional ``Header: value\\n`` lines + ``\\n`` (fixtures README).
A newline in any part would end the command early and let the rest be read as another
command, so every part is checked here, once, for every caller.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from dialer.esl.frames import Frame, HeaderMap

_HEADER_NAME = re.compile(r"[A-Za-z0-9_-]+")
_TOKEN = re.compile(r"[^\s]+")
FORMATS = ("plain", "json")


def _one_line(what: str, value: str) -> str:
    if "\n" in value or "\r" in value:
        raise ValueError(f"{what} must be a single line: {value!r}")
    return value


def serialize(
    line: str,
    headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
    body: str | None = None,
) -> bytes:
    """Bytes for one command; ``body`` (e.g. a multi-line sendmsg argument) goes by length."""
    if not line.strip():
        raise ValueError("empty command")
    parts = [_one_line("command", line)]
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    for name, value in pairs:
        if not _HEADER_NAME.fullmatch(name):
            raise ValueError(f"bad header name {name!r}")
        parts.append(f"{name}: {_one_line(name, value)}")
    raw_body = b""
    if body is not None:
        raw_body = body.encode("utf-8")
        parts.append(f"Content-Length: {len(raw_body)}")
    return ("\n".join(parts) + "\n\n").encode("utf-8") + raw_body


def event_command(fmt: str, names: Iterable[str], subclasses: Iterable[str] = ()) -> str:
    """``event <fmt> NAME ... CUSTOM sub ...``: every word after CUSTOM is read as a subclass
    (fixture 11, conn3), so event names always come first."""
    if fmt not in FORMATS:
        raise ValueError(f"event format must be one of {FORMATS}, not {fmt!r}")
    words = sorted({_token("event name", n) for n in names} - {"CUSTOM"})
    subs = sorted({_token("event subclass", s) for s in subclasses})
    if subs:
        words += ["CUSTOM", *subs]
    if not words:
        raise ValueError("subscribe to at least one event")
    return f"event {fmt} {' '.join(words)}"


def _token(what: str, value: str) -> str:
    if not _TOKEN.fullmatch(value):
        raise ValueError(f"{what} must be one word: {value!r}")
    return value


def filter_command(header: str, value: str, *, delete: bool = False) -> str:
    """``filter Name value`` (the value is the rest of the line and may hold spaces)."""
    if not _HEADER_NAME.fullmatch(header):
        raise ValueError(f"bad filter header name {header!r}")
    verb = "filter delete" if delete else "filter"
    return f"{verb} {header} {_one_line('filter value', value)}".rstrip()


class Reply:
    """A ``command/reply`` (text in ``Reply-Text``) or an ``api/response`` (text in the body)."""

    __slots__ = ("frame",)

    def __init__(self, frame: Frame) -> None:
        self.frame = frame

    @property
    def headers(self) -> HeaderMap:
        return self.frame.headers

    @property
    def text(self) -> str:
        if self.frame.content_type == "command/reply":
            return self.frame.headers.get("Reply-Text", "")
        return self.frame.body.decode("utf-8", "replace")

    @property
    def data(self) -> str:
        """The reply text, under greenswitch's attribute name."""
        return self.text

    @property
    def ok(self) -> bool:
        return self.text.startswith("+OK")

    def __repr__(self) -> str:
        return f"Reply({self.text[:60]!r})"
