"""ESLClient / Connection over a real TCP socket against the FreeSWITCH simulator, in both
event formats (the ``client`` fixture runs every test with ``plain`` and with ``json``)."""

from __future__ import annotations

import random
import re
import time
import uuid

import gevent
import gevent.pool
import pytest

from dialer.esl import (
    AuthenticationError,
    Backoff,
    CommandError,
    ConnectionLostError,
    ConnectionState,
    DialTemplate,
    ESLClient,
    Event,
    JobFailedError,
    NodeConfig,
    NodeHealth,
    NotConnectedError,
    Originate,
    build_originate,
)
from dialer.esl.commands import serialize
from dialer.simulator import Simulator
from tests.esl.conftest import make_client
from tests.esl.waiting import wait_until
from tests.support import transcripts

LOOPBACK = DialTemplate("loopback/{number}/{context}", {"context": "default"})


def _request(number: str = "15551234567", attempt: str | None = None) -> Originate:
    return build_originate(
        attempt_id=attempt or str(uuid.uuid4()),
        number=number,
        template=LOOPBACK,
        caller_id_number="15550001",
        variables={"campaign_id": "c1"},
    )


def _server_side(sim: Simulator) -> object:
    (conn,) = [c for c in sim.switch.connections if c.authed]
    return conn.sub


def test_api_returns_the_body(client: ESLClient) -> None:
    assert "1000 session(s) max" in client.api("status")
    assert client.api("nope").startswith("-ERR nope Command not found!")


def test_command_error_on_err_reply(client: ESLClient) -> None:
    with pytest.raises(CommandError, match="command not found"):
        client.command("bogus_command foo")


def test_newline_in_a_command_is_refused_before_sending(client: ESLClient) -> None:
    with pytest.raises(ValueError, match="single line"):
        client.api("status\n\nbgapi originate x")
    with pytest.raises(ValueError, match="single line"):
        client.execute(str(uuid.uuid4()), "playback", "a\nb")


def test_bgapi_sends_our_job_uuid_and_resolves_the_future(
    sim: Simulator, client: ESLClient
) -> None:
    job_id = str(uuid.uuid4())
    job = client.bgapi("status", job_uuid=job_id)
    assert sim.commands_received(live_only=True)[0][-1] == "bgapi status"
    result = job.result(timeout=2)
    assert result.job_uuid == job_id
    assert result.event is not None
    assert result.event.job_uuid == job_id  # the switch used the Job-UUID header we sent
    assert result.body.startswith("UP ")


def test_originate_job_ok_and_refused(sim: Simulator, client: ESLClient) -> None:
    answers: list[Event] = []
    client.on("CHANNEL_ANSWER", answers.append)
    client.subscribe("CHANNEL_ANSWER")
    request = _request()
    result = client.originate(request).result(timeout=5)
    assert result.ok
    assert result.value == request.attempt_id
    assert wait_until(lambda: any(e.unique_id == result.value for e in answers))
    originates = [f for f in sim.ledger if f["event"] == "originate"]
    assert [f["attempt_id"] for f in originates] == [result.value]
    sim.faults.refuse_originates("DESTINATION_OUT_OF_ORDER")
    failed = client.originate(_request()).result(timeout=5)
    assert failed.cause == "DESTINATION_OUT_OF_ORDER"
    with pytest.raises(JobFailedError, match="DESTINATION_OUT_OF_ORDER"):
        failed.raise_for_error()


def test_job_fails_when_the_connection_is_lost(sim: Simulator, client: ESLClient) -> None:
    sim.faults.delay_jobs(5)
    job = client.bgapi("status")
    done: list[object] = []
    job.add_done_callback(done.append)
    sim.faults.drop_connections()
    with pytest.raises(ConnectionLostError):
        job.result(timeout=1)
    assert wait_until(lambda: done == [job])
    assert isinstance(job.exception(), ConnectionLostError)


def test_commands_while_down_fail_fast(sim: Simulator, client: ESLClient) -> None:
    sim.stop()
    assert wait_until(lambda: not client.connected)
    started = time.monotonic()
    with pytest.raises(NotConnectedError):
        client.api("status")
    assert time.monotonic() - started < 0.1


def test_many_greenlets_share_one_connection(event_format: str) -> None:
    """What a gevent-pool Celery worker does: concurrent bgapi + api on one client."""
    with Simulator(scenario="all-answer", time_scale=0.01, port=0, sessions_per_second=1000) as sim:
        client = make_client(sim, event_format=event_format, command_timeout=5)
        client.connect(timeout=3)
        try:

            def one(i: int) -> str:
                request = _request(f"1555000{i:04d}")
                assert "session(s)" in client.api("status")
                result = client.originate(request).result(timeout=10)
                return "ok" if result.value == request.attempt_id else result.body

            results = gevent.pool.Pool(50).map(one, range(200))
            assert results == ["ok"] * 200
            assert client.connects == 1
            assert len([f for f in sim.ledger if f["event"] == "originate"]) == 200
        finally:
            client.close()


def test_big_concurrent_writes_never_interleave(client: ESLClient) -> None:
    # Large enough that sendall() blocks and yields half-way: without the write lock (or with
    # greenswitch's plain send()) the switch would read one command spliced into another.
    payloads = [random.choice("abcdef") * 600_000 + str(i) for i in range(8)]
    replies = gevent.pool.Pool(8).map(lambda p: client.api(f"echo {p}", timeout=10), payloads)
    assert replies == payloads


def test_events_reach_handlers_by_name_subclass_and_star(sim: Simulator, client: ESLClient) -> None:
    got: dict[str, list[Event]] = {"answer": [], "amd": [], "all": []}
    client.on("CHANNEL_ANSWER", got["answer"].append)
    client.on("dialer::amd", got["amd"].append)
    client.on("*", got["all"].append)
    client.subscribe("CHANNEL_ANSWER", custom=["dialer::amd"])
    sim.faults.inject_event([("Event-Name", "CHANNEL_ANSWER"), ("Unique-ID", "u1")])
    sim.faults.inject_event(
        [("Event-Name", "CUSTOM"), ("Event-Subclass", "dialer::amd"), ("amd_result", "HUMAN")]
    )
    sim.faults.inject_event([("Event-Name", "CHANNEL_HANGUP"), ("Unique-ID", "u1")])
    assert wait_until(lambda: len(got["all"]) == 2)
    gevent.sleep(0.05)
    assert [e.unique_id for e in got["answer"]] == ["u1"]
    assert [e["amd_result"] for e in got["amd"]] == ["HUMAN"]
    assert [e.key for e in got["all"]] == ["CHANNEL_ANSWER", "dialer::amd"]


def test_a_failing_handler_does_not_stop_the_others(sim: Simulator, client: ESLClient) -> None:
    seen: list[Event] = []

    def broken(event: Event) -> None:
        raise RuntimeError("boom")

    client.on("CHANNEL_PARK", broken)
    client.on("CHANNEL_PARK", seen.append)
    client.subscribe("CHANNEL_PARK")
    for _ in range(2):
        sim.faults.inject_event([("Event-Name", "CHANNEL_PARK")])
    assert wait_until(lambda: len(seen) == 2)


def test_a_handler_may_call_api(sim: Simulator, client: ESLClient) -> None:
    answers: list[str] = []
    client.on("CHANNEL_PARK", lambda event: answers.append(client.api("status")))
    client.subscribe("CHANNEL_PARK")
    sim.faults.inject_event([("Event-Name", "CHANNEL_PARK")])
    assert wait_until(lambda: answers)
    assert "session(s)" in answers[0]


def test_percent_sequences_in_each_format(
    sim: Simulator, client: ESLClient, event_format: str
) -> None:
    """The plain format loses ``%XX`` (FreeSWITCH passes it through unencoded, 08c); JSON
    keeps every value. The consumer reads JSON for this reason."""
    seen: list[Event] = []
    client.on("CHANNEL_ANSWER", seen.append)
    client.subscribe("CHANNEL_ANSWER")
    assert _server_side(sim).format == event_format
    sim.faults.inject_event(
        [("Event-Name", "CHANNEL_ANSWER"), ("variable_v", "50%41off"), ("variable_u", "café 日本")]
    )
    assert wait_until(lambda: seen)
    expected = "50%41off" if event_format == "json" else "50Aoff"
    assert seen[0].variables["v"] == expected
    assert seen[0].variables["u"] == "café 日本"


def test_a_whole_call_reads_the_same_in_both_formats() -> None:
    """The same scripted call seen by a plain and a JSON listener: the same events, with the
    same headers and values (no value here holds a ``%XX`` sequence)."""
    with Simulator(scenario="all-answer", time_scale=0.01, port=0, seed=5) as sim:
        plain, json_ = (make_client(sim, event_format=f) for f in ("plain", "json"))
        seen: dict[str, list[Event]] = {"plain": [], "json": []}
        for name, esl in (("plain", plain), ("json", json_)):
            esl.connect(timeout=3)
            esl.on("*", seen[name].append)
            esl.subscribe("ALL")
        try:
            request = _request()
            assert plain.originate(request).result(timeout=5).ok
            plain.api(f"uuid_kill {request.attempt_id}")

            def hung_up(events: list[Event]) -> bool:
                return any(e.name == "CHANNEL_HANGUP_COMPLETE" for e in events)

            assert wait_until(lambda: hung_up(seen["plain"]) and hung_up(seen["json"]), 5)
            gevent.sleep(0.1)

            def calls(events: list[Event]) -> list[tuple[str, dict[str, str]]]:
                return [
                    (e.name, dict(e.headers))
                    for e in events
                    if e.get("Unique-ID") == request.attempt_id
                ]

            assert calls(seen["plain"]) == calls(seen["json"])
            assert len(calls(seen["plain"])) >= 4
        finally:
            plain.close()
            json_.close()


def test_filters_unsubscribe_noevents(sim: Simulator, client: ESLClient) -> None:
    client.subscribe("CHANNEL_ANSWER", "CHANNEL_HANGUP")
    client.add_filter("Unique-ID", "u1")
    server_side = _server_side(sim)
    filters = server_side.filters
    assert ("Event-Name", "BACKGROUND_JOB") in filters  # bgapi keeps working
    assert ("Event-Name", "HEARTBEAT") in filters  # and so does the idle watchdog
    client.delete_filter("Unique-ID", "u1")
    assert server_side.filters == []
    client.unsubscribe("CHANNEL_HANGUP")
    assert "CHANNEL_HANGUP" not in server_side.events
    with pytest.raises(ValueError, match="BACKGROUND_JOB"):
        client.unsubscribe("BACKGROUND_JOB")
    client.noevents()
    assert server_side.events == {"BACKGROUND_JOB", "HEARTBEAT"}
    assert client.bgapi("status").result(timeout=2).body.startswith("UP ")


def test_garbage_from_the_server_resets_the_connection(sim: Simulator, client: ESLClient) -> None:
    first = client.connection
    assert first is not None
    sim.faults.send_garbage(b"\x00\xffnot esl at all\n\n")
    assert first.wait_closed(1)
    assert "not a header line" in str(first.close_reason)
    assert wait_until(lambda: client.connected and client.connection is not first, 3)
    assert "is ready" in client.api("status")


def test_delayed_events_still_complete_jobs(sim: Simulator, client: ESLClient) -> None:
    sim.faults.delay_events(0.2)
    started = time.monotonic()
    assert client.originate(_request()).result(timeout=3).ok
    assert time.monotonic() - started >= 0.2


def test_wrong_password_is_reported_and_retried(sim: Simulator) -> None:
    errors: list[BaseException | None] = []
    client = ESLClient(
        *sim.address, "wrong", connect_timeout=0.5, backoff=Backoff(base=0.01, cap=0.02)
    )
    client.add_state_callback(
        lambda state, error: errors.append(error) if state is ConnectionState.DISCONNECTED else None
    )
    with pytest.raises(Exception, match="auth rejected: -ERR invalid"):
        client.connect(timeout=0.3)
    try:
        # It keeps trying (with backoff), and reports every refusal.
        assert wait_until(lambda: len(errors) >= 3, 3)
        assert all(isinstance(e, AuthenticationError) for e in errors)
        attempts = [c for c in sim.commands_received() if c and c[0] == "auth"]
        assert len(attempts) >= 3
        assert not client.connected
    finally:
        client.close()
    assert client.state is ConnectionState.CLOSED


def test_health_polls_and_watches_a_node(sim: Simulator, client: ESLClient) -> None:
    health = NodeHealth(NodeConfig(name="a", host="h"))
    status = health.poll(client)
    assert status.ready
    assert status.max_sessions == 1000
    health.status = None
    health.watch(client)
    sim.faults.inject_event(
        [("Event-Name", "HEARTBEAT"), ("Session-Count", "7"), ("Event-Info", "System Ready")]
    )
    assert wait_until(lambda: health.status is not None)
    assert health.status is not None
    assert health.status.sessions == 7


def test_wire_bytes_match_the_captures() -> None:
    t = transcripts.load("02_press1_queue_agent_plain.txt")
    sent = [c.data for c in t.sent()]
    sendmsg = next(s for s in sent if s.startswith(b"sendmsg"))
    lines = sendmsg.decode().rstrip("\n").split("\n")
    uuid_ = lines[0].split(" ")[1]
    headers = [tuple(line.split(": ", 1)) for line in lines[1:]]
    assert serialize(f"sendmsg {uuid_}", headers) == sendmsg
    bgapi = next(s for s in sent if s.startswith(b"bgapi originate"))
    command, job_header = bgapi.decode().rstrip("\n").split("\n")
    assert serialize(command, [tuple(job_header.split(": "))]) == bgapi  # type: ignore[list-item]


_SEQUENCE = re.compile(rb"\nEvent-Sequence: (\d+)\n")


@pytest.fixture
def capture_events() -> list[bytes]:
    t = transcripts.load("02_press1_queue_agent_plain.txt")
    return [c.data for c in t.received(1) if b"Content-Type: text/event-plain" in c.data[:80]]


def test_replayed_capture_stream_is_delivered_in_order(
    sim: Simulator, capture_events: list[bytes]
) -> None:
    """A real event stream (02, every event frame) through a real socket, cut at random
    places: every event arrives, in order, intact. The expected order is read from the
    capture records themselves, not from the parser under test."""
    client = make_client(sim)
    client.connect(timeout=2)
    try:
        seen: list[Event] = []
        client.on("*", seen.append)
        stream = b"".join(capture_events)
        rng = random.Random(7)
        pos = 0
        while pos < len(stream):
            step = rng.randint(1, 9000)
            sim.faults.send_raw(stream[pos : pos + step])
            pos += step
            gevent.sleep(0)
        assert wait_until(lambda: len(seen) == len(capture_events), 5)
        expected = [int(_SEQUENCE.search(frame).group(1)) for frame in capture_events]  # type: ignore[union-attr]
        assert [e.sequence for e in seen] == expected  # capture order (not sorted: see 02)
        assert {e.name for e in seen} >= {"CHANNEL_ANSWER", "DTMF", "BACKGROUND_JOB", "CUSTOM"}
    finally:
        client.close()
