"""A recorded Event Socket stream, and a tiny server that replays it to one client over TCP.

The recording is the exact bytes a listener received from the switch (event frames only: the
listener's own command replies are left out), with an index: where each frame starts and ends,
its ``Event-Date-Timestamp`` (the switch's own moment, in simulated time when the switch is the
simulator) and, for the frame that ends one of the recorded attempts (the first
CHANNEL_HANGUP_COMPLETE of its A leg, or its originate's ``-ERR`` job), that attempt's id.

The server runs in a child process of its own (``python -m bench.esl_replay``), so that its
writes do not share a CPU or a GIL with the reader being measured. It greets like FreeSWITCH
(``auth/request``), answers ``auth``, ``event``, ``api show channels as json`` (every recorded
attempt is up: a consumer's first reconcile must not end them), ``bgapi`` (the reply and its
BACKGROUND_JOB) and ``exit``, in the simulator's wire format. After the ``event`` command (or
after the first ``bgapi``: the consumer's reconcile fence) it writes the recording:

- ``fast``: as fast as the reader takes it, in chunks of whole frames;
- ``paced``: each frame at its recorded moment times ``--scale`` after the start (frames that
  are due together go in one write, as a switch that is behind writes them).

It prints ``PORT n`` when listening and, when the client is gone, one JSON line: when the
stream started and finished (``time.monotonic``: one clock for every process of the machine)
and when each attempt's ending frame was written.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from dialer.simulator import wire

STREAM_FILE = "stream.bin"
INDEX_FILE = "index.json"
#: A fast write's size: whole frames up to this many bytes.
CHUNK_BYTES = 1 << 20
#: How long the server waits for the client's handshake, and for it to go after the stream.
CLIENT_TIMEOUT = 300.0


@dataclass(frozen=True)
class FrameIndex:
    start: int
    end: int
    moment_us: int
    #: the attempt this frame ends (its first "channel gone" event), else None
    ends: str | None


@dataclass
class Recording:
    stream: bytes
    frames: list[FrameIndex]
    #: the recorded attempts (lowercase dashed uuids)
    attempts: list[str]
    #: events of the recorded attempts (those the consumer keeps)
    ours: int
    #: simulated seconds between two originates while recording
    dispatch_interval: float

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / STREAM_FILE).write_bytes(self.stream)
        index = {
            "frames": [[f.start, f.end, f.moment_us, f.ends] for f in self.frames],
            "attempts": self.attempts,
            "ours": self.ours,
            "dispatch_interval": self.dispatch_interval,
        }
        (folder / INDEX_FILE).write_text(json.dumps(index), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> Recording:
        index = json.loads((folder / INDEX_FILE).read_text(encoding="utf-8"))
        return cls(
            stream=(folder / STREAM_FILE).read_bytes(),
            frames=[FrameIndex(*row) for row in index["frames"]],
            attempts=list(index["attempts"]),
            ours=int(index["ours"]),
            dispatch_interval=float(index["dispatch_interval"]),
        )


def split_frames(buf: bytes | bytearray, pos: int = 0) -> Iterator[tuple[int, int, int]]:
    """(start, end of headers, end) of every complete frame in ``buf`` from ``pos``: headers up
    to the blank line, then ``Content-Length`` bytes of body (the adapter's own framing)."""
    size = len(buf)
    while pos < size:
        if buf[pos] == 0x0A:  # blank lines between frames carry nothing
            pos += 1
            continue
        head_end = buf.find(b"\n\n", pos)
        if head_end < 0:
            return
        length = 0
        at = buf.find(b"Content-Length: ", pos, head_end)
        if at >= 0:
            line_end = buf.find(b"\n", at, head_end + 1)
            length = int(buf[at + 16 : line_end])
        end = head_end + 2 + length
        if end > size:
            return
        yield pos, head_end, end
        pos = end


# -- the server (child process) ------------------------------------------------------------


class _Session:
    """One client: commands answered by a reader thread, the stream written by the caller."""

    def __init__(self, conn: socket.socket, recording: Recording, start_after: str) -> None:
        self.conn = conn
        self.recording = recording
        self.start_after = start_after
        self.lock = threading.Lock()
        self.go = threading.Event()
        self.gone = threading.Event()
        self.sequence = 0
        channels = [{"uuid": aid} for aid in recording.attempts]
        self.channels = json.dumps({"row_count": len(channels), "rows": channels})

    def send(self, data: bytes | memoryview) -> None:
        with self.lock:
            self.conn.sendall(data)

    def read_commands(self) -> None:
        buf = b""
        try:
            while True:
                while b"\n\n" not in buf:
                    chunk = self.conn.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                raw, _, buf = buf.partition(b"\n\n")
                if not self.answer(raw):
                    return
        except OSError:
            return
        finally:
            self.go.set()  # a client gone before the stream: nothing to wait for
            self.gone.set()

    def answer(self, raw: bytes) -> bool:
        """Reply to one command; False when the client said goodbye."""
        line, headers = wire.split_command(raw)
        verb = line.split(" ", 1)[0].lower()
        if verb == "auth":
            self.send(wire.command_reply("+OK accepted"))
        elif verb == "event":
            fmt = line.split(" ")[1] if " " in line else "plain"
            self.send(wire.command_reply(f"+OK event listener enabled {fmt}"))
            if self.start_after == "event":
                self.go.set()
        elif verb == "api":
            if line.lower() == "api show channels as json":
                self.send(wire.api_response(self.channels))
            else:
                self.send(wire.api_response("-ERR no such command in a replay\n"))
        elif verb == "bgapi":
            job = dict(headers).get("Job-UUID") or "00000000-0000-4000-8000-000000000000"
            self.sequence += 1
            now_us = int(time.time() * 1_000_000)
            event = wire.event_json(
                [
                    ("Event-Name", "BACKGROUND_JOB"),
                    ("Core-UUID", "00000000-0000-4000-8000-0000000000ff"),
                    ("Event-Date-Timestamp", str(now_us)),
                    ("Event-Sequence", str(self.sequence)),
                    ("Job-UUID", job),
                    ("Job-Command", line.split(" ", 2)[1] if line.count(" ") else ""),
                ],
                "+OK\n",
            )
            self.send(wire.command_reply(f"+OK Job-UUID: {job}", [("Job-UUID", job)]) + event)
            if self.start_after == "bgapi":
                self.go.set()
        elif verb == "exit":
            self.send(wire.command_reply("+OK bye") + wire.disconnect_notice())
            return False
        else:
            self.send(wire.command_reply("-ERR command not found"))
        return True

    def stream(self, mode: str, scale: float) -> dict[str, Any]:
        frames = self.recording.frames
        data = memoryview(self.recording.stream)
        written: dict[str, float] = {}
        started = time.monotonic()
        if mode == "fast":
            i = 0
            while i < len(frames):
                j = i + 1
                while j < len(frames) and frames[j].end - frames[i].start <= CHUNK_BYTES:
                    j += 1
                self.send(data[frames[i].start : frames[j - 1].end])
                i = j
        else:
            due = _moments(frames, scale)
            i = 0
            while i < len(frames):
                wait = started + due[i] - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                now = time.monotonic() - started
                j = i + 1
                while j < len(frames) and due[j] <= now:
                    j += 1
                self.send(data[frames[i].start : frames[j - 1].end])
                at = time.monotonic()
                for frame in frames[i:j]:
                    if frame.ends is not None:
                        written.setdefault(frame.ends, at)
                i = j
        return {"started": started, "finished": time.monotonic(), "written": written}


def _moments(frames: list[FrameIndex], scale: float) -> list[float]:
    """Seconds after the start for each frame: its recorded moment times ``scale``, never
    before the frame ahead of it (the order is the recording's)."""
    first = frames[0].moment_us if frames else 0
    out: list[float] = []
    latest = 0.0
    for frame in frames:
        latest = max(latest, (frame.moment_us - first) / 1e6 * scale)
        out.append(latest)
    return out


def serve(folder: Path, mode: str, scale: float, start_after: str, then: str) -> None:
    recording = Recording.load(folder)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(CLIENT_TIMEOUT)
    print(f"PORT {listener.getsockname()[1]}", flush=True)
    conn, _ = listener.accept()
    listener.close()
    conn.settimeout(None)
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    session = _Session(conn, recording, start_after)
    session.send(wire.auth_request())
    reader = threading.Thread(target=session.read_commands, daemon=True)
    reader.start()
    report: dict[str, Any] = {"error": "the client left before the stream"}
    if session.go.wait(CLIENT_TIMEOUT) and not session.gone.is_set():
        try:
            report = session.stream(mode, scale)
        except OSError as exc:
            report = {"error": f"stream cut: {exc}"}
        if then == "close":
            with session.lock, contextlib.suppress(OSError):  # the client may be gone already
                conn.shutdown(socket.SHUT_WR)
        session.gone.wait(CLIENT_TIMEOUT)
    conn.close()
    print(json.dumps(report), flush=True)


# -- the parent's side -----------------------------------------------------------------------


class ReplayServer:
    """The replay server in a child process: ``port`` once it listens, ``report()`` after
    the client has gone."""

    def __init__(
        self,
        folder: Path,
        *,
        mode: str = "fast",
        scale: float = 1.0,
        start_after: str = "event",
        then: str = "close",
    ) -> None:
        argv = [sys.executable, "-m", "bench.esl_replay", str(folder), "--mode", mode]
        argv += ["--scale", repr(scale), "--start-after", start_after, "--then", then]
        self._proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        out = self._stdout()
        line = out.readline()
        if not line.startswith("PORT "):
            self._proc.kill()
            raise RuntimeError(f"the replay server did not start: {line!r}")
        self.port = int(line.split()[1])

    def _stdout(self) -> IO[str]:
        assert self._proc.stdout is not None
        return self._proc.stdout

    def report(self, timeout: float = 60.0) -> dict[str, Any]:
        out, _ = self._proc.communicate(timeout=timeout)
        lines = [line for line in out.splitlines() if line.strip()]
        report: dict[str, Any] = json.loads(lines[-1]) if lines else {"error": "no report"}
        if "error" in report:
            raise RuntimeError(f"replay server: {report['error']}")
        return report

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()

    def __enter__(self) -> ReplayServer:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--mode", choices=("fast", "paced"), default="fast")
    parser.add_argument("--scale", type=float, default=1.0, help="real s per recorded s")
    parser.add_argument("--start-after", choices=("event", "bgapi"), default="event")
    parser.add_argument("--then", choices=("close", "hold"), default="close")
    args = parser.parse_args()
    serve(args.folder, args.mode, args.scale, args.start_after, args.then)


if __name__ == "__main__":
    main()
