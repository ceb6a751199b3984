"""Where a campaign stands: counts of recipients and attempts, live calls, recent pace; waiting.

Two ``GROUP BY`` queries, each on the campaign's rows only (by the indexes
``campaign_recipients (campaign_id, status, …)`` and ``call_attempts (campaign_id, state)``).
``blocked`` counts ``blocked_reason`` over all the campaign's recipients: this is where a
number that is never called for a reason of its own (``unknown_zone``) or held right now
(``outside_window``) is counted and visible.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from dialer.campaigns.service import CampaignNotFoundError
from dialer.clock import Clock, get_clock
from dialer.db.models import (
    ATTEMPT_STATES,
    FINAL_RECIPIENT_STATUSES,
    LIVE_ATTEMPT_STATES,
    RECIPIENT_STATUSES,
    CallAttempt,
    Campaign,
    CampaignRecipient,
)

#: Campaign statuses a campaign never leaves.
FINISHED_STATUSES = ("completed", "cancelled")

_campaigns = Campaign.__table__
_crs = CampaignRecipient.__table__
_attempts = CallAttempt.__table__


@dataclass(frozen=True)
class CampaignStatus:
    campaign_id: int
    name: str
    #: The campaign's status (draft, scheduled, running, paused, completed, cancelled).
    status: str
    #: The clock's time when the counts were taken.
    as_of: datetime
    started_at: datetime | None
    finished_at: datetime | None
    #: Recipients in the campaign (one per distinct number).
    total: int
    #: Recipients by status; every status is present, 0 when none.
    recipients: dict[str, int]
    #: Final recipients (done, skipped) by ``final_outcome``: outcomes, ``dnc``, ``no_window``…
    final_outcomes: dict[str, int]
    #: Recipients by ``blocked_reason`` (``unknown_zone``, ``outside_window``, …).
    blocked: dict[str, int]
    #: Attempts by state; every state is present, 0 when none.
    attempts: dict[str, int]
    #: Ended attempts by outcome.
    attempt_outcomes: dict[str, int]
    #: Attempts on a switch now (originating, ringing, answered).
    active_calls: int
    #: Attempts whose originate was sent in the last 60 s of the clock, divided by 60.
    calls_per_second_last_minute: float
    #: Final recipients / all recipients; 0 before a start, 1 for a finished empty campaign.
    progress: float
    #: Answered attempts by AMD result (human, machine, unknown_assumed_human).
    amd_results: dict[str, int] = field(default_factory=dict)
    #: Attempts by how AMD decided: ``amd`` (mod_amd) or ``avmd`` (the avmd-only fallback of a
    #: node without mod_amd) — the campaign says which it got.
    amd_methods: dict[str, int] = field(default_factory=dict)
    #: Humans handed to a queue: ``abandoned`` (no agent within 2 s of the prompt's end, the
    #: compliance count) and ``connected``.
    queue_handoffs: dict[str, int] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_STATUSES

    def as_json(self) -> dict[str, Any]:
        """Plain JSON types, snake_case keys (the CLI's ``--json``)."""
        return {
            "campaign_id": self.campaign_id,
            "name": self.name,
            "status": self.status,
            "as_of": self.as_of.isoformat(),
            "started_at": None if self.started_at is None else self.started_at.isoformat(),
            "finished_at": None if self.finished_at is None else self.finished_at.isoformat(),
            "total": self.total,
            "recipients": dict(self.recipients),
            "final_outcomes": dict(self.final_outcomes),
            "blocked": dict(self.blocked),
            "attempts": dict(self.attempts),
            "attempt_outcomes": dict(self.attempt_outcomes),
            "active_calls": self.active_calls,
            "calls_per_second_last_minute": self.calls_per_second_last_minute,
            "progress": self.progress,
            "amd_results": dict(self.amd_results),
            "amd_methods": dict(self.amd_methods),
            "queue_handoffs": dict(self.queue_handoffs),
        }


def campaign_status(
    engine: Engine, campaign_id: int, *, clock: Clock | None = None
) -> CampaignStatus:
    """The campaign's counts now (one read-only transaction, so they agree with each other)."""
    now = (clock or get_clock()).now()
    since = now - timedelta(seconds=60)
    with Session(engine) as s, s.begin():
        campaign = s.execute(
            sa.select(
                _campaigns.c.name,
                _campaigns.c.status,
                _campaigns.c.started_at,
                _campaigns.c.finished_at,
            ).where(_campaigns.c.id == campaign_id)
        ).one_or_none()
        if campaign is None:
            raise CampaignNotFoundError(f"no campaign {campaign_id}")
        recipient_rows = s.execute(
            sa.select(_crs.c.status, _crs.c.final_outcome, _crs.c.blocked_reason, sa.func.count())
            .where(_crs.c.campaign_id == campaign_id)
            .group_by(_crs.c.status, _crs.c.final_outcome, _crs.c.blocked_reason)
        ).all()
        sent_recently = sa.func.sum(sa.case((_attempts.c.originate_sent_at >= since, 1), else_=0))
        attempt_rows = s.execute(
            sa.select(_attempts.c.state, _attempts.c.outcome, sa.func.count(), sent_recently)
            .where(_attempts.c.campaign_id == campaign_id)
            .group_by(_attempts.c.state, _attempts.c.outcome)
        ).all()
        flow_rows = s.execute(
            sa.select(
                _attempts.c.amd_result,
                _attempts.c.amd_method,
                _attempts.c.abandoned,
                sa.func.count(),
            )
            .where(
                _attempts.c.campaign_id == campaign_id,
                sa.or_(_attempts.c.amd_result.is_not(None), _attempts.c.abandoned.is_not(None)),
            )
            .group_by(_attempts.c.amd_result, _attempts.c.amd_method, _attempts.c.abandoned)
        ).all()

    recipients = dict.fromkeys(RECIPIENT_STATUSES, 0)
    final_outcomes: dict[str, int] = {}
    blocked: dict[str, int] = {}
    for status, final_outcome, blocked_reason, count in recipient_rows:
        recipients[status] = recipients.get(status, 0) + count
        if status in FINAL_RECIPIENT_STATUSES and final_outcome is not None:
            final_outcomes[final_outcome] = final_outcomes.get(final_outcome, 0) + count
        if blocked_reason is not None:
            blocked[blocked_reason] = blocked.get(blocked_reason, 0) + count
    attempts = dict.fromkeys(ATTEMPT_STATES, 0)
    attempt_outcomes: dict[str, int] = {}
    recent = 0
    for state, outcome, count, sent in attempt_rows:
        attempts[state] = attempts.get(state, 0) + count
        if outcome is not None:
            attempt_outcomes[outcome] = attempt_outcomes.get(outcome, 0) + count
        recent += int(sent or 0)

    amd_results: dict[str, int] = {}
    amd_methods: dict[str, int] = {}
    handoffs: dict[str, int] = {}
    for amd_result, amd_method, abandoned, count in flow_rows:
        if amd_result is not None:
            amd_results[amd_result] = amd_results.get(amd_result, 0) + count
            method = amd_method or "amd"
            amd_methods[method] = amd_methods.get(method, 0) + count
        if abandoned is not None:
            key = "abandoned" if abandoned else "connected"
            handoffs[key] = handoffs.get(key, 0) + count

    total = sum(recipients.values())
    final = sum(recipients[s] for s in FINAL_RECIPIENT_STATUSES)
    finished = campaign.status in FINISHED_STATUSES
    progress = final / total if total else (1.0 if finished else 0.0)
    return CampaignStatus(
        campaign_id=campaign_id,
        name=campaign.name,
        status=campaign.status,
        as_of=now,
        started_at=campaign.started_at,
        finished_at=campaign.finished_at,
        total=total,
        recipients=recipients,
        final_outcomes=_by_count(final_outcomes),
        blocked=_by_count(blocked),
        attempts=attempts,
        attempt_outcomes=_by_count(attempt_outcomes),
        active_calls=sum(attempts[state] for state in LIVE_ATTEMPT_STATES),
        calls_per_second_last_minute=recent / 60,
        progress=progress,
        amd_results=_by_count(amd_results),
        amd_methods=_by_count(amd_methods),
        queue_handoffs=_by_count(handoffs),
    )


def wait_for_campaign(
    engine: Engine,
    campaign_id: int,
    *,
    timeout: float | None,
    clock: Clock | None = None,
    poll: float = 0.5,
) -> CampaignStatus | None:
    """Poll until the campaign is ``completed`` or ``cancelled``; its status then, or ``None``
    when ``timeout`` wall seconds pass first (``None``: wait for ever).

    ``timeout`` and ``poll`` are wall-clock seconds, slept with :func:`time.sleep`, whatever
    ``clock`` is: a frozen test clock would otherwise jump forward at each poll (its ``sleep``
    advances it) and a scaled clock would poll thousands of times a second. ``clock`` only
    timestamps the statuses read. A missing campaign raises :class:`CampaignNotFoundError`.
    """
    deadline = None if timeout is None else time.monotonic() + max(0.0, timeout)
    while True:
        status = campaign_status(engine, campaign_id, clock=clock)
        if status.finished:
            return status
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            time.sleep(min(poll, left))
        else:
            time.sleep(poll)


def _by_count(counts: dict[str, int]) -> dict[str, int]:
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))
