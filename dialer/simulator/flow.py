"""Dialplan flow (originate app is an extension, e.g. ``dialer_flow XML default``): the shipped
flow of DESIGN §7, driven by the channel variables of :mod:`dialer.flow.contract` with the
same names and the same defaults when one is absent.

``answer`` → ``sched_hangup`` (max duration, or the flow's cap until a handoff) →
[``record_session``] → [AMD → CUSTOM ``dialer::amd`` (``amd_result``, ``amd_cause``,
``amd_ms``, ``amd_method``): ``amd`` where the node has mod_amd, else ``avmd`` alone for
``dialer_avmd_window_ms`` (a beep: ``MACHINE``/``BEEP``; none: ``NOTSURE``/``NO_BEEP``);
``MACHINE``: hang up, or the voicemail message after the beep and CUSTOM
``dialer::voicemail``; undecided or unset: a human] → the message (no IVR) or
``play_and_get_digits`` (one try per round) → CUSTOM ``dialer::ivr`` (``ivr_digit``,
``read_result``, ``ivr_invalid``, ``ivr_try``) → the digit's
action: ``replay`` (the IVR again, ``tries`` rounds at most), ``opt_out`` (CUSTOM
``dialer::opt_out``, the confirmation), or a handoff → CUSTOM ``dialer::handoff``
(``handoff_type``, ``handoff_target``, ``handoff_reason``) → ``callcenter`` with
``callcenter::info`` member/bridge events, a ``transfer`` to an extension, or a ``bridge`` to
an AI agent with its ``{…}`` headers.
Each custom event carries ``dialer_attempt_id`` first, then its result fields, then all
channel headers and variables, exactly as the ``event`` application does in fixture 11.

A ``uuid_transfer`` of the running call (``Transfer``) breaks the running application and
routes the same channel again: to ``dialer_flow`` with ``dialer_entry=queue`` it goes straight
to the queue handoff (``handoff_reason=transfer``), as an AI agent's ``transfer_to_human``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from dialer.flow import contract as fv
from dialer.simulator.channel import new_uuid
from dialer.simulator.control import Hangup
from dialer.simulator.transfer import Transfer

if TYPE_CHECKING:
    from dialer.simulator.call import Call

BEEP_WAIT_SECONDS = 30.0  # a machine without a beep: the message goes after this long
_TONE = re.compile(r"tone:(\d+):?(\d*)")


def var(call: Call, name: str, default: str | None = None) -> str:
    fallback = fv.DEFAULTS.get(name, "") if default is None else default
    return call.ch.variables.get(name) or fallback


def sound(call: Call, name: str) -> str:
    """A sound variable, the lab tone ``tone:<Hz>[:<seconds>]`` expanded as the script does."""
    value = var(call, name)
    tone = _TONE.fullmatch(value)
    if tone is None:
        return value
    ms = int(tone.group(2) or 1) * 1000
    return f"tone_stream://%({ms},0,{tone.group(1)})"


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
    """The flow, and again on every ``uuid_transfer`` to it, until the call hangs up."""
    extension = fv.APPLICATION.split()[0]
    while True:
        call.in_flow = True
        try:
            _run_once(call)
            return
        except Transfer as transfer:
            call.reroute()
            if transfer.destination == extension:
                continue
            call.in_flow = False  # another extension: as the parked call would do
            if transfer.destination.startswith("enqueue"):
                queue(call, "queue", fv.DEFAULTS[fv.HANDOFF_TARGET])
            else:
                call.park()
            return


def _run_once(call: Call) -> None:
    attempt = [("dialer_attempt_id", call.attempt_id)]
    if var(call, fv.ENTRY) == fv.ENTRY_QUEUE:
        call.ch.variables.pop(fv.ENTRY, None)  # one-shot: a plain transfer runs it all
        target, max_wait = var(call, fv.HANDOFF_TARGET), float(var(call, fv.QUEUE_MAX_WAIT))
        handoff(call, attempt, fv.HANDOFF_REASON_TRANSFER, "queue", target, max_wait, "", "")
        return
    call.execute("answer")
    # the flow's safety cap until a handoff, then what is left of the call's max duration
    caps = [int(v) for v in (var(call, fv.MAX_DURATION), var(call, fv.FLOW_TIMEOUT)) if v]
    if caps:
        call.execute("sched_hangup", f"+{min(caps)} ALLOTTED_TIMEOUT")
    if var(call, fv.RECORDING) == "true":
        call.execute("record_session", "$${recordings_dir}/" + var(call, fv.RECORDING_PATH))
    if var(call, fv.AMD) != "false":
        result, cause, taken_ms, method = detect(call)
        custom(
            call,
            "dialer::amd",
            [
                *attempt,
                ("amd_result", result),
                ("amd_cause", cause),
                ("amd_ms", str(taken_ms)),
                ("amd_method", method),
            ],
        )
        if result == "MACHINE":  # NOTSURE or unset (callee gone mid-analysis): a human
            if var(call, fv.AMD_ON_MACHINE) == "voicemail":
                voicemail(call, attempt, beeped=method == fv.AMD_METHOD_AVMD)
            call.execute("hangup", "NORMAL_CLEARING")
            return
    if var(call, fv.IVR) == "false":
        message = sound(call, fv.MESSAGE)
        if message:
            call.execute("playback", message)
        handoff(call, attempt, "campaign", *_handoff_vars(call, None))
        return
    ivr(call, attempt)


def detect(call: Call) -> tuple[str, str, int, str]:
    """result, cause, ms taken, method: mod_amd where loaded, else avmd alone."""
    clock = call.switch.clock
    started = clock.now()
    modules = call.switch.modules
    if "mod_amd" in modules:
        call.execute("amd", var(call, fv.AMD_ARGS))
        method = fv.AMD_METHOD_AMD
        result = call.ch.variables.get("amd_result", "")
        cause = call.ch.variables.get("amd_cause", "")
    elif "mod_avmd" in modules:
        window = var(call, fv.AVMD_WINDOW_MS)
        if not window.isdigit():
            window = fv.DEFAULTS[fv.AVMD_WINDOW_MS]
        beeped = listen_for_beep(call, int(window) / 1000)
        if not beeped:  # the whole window, as the model has it (not a late resume's reading)
            started = clock.now() - int(window) / 1000
        method = fv.AMD_METHOD_AVMD
        result, cause = fv.AVMD_MACHINE if beeped else fv.AVMD_UNDECIDED
        call.ch.set_var("amd_result", result)
        call.ch.set_var("amd_cause", cause)
    else:
        (result, cause), method = fv.NOT_INSTALLED, fv.AMD_METHOD_NONE
    taken = clock.now() - started
    if method == fv.AMD_METHOD_AMD and call.amd_took is not None:
        # the model's own decision time: on a loaded machine the scaled clock resumes the
        # call late, and 1 ms late is 200 simulated ms at a time scale of 0.005
        taken = call.amd_took
    return result, cause, int(taken * 1000), method


def listen_for_beep(call: Call, window: float) -> bool:
    """``avmd_start``, wait for the beep at most ``window`` seconds, ``avmd_stop``."""
    call.ch.variables.pop("avmd_detect", None)  # as the script: an earlier run's detection
    call.execute("avmd_start")
    clock = call.switch.clock
    deadline = clock.now() + window
    while not call.avmd.beeped and clock.now() < deadline:
        due = call.avmd.due
        left = deadline - clock.now()
        call.wait(min(left, due - clock.now() + 0.001) if due is not None else left)
    beeped = call.avmd.beeped
    call.execute("avmd_stop")
    return beeped


def voicemail(call: Call, attempt: list[tuple[str, str]], *, beeped: bool = False) -> None:
    """After the beep, speak: mod_amd decides seconds before the greeting ends, so wait for
    it; avmd alone decided on the beep itself (``beeped``), so the message goes at once."""
    if not beeped:
        beeped = listen_for_beep(call, BEEP_WAIT_SECONDS)
    message = sound(call, fv.VOICEMAIL_MESSAGE)
    if message:
        call.execute("playback", message)
    outcome = "left" if message else "nothing_to_leave"
    custom(
        call,
        "dialer::voicemail",
        [*attempt, ("voicemail_result", outcome), ("beep", "true" if beeped else "false")],
    )


def ivr(call: Call, attempt: list[tuple[str, str]]) -> None:
    """One ``play_and_get_digits`` try per round, so every try is counted and says whether
    it timed out or got a key the menu refuses (``ivr_digit_invalid``)."""
    digits = var(call, fv.IVR_DIGITS)
    tries = var(call, fv.IVR_TRIES)
    rounds = int(tries) if tries.isdigit() else 3
    for round_no in range(1, max(1, rounds) + 1):
        args = " ".join(
            [
                "1",
                "1",
                "1",
                var(call, fv.IVR_TIMEOUT_MS),
                "#",
                sound(call, fv.IVR_PROMPT),
                sound(call, fv.IVR_INVALID_MESSAGE),
                "ivr_digit",
                f"[{digits}]",
                "3000",
            ]
        )
        # a failed read leaves the last round's digit: the shipped flow unsets it each round
        call.ch.variables.pop("ivr_digit", None)
        call.execute("play_and_get_digits", args)
        digit = call.ch.variables.get("ivr_digit", "")
        custom(
            call,
            "dialer::ivr",
            [
                *attempt,
                ("ivr_digit", digit),
                ("read_result", call.ch.variables.get("read_result", "")),
                ("ivr_invalid", call.ch.variables.get("ivr_digit_invalid", "")),
                ("ivr_try", str(round_no)),
            ],
        )
        if not digit:
            continue  # nothing, or a key the menu refuses: the next try
        action = var(call, fv.digit_var(fv.IVR_ACTION, digit), "")
        if action == "replay":
            continue
        if action == "opt_out":
            custom(call, "dialer::opt_out", [*attempt, ("ivr_digit", digit)])
            message = sound(call, fv.OPT_OUT_MESSAGE)
            if message:
                call.execute("playback", message)
            break
        if action in fv.HANDOFF_ACTIONS or not action:
            # a valid digit without its own action goes to the campaign's handoff
            reason = "ivr" if action else "campaign"
            handoff(call, attempt, reason, *_handoff_vars(call, digit if action else None))
            return
        break  # an action this flow does not know
    call.execute("hangup", "NORMAL_CLEARING")


def _handoff_vars(call: Call, digit: str | None) -> tuple[str, str, float, str, str]:
    """type, target, queue max wait, bridge headers, codec: the digit's own, else the
    campaign's handoff."""
    if digit is None:
        return (
            var(call, fv.HANDOFF_TYPE),
            var(call, fv.HANDOFF_TARGET),
            float(var(call, fv.QUEUE_MAX_WAIT)),
            var(call, fv.HANDOFF_HEADERS),
            var(call, fv.HANDOFF_CODEC),
        )
    return (
        var(call, fv.digit_var(fv.IVR_ACTION, digit)),
        var(call, fv.digit_var(fv.IVR_TARGET, digit), var(call, fv.HANDOFF_TARGET)),
        float(var(call, fv.digit_var(fv.IVR_MAX_WAIT, digit), var(call, fv.QUEUE_MAX_WAIT))),
        var(call, fv.digit_var(fv.IVR_HEADERS, digit), ""),
        var(call, fv.digit_var(fv.IVR_CODEC, digit), var(call, fv.HANDOFF_CODEC)),
    )


def handoff(
    call: Call,
    attempt: list[tuple[str, str]],
    reason: str,
    kind: str,
    target: str,
    max_wait: float,
    headers: str,
    codec: str,
) -> None:
    """``reason``: ``ivr`` (the digit's own action), ``campaign`` (the campaign's handoff) or
    ``transfer`` (re-entered at the queue: the first handoff already replaced the cap)."""
    if kind == fv.HANDOFF_NONE or kind not in fv.HANDOFF_ACTIONS:
        call.execute("hangup", "NORMAL_CLEARING")
        return
    custom(
        call,
        "dialer::handoff",
        [
            *attempt,
            ("handoff_type", kind),
            ("handoff_target", target),
            ("handoff_reason", reason),
        ],
    )
    if var(call, fv.FLOW_TIMEOUT) and reason != fv.HANDOFF_REASON_TRANSFER:
        call.execute("sched_cancel")
        limit = var(call, fv.MAX_DURATION)
        if limit and call.answered_at is not None:
            left = int(limit) - (call.switch.clock.now() - call.answered_at)
            call.execute("sched_hangup", f"+{max(1, int(left))} ALLOTTED_TIMEOUT")
    if kind == "queue":
        queue(call, kind, target, max_wait)
        return
    if kind == "ai_agent":
        # codecs on every bridge: a loopback A leg offers only L16 otherwise (capture 17x)
        block = ",".join(p for p in (f"absolute_codec_string={codec}", headers) if p)
        call.execute("bridge", "{" + block + "}" + target)
    else:
        call.execute("transfer", target)
        call.wait(call.plan.talk)  # the extension's own dialplan has the call
    call.execute("hangup", "NORMAL_CLEARING")


def queue(call: Call, kind: str, target: str, max_wait: float | None = None) -> None:
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
    if max_wait is None:
        max_wait = float(var(call, fv.QUEUE_MAX_WAIT))
    if "noagent" in target:
        max_wait, agent = 6.0, False
    else:
        agent = call.plan.agent or kind != "queue"
    wait = call.plan.queue_wait if agent else max_wait
    wait = min(wait, max_wait)
    waited_from = clock.now_us()
    try:
        call.wait(wait)
    except Hangup:
        member_end(call, target, joined, member, "Cancel", "BREAK_OUT")
        raise
    except Transfer:  # the member leaves the queue at once, the channel goes on
        member_event(call, target, joined, member, "Cancel", "BREAK_OUT")
        call.complete("callcenter", target, app_uuid, "_none_")
        raise
    if not agent or call.plan.queue_wait > max_wait:
        ch.set_var("cc_cause", "cancel")
        ch.set_var("cc_cancel_reason", "TIMEOUT")
        member_event(call, target, joined, member, "Cancel", "TIMEOUT")
        call.complete("callcenter", target, app_uuid, "_none_")
        call.execute("hangup", "NORMAL_CLEARING")
        return
    agent_uuid = new_uuid()
    # the agent answers when the model says, not when a loaded machine resumed this call: on
    # the scaled clock 80 ms of scheduling delay is 2 s, the whole abandonment allowance
    answered_us = min(clock.now_us(), waited_from + round(wait * 1_000_000))
    answered = answered_us // 1_000_000
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
            us=answered_us,
        )
    )
    ch.bridged_us = answered_us
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
    except Transfer:  # out of the agent bridge: the agent leg hangs up
        call.emit(
            "CHANNEL_UNBRIDGE",
            pre=[("Bridge-A-Unique-ID", ch.uuid), ("Bridge-B-Unique-ID", agent_uuid)],
        )
        member_event(call, target, joined, member, "Terminated", None)
        raise
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
