"""``export`` and ``bridge`` executed on the A leg (capture 17), modelled far enough for a
dialer: the far leg gets the exported variables and the bridge's ``{…}`` ones (so
``uuid_getvar <far leg> sip_h_X-…`` answers), the A leg raises CHANNEL_BRIDGE, and
CHANNEL_UNBRIDGE when either side hangs up. The far leg raises no events of its own.

* ``export nolocal:name=value`` sets the variable literally named ``nolocal:name`` on the A
  leg and appends it to ``export_vars``; a bridged leg gets it as ``name``. Without
  ``nolocal:`` the variable is set on the A leg too.
* The far leg answers per the scenario's plan for its number; a failed bridge hangs the A
  leg up with that cause (no ``continue_on_fail``, as 17x).
* The bridge lasts the shorter of the callee's and the far end's talk time, unless the A leg
  is hung up or transferred (``Transfer``: CHANNEL_UNBRIDGE, the far leg hangs up).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dialer.simulator.channel import new_uuid
from dialer.simulator.control import Hangup
from dialer.simulator.originate import OriginateError, parse_dial, split_leg

if TYPE_CHECKING:
    from dialer.simulator.call import Call

NOLOCAL = "nolocal:"


@dataclass
class FarLeg:
    uuid: str
    variables: dict[str, str] = field(default_factory=dict)


def export(call: Call, arg: str) -> None:
    name, _, value = arg.partition("=")
    if not name:
        return
    ch = call.ch
    ch.set_var(name, value)
    names = [n for n in ch.variables.get("export_vars", "").split(",") if n]
    if name not in names:
        ch.set_var("export_vars", ",".join([*names, name]))


def bridge(call: Call, arg: str) -> None:
    """Runs inside ``Call.execute``: returns when the bridge ends, raises ``Hangup``."""
    ch = call.ch
    leg = split_leg(arg.strip())
    try:
        if leg is None or not leg[1]:
            raise OriginateError("DESTINATION_OUT_OF_ORDER")
        dial = parse_dial(leg[1])
    except OriginateError as exc:
        raise Hangup(exc.cause) from exc
    exported = {
        name.removeprefix(NOLOCAL): ch.variables[name]
        for name in ch.variables.get("export_vars", "").split(",")
        if name in ch.variables
    }
    switch = call.switch
    plan = switch.scenario.plan(dial.number, switch.rng)
    call.wait(plan.ring)
    if plan.outcome != "answer":
        ch.set_var("originate_disposition", plan.cause)
        raise Hangup(plan.cause)
    far = FarLeg(new_uuid(), {**exported, **dict(leg[0])})
    switch.far_legs[far.uuid] = far
    ch.set_var("originate_disposition", "SUCCESS")
    ch.set_var("signal_bond", far.uuid)
    ch.bridged_us = switch.clock.now_us()
    ids = [("Bridge-A-Unique-ID", ch.uuid), ("Bridge-B-Unique-ID", far.uuid)]
    call.emit("CHANNEL_BRIDGE", pre=ids)
    try:
        # the talk ends when either side does: the callee's talk time or the far end's
        call.wait(min(plan.talk, call.plan.talk))
    except Hangup:
        call.hang_up_now()
        raise
    finally:
        switch.far_legs.pop(far.uuid, None)
        call.emit("CHANNEL_UNBRIDGE", pre=ids)
