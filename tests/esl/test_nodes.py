"""Node configuration parsing and health from ``api status`` / HEARTBEAT (real captures)."""

from __future__ import annotations

import pytest

from dialer.esl import NodeConfig, NodeConfigError, NodeHealth, parse_nodes, parse_status
from dialer.esl.events import parse_event
from dialer.esl.frames import FrameParser
from dialer.esl.nodes import status_from_heartbeat
from tests.support import transcripts


def test_url_style_list() -> None:
    nodes = parse_nodes(
        "fs1=esl://:s%40cret@10.0.0.5:8022?max_channels=300&sps=15, fs2=esl://fs2.local"
    )
    assert [n.name for n in nodes] == ["fs1", "fs2"]
    assert nodes[0].host == "10.0.0.5"
    assert nodes[0].port == 8022
    assert nodes[0].password.get_secret_value() == "s@cret"
    assert nodes[0].max_channels == 300
    assert nodes[0].sessions_per_second == 15
    assert nodes[1] == NodeConfig(name="fs2", host="fs2.local")
    assert "s@cret" not in repr(nodes[0])


def test_json_list_and_object() -> None:
    as_list = parse_nodes('[{"name": "a", "host": "h", "max_channels": 5}]')
    as_object = parse_nodes('{"a": {"host": "h", "max_channels": 5}}')
    assert as_list == as_object
    assert as_list[0].max_channels == 5


@pytest.mark.parametrize(
    "text",
    [
        "fs1=http://h",
        "fs1",
        "fs1=esl://h?colour=red",
        "fs1=esl://h:99999",
        "fs1=esl://h?max_channels=0",
        "a=esl://h,a=esl://g",
        '[{"name": "bad name", "host": "h"}]',
        '[{"name": "a"}]',
        "[1, 2]",
        "{not json",
    ],
)
def test_bad_node_lists(text: str) -> None:
    with pytest.raises(NodeConfigError):
        parse_nodes(text)


def test_empty_means_no_nodes() -> None:
    assert parse_nodes("  ") == []


def test_client_from_config() -> None:
    client = NodeConfig(name="fs1", host="127.0.0.1", port=1).client(command_timeout=3)
    assert client.name == "fs1"
    assert client.command_timeout == 3


def test_status_from_the_captured_api_status() -> None:
    replies = [
        f.body.decode()
        for f in FrameParser().feed(transcripts.load("08a_api_bgapi_commands.txt").stream(1))
        if f.content_type == "api/response" and f.body.startswith(b"UP ")
    ]
    status = parse_status(replies[0])
    assert status.ready
    assert status.sessions == 2
    assert status.sessions_peak == 4
    assert status.sps_last == 2
    assert status.sps_limit == 30
    assert status.max_sessions == 1000
    assert status.idle_cpu == 97.0
    assert status.uptime_seconds == pytest.approx(7 * 60 + 49.187307)


def test_status_from_a_captured_heartbeat() -> None:
    stream = transcripts.load("02_press1_queue_agent_plain.txt").stream(1)
    beat = next(
        e
        for f in FrameParser().feed(stream)
        if f.content_type == "text/event-plain" and (e := parse_event(f)).name == "HEARTBEAT"
    )
    status = status_from_heartbeat(beat)
    assert status.ready
    assert status.sessions == 4
    assert status.max_sessions == 1000
    assert status.sps_limit == 30
    assert status.idle_cpu == pytest.approx(98.333333)
    assert status.uptime_seconds == 260.2


def test_health_goes_stale() -> None:
    health = NodeHealth(NodeConfig(name="a", host="h", max_channels=10), max_age=45)
    assert not health.healthy(now=0)
    health.update(
        parse_status("FreeSWITCH (Version x) is ready\n3 session(s) - peak 3, last 5min 3\n"),
        now=100,
    )
    assert health.healthy(now=140)
    assert not health.healthy(now=146)
    assert health.free_sessions() == 7
