"""Admission: turn a campaign's due recipients into queued call attempts.

One transaction per campaign and round (:func:`admit`):

1. select up to ``slots × factor`` due recipients in due order — ``campaign_id = :c AND
   status = 'pending' AND next_attempt_at <= :now``, the leading columns of
   ``ix_campaign_recipients_due``, so the cost depends on the rows taken, never on the size of
   the list (PostgreSQL: ``FOR UPDATE OF campaign_recipients SKIP LOCKED``);
2. one batched query against ``dnc_numbers`` → ``skipped``/``dnc``;
3. the calling window in the recipient's zones (:class:`CallingHours`): an unknown zone →
   ``skipped``/``unknown_zone`` (fail closed); closed now → ``next_attempt_at`` moves to the
   next open instant with ``blocked_reason = 'outside_window'`` (no next window →
   ``skipped``/``no_window``; the campaign's end passed → ``skipped``/``after_end``);
4. open → a ``queued`` attempt is created with its call uuid and ``dispatched_at = now``; the
   recipient becomes ``active`` with ``attempts + 1``.

The caller hands the new ids to the broker after the commit. A crash before the commit
changes nothing; a crash after it leaves queued attempts that the re-dispatcher sends again
once ``dispatched_at`` is stale.

Every recipient the batch examined is settled (skipped, moved to its next window, or admitted)
except the open ones beyond ``slots``: they stay due and come first next time.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import Connection

from dialer.campaigns.schedule import CallingHours, CallingRule, Schedule
from dialer.db.models import CallAttempt, Campaign, CampaignRecipient, Recipient
from dialer.lists.store import numbers_on_dnc
from dialer.scheduler.capacity import RunningCampaign

#: Rows examined per slot: room for some of them to be DNC or outside their window.
FACTOR = 2
#: Batches one campaign may examine per round when the first ones were mostly held back.
MAX_BATCHES = 3
#: Who a scheduler-made change is recorded as (``claimed_by``).
BY = "scheduler"
#: The blocked_reason of a recipient waiting for its calling window to open.
OUTSIDE_WINDOW = "outside_window"
# Ids per IN (...) list: well under SQLite's bound parameter limit.
_CHUNK = 500
# Attempts per multi-row INSERT (about 17 parameters each).
_INSERT_ROWS = 200

_CR = cast(sa.Table, CampaignRecipient.__table__)
_RECIPIENTS = cast(sa.Table, Recipient.__table__)
_ATTEMPTS = cast(sa.Table, CallAttempt.__table__)
_CAMPAIGNS = cast(sa.Table, Campaign.__table__)


@dataclass
class Admission:
    """What one campaign's round did."""

    attempt_ids: list[str] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    blocked: int = 0
    examined: int = 0
    #: Fewer open recipients were due than slots were offered: more slots would go unused.
    exhausted: bool = False


_HOURS: dict[tuple[int, str, tuple[str, ...]], CallingHours] = {}


def calling_hours(
    campaign_id: int, schedule: Schedule, rules: Sequence[CallingRule]
) -> CallingHours:
    """One :class:`CallingHours` per campaign schedule, kept across ticks (it caches by day)."""
    key = (campaign_id, schedule.model_dump_json(), tuple(r.model_dump_json() for r in rules))
    hours = _HOURS.get(key)
    if hours is None:
        if len(_HOURS) > 1000:
            _HOURS.clear()
        hours = _HOURS[key] = CallingHours(schedule, rules)
    return hours


def _chunks(values: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def due_query(dialect: str, campaign_id: int, now: datetime, limit: int) -> sa.Select[Any]:
    """The due recipients of one campaign, earliest first, with their phone and zones."""
    query = (
        sa.select(
            _CR.c.id,
            _CR.c.recipient_id,
            _CR.c.attempts,
            _RECIPIENTS.c.phone_e164,
            _RECIPIENTS.c.timezones,
        )
        .join(_RECIPIENTS, _RECIPIENTS.c.id == _CR.c.recipient_id)
        .where(
            _CR.c.campaign_id == campaign_id,
            _CR.c.status == "pending",
            _CR.c.next_attempt_at <= now,
        )
        .limit(limit)
    )
    if dialect == "postgresql":
        # The index is (campaign_id, status, next_attempt_at) without id: ordering ties by id
        # would sort every recipient sharing the earliest next_attempt_at (a campaign just
        # started: all of them, since they are all due at its start). Ties come in index
        # order instead, which costs only the rows taken.
        return query.order_by(_CR.c.next_attempt_at).with_for_update(of=_CR, skip_locked=True)
    # SQLite indexes end with the rowid (= id): this order is the index's own.
    return query.order_by(_CR.c.next_attempt_at, _CR.c.id)


def _due(conn: Connection, campaign_id: int, now: datetime, limit: int) -> list[sa.Row[Any]]:
    return list(conn.execute(due_query(conn.dialect.name, campaign_id, now, limit)))


def _still_running(conn: Connection, campaign_id: int) -> bool:
    query = sa.select(_CAMPAIGNS.c.status).where(_CAMPAIGNS.c.id == campaign_id)
    if conn.dialect.name == "postgresql":
        # A pause or cancel waits for this admission to commit, then sees its attempts.
        query = query.with_for_update(read=True)
    return conn.execute(query).scalar_one_or_none() == "running"


def admit(
    conn: Connection,
    campaign: RunningCampaign,
    slots: int,
    *,
    now: datetime,
    hours: CallingHours,
    factor: int = FACTOR,
    max_batches: int = MAX_BATCHES,
) -> Admission:
    """Admit up to ``slots`` due recipients of ``campaign``, in the caller's transaction."""
    result = Admission()
    if slots <= 0:
        return result
    if not _still_running(conn, campaign.id):
        result.exhausted = True
        return result
    config = campaign.config
    options = {
        "ring_timeout": config.ring_timeout,
        "max_duration": config.max_duration,
        "caller_id_name": config.caller_id.name,
        "variables": {"dialer_campaign_id": str(campaign.id)},
    }
    for _ in range(max_batches):
        wanted = slots - len(result.attempt_ids)
        rows = _due(conn, campaign.id, now, wanted * factor)
        result.examined += len(rows)
        if not rows:
            result.exhausted = True
            break
        listed = numbers_on_dnc(conn, sorted({row.phone_e164 for row in rows}))
        skipped: dict[str, list[int]] = {}
        blocked: list[dict[str, Any]] = []
        admitted: list[int] = []
        attempts: list[dict[str, Any]] = []
        for row in rows:
            phone: str = row.phone_e164
            if phone in listed:
                skipped.setdefault("dnc", []).append(row.id)
                continue
            zones = tuple(row.timezones or ())
            reason = hours.blocked_reason(zones, now, phone)
            if reason == "unknown_zone" or reason == "after_end":
                skipped.setdefault(str(reason), []).append(row.id)
                continue
            if reason is not None:
                opens = hours.next_open(zones, now, phone)
                if opens is None:
                    skipped.setdefault("no_window", []).append(row.id)
                else:
                    blocked.append({"b_id": row.id, "b_next": opens})
                continue
            if len(admitted) >= wanted:
                continue  # open, but no slot left: stays due for the next round
            admitted.append(row.id)
            attempts.append(
                {
                    "id": uuid.uuid4(),
                    "campaign_id": campaign.id,
                    "campaign_recipient_id": row.id,
                    "attempt_no": row.attempts + 1,
                    "state": "queued",
                    "state_changed_at": now,
                    "claimed_by": BY,
                    "dispatched_at": now,
                    "options": options,
                    "metadata": {
                        **config.metadata,
                        "campaignId": str(campaign.id),
                        "recipientId": str(row.recipient_id),
                    },
                    "trunk": campaign.trunk.name,
                    "to_number": phone,
                    "caller_id_number": config.caller_id.number,
                    "caller_id_name": config.caller_id.name,
                    "created_at": now,
                }
            )
        _settle(conn, now, skipped, blocked, admitted, attempts)
        for why, ids in skipped.items():
            result.skipped[why] += len(ids)
        result.blocked += len(blocked)
        result.attempt_ids.extend(str(a["id"]) for a in attempts)
        if len(result.attempt_ids) >= slots:
            break
        if len(rows) < wanted * factor:
            result.exhausted = True  # the due recipients ran out
            break
    else:
        # Every batch was mostly held back: whoever remains is looked at next tick.
        result.exhausted = len(result.attempt_ids) < slots
    return result


def _settle(
    conn: Connection,
    now: datetime,
    skipped: dict[str, list[int]],
    blocked: list[dict[str, Any]],
    admitted: list[int],
    attempts: list[dict[str, Any]],
) -> None:
    for reason, ids in skipped.items():
        for part in _chunks(ids):
            conn.execute(
                sa.update(_CR)
                .where(_CR.c.id.in_(part), _CR.c.status == "pending")
                .values(status="skipped", final_outcome=reason, blocked_reason=None, updated_at=now)
            )
    if blocked:
        conn.execute(
            sa.update(_CR)
            .where(_CR.c.id == sa.bindparam("b_id"), _CR.c.status == "pending")
            .values(
                next_attempt_at=sa.bindparam("b_next"),
                blocked_reason=OUTSIDE_WINDOW,
                updated_at=now,
            ),
            blocked,
        )
    if admitted:
        won: set[int] = set()
        for part in _chunks(admitted):
            won.update(
                conn.execute(
                    sa.update(_CR)
                    .where(_CR.c.id.in_(part), _CR.c.status == "pending")
                    .values(
                        status="active",
                        attempts=_CR.c.attempts + 1,
                        blocked_reason=None,
                        updated_at=now,
                    )
                    .returning(_CR.c.id)
                ).scalars()
            )
        # A recipient changed meanwhile (cancelled, on SQLite where nothing is locked) gets
        # no attempt.
        attempts[:] = [a for a in attempts if a["campaign_recipient_id"] in won]
        # One multi-row INSERT per chunk: an executemany costs a statement per row.
        for start in range(0, len(attempts), _INSERT_ROWS):
            conn.execute(sa.insert(_ATTEMPTS).values(attempts[start : start + _INSERT_ROWS]))
