"""The simulator's own capacity: originates, finished calls, events and bytes per second it
sustains, so later benchmarks know whether it is their bottleneck.

    .venv/bin/python -m bench.simulator_capacity [--seconds 10] [--senders 2] [--window 200]

The simulator runs alone in a child process (``all-answer``, time scale 0.01, session limits
lifted). Other processes drive it over raw sockets, so the figures are the simulator's, not
a client's: ``--senders`` connections each keep ``--window`` ``bgapi originate`` commands in
flight (``origination_uuid`` = Job-UUID, ``loopback/N/default &park``), and one connection
subscribed with ``event plain ALL`` (``--events``) counts every event and byte. Rates are taken over
``--seconds`` after ``--warmup``. The simulator's CPU use in the window is printed too: near
100% of one core means the figures are its ceiling; well below means the drivers were.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import socket
import subprocess
import sys
import time
import uuid
from multiprocessing.synchronize import Event as MpEvent
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "ClueCon"
CLK_TCK = os.sysconf("SC_CLK_TCK")

EMBEDDED = (
    "import sys, gevent.event; from dialer.simulator import Simulator\n"
    "sim = Simulator(scenario='all-answer', time_scale=float(sys.argv[2]), host='127.0.0.1',"
    " port=int(sys.argv[1]), ledger_path=None, max_sessions=100000,"
    " sessions_per_second=100000)\n"
    "sim.start(); gevent.event.Event().wait()\n"
)


class Reader:
    """A minimal ESL frame reader over a blocking socket: headers, then Content-Length."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""
        self.received = 0

    def _fill(self) -> None:
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError("simulator closed the connection")
        self.received += len(chunk)
        self.buf += chunk

    def frame(self) -> tuple[bytes, bytes]:
        while (end := self.buf.find(b"\n\n")) < 0:
            self._fill()
        head = self.buf[:end]
        start = end + 2
        length = 0
        at = head.find(b"Content-Length: ")
        if at >= 0:
            length = int(head[at + 16 :].split(b"\n", 1)[0])
        while len(self.buf) < start + length:
            self._fill()
        body = self.buf[start : start + length]
        self.buf = self.buf[start + length :]
        return head, body


def connect(port: int, timeout: float = 10.0) -> tuple[socket.socket, Reader]:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    reader = Reader(sock)
    reader.frame()  # auth/request
    sock.sendall(f"auth {PASSWORD}\n\n".encode())
    head, _ = reader.frame()
    if b"+OK" not in head:
        raise RuntimeError(f"auth failed: {head!r}")
    return sock, reader


def originate(number: int) -> bytes:
    attempt = str(uuid.uuid4())
    return (
        f"bgapi originate {{origination_uuid={attempt},ignore_early_media=true}}"
        f"loopback/1555{number:07d}/default &park\nJob-UUID: {attempt}\n\n"
    ).encode()


def sender(port: int, window: int, t0: float, t1: float, stop: MpEvent, out: Any) -> None:
    """Keep ``window`` bgapi commands in flight; count replies accepted inside [t0, t1]."""
    sock, reader = connect(port)
    sent = replied = accepted = refused = 0
    try:
        while not stop.is_set():
            burst = b"".join(originate(sent + i) for i in range(window - (sent - replied)))
            if burst:
                sock.sendall(burst)
                sent += burst.count(b"\n\n")
            head, _ = reader.frame()
            if b"command/reply" not in head:
                continue
            replied += 1
            if t0 <= time.monotonic() <= t1:
                if head.find(b"Reply-Text: +OK Job-UUID") >= 0:
                    accepted += 1
                else:
                    refused += 1
    finally:
        sock.close()
    out.put({"accepted": accepted, "refused": refused})


def listener(port: int, events: str, t0: float, t1: float, ready: MpEvent, out: Any) -> None:
    """``event plain <events>``; count events, bytes, finished calls and jobs in [t0, t1]."""
    sock, reader = connect(port)
    sock.sendall(f"event plain {events}\n\n".encode())
    reader.frame()
    ready.set()
    counts: dict[str, int] = {"events": 0, "bytes": 0, "hangups": 0, "jobs_ok": 0, "jobs_err": 0}
    sock.settimeout(1.0)
    try:
        while (now := time.monotonic()) < t1:
            before = reader.received
            try:
                _, body = reader.frame()
            except TimeoutError:
                continue
            if now < t0:
                continue
            counts["bytes"] += reader.received - before
            counts["events"] += 1
            if body.startswith(b"Event-Name: CHANNEL_HANGUP_COMPLETE\n"):
                # one call = one A leg (ours, outbound); its loopback B leg hangs up too
                counts["hangups"] += b"\nCall-Direction: outbound\n" in body
            elif body.startswith(b"Event-Name: BACKGROUND_JOB\n"):
                ok = body.rfind(b"\n\n+OK ") >= 0
                counts["jobs_ok" if ok else "jobs_err"] += 1
    finally:
        sock.close()
    out.put(counts)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_simulator(port: int, time_scale: float, use_cli: bool) -> subprocess.Popen[bytes]:
    if use_cli:
        command = [
            sys.executable, "-m", "dialer", "simulator", "--listen", f"127.0.0.1:{port}",
            "--scenario", "all-answer", "--time-scale", str(time_scale),
            "--max-sessions", "100000", "--sessions-per-second", "100000",
        ]  # fmt: skip
    else:
        command = [sys.executable, "-c", EMBEDDED, str(port), str(time_scale)]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"simulator exited with {proc.returncode}")
        try:
            sock, _ = connect(port, timeout=1.0)
            sock.close()
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("simulator did not start within 30 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="Measured window.")
    parser.add_argument("--warmup", type=float, default=2.0, help="Not counted.")
    parser.add_argument("--senders", type=int, default=2, help="Originating connections.")
    parser.add_argument("--window", type=int, default=200, help="bgapi in flight per sender.")
    parser.add_argument(
        "--events",
        default="ALL",
        help="What the listener subscribes to, e.g. 'BACKGROUND_JOB CHANNEL_HANGUP_COMPLETE'.",
    )
    parser.add_argument("--time-scale", type=float, default=0.01)
    parser.add_argument(
        "--cli", action="store_true", help="Run `dialer simulator` (logs a line per call)."
    )
    args = parser.parse_args()

    port = free_port()
    sim = start_simulator(port, args.time_scale, args.cli)
    ctx = mp.get_context("fork")
    out = ctx.Queue()
    ready, stop = ctx.Event(), ctx.Event()
    try:
        t0 = time.monotonic() + args.warmup + 0.5
        t1 = t0 + args.seconds
        watcher = ctx.Process(target=listener, args=(port, args.events, t0, t1, ready, out))
        watcher.start()
        if not ready.wait(10):
            raise RuntimeError("event listener did not subscribe")
        senders = [
            ctx.Process(target=sender, args=(port, args.window, t0, t1, stop, out))
            for _ in range(args.senders)
        ]
        for proc in senders:
            proc.start()
        time.sleep(max(0.0, t0 - time.monotonic()))
        cpu0 = cpu_seconds(sim.pid)
        time.sleep(max(0.0, t1 - time.monotonic()))
        cpu1 = cpu_seconds(sim.pid)
        stop.set()
        results = [out.get(timeout=30) for _ in range(args.senders + 1)]
        for proc in [watcher, *senders]:
            proc.join(10)
    finally:
        sim.terminate()
        sim.wait(10)

    total: dict[str, int] = {}
    for result in results:
        for key, value in result.items():
            total[key] = total.get(key, 0) + value
    s = args.seconds
    mode = "`dialer simulator` CLI" if args.cli else "embedded Simulator, no logging"
    print(f"simulator ({mode}), all-answer, time scale {args.time_scale}, child process")
    print(f"drivers: {args.senders} originating connection(s) x {args.window} in flight,")
    print(f"         1 `event plain {args.events}` listener;")
    print(f"         rates over {s:.0f} s after {args.warmup:.0f} s warm-up")
    print(f"originates accepted   : {total['accepted'] / s:9.1f} /s  (bgapi +OK replies)")
    print(f"originates refused    : {total['refused'] / s:9.1f} /s")
    print(f"originate jobs +OK    : {total['jobs_ok'] / s:9.1f} /s  (BACKGROUND_JOB)")
    print(f"originate jobs -ERR   : {total['jobs_err'] / s:9.1f} /s")
    print(
        f"calls completed       : {total['hangups'] / s:9.1f} /s  (A-leg CHANNEL_HANGUP_COMPLETE)"
    )
    print(f"events delivered      : {total['events'] / s:9.1f} /s  (to the one subscriber)")
    print(f"bytes delivered       : {total['bytes'] / s / 1e6:9.2f} MB/s")
    print(f"simulator CPU         : {100 * (cpu1 - cpu0) / s:9.1f} % of one core")


if __name__ == "__main__":
    main()
