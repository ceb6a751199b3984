"""``export`` + ``bridge`` on a parked A leg, against capture 17."""

from __future__ import annotations

from tests.simulator.capture_tools import headers
from tests.simulator.client import event_name, login, running
from tests.support.transcripts import load


def test_bridge_carries_exported_and_block_variables_like_17() -> None:
    t = load("17_bridge_sip_custom_headers.txt")
    sent = [c.data for c in t.sent(1)]
    got = [c.data for c in t.received(1)]
    cap_bridge = headers(next(g for g in got if event_name(g) == "CHANNEL_BRIDGE"))
    cap_getvar = next(g for g in got if g.endswith(b"\n\nabc"))
    subscribe, originate = sent[1], sent[2]
    export, bridge = (x for x in sent if x.startswith(b"sendmsg"))
    uuid = cap_bridge["Bridge-A-Unique-ID"]
    with running(scenario="realistic", time_scale=0.01) as sim:
        c = login(sim.address, subscribe.rstrip(b"\n"))
        watch = login(sim.address, b"event plain CHANNEL_UNBRIDGE CHANNEL_HANGUP_COMPLETE")
        c.command(originate)
        c.until(lambda f: event_name(f) == "CHANNEL_PARK", timeout=5)
        assert c.command(export) == b"Content-Type: command/reply\nReply-Text: +OK\n\n"
        assert c.command(bridge) == b"Content-Type: command/reply\nReply-Text: +OK\n\n"
        done = headers(c.until(lambda f: event_name(f) == "CHANNEL_BRIDGE", timeout=5)[-1])
        far = done["Bridge-B-Unique-ID"]
        values = [
            c.command(f"api uuid_getvar {far} sip_h_X-Dialer-{name}\n\n".encode())
            for name in ("Attempt", "Campaign", "Exported")
        ]
        assert c.command(f"api uuid_kill {uuid}\n\n".encode()).endswith(b"\n\n+OK\n")
        ends = watch.until(lambda f: event_name(f) == "CHANNEL_HANGUP_COMPLETE", timeout=5)
        gone = c.command(f"api uuid_exists {far}\n\n".encode())
    assert done["Bridge-A-Unique-ID"] == uuid
    assert far != uuid
    assert values[0] == cap_getvar
    assert [v.split(b"\n\n", 1)[1] for v in values] == [b"abc", b"42", b"yes"]
    for name in ("variable_nolocal:sip_h_X-Dialer-Exported", "variable_export_vars"):
        assert done[name] == cap_bridge[name]
    assert [event_name(f) for f in ends] == ["CHANNEL_UNBRIDGE", "CHANNEL_HANGUP_COMPLETE"]
    assert gone.endswith(b"\n\nfalse")


def test_a_failed_bridge_hangs_up_the_a_leg() -> None:
    with running(scenario="realistic", time_scale=0.01) as sim:
        c = login(sim.address, b"event plain CHANNEL_PARK CHANNEL_BRIDGE CHANNEL_HANGUP_COMPLETE")
        c.command(b"bgapi originate {origination_uuid=b1}loopback/silent_human/default &park\n\n")
        c.until(lambda f: event_name(f) == "CHANNEL_PARK", timeout=5)
        c.send(
            b"sendmsg b1\ncall-command: execute\nexecute-app-name: bridge\n"
            b"execute-app-arg: loopback/busy/default\n\n"
        )
        frames = c.until(lambda f: event_name(f) == "CHANNEL_HANGUP_COMPLETE", timeout=5)
    assert "CHANNEL_BRIDGE" not in [event_name(f) for f in frames]
    assert headers(frames[-1])["Hangup-Cause"] == "USER_BUSY"
