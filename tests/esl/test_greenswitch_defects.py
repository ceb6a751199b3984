"""Each known greenswitch 0.0.19 defect, reproduced against raw greenswitch and shown fixed,
both against the FreeSWITCH simulator and its fault injection over a real TCP socket.

Tests named ``test_upstream_*`` document the upstream behaviour (they pass while greenswitch
is broken; if a greenswitch release fixes one, its test fails and tells us we can drop a
workaround). Every wait is bounded by a short ``gevent.Timeout`` so nothing can hang CI; the
100%-CPU spin runs in a child process with a watchdog thread, against the simulator in a
child process of its own.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator

import gevent
import pytest
from greenswitch.esl import ESLEvent, InboundESL, NotConnectedError

from dialer.esl import (
    DISCONNECT,
    CommandTimeoutError,
    ConnectError,
    Connection,
    ConnectionLostError,
    ConnectionState,
    DialTemplate,
    ESLClient,
    Event,
    TruncatedFrameError,
    build_originate,
)
from dialer.simulator import Simulator
from tests.esl.conftest import make_client
from tests.esl.waiting import wait_until

EVIL = "x\nEvent-Name: CHANNEL_HANGUP\nUnique-ID: someone-else"
LOOPBACK = DialTemplate("loopback/{number}/{context}", {"context": "default"})


@pytest.fixture
def upstream(sim: Simulator) -> Iterator[InboundESL]:
    esl = InboundESL(*sim.address, "ClueCon", timeout=1)
    with gevent.Timeout(2):
        esl.connect()
    yield esl
    _kill_upstream(esl)


def _kill_upstream(esl: InboundESL) -> None:
    esl._run = False
    if esl.sock is not None:
        esl.sock.close()
    gevent.killall(
        [g for g in (esl._receive_events_greenlet, esl._process_events_greenlet) if g],
        timeout=1,
    )


def _inject_evil(sim: Simulator) -> None:
    sim.faults.inject_event(
        [
            ("Event-Name", "CHANNEL_PARK"),
            ("Unique-ID", "u1"),
            ("variable_note", EVIL),  # on the wire: x%0AEvent-Name%3A%20CHANNEL_HANGUP%0A...
        ]
    )


def _originate(fs: ESLClient) -> tuple[str, object]:
    attempt = str(uuid.uuid4())
    request = build_originate(
        attempt_id=attempt, number="15551234567", template=LOOPBACK, caller_id_number="15550001"
    )
    return attempt, fs.originate(request)


# -- (a) header injection through an encoded newline --------------------------------------


def test_upstream_a_decodes_before_splitting_lines() -> None:
    encoded = "Event-Name: CHANNEL_PARK\nUnique-ID: u1\nvariable_note: x%0AUnique-ID%3A%20evil\n"
    assert ESLEvent(encoded).headers["Unique-ID"] == "evil"


def test_upstream_a_injection_over_the_wire(sim: Simulator, upstream: InboundESL) -> None:
    seen: list[ESLEvent] = []
    upstream.register_handle("*", seen.append)
    with gevent.Timeout(2):
        upstream.send("event plain ALL")
    _inject_evil(sim)
    assert wait_until(lambda: seen)
    assert seen[0].headers["Unique-ID"] == "someone-else"  # injected by the value
    assert seen[0].headers["Event-Name"] == "CHANNEL_HANGUP"


def test_fixed_a_variable_stays_a_value(sim: Simulator, client: ESLClient) -> None:
    seen: list[Event] = []
    client.on("*", seen.append)
    client.subscribe("ALL")
    _inject_evil(sim)
    assert wait_until(lambda: seen)
    assert (seen[0].name, seen[0].unique_id) == ("CHANNEL_PARK", "u1")
    assert seen[0].variables["note"] == EVIL
    assert [v for k, v in seen[0].headers.items_all if k == "Unique-ID"] == ["u1"]


# -- (b) BACKGROUND_JOB body glued to its Content-Length ---------------------------------


def test_upstream_b_body_glued_to_content_length(upstream: InboundESL) -> None:
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


def test_upstream_c_connect_waits_forever_for_the_greeting(sim: Simulator) -> None:
    sim.faults.stall(2)  # no auth/request for 2 s
    esl = InboundESL(*sim.address, "ClueCon", timeout=0.2)
    with pytest.raises(gevent.Timeout), gevent.Timeout(0.5):
        esl.connect()  # connect() itself had a 0.2 s timeout: only TCP honoured it
    _kill_upstream(esl)


def test_upstream_c_send_waits_forever(sim: Simulator, upstream: InboundESL) -> None:
    sim.faults.silence("api")
    with pytest.raises(gevent.Timeout), gevent.Timeout(0.5):
        upstream.send("api status")


def test_fixed_c_connect_has_a_deadline(sim: Simulator) -> None:
    sim.faults.stall(2)
    conn = Connection(*sim.address, "ClueCon", connect_timeout=0.2)
    started = time.monotonic()
    with pytest.raises(ConnectError, match="auth/request"):
        conn.connect()
    assert time.monotonic() - started < 1.0
    assert conn.closed


def test_fixed_c_auth_has_a_deadline(sim: Simulator) -> None:
    sim.faults.silence("auth")
    conn = Connection(*sim.address, "ClueCon", connect_timeout=0.3)
    with pytest.raises(ConnectError, match="auth"):
        conn.connect()
    assert conn.closed


def test_fixed_c_every_command_has_a_deadline(sim: Simulator, client: ESLClient) -> None:
    first = client.connection
    sim.faults.stall(1)
    started = time.monotonic()
    with pytest.raises(CommandTimeoutError):
        client.api("status", timeout=0.2)
    assert time.monotonic() - started < 1.0
    # The late reply goes to the abandoned slot: the connection stays, the next command
    # gets its own reply once the switch answers again.
    assert client.connection is first
    assert client.api("echo mine", timeout=3) == "mine"
    assert client.connects == 1


# -- (d) abrupt close: no DISCONNECT, callers left waiting ---------------------------------


def test_upstream_d_abrupt_close_is_silent(sim: Simulator, upstream: InboundESL) -> None:
    disconnects: list[object] = []
    upstream.register_handle("DISCONNECT", disconnects.append)
    sim.faults.silence("api")
    waiter = gevent.spawn(upstream.send, "api status")
    gevent.sleep(0.05)
    sim.faults.drop_connections()
    assert wait_until(lambda: upstream._receive_events_greenlet.dead, 1)
    gevent.sleep(0.2)
    assert disconnects == []  # the DISCONNECT handler never ran
    assert not waiter.ready()  # and the pending command waits forever
    waiter.kill()


def test_fixed_d_close_is_reported(sim: Simulator, client: ESLClient) -> None:
    conn = client.connection
    assert conn is not None
    disconnects: list[Event] = []
    conn.register_handle(DISCONNECT, disconnects.append)
    sim.faults.silence("api")
    waiter = gevent.spawn(client.api, "status", 5)
    gevent.sleep(0.05)
    sim.faults.drop_connections()
    with gevent.Timeout(1), pytest.raises(ConnectionLostError):
        waiter.get()
    assert wait_until(lambda: disconnects, 1)
    assert len(disconnects) == 1
    assert disconnects[0]["Content-Type"] == "text/disconnect-notice"
    assert "closed" in disconnects[0]["Disconnect-Reason"]


def test_fixed_d_server_goodbye_is_passed_to_disconnect_handlers(sim: Simulator) -> None:
    conn = Connection(*sim.address, "ClueCon", connect_timeout=1)
    conn.connect()
    notices: list[Event] = []
    conn.register_handle(DISCONNECT, notices.append)
    conn.send("exit")
    assert conn.wait_closed(1)
    assert wait_until(lambda: notices, 1)
    assert notices[0].body.startswith("Disconnected, goodbye.")


def test_fixed_d_f_drop_fails_jobs_reports_and_reconnects(
    sim: Simulator, client: ESLClient
) -> None:
    sim.faults.delay_jobs(5)  # the BACKGROUND_JOB will not come before the drop
    conn = client.connection
    assert conn is not None
    disconnects: list[Event] = []
    conn.register_handle(DISCONNECT, disconnects.append)
    client.subscribe("CHANNEL_ANSWER")
    _, job = _originate(client)
    sim.faults.drop_connections()
    with pytest.raises(ConnectionLostError):
        job.result(timeout=1)  # type: ignore[attr-defined]
    assert wait_until(lambda: disconnects)
    sim.faults.clear()
    assert wait_until(lambda: client.connected and client.connection is not conn)
    assert client.connects == 2
    answers: list[Event] = []
    client.on("CHANNEL_ANSWER", answers.append)
    attempt, job2 = _originate(client)
    assert job2.result(timeout=5).ok  # type: ignore[attr-defined]
    assert wait_until(lambda: any(e.unique_id == attempt for e in answers))  # resubscribed


# -- (e) truncated body then EOF: 100% CPU --------------------------------------------------

_SPIN_SCRIPT = textwrap.dedent(
    """
    import json, logging, os, sys, threading, time, warnings
    logging.disable(logging.CRITICAL)
    warnings.simplefilter("ignore")
    port = int(sys.argv[2])
    esl = None
    def demand():
        # CPU time plus time spent waiting for a CPU, of the main thread (/proc/self is the
        # thread group leader): a spinning loop demands ~1 s per second however loaded the
        # machine is, while its plain CPU share falls with the load
        try:
            with open("/proc/self/schedstat") as stat:
                ran, waited = stat.read().split()[:2]
            return (int(ran) + int(waited)) / 1e9
        except OSError:
            return time.process_time()
    def watchdog():
        time.sleep(0.4)
        cpu, wall = demand(), time.monotonic()
        time.sleep(0.6)
        out = {"busy": (demand() - cpu) / (time.monotonic() - wall),
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


def spin_report(which: str) -> dict[str, object]:
    """Run a ``which`` ("upstream" or "ours") client in a child process against the simulator
    in another child process (a spinning reader in this process would starve the hub that
    serves it), which sends it a truncated frame then EOF. Returns ``{"busy": CPU share of
    the client process 0.4-1.0 s after connecting (CPU time plus run-queue wait, so that a
    loaded machine does not hide a spin), "reason": its close reason}``."""
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.esl.sim_child", "truncate"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        port = server.stdout.readline().strip()
        done = subprocess.run(
            [sys.executable, "-c", _SPIN_SCRIPT, which, port],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        )
    finally:
        server.kill()
        server.wait(timeout=5)
    report: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


def test_upstream_e_truncated_frame_spins_the_cpu() -> None:
    assert float(spin_report("upstream")["busy"]) > 0.5  # type: ignore[arg-type]


def test_fixed_e_truncated_frame_ends_the_connection() -> None:
    report = spin_report("ours")
    assert float(report["busy"]) < 0.2  # type: ignore[arg-type]
    assert report["reason"] == "TruncatedFrameError"


def test_fixed_e_truncated_frame_reason(sim: Simulator, client: ESLClient) -> None:
    conn = client.connection
    assert conn is not None
    sim.faults.send_truncated_frame()
    assert conn.wait_closed(1)
    assert isinstance(conn.close_reason, TruncatedFrameError)
    assert "inside a frame" in str(conn.close_reason)
    assert client.wait_connected(3)  # and the client is back


# -- (f) no reconnect -------------------------------------------------------------------------


def test_upstream_f_stays_down(sim: Simulator, upstream: InboundESL) -> None:
    sim.faults.drop_connections()
    assert wait_until(lambda: not upstream.connected, 1)
    gevent.sleep(0.2)
    with pytest.raises(NotConnectedError):
        upstream.send("api status")
    assert len(sim.commands_received()) == 1  # it never came back


def test_fixed_f_reconnects_resubscribes_and_reports(sim: Simulator) -> None:
    states: list[ConnectionState] = []
    client = make_client(sim)
    client.add_state_callback(lambda state, error: states.append(state))
    client.connect(timeout=2)
    try:
        client.subscribe("CHANNEL_ANSWER", custom=["dialer::amd"])
        client.add_filter("Unique-ID", "u1")
        seen: list[Event] = []
        client.on("CHANNEL_ANSWER", seen.append)

        sim.faults.drop_connections()
        assert wait_until(lambda: len(sim.commands_received()) == 2 and client.connected, 3)
        assert states == [
            ConnectionState.CONNECTING,
            ConnectionState.CONNECTED,
            ConnectionState.DISCONNECTED,
            ConnectionState.CONNECTING,
            ConnectionState.CONNECTED,
        ]
        assert client.connects == 2
        replayed = sim.commands_received(live_only=True)[0]
        assert (
            replayed[1] == "event plain BACKGROUND_JOB CHANNEL_ANSWER HEARTBEAT CUSTOM dialer::amd"
        )
        assert set(replayed[2:]) == {
            "filter Unique-ID u1",
            "filter Event-Name BACKGROUND_JOB",
            "filter Event-Name HEARTBEAT",
        }
        sim.faults.inject_event([("Event-Name", "CHANNEL_ANSWER"), ("Unique-ID", "u1")])
        assert wait_until(lambda: seen)
        assert client.bgapi("status").result(timeout=2).body.startswith("UP ")
    finally:
        client.close()
    assert client.state is ConnectionState.CLOSED


def test_fixed_f_keeps_retrying_with_backoff_while_the_node_is_down(sim: Simulator) -> None:
    sim.stop()  # nothing listens there now
    errors: list[BaseException | None] = []
    client = make_client(sim, connect_timeout=0.2)
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
