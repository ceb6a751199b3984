"""Typed FreeSWITCH events, parsed from ``text/event-plain`` and ``text/event-json`` frames.

Plain: the frame body is ``Name: url-encoded-value`` lines and a blank line; an event with a
body (BACKGROUND_JOB, ...) ends its headers with its own ``Content-Length: M``, a blank line
and exactly M bytes. JSON: one object, every value a string, the body under ``_body``, no
URL-encoding. Both give the same ``Event`` (fixtures 02 plain/json, 08c).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from dialer.esl.errors import EventParseError, ProtocolError
from dialer.esl.frames import Frame, Header, HeaderMap, parse_header_lines

EVENT_CONTENT_TYPES = frozenset({"text/event-plain", "text/event-json"})
_VARIABLE_PREFIX = "variable_"


class Event:
    """One event. ``headers`` maps a name to its (first) decoded value; ``body`` is text."""

    __slots__ = ("body", "headers", "json_text")

    def __init__(
        self, headers: Iterable[Header] | HeaderMap, body: str = "", json_text: str | None = None
    ) -> None:
        self.headers = headers if isinstance(headers, HeaderMap) else HeaderMap(headers)
        self.body = body
        #: The ``event json`` text it was parsed from, when that text is exactly the headers
        #: and the body (every value a string, no name twice): stored as is, never re-encoded.
        self.json_text = json_text

    @property
    def name(self) -> str:
        return self.headers.get("Event-Name", "")

    @property
    def subclass(self) -> str | None:
        return self.headers.get("Event-Subclass")

    @property
    def key(self) -> str:
        """What handlers are registered under: the subclass for CUSTOM events, else the name."""
        if self.name == "CUSTOM" and self.subclass:
            return self.subclass
        return self.name

    @property
    def variables(self) -> dict[str, str]:
        """Channel variables (``variable_*`` headers) without the prefix."""
        cut = len(_VARIABLE_PREFIX)
        return {k[cut:]: v for k, v in self.headers.items() if k.startswith(_VARIABLE_PREFIX)}

    def variable(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(_VARIABLE_PREFIX + name, default)

    def get(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name, default)

    def __getitem__(self, name: str) -> str:
        return self.headers[name]

    def __contains__(self, name: object) -> bool:
        return name in self.headers

    @property
    def data(self) -> str:
        """The body, under greenswitch's attribute name."""
        return self.body

    @property
    def unique_id(self) -> str | None:
        return self.headers.get("Unique-ID")

    @property
    def job_uuid(self) -> str | None:
        return self.headers.get("Job-UUID")

    @property
    def core_uuid(self) -> str | None:
        return self.headers.get("Core-UUID")

    @property
    def sequence(self) -> int | None:
        """``Event-Sequence``: monotonic per FreeSWITCH process (dedup key with Core-UUID)."""
        return _int_or_none(self.headers.get("Event-Sequence"))

    @property
    def timestamp_us(self) -> int | None:
        """``Event-Date-Timestamp``: microseconds since the epoch."""
        return _int_or_none(self.headers.get("Event-Date-Timestamp"))

    @property
    def timestamp(self) -> datetime | None:
        micros = self.timestamp_us
        if micros is None:
            return None
        return datetime.fromtimestamp(micros / 1_000_000, tz=UTC)

    def __repr__(self) -> str:
        return f"Event({self.key!r}, uuid={self.unique_id!r}, seq={self.sequence!r})"


def _int_or_none(value: str | None) -> int | None:
    if value is None or not value.isascii() or not value.strip().lstrip("-").isdigit():
        return None
    return int(value)


def parse_event(frame: Frame) -> Event:
    """An event frame -> ``Event``. Raises ``EventParseError``; the stream stays usable."""
    content_type = frame.content_type
    if content_type == "text/event-plain":
        return parse_plain(frame.body)
    if content_type == "text/event-json":
        return parse_json(frame.body)
    raise EventParseError(f"not an event frame: {content_type!r}")


def parse_plain(body: bytes) -> Event:
    head, blank, rest = body.partition(b"\n\n")
    try:
        headers = parse_header_lines(head)
    except ProtocolError as exc:
        raise EventParseError(str(exc)) from exc
    if not headers:
        raise EventParseError("event without headers")
    event_body = b""
    length = next((v for k, v in headers if k == "Content-Length"), None)
    if length is not None:
        if not length.isascii() or not length.isdigit():
            raise EventParseError(f"bad inner Content-Length {length!r}")
        if not blank or len(rest) < int(length):
            raise EventParseError(f"event body shorter than its Content-Length {length}")
        event_body = rest[: int(length)]
    return Event(headers, event_body.decode("utf-8", "replace"))


def parse_json(body: bytes) -> Event:
    try:
        text = body.decode("utf-8")
        pairs = json.loads(text, object_pairs_hook=_pairs)
    except (ValueError, RecursionError) as exc:
        raise EventParseError(f"bad JSON event: {exc}") from exc
    if not isinstance(pairs, _Pairs):
        raise EventParseError("JSON event is not an object")
    headers: list[Header] = []
    event_body = ""
    exact = True  # the text says exactly what the Event holds
    for name, value in pairs:
        if type(value) is not str:
            exact = False
            value = _as_text(value)
        if name == "_body":
            exact = exact and bool(value) and not event_body  # empty: no body; twice: which?
            event_body = value
        else:
            headers.append((name, value))
    if not headers:
        raise EventParseError("event without headers")
    header_map = HeaderMap(headers)
    exact = exact and len(header_map) == len(headers)
    return Event(header_map, event_body, text if exact else None)


class _Pairs(list[tuple[str, Any]]):
    """Marks a decoded JSON object (keeps order and duplicate keys, like the plain format)."""


def _pairs(items: list[tuple[str, Any]]) -> _Pairs:
    return _Pairs(items)


def _as_text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, _Pairs):
        return json.dumps(dict(value))
    if isinstance(value, list):
        # FreeSWITCH serialises array headers as JSON arrays; plain gives "ARRAY::a|:b".
        return "ARRAY::" + "|:".join(_as_text(v) for v in value)
    if value is None:
        return ""
    return json.dumps(value)


def event_from_mapping(headers: Mapping[str, str], body: str = "") -> Event:
    """Build an event by hand (tests, synthetic notices)."""
    return Event(list(headers.items()), body)
