"""mod_event_socket's listener rules: case, filters, bad subscriptions, a client that stops
reading (MAX_QUEUE_LEN / MAX_MISSED)."""

from __future__ import annotations

import socket as stdsocket

import gevent
from gevent import socket

from dialer.simulator.originate import parse
from dialer.simulator.switch import MAX_MISSED, MAX_QUEUE_LEN
from tests.simulator.capture_tools import headers, nothing_more
from tests.simulator.client import event_name, login, running

REPLY = b"Content-Type: command/reply\nReply-Text: %s\n\n"


def test_commands_event_names_and_formats_are_case_insensitive() -> None:
    with running(scenario="all-answer", time_scale=0.01) as sim:
        c = login(sim.address, None)
        assert c.command(b"EVENT Plain channel_park SWITCH_EVENT_BACKGROUND_JOB\n\n") == (
            REPLY % b"+OK event listener enabled plain"
        )
        c.command(b"BGAPI originate {origination_uuid=k1}loopback/silent_human/default &park\n\n")
        names = [event_name(f) for f in c.until(lambda f: event_name(f) == "CHANNEL_PARK")]
        assert names == ["BACKGROUND_JOB", "CHANNEL_PARK"]
        assert c.command(b"Api uuid_exists k1\n\n").endswith(b"\n\ntrue")
        assert c.command(b"Exit\n\n") == REPLY % b"+OK bye"


def test_event_without_a_valid_name_is_refused_like_mod_event_socket() -> None:
    with running(scenario="all-answer", time_scale=0.01) as sim:
        c = login(sim.address, None)
        assert c.command(b"event plain NO_SUCH_EVENT\n\n") == REPLY % b"-ERR no keywords supplied"
        assert c.command(b"event json\n\n") == REPLY % b"-ERR no keywords supplied"
        assert c.command(b"nixevent BOGUS\n\n") == REPLY % b"-ERR no keywords supplied"
        assert c.command(b"noevents\n\n") == REPLY % b"-ERR not listening for events"
        c.command(b"bgapi version\n\n")
        nothing_more(c)  # nothing was subscribed
        # "event json" above still took the format, as FreeSWITCH does
        assert c.command(b"event BACKGROUND_JOB\n\n") == REPLY % b"+OK event listener enabled json"


def test_filter_values_match_case_insensitively_and_minus_filters_veto() -> None:
    with running(scenario="all-answer", time_scale=0.01) as sim:
        c = login(sim.address, b"event plain ALL")
        assert c.command(b"filter event-name background_job\n\n") == (
            REPLY % b"+OK filter added. [event-name]=[background_job]"
        )
        c.command(b"bgapi originate {origination_uuid=f1}loopback/silent_human/default &park\n\n")
        (job,) = c.until(lambda f: event_name(f) == "BACKGROUND_JOB", timeout=5)
        assert headers(job)["Job-Command"] == "originate"
        veto = login(sim.address, b"event plain CHANNEL_PARK CHANNEL_ANSWER")
        assert veto.command(b"filter Unique-ID /^f[0-9]$/\n\n").startswith(b"Content-Type")
        assert veto.command(b"filter Event-Name -CHANNEL_ANSWER\n\n").startswith(b"Content-Type")
        veto.command(
            b"bgapi originate {origination_uuid=f2}loopback/silent_human/default &park\n\n"
        )
        (park,) = veto.until(lambda f: event_name(f) == "CHANNEL_PARK", timeout=5)
        assert headers(park)["Unique-ID"] == "f2"
        nothing_more(veto)


def test_sendmsg_header_names_are_case_insensitive_the_command_word_is_not() -> None:
    """switch_event_get_header ignores case; switch_ivr_parse_event compares the value with a
    case-sensitive hash (switch_hashfunc_default), so EXECUTE does nothing."""
    with running(scenario="all-answer", time_scale=0.01) as sim:
        c = login(sim.address, b"event plain CHANNEL_PARK CHANNEL_EXECUTE")
        c.command(b"bgapi originate {origination_uuid=h1}loopback/silent_human/default &park\n\n")
        c.until(lambda f: event_name(f) == "CHANNEL_PARK", timeout=5)
        assert c.command(b"sendmsg h1\ncall-command: EXECUTE\nexecute-app-name: playback\n\n") == (
            REPLY % b"+OK"
        )
        nothing_more(c)
        c.send(
            b"sendmsg h1\nCall-Command: execute\nExecute-App-Name: playback\n"
            b"Execute-App-Arg: silence_stream://500\n\n"
        )
        frames = c.until(lambda f: event_name(f) == "CHANNEL_EXECUTE", timeout=5)
        assert headers(frames[-1])["Application"] == "playback"


def test_originate_app_argument_is_cut_like_originate_function() -> None:
    # mod_commands: the first ")" ends the argument, the first "(" starts it
    request = parse("{a=1}loopback/x/default &playback(tone_stream://%(2000,0,440))")
    assert (request.app, request.app_arg) == ("playback", "tone_stream://%(2000,0,440")
    assert parse("loopback/x/default &playback(/tmp/a.wav)").app_arg == "/tmp/a.wav"
    assert parse("loopback/x/default &park()").app_arg == ""
    assert parse("loopback/x/default &park").app == "park"


def test_a_listener_that_stops_reading_is_killed() -> None:
    """mod_event_socket: the event queue holds MAX_QUEUE_LEN events, then events are lost;
    after more than MAX_MISSED lost in a row the listener is killed (socket shut down)."""
    assert (MAX_QUEUE_LEN, MAX_MISSED) == (100_000, 500)  # mod_event_socket.c
    queue_len = 10
    with running(scenario="all-answer", time_scale=0.01, event_queue_len=queue_len) as sim:
        stuck = socket.socket(stdsocket.AF_INET, stdsocket.SOCK_STREAM)
        stuck.setsockopt(stdsocket.SOL_SOCKET, stdsocket.SO_RCVBUF, 4096)
        stuck.connect(sim.address)
        stuck.sendall(b"auth ClueCon\n\nevent plain CUSTOM sim::flood\n\n")
        watcher = login(sim.address, None)
        gevent.sleep(0.1)
        assert sim.live_connections == 2
        body = "x" * 65536
        sent = 0
        with gevent.Timeout(20):
            while sim.live_connections == 2:
                sim.faults.inject_event(
                    [("Event-Name", "CUSTOM"), ("Event-Subclass", "sim::flood")], body
                )
                sent += 1
                gevent.sleep(0)  # let the writer block on the full socket
        # killed right after MAX_MISSED + 1 losses in a row, with the queue full
        assert sim.live_connections == 1
        received = b""
        with gevent.Timeout(10):
            while chunk := stuck.recv(1 << 20):
                received += chunk
        written = received.count(b"Event-Subclass: sim%3A%3Aflood")
        conn = sim.switch.history[0]
        assert conn.lost_events == MAX_MISSED + 1  # killed on the 501st loss in a row
        assert conn.queued_events == queue_len  # the queue was full all along
        taken = sent - queue_len - conn.lost_total  # what the writer had taken
        assert written in (taken - 1, taken)  # the last one may be cut mid-frame
        stuck.close()
        assert watcher.command(b"api version\n\n").startswith(b"Content-Type: api/response")
