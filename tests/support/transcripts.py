"""Reader for the captured FreeSWITCH ESL transcripts in ``tests/data/freeswitch``.

Format (see the fixtures' README): marker lines ``>>> SEND conn=C t=T len=N`` /
``<<< RECV conn=C t=T len=N`` each followed by exactly N bytes and one extra ``\\n``;
``### NOTE ...`` and ``### EOF conn=C t=T`` lines; ``#`` header lines at the top.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_MARKER = re.compile(rb"^(>>> SEND|<<< RECV) conn=(\d+) t=([0-9.]+) len=(\d+)$")
_EOF = re.compile(rb"^### EOF conn=(\d+) t=([0-9.]+)$")


def fixtures_dir() -> Path:
    """``tests/data/freeswitch``: the captures the tests use, kept in the repository."""
    return Path(__file__).resolve().parent.parent / "data" / "freeswitch"


@dataclass(frozen=True)
class Chunk:
    direction: str  # "send" (client -> server) or "recv" (one complete frame server -> client)
    conn: int
    t: float
    data: bytes


@dataclass(frozen=True)
class Transcript:
    name: str
    chunks: tuple[Chunk, ...]
    notes: tuple[str, ...]
    closed_by_server: frozenset[int]

    def sent(self, conn: int | None = None) -> list[Chunk]:
        return [c for c in self.chunks if c.direction == "send" and conn in (None, c.conn)]

    def received(self, conn: int | None = None) -> list[Chunk]:
        return [c for c in self.chunks if c.direction == "recv" and conn in (None, c.conn)]

    def stream(self, conn: int) -> bytes:
        """The exact byte stream connection ``conn`` received."""
        return b"".join(c.data for c in self.received(conn))

    @property
    def connections(self) -> list[int]:
        return sorted({c.conn for c in self.chunks})


def load(name: str) -> Transcript:
    path = fixtures_dir() / name
    raw = path.read_bytes()
    chunks: list[Chunk] = []
    notes: list[str] = []
    closed: set[int] = set()
    pos = 0
    while pos < len(raw):
        end = raw.find(b"\n", pos)
        if end < 0:
            end = len(raw)
        line = raw[pos:end]
        pos = end + 1
        match = _MARKER.match(line)
        if match:
            length = int(match.group(4))
            data = raw[pos : pos + length]
            if len(data) != length:
                raise ValueError(f"{name}: truncated chunk at byte {pos}")
            pos += length + 1  # the separator newline is not traffic
            direction = "send" if match.group(1).startswith(b">>>") else "recv"
            chunks.append(Chunk(direction, int(match.group(2)), float(match.group(3)), data))
            continue
        eof = _EOF.match(line)
        if eof:
            closed.add(int(eof.group(1)))
        elif line.startswith(b"### NOTE"):
            notes.append(line.decode("utf-8", "replace"))
    return Transcript(name, tuple(chunks), tuple(notes), frozenset(closed))


def all_names() -> list[str]:
    return sorted(p.name for p in fixtures_dir().glob("*.txt"))


def split_headers(frame: bytes) -> tuple[list[tuple[str, str]], bytes]:
    """Split one frame into its raw header lines (undecoded) and its body."""
    head, _, body = frame.partition(b"\n\n")
    headers = []
    for line in head.decode("utf-8").split("\n"):
        name, _, value = line.partition(": ")
        headers.append((name, value))
    return headers, body
