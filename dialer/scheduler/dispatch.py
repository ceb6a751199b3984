"""Handing queued attempts to the broker, and again when their message was lost.

``dispatched_at`` is the record: set (in the transaction that made or re-selected the attempt)
before the ids go to ``dispatch``; put back to NULL if ``dispatch`` raised, so the next tick
sends them again. A queued attempt whose ``dispatched_at`` is older than ``redispatch_after``
lost its message (a Redis restarted, a worker died holding it unacknowledged) and is sent
again: a second delivery is harmless, the worker's compare-and-set (``state='queued'`` →
``originating``) lets only one of them dial.

An attempt sent again has waited, perhaps across the end of its recipient's calling window
or while its number went on the DNC list: both are checked once more first, and an attempt
that may no longer be dialled is cancelled instead (:func:`select_for_redispatch`).
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import Connection, Engine

from dialer.campaigns.schedule import CallingHours
from dialer.db.models import CallAttempt, Campaign, CampaignRecipient, Recipient
from dialer.lists.store import numbers_on_dnc
from dialer.scheduler.admission import BY, OUTSIDE_WINDOW

log = logging.getLogger("dialer.scheduler")

#: Seconds after which a queued attempt's broker message is taken as lost.
REDISPATCH_AFTER = 120.0
#: Attempts re-dispatched per tick at most (the rest wait a tick).
REDISPATCH_LIMIT = 5000

Dispatch = Callable[[Sequence[str]], None]

_ATTEMPTS = cast(sa.Table, CallAttempt.__table__)
_CAMPAIGNS = cast(sa.Table, Campaign.__table__)
_CR = cast(sa.Table, CampaignRecipient.__table__)
_R = cast(sa.Table, Recipient.__table__)


@dataclass
class Redispatch:
    """What the re-dispatcher selected: ids to send by campaign (None: single calls), and the
    attempts it cancelled instead, by campaign and reason."""

    ids: dict[int | None, list[str]] = field(default_factory=dict)
    cancelled: dict[int, Counter[str]] = field(default_factory=dict)


def select_for_redispatch(
    bind: Engine | Connection,
    *,
    now: datetime,
    redispatch_after: float = REDISPATCH_AFTER,
    limit: int = REDISPATCH_LIMIT,
    hours: Mapping[int, CallingHours] | None = None,
) -> Redispatch:
    """Mark the attempts to send again (``dispatched_at = now``) and return their ids.

    Queued attempts of running campaigns and single calls (no campaign) that were never
    handed over, or whose ``not_before`` has passed, or whose hand-over is stale.

    A campaign attempt may have waited a while (refused leases, a lost message): before it is
    sent again its number is checked against the DNC list and its recipient's calling window
    (``hours`` by campaign id) once more. One that may no longer be dialled is ``cancelled``
    (never sent) and its recipient settled as admission would: ``skipped`` (``dnc``,
    ``unknown_zone``, ``no_window``) or ``pending`` at its next open instant
    (``blocked_reason='outside_window'``; its ``attempts`` keeps the cancelled one, whose
    ``attempt_no`` stays taken).
    """
    stale = now - timedelta(seconds=redispatch_after)
    a = _ATTEMPTS
    query = (
        sa.select(a.c.id, a.c.campaign_id, a.c.campaign_recipient_id, a.c.to_number, _R.c.timezones)
        .select_from(
            a.outerjoin(_CAMPAIGNS, _CAMPAIGNS.c.id == a.c.campaign_id)
            .outerjoin(_CR, _CR.c.id == a.c.campaign_recipient_id)
            .outerjoin(_R, _R.c.id == _CR.c.recipient_id)
        )
        .where(
            a.c.state == "queued",
            sa.or_(a.c.campaign_id.is_(None), _CAMPAIGNS.c.status == "running"),
            sa.or_(a.c.not_before.is_(None), a.c.not_before <= now),
            sa.or_(a.c.dispatched_at.is_(None), a.c.dispatched_at < stale),
        )
        .order_by(a.c.state_changed_at)
        .limit(limit)
    )
    found = Redispatch()
    hours = hours or {}
    with transaction(bind) as conn:
        if conn.dialect.name == "postgresql":
            query = query.with_for_update(of=a, skip_locked=True)
        rows = list(conn.execute(query))
        if not rows:
            return found
        listed = numbers_on_dnc(
            conn, sorted({row.to_number for row in rows if row.campaign_id is not None})
        )
        send: list[Any] = []
        for row in rows:
            verdict = None
            if row.campaign_id is not None and row.campaign_recipient_id is not None:
                verdict = _recheck(row, listed, hours.get(row.campaign_id), now)
            if verdict is None:
                send.append(row)
                continue
            if _cancel(conn, row, verdict, now):
                reasons = found.cancelled.setdefault(row.campaign_id, Counter())
                reasons[verdict[0]] += 1
        ids = [row.id for row in send]
        for start in range(0, len(ids), 500):
            conn.execute(
                sa.update(a)
                .where(a.c.id.in_(ids[start : start + 500]), a.c.state == "queued")
                .values(dispatched_at=now)
            )
    for row in send:
        found.ids.setdefault(row.campaign_id, []).append(str(row.id))
    return found


@contextmanager
def transaction(bind: Engine | Connection) -> Iterator[Connection]:
    """A transaction on ``bind``: a new connection's, or one more on a connection the caller
    keeps for the whole round (one pool checkout a round instead of one a step)."""
    if isinstance(bind, Connection):
        with bind.begin():
            yield bind
    else:
        with bind.begin() as conn:
            yield conn


def _recheck(
    row: Any, listed: set[str], hours: CallingHours | None, now: datetime
) -> tuple[str, datetime | None] | None:
    """None if the attempt may be sent now; else (reason, next open instant or None)."""
    if row.to_number in listed:
        return ("dnc", None)
    if hours is None:
        return None
    zones = tuple(row.timezones or ())
    reason = hours.blocked_reason(zones, now, row.to_number)
    if reason is None:
        return None
    if reason in ("unknown_zone", "after_end"):
        return (reason, None)
    opens = hours.next_open(zones, now, row.to_number)
    return ("outside_window", opens) if opens is not None else ("no_window", None)


def _cancel(
    conn: Connection, row: Any, verdict: tuple[str, datetime | None], now: datetime
) -> bool:
    reason, opens = verdict
    cancelled = conn.execute(
        sa.update(_ATTEMPTS)
        .where(_ATTEMPTS.c.id == row.id, _ATTEMPTS.c.state == "queued")
        .values(
            state="cancelled",
            state_changed_at=now,
            claimed_by=BY,
            error=f"not sent: {reason} when it was due to be dispatched again",
        )
    )
    if int(cancelled.rowcount or 0) != 1:
        return False
    if opens is not None:
        values: dict[str, Any] = {
            "status": "pending",
            "next_attempt_at": opens,
            "blocked_reason": OUTSIDE_WINDOW,
        }
    else:
        values = {"status": "skipped", "final_outcome": reason, "blocked_reason": None}
    conn.execute(
        sa.update(_CR)
        .where(_CR.c.id == row.campaign_recipient_id, _CR.c.status == "active")
        .values(updated_at=now, **values)
    )
    return True


def hand_over(engine: Engine, dispatch: Dispatch, ids: Sequence[str], *, now: datetime) -> bool:
    """Call ``dispatch(ids)``; if it raises, clear ``dispatched_at`` so the next tick retries.

    Only attempts still queued and still marked by this hand-over are cleared.
    """
    if not ids:
        return True
    try:
        dispatch(list(ids))
    except Exception:
        log.exception("scheduler: dispatch of %d attempts failed; retried next tick", len(ids))
        uuids = [uuid.UUID(i) for i in ids]
        with engine.begin() as conn:
            for start in range(0, len(uuids), 500):
                conn.execute(
                    sa.update(_ATTEMPTS)
                    .where(
                        _ATTEMPTS.c.id.in_(uuids[start : start + 500]),
                        _ATTEMPTS.c.state == "queued",
                        _ATTEMPTS.c.dispatched_at == now,
                    )
                    .values(dispatched_at=None)
                )
        return False
    return True
