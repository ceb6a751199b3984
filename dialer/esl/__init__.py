"""FreeSWITCH Event Socket adapter: greenswitch with its defects fixed, typed events,
``bgapi`` futures, reconnecting clients, the originate builder and node configuration.

    from dialer.esl import ESLClient, build_originate, DialTemplate

    with ESLClient("127.0.0.1", 8021, "ClueCon") as fs:
        fs.subscribe("CHANNEL_ANSWER", "CHANNEL_HANGUP_COMPLETE", custom=["dialer::amd"])
        fs.on("CHANNEL_ANSWER", lambda event: print(event.unique_id))
        job = fs.originate(build_originate(attempt_id=..., number="15551234567", ...))
        job.result(timeout=60).raise_for_error()
"""

from dialer.esl.backoff import Backoff
from dialer.esl.client import ConnectionState, ESLClient
from dialer.esl.commands import Reply
from dialer.esl.connection import DISCONNECT, LINGER, LOG, Connection
from dialer.esl.errors import (
    AuthenticationError,
    CommandError,
    CommandTimeoutError,
    ConnectError,
    ConnectionLostError,
    ESLError,
    EventParseError,
    JobFailedError,
    NotConnectedError,
    ProtocolError,
    TruncatedFrameError,
)
from dialer.esl.events import Event, parse_event
from dialer.esl.frames import Frame, FrameParser
from dialer.esl.jobs import Job, JobResult
from dialer.esl.nodes import (
    NodeConfig,
    NodeConfigError,
    NodeHealth,
    NodeStatus,
    parse_nodes,
    parse_status,
    status_from_heartbeat,
)
from dialer.esl.originate import (
    DialTemplate,
    Originate,
    build_originate,
    decode_variable,
    encode_variable,
)

__all__ = [
    "DISCONNECT",
    "LINGER",
    "LOG",
    "AuthenticationError",
    "Backoff",
    "CommandError",
    "CommandTimeoutError",
    "ConnectError",
    "Connection",
    "ConnectionLostError",
    "ConnectionState",
    "DialTemplate",
    "ESLClient",
    "ESLError",
    "Event",
    "EventParseError",
    "Frame",
    "FrameParser",
    "Job",
    "JobFailedError",
    "JobResult",
    "NodeConfig",
    "NodeConfigError",
    "NodeHealth",
    "NodeStatus",
    "NotConnectedError",
    "Originate",
    "ProtocolError",
    "Reply",
    "TruncatedFrameError",
    "build_originate",
    "decode_variable",
    "encode_variable",
    "parse_event",
    "parse_nodes",
    "parse_status",
    "status_from_heartbeat",
]
