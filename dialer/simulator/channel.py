"""One simulated A leg and the channel events it raises, shaped like FreeSWITCH 1.10.12's.

Header layout of a channel event (taken from the A-leg frames of fixtures 02/03/04/08/11):
common prefix · event-specific "pre" headers · Channel-State … Answer-State · Hangup-Cause
(once hung up) · codec headers · Caller-* profile · event-specific "post" headers · variable_*.
Only some event types carry the variables (CHANNEL_STATE, CHANNEL_CALLSTATE, CHANNEL_OUTGOING,
CHANNEL_UUID and DTMF do not).

The A leg (the leg the dialer controls) raises the full set of events. With a ``loopback/``
dial string the real switch also creates a B leg running the called party's extension; it
raises its lifecycle events (``bleg.py``), is counted against the session limits
(``limits.py``) and listed by ``show channels``/``show calls`` (``tables.py``).
"""

from __future__ import annotations

import uuid as uuidlib
from dataclasses import dataclass, field

from dialer.simulator.clock import date_local
from dialer.simulator.events import Event, EventFactory

# Channel-State-Number is the *running* state's number, which can lag or lead Channel-State.
STATE_NUMBER = {
    "CS_NEW": 0,
    "CS_INIT": 1,
    "CS_ROUTING": 2,
    "CS_SOFT_EXECUTE": 3,
    "CS_EXECUTE": 4,
    "CS_EXCHANGE_MEDIA": 5,
    "CS_PARK": 6,
    "CS_CONSUME_MEDIA": 7,
    "CS_HIBERNATE": 8,
    "CS_RESET": 9,
    "CS_HANGUP": 10,
    "CS_REPORTING": 11,
    "CS_DESTROY": 12,
    "CS_NONE": 13,
}

Q850 = {
    "NORMAL_CLEARING": 16,
    "USER_BUSY": 17,
    "NO_USER_RESPONSE": 18,
    "NO_ANSWER": 19,
    "CALL_REJECTED": 21,
    "UNALLOCATED_NUMBER": 1,
    "NO_ROUTE_DESTINATION": 3,
    "DESTINATION_OUT_OF_ORDER": 27,
    "NORMAL_TEMPORARY_FAILURE": 41,
    "ORIGINATOR_CANCEL": 487,
    "MANAGER_REQUEST": 503,
    "CHAN_NOT_IMPLEMENTED": 66,
    "SWITCH_CONGESTION": 42,
    "RECOVERY_ON_TIMER_EXPIRE": 102,
    "SUBSCRIBER_ABSENT": 20,
    "NORMAL_UNSPECIFIED": 31,
    "INVALID_NUMBER_FORMAT": 28,
    "LOSE_RACE": 502,
    "ALLOTTED_TIMEOUT": 602,
    "MEDIA_TIMEOUT": 604,
}

# (file, function, line) per event type, as captured.
WHERE = {
    "CHANNEL_UUID": ("switch_core_session.c", "switch_core_session_set_uuid", 2051),
    "CHANNEL_OUTGOING": ("switch_core_session.c", "switch_core_session_outgoing_channel", 768),
    "CHANNEL_STATE": ("switch_channel.c", "switch_channel_perform_set_running_state", 2408),
    "CHANNEL_CALLSTATE": ("switch_channel.c", "switch_channel_perform_set_callstate", 301),
    "CHANNEL_CREATE": ("switch_core_state_machine.c", "switch_core_session_run", 626),
    "CHANNEL_ORIGINATE": ("switch_core_state_machine.c", "switch_core_session_run", 632),
    "CHANNEL_PROGRESS": (
        "switch_channel.c",
        "switch_channel_perform_mark_ring_ready_value",
        3505,
    ),
    "CHANNEL_ANSWER": ("switch_channel.c", "switch_channel_perform_mark_answered", 3846),
    "CALL_UPDATE": ("switch_channel.c", "switch_channel_flip_cid", 3277),
    "CHANNEL_EXECUTE": ("switch_core_session.c", "switch_core_session_exec", 2944),
    "CHANNEL_EXECUTE_COMPLETE": ("switch_core_session.c", "switch_core_session_exec", 2967),
    "CHANNEL_PARK": ("switch_ivr.c", "switch_ivr_park", 1002),
    "CHANNEL_UNPARK": ("switch_ivr.c", "switch_ivr_park", 1213),
    "PRIVATE_COMMAND": ("switch_ivr.c", "switch_ivr_parse_next_event", 804),
    "PLAYBACK_START": ("switch_ivr_play_say.c", "switch_ivr_play_file", 1646),
    "PLAYBACK_STOP": ("switch_ivr_play_say.c", "switch_ivr_play_file", 2020),
    "DTMF": ("switch_channel.c", "switch_channel_dequeue_dtmf", 677),
    "CHANNEL_BRIDGE": ("switch_ivr_bridge.c", "switch_ivr_multi_threaded_bridge", 1689),
    "CHANNEL_UNBRIDGE": ("switch_ivr_bridge.c", "switch_ivr_multi_threaded_bridge", 1879),
    "CHANNEL_HANGUP": ("switch_channel.c", "switch_channel_perform_hangup", 3445),
    "CHANNEL_HANGUP_COMPLETE": (
        "switch_core_state_machine.c",
        "switch_core_session_reporting_state",
        943,
    ),
    "CHANNEL_DESTROY": ("switch_core_session.c", "switch_core_session_perform_destroy", 1584),
    "MEDIA_BUG_START": ("switch_core_media_bug.c", "switch_core_media_bug_add", 1014),
    "MEDIA_BUG_STOP": ("switch_core_media_bug.c", "switch_core_media_bug_destroy", 84),
}
WITHOUT_VARIABLES = frozenset(
    {
        "CHANNEL_UUID",
        "CHANNEL_OUTGOING",
        "CHANNEL_STATE",
        "CHANNEL_CALLSTATE",
        "DTMF",
        "PRIVATE_COMMAND",
    }
)
CUSTOM_APP_WHERE = ("mod_dptools.c", "event_function", 1902)


@dataclass
class Dial:
    """What the dial string says: endpoint, the number dialled, names for Channel-Name."""

    endpoint: str  # "loopback" | "sofia" | other tech
    number: str
    context: str = "default"
    channel_name: str = ""
    sessions: int = 1  # loopback makes two sessions on the node


@dataclass
class Channel:
    uuid: str
    dial: Dial
    cid_name: str
    cid_number: str
    created_us: int
    variables: dict[str, str] = field(default_factory=dict)
    state: str = "CS_NONE"
    call_state: str = "DOWN"
    answer_state: str = "ringing"
    hit_dialplan: bool = False
    hangup_cause: str | None = None
    progress_us: int = 0
    answered_us: int = 0
    hangup_us: int = 0
    bridged_us: int = 0
    flipped: bool = False
    app: str = ""
    app_arg: str = ""
    parked: bool = False
    session_id: int = 0
    direction: str = "outbound"  # a loopback B leg is "inbound"

    @property
    def name(self) -> str:
        return self.dial.channel_name

    @property
    def hungup(self) -> bool:
        return self.hangup_cause is not None

    # --- header blocks -------------------------------------------------------------------

    def channel_headers(self, state_number: int | None = None) -> list[tuple[str, str]]:
        number = STATE_NUMBER[self.state] if state_number is None else state_number
        headers = [
            ("Channel-State", self.state),
            ("Channel-Call-State", self.call_state),
            ("Channel-State-Number", str(number)),
            ("Channel-Name", self.name),
            ("Unique-ID", self.uuid),
            ("Call-Direction", self.direction),
            ("Presence-Call-Direction", self.direction),
            ("Channel-HIT-Dialplan", "true" if self.hit_dialplan else "false"),
            ("Channel-Call-UUID", self.uuid),
            ("Answer-State", self.answer_state),
        ]
        if self.hangup_cause:
            headers.append(("Hangup-Cause", self.hangup_cause))
        headers += [
            ("Channel-Read-Codec-Name", "L16"),
            ("Channel-Read-Codec-Rate", "8000"),
            ("Channel-Read-Codec-Bit-Rate", "128000"),
            ("Channel-Write-Codec-Name", "L16"),
            ("Channel-Write-Codec-Rate", "8000"),
            ("Channel-Write-Codec-Bit-Rate", "128000"),
        ]
        return headers + self.caller_headers()

    def caller_headers(self) -> list[tuple[str, str]]:
        # After answer loopback flips the caller id (README pitfall 5).
        if self.flipped:
            cid = (
                "Outbound Call",
                self.dial.context if self.dial.endpoint == "loopback" else self.dial.number,
            )
            callee = (self.cid_name, self.cid_number)
        else:
            cid = (self.cid_name, self.cid_number)
            callee = (
                "Outbound Call",
                self.dial.context if self.dial.endpoint == "loopback" else self.dial.number,
            )
        source = f"mod_{self.dial.endpoint}"
        return [
            ("Caller-Direction", self.direction),
            ("Caller-Logical-Direction", self.direction),
            ("Caller-Dialplan", "xml"),
            ("Caller-Caller-ID-Name", cid[0]),
            ("Caller-Caller-ID-Number", cid[1]),
            ("Caller-Orig-Caller-ID-Name", self.cid_name),
            ("Caller-Orig-Caller-ID-Number", self.cid_number),
            ("Caller-Callee-ID-Name", callee[0]),
            ("Caller-Callee-ID-Number", callee[1]),
            ("Caller-ANI", self.cid_number),
            ("Caller-Destination-Number", self.dial.number),
            ("Caller-Unique-ID", self.uuid),
            ("Caller-Source", source),
            ("Caller-Context", self.dial.context),
            ("Caller-Channel-Name", self.name),
            ("Caller-Profile-Index", "1"),
            ("Caller-Profile-Created-Time", str(self.created_us)),
            ("Caller-Channel-Created-Time", str(self.created_us)),
            ("Caller-Channel-Answered-Time", str(self.answered_us)),
            ("Caller-Channel-Progress-Time", str(self.progress_us)),
            ("Caller-Channel-Progress-Media-Time", "0"),
            ("Caller-Channel-Hangup-Time", str(self.hangup_us)),
            ("Caller-Channel-Transfer-Time", "0"),
            ("Caller-Channel-Resurrect-Time", "0"),
            ("Caller-Channel-Bridged-Time", str(self.bridged_us)),
            ("Caller-Channel-Last-Hold", "0"),
            ("Caller-Channel-Hold-Accum", "0"),
            ("Caller-Screen-Bit", "true"),
            ("Caller-Privacy-Hide-Name", "false"),
            ("Caller-Privacy-Hide-Number", "false"),
        ]

    def variable_headers(self) -> list[tuple[str, str]]:
        return [(f"variable_{k}", v) for k, v in self.variables.items()]

    def set_var(self, name: str, value: str, *, move_to_end: bool = False) -> None:
        if move_to_end:
            self.variables.pop(name, None)
        self.variables[name] = value

    # --- lifecycle helpers ---------------------------------------------------------------

    def flip_cid(self) -> None:
        """What loopback does right after answer (CALL_UPDATE in the captures)."""
        self.flipped = True
        self.set_var("endpoint_disposition", "ANSWER")
        self.set_var("pre_transfer_caller_id_name", self.cid_name)
        self.set_var("pre_transfer_caller_id_number", self.cid_number)
        self.set_var("channel_cid_flipped", "yes")
        self.set_var("call_uuid", self.uuid, move_to_end=True)

    def cdr_variables(self) -> None:
        """The CDR timers FreeSWITCH adds at hangup (names/order as in the captures)."""
        start, answer, end, progress = (
            self.created_us,
            self.answered_us,
            self.hangup_us,
            self.progress_us,
        )
        bridge = self.bridged_us
        billus = end - answer if answer else 0
        answerus = answer - start if answer else 0
        progressus = progress - start if progress else 0
        waitus = bridge - start if bridge else 0
        durus = end - start
        cause = self.hangup_cause or "NORMAL_CLEARING"
        v = self.set_var
        v("hangup_cause", cause)
        v("hangup_cause_q850", str(Q850.get(cause, 0)))
        v("digits_dialed", "none")
        v("start_stamp", date_local(start))
        v("profile_start_stamp", date_local(start))
        if answer:
            v("answer_stamp", date_local(answer))
        if bridge:
            v("bridge_stamp", date_local(bridge))
        if progress:
            v("progress_stamp", date_local(progress))
        v("end_stamp", date_local(end))
        for name, us in (
            ("start", start),
            ("profile_start", start),
            ("answer", answer),
            ("bridge", bridge),
            ("last_hold", 0),
        ):
            v(f"{name}_epoch", str(us // 1_000_000))
            v(f"{name}_uepoch", str(us))
        v("hold_accum_seconds", "0")
        v("hold_accum_usec", "0")
        v("hold_accum_ms", "0")
        for name, us in (("resurrect", 0), ("progress", progress), ("progress_media", 0)):
            v(f"{name}_epoch", str(us // 1_000_000))
            v(f"{name}_uepoch", str(us))
        v("end_epoch", str(end // 1_000_000))
        v("end_uepoch", str(end))
        if self.app:
            v("last_app", self.app)
            if self.app_arg:
                v("last_arg", self.app_arg)
        shown = (
            ("Outbound Call", self.dial.context)
            if self.flipped
            else (self.cid_name, self.cid_number)
        )
        v("caller_id", f'"{shown[0]}" <{shown[1]}>')
        flowus = durus if answer else 0
        timers = (
            ("duration", "mduration", "uduration", durus),
            ("billsec", "billmsec", "billusec", billus),
            ("progresssec", "progressmsec", "progressusec", progressus),
            ("answersec", "answermsec", "answerusec", answerus),
            ("waitsec", "waitmsec", "waitusec", waitus),
            ("progress_mediasec", "progress_mediamsec", "progress_mediausec", 0),
            ("flow_billsec", "flow_billmsec", "flow_billusec", flowus),
        )
        for sec_name, _, _, us in timers:
            v(sec_name, str(round(us / 1_000_000)))
        for _, ms_name, _, us in timers:
            v(ms_name, str(us // 1000))
        for _, _, us_name, us in timers:
            v(us_name, str(us))
        if self.dial.endpoint == "loopback":
            v("is_loopback", "1")


class ChannelEvents:
    """Builds channel events from a channel's current state."""

    def __init__(self, factory: EventFactory) -> None:
        self.factory = factory

    def build(
        self,
        ch: Channel,
        name: str,
        *,
        pre: list[tuple[str, str]] | None = None,
        post: list[tuple[str, str]] | None = None,
        state_number: int | None = None,
    ) -> Event:
        headers = self.factory.prefix(name, WHERE[name])
        headers += pre or []
        if name == "CHANNEL_HANGUP_COMPLETE" and ch.hangup_cause:
            headers.append(("Hangup-Cause", ch.hangup_cause))
        headers += ch.channel_headers(state_number)
        headers += post or []
        if name not in WITHOUT_VARIABLES:
            headers += ch.variable_headers()
        return Event(headers)

    def custom(self, ch: Channel, subclass: str, fields: list[tuple[str, str]]) -> Event:
        """A CUSTOM event as the dialplan ``event`` application raises it (fixture 11)."""
        headers = self.factory.prefix("CUSTOM", CUSTOM_APP_WHERE, subclass=subclass)
        headers += fields
        headers += ch.channel_headers()
        headers += ch.variable_headers()
        return Event(headers)

    def callcenter(
        self,
        ch: Channel | None,
        where: tuple[str, str, int],
        fields: list[tuple[str, str]],
        us: int | None = None,
    ) -> Event:
        """``callcenter::info``: member events carry the member channel's headers and vars.
        ``us``: the event's time, when it is not now (see dialer.simulator.flow.queue)."""
        headers = self.factory.prefix("CUSTOM", where, subclass="callcenter::info", us=us)
        if ch is not None:
            headers += ch.channel_headers()
            headers += ch.variable_headers()
        headers += fields
        return Event(headers)


def new_uuid() -> str:
    return str(uuidlib.uuid4())
