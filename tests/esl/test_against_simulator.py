"""The adapter against ``dialer.simulator`` and its fault injection (DESIGN §8).

Same defects as ``test_greenswitch_defects.py`` (which uses the small fake server), here
driven by the simulator's own ``faults`` so both sides are checked against each other.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import gevent
import pytest
from greenswitch.esl import ESLEvent, InboundESL, NotConnectedError

from dialer.esl import (
    DISCONNECT,
    Backoff,
    CommandTimeoutError,
    ConnectionLostError,
    DialTemplate,
    ESLClient,
    Event,
    Job,
    TruncatedFrameError,
    build_originate,
)
from dialer.simulator import Simulator
from tests.esl.test_greenswitch_defects import EVIL, spin_report
from tests.esl.waiting import wait_until

LOOPBACK = DialTemplate("loopback/{number}/{context}", {"context": "default"})


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(
        password="ClueCon", scenario="all-answer", time_scale=0.01, port=0, ledger_path=None
    ) as server:
        yield server


@pytest.fixture
def fs(sim: Simulator) -> Iterator[ESLClient]:
    client = ESLClient(
        *sim.address, "ClueCon", command_timeout=1, backoff=Backoff(base=0.01, cap=0.05)
    )
    client.connect(timeout=3)
    yield client
    client.close()


def _originate(fs: ESLClient, number: str = "15551234567") -> tuple[str, Job]:
    attempt = str(uuid.uuid4())
    request = build_originate(
        attempt_id=attempt,
        number=number,
        template=LOOPBACK,
        caller_id_number="15550001",
        variables={"campaign_id": "c1"},
    )
    return attempt, fs.originate(request)


def test_originate_completes_with_the_attempt_id(sim: Simulator, fs: ESLClient) -> None:
    answers: list[Event] = []
    fs.on("CHANNEL_ANSWER", answers.append)
    fs.subscribe("CHANNEL_ANSWER")
    attempt = str(uuid.uuid4())
    request = build_originate(
        attempt_id=attempt, number="15551234567", template=LOOPBACK, caller_id_number="15550001"
    )
    result = fs.originate(request).result(timeout=5)
    assert result.ok
    assert result.value == attempt
    assert wait_until(lambda: any(e.unique_id == attempt for e in answers))
    originates = [f for f in sim.ledger if f["event"] == "originate"]
    assert [f["attempt_id"] for f in originates] == [attempt]


def test_refused_originate_is_a_job_failure(sim: Simulator, fs: ESLClient) -> None:
    sim.faults.refuse_originates("DESTINATION_OUT_OF_ORDER")
    attempt = str(uuid.uuid4())
    request = build_originate(
        attempt_id=attempt, number="15551234567", template=LOOPBACK, caller_id_number="1"
    )
    assert fs.originate(request).result(timeout=5).cause == "DESTINATION_OUT_OF_ORDER"


def test_health_from_the_simulator(fs: ESLClient) -> None:
    from dialer.esl import NodeConfig, NodeHealth

    status = NodeHealth(NodeConfig(name="sim", host="127.0.0.1")).poll(fs)
    assert status.ready
    assert status.max_sessions == 1000


# -- (a) an encoded newline in a variable -------------------------------------------------


def _inject_evil(sim: Simulator) -> None:
    sim.faults.inject_event(
        [
            ("Event-Name", "CHANNEL_PARK"),
            ("Core-UUID", "sim"),
            ("Unique-ID", "u1"),
            ("variable_note", EVIL),  # on the wire: x%0AEvent-Name%3A%20CHANNEL_HANGUP%0A...
        ]
    )


def test_upstream_a_injection_from_the_simulator(sim: Simulator) -> None:
    esl = InboundESL(*sim.address, "ClueCon", timeout=1)
    with gevent.Timeout(2):
        esl.connect()
    try:
        seen: list[ESLEvent] = []
        esl.register_handle("*", seen.append)
        with gevent.Timeout(2):
            esl.send("event plain ALL")
        _inject_evil(sim)
        assert wait_until(lambda: seen, 2)
        assert seen[0].headers["Unique-ID"] == "someone-else"  # injected by the value
        assert seen[0].headers["Event-Name"] == "CHANNEL_HANGUP"
    finally:
        esl._run = False
        esl.sock.close()
        gevent.killall([esl._receive_events_greenlet, esl._process_events_greenlet], timeout=1)


def test_fixed_a_variable_stays_a_value_from_the_simulator(sim: Simulator, fs: ESLClient) -> None:
    seen: list[Event] = []
    fs.on("*", seen.append)
    fs.subscribe("ALL")
    _inject_evil(sim)
    assert wait_until(lambda: seen, 2)
    assert (seen[0].name, seen[0].unique_id) == ("CHANNEL_PARK", "u1")
    assert seen[0].variables["note"] == EVIL
    assert seen[0]["Unique-ID"] == "u1"


# -- (c) stall ----------------------------------------------------------------------------


def test_upstream_c_stall_blocks_send_forever(sim: Simulator) -> None:
    esl = InboundESL(*sim.address, "ClueCon", timeout=1)
    with gevent.Timeout(2):
        esl.connect()
    sim.faults.stall(2)
    with pytest.raises(gevent.Timeout), gevent.Timeout(0.3):
        esl.send("api status")
    esl.sock.close()
    gevent.killall([esl._receive_events_greenlet, esl._process_events_greenlet], timeout=1)


def test_fixed_c_stall_times_out_and_recovers(sim: Simulator, fs: ESLClient) -> None:
    sim.faults.stall(1)
    with pytest.raises(CommandTimeoutError):
        fs.api("status", timeout=0.2)
    sim.faults.clear()
    assert fs.wait_connected(3)
    assert "is ready" in fs.api("status")


# -- (d) drop -----------------------------------------------------------------------------


def test_upstream_d_drop_is_silent(sim: Simulator) -> None:
    esl = InboundESL(*sim.address, "ClueCon", timeout=1)
    with gevent.Timeout(2):
        esl.connect()
    disconnects: list[object] = []
    esl.register_handle("DISCONNECT", disconnects.append)
    sim.faults.drop_connections()
    assert wait_until(lambda: esl._receive_events_greenlet.dead, 1)
    gevent.sleep(0.2)
    assert disconnects == []
    with pytest.raises(NotConnectedError):  # (f): and it never reconnects
        esl.send("api status")
    gevent.killall([esl._process_events_greenlet], timeout=1.5)


def test_fixed_d_f_drop_fails_jobs_reports_and_reconnects(sim: Simulator, fs: ESLClient) -> None:
    sim.faults.delay_events(5)  # the BACKGROUND_JOB will not come before the drop
    conn = fs.connection
    assert conn is not None
    disconnects: list[Event] = []
    conn.register_handle(DISCONNECT, disconnects.append)
    fs.subscribe("CHANNEL_ANSWER")
    _, job = _originate(fs)
    sim.faults.drop_connections()
    with pytest.raises(ConnectionLostError):
        job.result(timeout=1)
    assert wait_until(lambda: disconnects)
    sim.faults.clear()
    assert wait_until(lambda: fs.connected and fs.connection is not conn)
    assert fs.connects == 2
    answers: list[Event] = []
    fs.on("CHANNEL_ANSWER", answers.append)
    attempt, job2 = _originate(fs)
    assert job2.result(timeout=5).ok
    assert wait_until(lambda: any(e.unique_id == attempt for e in answers))  # resubscribed


# -- (e) truncated frame, garbage ----------------------------------------------------------


def test_fixed_e_truncated_frame(sim: Simulator, fs: ESLClient) -> None:
    conn = fs.connection
    assert conn is not None
    sim.faults.send_truncated_frame()
    assert conn.wait_closed(1)
    assert isinstance(conn.close_reason, TruncatedFrameError)
    assert wait_until(lambda: fs.connected and fs.connection is not conn)


def _spin_against_simulator(which: str) -> dict[str, object]:
    # The simulator runs in a child process too: a spinning reader in the test process
    # would starve the gevent hub that serves it.
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.esl.sim_child", "truncate"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        port = int(child.stdout.readline())
        return spin_report(which, port)
    finally:
        child.kill()
        child.wait(timeout=5)


def test_upstream_e_simulator_truncated_frame_spins_the_cpu() -> None:
    assert float(_spin_against_simulator("upstream")["busy"]) > 0.5  # type: ignore[arg-type]


def test_fixed_e_simulator_truncated_frame_ends_the_connection() -> None:
    report = _spin_against_simulator("ours")
    assert float(report["busy"]) < 0.2  # type: ignore[arg-type]
    assert report["reason"] == "TruncatedFrameError"


def test_garbage_resets_the_connection(sim: Simulator, fs: ESLClient) -> None:
    conn = fs.connection
    assert conn is not None
    sim.faults.send_garbage(b"\x00\x01garbage without a colon\n\n")
    assert conn.wait_closed(1)
    assert wait_until(lambda: fs.connected and fs.connection is not conn)
    assert "is ready" in fs.api("status")


def test_delayed_events_complete_jobs_later(sim: Simulator, fs: ESLClient) -> None:
    sim.faults.delay_events(0.2)
    started = time.monotonic()
    _, job = _originate(fs)
    assert job.result(timeout=3).ok
    assert time.monotonic() - started >= 0.2
