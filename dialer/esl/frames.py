"""Incremental Event Socket frame parser: feed bytes, get complete frames. No I/O, no clocks.

A frame is ``Name: value\\n`` header lines, a blank line, then exactly ``Content-Length`` bytes
of body when that header is present (fixtures README, "Framing"). The body is never looked at
here: it is cut by length, so a body can never be mistaken for headers or glued to one
(greenswitch defect (b)), and a truncated frame is reported at EOF instead of read forever
(defect (e)).

Header values are URL-decoded one by one, after the lines were split (greenswitch decoded the
whole text first, so an encoded ``%0A`` in a channel variable became a new header line: defect
(a)). Decoding is ``urllib.parse.unquote`` per value, exactly what a FreeSWITCH ESL consumer
does. It is lossy for one FreeSWITCH quirk: the plain format copies an existing ``%`` followed
by two upper-case hex digits unencoded, so a stored ``50%41off`` arrives as ``50Aoff``; no
client can undo that (use ``event json`` where such values matter).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from urllib.parse import unquote_to_bytes

from dialer.esl.errors import ProtocolError, TruncatedFrameError

# Bounds that real traffic never approaches (outer header blocks are < 300 bytes, the largest
# captured body is ~9 KB); past them the peer is not speaking ESL and we stop buffering.
MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 32 * 1024 * 1024

Header = tuple[str, str]


def decode_value(raw: bytes) -> str:
    """One header value as a FreeSWITCH consumer sees it (``%XX`` decoded, UTF-8)."""
    if b"%" in raw:
        raw = unquote_to_bytes(raw)
    return raw.decode("utf-8", "replace")


def parse_header_lines(block: bytes) -> list[Header]:
    """``Name: value`` lines -> decoded pairs, in order, duplicates kept.

    Raises ``ProtocolError`` for a line without a colon: the peer is out of step with us.
    """
    headers: list[Header] = []
    for line in block.split(b"\n"):
        if not line:
            continue
        # FreeSWITCH writes "Name: value". A name may hold a colon of its own
        # (``variable_nolocal:sip_h_X-Foo: yes``, capture 17) while an event value never holds
        # a raw blank (it is URL-encoded), so the first ": " ends the name. Without one, like
        # libesl, the first ':' does, and any run of blanks after it is skipped.
        name, sep, value = line.partition(b": ")
        if not sep:
            name, sep, value = line.partition(b":")
        if not sep or not name:
            raise ProtocolError(f"not a header line: {line[:80]!r}")
        headers.append((name.decode("utf-8", "replace"), decode_value(value.lstrip(b" \t"))))
    return headers


class HeaderMap(Mapping[str, str]):
    """Read-only headers: lookup returns the first value (as libesl does), ``items_all`` all.

    FreeSWITCH sometimes repeats a header (``Hangup-Cause`` in CHANNEL_HANGUP_COMPLETE,
    ``Unique-ID`` in avmd events), always with the same value in the captures.
    """

    __slots__ = ("_first", "items_all")

    def __init__(self, pairs: Iterable[Header]) -> None:
        self.items_all: tuple[Header, ...] = tuple(pairs)
        first: dict[str, str] = {}
        for name, value in self.items_all:
            first.setdefault(name, value)
        self._first = first

    def __getitem__(self, name: str) -> str:
        return self._first[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._first)

    def __len__(self) -> int:
        return len(self._first)

    def __repr__(self) -> str:
        return f"HeaderMap({self._first!r})"


class Frame:
    """One complete frame: outer headers (decoded) and the raw body bytes."""

    __slots__ = ("body", "headers")

    def __init__(self, headers: Iterable[Header], body: bytes = b"") -> None:
        self.headers = HeaderMap(headers)
        self.body = body

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "")

    def __repr__(self) -> str:
        return f"Frame({self.content_type!r}, {len(self.headers)} headers, {len(self.body)} bytes)"


def _content_length(headers: list[Header]) -> int:
    for name, value in headers:
        if name == "Content-Length":
            if not value.isascii() or not value.isdigit():
                raise ProtocolError(f"bad Content-Length {value!r}")
            length = int(value)
            if length > MAX_BODY_BYTES:
                raise ProtocolError(f"Content-Length {length} exceeds {MAX_BODY_BYTES}")
            return length
    return 0


class FrameParser:
    """Push parser. ``feed`` returns the frames completed by the new bytes; ``close`` at EOF.

    After a ``ProtocolError`` the parser stays failed: the stream has lost its framing and
    the only safe thing is a new connection.
    """

    __slots__ = ("_buf", "_error", "_pending")

    def __init__(self) -> None:
        self._buf = bytearray()
        self._pending: tuple[list[Header], int] | None = None  # headers waiting for a body
        self._error: ProtocolError | None = None

    @property
    def buffered(self) -> int:
        """Bytes received but not yet part of a complete frame."""
        return len(self._buf)

    @property
    def mid_frame(self) -> bool:
        return self._pending is not None or bool(self._buf.strip(b"\n"))

    def feed(self, data: bytes) -> list[Frame]:
        if self._error is not None:
            raise self._error
        self._buf += data
        try:
            return self._drain()
        except ProtocolError as exc:
            self._error = exc
            raise

    def close(self) -> None:
        """End of stream: fine between frames, ``TruncatedFrameError`` in the middle of one."""
        if self._error is None and self.mid_frame:
            if self._pending is not None:
                _, length = self._pending
                what = f"body ({len(self._buf)} of {length} bytes)"
            else:
                what = f"header block ({len(self._buf)} bytes)"
            self._error = TruncatedFrameError(f"connection closed inside a frame's {what}")
        if self._error is not None:
            raise self._error

    def _drain(self) -> list[Frame]:
        buf = self._buf
        frames: list[Frame] = []
        pos = 0
        while True:
            if self._pending is None:
                # Tolerate blank lines between frames (libesl does); they carry nothing.
                while pos < len(buf) and buf[pos] == 0x0A:
                    pos += 1
                end = buf.find(b"\n\n", pos)
                if end < 0:
                    if len(buf) - pos > MAX_HEADER_BYTES:
                        raise ProtocolError(f"no end of headers within {MAX_HEADER_BYTES} bytes")
                    break
                headers = parse_header_lines(bytes(buf[pos:end]))
                self._pending = (headers, _content_length(headers))
                pos = end + 2
            headers, length = self._pending
            if len(buf) - pos < length:
                break
            frames.append(Frame(headers, bytes(buf[pos : pos + length])))
            pos += length
            self._pending = None
        del buf[:pos]
        return frames
