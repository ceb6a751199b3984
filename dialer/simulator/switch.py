"""The simulated switch without its sockets: channels, limits, the event bus and the ledger.

``Simulator`` (``server.py``) puts it on a TCP port; the tests may drive it directly.
"""

from __future__ import annotations

import ipaddress
import logging
import random
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import gevent

from dialer.simulator import originate as originate_mod
from dialer.simulator import wire
from dialer.simulator.bleg import BLeg
from dialer.simulator.bridge import FarLeg
from dialer.simulator.call import Call
from dialer.simulator.channel import Channel, new_uuid
from dialer.simulator.clock import SimClock, uptime_text
from dialer.simulator.events import Event, EventFactory
from dialer.simulator.faults import Faults
from dialer.simulator.ledger import Ledger
from dialer.simulator.limits import REFUSED_CAUSE, SessionLimits
from dialer.simulator.modules import DEFAULT_MODULES
from dialer.simulator.scenario import Plan, Scenario

if TYPE_CHECKING:
    from dialer.simulator.connection import Connection

log = logging.getLogger("dialer.simulator")

# mod_event_socket.c: a listener's event queue holds MAX_QUEUE_LEN events; once it is full
# every further event is lost, and after more than MAX_MISSED lost events in a row the
# listener is killed (socket shut down and closed).
MAX_QUEUE_LEN = 100_000
MAX_MISSED = 500
HISTORY = 1000  # connections whose received commands are kept for assertions
SHUTDOWN_CAUSE = "SYSTEM_SHUTDOWN"
CRIT = 2
LOG_NAMES = {0: "CONSOLE", 1: "ALERT", 2: "CRIT", 3: "ERR", 4: "WARNING", 5: "NOTICE", 6: "INFO"}


class Switch:
    """Everything a FreeSWITCH node holds, minus the sockets."""

    def __init__(
        self,
        password: str,
        scenario: Scenario,
        clock: SimClock,
        ledger: Ledger,
        limits: SessionLimits,
        seed: int | None,
        acl: Sequence[str],
        event_queue_len: int = MAX_QUEUE_LEN,
        modules: Iterable[str] | None = None,
    ) -> None:
        self.password = password
        #: loaded modules (``module_exists``, ``show modules``; the flow's AMD method)
        self.modules: frozenset[str] = frozenset(DEFAULT_MODULES if modules is None else modules)
        self.scenario = scenario
        self.clock = clock
        self.ledger = ledger
        self.limits = limits
        self.rng = random.Random(seed)
        self.factory = EventFactory(clock)
        self.connections: set[Connection] = set()
        self.calls: dict[str, Call] = {}
        self.far_legs: dict[str, FarLeg] = {}  # legs a bridge reached (bridge.py)
        self.b_legs: dict[str, BLeg] = {}  # loopback -b legs by uuid (bleg.py)
        self.faults = Faults(lambda: list(self.connections), self.publish, self.request_restart)
        self.acl = [ipaddress.ip_network(n, strict=False) for n in acl]
        self.event_queue_len = event_queue_len
        self.max_missed = MAX_MISSED
        self.booted = time.monotonic()  # uptime restarts with the switch, the ledger's t does not
        self.history: deque[Connection] = deque(maxlen=HISTORY)
        # set by the TCP server: restart the node (fsctl shutdown restart, Faults.restart)
        self.on_restart: Callable[[float | None], None] | None = None

    def uptime(self) -> float:
        return time.monotonic() - self.booted

    def request_restart(self, down_for: float | None = None) -> None:
        if self.on_restart is None:
            raise RuntimeError("this switch is not on a socket; nothing to restart")
        self.on_restart(down_for)

    def reboot(self) -> None:
        """What a restarted FreeSWITCH forgets: calls, counters, Core-UUID, Event-Sequence."""
        for call in list(self.calls.values()):
            if call.greenlet is not None:
                call.greenlet.kill(block=False)
            call.ch.hangup_cause = call.ch.hangup_cause or SHUTDOWN_CAUSE
            self.record("hangup", call, lost=True)
            if not call.result.ready():
                call.result.set(f"-ERR {SHUTDOWN_CAUSE}\n")  # a blocking api originate returns
        self.calls.clear()
        self.far_legs.clear()
        self.b_legs.clear()
        lim = self.limits
        self.limits = SessionLimits(lim.max_sessions, lim.sps)
        self.factory = EventFactory(self.clock)
        self.booted = time.monotonic()

    def allowed(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host.split("%")[0])
        except ValueError:
            return False
        return any(address in net for net in self.acl)

    # --- events --------------------------------------------------------------------------

    def publish(self, event: Event) -> None:
        delay = self.faults.event_delay
        if delay > 0:
            gevent.spawn_later(delay, self._deliver, event)
        else:
            self._deliver(event)

    def _deliver(self, event: Event) -> None:
        for conn in list(self.connections):
            conn.deliver(event)

    def log(self, level: int, where: tuple[str, str, int], user_data: str, text: str) -> None:
        """A console line to the listeners that asked for ``log`` at this level or finer."""
        us = self.clock.now_us()
        stamp = datetime.fromtimestamp(us / 1e6).strftime("%Y-%m-%d %H:%M:%S.%f")
        name = LOG_NAMES.get(level, "DEBUG")
        line = f"{stamp} 97.00% [{name}] {where[0]}:{where[2]} {text}\n"
        frame = wire.log_data(level, where, user_data, line)
        for conn in list(self.connections):
            conn.log(level, frame)

    # --- ledger --------------------------------------------------------------------------

    def record(self, what: str, call: Call | None = None, **extra: Any) -> None:
        fact: dict[str, Any] = {"t": round(self.clock.real_elapsed(), 6), "event": what}
        if call is not None:
            fact.update(
                uuid=call.ch.uuid,
                attempt_id=call.attempt_id,
                campaign_id=call.campaign_id,
                to=call.ch.dial.number,
                cause=call.ch.hangup_cause,
            )
            if what == "hangup":
                fact["billsec"] = int(call.ch.variables.get("billsec", "0"))
                fact["duration"] = int(call.ch.variables.get("duration", "0"))
        fact.update(extra)
        self.ledger.record(fact)
        if what in ("hangup", "refused"):
            log.info(
                "call %s to %s: %s %s", fact.get("uuid"), fact.get("to"), what, fact.get("cause")
            )

    # --- originate -----------------------------------------------------------------------

    def originate(self, args: str, notify: Callable[[str], None] | None = None) -> str:
        """Run one originate to completion; returns ``+OK <uuid>\\n`` or ``-ERR <CAUSE>\\n``.

        ``notify`` (bgapi) is called with the result at the moment the switch has it.
        """
        refusal = self._refusal(args)
        if isinstance(refusal, str):
            if notify is not None:
                notify(refusal)
            return refusal
        request, granted = refusal
        call = self._new_call(request, granted)
        call.on_result = notify
        call.start()
        return str(call.result.get())

    def _refusal(self, args: str) -> str | tuple[originate_mod.Originate, int]:
        """``-ERR <cause>\\n`` if no channel is created, else the request and its sessions."""
        try:
            request = originate_mod.parse(args)
        except originate_mod.OriginateError as exc:
            variables = dict(originate_mod.parse_command(args)[0])
            self._refused(variables, "", exc.cause)
            return f"-ERR {exc.cause}\n"
        variables = request.variables
        number = request.dial.number
        if self.faults.refuse_cause:
            self._refused(variables, number, self.faults.refuse_cause)
            return f"-ERR {self.faults.refuse_cause}\n"
        granted = self.limits.acquire(request.dial.sessions)
        if granted == 0:
            self._refused(variables, number, REFUSED_CAUSE)
            return f"-ERR {REFUSED_CAUSE}\n"
        return request, granted

    def _ids(self, variables: dict[str, str]) -> tuple[str, str]:
        attempt = variables.get("dialer_attempt_id") or variables.get("origination_uuid", "")
        campaign = variables.get("dialer_campaign_id") or variables.get("campaign_id", "")
        return attempt, campaign

    def _refused(self, variables: dict[str, str], number: str, cause: str) -> None:
        attempt, campaign = self._ids(variables)
        common: dict[str, Any] = {
            "uuid": variables.get("origination_uuid"),
            "attempt_id": attempt,
            "campaign_id": campaign,
            "to": number,
            "cause": cause,
        }
        self.record("originate", None, refused=True, **common)
        self.record("refused", None, **common)

    def _new_call(self, request: originate_mod.Originate, granted: int) -> Call:
        variables = request.variables
        wanted = variables.get("origination_uuid", "")
        # Only a live uuid clashes. FreeSWITCH then logs "Duplicate UUID!", keeps the session's
        # random uuid and carries on (capture 16): the variable still says the wanted one.
        duplicate = bool(wanted) and wanted in self.calls
        uuid = new_uuid() if duplicate or not wanted else wanted
        if duplicate:  # what `log err` showed in 16
            where = "switch_core_session.c"
            self.log(CRIT, (where, "switch_core_session_set_uuid", 2033), uuid, "Duplicate UUID!")
            failed = f"{request.dial.channel_name} set UUID={wanted} FAILED"
            self.log(CRIT, (where, "switch_core_session_outgoing_channel", 644), uuid, failed)
        dial = request.dial
        ch = Channel(
            uuid=uuid,
            dial=dial,
            cid_name=variables.get("origination_caller_id_name", "Outbound Call"),
            cid_number=variables.get("origination_caller_id_number", "0000000000"),
            created_us=self.clock.now_us(),
            session_id=self.limits.total,
        )
        self._initial_variables(ch, variables)
        plan: Plan = self.scenario.plan(dial.number, self.rng)
        attempt, campaign = self._ids(variables)
        call = Call(self, ch, request, plan, granted, campaign, attempt)
        self.calls[uuid] = call
        self.record("originate", call)
        if duplicate:
            self.record("duplicate", call, requested_uuid=wanted)
        return call

    def _initial_variables(self, ch: Channel, variables: dict[str, str]) -> None:
        """Variables of a fresh A leg, in the captured order (CHANNEL_CREATE of 08a)."""
        v = ch.set_var
        v("direction", "outbound")
        v("is_outbound", "true")
        v("session_id", str(ch.session_id))
        v("read_codec", "L16")
        v("read_rate", "8000")
        v("write_codec", "L16")
        v("write_rate", "8000")
        v("channel_name", ch.name)
        v("uuid", ch.uuid)
        v("call_uuid", ch.uuid)
        for name, value in variables.items():
            v(name, value)
        v("originate_early_media", "false")
        v("originate_endpoint", ch.dial.endpoint)
        if ch.dial.endpoint == "loopback":
            v("other_loopback_leg_uuid", new_uuid())
            v("loopback_leg", "A")

    def call_finished(self, call: Call) -> None:
        self.limits.release(call.sessions)
        if self.calls.get(call.ch.uuid) is call:
            del self.calls[call.ch.uuid]

    def heartbeat(self) -> Event:
        lim = self.limits
        us = int(self.uptime() * 1_000_000)
        return self.factory.heartbeat(
            [
                ("Event-Info", "System Ready"),
                ("Up-Time", uptime_text(us)),
                ("FreeSWITCH-Version", "1.10.12-release+git~20240802T210227Z~a88d069d6f~64bit"),
                ("Uptime-msec", str(us // 1000)),
                ("Session-Count", str(lim.count)),
                ("Max-Sessions", str(lim.max_sessions)),
                ("Session-Per-Sec", str(lim.sps)),
                ("Session-Per-Sec-Last", str(lim.sps_last)),
                ("Session-Per-Sec-Max", str(lim.sps_peak)),
                ("Session-Per-Sec-FiveMin", str(lim.sps_peak)),
                ("Session-Since-Startup", str(lim.total)),
                ("Session-Peak-Max", str(lim.peak)),
                ("Session-Peak-FiveMin", str(lim.peak)),
                ("Idle-CPU", "97.000000"),
            ]
        )
