"""Moving a call attempt through its states, and ending it (the engine contract).

Two functions, both run in the caller's transaction (they never commit):

- :func:`mark_attempt` moves a live attempt *forward* with a compare-and-set:
  queued → originating → ringing → answered, never backwards and never out of ``ended`` or
  ``cancelled``. A late CHANNEL_PROGRESS after CHANNEL_ANSWER changes nothing.
- :func:`finalise_attempt` ends it. Only the caller whose ``UPDATE … WHERE state IN (live)``
  matched the row continues ("the winner"): it releases the attempt's lease and applies the
  campaign's retry rule to the recipient. The worker (on ``-ERR``), the consumer (hangup) and
  the sweeper all end attempts through it, so whoever comes second changes nothing.

Metrics of ended attempts are counted after the transaction commits (a rolled-back batch
that is retried is not counted twice).
"""

from __future__ import annotations

import copy
import logging
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import event, select, update
from sqlalchemy.orm import Session

from dialer.campaigns.model import CampaignConfig, CampaignConfigError, parse_config
from dialer.campaigns.schedule import CallingHours
from dialer.clock import Clock, get_clock
from dialer.config import get_settings
from dialer.db.models import (
    FINAL_RECIPIENT_STATUSES,
    CallAttempt,
    Campaign,
    CampaignRecipient,
    Recipient,
)
from dialer.leases.backend import LeaseBackend

log = logging.getLogger(__name__)

#: The order a live attempt moves in; ``mark_attempt`` only ever moves right.
FORWARD_STATES = ("queued", "originating", "ringing", "answered")
#: States an attempt can still be ended from.
ENDABLE_STATES = FORWARD_STATES


def _as_uuid(attempt_id: uuid.UUID | str) -> uuid.UUID:
    return attempt_id if isinstance(attempt_id, uuid.UUID) else uuid.UUID(str(attempt_id))


# -- moving forward -------------------------------------------------------------------------


def mark_attempt(
    session: Session,
    attempt_id: uuid.UUID | str,
    state: str,
    *,
    by: str,
    at: datetime,
    **columns: Any,
) -> bool:
    """Move the attempt to ``state`` if it is in an earlier live state; True if it moved.

    ``columns`` (CallAttempt attribute names: ``answered_at``, ``core_uuid``, ``fs_node``…)
    are written in the same UPDATE, only when it moves. ``at`` is ``state_changed_at``,
    ``by`` goes to ``claimed_by``.
    """
    if state not in FORWARD_STATES:
        raise ValueError(
            f"mark_attempt moves to one of {', '.join(FORWARD_STATES)}; "
            f"use finalise_attempt to end an attempt (got {state!r})"
        )
    earlier = FORWARD_STATES[: FORWARD_STATES.index(state)]
    if not earlier:
        return False
    unknown = [name for name in columns if not hasattr(CallAttempt, name)]
    if unknown:
        raise TypeError(f"unknown call_attempts column(s): {', '.join(sorted(unknown))}")
    stmt = (
        update(CallAttempt)
        .where(CallAttempt.id == _as_uuid(attempt_id), CallAttempt.state.in_(earlier))
        .values(state=state, state_changed_at=at, claimed_by=by, **columns)
        .execution_options(synchronize_session="evaluate")
    )
    return _rowcount(session.execute(stmt)) == 1


# -- ending ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CampaignRules:
    """What the finaliser needs of a campaign: its parsed config and calling hours."""

    config: CampaignConfig | None  # None: the stored config does not parse (no retries)
    hours: CallingHours | None


_rules_lock = threading.Lock()
#: campaign id → (the stored config it was parsed from, the rules)
_rules_cache: dict[int, tuple[dict[str, Any], CampaignRules]] = {}
_RULES_CACHE_LIMIT = 10_000


def campaign_rules(campaign_id: int, config: dict[str, Any]) -> CampaignRules:
    """The campaign's parsed config and calling hours, cached per campaign (configs never
    change while a campaign runs; an edited draft's new config is parsed again)."""
    found = _rules_cache.get(campaign_id)
    if found is not None and found[0] == config:
        return found[1]
    try:
        parsed: CampaignConfig | None = parse_config(config)
    except CampaignConfigError as exc:
        log.warning("campaign %s: stored config does not parse (%s); no retries", campaign_id, exc)
        parsed = None
    # the operator's stricter rules (DIALER_CALLING_RULES) bind retries as they bind admission
    strict = get_settings().calling_rules
    rules = CampaignRules(parsed, CallingHours(parsed.schedule, strict) if parsed else None)
    with _rules_lock:
        if len(_rules_cache) >= _RULES_CACHE_LIMIT:
            _rules_cache.clear()
        _rules_cache[campaign_id] = (copy.deepcopy(config), rules)
    return rules


def clear_campaign_rules_cache() -> None:
    with _rules_lock:
        _rules_cache.clear()


def finalise_attempt(
    session: Session,
    attempt_id: uuid.UUID | str,
    *,
    outcome: str,
    hangup_cause: str | None,
    ended_at: datetime,
    by: str,
    answered_at: datetime | None = None,
    billsec: int | None = None,
    error: str | None = None,
    leases: LeaseBackend | None,
    clock: Clock | None = None,
) -> bool:
    """End the attempt (state ``ended`` with ``outcome``) if it is still live; True if this
    call won. The winner releases the lease (id = attempt id) and moves the recipient on:
    retried (``pending`` at the next open instant after the rule's delay), ``skipped``
    (``no_window``: no open instant left), ``cancelled`` (a retry of a cancelled campaign) or
    ``done``. ``answered_at``/``billsec`` are written only when given (never cleared).
    """
    clock = clock or get_clock()
    now = clock.now()
    aid = _as_uuid(attempt_id)
    values: dict[str, Any] = {
        "state": "ended",
        "outcome": outcome,
        "hangup_cause": hangup_cause,
        "ended_at": ended_at,
        "state_changed_at": now,
        "claimed_by": by,
    }
    if answered_at is not None:
        values["answered_at"] = answered_at
    if billsec is not None:
        values["billsec"] = billsec
    if error is not None:
        values["error"] = error
    stmt = (
        update(CallAttempt)
        .where(CallAttempt.id == aid, CallAttempt.state.in_(ENDABLE_STATES))
        .values(**values)
        .returning(CallAttempt.campaign_id, CallAttempt.campaign_recipient_id)
        .execution_options(synchronize_session="evaluate")
    )
    won = session.execute(stmt).first()  # RETURNING: a row only for the winner
    if won is None:
        return False

    if leases is not None:
        leases.release(str(aid))

    campaign_id, recipient_row_id = won
    _count_after_commit(session, "single" if campaign_id is None else str(campaign_id),
                        outcome, hangup_cause)
    if recipient_row_id is None or campaign_id is None:
        return True  # a single call: it just ends

    found = session.execute(
        select(
            CampaignRecipient.status,
            CampaignRecipient.attempts,
            Recipient.timezones,
            Recipient.phone_e164,
            Campaign.status,
            Campaign.config,
        )
        .join(Recipient, Recipient.id == CampaignRecipient.recipient_id)
        .join(Campaign, Campaign.id == CampaignRecipient.campaign_id)
        .where(CampaignRecipient.id == recipient_row_id)
        .with_for_update(of=CampaignRecipient)
    ).one()
    status, attempts, zones, phone, campaign_status, config = found
    if status in FINAL_RECIPIENT_STATUSES:
        return True  # already settled (e.g. cancelled with its campaign)
    rules = campaign_rules(campaign_id, config)
    changes = _next_for_recipient(
        rules, outcome, attempts, zones, phone, campaign_status == "cancelled", ended_at
    )
    session.execute(
        update(CampaignRecipient)
        .where(CampaignRecipient.id == recipient_row_id)
        .values(updated_at=now, blocked_reason=None, **changes)
        .execution_options(synchronize_session="evaluate")
    )
    return True


def _next_for_recipient(
    rules: CampaignRules,
    outcome: str,
    attempts: int,
    zones: list[str],
    phone: str,
    cancelled: bool,
    ended_at: datetime,
) -> dict[str, Any]:
    """The recipient's status, final_outcome and next_attempt_at after this outcome."""
    rule = None
    if rules.config is not None and outcome != "invalid_number":
        rule = rules.config.retries.get(outcome)
    if rule is None or attempts >= rule.max_attempts:
        return {"status": "done", "final_outcome": outcome, "next_attempt_at": None}
    if cancelled:
        return {"status": "cancelled", "final_outcome": outcome, "next_attempt_at": None}
    assert rules.hours is not None
    earliest = ended_at + timedelta(seconds=rule.delay_after(attempts))
    when = rules.hours.next_open(zones, earliest, phone)
    if when is None:
        return {"status": "skipped", "final_outcome": "no_window", "next_attempt_at": None}
    return {"status": "pending", "final_outcome": None, "next_attempt_at": when}


def _rowcount(result: Any) -> int:
    return int(result.rowcount)


# -- metrics, counted once the transaction commits ------------------------------------------

_PENDING_KEY = "dialer.attempts.pending_metrics"


def _count_after_commit(
    session: Session, campaign: str, outcome: str, hangup_cause: str | None
) -> None:
    pending: list[tuple[str, str, str | None]] | None = session.info.get(_PENDING_KEY)
    if pending is None:
        pending = session.info[_PENDING_KEY] = []
        event.listen(session, "after_commit", _flush_metrics)
        event.listen(session, "after_rollback", _drop_metrics)
    pending.append((campaign, outcome, hangup_cause))


def _flush_metrics(session: Session) -> None:
    from dialer import metrics

    pending = session.info.get(_PENDING_KEY) or []
    for campaign, outcome, cause in pending:
        metrics.CALL_ATTEMPTS.labels(campaign=campaign, outcome=outcome).inc()
        metrics.HANGUPS.labels(cause=(cause or "UNKNOWN")).inc()
    pending.clear()


def _drop_metrics(session: Session) -> None:
    pending = session.info.get(_PENDING_KEY)
    if pending:
        pending.clear()
