"""The event consumer fed a recorded switch stream over TCP: events per second against readers
that do less with the same bytes in the same run, and event-to-record lag at a dispatch rate.

    .venv/bin/python -m bench.consumer_replay [--calls 2000] [--cps 1000] [--profile FILE]

**Recording.** The simulator (its own process, ``realistic`` scenario, time scale 0.01) runs
``--calls`` calls of a press-1 campaign (AMD with voicemail, IVR, 1 → the queue, 9 → opt-out)
sent with the worker's own originate and flow variables. A listener subscribed exactly as the
consumer is (``event json``, its events and CUSTOM subclasses, BACKGROUND_JOB, HEARTBEAT) keeps
the bytes it receives: every event frame, B legs and agents' legs included, as the switch wrote
them (``bench.esl_replay``).

**Events/s.** The recording is written by a replay server in a child process, as fast as the
reader takes it, after the ESL handshake, to:

- a raw reader: reads the socket to EOF, counts bytes (the floor: it does nothing);
- the ESL parser alone: ``dialer.esl`` frames and events from the same socket, no database;
- the ESL client alone: ``ESLClient`` dispatching every event to a handler that picks ours;
- the consumer (``Consumer``, PostgreSQL scratch database with the recorded attempts created
  ``originating`` with their leases held in Redis), until every attempt is ended (its commit,
  seen through ``Consumer.on_batch``).

The time is from the server's first write to EOF / the last event / the last end committed.

**Lag.** A second scratch database, the same attempts; the server writes each frame at its
recorded moment, time-scaled so that the calls start ``--cps`` apart. For each attempt: from
the write of the frame that ends it (its CHANNEL_HANGUP_COMPLETE, or an originate's ``-ERR``
job) to the commit of its end. The default cps is ``bench.stack_rate``'s campaign rate.

The process is monkey-patched as ``dialer consumer`` is (``dialer.cli``): while the writer waits
for PostgreSQL or Redis, the reader goes on reading.
"""

# ruff: noqa: E402  (the patch comes before anything imports socket, select or threading)
from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import gevent
import gevent.event
import gevent.socket
import redis
import sqlalchemy as sa
from prometheus_client import REGISTRY
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from bench.consumer_batch import RETRIES
from bench.esl_replay import FrameIndex, Recording, ReplayServer, split_frames
from bench.scratch_db import scratch_database
from bench.simulator_capacity import free_port
from dialer.campaigns import parse_config
from dialer.cli.context import fail
from dialer.clock import RealClock
from dialer.consumer.service import (
    BATCH_WAIT,
    CHANNEL_EVENTS,
    CUSTOM_SUBCLASSES,
    Consumer,
    attempt_of,
    channel_gone,
)
from dialer.consumer.store import BatchResult
from dialer.db.engine import make_engine
from dialer.db.migrate import upgrade
from dialer.db.models import (
    CallAttempt,
    CallEvent,
    Campaign,
    CampaignRecipient,
    ContactList,
    Recipient,
)
from dialer.esl import DialTemplate, ESLClient, build_originate
from dialer.esl.commands import event_command
from dialer.esl.events import Event, parse_event
from dialer.esl.frames import Frame, FrameParser, parse_header_lines
from dialer.flow import contract as flow_contract
from dialer.flow import flow_variables
from dialer.fs_nodes import NodeConfig
from dialer.leases import Granted, Scope
from dialer.leases.redis import RedisLeases
from dialer.lifecycle import COMPLETED

PASSWORD = "ClueCon"
REDIS_URL = os.environ.get("DIALER_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
SCOPE = Scope("node", "fs1", None)
#: bench.stack_rate's campaign cps: the engine benchmark's dispatch rate.
STACK_RATE_CPS = 1000.0
#: The recording: simulated time runs 100x, calls are sent this many per real second.
RECORD_TIME_SCALE = 0.01
RECORD_RATE = 200.0
#: What comes after a call's hangup (member-queue-end) still belongs in the recording.
RECORD_TAIL = 0.5
CAMPAIGNS = 4
LOOPBACK = DialTemplate("loopback/{number}/default")
CAMPAIGN = {
    "name": "replay",
    "type": "press1",
    "lists": ["replay"],
    "caller_id": {"number": "+12125550100"},
    "pacing": {"max_channels": 100_000, "cps": 1000},
    "amd": {"enabled": True, "on_machine": "voicemail", "voicemail_message": "vm.wav"},
    "message": "offer.wav",
    "ivr": {
        "digits": "19",
        "tries": 2,
        "timeout": 5,
        "actions": {"1": {"queue": "sales"}, "9": "opt_out"},
    },
    "queues": {"sales": {"name": "Sales", "target": "dialer_q@default", "max_wait": 120}},
    "ring_timeout": 30,
    "max_duration": 300,
    "retries": RETRIES,
}


# -- the database ------------------------------------------------------------------------------


def make_attempts(engine: Engine, ids: Sequence[uuid.UUID]) -> list[int]:
    """The attempts ``ids``, ``originating`` on fs1 as the worker leaves them, spread over
    ``CAMPAIGNS`` running press-1 campaigns; returns the campaigns' ids (in creation order, so
    that a fresh database gives the same ones)."""
    now = datetime.now(UTC)
    with Session(engine) as s:
        contacts = ContactList(name="replay")
        s.add(contacts)
        s.flush()
        config = parse_config(CAMPAIGN).model_dump(mode="json")
        config["lists"] = [contacts.id]
        camps = [
            Campaign(name=f"replay-{n}", type="press1", status="running", config=config)
            for n in range(CAMPAIGNS)
        ]
        s.add_all(camps)
        s.flush()
        people = s.scalars(
            sa.insert(Recipient).returning(Recipient.id),
            [
                {
                    "list_id": contacts.id,
                    "phone_e164": number(n),
                    "timezones": ["America/New_York"],
                    "fields": {},
                    "row_no": n + 2,
                }
                for n in range(len(ids))
            ],
        ).all()
        progress = s.scalars(
            sa.insert(CampaignRecipient).returning(CampaignRecipient.id),
            [
                {
                    "campaign_id": camps[n % CAMPAIGNS].id,
                    "recipient_id": person,
                    "status": "active",
                    "attempts": 1,
                }
                for n, person in enumerate(people)
            ],
        ).all()
        s.execute(
            sa.insert(cast(sa.Table, CallAttempt.__table__)),
            [
                {
                    "id": aid,
                    "campaign_id": camps[n % CAMPAIGNS].id,
                    "campaign_recipient_id": pid,
                    "attempt_no": 1,
                    "state": "originating",
                    "state_changed_at": now,
                    "fs_node": "fs1",
                    "trunk": "default",
                    "to_number": number(n),
                    "caller_id_number": "+12125550100",
                    "options": {"ring_timeout": 30, "max_duration": 300, "variables": {}},
                    "metadata": {},
                    "originate_sent_at": now,
                    "claimed_at": now,
                    "claimed_by": "worker@bench:1",
                }
                for n, (aid, pid) in enumerate(zip(ids, progress, strict=True))
            ],
        )
        s.commit()
        return [c.id for c in camps]


def number(n: int) -> str:
    return f"+1212{n:07d}"


@contextmanager
def held_leases(ids: Sequence[uuid.UUID]) -> Iterator[RedisLeases]:
    """Redis leases of the attempts, under a prefix of this run's own (deleted afterwards)."""
    prefix = f"dialer_bench_{uuid.uuid4().hex[:8]}:leases"
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.RedisError as exc:
        fail(f"Redis at {REDIS_URL}: {exc}")
    leases = RedisLeases(client, prefix=prefix)
    now = time.time()
    leases.restore([], now)
    for aid in ids:
        assert isinstance(leases.acquire(str(aid), [SCOPE], 600, now), Granted)
    try:
        yield leases
    finally:
        keys = list(client.scan_iter(match=f"{prefix}:*"))
        if keys:
            client.delete(*keys)
        client.close()


class StatementTimes:
    """Wall seconds per kind of statement (its first words), from the cursor events."""

    def __init__(self, engine: Engine) -> None:
        self.seconds: dict[str, float] = {}
        self._started: list[float] = []
        sa.event.listen(engine, "before_cursor_execute", self._before)
        sa.event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, *_: Any) -> None:
        self._started.append(time.perf_counter())

    def _after(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        spent = time.perf_counter() - self._started.pop()
        kind = " ".join(statement.split()[:4])[:48]
        self.seconds[kind] = self.seconds.get(kind, 0.0) + spent

    def top(self, count: int) -> str:
        ranked = sorted(self.seconds.items(), key=lambda item: -item[1])[:count]
        return ", ".join(f"{kind!r} {spent:.2f} s" for kind, spent in ranked)


def batch_time() -> float:
    """Seconds spent in the consumer's batch transactions so far (its own histogram)."""
    return REGISTRY.get_sample_value("dialer_consumer_batch_seconds_sum") or 0.0


def database_facts(engine: Engine) -> tuple[int, int]:
    """(attempts ended, events stored)."""
    with Session(engine) as s:
        ended = s.scalar(
            sa.select(sa.func.count()).select_from(CallAttempt).where(CallAttempt.state == "ended")
        )
        stored = s.scalar(sa.select(sa.func.count()).select_from(CallEvent))
    return int(ended or 0), int(stored or 0)


# -- the recording ----------------------------------------------------------------------------


def consumer_subscription() -> str:
    """The ``event`` command the consumer's client sends (its events and the client's own)."""
    client = ESLClient("127.0.0.1", 1, PASSWORD, event_format="json")
    client.subscribe(*CHANNEL_EVENTS, "CUSTOM", custom=CUSTOM_SUBCLASSES)
    names, subclasses, _ = client.subscription
    return event_command("json", names, subclasses)


@contextmanager
def simulator(port: int) -> Iterator[subprocess.Popen[bytes]]:
    argv = [sys.executable, "-m", "dialer", "simulator", "--listen", f"127.0.0.1:{port}"]
    argv += ["--scenario", "realistic", "--time-scale", str(RECORD_TIME_SCALE), "--seed", "7"]
    argv += ["--max-sessions", "100000", "--sessions-per-second", "100000"]
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=log)
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        log.seek(0)
                        last = log.read().decode("utf-8", "replace").strip().splitlines()
                        fail(f"the simulator did not start: {last[-1] if last else 'no output'}")
                    time.sleep(0.1)
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


class Recorder:
    """A listener subscribed as the consumer is: keeps every byte, notes when each of the
    attempts has ended."""

    def __init__(self, port: int, attempts: set[str]) -> None:
        self.attempts = attempts
        self.ended: set[str] = set()
        self.all_ended = gevent.event.Event()
        self.cpu = 0.0  # this process's CPU seconds until the last end was committed
        self.batch_seconds = 0.0  # the writer's time in persist_batch transactions
        self.in_statements: dict[str, float] = {}  # statement kind -> seconds, until then
        self.buf = bytearray()
        self._pos = 0
        self.sock = gevent.socket.create_connection(("127.0.0.1", port))
        self._expect(b"auth/request")
        self.sock.sendall(f"auth {PASSWORD}\n\n".encode())
        self._expect(b"+OK accepted")
        self.sock.sendall(f"{consumer_subscription()}\n\n".encode())
        self._expect(b"+OK event listener enabled")
        self.start = len(self.buf)  # the stream: what came after the subscription's reply
        self._pos = self.start
        self._reader = gevent.spawn(self._read)

    def _expect(self, what: bytes) -> None:
        while True:
            for start, _head, end in split_frames(self.buf, self._pos):
                self._pos = end
                if what in self.buf[start:end]:
                    del self.buf[:end]
                    self._pos = 0
                    return
            chunk = self.sock.recv(65536)
            if not chunk:
                fail("the simulator closed the recording connection")
            self.buf += chunk

    def _read(self) -> None:
        while True:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                return
            self.buf += chunk
            for start, head, end in split_frames(self.buf, self._pos):
                self._pos = end
                self._note(start, head, end)

    def _note(self, start: int, head: int, end: int) -> None:
        raw = self.buf[start:end]
        if b"CHANNEL_HANGUP_COMPLETE" not in raw and b"BACKGROUND_JOB" not in raw:
            return  # only these end a call: the rest is parsed after the recording
        event = event_of(bytes(raw), head - start)
        if event is None or not channel_gone(event):
            return
        aid = attempt_of(event)
        if aid is not None and str(aid) in self.attempts:
            self.ended.add(str(aid))
            if len(self.ended) == len(self.attempts):
                self.all_ended.set()

    def close(self) -> bytes:
        self._reader.kill()
        self.sock.close()
        return bytes(self.buf[self.start : self._pos])


def event_of(raw: bytes, head_end: int) -> Event | None:
    """The event of one raw frame (None for other frames)."""
    frame = Frame(parse_header_lines(raw[:head_end]), raw[head_end + 2 :])
    if frame.content_type != "text/event-json":
        return None
    return parse_event(frame)


def record(calls: int, ids: Sequence[uuid.UUID], campaign_ids: Sequence[int]) -> Recording:
    """``calls`` calls of the press-1 campaigns on the simulator, as the consumer receives them."""
    config = parse_config(CAMPAIGN)
    attempts = [str(a) for a in ids]
    port = free_port()
    with simulator(port):
        recorder = Recorder(port, set(attempts))
        sender = ESLClient("127.0.0.1", port, PASSWORD, name="sender", command_timeout=30)
        sender.connect(timeout=10)
        started = time.monotonic()
        for n, aid in enumerate(attempts):
            wait = started + n / RECORD_RATE - time.monotonic()
            if wait > 0:
                gevent.sleep(wait)
            campaign = campaign_ids[n % CAMPAIGNS]
            variables = flow_variables(config, campaign_id=campaign, attempt_id=aid)
            variables[flow_contract.ATTEMPT_ID] = aid
            variables[flow_contract.CAMPAIGN_ID] = str(campaign)
            sender.originate(
                build_originate(
                    attempt_id=aid, number=number(n), template=LOOPBACK,
                    caller_id_number="12125550100", timeout_seconds=30,
                    application=flow_contract.APPLICATION, variables=variables,
                )
            )  # fmt: skip
        sent = time.monotonic() - started
        if not recorder.all_ended.wait(timeout=60 + calls / 20):
            fail(f"only {len(recorder.ended)} of {calls} recorded calls ended")
        gevent.sleep(RECORD_TAIL)
        stream = recorder.close()
        sender.close()
    interval = sent / max(1, calls - 1) / RECORD_TIME_SCALE
    return index(stream, attempts, interval)


def index(stream: bytes, attempts: list[str], interval: float) -> Recording:
    """The event frames of ``stream`` (exact bytes) with their moments and what they end."""
    ours = set(attempts)
    kept: list[bytes] = []
    frames: list[FrameIndex] = []
    ended: set[str] = set()
    count = 0
    offset = 0
    moment = 0
    for start, head, end in split_frames(stream):
        raw = stream[start:end]
        event = event_of(raw, head - start)
        if event is None:
            continue
        moment = event.timestamp_us or moment
        aid = attempt_of(event)
        key = str(aid) if aid is not None and str(aid) in ours else None
        ends = None
        if key is not None:
            count += 1
            if key not in ended and channel_gone(event):
                ended.add(key)
                ends = key
        kept.append(raw)
        frames.append(FrameIndex(offset, offset + len(raw), moment, ends))
        offset += len(raw)
    return Recording(b"".join(kept), frames, attempts, count, interval)


# -- the readers ------------------------------------------------------------------------------


def handshake(sock: socket.socket) -> bytes:
    """auth/request, auth, the consumer's subscription; returns what came of the stream with
    the last reply."""
    buf = b""
    for send, expect in (
        (b"", b"auth/request"),
        (f"auth {PASSWORD}\n\n".encode(), b"+OK accepted"),
        (f"{consumer_subscription()}\n\n".encode(), b"+OK event listener"),
    ):
        if send:
            sock.sendall(send)
        while expect not in buf or b"\n\n" not in buf[buf.find(expect) :]:
            chunk = sock.recv(4096)
            if not chunk:
                fail("the replay server closed during the handshake")
            buf += chunk
        buf = buf[buf.find(b"\n\n", buf.find(expect)) + 2 :]
    return buf


def raw_run(folder: Path) -> tuple[float, int]:
    """(seconds, bytes): read to EOF, count bytes."""
    with ReplayServer(folder, mode="fast", start_after="event", then="close") as server:
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            size = len(handshake(sock))
            while chunk := sock.recv(1 << 20):
                size += len(chunk)
            finished = time.monotonic()
        report = server.report()
    return finished - float(report["started"]), size


def parser_run(folder: Path) -> tuple[float, int]:
    """(seconds, events): the adapter's frame parser and event parser on the same socket."""
    with ReplayServer(folder, mode="fast", start_after="event", then="close") as server:
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            parser = FrameParser()
            events = 0
            chunk = handshake(sock)
            while True:
                for frame in parser.feed(chunk):
                    parse_event(frame)
                    events += 1
                chunk = sock.recv(256 * 1024)
                if not chunk:
                    break
            parser.close()
            finished = time.monotonic()
        report = server.report()
    return finished - float(report["started"]), events


def client_run(folder: Path, total: int) -> tuple[float, int]:
    """(seconds, ours): ``ESLClient`` subscribed as the consumer, a handler picking ours."""
    with ReplayServer(folder, mode="fast", start_after="event", then="hold") as server:
        client = ESLClient("127.0.0.1", server.port, PASSWORD, name="fs1", event_format="json")
        seen = 0
        ours = 0
        done = gevent.event.Event()
        finished = 0.0

        def count(event: Event) -> None:
            nonlocal seen, ours, finished
            seen += 1
            if attempt_of(event) is not None:
                ours += 1
            if seen == total:
                finished = time.monotonic()
                done.set()

        client.subscribe(*CHANNEL_EVENTS, "CUSTOM", custom=CUSTOM_SUBCLASSES)
        client.on("*", count)
        client.start()
        if not done.wait(timeout=120):
            fail(f"the ESL client saw {seen} of {total} events")
        client.close()
        report = server.report()
    return finished - float(report["started"]), ours


class ConsumerRun:
    """The consumer against a replay; ``ended`` maps an attempt to when its end committed."""

    def __init__(self, url: str, ids: Sequence[uuid.UUID], campaign_ids: Sequence[int]) -> None:
        self.engine = make_engine(url)
        upgrade(self.engine)
        got = make_attempts(self.engine, ids)
        if got != list(campaign_ids):
            fail(f"the scratch database gave campaign ids {got}, the recording {campaign_ids}")
        self.ids = ids
        self.statements = StatementTimes(self.engine)
        self.ended: dict[str, float] = {}
        self.all_ended = gevent.event.Event()

    def _on_batch(self, result: BatchResult) -> None:
        now = time.monotonic()
        for attempt_id, names in result.emitted:
            if COMPLETED in names:
                self.ended.setdefault(str(attempt_id), now)
        if len(self.ended) >= len(self.ids):
            self.all_ended.set()

    def run(
        self, server: ReplayServer, leases: RedisLeases, timeout: float
    ) -> tuple[dict[str, Any], Consumer]:
        node = NodeConfig(name="fs1", host="127.0.0.1", port=server.port, password=PASSWORD)
        consumer = Consumer(node, self.engine, leases, clock=RealClock())
        consumer.on_batch = self._on_batch
        batch_seconds = batch_time()
        cpu = time.process_time()
        consumer.start()
        if not self.all_ended.wait(timeout=timeout):
            consumer.stop()
            fail(f"the consumer ended {len(self.ended)} of {len(self.ids)} attempts")
        self.cpu = time.process_time() - cpu
        self.batch_seconds = batch_time() - batch_seconds
        self.in_statements = dict(self.statements.seconds)
        consumer.stop()
        return server.report(), consumer

    def close(self) -> None:
        self.engine.dispose()


# -- profiling --------------------------------------------------------------------------------


@contextmanager
def profiled(output: Path | None) -> Iterator[None]:
    """py-spy on this process (collapsed stacks, idle frames left out) while the block runs."""
    if output is None:
        yield
        return
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    argv = [spy, "record", "--pid", str(os.getpid()), "--rate", "250", "--format", "raw"]
    argv += ["--nonblocking", "--output", str(output)]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    time.sleep(1.0)  # py-spy attaches
    try:
        yield
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)


# -- the report -------------------------------------------------------------------------------


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument(
        "--cps", type=float, default=STACK_RATE_CPS,
        help=f"calls per second of the lag replay (default {STACK_RATE_CPS:g}: bench.stack_rate)",
    )  # fmt: skip
    parser.add_argument(
        "--profile", type=Path, metavar="FILE",
        help="sample the consumer run with py-spy (collapsed stacks in FILE)",
    )  # fmt: skip
    args = parser.parse_args()
    if args.calls < 2:
        fail("--calls must be at least 2")
    if args.cps <= 0:
        fail("--cps must be > 0")
    ids = [uuid.uuid4() for _ in range(args.calls)]

    with tempfile.TemporaryDirectory() as tmp, scratch_database() as url:
        folder = Path(tmp)
        fast = ConsumerRun(url, ids, list(range(1, CAMPAIGNS + 1)))
        started = time.monotonic()
        recording = record(args.calls, ids, list(range(1, CAMPAIGNS + 1)))
        recorded_in = time.monotonic() - started
        recording.save(folder)
        total = len(recording.frames)
        if len({f.ends for f in recording.frames if f.ends}) != args.calls:
            fail("the recording does not end every call")

        raw_s, raw_bytes = raw_run(folder)
        parse_s, parsed = parser_run(folder)
        client_s, client_ours = client_run(folder, total)
        with (
            held_leases(ids) as leases,
            ReplayServer(folder, mode="fast", start_after="bgapi", then="hold") as server,
            profiled(args.profile),
        ):
            report, consumer = fast.run(server, leases, timeout=120 + args.calls / 20)
        consumer_s = max(fast.ended.values()) - float(report["started"])
        ended, stored = database_facts(fast.engine)
        fast.close()

        scale = 1.0 / (args.cps * recording.dispatch_interval)
        with scratch_database() as url_lag:
            paced = ConsumerRun(url_lag, ids, list(range(1, CAMPAIGNS + 1)))
            with (
                held_leases(ids) as leases,
                ReplayServer(
                    folder, mode="paced", scale=scale, start_after="bgapi", then="hold"
                ) as server,
            ):
                lag_report, lag_consumer = paced.run(server, leases, timeout=120 + args.calls / 20)
            lag_ended, _ = database_facts(paced.engine)
            paced.close()
        written: dict[str, float] = lag_report["written"]
        lags = [paced.ended[aid] - at for aid, at in written.items()]
        replay_s = float(lag_report["finished"]) - float(lag_report["started"])

    if parsed != total or client_ours != recording.ours or raw_bytes != len(recording.stream):
        fail(f"readers disagree: {parsed}/{total} events, {client_ours}/{recording.ours} ours")
    if ended != args.calls or lag_ended != args.calls or stored != recording.ours:
        fail(f"ended {ended}, {lag_ended} of {args.calls}; stored {stored} of {recording.ours}")
    rates = {
        "raw socket reader": total / raw_s,
        "ESL parser alone": total / parse_s,
        "ESL client alone": total / client_s,
        "consumer": total / consumer_s,
    }
    print(
        f"recording: {args.calls} calls of a press-1 campaign (simulator, realistic), "
        f"{total:,} events ({recording.ours:,} of the attempts), "
        f"{len(recording.stream) / 1e6:.1f} MB, recorded in {recorded_in:.1f} s"
    )
    for (name, rate), seconds in zip(
        rates.items(), (raw_s, parse_s, client_s, consumer_s), strict=True
    ):
        print(f"{name:20s} {total:8,} events in {seconds:7.3f} s: {rate:10,.0f} events/s")
    print(
        f"  consumer: {stored:,} events stored, {ended} attempts ended, "
        f"{consumer.batches} batches; this process's CPU {fast.cpu:.2f} s, in batch "
        f"transactions {fast.batch_seconds:.2f} s, waiting for statements "
        f"{sum(fast.in_statements.values()):.2f} s"
    )
    print(f"  slowest statements: {fast.statements.top(4)}")
    consumer_rate = rates["consumer"]
    per_call = total / args.calls
    print(
        f"  the consumer keeps up with {consumer_rate / per_call:,.0f} calls/s "
        f"({per_call:.1f} events per call); --cps {args.cps:g} offers "
        f"{args.cps * per_call:,.0f} events/s"
    )
    raw_ratio = consumer_rate / rates["raw socket reader"]
    print(f"ratio consumer / raw reader: {raw_ratio:.3f} (goal >= 0.5)")
    print(f"ratio consumer / ESL parser: {consumer_rate / rates['ESL parser alone']:.3f}")
    print(f"ratio consumer / ESL client: {consumer_rate / rates['ESL client alone']:.3f}")
    print(
        f"lag at {args.cps:g} cps (replay {replay_s:.1f} s, {total / replay_s:,.0f} events/s "
        f"offered): end written -> end committed, {len(lags)} attempts: "
        f"p50 {percentile(lags, 0.5) * 1000:.0f} ms, p99 {percentile(lags, 0.99) * 1000:.0f} ms, "
        f"max {max(lags) * 1000:.0f} ms (goal p99 < 500 ms)"
    )
    print(
        f"  {lag_consumer.batches} batches, {paced.batch_seconds / lag_consumer.batches * 1000:.0f}"
        f" ms per batch transaction (the batch waits {BATCH_WAIT * 1000:.0f} ms to grow first)"
    )


if __name__ == "__main__":
    main()
