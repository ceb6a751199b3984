"""Each known greenswitch 0.0.19 defect, reproduced against raw greenswitch and shown fixed.

Tests named ``test_upstream_*`` document the upstream behaviour (they pass while greenswitch
is broken; if a greenswitch release fixes one, its test fails and tells us we can drop a
workaround). Every wait is bounded by a short ``gevent.Timeout`` so nothing can hang CI; the
100%-CPU spin runs in a subprocess with a watchdog thread.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator

import gevent
import pytest
from greenswitch.esl import ESLEvent, InboundESL, NotConnectedError

from dialer.esl import (
    DISCONNECT,
    Backoff,
    CommandTimeoutError,
    ConnectError,
    Connection,
    ConnectionLostError,
    ConnectionState,
    ESLClient,
    Event,
)
from tests.esl.fakeserver import FakeFreeSWITCH
from tests.esl.waiting import wait_until

EVIL = "x\nEvent-Name: CHANNEL_HANGUP\nUnique-ID: someone-else"


@pytest.fixture
def upstream(fake: FakeFreeSWITCH) -> Iterator[InboundESL]:
    host, port = fake.address
    esl = InboundESL(host, port, "ClueCon", timeout=1)
    with gevent.Timeout(2):
        esl.connect()
    yield esl
    esl._run = False
    esl.sock.close()
    gevent.killall(
        [g for g in (esl._receive_events_greenlet, esl._process_events_greenlet) if g],
        timeout=1,
    )


# -- (a) header injection through an encoded newline --------------------------------------


def test_upstream_a_decodes_before_splitting_lines() -> None:
    encoded = "Event-Name: CHANNEL_PARK\nUnique-ID: u1\nvariable_note: x%0AUnique-ID%3A%20evil\n"
    assert ESLEvent(encoded).headers["Unique-ID"] == "evil"


def test_upstream_a_injection_over_the_wire(fake: FakeFreeSWITCH, upstream: InboundESL) -> None:
    seen: list[ESLEvent] = []
    upstream.register_handle("*", seen.append)
    with gevent.Timeout(2):
        upstream.send("event plain ALL")
    fake.emit(fake.event_pairs("CHANNEL_PARK", ("Unique-ID", "u1"), ("variable_note", EVIL)))
    assert wait_until(lambda: seen)
    assert seen[0].headers["Unique-ID"] == "someone-else"  # injected
    assert seen[0].headers["Event-Name"] == "CHANNEL_HANGUP"


def test_fixed_a_variable_stays_a_value(fake: FakeFreeSWITCH, client: ESLClient) -> None:
    seen: list[Event] = []
    client.on("*", seen.append)
    client.subscribe("ALL")
    fake.emit(fake.event_pairs("CHANNEL_PARK", ("Unique-ID", "u1"), ("variable_note", EVIL)))
    assert wait_until(lambda: seen)
    assert seen[0].name == "CHANNEL_PARK"
    assert seen[0].unique_id == "u1"
    assert seen[0].variables["note"] == EVIL


# -- (b) BACKGROUND_JOB body glued to its Content-Length ---------------------------------


def test_upstream_b_body_glued_to_content_length(
    fake: FakeFreeSWITCH, upstream: InboundESL
) -> None:
    jobs: list[ESLEvent] = []
    upstream.register_handle("BACKGROUND_JOB", jobs.append)
    with gevent.Timeout(2):
        upstream.send("event plain BACKGROUND_JOB")
        upstream.send("bgapi status")
    assert wait_until(lambda: jobs)
    assert "session(s) max" in jobs[0].headers["Content-Length"]  # the body, inside a header
    assert not hasattr(jobs[0], "data")


def test_fixed_b_job_body_is_the_body(client: ESLClient) -> None:
    result = client.bgapi("status").result(timeout=2)
    assert result.body.startswith("UP 0 years")
    assert result.event is not None
    assert result.event["Content-Length"] == str(len(result.body.encode()))


# -- (c) no timeout after TCP connect -------------------------------------------------------


def test_upstream_c_connect_waits_forever_for_the_greeting() -> None:
    with FakeFreeSWITCH(greet=False) as mute:
        esl = InboundESL(*mute.address, "ClueCon", timeout=0.2)
        with pytest.raises(gevent.Timeout), gevent.Timeout(0.5):
            esl.connect()  # connect() itself had a 0.2 s timeout: only TCP honoured it
        esl.sock.close()
        gevent.killall([esl._receive_events_greenlet, esl._process_events_greenlet], timeout=1)


def test_upstream_c_send_waits_forever(fake: FakeFreeSWITCH, upstream: InboundESL) -> None:
    fake.silent_commands.add("api")
    with pytest.raises(gevent.Timeout), gevent.Timeout(0.5):
        upstream.send("api status")


def test_fixed_c_connect_has_a_deadline() -> None:
    with FakeFreeSWITCH(greet=False) as mute:
        conn = Connection(*mute.address, "ClueCon", connect_timeout=0.2)
        started = time.monotonic()
        with pytest.raises(ConnectError, match="auth/request"):
            conn.connect()
        assert time.monotonic() - started < 1.0
        assert conn.closed


def test_fixed_c_auth_has_a_deadline(fake: FakeFreeSWITCH) -> None:
    fake.silent_commands.add("auth")
    conn = Connection(*fake.address, "ClueCon", connect_timeout=0.3)
    with pytest.raises(ConnectError, match="auth"):
        conn.connect()


def test_fixed_c_every_command_has_a_deadline(fake: FakeFreeSWITCH, client: ESLClient) -> None:
    first = client.connection
    fake.stall(5)
    started = time.monotonic()
    with pytest.raises(CommandTimeoutError):
        client.api("status", timeout=0.2)
    assert time.monotonic() - started < 1.0
    # Replies are out of step after a timeout: that connection is closed and replaced.
    assert first is not None
    assert first.closed
    fake.clear()
    assert client.wait_connected(3)
    assert client.connection is not first
    assert "session(s) max" in client.api("status")


# -- (d) abrupt close: no DISCONNECT, callers left waiting ---------------------------------


def test_upstream_d_abrupt_close_is_silent(fake: FakeFreeSWITCH, upstream: InboundESL) -> None:
    disconnects: list[object] = []
    upstream.register_handle("DISCONNECT", disconnects.append)
    fake.silent_commands.add("api")
    waiter = gevent.spawn(upstream.send, "api status")
    gevent.sleep(0.05)
    fake.drop_connections()
    assert wait_until(lambda: upstream._receive_events_greenlet.dead, 1)
    gevent.sleep(0.2)
    assert disconnects == []  # the DISCONNECT handler never ran
    assert not waiter.ready()  # and the pending command waits forever
    waiter.kill()


def test_fixed_d_close_is_reported(fake: FakeFreeSWITCH, client: ESLClient) -> None:
    conn = client.connection
    assert conn is not None
    disconnects: list[Event] = []
    conn.register_handle(DISCONNECT, disconnects.append)
    fake.silent_commands.add("api")
    waiter = gevent.spawn(client.api, "status", 5)
    gevent.sleep(0.05)
    fake.drop_connections()
    with gevent.Timeout(1), pytest.raises(ConnectionLostError):
        waiter.get()
    assert wait_until(lambda: disconnects, 1)
    assert len(disconnects) == 1
    assert disconnects[0]["Content-Type"] == "text/disconnect-notice"
    assert "closed" in disconnects[0]["Disconnect-Reason"]


def test_fixed_d_server_goodbye_is_passed_to_disconnect_handlers(fake: FakeFreeSWITCH) -> None:
    conn = Connection(*fake.address, "ClueCon", connect_timeout=1)
    conn.connect()
    notices: list[Event] = []
    conn.register_handle(DISCONNECT, notices.append)
    conn.send("exit")
    assert conn.wait_closed(1)
    assert wait_until(lambda: notices, 1)
    assert notices[0].body.startswith("Disconnected, goodbye.")


# -- (e) truncated body then EOF: 100% CPU --------------------------------------------------

_SPIN_SCRIPT = textwrap.dedent(
    """
    import json, logging, os, socket, sys, threading, time, warnings
    logging.disable(logging.CRITICAL)
    warnings.simplefilter("ignore")
    srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1)
    port = int(sys.argv[2]) if len(sys.argv) > 2 else srv.getsockname()[1]
    def serve():
        c, _ = srv.accept()
        c.sendall(b"Content-Type: auth/request\\n\\n")
        c.recv(1000)
        c.sendall(b"Content-Type: command/reply\\nReply-Text: +OK accepted\\n\\n")
        time.sleep(0.1)
        c.sendall(b"Content-Length: 500\\nContent-Type: text/event-plain\\n\\nEvent-Name: X\\n")
        c.close()
    if len(sys.argv) < 3:  # else: a server elsewhere sends the truncated frame
        threading.Thread(target=serve, daemon=True).start()
    esl = None
    def watchdog():
        time.sleep(0.4)
        cpu, wall = time.process_time(), time.monotonic()
        time.sleep(0.6)
        out = {"busy": (time.process_time() - cpu) / (time.monotonic() - wall),
               "reason": type(getattr(esl, "close_reason", None)).__name__}
        print(json.dumps(out), flush=True)
        os._exit(0)
    threading.Thread(target=watchdog, daemon=True).start()
    import gevent
    if sys.argv[1] == "upstream":
        from greenswitch.esl import InboundESL
        esl = InboundESL("127.0.0.1", port, "ClueCon")
    else:
        from dialer.esl import Connection
        esl = Connection("127.0.0.1", port, "ClueCon")
    esl.connect()
    gevent.sleep(5)
    os._exit(3)
    """
)


def spin_report(which: str, port: int | None = None) -> dict[str, object]:
    """Run a ``which`` ("upstream" or "ours") client in a child process whose server sends a
    truncated frame then EOF: its own embedded one, or the one listening on ``port``. Returns
    ``{"busy": CPU share of that process 0.4-1.0 s after connecting, "reason": close reason}``.
    """
    args = [which] if port is None else [which, str(port)]
    done = subprocess.run(
        [sys.executable, "-c", _SPIN_SCRIPT, *args],
        capture_output=True,
        text=True,
        timeout=20,
        check=True,
    )
    report: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


def _busy(which: str) -> float:
    return float(spin_report(which)["busy"])  # type: ignore[arg-type]


def test_upstream_e_truncated_frame_spins_the_cpu() -> None:
    assert _busy("upstream") > 0.5


def test_fixed_e_truncated_frame_ends_the_connection() -> None:
    assert _busy("ours") < 0.2


def test_fixed_e_truncated_frame_reason(fake: FakeFreeSWITCH, client: ESLClient) -> None:
    conn = client.connection
    assert conn is not None
    fake.send_truncated_frame()
    assert conn.wait_closed(1)
    assert "inside a frame" in str(conn.close_reason)
    assert client.wait_connected(3)  # and the client is back


# -- (f) no reconnect -------------------------------------------------------------------------


def test_upstream_f_stays_down(fake: FakeFreeSWITCH, upstream: InboundESL) -> None:
    fake.drop_connections()
    assert wait_until(lambda: not upstream.connected, 1)
    gevent.sleep(0.2)
    with pytest.raises(NotConnectedError):
        upstream.send("api status")
    assert len(fake.conns) == 1  # it never came back


def test_fixed_f_reconnects_resubscribes_and_reports(fake: FakeFreeSWITCH) -> None:
    states: list[ConnectionState] = []
    client = ESLClient(
        *fake.address, "ClueCon", command_timeout=1, backoff=Backoff(base=0.01, cap=0.05)
    )
    client.add_state_callback(lambda state, error: states.append(state))
    client.connect(timeout=2)
    try:
        client.subscribe("CHANNEL_ANSWER", custom=["dialer::amd"])
        client.add_filter("Unique-ID", "u1")
        seen: list[Event] = []
        client.on("CHANNEL_ANSWER", seen.append)

        fake.drop_connections()
        assert wait_until(lambda: len(fake.live()) == 1 and client.connected, 3)
        assert states == [
            ConnectionState.CONNECTING,
            ConnectionState.CONNECTED,
            ConnectionState.DISCONNECTED,
            ConnectionState.CONNECTING,
            ConnectionState.CONNECTED,
        ]
        assert client.connects == 2
        replayed = fake.live()[0].commands
        assert replayed[1] == b"event plain BACKGROUND_JOB CHANNEL_ANSWER CUSTOM dialer::amd"
        assert set(replayed[2:]) == {b"filter Unique-ID u1", b"filter Event-Name BACKGROUND_JOB"}
        fake.emit(fake.event_pairs("CHANNEL_ANSWER", ("Unique-ID", "u1")))
        assert wait_until(lambda: seen)
        assert client.bgapi("status").result(timeout=2).ok is False  # status text, not +OK
    finally:
        client.close()
    assert client.state is ConnectionState.CLOSED


def test_fixed_f_keeps_retrying_with_backoff_while_the_node_is_down() -> None:
    fake = FakeFreeSWITCH()
    host, port = fake.start()
    fake.stop()  # nothing listens there now
    errors: list[BaseException | None] = []
    client = ESLClient(
        host, port, "ClueCon", connect_timeout=0.2, backoff=Backoff(base=0.01, cap=0.02)
    )
    client.add_state_callback(
        lambda state, error: errors.append(error) if state is ConnectionState.DISCONNECTED else None
    )
    client.start()
    try:
        assert wait_until(lambda: len(errors) >= 3, 2)
        assert all(isinstance(e, ConnectError) for e in errors)
        assert not client.connected
    finally:
        client.close()
