"""The loopback ``-b`` leg: the called party's side of a ``loopback/`` call.

It raises its lifecycle events with its own headers (``Call-Direction: inbound``, the
caller's ids unflipped, ``variable_loopback_leg: B``, the originate's variables — captures
12, 15, 16, 02x): CHANNEL_CREATE, CHANNEL_PROGRESS (its ring_ready) and CHANNEL_ANSWER each
after the A leg's, and at the end CHANNEL_HANGUP, CHANNEL_HANGUP_COMPLETE and
CHANNEL_DESTROY. Whoever hangs up goes
first: when the called party hangs up (busy, reject, its own hangup) the B leg completes
before the A leg (12); when the A leg is hung up (uuid_kill, hupall, originate timeout) the B
leg follows it (15, 16). The extension's own applications (ring_ready, sleep, park, …) are
not raised.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dialer.simulator.channel import Channel, Dial

if TYPE_CHECKING:
    from dialer.simulator.call import Call


class BLeg:
    def __init__(self, call: Call) -> None:
        a = call.ch
        self.call = call
        uuid = a.variables["other_loopback_leg_uuid"]
        dial = Dial("loopback", a.dial.number, a.dial.context, _b_name(a.name), sessions=2)
        ch = Channel(
            uuid=uuid,
            dial=dial,
            cid_name=a.cid_name,
            cid_number=a.cid_number,
            created_us=a.created_us,
            session_id=a.session_id + 1,
            direction="inbound",
            hit_dialplan=True,
        )
        v = ch.set_var
        v("direction", "inbound")
        v("uuid", uuid)
        v("call_uuid", uuid)
        v("session_id", str(ch.session_id))
        v("channel_name", ch.name)
        for name, value in (("read_codec", "L16"), ("read_rate", "8000")):
            v(name, value)
        for name, value in (("write_codec", "L16"), ("write_rate", "8000")):
            v(name, value)
        for name, value in call.request.variables.items():
            v(name, value)
        v("other_loopback_leg_uuid", a.uuid)
        v("loopback_leg", "B")
        self.ch = ch
        self.finished = False

    def emit(self, name: str, state_number: int | None = None) -> None:
        call = self.call
        call.switch.publish(call.events.build(self.ch, name, state_number=state_number))

    def create(self) -> None:
        self.call.switch.b_legs[self.ch.uuid] = self  # uuid_kill / uuid_getvar find it
        self.ch.state = "CS_INIT"
        self.emit("CHANNEL_CREATE", state_number=2)  # as captured: the running state's number

    def ringing(self, progress_us: int) -> None:
        """Its ``ring_ready``: CHANNEL_PROGRESS right after the A leg's (02x)."""
        ch = self.ch
        ch.state, ch.call_state = "CS_EXECUTE", "RINGING"
        ch.progress_us = progress_us
        ch.set_var("call_uuid", ch.uuid, move_to_end=True)
        ch.set_var("current_application", "ring_ready", move_to_end=True)
        self.emit("CHANNEL_PROGRESS")

    def answer(self, answered_us: int) -> None:
        ch = self.ch
        ch.state, ch.call_state = "CS_EXECUTE", "RINGING"
        ch.answered_us = answered_us
        ch.answer_state = "answered"
        ch.set_var("call_uuid", ch.uuid, move_to_end=True)
        ch.set_var("current_application", "answer", move_to_end=True)
        self.emit("CHANNEL_ANSWER")
        ch.call_state = "ACTIVE"
        ch.variables.pop("current_application")
        ch.set_var("endpoint_disposition", "ANSWER")
        ch.app = "park"
        ch.set_var("current_application", "park", move_to_end=True)

    def hangup(self, cause: str) -> None:
        ch = self.ch
        if self.finished or ch.hangup_cause is not None:
            return
        ch.hangup_cause = cause
        ch.answer_state = "hangup"
        ch.hangup_us = self.call.switch.clock.now_us()
        self.emit("CHANNEL_HANGUP")

    def complete(self, cause: str) -> None:
        """HANGUP (if not yet), then HANGUP_COMPLETE."""
        if self.finished:
            return
        self.hangup(cause)
        self.finished = True
        self.call.switch.b_legs.pop(self.ch.uuid, None)
        ch = self.ch
        ch.state, ch.call_state = "CS_REPORTING", "HANGUP"
        ch.cdr_variables()
        self.emit("CHANNEL_HANGUP_COMPLETE")

    def destroy(self) -> None:
        if self.ch.state != "CS_DESTROY":
            self.emit("CHANNEL_DESTROY", state_number=12)
            self.ch.state = "CS_DESTROY"


def _b_name(a_name: str) -> str:
    return a_name.removesuffix("-a") + "-b"
