"""Dialplan flow (originate app is an extension, e.g. ``dialer_flow XML default``): the shipped
flow of DESIGN §7 — ``answer`` → ``amd`` → CUSTOM ``dialer::amd`` (``amd_result``,
``amd_cause``) → machine: hang up; human: ``play_and_get_digits`` → CUSTOM ``dialer::ivr``
(``ivr_digit``, ``read_result``) → handoff digit: CUSTOM ``dialer::handoff`` (``handoff_type``,
``handoff_target``) → ``callcenter`` with ``callcenter::info`` member/bridge events → hangup.
Each custom event carries ``dialer_attempt_id`` first, then its result fields, then all channel
headers and variables, exactly as the ``event`` application does in fixture 11. Flow knobs are
channel variables set at originate: ``dialer_amd``, ``dialer_ivr`` (``false`` skips a stage),
``dialer_ivr_digits`` (valid digits, default ``1``), ``dialer_ivr_tries`` (3),
``dialer_ivr_timeout_ms`` (4000), ``dialer_handoff_digit`` (``1``), ``dialer_handoff_type``
(``queue``), ``dialer_handoff_target`` (``dialer_q@default``), ``dialer_queue_max_wait`` (30).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dialer.simulator.channel import new_uuid
from dialer.simulator.control import Hangup

if TYPE_CHECKING:
    from dialer.simulator.call import Call


def var(call: Call, name: str, default: str) -> str:
    return call.ch.variables.get(name) or default


def custom(call: Call, subclass: str, fields: list[tuple[str, str]]) -> None:
    data = ",".join(
        ["Event-Name=CUSTOM", f"Event-Subclass={subclass}", *(f"{k}={v}" for k, v in fields)]
    )
    app_uuid = new_uuid()
    call.ch.set_var("current_application_data", data, move_to_end=True)
    call.ch.set_var("current_application", "event", move_to_end=True)
    call.emit(
        "CHANNEL_EXECUTE",
        post=[
            ("Application", "event"),
            ("Application-Data", data),
            ("Application-UUID", app_uuid),
        ],
    )
    call.publish(call.events.custom(call.ch, subclass, fields))
    call.complete("event", data, app_uuid, "_none_")


def run(call: Call) -> None:
    attempt = [("dialer_attempt_id", call.attempt_id)]
    call.execute("answer")
    if var(call, "dialer_amd", "true") != "false":
        call.execute("amd")
        custom(
            call,
            "dialer::amd",
            [
                *attempt,
                ("amd_result", call.ch.variables.get("amd_result", "")),
                ("amd_cause", call.ch.variables.get("amd_cause", "")),
            ],
        )
        if call.plan.machine:
            call.execute("hangup", "NORMAL_CLEARING")
            return
    if var(call, "dialer_ivr", "true") != "false":
        digits = var(call, "dialer_ivr_digits", "1")
        args = " ".join(
            [
                "1",
                "1",
                var(call, "dialer_ivr_tries", "3"),
                var(call, "dialer_ivr_timeout_ms", "4000"),
                "#",
                var(call, "dialer_ivr_prompt", "tone_stream://%(1000,500,440);loops=2"),
                "silence_stream://250",
                "ivr_digit",
                f"[{digits}]",
                "3000",
            ]
        )
        call.execute("play_and_get_digits", args)
        digit = call.ch.variables.get("ivr_digit", "")
        custom(
            call,
            "dialer::ivr",
            [
                *attempt,
                ("ivr_digit", digit),
                ("read_result", call.ch.variables.get("read_result", "")),
            ],
        )
        if digit != var(call, "dialer_handoff_digit", "1"):
            call.execute("hangup", "NORMAL_CLEARING")
            return
    kind = var(call, "dialer_handoff_type", "queue")
    target = var(call, "dialer_handoff_target", "dialer_q@default")
    custom(call, "dialer::handoff", [*attempt, ("handoff_type", kind), ("handoff_target", target)])
    queue(call, kind, target)


def queue(call: Call, kind: str, target: str) -> None:
    """mod_callcenter as captured in 02/06: member events, bridge, hangup, queue end."""
    ch = call.ch
    app_uuid = new_uuid()
    ch.set_var("current_application_data", target, move_to_end=True)
    ch.set_var("current_application", "callcenter", move_to_end=True)
    call.emit(
        "CHANNEL_EXECUTE",
        post=[
            ("Application", "callcenter"),
            ("Application-Data", target),
            ("Application-UUID", app_uuid),
        ],
    )
    clock = call.switch.clock
    joined = int(clock.now())
    member_uuid = new_uuid()
    ch.set_var("cc_queue", target)
    ch.set_var("cc_member_uuid", member_uuid)
    ch.set_var("cc_queue_joined_epoch", str(joined))
    member = [
        ("CC-Member-UUID", member_uuid),
        ("CC-Member-Session-UUID", ch.uuid),
        ("CC-Member-CID-Name", "Outbound Call"),
        ("CC-Member-CID-Number", ch.dial.context),
    ]
    call.publish(
        call.events.callcenter(
            ch,
            ("mod_callcenter.c", "callcenter_function", 3113),
            [("CC-Queue", target), ("CC-Action", "member-queue-start"), *member],
        )
    )
    max_wait = float(var(call, "dialer_queue_max_wait", "30"))
    if "noagent" in target:
        max_wait, agent = 6.0, False
    else:
        agent = call.plan.agent or kind != "queue"
    wait = call.plan.queue_wait if agent else max_wait
    wait = min(wait, max_wait)
    try:
        call.wait(wait)
    except Hangup:
        member_end(call, target, joined, member, "Cancel", "BREAK_OUT")
        raise
    if not agent or call.plan.queue_wait > max_wait:
        ch.set_var("cc_cause", "cancel")
        ch.set_var("cc_cancel_reason", "TIMEOUT")
        member_event(call, target, joined, member, "Cancel", "TIMEOUT")
        call.complete("callcenter", target, app_uuid, "_none_")
        call.execute("hangup", "NORMAL_CLEARING")
        return
    agent_uuid = new_uuid()
    answered = int(clock.now())
    ch.set_var("cc_agent", "agent1@default")
    ch.set_var("cc_agent_uuid", agent_uuid)
    ch.set_var("cc_queue_answered_epoch", str(answered))
    ch.set_var("cc_cause", "answered")
    agent_fields = [
        ("CC-Agent", "agent1@default"),
        ("CC-Agent-UUID", agent_uuid),
        ("CC-Agent-Called-Time", str(answered)),
        ("CC-Agent-Answered-Time", str(answered)),
        ("CC-Member-Joined-Time", str(joined)),
    ]
    call.publish(
        call.events.callcenter(
            None,
            ("mod_callcenter.c", "outbound_agent_thread_run", 1717),
            [("CC-Queue", target), ("CC-Action", "bridge-agent-start"), *agent_fields, *member],
        )
    )
    ch.bridged_us = clock.now_us()
    ch.set_var("bridge_uuid", agent_uuid)
    call.complete("callcenter", target, app_uuid, "_none_")
    call.emit(
        "CHANNEL_BRIDGE",
        pre=[("Bridge-A-Unique-ID", ch.uuid), ("Bridge-B-Unique-ID", agent_uuid)],
    )
    cause = "NORMAL_CLEARING"
    try:
        call.wait(call.plan.talk)
    except Hangup as hangup:
        cause = hangup.cause
    call.emit(
        "CHANNEL_UNBRIDGE",
        pre=[("Bridge-A-Unique-ID", ch.uuid), ("Bridge-B-Unique-ID", agent_uuid)],
    )
    call.after_hangup(
        [
            call.events.callcenter(
                None,
                ("mod_callcenter.c", "outbound_agent_thread_run", 2062),
                [
                    ("CC-Queue", target),
                    ("CC-Action", "bridge-agent-end"),
                    ("CC-Hangup-Cause", "SUCCESS"),
                    *agent_fields[:2],
                    ("CC-Agent-Bridged", "true"),
                    *agent_fields[2:],
                    ("CC-Bridge-Terminated-Time", str(int(clock.now()))),
                    *member,
                ],
            ),
        ],
        lambda: member_event(call, target, joined, member, "Terminated", None),
    )
    raise Hangup(cause)


def member_end(
    call: Call,
    target: str,
    joined: int,
    member: list[tuple[str, str]],
    cause: str,
    reason: str | None,
) -> None:
    # member-queue-end comes after the member's CHANNEL_HANGUP_COMPLETE (pitfall 4)
    call.after_hangup([], lambda: member_event(call, target, joined, member, cause, reason))


def member_event(
    call: Call,
    target: str,
    joined: int,
    member: list[tuple[str, str]],
    cause: str,
    reason: str | None,
) -> None:
    fields = [
        ("CC-Queue", target),
        ("CC-Action", "member-queue-end"),
        ("CC-Member-Leaving-Time", str(int(call.switch.clock.now()))),
        ("CC-Member-Joined-Time", str(joined)),
        ("CC-Cause", cause),
    ]
    if reason:
        fields.append(("CC-Cancel-Reason", reason))
    call.publish(
        call.events.callcenter(
            call.ch, ("mod_callcenter.c", "callcenter_function", 3274), fields + member
        )
    )
