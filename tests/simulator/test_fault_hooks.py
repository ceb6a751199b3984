"""The fault hooks the ESL adapter's tests drive, each over a real socket."""

from __future__ import annotations

import time

import gevent
import pytest
from gevent import socket
from typer.testing import CliRunner

from dialer.cli.main import app
from dialer.simulator.cli import build_simulator, parse_acl
from tests.simulator.capture_tools import nothing_more
from tests.simulator.client import event_name, login, running


def test_silence_leaves_listed_commands_unanswered() -> None:
    with running(scenario="all-answer", time_scale=0.01) as sim:
        c = login(sim.address, None)
        sim.faults.silence("api", "SENDMSG")
        c.send(b"api version\n\n")
        nothing_more(c)  # read, never answered
        assert c.command(b"bgapi version\n\n").startswith(b"Content-Type: command/reply")
        sim.faults.clear()
        assert c.command(b"api version\n\n").startswith(b"Content-Type: api/response")
        assert sim.commands_received()[-1][-3:] == ["api version", "bgapi version", "api version"]


def test_delay_jobs_holds_only_background_jobs() -> None:
    with running(scenario="all-answer", time_scale=0.01) as sim:
        c = login(sim.address, b"event plain BACKGROUND_JOB HEARTBEAT")
        sim.faults.delay_jobs(0.4)
        t0 = time.monotonic()
        assert c.command(b"bgapi version\n\n").startswith(b"Content-Type: command/reply")
        replied = time.monotonic() - t0
        sim.faults.inject_event([("Event-Name", "HEARTBEAT")])
        assert event_name(c.frame(timeout=2)) == "HEARTBEAT"  # other events on time
        job = c.frame(timeout=2)
        waited = time.monotonic() - t0
        assert event_name(job) == "BACKGROUND_JOB"
        assert replied < 0.2 <= 0.4 <= waited
        sim.faults.clear()
        assert sim.faults.job_delay == 0.0


def test_coalesce_writes_puts_a_reply_and_its_job_in_one_read() -> None:
    with running(scenario="all-answer", time_scale=0.01) as sim:
        c = login(sim.address, b"event plain BACKGROUND_JOB")
        sim.faults.coalesce_writes(0.2)
        c.sock.sendall(b"bgapi version\n\n")
        with gevent.Timeout(2):
            data = c.sock.recv(1 << 20)  # ONE read
        assert data.startswith(b"Content-Type: command/reply\nReply-Text: +OK Job-UUID: ")
        assert b"\nContent-Type: text/event-plain\n\n" in data
        assert data.endswith(b"(git a88d069 2024-08-02 21:02:27Z 64bit)\n")  # the job's body
        sim.faults.clear()
        assert sim.faults.coalesce == 0.0


def test_send_raw_to_every_connection_then_close() -> None:
    with running(scenario="all-answer", time_scale=0.01) as sim:
        a, b = login(sim.address, None), login(sim.address, None)
        sim.faults.send_raw(b"Content-Type: text/weird\n\n")
        assert a.frame(timeout=2) == b.frame(timeout=2) == b"Content-Type: text/weird\n\n"
        sim.faults.send_raw(b"bye\n\n", close=True)
        assert a.frame(timeout=2) == b"bye\n\n"
        assert a.closed()
        assert b.closed()


def test_msleep_blocks_that_connections_later_replies_in_order() -> None:
    with running(scenario="all-answer", time_scale=0.01) as sim:
        c = login(sim.address, None)
        other = login(sim.address, None)
        t0 = time.monotonic()
        c.send(b"api msleep 800\n\napi version\n\n")
        assert other.command(b"api uuid_exists x\n\n").endswith(b"false")  # others go on
        assert time.monotonic() - t0 < 0.6
        first = c.frame(timeout=3)
        assert first == b"Content-Type: api/response\nContent-Length: 3\n\n+OK"
        assert time.monotonic() - t0 >= 0.8
        assert c.frame(timeout=2).endswith(b"64bit)\n")  # then the version, in order


def test_live_connections_and_commands_received() -> None:
    with running(scenario="all-answer", time_scale=0.01) as sim:
        assert sim.live_connections == 0
        c = login(sim.address, b"event plain BACKGROUND_JOB")
        d = login(sim.address, None)
        assert sim.live_connections == 2
        d.command(b"api status\n\n")
        d.close()
        with gevent.Timeout(2):
            while sim.live_connections != 1:
                gevent.sleep(0.01)
        assert sim.commands_received() == [
            ["auth", "event plain BACKGROUND_JOB"],
            ["auth", "api status"],
        ]
        assert sim.commands_received(live_only=True) == [["auth", "event plain BACKGROUND_JOB"]]
        c.close()


def test_acl_admits_only_the_listed_networks() -> None:
    with running(scenario="all-answer", acl=("127.0.0.2/32",)) as sim:
        c = socket.create_connection(sim.address)
        with gevent.Timeout(2):
            assert c.recv(4096).startswith(b"Content-Type: text/rude-rejection\n")
    with running(scenario="all-answer", acl=("10.0.0.0/8", "127.0.0.0/8")) as sim:
        ok = login(sim.address, b"event plain ALL")
        assert ok.command(b"api status\n\n").startswith(b"Content-Type: api/response")


def test_simulator_command_takes_an_acl() -> None:
    result = CliRunner().invoke(app, ["simulator", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "--acl" in result.output
    assert "CIDR[,CIDR...]" in result.output
    assert parse_acl(None) == parse_acl("") == ("127.0.0.0/8", "::1/128")
    assert parse_acl("10.0.0.0/8, 172.16.0.0/12") == ("10.0.0.0/8", "172.16.0.0/12")
    with pytest.raises(ValueError, match="--acl: 'nonsense'"):
        parse_acl("10.0.0.0/8,nonsense")
    sim = build_simulator(listen="127.0.0.1:0", acl="127.0.0.2/32", time_scale=0.01)
    sim.start()
    try:
        c = socket.create_connection(sim.address)
        with gevent.Timeout(2):
            assert c.recv(4096).startswith(b"Content-Type: text/rude-rejection\n")
    finally:
        sim.stop()


def test_without_takes_a_module_off_the_node_and_refuses_an_unknown_one() -> None:
    sim = build_simulator(listen="127.0.0.1:0", without=["mod_amd"])
    assert "mod_amd" not in sim.switch.modules
    assert "mod_avmd" in sim.switch.modules
    with pytest.raises(ValueError, match="--without: mod_nope is not a module it loads"):
        build_simulator(listen="127.0.0.1:0", without=["mod_nope"])


def test_queue_adds_a_callcenter_queue_and_refuses_a_bad_name() -> None:
    from dialer.simulator import introspect

    sim = build_simulator(listen="127.0.0.1:0", queues=["sales@default"])
    assert introspect.queues(sim.switch) == ("dialer_q@default", "sales@default")
    with pytest.raises(ValueError, match="--queue: 'sales' is not a queue name"):
        build_simulator(listen="127.0.0.1:0", queues=["sales"])
