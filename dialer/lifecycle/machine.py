"""The lifecycle state machine of one call attempt (DESIGN §2, §5): pure, no I/O, no clock.

``apply(record, event)`` folds one FreeSWITCH event of the attempt's A leg (or its originate
BACKGROUND_JOB) into the attempt's record and says which ``campaign.*`` webhook events the
step emits. Events arrive late, twice and out of order (a reconnect replays nothing, two
listeners race, the job of a failed originate comes between the A leg's CHANNEL_HANGUP and
CHANNEL_HANGUP_COMPLETE: capture 03), so every field is merged, not overwritten:

- the state only moves forward (originating → ringing → answered → ended);
- timings come from the events' own timestamps (``Caller-Channel-Created-Time``,
  ``Caller-Channel-Answered-Time``, ``Caller-Channel-Hangup-Time``, ``variable_*_uepoch``,
  ``Event-Date-Timestamp``; all µs since the epoch), never from the consumer's clock; where
  several events carry one, the earliest wins;
- the end is taken from CHANNEL_HANGUP_COMPLETE over a BACKGROUND_JOB ``-ERR`` (the hangup
  event carries the switch's cause, billsec and the answer times), whichever came first;
- the outcome is derived from the merged fields, so it is the same in any order.

The call flow's events (CUSTOM ``dialer::*``, ``callcenter::info``) and the member's channel
variables are folded by :mod:`dialer.lifecycle.flow` into the AMD / IVR / queue / handoff
columns the same way, and an answered call's outcome is derived from them at its end.

Hence any permutation or duplication of a call's events gives the same final record, and each
webhook event is emitted once (``campaign.call_initiated`` at the first event from the switch,
``campaign.answered`` when an answer is first known, the flow's stages as they become known —
``campaign.amd_result``, ``campaign.ivr_completed``, ``campaign.queue_joined``,
``campaign.agent_answered``, in that order within a step — and ``campaign.completed`` at the
end, always last: a stage first known after the end is recorded, not emitted).

A record that is ``ended`` or ``cancelled`` without an end seen here (finalised by the worker,
the sweeper or a reconcile, then loaded from the database) is final: events change nothing.
A record the consumer itself ended (``end_source="stored"``, see :meth:`CallRecord.of`) still
takes late details (``member-queue-end`` comes after the hangup) but keeps its end and outcome:
its campaign recipient was moved on with that outcome.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from dialer.lifecycle import flow as flow_mod
from dialer.lifecycle.flow import EMPTY, FLOW_COLUMNS, STAGES, Flow
from dialer.lifecycle.values import clean_text as _text
from dialer.lifecycle.values import whole_number as _int
from dialer.outcomes import error_cause, outcome_for_answered, outcome_for_unanswered

CALL_INITIATED = "campaign.call_initiated"
ANSWERED = "campaign.answered"
COMPLETED = "campaign.completed"

_RANK = {"queued": 0, "originating": 1, "ringing": 2, "answered": 3, "ended": 4}
_FINAL = frozenset({"ended", "cancelled"})
#: Which evidence of the end wins: the hangup event over the originate job's -ERR, and an end
#: already stored by the consumer over both.
_END_RANK = {"job": 1, "hangup": 2, "stored": 3}
#: Who ends attempts from their events (``claimed_by``): the consumer of a node.
CONSUMER_PREFIX = "consumer:"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

PROGRESS_EVENTS = frozenset({"CHANNEL_PROGRESS", "CHANNEL_PROGRESS_MEDIA"})
ANSWER_EVENT = "CHANNEL_ANSWER"
HANGUP_EVENT = "CHANNEL_HANGUP_COMPLETE"
JOB_EVENT = "BACKGROUND_JOB"
_CHANNEL_EVENTS = PROGRESS_EVENTS | {ANSWER_EVENT, HANGUP_EVENT}


@dataclass(frozen=True)
class CallRecord:
    """The lifecycle fields of one attempt (the ``call_attempts`` columns of the same names),
    plus ``end_source``: which event ended it (``"hangup"``, ``"job"``), None when the
    record did not end here."""

    state: str = "originating"
    core_uuid: str | None = None
    started_at: datetime | None = None
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    ring_duration_sec: float | None = None
    billsec: int | None = None
    hangup_cause: str | None = None
    outcome: str | None = None
    end_source: str | None = None
    # the call flow's columns (dialer.lifecycle.flow.FLOW_COLUMNS)
    amd_enabled: bool = False
    amd_result: str | None = None
    amd_cause: str | None = None
    amd_duration_ms: int | None = None
    amd_method: str | None = None
    ivr_digit: str | None = None
    ivr_attempts: int | None = None
    ivr_result: str | None = None
    queue_name: str | None = None
    queue_id: str | None = None
    queue_entered_at: datetime | None = None
    queue_wait_seconds: float | None = None
    queue_result: str | None = None
    agent_id: str | None = None
    agent_name: str | None = None
    talk_seconds: int | None = None
    handoff_type: str | None = None
    handoff_target: str | None = None
    abandoned: bool | None = None
    recording_enabled: bool = False
    recording_url: str | None = None
    recording_duration_sec: int | None = None
    #: the ``ai`` document's agentId and endReason (merged into the column, never replacing it)
    ai_agent_id: str | None = None
    ai_end_reason: str | None = None
    #: what the flow's events said, merged (not a column: the columns are derived from it)
    flow: Flow = EMPTY

    @classmethod
    def of(cls, attempt: Any) -> CallRecord:
        """The record of a ``CallAttempt`` (or anything with the same attributes).

        An attempt the consumer ended itself (``claimed_by`` ``consumer:…``, no ``error``: not
        a reconcile) gets ``end_source="stored"``: late events still add their details."""
        state = attempt.state
        by = getattr(attempt, "claimed_by", None) or ""
        stored = (
            state == "ended"
            and by.startswith(CONSUMER_PREFIX)
            and getattr(attempt, "error", None) is None
        )
        flow_columns: dict[str, Any] = {name: getattr(attempt, name, None) for name in FLOW_COLUMNS}
        flow_columns["amd_enabled"] = bool(flow_columns["amd_enabled"])
        flow_columns["recording_enabled"] = bool(flow_columns["recording_enabled"])
        return cls(
            state=state,
            core_uuid=attempt.core_uuid,
            started_at=attempt.started_at,
            answered_at=attempt.answered_at,
            ended_at=attempt.ended_at,
            ring_duration_sec=attempt.ring_duration_sec,
            billsec=attempt.billsec,
            hangup_cause=attempt.hangup_cause,
            outcome=attempt.outcome,
            end_source="stored" if stored else None,
            **flow_columns,
        )

    @property
    def initiated(self) -> bool:
        """The switch has said something about this call."""
        return self.core_uuid is not None or self.state in ("ringing", "answered", "ended")

    @property
    def ended(self) -> bool:
        return self.state == "ended"

    @property
    def stages(self) -> frozenset[str]:
        """The flow's stage webhook events this record has reached (none before the answer)."""
        if self.answered_at is None:
            return frozenset()
        return flow_mod.derive(
            self.flow,
            answered_at=self.answered_at,
            ended_at=self.ended_at,
            ended=self.end_source is not None,
            hangup_cause=self.hangup_cause,
        ).stages


class _HasHeaders(Protocol):
    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def body(self) -> str: ...


CallEventLike = Mapping[str, Any] | _HasHeaders


def event_headers(event: CallEventLike) -> tuple[Mapping[str, Any], str]:
    """(headers, body) of an ``Event`` or of a mapping of headers with the body under
    ``_body`` (the JSON form, as ``call_events.payload`` stores it)."""
    if isinstance(event, Mapping):
        return event, str(event.get("_body") or "")
    return event.headers, event.body


def apply(record: CallRecord, event: CallEventLike) -> tuple[CallRecord, list[str]]:
    """Fold one event into the record; returns the new record and the webhook events."""
    if record.state in _FINAL and record.end_source is None:
        return record, []
    headers, body = event_headers(event)
    name = str(headers.get("Event-Name", ""))
    evidence = _evidence(name, headers, body)
    found = flow_mod.read(name, headers)
    if evidence is None and found is None:
        return record, []
    merged = record if evidence is None else _merge(record, evidence)
    if found is not None:
        merged = replace(merged, flow=merged.flow.merge(found))
    new = _normalise(merged)
    return new, _emitted(record, new)


def apply_all(
    record: CallRecord, events: Iterable[CallEventLike]
) -> tuple[CallRecord, list[str]]:
    """``apply`` over ``events`` in order; every webhook event emitted, in order."""
    emitted: list[str] = []
    for event in events:
        record, step = apply(record, event)
        emitted.extend(step)
    return record, emitted


# -- what one event says ------------------------------------------------------------------


@dataclass(frozen=True)
class _Evidence:
    core_uuid: str | None = None
    state: str | None = None  # the state this event proves was reached (None: none)
    started_at: datetime | None = None
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    end_source: str | None = None
    hangup_cause: str | None = None
    billsec: int | None = None


def _evidence(name: str, headers: Mapping[str, Any], body: str) -> _Evidence | None:
    core = _text(headers.get("Core-UUID"))
    if name == JOB_EVENT:
        if _text(headers.get("Job-Command")) not in (None, "originate"):
            return None
        result = body.strip()
        if result.startswith(("-ERR", "-USAGE")):
            return _Evidence(
                core_uuid=core,
                state="ended",
                ended_at=_usec(headers.get("Event-Date-Timestamp")),
                end_source="job",
                hangup_cause=error_cause(result) if result.startswith("-ERR") else "UNKNOWN",
            )
        return _Evidence(core_uuid=core)  # +OK <uuid>: the call is up on the switch
    if name in _CHANNEL_EVENTS:
        started = _first_usec(headers, "Caller-Channel-Created-Time", "variable_start_uepoch")
        answered = _answered_at(headers, started)
        if name == HANGUP_EVENT:
            ended = _first_usec(
                headers, "Caller-Channel-Hangup-Time", "variable_end_uepoch",
                "Event-Date-Timestamp",
            )
            cause = _text(headers.get("Hangup-Cause")) or _text(
                headers.get("variable_hangup_cause")
            )
            return _Evidence(
                core_uuid=core,
                state="ended",
                started_at=started,
                answered_at=answered,
                ended_at=ended,
                end_source="hangup",
                hangup_cause=cause or "UNKNOWN",
                billsec=_int(headers.get("variable_billsec")),
            )
        if name == ANSWER_EVENT:
            answered = answered or _usec(headers.get("Event-Date-Timestamp"))
            state = "answered"
        else:
            state = "answered" if answered is not None else "ringing"
        return _Evidence(core_uuid=core, state=state, started_at=started, answered_at=answered)
    return None  # CUSTOM stage events: the flow's (dialer.lifecycle.flow), not the channel's


def _answered_at(headers: Mapping[str, Any], started: datetime | None) -> datetime | None:
    """When the call was answered, from the most precise header there is: the answer
    instant (µs), the time from start to answer (µs, ms), the answer epoch (s), the whole
    seconds from start to answer. All are 0 on a call that was never answered (03)."""
    found = _first_usec(headers, "Caller-Channel-Answered-Time", "variable_answer_uepoch")
    if found is not None:
        return found
    if started is not None:
        for name, unit in (("variable_answerusec", 1), ("variable_answermsec", 1000)):
            after = _int(headers.get(name))
            if after:
                return started + timedelta(microseconds=after * unit)
    seconds = _int(headers.get("variable_answer_epoch"))
    if seconds:
        return _EPOCH + timedelta(seconds=seconds)
    after_s = _int(headers.get("variable_answersec"))
    if started is not None and after_s:
        return started + timedelta(seconds=after_s)
    return None


# -- merging ------------------------------------------------------------------------------


def _merge(record: CallRecord, ev: _Evidence) -> CallRecord:
    state = record.state
    if ev.state is not None and _RANK.get(ev.state, 0) > _RANK.get(state, 0):
        state = ev.state
    changes: dict[str, Any] = {
        "state": state,
        "core_uuid": _least(record.core_uuid, ev.core_uuid),
        "started_at": _least(record.started_at, ev.started_at),
        "answered_at": _least(record.answered_at, ev.answered_at),
        "billsec": _most(record.billsec, ev.billsec),
    }
    if ev.end_source is not None:
        mine = (_END_RANK.get(record.end_source or "", 0), _neg(record.ended_at),
                _neg_text(record.hangup_cause))
        theirs = (_END_RANK[ev.end_source], _neg(ev.ended_at), _neg_text(ev.hangup_cause))
        if record.end_source is None or theirs > mine:
            changes.update(
                end_source=ev.end_source, ended_at=ev.ended_at, hangup_cause=ev.hangup_cause
            )
    return replace(record, **changes)


def _normalise(record: CallRecord) -> CallRecord:
    """The derived fields, from the merged ones."""
    changes: dict[str, Any] = {}
    if record.answered_at is not None and _RANK.get(record.state, 0) < _RANK["answered"]:
        changes["state"] = "answered"
    answered_at = changes.get("answered_at", record.answered_at)
    derived = flow_mod.derive(
        record.flow,
        answered_at=answered_at,
        ended_at=record.ended_at,
        ended=record.end_source is not None,
        hangup_cause=record.hangup_cause,
    )
    if record.end_source is not None:
        changes["state"] = "ended"
        if record.end_source == "stored":
            pass  # its outcome moved its recipient on already: kept
        elif record.answered_at is not None:
            changes["outcome"] = derived.outcome or outcome_for_answered()
        else:
            changes["outcome"] = outcome_for_unanswered(record.hangup_cause or "UNKNOWN")
    until = record.answered_at or (record.ended_at if record.end_source else None)
    if record.started_at is not None and until is not None:
        changes["ring_duration_sec"] = max(0.0, (until - record.started_at).total_seconds())
    # a column the evidence does not (yet) speak to keeps what it has (e.g. loaded from the row)
    for name, value in (*derived.columns.items(), *derived.ai.items()):
        if value is not None and value != getattr(record, name):
            changes[name] = value
    return replace(record, **changes) if changes else record


def _emitted(before: CallRecord, after: CallRecord) -> list[str]:
    out: list[str] = []
    if not before.initiated and after.initiated:
        out.append(CALL_INITIATED)
    if before.answered_at is None and after.answered_at is not None and not before.ended:
        out.append(ANSWERED)
    if not before.ended:
        # stages come from the flow's evidence, and none is reached before the answer
        if after.flow is not before.flow or after.ended or after.answered_at != before.answered_at:
            reached = after.stages - before.stages
            out.extend(stage for stage in STAGES if stage in reached)
        if after.ended:
            out.append(COMPLETED)
    return out


# -- values -------------------------------------------------------------------------------


def _usec(value: Any) -> datetime | None:
    """µs since the epoch → aware UTC datetime, exactly; 0 and junk → None."""
    micros = _int(value)
    if not micros or micros <= 0:
        return None
    return _EPOCH + timedelta(microseconds=micros)


def _first_usec(headers: Mapping[str, Any], *names: str) -> datetime | None:
    for name in names:
        found = _usec(headers.get(name))
        if found is not None:
            return found
    return None


def _least(mine: Any, theirs: Any) -> Any:
    if mine is None:
        return theirs
    if theirs is None:
        return mine
    return min(mine, theirs)


def _most(mine: Any, theirs: Any) -> Any:
    if mine is None:
        return theirs
    if theirs is None:
        return mine
    return max(mine, theirs)


def _neg(at: datetime | None) -> float:
    """Orders ends: the earlier instant ranks higher (a tie between equal-rank ends)."""
    return float("-inf") if at is None else -at.timestamp()


def _neg_text(text: str | None) -> tuple[int, ...]:
    return tuple(-ord(c) for c in (text or ""))
