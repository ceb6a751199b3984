"""The tools the dialer carries out itself (:mod:`dialer.ai.catalog`), each on the live call:
over the Event Socket of the node that runs it, or in the database.

``transfer_to_human`` follows the flow's re-entry contract: the queue's target and
``dialer_entry=queue`` are set on the channel, then ``uuid_transfer`` sends it back into
``dialer_flow``, which goes straight to the queue handoff.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from sqlalchemy import Engine

from dialer.ai import catalog
from dialer.ai.context import CallContext
from dialer.ai.outcome import Outcome, ToolRefused, failed
from dialer.ai.switch import NodeCommandError, SwitchCommands
from dialer.campaigns.callflow import Queue
from dialer.campaigns.schedule import CallingRule
from dialer.clock import Clock
from dialer.db.models import FINAL_RECIPIENT_STATUSES, CallAttempt, CampaignRecipient, DncNumber
from dialer.dnc import insert_dnc_rows
from dialer.flow import contract
from dialer.scheduler.admission import calling_hours

log = logging.getLogger(__name__)

_A = cast(sa.Table, CallAttempt.__table__)
_CR = cast(sa.Table, CampaignRecipient.__table__)
_DNC = cast(sa.Table, DncNumber.__table__)

#: sched_hangup delay: the agent says goodbye first
END_DELAY_SECONDS = 2
NO_SUCH_CHANNEL = "-ERR No such channel"


@dataclass(frozen=True)
class Env:
    """What the owned tools act through."""

    engine: Engine
    switch: SwitchCommands
    clock: Clock
    calling_rules: Sequence[CallingRule] = ()


OwnedTool = Callable[[CallContext, Mapping[str, Any], Env], Outcome]


def _api(env: Env, call: CallContext, command: str) -> str:
    """One command on the call's node; a gone channel is a 409, any other -ERR a failure."""
    if call.fs_node is None:
        raise ToolRefused(409, f"call {call.attempt_id} is not on a switch yet")
    reply = env.switch.api(call.fs_node, command).strip()
    if reply.startswith(NO_SUCH_CHANNEL):
        raise ToolRefused(409, f"call {call.attempt_id} has ended")
    if reply.startswith("-"):
        raise NodeCommandError(f"{command.split()[0]}: {reply[:200]}")
    return reply


def transfer_queue(call: CallContext) -> tuple[str, Queue] | None:
    """The queue a transfer goes to: the agent's ``transfer_queue``, else the campaign's
    handoff queue, else the one queue its IVR offers."""
    config = call.config
    if config is None:
        return None
    agent = call.agent
    chosen = agent.transfer_queue if agent is not None else None
    if chosen is None and config.handoff is not None:
        chosen = config.handoff.queue
    if chosen is None and config.ivr is not None:
        offered = {getattr(a, "queue", None) for a in config.ivr.actions.values()} - {None}
        if len(offered) == 1:
            chosen = offered.pop()
    if chosen is None and len(config.queues) == 1:
        chosen = next(iter(config.queues))
    if chosen is None or chosen not in config.queues:
        return None
    return chosen, config.queues[chosen]


def transfer_to_human(call: CallContext, args: Mapping[str, Any], env: Env) -> Outcome:
    found = transfer_queue(call)
    if found is None:
        log.warning("transfer_to_human: no queue call=%s campaign=%s",
                    call.attempt_id, call.campaign_id)
        return failed("Sorry, I can't transfer you to a person right now.", error="no queue")
    queue_id, queue = found
    uuid = call.attempt_id
    try:
        _api(env, call, f"uuid_setvar {uuid} {contract.QUEUE_MAX_WAIT} {queue.max_wait}")
        _api(env, call, f"uuid_setvar {uuid} {contract.HANDOFF_TARGET} {queue.target}")
        _api(env, call, f"uuid_setvar {uuid} {contract.ENTRY} {contract.ENTRY_QUEUE}")
        _api(env, call, f"uuid_transfer {uuid} {contract.APPLICATION}")
    except NodeCommandError as exc:
        return failed("Sorry, I can't transfer you to a person right now.", error=str(exc))
    return Outcome(
        "transferred",
        "Transferring you to an agent now.",
        keys={"transferredTo": queue_id},
        detail={"queue": queue_id, "target": queue.target},
    )


def end_call(call: CallContext, args: Mapping[str, Any], env: Env) -> Outcome:
    uuid = call.attempt_id
    try:
        _api(env, call, f"sched_hangup +{END_DELAY_SECONDS} {uuid} NORMAL_CLEARING")
    except NodeCommandError as exc:
        return failed(error=str(exc))
    keys: dict[str, Any] = {"endReason": args.get("reason") or "agent_ended"}
    if args.get("summary"):
        keys["summary"] = args["summary"]
    return Outcome("ending", "Goodbye.", keys=keys)


def _callback_time(args: Mapping[str, Any], now: datetime) -> datetime:
    zone: ZoneInfo | None = None
    if args.get("timezone"):
        try:
            zone = ZoneInfo(str(args["timezone"]))
        except (ZoneInfoNotFoundError, ValueError):
            raise ToolRefused(422, f"unknown timezone {args['timezone']!r}") from None
    if "in_minutes" in args:
        return now + timedelta(minutes=int(args["in_minutes"]))
    text = str(args["at"])
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise ToolRefused(
            422, f"at: {text!r} is not an ISO 8601 time like 2026-12-02T15:00:00-05:00"
        ) from None
    if at.tzinfo is None:
        if zone is None:
            raise ToolRefused(
                422, "at: give a UTC offset (2026-12-02T15:00:00-05:00) or a timezone"
            )
        at = at.replace(tzinfo=zone)
    return at


def schedule_callback(call: CallContext, args: Mapping[str, Any], env: Env) -> Outcome:
    now = env.clock.now()
    at = _callback_time(args, now)
    if at <= now:
        raise ToolRefused(422, f"at: {at.isoformat()} is in the past")
    if at > now + timedelta(days=catalog.MAX_CALLBACK_DAYS):
        raise ToolRefused(
            422, f"at: more than {catalog.MAX_CALLBACK_DAYS} days ahead ({at.isoformat()})"
        )
    config = call.config
    if config is None or call.campaign_id is None or call.campaign_recipient_id is None:
        return failed("Sorry, I can't schedule a call back on this call.", error="no campaign")
    if call.campaign_status in ("completed", "cancelled"):
        return failed("Sorry, this campaign has ended, so I can't schedule a call back.",
                      error=f"campaign {call.campaign_status}")
    hours = calling_hours(call.campaign_id, config.schedule, env.calling_rules)
    when = hours.next_open(call.timezones, at, call.to_number)
    if when is None:
        return failed("Sorry, we can't call you back within our calling hours.",
                      error="no calling window")
    with env.engine.begin() as conn:
        listed = conn.execute(
            sa.select(_DNC.c.phone_e164).where(_DNC.c.phone_e164 == call.to_number)
        ).first()
        if listed is not None:
            return failed("Sorry, your number is on our do-not-call list.", error="dnc")
        moved = conn.execute(
            sa.update(_CR)
            .where(
                _CR.c.id == call.campaign_recipient_id,
                _CR.c.status.not_in(FINAL_RECIPIENT_STATUSES),
            )
            # the recipient stays as it is while the call lasts: when it ends, the call back
            # wins over the retry rules (dialer.attempts._move_recipients)
            .values(next_attempt_at=when, updated_at=now)
        ).rowcount
    if not moved:
        return failed("Sorry, I can't schedule a call back for this number.",
                      error="recipient is final")
    local = when.astimezone(_zone(call.timezones, args))
    spoken = local.strftime("%A, %B %-d at %-I:%M %p")
    return Outcome(
        "scheduled",
        f"I've scheduled a call back for {spoken}.",
        keys={"callback": {"at": when.isoformat(), "requested": at.isoformat()}},
        detail={"at": when.isoformat()},
    )


def _zone(zones: Sequence[str], args: Mapping[str, Any]) -> ZoneInfo:
    for name in (args.get("timezone"), *zones):
        if name:
            try:
                return ZoneInfo(str(name))
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def opt_out(call: CallContext, args: Mapping[str, Any], env: Env) -> Outcome:
    where = f"campaign {call.campaign_id}" if call.campaign_id is not None else "a single call"
    reason = f"asked the AI agent in {where} (call {call.attempt_id})"
    if args.get("reason"):
        reason += f": {str(args['reason'])[:200]}"
    now = env.clock.now()
    with env.engine.begin() as conn:
        insert_dnc_rows(
            conn, [{"phone_e164": call.to_number, "source": "opt_out", "reason": reason}]
        )
        if call.campaign_recipient_id is not None:
            conn.execute(
                sa.update(_CR)
                .where(
                    _CR.c.id == call.campaign_recipient_id,
                    _CR.c.status.not_in(FINAL_RECIPIENT_STATUSES),
                )
                .values(
                    status="done",
                    final_outcome="opted_out",
                    next_attempt_at=None,
                    blocked_reason=None,
                    updated_at=now,
                )
            )
    return Outcome(
        "opted_out",
        "Understood. I've removed your number from our list, and you won't get more calls "
        "from us.",
        keys={"optedOut": True},
    )


def update_lead_status(call: CallContext, args: Mapping[str, Any], env: Env) -> Outcome:
    status = str(args.get("status") or args.get("lead_status"))
    with env.engine.begin() as conn:
        conn.execute(sa.update(_A).where(_A.c.id == call.attempt_id).values(disposition=status))
    keys: dict[str, Any] = {"leadStatus": status}
    if args.get("notes"):
        keys["leadNotes"] = args["notes"]
    return Outcome("updated", "Thanks, I've noted that.", keys=keys)


OWNED: dict[str, OwnedTool] = {
    catalog.TRANSFER_TO_HUMAN: transfer_to_human,
    catalog.END_CALL: end_call,
    catalog.SCHEDULE_CALLBACK: schedule_callback,
    catalog.OPT_OUT: opt_out,
    catalog.UPDATE_LEAD_STATUS: update_lead_status,
}
