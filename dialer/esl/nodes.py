"""FreeSWITCH nodes: configuration, and health from ``api status`` and HEARTBEAT events.

Configuration comes from one setting (e.g. ``DIALER_FS_NODES``), as JSON::

    [{"name": "fs1", "host": "10.0.0.5", "password": "s3cret", "max_channels": 300,
      "sessions_per_second": 30}]

or as a compact list of ``name=esl://[:password@]host[:port][?max_channels=N&sps=M]``
separated by commas or blanks (the password URL-encoded)::

    fs1=esl://:s3cret@10.0.0.5:8021?max_channels=300&sps=30, fs2=esl://10.0.0.6

The configuration part lives in :mod:`dialer.fs_nodes` (no gevent) and is re-exported here.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dialer.esl.events import Event
from dialer.fs_nodes import DEFAULT_PORT, NodeConfig, NodeConfigError, parse_nodes

if TYPE_CHECKING:
    from dialer.esl.client import ESLClient

__all__ = [
    "DEFAULT_PORT",
    "NodeConfig",
    "NodeConfigError",
    "NodeHealth",
    "NodeStatus",
    "health_by_name",
    "parse_nodes",
    "parse_status",
    "status_from_heartbeat",
]


@dataclass(frozen=True)
class NodeStatus:
    """A node's load as FreeSWITCH reports it. ``None`` where the source does not say."""

    ready: bool
    sessions: int | None = None
    max_sessions: int | None = None
    sps_limit: int | None = None  # sessions-per-second setting
    sps_last: int | None = None  # sessions started in the last second
    sessions_peak: int | None = None
    idle_cpu: float | None = None
    uptime_seconds: float | None = None


_UNITS = {
    "years": 365 * 86400,
    "days": 86400,
    "hours": 3600,
    "minutes": 60,
    "seconds": 1,
    "milliseconds": 1e-3,
    "microseconds": 1e-6,
}


def parse_status(text: str) -> NodeStatus:
    """``api status`` (fixture 08a)::

    UP 0 years, 0 days, 0 hours, 7 minutes, 49 seconds, 187 milliseconds, 307 microseconds
    FreeSWITCH (Version 1.10.12-release ...) is ready
    2 session(s) - peak 4, last 5min 4
    2 session(s) per Sec out of max 30, peak 2, last 5min 2
    1000 session(s) max
    min idle cpu 0.00/97.00
    """

    def number(pattern: str) -> re.Match[str] | None:
        return re.search(pattern, text, re.MULTILINE)

    uptime = None
    up = number(r"^UP (.*)$")
    if up:
        uptime = sum(
            int(count) * _UNITS[unit]
            for count, unit in re.findall(r"(\d+) (\w+)", up.group(1))
            if unit in _UNITS
        )
    sessions = number(r"^(\d+) session\(s\) - peak (\d+)")
    per_sec = number(r"^(\d+) session\(s\) per Sec out of max (\d+)")
    maximum = number(r"^(\d+) session\(s\) max")
    cpu = number(r"^min idle cpu [\d.]+/([\d.]+)")
    return NodeStatus(
        ready=bool(number(r"\) is ready$")),
        sessions=int(sessions.group(1)) if sessions else None,
        sessions_peak=int(sessions.group(2)) if sessions else None,
        sps_last=int(per_sec.group(1)) if per_sec else None,
        sps_limit=int(per_sec.group(2)) if per_sec else None,
        max_sessions=int(maximum.group(1)) if maximum else None,
        idle_cpu=float(cpu.group(1)) if cpu else None,
        uptime_seconds=uptime,
    )


def status_from_heartbeat(event: Event) -> NodeStatus:
    """A HEARTBEAT event (every 20 s by default): ``Session-Count``, ``Max-Sessions``,
    ``Session-Per-Sec`` (the limit), ``Session-Per-Sec-Last``, ``Idle-CPU``, ``Uptime-msec``."""

    def integer(name: str) -> int | None:
        value = event.get(name)
        return int(value) if value is not None and value.isdigit() else None

    idle = event.get("Idle-CPU")
    uptime_ms = integer("Uptime-msec")
    try:
        idle_cpu = float(idle) if idle is not None else None
    except ValueError:
        idle_cpu = None
    return NodeStatus(
        ready=event.get("Event-Info") == "System Ready",
        sessions=integer("Session-Count"),
        max_sessions=integer("Max-Sessions"),
        sps_limit=integer("Session-Per-Sec"),
        sps_last=integer("Session-Per-Sec-Last"),
        sessions_peak=integer("Session-Peak-Max"),
        idle_cpu=idle_cpu,
        uptime_seconds=uptime_ms / 1000 if uptime_ms is not None else None,
    )


class NodeHealth:
    """The latest status of one node and when it was seen. A node is healthy while its last
    report is fresh and it said ``ready``; stale means we stopped hearing from it."""

    def __init__(self, config: NodeConfig, *, max_age: float = 45.0) -> None:
        self.config = config
        self.max_age = max_age  # two missed 20 s heartbeats
        self.status: NodeStatus | None = None
        self.seen_at: float | None = None  # time.monotonic()

    def update(self, status: NodeStatus, now: float | None = None) -> None:
        self.status = status
        self.seen_at = time.monotonic() if now is None else now

    def healthy(self, now: float | None = None) -> bool:
        if self.status is None or self.seen_at is None:
            return False
        now = time.monotonic() if now is None else now
        return self.status.ready and now - self.seen_at <= self.max_age

    def free_sessions(self) -> int | None:
        """Sessions left before FreeSWITCH's own max-sessions (a loopback call uses two)."""
        if self.status is None or self.status.sessions is None:
            return None
        limit = self.status.max_sessions or self.config.max_channels
        return max(0, limit - self.status.sessions)

    def watch(self, client: ESLClient) -> None:
        """Follow HEARTBEAT events of ``client`` (subscribes to them)."""
        client.on("HEARTBEAT", lambda event: self.update(status_from_heartbeat(event)))
        client.subscribe("HEARTBEAT")

    def poll(self, client: ESLClient, timeout: float | None = None) -> NodeStatus:
        """Ask now with ``api status``."""
        status = parse_status(client.api("status", timeout))
        self.update(status)
        return status


def health_by_name(nodes: Iterable[NodeConfig]) -> dict[str, NodeHealth]:
    return {node.name: NodeHealth(node) for node in nodes}
