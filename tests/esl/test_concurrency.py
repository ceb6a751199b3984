"""The adapter under the concurrency of the campaign engine: hundreds of greenlets over one
Event Socket connection, interrupted by task time limits, next to slow commands and jobs.

Every test runs against ``dialer.simulator`` over a real TCP socket, its faults standing in
for what goes wrong on a real node. What they hold to: a reply always reaches the command it
answers; one slow command does not fail anyone else; no job is kept or lost by mistake.
"""

from __future__ import annotations

import functools
import random
import socket
import time
import uuid
from typing import Any

import gevent
import gevent.pool
import pytest
from celery.exceptions import SoftTimeLimitExceeded

from dialer.esl import (
    DISCONNECT,
    LINGER,
    Backoff,
    CommandTimeoutError,
    Connection,
    ConnectionLostError,
    ConnectionState,
    DialTemplate,
    ESLClient,
    Event,
    NotConnectedError,
    build_originate,
)
from dialer.simulator import Simulator
from dialer.simulator.wire import command_reply, event_plain
from tests.esl.conftest import make_client
from tests.esl.waiting import wait_until

LOOPBACK = DialTemplate("loopback/{number}/{context}", {"context": "default"})


@pytest.fixture
def fs(client: ESLClient) -> ESLClient:
    return client


def _request(number: str = "15551234567") -> Any:
    return build_originate(
        attempt_id=str(uuid.uuid4()), number=number, template=LOOPBACK, caller_id_number="1"
    )


def _live(fs: ESLClient) -> Connection:
    conn = fs.connection
    assert conn is not None
    return conn


# -- an interrupted write ----------------------------------------------------------------------


def _interrupt(how: str, fs: ESLClient, command: str) -> BaseException | None:
    """Stop the caller's greenlet mid-command the way a worker does; what it was hit by."""
    if how == "outer_timeout":
        try:
            with gevent.Timeout(0.3):
                fs.api(command, timeout=10)
        except gevent.Timeout as exc:
            return exc
        return None  # pragma: no cover - the write was expected to block
    worker = gevent.spawn(fs.api, command, 10)
    gevent.sleep(0.3)
    if how == "greenlet_exit":
        worker.kill()  # GreenletExit, as a pool does on shutdown
        value: object = worker.value
        return value if isinstance(value, gevent.GreenletExit) else None
    worker.kill(SoftTimeLimitExceeded())  # what Celery raises in a task past its soft limit
    error: BaseException | None = worker.exception
    return error


@pytest.mark.parametrize(
    ("how", "kind"),
    [
        ("outer_timeout", gevent.Timeout),
        ("greenlet_exit", gevent.GreenletExit),
        ("soft_time_limit", SoftTimeLimitExceeded),
    ],
)
def test_an_interrupted_write_closes_the_connection_and_replies_never_cross(
    sim: Simulator, fs: ESLClient, how: str, kind: type[BaseException]
) -> None:
    first = _live(fs)
    assert first.sock is not None
    # A small send buffer, and a switch that reads nothing for a while: the big command's
    # sendall() blocks half-way, which is where the interruption finds it.
    first.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16384)
    sim.faults.stall(1.0)
    held = gevent.spawn(fs.api, "echo held", 5)  # read, then the switch stalls
    gevent.sleep(0.1)
    assert isinstance(_interrupt(how, fs, "echo " + "x" * 900_000), kind)
    assert first.wait_closed(1)
    assert "write interrupted" in str(first.close_reason)
    with pytest.raises(ConnectionLostError):
        held.get(timeout=2)
    # Every later command gets its own reply, or fails cleanly while the client reconnects.
    answered: list[str] = []
    deadline = time.monotonic() + 5
    while len(answered) < 5 and time.monotonic() < deadline:
        probe = f"probe-{len(answered)}"
        try:
            reply = fs.api(f"echo {probe}", timeout=2)
        except (NotConnectedError, ConnectionLostError):
            gevent.sleep(0.05)
            continue
        assert reply == probe
        answered.append(reply)
    assert len(answered) == 5
    assert fs.connects == 2


def test_many_greenlets_with_interruptions_never_get_another_ones_reply(
    sim: Simulator, fs: ESLClient
) -> None:
    """200 greenlets, a third of them cut off by their own short deadline while waiting:
    every reply that arrives is the answer to the command that asked for it."""
    rng = random.Random(3)
    wrong: list[tuple[str, str]] = []

    def one(i: int) -> str:
        tag = f"g{i}-{rng.randint(0, 10**9)}"
        try:
            with gevent.Timeout(rng.choice([0.0005, 0.002, 5.0])):
                reply = fs.api(f"echo {tag}", timeout=5)
        except gevent.Timeout:
            return "interrupted"
        except (NotConnectedError, ConnectionLostError):
            return "lost"
        if reply != tag:
            wrong.append((tag, reply))
        return "ok"

    results = gevent.pool.Pool(50).map(one, range(200))
    assert wrong == []
    assert results.count("ok") > 0
    assert fs.wait_connected(3)
    assert fs.api("echo last", timeout=3) == "last"


# -- one slow command --------------------------------------------------------------------------


def test_a_reply_timeout_abandons_the_slot_and_keeps_the_connection(
    sim: Simulator, fs: ESLClient
) -> None:
    conn = _live(fs)
    job = fs.originate(_request())  # the switch answers it while msleep holds the line
    with pytest.raises(CommandTimeoutError, match="may still run"):
        fs.api("msleep 1500", timeout=0.3)
    assert fs.connection is conn
    assert "session(s)" in fs.api("status", timeout=5)  # its own reply, not msleep's
    result = job.result(timeout=5)
    assert result.ok
    assert fs.connects == 1
    assert not conn.closed


def test_a_slow_api_blocks_only_the_replies_behind_it(sim: Simulator, fs: ESLClient) -> None:
    """FreeSWITCH answers one connection's commands in order; a slow ``api`` delays those
    behind it, and they still get their own replies once it is done."""
    slow = gevent.spawn(fs.api, "msleep 400", 3)
    gevent.sleep(0.05)
    started = time.monotonic()
    assert fs.api("echo behind", timeout=3) == "behind"
    assert time.monotonic() - started >= 0.3
    assert slow.get(timeout=1).startswith("+OK")


# -- jobs --------------------------------------------------------------------------------------


def test_a_timed_out_job_leaves_the_table_and_its_event_still_reaches_handlers(
    sim: Simulator, fs: ESLClient
) -> None:
    conn = _live(fs)
    seen: list[Event] = []
    fs.on("BACKGROUND_JOB", seen.append)
    sim.faults.delay_jobs(0.5)
    job = fs.bgapi("status")
    with pytest.raises(CommandTimeoutError):
        job.result(timeout=0.1)
    assert conn.pending_jobs == 0
    assert wait_until(lambda: any(e.job_uuid == job.job_uuid for e in seen), 3)
    with pytest.raises(CommandTimeoutError):  # given up for good
        job.result(timeout=0)


def test_a_job_nobody_waits_for_expires_with_its_ttl(sim: Simulator, fs: ESLClient) -> None:
    conn = _live(fs)
    sim.faults.delay_jobs(3.0)
    job = conn.bgapi("status", ttl=0.3)
    assert conn.pending_jobs == 1
    assert wait_until(lambda: conn.pending_jobs == 0, 3)
    assert isinstance(job.exception(), CommandTimeoutError)


def test_an_originate_job_lives_as_long_as_its_ring(sim: Simulator, fs: ESLClient) -> None:
    """The switch answers an originate by the end of its ring: the job is kept that long
    (plus slack), not the connection's default ttl, so a long ring is never given up early."""
    sim.faults.delay_jobs(1.0)
    request = build_originate(
        attempt_id=str(uuid.uuid4()),
        number="15551234567",
        template=LOOPBACK,
        caller_id_number="1",
        timeout_seconds=1800,
    )
    job = fs.originate(request)
    assert job.expires_at - time.monotonic() == pytest.approx(1800 + 60, abs=2)
    assert job.result(timeout=5).ok


def test_a_reply_and_its_background_job_in_one_read(sim: Simulator, fs: ESLClient) -> None:
    sim.faults.coalesce_writes(0.05)
    for _ in range(20):
        assert fs.bgapi("status").result(timeout=2).body.startswith("UP ")


def test_a_job_renamed_by_the_server_resolves_even_when_its_event_comes_in_the_same_read(
    sim: Simulator, fs: ESLClient
) -> None:
    """A server that names the job itself (``Job-UUID`` in its reply differs from ours), and
    whose BACKGROUND_JOB follows the reply in the same TCP segment."""
    conn = _live(fs)
    sim.faults.silence("bgapi")
    ours = str(uuid.uuid4())
    theirs = str(uuid.uuid4())
    started = gevent.spawn(fs.bgapi, "status", ours)
    assert wait_until(lambda: any("bgapi status" in c for c in _commands(sim)), 2)
    reply = command_reply(f"+OK Job-UUID: {theirs}", [("Job-UUID", theirs)])
    event = event_plain(
        [("Event-Name", "BACKGROUND_JOB"), ("Job-UUID", theirs), ("Job-Command", "status")],
        "UP 0 years\n",
    )
    sim.faults.send_raw(reply + event)
    job = started.get(timeout=2)
    assert job.job_uuid == theirs
    assert job.result(timeout=2).body == "UP 0 years\n"
    assert conn.pending_jobs == 0


def _commands(sim: Simulator) -> list[str]:
    return [command for conn in sim.commands_received(live_only=True) for command in conn]


def test_background_job_reaches_other_listeners_when_the_sender_dies(sim: Simulator) -> None:
    """Capture 12: FreeSWITCH sends BACKGROUND_JOB to every listener subscribed to it. The
    sender's job fails ("may have run"); the consumer still learns the result."""
    consumer = make_client(sim)
    sender = make_client(sim, backoff=Backoff(base=5, cap=5))  # stays down once dropped
    consumer.connect(timeout=3)
    sender.connect(timeout=3)
    try:
        seen: list[Event] = []
        consumer.on("BACKGROUND_JOB", seen.append)
        request = _request()
        job = sender.originate(request)
        conn = _live(sender)
        assert conn.sock is not None
        conn.sock.shutdown(socket.SHUT_RDWR)  # the worker's connection dies mid-ring
        with pytest.raises(ConnectionLostError):
            job.result(timeout=3)
        assert wait_until(lambda: any(e.job_uuid == request.attempt_id for e in seen), 5)
        (event,) = [e for e in seen if e.job_uuid == request.attempt_id]
        assert event.body == f"+OK {request.attempt_id}\n"
    finally:
        sender.close()
        consumer.close()


# -- handlers on the client ----------------------------------------------------------------------


def test_disconnect_handlers_on_the_client_fire_once_per_lost_connection(
    sim: Simulator, fs: ESLClient
) -> None:
    notices: list[Event] = []
    fs.on(DISCONNECT, notices.append)

    def back_after(count: int) -> bool:
        return len(notices) >= count and fs.connected

    for round_ in (1, 2):
        before = _live(fs)
        sim.faults.drop_connections()
        assert before.wait_closed(2)
        assert wait_until(functools.partial(back_after, round_), 3)
        assert len(notices) == round_
    assert all(n["Content-Type"] == "text/disconnect-notice" for n in notices)
    gevent.sleep(0.1)
    assert len(notices) == 2


def test_linger_handlers_on_the_client_get_the_linger_notice(sim: Simulator, fs: ESLClient) -> None:
    lingers: list[Event] = []
    fs.on(LINGER, lingers.append)
    request = _request()
    assert fs.originate(request).result(timeout=5).ok
    fs.command(f"myevents {request.attempt_id}")
    fs.command("linger 1")
    fs.api(f"uuid_kill {request.attempt_id}")
    assert wait_until(lambda: lingers, 3)
    assert lingers[0]["Content-Disposition"] == "linger"
    assert lingers[0]["Controlled-Session-UUID"] == request.attempt_id


# -- connecting and reconnecting -----------------------------------------------------------------


def test_close_during_connect_leaves_no_socket_or_greenlet(sim: Simulator) -> None:
    made: list[Connection] = []

    def factory(*args: Any, **kwargs: Any) -> Connection:
        made.append(Connection(*args, **kwargs))
        return made[-1]

    sim.faults.stall(5)  # the greeting does not come
    client = make_client(sim, connect_timeout=10, connection_factory=factory)
    client.start()
    assert wait_until(lambda: made and sim.live_connections == 1, 2)
    states = [client.state]
    client.close(timeout=1)
    states.append(client.state)
    assert states == [ConnectionState.CONNECTING, ConnectionState.CLOSED]
    conn = made[0]
    assert conn.closed
    assert wait_until(lambda: sim.live_connections == 0, 2)
    greenlets = (conn._receive_events_greenlet, conn._process_events_greenlet, conn._watchdog)
    assert all(g is None or g.dead for g in greenlets)
    assert len(made) == 1


def test_a_node_that_accepts_then_drops_is_not_hammered(sim: Simulator) -> None:
    client = make_client(
        sim, backoff=Backoff(base=0.02, cap=0.64, rng=random.Random(1)), stable_after=1.0
    )
    dropping = True

    def drop_every_connection() -> None:
        while dropping:
            if sim.live_connections:
                sim.faults.drop_connections()
            gevent.sleep(0.002)

    dropper = gevent.spawn(drop_every_connection)
    client.start()
    try:
        gevent.sleep(2.0)
        # Without backoff on short-lived connections this was one reconnect every few ms.
        tries = len(sim.commands_received())
        assert 3 <= tries <= 14
        dropping = False
        dropper.join(timeout=1)
        assert client.wait_connected(3)
    finally:
        dropping = False
        client.close()


def test_the_idle_watchdog_reconnects_a_silent_connection() -> None:
    with Simulator(
        password="ClueCon", scenario="all-answer", port=0, ledger_path=None, heartbeat_seconds=0.1
    ) as sim:
        _watchdog_round(sim)


def _watchdog_round(sim: Simulator) -> None:
    client = make_client(sim, idle_timeout=0.6)
    client.connect(timeout=3)
    try:
        first = _live(client)
        gevent.sleep(1.2)  # heartbeats keep a healthy connection up
        assert client.connection is first
        sim.faults.stall(2.0)
        assert first.wait_closed(2)
        assert "nothing received" in str(first.close_reason)
        assert wait_until(lambda: client.connected and client.connection is not first, 5)
    finally:
        client.close()


def test_the_watchdog_waits_for_a_command_that_holds_the_line(sim: Simulator) -> None:
    """A blocking ``api`` holds the connection's events (capture 03): that is not silence."""
    client = make_client(sim, idle_timeout=0.3, command_timeout=3)
    client.connect(timeout=3)
    try:
        first = _live(client)
        assert client.api("msleep 900", timeout=3).startswith("+OK")
        assert client.connection is first
    finally:
        client.close()


def test_a_supervisor_killed_while_replaying_leaves_no_socket(sim: Simulator) -> None:
    """The subscription replay hangs (the switch never answers ``event``) and the supervisor
    greenlet is killed there, as ``close()`` does when its join times out."""
    sim.faults.silence("event")
    client = make_client(sim, command_timeout=10)
    client.start()
    assert wait_until(
        lambda: any(
            c[-1:] and c[-1].startswith("event ") for c in sim.commands_received(live_only=True)
        ),
        2,
    )
    assert client._supervisor is not None
    client._supervisor.kill(block=True, timeout=1)
    assert wait_until(lambda: sim.live_connections == 0, 2)
    client.close()


def test_a_worker_connection_skips_other_connections_jobs_unparsed(sim: Simulator) -> None:
    """Two originate workers: each resolves its own jobs and drops the other's
    BACKGROUND_JOB events before parsing them; a listener without the option sees all."""
    first = make_client(sim, own_jobs_only=True)
    second = make_client(sim, own_jobs_only=True)
    watcher = make_client(sim)
    clients = (first, second, watcher)
    for client in clients:
        client.connect(timeout=3)
    try:
        seen: dict[str, list[str]] = {"first": [], "second": [], "watcher": []}
        first.on("BACKGROUND_JOB", lambda e: seen["first"].append(e.job_uuid or ""))
        second.on("BACKGROUND_JOB", lambda e: seen["second"].append(e.job_uuid or ""))
        watcher.on("BACKGROUND_JOB", lambda e: seen["watcher"].append(e.job_uuid or ""))
        mine = [first.originate(_request()) for _ in range(3)]
        theirs = [second.originate(_request()) for _ in range(2)]
        for job in mine + theirs:
            assert job.result(timeout=5).ok
        # handlers run in each connection's dispatcher, a moment after the job resolved
        assert wait_until(
            lambda: [len(seen[k]) for k in ("first", "second", "watcher")] == [3, 2, 5], 5
        )
        assert sorted(seen["first"]) == sorted(j.job_uuid for j in mine)
        assert sorted(seen["second"]) == sorted(j.job_uuid for j in theirs)
        assert _live(first).foreign_jobs_skipped == 2
        assert _live(second).foreign_jobs_skipped == 3
        assert _live(watcher).foreign_jobs_skipped == 0
    finally:
        for client in clients:
            client.close()


@pytest.mark.parametrize(
    ("body", "foreign"),
    [
        (b"Event-Name: BACKGROUND_JOB\nJob-UUID: aaa\nJob-Command: originate\n\n+OK", True),
        (b"Core-UUID: x\nEvent-Name: BACKGROUND_JOB\nJob-UUID: mine\n\n+OK", False),
        (b"Event-Name: BACKGROUND_JOB\nJob-UUID: a%20b\n\n+OK", False),  # encoded: parse it
        (b"Event-Name: BACKGROUND_JOB\nJob-Command: status\n\n+OK", False),  # no Job-UUID
        (b"Event-Name: HEARTBEAT\nJob-UUID: aaa\n", False),
        (b"Event-Name: CUSTOM\n\nEvent-Name: BACKGROUND_JOB\nJob-UUID: aaa", False),  # body
    ],
)
def test_foreign_jobs_are_told_from_the_headers_only(body: bytes, foreign: bool) -> None:
    from dialer.esl.connection import foreign_job

    assert foreign_job(body, {"mine": object()}) is foreign
