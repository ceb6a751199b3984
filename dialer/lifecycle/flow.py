"""The call flow's results in the lifecycle record (DESIGN §5, §7): pure, no I/O, no clock.

After answer the shipped flow raises CUSTOM ``dialer::amd`` / ``dialer::ivr`` (one per round) /
``dialer::opt_out`` / ``dialer::voicemail`` / ``dialer::handoff``, and mod_callcenter raises
``callcenter::info`` (member-queue-start, bridge-agent-start/end, member-queue-end). Each event
of the member carries its channel variables too, the hangup above all (``amd_result``,
``read_result``, ``ivr_digit``, ``cc_queue``, ``cc_cause``, ``cc_cancel_reason``,
``cc_queue_answered_epoch``…), so a consumer that missed a custom event still reads the result
where the variables say it.

Nothing here is overwritten: :func:`read` turns one event into :class:`Flow` evidence, evidence
merges commutatively and idempotently (earliest instant, latest instant, logical or, union,
ranked choice), and :func:`derive` makes the ``call_attempts`` columns and the outcome from the
merged evidence. Any order or duplication of a call's events therefore gives one record.

Pitfalls the evidence respects (fixtures README): ``member-queue-end`` comes after the member's
CHANNEL_HANGUP_COMPLETE; ``bridge-agent-*`` carry the *agent* leg's variables, so only their
``CC-*`` headers are read; mod_amd leaves its variables unset when the callee hangs up
mid-analysis (undecided counts as human).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from dialer.lifecycle.values import clean_text as _text
from dialer.lifecycle.values import whole_number as _int

AMD_RESULT = "campaign.amd_result"
IVR_COMPLETED = "campaign.ivr_completed"
QUEUE_JOINED = "campaign.queue_joined"
AGENT_ANSWERED = "campaign.agent_answered"
#: The stage webhook events, in the order a call reaches them (DESIGN §5).
STAGES = (AMD_RESULT, IVR_COMPLETED, QUEUE_JOINED, AGENT_ANSWERED)

#: The ``call_attempts`` columns this module derives (``CallRecord`` fields of the same names).
FLOW_COLUMNS = (
    "amd_enabled",
    "amd_result",
    "amd_cause",
    "amd_duration_ms",
    "amd_method",
    "ivr_digit",
    "ivr_attempts",
    "ivr_result",
    "queue_name",
    "queue_id",
    "queue_entered_at",
    "queue_wait_seconds",
    "queue_result",
    "agent_id",
    "agent_name",
    "talk_seconds",
    "handoff_type",
    "handoff_target",
    "abandoned",
    "recording_enabled",
    "recording_url",
    "recording_duration_sec",
)
#: Not columns of their own: the ``ai`` document's ``agentId`` and ``endReason``.
AI_FIELDS = ("ai_agent_id", "ai_end_reason")

#: The event names (``Event-Subclass``) of the flow and of mod_callcenter.
FLOW_EVENTS = frozenset(
    {
        "dialer::amd",
        "dialer::ivr",
        "dialer::opt_out",
        "dialer::voicemail",
        "dialer::handoff",
        "callcenter::info",
    }
)
#: The channel variables this module reads (the rest of an event's variables may be dropped
#: before it is folded again: see ``dialer.consumer.store``).
VARIABLES = frozenset(
    "variable_" + name
    for name in (
        "amd_result",
        "amd_cause",
        "dialer_amd",
        "ivr_digit",
        "read_result",
        "ivr_digit_invalid",
        "current_application",
        "cc_queue",
        "cc_queue_joined_epoch",
        "cc_queue_answered_epoch",
        "cc_queue_terminated_epoch",
        "cc_cause",
        "cc_agent",
        "cc_cancel_reason",
        "bridge_uepoch",
        "originate_disposition",
    )
)
#: An answered human handed to a queue and given no agent within this long is abandoned
#: (16 CFR 310.4(b)(4)(i): two seconds after the greeting ends, i.e. the handoff).
ABANDON_SECONDS = 2.0

#: ``handoff_reason`` of the flow re-entered at the queue (an AI agent's transfer to a human)
HANDOFF_REASON_TRANSFER = "transfer"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_HANGUP = "CHANNEL_HANGUP_COMPLETE"
_PAGD = "play_and_get_digits"
_AMD_RANK = {"HUMAN": 2, "MACHINE": 2, "NOTSURE": 1, "": 0}
_VOICEMAIL_RANK = {"left": 2, "nothing_to_leave": 1}
_AGENT_ACTIONS = frozenset({"bridge-agent-start", "bridge-agent-end", "bridge-agent-fail"})

#: One IVR round (one ``dialer::ivr``): (µs, Event-Sequence, digit, read_result, invalid).
Round = tuple[int, int, str, str, str]
#: The IVR as the member's variables showed it at one instant: (µs, digit, read_result,
#: invalid, current application).
Snapshot = tuple[int, str, str, str, str]


_OR, _MIN, _MAX, _UNION = ({"merge": kind} for kind in ("or", "min", "max", "union"))


@dataclass(frozen=True)
class Flow:
    """What the events said so far. Every field merges by its own commutative rule."""

    # dialer_amd=true, a dialer::amd, an amd_result
    amd_on: bool | None = field(default=None, metadata=_OR)
    amd_raw: tuple[int, str] | None = field(default=None, metadata=_MAX)  # (rank, mod_amd's result)
    amd_reported: bool | None = field(default=None, metadata=_OR)  # the flow raised dialer::amd
    amd_cause: str | None = field(default=None, metadata=_MAX)
    # the flow's own measure of the decision
    amd_ms: int | None = field(default=None, metadata=_MIN)
    amd_at: int | None = field(default=None, metadata=_MIN)  # µs of dialer::amd
    amd_method: str | None = field(default=None, metadata=_MAX)
    rounds: frozenset[Round] | None = field(default=None, metadata=_UNION)
    ivr_try: int | None = field(default=None, metadata=_MAX)  # the flow's own try count
    snapshot: Snapshot | None = field(default=None, metadata=_MAX)  # the latest variables seen
    end_snapshot: Snapshot | None = field(default=None, metadata=_MAX)  # the hangup's
    opt_out: str | None = field(default=None, metadata=_MAX)
    voicemail: tuple[int, str] | None = field(default=None, metadata=_MAX)
    beep: bool | None = field(default=None, metadata=_OR)
    # the latest handoff: (µs, type, target); an AI agent may hand the call on to a queue
    handoff: tuple[int, str, str] | None = field(default=None, metadata=_MAX)
    queue_handoff_at: int | None = field(default=None, metadata=_MIN)  # µs of the first to a queue
    ai_target: str | None = field(default=None, metadata=_MAX)  # an AI agent handoff's target
    ai_transferred: bool | None = field(default=None, metadata=_OR)  # it handed the call on
    queue: str | None = field(default=None, metadata=_MAX)  # mod_callcenter's queue name
    queue_start_at: int | None = field(default=None, metadata=_MIN)  # µs of member-queue-start
    joined_s: int | None = field(default=None, metadata=_MIN)
    agent: str | None = field(default=None, metadata=_MAX)
    agent_at: int | None = field(default=None, metadata=_MIN)  # µs of bridge-agent-start
    agent_s: int | None = field(default=None, metadata=_MIN)
    bridge_end_s: int | None = field(default=None, metadata=_MAX)
    left_s: int | None = field(default=None, metadata=_MAX)
    cc_answered: bool | None = field(default=None, metadata=_OR)
    cc_cancel_reason: str | None = field(default=None, metadata=_MAX)
    queue_ended: bool | None = field(default=None, metadata=_OR)
    # µs the A leg was bridged (AI agent, agent)
    bridged_at: int | None = field(default=None, metadata=_MIN)
    # the bridge's originate_disposition
    disposition: str | None = field(default=None, metadata=_MAX)
    # record_session: asked for (dialer_recording), where (dialer_recording_path, under the
    # node's recordings_dir) and how long it ran (record_ms, set when the recording closes)
    recording: bool | None = field(default=None, metadata=_OR)
    recording_path: str | None = field(default=None, metadata=_MAX)
    record_ms: int | None = field(default=None, metadata=_MAX)

    def merge(self, other: Flow) -> Flow:
        changes: dict[str, Any] = {}
        for f in fields(self):
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            if theirs is None or theirs == mine:
                continue
            if mine is None:
                changes[f.name] = theirs
                continue
            kind = f.metadata["merge"]
            if kind == "or":
                value: Any = mine or theirs
            elif kind == "min":
                value = min(mine, theirs)
            elif kind == "union":
                value = mine | theirs
            else:
                value = max(mine, theirs)
            if value != mine:
                changes[f.name] = value
        return replace(self, **changes) if changes else self

    @property
    def empty(self) -> bool:
        return all(getattr(self, f.name) is None for f in fields(self))


EMPTY = Flow()


# -- what one event says ------------------------------------------------------------------


def read(name: str, headers: Mapping[str, Any]) -> Flow | None:
    """The flow evidence of one event (None: it says nothing about the flow)."""
    if name != "CUSTOM" and name != _HANGUP:
        return None  # progress and answer: the hangup carries the same variables, and more
    subclass = _text(headers.get("Event-Subclass")) if name == "CUSTOM" else None
    if name == "CUSTOM" and subclass not in FLOW_EVENTS:
        return None
    at = _int(headers.get("Event-Date-Timestamp")) or 0
    found: dict[str, Any] = {}
    if subclass == "callcenter::info":
        action = _text(headers.get("CC-Action"))
        member = _text(headers.get("CC-Member-Session-UUID"))
        if action is None or member is None:
            return None  # members-count, agent-state-change: about the queue, not the call
        own_vars = _text(headers.get("Unique-ID")) == member
        _callcenter(found, action, headers, at)
        if own_vars:
            _variables(found, headers, at, hangup=False)
        return Flow(**found) if found else None
    if subclass is not None:
        _custom(found, subclass, headers, at)
    _variables(found, headers, at, hangup=name == _HANGUP)
    return Flow(**found) if found else None


def _custom(found: dict[str, Any], subclass: str, headers: Mapping[str, Any], at: int) -> None:
    """The fields the flow put first in its own event (fixture 11)."""
    if subclass == "dialer::amd":
        result = (_text(headers.get("amd_result")) or "").upper()
        found.update(amd_on=True, amd_reported=True, amd_at=at or None)
        found["amd_raw"] = (_AMD_RANK.get(result, 1), result)
        found["amd_cause"] = _text(headers.get("amd_cause"))
        found["amd_ms"] = _int(headers.get("amd_ms"))
        found["amd_method"] = _text(headers.get("amd_method"))
    elif subclass == "dialer::ivr":
        digit = _text(headers.get("ivr_digit")) or ""
        result = _text(headers.get("read_result")) or ""
        # the refused key: the flow's own field, else the switch's variable (older flows)
        invalid = _text(headers.get("ivr_invalid"))
        if invalid is None and "ivr_invalid" not in headers:
            invalid = _text(headers.get("variable_ivr_digit_invalid"))
        seq = _int(headers.get("Event-Sequence")) or 0
        found["rounds"] = frozenset({(at, seq, digit, result, invalid or "")})
        found["ivr_try"] = _int(headers.get("ivr_try"))
    elif subclass == "dialer::opt_out":
        found["opt_out"] = _text(headers.get("ivr_digit")) or "?"
    elif subclass == "dialer::voicemail":
        result = _text(headers.get("voicemail_result")) or ""
        if result in _VOICEMAIL_RANK:
            found["voicemail"] = (_VOICEMAIL_RANK[result], result)
        found["beep"] = _text(headers.get("beep")) == "true"
    elif subclass == "dialer::handoff":
        kind = _text(headers.get("handoff_type"))
        target = _text(headers.get("handoff_target")) or ""
        if kind is not None:
            found["handoff"] = (at, kind, target)
        if kind == "queue":
            found["queue_handoff_at"] = at or None
        elif kind == "ai_agent":
            found["ai_target"] = target or None
        if _text(headers.get("handoff_reason")) == HANDOFF_REASON_TRANSFER:
            found["ai_transferred"] = True


def _callcenter(found: dict[str, Any], action: str, headers: Mapping[str, Any], at: int) -> None:
    """mod_callcenter's own headers (captures 02, 06)."""
    found["queue"] = _text(headers.get("CC-Queue"))
    found["joined_s"] = _int(headers.get("CC-Member-Joined-Time"))
    if action == "member-queue-start":
        found["queue_start_at"] = at or None
    elif action in ("bridge-agent-start", "bridge-agent-end"):
        found.update(cc_answered=True, agent=_text(headers.get("CC-Agent")))
        found["agent_s"] = _int(headers.get("CC-Agent-Answered-Time"))
        if action == "bridge-agent-start":
            found["agent_at"] = at or None
        else:
            found["bridge_end_s"] = _int(headers.get("CC-Bridge-Terminated-Time"))
    elif action == "member-queue-end":
        found["queue_ended"] = True
        found["left_s"] = _int(headers.get("CC-Member-Leaving-Time"))
        found["cc_cancel_reason"] = _text(headers.get("CC-Cancel-Reason"))
        if _text(headers.get("CC-Agent-Answered-Time")):
            found.update(cc_answered=True, agent_s=_int(headers.get("CC-Agent-Answered-Time")))
            found["agent"] = _text(headers.get("CC-Agent"))


def _variables(found: dict[str, Any], headers: Mapping[str, Any], at: int, *, hangup: bool) -> None:
    """The member's channel variables: what its flow reached, even without the custom events."""

    def var(name: str) -> str | None:
        return _text(headers.get("variable_" + name))

    amd = var("amd_result")
    if amd is not None:
        amd = amd.upper()
        found.setdefault("amd_raw", (_AMD_RANK.get(amd, 1), amd))
        found.setdefault("amd_cause", var("amd_cause"))
        found["amd_on"] = True
    if var("dialer_amd") == "true":
        found["amd_on"] = True
    digit, result = var("ivr_digit") or "", var("read_result") or ""
    app = var("current_application") or ""
    if digit or result or app == _PAGD:
        shot = (at, digit, result, var("ivr_digit_invalid") or "", app)
        found["snapshot"] = shot
        if hangup:
            found["end_snapshot"] = shot
    queue = var("cc_queue")
    if queue is not None:
        found.setdefault("queue", queue)
        found.setdefault("joined_s", _int(var("cc_queue_joined_epoch")))
        answered = _int(var("cc_queue_answered_epoch"))
        if answered or var("cc_cause") == "answered":
            found.update(cc_answered=True)
            if answered:
                found.setdefault("agent_s", answered)
            if var("cc_agent"):
                found.setdefault("agent", var("cc_agent"))
        reason = var("cc_cancel_reason")
        if reason is not None:
            found.setdefault("cc_cancel_reason", reason)
        ended = _int(var("cc_queue_terminated_epoch"))
        if ended:
            found.setdefault("left_s", ended)
    bridged = _int(var("bridge_uepoch"))
    if bridged:
        found["bridged_at"] = bridged
    disposition = var("originate_disposition")
    if disposition is not None:
        found["disposition"] = disposition
    if var("dialer_recording") == "true":
        found["recording"] = True
        path = var("dialer_recording_path")
        if path:
            found["recording_path"] = path
        recorded = _int(var("record_ms"))
        if recorded is not None:
            found["record_ms"] = recorded


# -- what the evidence means --------------------------------------------------------------


@dataclass(frozen=True)
class Derived:
    """The flow columns (None: not known yet) and what the call reached."""

    columns: dict[str, Any]
    ai: dict[str, Any]
    stages: frozenset[str]
    outcome: str | None  # the answered call's outcome once it ended (None: not ended)


def derive(
    flow: Flow,
    *,
    answered_at: datetime | None,
    ended_at: datetime | None,
    ended: bool,
    hangup_cause: str | None,
) -> Derived:
    """The columns from the merged evidence. ``ended`` with ``answered_at``: the outcome too."""
    answered = answered_at is not None
    if flow is EMPTY:  # most events of most calls: nothing to derive
        return _NOTHING_ENDED if ended and answered else _NOTHING
    cols: dict[str, Any] = dict.fromkeys(FLOW_COLUMNS)
    _derive_amd(cols, flow, answered_at, answered and ended)
    _derive_recording(cols, flow, answered_at, ended_at, answered and ended)
    ivr_final = _derive_ivr(cols, flow, ended)
    queued = _derive_queue(cols, flow, ended_at, ended)
    ai: dict[str, Any] = dict.fromkeys(AI_FIELDS)
    kind = cols["handoff_type"]
    bridged = flow.bridged_at is not None and (
        flow.disposition is None or flow.disposition == "SUCCESS"
    )
    if flow.ai_target is not None:
        ai["ai_agent_id"] = flow.ai_target
        if flow.ai_transferred or kind == "queue":
            ai["ai_end_reason"] = "transferred"  # to a human, through the queue
        elif ended:
            ai["ai_end_reason"] = (
                (hangup_cause or "UNKNOWN") if bridged else (flow.disposition or "NOT_BRIDGED")
            )
    stages = set()
    if cols["amd_result"] is not None:
        stages.add(AMD_RESULT)
    if ivr_final:
        stages.add(IVR_COMPLETED)
    if queued:
        stages.add(QUEUE_JOINED)
    if cols["queue_result"] == "answered":
        stages.add(AGENT_ANSWERED)
    outcome = None
    if ended and answered:
        outcome = _outcome(cols, flow, queued, bridged)
    return Derived(cols, ai, frozenset(stages), outcome)


_NOTHING = Derived({}, {}, frozenset(), None)
_NOTHING_ENDED = Derived({}, {}, frozenset(), "completed")


def _derive_recording(
    cols: dict[str, Any],
    flow: Flow,
    answered_at: datetime | None,
    ended_at: datetime | None,
    over: bool,
) -> None:
    """The recording runs from the answer to the hangup; ``recording_url`` holds its path
    under the node's recordings directory (``dialer.recordings`` makes it a URL)."""
    if not flow.recording:
        return
    cols["recording_enabled"] = True
    if not over or flow.recording_path is None:
        return
    cols["recording_url"] = flow.recording_path
    if flow.record_ms is not None:
        cols["recording_duration_sec"] = round(flow.record_ms / 1000)
    elif answered_at is not None and ended_at is not None:
        cols["recording_duration_sec"] = max(0, round((ended_at - answered_at).total_seconds()))


def _derive_amd(cols: dict[str, Any], flow: Flow, answered_at: datetime | None, over: bool) -> None:
    raw = flow.amd_raw[1] if flow.amd_raw is not None else None
    enabled = bool(flow.amd_on)
    cols["amd_enabled"] = True if enabled else None
    if raw in ("HUMAN", "MACHINE"):
        cols["amd_result"] = raw.lower()
    elif raw is not None or flow.amd_reported or (enabled and over):
        # NOTSURE, empty, or never set (callee gone mid-analysis): counted as a human
        cols["amd_result"] = "unknown_assumed_human"
    cols["amd_cause"] = flow.amd_cause
    if flow.amd_ms is not None:
        cols["amd_duration_ms"] = flow.amd_ms
    elif flow.amd_at is not None and answered_at is not None:
        cols["amd_duration_ms"] = max(0, round((flow.amd_at - _usec(answered_at)) / 1000))
    if flow.amd_method is not None:
        cols["amd_method"] = flow.amd_method
    elif raw in _AMD_RANK and raw:
        cols["amd_method"] = "amd"  # mod_amd's own variables: its result


def _round_result(digit: str, result: str, invalid: str) -> str:
    if digit:
        return "digit_pressed"
    if not result:
        return "caller_hangup"  # play_and_get_digits ended by the hangup: no read_result
    return "invalid" if invalid else "timeout"


def _derive_ivr(cols: dict[str, Any], flow: Flow, ended: bool) -> bool:
    """The IVR columns; True when the IVR has a final result."""
    rounds = sorted(flow.rounds or ())
    digits = [r[2] for r in rounds if r[2]]
    result: str | None = None
    if rounds:
        last = rounds[-1]
        result = _round_result(last[2], last[3], last[4])
    elif flow.snapshot is not None:
        _, digit, read_result, invalid, _app = flow.snapshot
        if digit or read_result:
            result = _round_result(digit, read_result, invalid)
            digits = [digit] if digit else []
    end = flow.end_snapshot
    # the call ended inside play_and_get_digits: no read_result yet (05b), or a try the flow
    # never reported (it reports each one at once, so the hangup came during it); a
    # read_result without the flow's events is a read that ended first (05a)
    if end is not None and end[4] == _PAGD and not end[1] and (not end[2] or rounds):
        result = "caller_hangup"
    if result is None and flow.opt_out is not None:
        result = "digit_pressed"
    cols["ivr_result"] = result
    cols["ivr_digit"] = digits[-1] if digits else flow.opt_out
    if result is not None:
        cols["ivr_attempts"] = max(1, len(rounds), flow.ivr_try or 0)
    # a round without a digit is the IVR's last; a digit is final once the flow moved on
    moved_on = (
        flow.handoff is not None or flow.queue is not None or flow.opt_out is not None or ended
    )
    return result is not None and (result != "digit_pressed" or moved_on)


def _derive_queue(cols: dict[str, Any], flow: Flow, ended_at: datetime | None, ended: bool) -> bool:
    """The queue and handoff columns; True when the call joined a queue."""
    _, kind, target = flow.handoff or (None, None, None)
    if kind is None and flow.queue is not None:
        kind, target = "queue", flow.queue  # transferred into the queue without the flow
    cols["handoff_type"] = kind
    cols["handoff_target"] = target or None
    queued = kind == "queue" or flow.queue is not None
    if not queued:
        return False
    cols["queue_name"] = (target if kind == "queue" else None) or flow.queue
    cols["queue_id"] = flow.queue or cols["queue_name"]
    entered = _at(flow.queue_start_at) if flow.queue_start_at else _at_s(flow.joined_s)
    if entered is None and flow.queue_handoff_at:
        entered = _at(flow.queue_handoff_at)
    cols["queue_entered_at"] = entered
    agent_at = _at(flow.agent_at) if flow.agent_at else _at_s(flow.agent_s)
    answered = bool(flow.cc_answered) or agent_at is not None
    if answered:
        cols["queue_result"] = "answered"
        cols["agent_id"] = flow.agent
        cols["agent_name"] = flow.agent.split("@", 1)[0] if flow.agent else None
    elif flow.cc_cancel_reason == "TIMEOUT":
        cols["queue_result"] = "timeout"
    elif flow.cc_cancel_reason is not None or flow.queue_ended or ended:
        cols["queue_result"] = "caller_hangup"  # BREAK_OUT, or no agent and the call ended
    # waited: until the agent answered, else until the member left (or the call ended)
    if answered:
        if flow.agent_at and flow.queue_start_at:
            waited: float | None = (flow.agent_at - flow.queue_start_at) / 1e6
        elif flow.agent_s and flow.joined_s:
            waited = float(flow.agent_s - flow.joined_s)
        else:
            waited = _seconds(entered, agent_at)
    elif flow.left_s and flow.joined_s:
        waited = float(flow.left_s - flow.joined_s)
    else:
        waited = _seconds(entered, ended_at if ended else None)
    cols["queue_wait_seconds"] = None if waited is None else max(0.0, round(waited, 3))
    if answered:
        if flow.bridge_end_s and flow.agent_s:
            cols["talk_seconds"] = max(0, flow.bridge_end_s - flow.agent_s)
        elif ended:
            talked = _seconds(agent_at, ended_at)
            cols["talk_seconds"] = None if talked is None else max(0, round(talked))
    # abandonment: counted from the end of the prompt (the handoff), else from the join
    if flow.queue_handoff_at and flow.agent_at:
        gap: float | None = (flow.agent_at - flow.queue_handoff_at) / 1e6
    else:
        start = _at(flow.queue_handoff_at) if flow.queue_handoff_at else entered
        gap = _seconds(start, agent_at)
    if gap is not None:
        cols["abandoned"] = gap > ABANDON_SECONDS
    elif not answered and (ended or flow.queue_ended):
        cols["abandoned"] = True
    return True


def _outcome(cols: dict[str, Any], flow: Flow, queued: bool, bridged: bool) -> str:
    """The outcome of an answered call that ended (DESIGN §5), from the merged columns."""
    if flow.opt_out is not None:
        return "opted_out"
    if flow.voicemail is not None:
        return "voicemail_left" if flow.voicemail[1] == "left" else "amd_machine"
    if cols["amd_result"] == "machine":
        return "amd_machine"
    if queued:
        result = cols["queue_result"]
        if result == "answered":
            return "agent_answered"
        return "queue_timeout" if result == "timeout" else "queue_hangup"
    kind = cols["handoff_type"]
    if kind == "extension":
        return "transferred"
    if kind == "ai_agent":
        return "ai_completed" if bridged else "completed"
    if cols["ivr_result"] in ("timeout", "invalid"):
        return "ivr_timeout"
    if cols["ivr_result"] == "caller_hangup":
        return "ivr_hangup"
    return "completed"


# -- values -------------------------------------------------------------------------------


def _at(micros: int | None) -> datetime | None:
    if not micros or micros <= 0:
        return None
    return _EPOCH + timedelta(microseconds=micros)


def _usec(at: datetime) -> int:
    return (at - _EPOCH) // timedelta(microseconds=1)


def _at_s(seconds: int | None) -> datetime | None:
    if not seconds or seconds <= 0:
        return None
    return _EPOCH + timedelta(seconds=seconds)


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return (end - start).total_seconds()
