"""Restarting the node like ``fsctl shutdown restart`` (capture 14)."""

from __future__ import annotations

import time

import gevent

from tests.simulator.capture_tools import headers
from tests.simulator.client import RawClient, event_name, inner, login, running
from tests.support.transcripts import load

EVENTS = b"event plain HEARTBEAT BACKGROUND_JOB"


def _status_job(c: RawClient) -> tuple[str, int, bytes]:
    c.command(b"bgapi status\n\n")
    job = c.until(lambda f: event_name(f) == "BACKGROUND_JOB", timeout=5)[-1]
    h = headers(job)
    return h["Core-UUID"], int(h["Event-Sequence"]), inner(job)[1]


def _connect_when_up(address: tuple[str, int], limit: float) -> tuple[RawClient, int]:
    refused = 0
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            return login(address, EVENTS), refused
        except (ConnectionRefusedError, EOFError):
            refused += 1
            gevent.sleep(0.01)
    raise AssertionError("the simulator never answered again")


def test_fsctl_shutdown_restart_like_14() -> None:
    t = load("14_restart_core_uuid_event_sequence.txt")
    got1 = [c.data for c in t.received(1)]
    restart_reply, notice = got1[-2], got1[-1]
    after = next(inner(c.data)[1] for c in t.received(2) if event_name(c.data) == "BACKGROUND_JOB")
    with running(scenario="realistic", time_scale=0.01) as sim:
        c = login(sim.address, EVENTS)
        c.command(
            b"bgapi originate {origination_uuid=lost-1}loopback/silent_human/default &park\n\n"
        )
        c.until(lambda f: event_name(f) == "BACKGROUND_JOB", timeout=5)
        core, seq, _ = _status_job(c)
        assert c.command(b"api fsctl shutdown restart\n\n") == restart_reply
        assert c.frame(timeout=5) == notice  # "The system is being shut down."
        assert c.closed()
        d, refused = _connect_when_up(sim.address, limit=5)
        assert refused > 0  # it was down for a while
        core2, seq2, body = _status_job(d)
        assert d.command(b"api uuid_exists lost-1\n\n").endswith(b"\n\nfalse")
    assert core2 != core  # a new Core-UUID
    assert seq2 < seq  # Event-Sequence started again
    lines = body.split(b"\n")
    assert lines[2] == after.split(b"\n")[2] == b"0 session(s) since startup"
    assert lines[0].startswith(b"UP 0 years, 0 days, 0 hours, 0 minutes, 0 seconds")
    (lost,) = [f for f in sim.ledger if f["event"] == "hangup"]
    assert (lost["uuid"], lost["cause"], lost["lost"]) == ("lost-1", "SYSTEM_SHUTDOWN", True)
    assert [f["event"] for f in sim.ledger].count("restart") == 1


def test_restart_fault_with_a_chosen_downtime() -> None:
    with running(scenario="all-answer", time_scale=0.01) as sim:
        c = login(sim.address, None)
        t0 = time.monotonic()
        sim.faults.restart(down_for=0.3)
        assert c.frame(timeout=5).endswith(b"\n\nThe system is being shut down.\n")
        assert c.closed()
        d, refused = _connect_when_up(sim.address, limit=5)
        assert time.monotonic() - t0 >= 0.3
        assert refused > 0
        assert d.command(b"api version\n\n").startswith(b"Content-Type: api/response")
        assert sim.live_connections == 1
