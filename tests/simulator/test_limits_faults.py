"""Limits, ledger and fault injection under real concurrent TCP load."""

from __future__ import annotations

import random
import re
import time

import gevent
import pytest

from dialer.simulator import Scenario
from dialer.simulator.limits import SessionLimits
from dialer.simulator.originate import OriginateError, parse, parse_command
from tests.simulator.client import RawClient, event_name, login, running


def _bg(i: int, camp: str) -> bytes:
    return (
        f"bgapi originate {{origination_uuid=u-{i},dialer_campaign_id={camp},"
        f"originate_timeout=20}}sofia/gateway/gw/1555{i:06d} &park\n"
        f"Job-UUID: j-{i}\n\n"
    ).encode()


def test_200_concurrent_originates_respect_limits_and_ledger() -> None:
    # the calls outlive the test, so exactly max-sessions of them get a session
    scenario = Scenario.from_dict(
        {"outcomes": {"answer": 1.0}, "ring": 0.5, "numbers": {"1555*": {"hangup_after": 1e6}}}
    )
    with running(
        scenario=scenario, time_scale=0.05, max_sessions=60, sessions_per_second=1000
    ) as sim:
        clients = [login(sim.address, b"event plain BACKGROUND_JOB") for _ in range(4)]

        def fire(k: int, client: RawClient) -> None:
            for i in range(k * 50, k * 50 + 50):
                client.send(_bg(i, f"c{k % 2}"))

        gevent.joinall([gevent.spawn(fire, k, c) for k, c in enumerate(clients)], timeout=5)
        # every listener gets every BACKGROUND_JOB: collect them on one connection
        jobs: dict[bytes, bytes] = {}
        with gevent.Timeout(10):
            while len(jobs) < 200:
                frame = clients[0].frame(timeout=10)
                if event_name(frame) == "BACKGROUND_JOB":
                    job = re.search(rb"^Job-UUID: (\S+)$", frame, re.M)
                    assert job is not None
                    assert job.group(1) not in jobs
                    jobs[job.group(1)] = frame.split(b"\n\n")[-1]
        results = list(jobs.values())
        ok = [r for r in results if r.startswith(b"+OK")]
        refused = [r for r in results if r == b"-ERR DESTINATION_OUT_OF_ORDER\n"]
        assert (len(ok), len(refused)) == (60, 140), set(results)
        assert sim.switch.limits.peak == 60
        facts = sim.facts
        originates = facts.of("originate")
        assert len(originates) == 200
        assert len({f["attempt_id"] for f in originates}) == 200
        assert facts.duplicates_by_attempt() == {}
        assert facts.max_concurrent() == 60
        by_campaign = facts.max_concurrent_by_campaign()
        assert set(by_campaign) == {"c0", "c1"}
        assert sum(by_campaign.values()) == 60  # the two campaigns share the 60 sessions
        assert len(facts.of("refused")) == len(refused) == 140


def test_sessions_per_second_like_fixture_09a() -> None:
    limits = SessionLimits(max_sessions=1000, sessions_per_second=30)
    while int(time.monotonic() % 1 * 10) > 5:  # start early in a second
        time.sleep(0.05)
    grants = [limits.acquire(2) for _ in range(50)]
    assert (grants.count(2), grants.count(1), grants.count(0)) == (14, 1, 35)


def test_sps_throttle_over_tcp_and_fsctl() -> None:
    with running(scenario="all-answer", time_scale=0.01, sessions_per_second=10) as sim:
        c = login(sim.address, None)
        bodies = []
        while int(time.monotonic() % 1 * 10) > 5:  # all ten inside one second of the counter
            gevent.sleep(0.05)
        for i in range(10):
            reply = c.command(
                f"api originate {{origination_uuid=s{i}}}error/USER_BUSY &park\n\n".encode()
            )
            bodies.append(reply.split(b"\n\n")[1])
        # a budget of 10 admits 9 sessions a second (09a: 29 of 30); the 10th is throttled
        assert bodies == [b"-ERR USER_BUSY\n"] * 9 + [b"-ERR DESTINATION_OUT_OF_ORDER\n"]
        assert b"1000" in c.command(b"api fsctl sps 1000\n\n")
        assert c.command(b"api originate error/USER_BUSY &park\n\n").endswith(b"USER_BUSY\n")


def test_duplicate_origination_uuid_is_not_rejected_but_recorded() -> None:
    with running(scenario="all-answer", time_scale=0.01) as sim:
        c = login(sim.address, None)
        for _ in range(2):
            c.command(
                b"bgapi originate {origination_uuid=dup,dialer_attempt_id=a1}"
                b"loopback/silent_human/default &park\n\n"
            )
        gevent.sleep(0.3)
        assert sim.facts.duplicates_by_attempt() == {"a1": 2}
        assert len(sim.facts.of("duplicate")) == 1


def test_faults_refuse_stall_garbage_truncated_drop() -> None:
    with running(scenario="all-answer", time_scale=0.01) as sim:
        c = login(sim.address, None)
        sim.faults.refuse_originates("CALL_REJECTED")
        assert c.command(b"api originate loopback/x/default &park\n\n").endswith(
            b"-ERR CALL_REJECTED\n"
        )
        sim.faults.clear()
        sim.faults.stall(0.5)
        t0 = time.monotonic()
        c.command(b"api version\n\n")
        assert time.monotonic() - t0 >= 0.4  # a lower bound: the stall is a wall-clock wait
        sim.faults.send_garbage(b"\x00garbage\n\n")
        assert c.frame(timeout=2) == b"\x00garbage\n\n"
        sim.faults.delay_events(0.3)
        c.command(b"event plain BACKGROUND_JOB\n\n")
        t0 = time.monotonic()
        c.command(b"bgapi version\n\n")
        c.frame(timeout=2)
        assert time.monotonic() - t0 >= 0.25  # likewise the 0.3 s event delay
        sim.faults.send_truncated_frame()
        with gevent.Timeout(2):
            while b"\n\n" not in c.buf or c.buf.count(b"\n") < 4:
                c._fill()
        assert re.match(rb"Content-Length: 500\n", c.buf)
        assert c.closed()
        d = login(sim.address, None)
        sim.faults.drop_connections()
        assert d.closed()
        e = login(sim.address, None)  # the server keeps accepting
        assert e.command(b"api uuid_exists nope\n\n").endswith(b"false")


def test_acl_rude_rejection() -> None:
    with running(scenario="all-answer", acl=("10.0.0.0/8",)) as sim:
        c = RawClient(sim.address)
        frame = c.frame()
        assert frame.startswith(b"Content-Type: text/rude-rejection\nContent-Length: ")
        assert c.closed()


def _block_vars(block: str) -> dict[str, str]:
    """What FreeSWITCH stores for ``{block}``: blank split first, then the block."""
    return dict(parse_command("originate {" + block + "}loopback/a/default &park")[0])


def test_originate_parsing_rules_from_readme() -> None:
    assert _block_vars(r"t1=a\,b,t2=after") == {"t1": "a,b", "t2": "after"}
    assert _block_vars("t1='a b'") == {"t1": "a b"}
    assert _block_vars(r"t1='a\,b c'") == {"t1": "a,b c"}
    assert _block_vars("t1='a b,c=d'")["t1"] == "a b"
    assert _block_vars("t1=x=y") == {"t1": "x=y"}
    assert _block_vars("t1='it''s'") == {"t1": "its"}
    assert _block_vars("t1=^^:a:b,c") == {"t1": "^^:a:b"}
    for bad, cause in (
        ("{x=hello world}loopback/a/default &park", "DESTINATION_OUT_OF_ORDER"),
        ("{t1='a}b'}loopback/a/default &park", "CHAN_NOT_IMPLEMENTED"),
        ("nosuchtech/foo &park", "CHAN_NOT_IMPLEMENTED"),
    ):
        with pytest.raises(OriginateError) as caught:
            parse(bad)
        assert caught.value.cause == cause, bad
    assert parse("{a=1}sofia/gateway/gw/+15551234 &park").dial.number == "+15551234"
    assert parse("sofia/dialer/agent@127.0.0.1:5080 &park").dial.number == "agent"
    flow = parse("{a=1}loopback/5551/default dialer_flow XML default")
    assert (flow.dialplan, flow.app, flow.dial.sessions) == (True, "dialer_flow", 2)


def test_scenario_rates_roughly_honoured_with_seed() -> None:
    scenario = Scenario.load("realistic")
    rng = random.Random(42)
    plans = [scenario.plan(f"+1555{i:07d}", rng) for i in range(4000)]
    share = {o: sum(p.outcome == o for p in plans) / len(plans) for o in scenario.outcomes}
    for outcome, rate in scenario.outcomes.items():
        # sampling: 4000 draws put each share within 3 points of its rate (seeded, so stable)
        assert abs(share[outcome] - rate) < 0.03, (outcome, share[outcome])
    machines = sum(p.machine for p in plans) / len(plans)
    assert abs(machines - scenario.machine_share) < 0.03
    # one seed, one sequence: a fresh scenario and rng give every plan again, in order
    rng_again, fresh = random.Random(42), Scenario.load("realistic")
    again = [fresh.plan(f"+1555{i:07d}", rng_again) for i in range(4000)]
    assert again == plans
    other = random.Random(43)
    assert [scenario.plan(f"+1555{i:07d}", other) for i in range(4000)] != plans
    forced = Scenario.from_dict(
        {
            "outcomes": {"answer": 1.0},
            "numbers": {"+1999*": {"outcome": "busy"}, "+19995550000": {"outcome": "invalid"}},
        }
    )
    assert forced.plan("+19990001111", rng).cause == "USER_BUSY"
    assert forced.plan("+19995550000", rng).cause == "NO_ROUTE_DESTINATION"
    assert forced.plan("+18880000000", rng).outcome == "answer"
