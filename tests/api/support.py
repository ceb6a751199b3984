"""What the API tests run against: the simulator on its own thread (its own gevent hub, so
the HTTP app's threads can talk to it over TCP while the test waits), a CRM stand-in on a
threaded ``http.server``, and the rows of one campaign call."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import gevent
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from dialer.campaigns import parse_config
from dialer.db.models import CallAttempt, Campaign, CampaignRecipient, ContactList, Recipient
from dialer.esl import DialTemplate, build_originate
from dialer.flow import contract, flow_variables
from dialer.simulator import Scenario, Simulator

HUMAN = {"outcome": "answer", "ring": 0.2, "machine": False, "amd_seconds": 0.5,
         "digit": None, "hangup_after": None, "patience": 3600, "agent": True,
         "queue_wait": 1.0, "talk": 600.0}  # fmt: skip
SCENARIO = Scenario.from_dict(
    {
        "name": "ai-tools",
        "numbers": {
            "human": HUMAN,
            "bot": {"outcome": "answer", "ring": 0.1, "talk": 600.0},
        },
    }
)
AGENT_DIAL = "sofia/external/sip:bot@ai.example.com"


class SimThread:
    """A :class:`Simulator` served by a thread of its own until :meth:`stop`."""

    def __init__(self, time_scale: float = 0.1) -> None:
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._time_scale = time_scale
        self.sim: Simulator | None = None
        self._thread = threading.Thread(target=self._run, name="simulator", daemon=True)

    def _run(self) -> None:
        sim = Simulator(
            scenario=SCENARIO, time_scale=self._time_scale, port=0, heartbeat_seconds=0, seed=3
        )
        sim.start()
        self.sim = sim
        self._ready.set()
        while not self._stop.is_set():
            gevent.sleep(0.01)
        sim.stop()

    def start(self) -> SimThread:
        self._thread.start()
        assert self._ready.wait(5), "simulator did not start"
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    @property
    def port(self) -> int:
        assert self.sim is not None
        return self.sim.address[1]

    def api_commands(self) -> list[str]:
        """Every ``api`` line any connection sent, in order per connection."""
        assert self.sim is not None
        return [line for conn in self.sim.commands_received() for line in conn
                if line.startswith("api ")]


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Crm:
    """A CRM stand-in: ``/ok…`` answers 200 with a message, ``/plain…`` 200 without one,
    ``/slow…`` after 2 s, ``/drip…`` a byte every 0.1 s, ``/fail…`` 500, ``/missing…`` 404
    with a message."""

    server: ThreadingHTTPServer
    received: list[Received] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


@contextmanager
def crm_server() -> Iterator[Crm]:
    crm: Crm

    class Handler(BaseHTTPRequestHandler):
        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            crm.received.append(
                Received(self.command, parts.path, parse_qs(parts.query),
                         {k.lower(): v for k, v in self.headers.items()}, body)
            )
            status, answer = 200, {"status": "created", "message": "Your order ships Friday."}
            if parts.path.startswith("/plain"):
                answer = {"ok": True}
            elif parts.path.startswith("/slow"):
                time.sleep(2.0)
            elif parts.path.startswith("/fail"):
                status, answer = 500, {"message": "database down"}
            elif parts.path.startswith("/missing"):
                status, answer = 404, {"message": "I couldn't find that order."}
            data = json.dumps(answer).encode()
            if parts.path.startswith("/drip"):
                # each byte well inside the read timeout, the whole answer well past it
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                for byte in data:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(0.1)
                return
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any  # noqa: N815

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    crm = Crm(server)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield crm
    finally:
        server.shutdown()
        server.server_close()


def ai_campaign(**overrides: Any) -> dict[str, Any]:
    """An ai_agent campaign: its agent ``bot`` may transfer to queue ``sales``."""
    config: dict[str, Any] = {
        "name": "AI outreach",
        "type": "ai_agent",
        "lists": [1],
        "caller_id": {"number": "+12125550100"},
        "pacing": {"max_channels": 10, "cps": 5},
        "amd": {"enabled": False},
        "queues": {"sales": {"target": "sales@default", "max_wait": 45}},
        "agents": {"bot": {"dial": AGENT_DIAL, "fields": ["first_name"],
                           "transfer_queue": "sales"}},
        "handoff": {"ai_agent": "bot"},
    }  # fmt: skip
    config.update(overrides)
    return config


@dataclass(frozen=True)
class CallRows:
    attempt_id: str
    campaign_id: int
    campaign_recipient_id: int
    to_number: str


def insert_call(
    engine: Engine,
    config: dict[str, Any],
    *,
    state: str = "answered",
    company_id: str | None = "acme",
    fields: dict[str, str] | None = None,
    zones: tuple[str, ...] = ("America/New_York",),
    to_number: str = "+12125550111",
    attempt_id: str | None = None,
) -> CallRows:
    """The rows the scheduler, the worker and the consumer leave for a live AI-agent call."""
    parse_config(config)  # the test's campaign must be one the product accepts
    aid = uuid.UUID(attempt_id) if attempt_id else uuid.uuid4()
    with Session(engine) as session, session.begin():
        campaign = Campaign(name=config["name"], type=config["type"], status="running",
                            company_id=company_id, config=config)  # fmt: skip
        contacts = ContactList(name=f"list-{aid.hex[:10]}")
        session.add_all([campaign, contacts])
        session.flush()
        person = Recipient(list_id=contacts.id, phone_e164=to_number, timezones=list(zones),
                           fields=fields or {"first_name": "Ana"}, row_no=2)  # fmt: skip
        session.add(person)
        session.flush()
        progress = CampaignRecipient(
            campaign_id=campaign.id, recipient_id=person.id, status="active", attempts=1
        )
        session.add(progress)
        session.flush()
        session.add(
            CallAttempt(
                id=aid, campaign_id=campaign.id, campaign_recipient_id=progress.id,
                attempt_no=1, state=state, fs_node="fs1", trunk="default",
                to_number=to_number, caller_id_number="+12125550100",
                options={"ring_timeout": 30, "max_duration": 300, "variables": {}},
                handoff_type="ai_agent" if state == "answered" else None,
                outcome="ai_completed" if state == "ended" else None,
            )
        )  # fmt: skip
        return CallRows(str(aid), campaign.id, progress.id, to_number)


def originate_ai_call(
    api: Callable[[str], str], rows: CallRows, config: dict[str, Any], fields: dict[str, str]
) -> None:
    """Place the call on the simulator as the originate worker would, and wait until the flow
    has bridged it to the AI agent."""
    variables = flow_variables(
        parse_config(config),
        campaign_id=rows.campaign_id,
        attempt_id=rows.attempt_id,
        recipient_id=rows.campaign_recipient_id,
        fields=fields,
    )
    request = build_originate(
        attempt_id=rows.attempt_id,
        number="human",
        template=DialTemplate("loopback/{number}/default"),
        caller_id_number="15550001",
        application=contract.APPLICATION,
        variables={contract.ATTEMPT_ID: rows.attempt_id,
                   contract.CAMPAIGN_ID: str(rows.campaign_id), **variables},
    )  # fmt: skip
    reply = api(request.command())
    assert reply.startswith("+OK"), reply
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if api(f"uuid_getvar {rows.attempt_id} signal_bond") not in ("_undef_", ""):
            return  # bridged: the flow set it when the agent answered
        time.sleep(0.05)
    raise AssertionError("the call did not reach the AI agent")
