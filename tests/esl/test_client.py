"""ESLClient / Connection over a real TCP socket against the fake FreeSWITCH."""

from __future__ import annotations

import random
import time
import uuid

import gevent
import gevent.pool
import pytest

from dialer.esl import (
    Backoff,
    CommandError,
    ConnectionLostError,
    DialTemplate,
    ESLClient,
    Event,
    FrameParser,
    JobFailedError,
    NotConnectedError,
    build_originate,
    parse_event,
)
from dialer.esl.commands import serialize
from tests.esl.fakeserver import FakeFreeSWITCH
from tests.esl.waiting import wait_until
from tests.support import transcripts


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
        client.execute("u1", "playback", "a\nb")


def test_bgapi_sends_our_job_uuid_and_resolves_the_future(
    fake: FakeFreeSWITCH, client: ESLClient
) -> None:
    job_id = str(uuid.uuid4())
    job = client.bgapi("status", job_uuid=job_id)
    assert fake.live()[0].commands[-1] == f"bgapi status\nJob-UUID: {job_id}".encode()
    result = job.result(timeout=2)
    assert result.job_uuid == job_id
    assert result.event is not None
    assert result.event.job_uuid == job_id


def test_originate_job_ok_and_refused(fake: FakeFreeSWITCH, client: ESLClient) -> None:
    template = DialTemplate("loopback/{number}/{context}", {"context": "default"})
    attempt = str(uuid.uuid4())
    request = build_originate(
        attempt_id=attempt, number="silent_human", template=template, caller_id_number="15550001"
    )
    result = client.originate(request).result(timeout=2)
    assert result.ok
    assert result.value == attempt
    fake.refuse_originates("DESTINATION_OUT_OF_ORDER")
    request2 = build_originate(
        attempt_id=str(uuid.uuid4()), number="x", template=template, caller_id_number="1"
    )
    failed = client.originate(request2).result(timeout=2)
    assert failed.cause == "DESTINATION_OUT_OF_ORDER"
    with pytest.raises(JobFailedError, match="DESTINATION_OUT_OF_ORDER"):
        failed.raise_for_error()


def test_job_fails_when_the_connection_is_lost(fake: FakeFreeSWITCH, client: ESLClient) -> None:
    fake.job_delay = 5
    job = client.bgapi("status")
    done: list[object] = []
    job.add_done_callback(done.append)
    fake.drop_connections()
    with pytest.raises(ConnectionLostError):
        job.result(timeout=1)
    assert wait_until(lambda: done == [job])
    assert isinstance(job.exception(), ConnectionLostError)


def test_commands_while_down_fail_fast(fake: FakeFreeSWITCH, client: ESLClient) -> None:
    fake.stop()
    assert wait_until(lambda: not client.connected)
    with pytest.raises(NotConnectedError):
        client.api("status")


def test_many_greenlets_share_one_connection(fake: FakeFreeSWITCH, client: ESLClient) -> None:
    """What a gevent-pool Celery worker does: concurrent bgapi + api on one client."""
    fake.job_delay = 0.01
    template = DialTemplate("loopback/{number}/{context}", {"context": "default"})

    def one(i: int) -> str:
        request = build_originate(
            attempt_id=str(uuid.uuid4()),
            number=f"n{i}",
            template=template,
            caller_id_number="15550001",
        )
        assert "session(s)" in client.api("status")
        result = client.originate(request).result(timeout=5)
        return "ok" if result.value == request.attempt_id else result.body

    results = gevent.pool.Pool(50).map(one, range(200))
    assert results == ["ok"] * 200
    assert client.connects == 1


def test_big_concurrent_writes_never_interleave(fake: FakeFreeSWITCH, client: ESLClient) -> None:
    # Large enough that sendall() blocks and yields half-way: without the write lock (or with
    # greenswitch's plain send()) the server would read one command spliced into another.
    fake.api_replies["echo"] = lambda arg: arg
    payloads = [random.choice("abcdef") * 600_000 + str(i) for i in range(8)]
    replies = gevent.pool.Pool(8).map(lambda p: client.api(f"echo {p}", timeout=10), payloads)
    assert replies == payloads


def test_events_reach_handlers_by_name_subclass_and_star(
    fake: FakeFreeSWITCH, client: ESLClient
) -> None:
    got: dict[str, list[Event]] = {"answer": [], "amd": [], "all": []}
    client.on("CHANNEL_ANSWER", got["answer"].append)
    client.on("dialer::amd", got["amd"].append)
    client.on("*", got["all"].append)
    client.subscribe("CHANNEL_ANSWER", custom=["dialer::amd"])
    fake.emit(fake.event_pairs("CHANNEL_ANSWER", ("Unique-ID", "u1")))
    fake.emit(
        fake.event_pairs("CUSTOM", ("Event-Subclass", "dialer::amd"), ("amd_result", "HUMAN"))
    )
    fake.emit(fake.event_pairs("CHANNEL_HANGUP", ("Unique-ID", "u1")))  # not subscribed
    assert wait_until(lambda: len(got["all"]) == 2)
    gevent.sleep(0.05)
    assert [e.unique_id for e in got["answer"]] == ["u1"]
    assert [e["amd_result"] for e in got["amd"]] == ["HUMAN"]
    assert [e.key for e in got["all"]] == ["CHANNEL_ANSWER", "dialer::amd"]


def test_a_failing_handler_does_not_stop_the_others(
    fake: FakeFreeSWITCH, client: ESLClient
) -> None:
    seen: list[Event] = []

    def broken(event: Event) -> None:
        raise RuntimeError("boom")

    client.on("HEARTBEAT", broken)
    client.on("HEARTBEAT", seen.append)
    client.subscribe("HEARTBEAT")
    for _ in range(2):
        fake.emit(fake.event_pairs("HEARTBEAT"))
    assert wait_until(lambda: len(seen) == 2)


def test_a_handler_may_call_api(fake: FakeFreeSWITCH, client: ESLClient) -> None:
    answers: list[str] = []
    client.on("CHANNEL_PARK", lambda event: answers.append(client.api("status")))
    client.subscribe("CHANNEL_PARK")
    fake.emit(fake.event_pairs("CHANNEL_PARK"))
    assert wait_until(lambda: answers)
    assert "session(s)" in answers[0]


def test_json_event_format(fake: FakeFreeSWITCH) -> None:
    client = ESLClient(*fake.address, "ClueCon", event_format="json")
    client.connect(timeout=2)
    try:
        seen: list[Event] = []
        client.on("CHANNEL_ANSWER", seen.append)
        client.subscribe("CHANNEL_ANSWER")
        assert fake.live()[0].fmt == "json"
        fake.emit(fake.event_pairs("CHANNEL_ANSWER", ("variable_v", "50%41off")))
        assert wait_until(lambda: seen)
        assert seen[0].variables["v"] == "50%41off"  # json is not lossy
        assert client.bgapi("status").result(timeout=2).body.startswith("UP ")
    finally:
        client.close()


def test_filters_unsubscribe_noevents(fake: FakeFreeSWITCH, client: ESLClient) -> None:
    client.subscribe("CHANNEL_ANSWER", "CHANNEL_HANGUP")
    client.add_filter("Unique-ID", "u1")
    server_side = fake.live()[0]
    assert ("Event-Name", "BACKGROUND_JOB") in server_side.filters  # bgapi keeps working
    client.delete_filter("Unique-ID", "u1")
    assert server_side.filters == []
    client.unsubscribe("CHANNEL_HANGUP")
    assert "CHANNEL_HANGUP" not in server_side.events
    with pytest.raises(ValueError, match="BACKGROUND_JOB"):
        client.unsubscribe("BACKGROUND_JOB")
    client.noevents()
    assert server_side.events == {"BACKGROUND_JOB", "HEARTBEAT"}
    assert client.bgapi("status").result(timeout=2).body.startswith("UP ")


def test_garbage_from_the_server_resets_the_connection(
    fake: FakeFreeSWITCH, client: ESLClient
) -> None:
    first = client.connection
    assert first is not None
    fake.send_garbage(b"\x00\xffnot esl at all\n\n")
    assert first.wait_closed(1)
    assert "not a header line" in str(first.close_reason)
    assert wait_until(lambda: client.connected and client.connection is not first, 3)


def test_delayed_events_still_complete_jobs(fake: FakeFreeSWITCH, client: ESLClient) -> None:
    fake.delay_events(0.2)
    started = time.monotonic()
    assert client.bgapi("status").result(timeout=2).body.startswith("UP ")
    assert time.monotonic() - started >= 0.2


def test_wrong_password_is_reported_and_retried(fake: FakeFreeSWITCH) -> None:
    client = ESLClient(
        *fake.address, "wrong", connect_timeout=0.5, backoff=Backoff(base=0.01, cap=0.02)
    )
    with pytest.raises(Exception, match="auth rejected: -ERR invalid"):
        client.connect(timeout=0.3)
    client.close()


def test_wire_bytes_match_the_captures() -> None:
    t = transcripts.load("02_press1_queue_agent_plain.txt")
    sent = [c.data for c in t.sent()]
    sendmsg = next(s for s in sent if s.startswith(b"sendmsg"))
    lines = sendmsg.decode().rstrip("\n").split("\n")
    uuid_ = lines[0].split(" ")[1]
    headers = [tuple(line.split(": ", 1)) for line in lines[1:]]
    assert serialize(f"sendmsg {uuid_}", headers) == sendmsg  # type: ignore[arg-type]
    bgapi = next(s for s in sent if s.startswith(b"bgapi originate"))
    command, job_header = bgapi.decode().rstrip("\n").split("\n")
    assert serialize(command, [tuple(job_header.split(": "))]) == bgapi  # type: ignore[list-item]


def test_replayed_capture_stream_is_delivered_in_order(fake: FakeFreeSWITCH) -> None:
    """A real event stream (02, every frame after the subscription) through a real socket,
    cut at random places: every event arrives, in order, intact."""
    t = transcripts.load("02_press1_queue_agent_plain.txt")
    frames = [c.data for c in t.received(1) if c.data.startswith(b"Content-Length")]
    events = [f for f in frames if b"text/event-plain" in f.split(b"\n\n")[0]]
    client = ESLClient(*fake.address, "ClueCon", command_timeout=2)
    client.connect(timeout=2)
    try:
        seen: list[Event] = []
        client.on("*", seen.append)
        stream = b"".join(events)
        rng = random.Random(7)
        pos = 0
        while pos < len(stream):
            step = rng.randint(1, 9000)
            fake.send_raw(stream[pos : pos + step])
            pos += step
            gevent.sleep(0)
        assert wait_until(lambda: len(seen) == len(events), 5)
        expected = [parse_event(f).sequence for f in FrameParser().feed(stream)]
        assert [e.sequence for e in seen] == expected  # capture order (not sorted: see 02)
        assert {e.name for e in seen} >= {"CHANNEL_ANSWER", "DTMF", "BACKGROUND_JOB", "CUSTOM"}
    finally:
        client.close()
