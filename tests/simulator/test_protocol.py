"""Replaying the fixtures' client bytes: the simulator answers with the captured frames."""

from __future__ import annotations

import re

import gevent
import pytest

from tests.simulator.client import RawClient, event_name, inner, login, running
from tests.support.transcripts import Transcript, load


def test_handshake_replay_is_byte_exact() -> None:
    t = load("01_handshake.txt")
    with running(scenario="all-answer", time_scale=0.01) as sim:
        for conn in t.connections:
            client = RawClient(sim.address)
            expected = [c.data for c in t.received(conn)]
            got = [client.frame()]
            for chunk in t.sent(conn):
                client.send(chunk.data)
                got.append(client.frame())
                if chunk.data.startswith((b"exit", b"auth WrongPassword")):
                    got.append(client.frame())
            assert got == expected, conn
            if conn in t.closed_by_server:
                assert client.closed()


def _leg(frame: bytes) -> tuple[str, str]:
    """Event name and which loopback leg ("-a", "-b"; "" without a channel)."""
    name = dict(inner(frame)[0]).get("Channel-Name", "")
    return event_name(frame) or "", name[-2:] if name else ""


def _events(t: Transcript) -> list[bytes]:
    return [c.data for c in t.received(1) if c.data.startswith(b"Content-Length")]


def test_api_commands_like_08a() -> None:
    t = load("08a_api_bgapi_commands.txt")
    with running(scenario="all-answer", time_scale=0.01) as sim:
        c = login(
            sim.address,
            b"event plain BACKGROUND_JOB CHANNEL_CREATE CHANNEL_ANSWER "
            b"CHANNEL_HANGUP_COMPLETE CHANNEL_DESTROY",
        )
        u = "15657257-5a22-455c-81db-633deda2cd13"
        bg = (
            f"bgapi originate {{origination_uuid={u},campaign_id=c1,recipient_id=r1,"
            "originate_timeout=20,ignore_early_media=true,origination_caller_id_number="
            "15550001,origination_caller_id_name=Dialer}loopback/silent_human/default &park"
            "\nJob-UUID: 27164e33-6dfa-4d1a-95b6-bc60539d0251\n\n"
        ).encode()
        captured = {c2.data: None for c2 in t.received(1)}
        assert c.command(bg) in captured  # byte-exact: +OK Job-UUID + Job-UUID header
        frames = c.until(lambda f: event_name(f) == "BACKGROUND_JOB")
        # both loopback legs, in the captured order
        assert (
            [_leg(f) for f in frames]
            == [_leg(f) for f in _events(t)[:5]]
            == [
                ("CHANNEL_CREATE", "-a"),
                ("CHANNEL_CREATE", "-b"),
                ("CHANNEL_ANSWER", "-a"),
                ("CHANNEL_ANSWER", "-b"),
                ("BACKGROUND_JOB", ""),
            ]
        )
        headers, body = inner(frames[-1])
        cap_headers, cap_body = inner(
            next(x.data for x in t.received(1) if event_name(x.data) == "BACKGROUND_JOB")
        )
        cap_body = cap_body.replace(b"15657257-5a22-455c-81db-633deda2cd13", u.encode())
        assert [n for n, _ in headers] == [n for n, _ in cap_headers]
        assert body == cap_body
        reply = c.command(b"bgapi status\n\n")
        assert re.fullmatch(
            rb"Content-Type: command/reply\nReply-Text: \+OK Job-UUID: "
            rb"[0-9a-f-]{36}\nJob-UUID: [0-9a-f-]{36}\n\n",
            reply,
        )
        job = c.frame()
        assert [n for n, _ in inner(job)[0]][-2:] == ["Job-UUID", "Job-Command"]
        # one loopback call is two channels, A and B leg (08a)
        assert c.command(b"api show channels count\n\n") == (
            b"Content-Type: api/response\nContent-Length: 10\n\n\n2 total.\n"
        )
        assert any(x.data.endswith(b"\n\n\n2 total.\n") for x in t.received(1))
        rows = c.command(b"api show channels as json\n\n")
        cap_rows = next(x.data for x in t.received(1) if b"row_count" in x.data)
        keys = re.findall(rb'"(\w+)":', rows.split(b"\n\n", 1)[1])
        cap_keys = re.findall(rb'"(\w+)":', cap_rows.split(b"\n\n", 1)[1])
        assert keys == cap_keys[: len(keys)]
        status = c.command(b"api status\n\n").split(b"\n\n", 1)[1].split(b"\n")
        cap_status = (
            next(
                x.data
                for x in t.received(1)
                if x.data.startswith(b"Content-Type: api/response") and b"UP 0" in x.data
            )
            .split(b"\n\n", 1)[1]
            .split(b"\n")
        )
        assert [re.sub(rb"\d+", b"N", s) for s in status] == [
            re.sub(rb"\d+", b"N", s) for s in cap_status
        ]
        exact = {
            f"api uuid_exists {u}": b"true",
            f"api uuid_getvar {u} campaign_id": b"c1",
            f"api uuid_transfer {u} park_here XML default": b"+OK\n",
            "api module_exists mod_amd": b"true",
            "api fsctl sps 1000": b"+OK sessions per second: 1000\n",
            "api version": b"FreeSWITCH Version 1.10.12-release+git~20240802T210227Z~a88d069d6f"
            b"~64bit (git a88d069 2024-08-02 21:02:27Z 64bit)\n",
            "api no_such_api_command arg": b"-ERR no_such_api_command Command not found!\n",
        }
        for cmd, body in exact.items():
            got = c.command(cmd.encode() + b"\n\n")
            assert got == b"Content-Type: api/response\nContent-Length: %d\n\n%s" % (
                len(body),
                body,
            ), cmd
        assert c.command(f"api uuid_kill {u}\n\n".encode()).endswith(b"\n\n+OK\n")
        frames = c.until(lambda f: _leg(f) == ("CHANNEL_DESTROY", "-a"))
        killed = [_leg(f) for f in _events(t) if _leg(f)[0] != "BACKGROUND_JOB"][4:8]
        assert (
            [_leg(f) for f in frames]
            == killed
            == [
                ("CHANNEL_HANGUP_COMPLETE", "-a"),
                ("CHANNEL_HANGUP_COMPLETE", "-b"),
                ("CHANNEL_DESTROY", "-b"),
                ("CHANNEL_DESTROY", "-a"),
            ]
        )
        for cmd in (f"api uuid_kill {u}", f"api uuid_transfer {u} park_here XML default"):
            assert c.command(cmd.encode() + b"\n\n").endswith(b"\n\n-ERR No such channel!\n")
        assert c.command(b"api hupall\n\n").endswith(
            b"+OK hangup all channels with cause MANAGER_REQUEST\n"
        )
        assert c.command(b"api hupall NORMAL_CLEARING campaign_id c1\n\n").endswith(
            b"+OK hangup all channels matching [campaign_id]=[c1] with cause: NORMAL_CLEARING\n"
        )


def test_blocking_api_originate_holds_events() -> None:
    with running(scenario="all-answer", time_scale=0.01) as sim:
        c = login(sim.address)
        got = c.command(
            b"api originate {origination_uuid=u-1,originate_timeout=5}"
            b"loopback/never_answer/default &park\n\n"
        )
        assert got == b"Content-Type: api/response\nContent-Length: 15\n\n-ERR NO_ANSWER\n"
        names = [event_name(f) for f in c.until(lambda f: event_name(f) == "CHANNEL_DESTROY")]
        assert names[:2] == ["CHANNEL_OUTGOING", "CHANNEL_STATE"]
        assert "CHANNEL_HANGUP_COMPLETE" in names


def test_event_subscription_rules() -> None:
    with running(scenario="all-answer", time_scale=0.01) as sim:
        before = RawClient(sim.address)
        before.frame()
        assert before.command(b"api status\n\n") == (
            b"Content-Type: command/reply\nReply-Text: -ERR command not found\n\n"
        )
        a = login(sim.address, b"event plain CUSTOM dialer::amd CHANNEL_HANGUP_COMPLETE")
        b = login(sim.address, b"event plain CHANNEL_HANGUP_COMPLETE CUSTOM dialer::amd")
        j = login(sim.address, b"event json CHANNEL_PARK")
        f = login(sim.address, b"event plain ALL")
        assert f.command(b"filter Event-Name BACKGROUND_JOB\n\n") == (
            b"Content-Type: command/reply\nReply-Text: +OK filter added. "
            b"[Event-Name]=[BACKGROUND_JOB]\n\n"
        )
        b.command(
            b"bgapi originate {dialer_attempt_id=a1}loopback/amd_human/default "
            b"dialer_flow XML default\n\n"
        )
        j.command(b"bgapi originate {origination_uuid=p1}loopback/silent_human/default &park\n\n")
        names_b = [
            event_name(x)
            for x in b.until(lambda x: event_name(x) == "CHANNEL_HANGUP_COMPLETE", timeout=10)
        ]
        assert names_b == ["CUSTOM", "CHANNEL_HANGUP_COMPLETE"]
        amd = a.frame(timeout=5)
        assert b"Event-Subclass: dialer%3A%3Aamd\n" in amd
        headers, _ = inner(amd)
        names = [n for n, _ in headers]
        assert names[0] == "Event-Subclass"
        assert names[13] == "Event-Name"
        assert names[14:17] == ["dialer_attempt_id", "amd_result", "amd_cause"]
        with pytest.raises(gevent.Timeout):  # CHANNEL_HANGUP_COMPLETE after CUSTOM: a subclass
            a.frame(timeout=1)
        park = j.frame(timeout=5)
        assert park.startswith(b"Content-Length: ")
        assert b"text/event-json\n\n{" in park
        assert [event_name(x) for x in f.until(lambda x: event_name(x) == "BACKGROUND_JOB")] == [
            "BACKGROUND_JOB"
        ]
